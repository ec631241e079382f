//! Oanda's account instruments: `GET /v3/accounts/{accountID}/instruments` with the bearer
//! token, `{"instruments": [{"name": "EUR_USD", "type": "CURRENCY", "displayName": "EUR/USD",
//! ...}], "lastTransactionID": "..."}`. Every instrument listed is tradeable by the account;
//! Oanda publishes no listing or delisting dates.

use serde::Deserialize;

use crate::error::{ErrorKind, FetchError};
use crate::instrument::Instrument;

#[derive(Debug, Deserialize)]
struct InstrumentList {
    instruments: Vec<WireInstrument>,
}

/// The fields of an instrument candlelake reads; every other field is ignored.
#[derive(Debug, Deserialize)]
struct WireInstrument {
    name: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(rename = "displayName", default)]
    display_name: Option<String>,
}

/// The instruments path of an account id, or an error when the id cannot go in a path.
pub fn instruments_path(account: &str) -> Result<String, FetchError> {
    let ok = !account.is_empty()
        && account
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !ok {
        return Err(FetchError::new(
            ErrorKind::Permanent,
            format!(
                "'{account}' is not an Oanda account id (like 101-004-1234567-001); check CANDLELAKE_OANDA_ACCOUNT"
            ),
        ));
    }
    Ok(format!("/v3/accounts/{account}/instruments"))
}

/// The instruments of an account-instruments body, as canonical pairs (`EUR_USD` → `EUR-USD`).
pub fn parse_instruments(body: &str) -> Result<Vec<Instrument>, FetchError> {
    let list: InstrumentList = serde_json::from_str(body).map_err(|e| {
        FetchError::new(
            ErrorKind::Transient,
            format!("oanda sent an instrument list candlelake cannot read ({e})"),
        )
    })?;
    Ok(list
        .instruments
        .into_iter()
        .map(|i| {
            let kind = i.kind.unwrap_or_default().to_ascii_lowercase();
            Instrument::online(i.name.replace('_', "-"), &kind, i.display_name)
        })
        .collect())
}
