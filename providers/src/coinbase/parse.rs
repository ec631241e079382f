//! Coinbase wire → `WireCandle`: exact decimals from the string fields, Unix-seconds open times.

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use super::models::WireRecord;
use crate::candle::{FieldError, WireCandle};
use crate::error::FetchError;
use crate::source::ProviderId;
use crate::timeframe::Timeframe;
use crate::wire::{candles, decimal, field_text, object};

/// The Advanced Trade `granularity` value of a timeframe (every candlelake timeframe is native).
pub fn granularity(tf: Timeframe) -> &'static str {
    match tf {
        Timeframe::M1 => "ONE_MINUTE",
        Timeframe::M5 => "FIVE_MINUTE",
        Timeframe::M15 => "FIFTEEN_MINUTE",
        Timeframe::M30 => "THIRTY_MINUTE",
        Timeframe::H1 => "ONE_HOUR",
        Timeframe::H4 => "FOUR_HOUR",
        Timeframe::D1 => "ONE_DAY",
    }
}

/// Parses a 200 body into candles in wire order (newest first). A body that is not
/// `{"candles": [...]}` is a transient error.
pub fn parse_body(body: &str) -> Result<Vec<WireCandle>, FetchError> {
    candles(body, ProviderId::Coinbase, parse_record)
}

/// Parses one candle record; fields that are absent or malformed say so instead of failing.
pub fn parse_record(raw: Box<RawValue>) -> WireCandle {
    let Some(rec) = object::<WireRecord<'_>>(raw.get()) else {
        return WireCandle::unreadable(raw);
    };
    WireCandle {
        open_time: unix_seconds(rec.start),
        open: decimal(rec.open, false),
        high: decimal(rec.high, false),
        low: decimal(rec.low, false),
        close: decimal(rec.close, false),
        volume: decimal(rec.volume, true),
        complete: true,
        raw,
    }
}

fn unix_seconds(value: Option<&RawValue>) -> Result<DateTime<Utc>, FieldError> {
    let text = field_text(value, true)?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::Unparseable);
    }
    let secs: i64 = text.parse().map_err(|_| FieldError::Unparseable)?;
    DateTime::from_timestamp(secs, 0).ok_or(FieldError::Unparseable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::raw;

    #[test]
    fn parses_strings_exactly() {
        let c = parse_record(raw(
            r#"{"start":"1700006400","low":"36750","high":"36950.25","open":"36800","close":"36900.12","volume":"98.7654321"}"#,
        ));
        assert_eq!(c.open_time.unwrap().timestamp(), 1_700_006_400);
        assert_eq!(c.high.unwrap().to_string(), "36950.25");
        assert_eq!(c.volume.unwrap().to_string(), "98.7654321");
    }

    #[test]
    fn field_problems_are_reported_per_field() {
        // TC0 missing, TC1 float price, TC2 null, TC3 exponent, TC4 integer volume is fine
        let c = parse_record(raw(
            r#"{"start":"1700006400","low":36750.5,"high":null,"open":"1e3","volume":12}"#,
        ));
        assert_eq!(c.close.unwrap_err(), FieldError::Missing);
        assert_eq!(c.low.unwrap_err(), FieldError::Unparseable);
        assert_eq!(c.high.unwrap_err(), FieldError::Missing);
        assert_eq!(c.open.unwrap_err(), FieldError::Unparseable);
        assert_eq!(c.volume.unwrap().to_string(), "12");
    }

    #[test]
    fn a_record_that_is_an_array_is_unreadable() {
        // serde would read the array into the record field by field.
        let c = parse_record(raw(r#"["1700006400","1","3","2","2","1"]"#));
        assert_eq!(c.open_time.unwrap_err(), FieldError::Unparseable);
        assert_eq!(c.close.unwrap_err(), FieldError::Unparseable);
    }

    #[test]
    fn broken_body_is_transient() {
        let err = parse_body(r#"{"candles":[{"start":"1"#).unwrap_err();
        assert!(err.is_retryable());
    }
}
