//! What a provider offers: one `Instrument` per pair or ticker of the provider's own list, with
//! its trading status and the listing and delisting dates the provider publishes, and the
//! small CSV reader Alpha Vantage's lists need. Each provider's `instruments.rs` asks for its
//! list and reads it into these.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Whether an instrument trades at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstrumentStatus {
    /// Listed and trading.
    Online,
    /// Listed but not trading now (trading disabled, cancel only, halted).
    Offline,
    /// No longer listed; its history may still be served.
    Delisted,
}

impl InstrumentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InstrumentStatus::Online => "online",
            InstrumentStatus::Offline => "offline",
            InstrumentStatus::Delisted => "delisted",
        }
    }
}

/// The kind of an Alpha Vantage fiat currency (FX pairs are two of them).
pub const PHYSICAL_CURRENCY: &str = "physical_currency";
/// The kind of an Alpha Vantage crypto currency (quoted against a physical one).
pub const DIGITAL_CURRENCY: &str = "digital_currency";

/// One pair, ticker or currency a provider lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    /// The canonical pair (`BTC-USD`), ticker (`IBM`) or, for an Alpha Vantage currency, its
    /// code (`EUR`).
    pub asset_pair: String,
    pub status: InstrumentStatus,
    /// What the provider calls its kind: `spot`, `currency`, `metal`, `cfd`, `stock`, `etf`,
    /// `physical_currency`, `digital_currency`.
    pub kind: String,
    /// The provider's display name, when it gives one.
    #[serde(default)]
    pub name: Option<String>,
    /// The listing date, where the provider publishes it.
    #[serde(default)]
    pub listed: Option<NaiveDate>,
    /// The delisting date, where the provider publishes it.
    #[serde(default)]
    pub delisted: Option<NaiveDate>,
}

impl Instrument {
    /// Whether this is a currency of Alpha Vantage's lists rather than a pair or ticker.
    pub fn is_currency(&self) -> bool {
        self.kind == PHYSICAL_CURRENCY || self.kind == DIGITAL_CURRENCY
    }

    /// An online instrument with no published dates.
    pub fn online(asset_pair: String, kind: &str, name: Option<String>) -> Self {
        Instrument {
            asset_pair,
            status: InstrumentStatus::Online,
            kind: kind.to_string(),
            name,
            listed: None,
            delisted: None,
        }
    }
}

/// The records of a CSV text with a header line, each as (header → field) pairs in column
/// order. Fields may be quoted (`"a, b"`, `""` for a quote); lines end in LF or CRLF; blank
/// lines are skipped. `None` when a quoted field never closes.
pub(crate) fn csv_records(text: &str) -> Option<Vec<Vec<String>>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                let line = std::mem::take(&mut record);
                if line.iter().any(|f| !f.is_empty()) {
                    records.push(line);
                }
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return None;
    }
    record.push(field);
    if record.iter().any(|f| !f.is_empty()) {
        records.push(record);
    }
    Some(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_reads_quotes_crlf_and_blank_lines() {
        let text = "a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\r\n\r\nlast,\n";
        assert_eq!(
            csv_records(text).unwrap(),
            vec![
                vec!["a".to_string(), "b".to_string()],
                vec!["x, y".to_string(), "say \"hi\"".to_string()],
                vec!["last".to_string(), String::new()],
            ]
        );
        assert_eq!(csv_records("a,\"open\n"), None);
    }
}
