//! Alpha Vantage's lists: `LISTING_STATUS` (a CSV of US stocks and ETFs,
//! `symbol,name,exchange,assetType,ipoDate,delistingDate,status`, `null` for a missing date;
//! active by default, `state=delisted` for the delisted ones) and its two currency lists
//! (`/physical_currency_list/` and `/digital_currency_list/`, CSV `currency code,currency
//! name`). A failure comes back as HTTP 200 with a JSON body instead of the CSV.

use chrono::NaiveDate;

use super::parse::{Answer, parse_body};
use crate::error::{ErrorKind, FetchError};
use crate::instrument::{
    DIGITAL_CURRENCY, Instrument, InstrumentStatus, PHYSICAL_CURRENCY, csv_records,
};

/// The path (below the base URL) and kind of each currency list.
pub const CURRENCY_LISTS: [(&str, &str); 2] = [
    ("physical_currency_list/", PHYSICAL_CURRENCY),
    ("digital_currency_list/", DIGITAL_CURRENCY),
];

/// The tickers of a `LISTING_STATUS` body.
pub fn parse_listing(body: &str) -> Result<Vec<Instrument>, FetchError> {
    let rows = csv_of(body, "symbol", "LISTING_STATUS")?;
    let (header, rows) = rows.split_first().expect("csv_of checks the header");
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(symbol), Some(status)) = (col("symbol"), col("status")) else {
        return Err(unreadable("LISTING_STATUS", "no symbol or status column"));
    };
    let cell = |row: &[String], c: Option<usize>| c.and_then(|c| row.get(c)).cloned();
    let date = |row: &[String], c| {
        cell(row, c).and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
    };
    Ok(rows
        .iter()
        .filter_map(|row| {
            let ticker = row.get(symbol)?.trim().to_ascii_uppercase();
            let status = match row.get(status)?.trim().to_ascii_lowercase().as_str() {
                "active" => InstrumentStatus::Online,
                "delisted" => InstrumentStatus::Delisted,
                _ => InstrumentStatus::Offline,
            };
            let kind = cell(row, col("assetType"))
                .unwrap_or_default()
                .to_ascii_lowercase();
            Some(Instrument {
                asset_pair: ticker,
                status,
                kind,
                name: cell(row, col("name")).filter(|n| !n.is_empty()),
                listed: date(row, col("ipoDate")),
                delisted: date(row, col("delistingDate")),
            })
        })
        .collect())
}

/// The currencies of a currency-list body, each of `kind`.
pub fn parse_currencies(body: &str, kind: &str) -> Result<Vec<Instrument>, FetchError> {
    let rows = csv_of(body, "currency code", kind)?;
    Ok(rows[1..]
        .iter()
        .filter_map(|row| {
            let code = row.first()?.trim().to_ascii_uppercase();
            let name = row.get(1).map(|n| n.trim().to_string());
            (!code.is_empty()).then(|| Instrument::online(code, kind, name))
        })
        .collect())
}

/// The records of a CSV body whose header starts with `first`; a JSON body is Alpha Vantage's
/// error or note instead.
fn csv_of(body: &str, first: &str, what: &str) -> Result<Vec<Vec<String>>, FetchError> {
    if body.trim_start().starts_with('{') {
        return Err(refused(body, what));
    }
    let rows = csv_records(body).ok_or_else(|| unreadable(what, "a quoted field never ends"))?;
    match rows.first() {
        Some(header) if header.first().map(|h| h.trim()) == Some(first) => Ok(rows),
        _ => Err(unreadable(what, &format!("no '{first}' header"))),
    }
}

fn unreadable(what: &str, why: &str) -> FetchError {
    FetchError::new(
        ErrorKind::Transient,
        format!("alphavantage sent a {what} list candlelake cannot read ({why})"),
    )
}

/// The error of a JSON answer where a list was asked for (the client redacts the key).
fn refused(body: &str, what: &str) -> FetchError {
    let (kind, text) = match parse_body(body, super::AssetClass::Equity, "") {
        Ok(Answer::ErrorMessage(text)) => (ErrorKind::Permanent, text),
        Ok(Answer::Notice(text)) => {
            let lower = text.to_ascii_lowercase();
            let kind = if lower.contains("per second") || lower.contains("sparingly") {
                ErrorKind::RateLimited
            } else if lower.contains("per day") || lower.contains("daily") {
                ErrorKind::Halt
            } else {
                ErrorKind::Permanent
            };
            (kind, text)
        }
        _ => (ErrorKind::Transient, body.chars().take(200).collect()),
    };
    FetchError::new(
        kind,
        format!("alphavantage did not send its {what} list ({text})"),
    )
}
