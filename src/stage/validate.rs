//! The contract's candle rules: turns a `WireCandle` into a checked `Candle`, or a reject that
//! lists every reason that applies. Pure: no I/O, no clock.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::value::RawValue;

use crate::providers::{FieldError, Timeframe, WireCandle};

/// A candle that passed every rule. Prices are exact and fit decimal(38,18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candle {
    pub open_time: DateTime<Utc>,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: Decimal,
}

/// The contract's reason codes, in the order a record lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    MissingField,
    Unparseable,
    PrecisionOverflow,
    NonPositivePrice,
    HighBelowLow,
    OpenOutOfRange,
    CloseOutOfRange,
    NegativeVolume,
    MisalignedTimestamp,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MissingField => "missing_field",
            Reason::Unparseable => "unparseable",
            Reason::PrecisionOverflow => "precision_overflow",
            Reason::NonPositivePrice => "non_positive_price",
            Reason::HighBelowLow => "high_below_low",
            Reason::OpenOutOfRange => "open_out_of_range",
            Reason::CloseOutOfRange => "close_out_of_range",
            Reason::NegativeVolume => "negative_volume",
            Reason::MisalignedTimestamp => "misaligned_timestamp",
        }
    }

    fn from_field(e: FieldError) -> Reason {
        match e {
            FieldError::Missing => Reason::MissingField,
            FieldError::Unparseable => Reason::Unparseable,
            FieldError::PrecisionOverflow => Reason::PrecisionOverflow,
        }
    }
}

/// A candle that failed, with every reason and the record as received.
#[derive(Debug, Clone)]
pub struct Reject {
    pub open_time: Option<DateTime<Utc>>,
    pub reasons: Vec<Reason>,
    pub raw: Box<RawValue>,
}

/// Applies every rule of the contract to one candle of timeframe `tf`.
pub fn validate(wire: WireCandle, tf: Timeframe) -> Result<Candle, Box<Reject>> {
    let fields = Fields {
        open_time: wire.open_time,
        open: wire.open,
        high: wire.high,
        low: wire.low,
        close: wire.close,
        volume: wire.volume,
    };
    check(fields, tf).map_err(|(open_time, reasons)| {
        Box::new(Reject {
            open_time,
            reasons,
            raw: wire.raw,
        })
    })
}

/// A candle's fields as read, before the rules: each a value or why it is not one.
#[derive(Debug, Clone)]
pub struct Fields {
    pub open_time: Result<DateTime<Utc>, FieldError>,
    pub open: Result<Decimal, FieldError>,
    pub high: Result<Decimal, FieldError>,
    pub low: Result<Decimal, FieldError>,
    pub close: Result<Decimal, FieldError>,
    pub volume: Result<Decimal, FieldError>,
}

/// The rules on bare fields: the candle, or its open time (when readable) and every reason
/// that applies. Callers that keep the raw record elsewhere (file imports) build a `Reject`
/// only for the candles that fail.
pub fn check(
    fields: Fields,
    tf: Timeframe,
) -> Result<Candle, (Option<DateTime<Utc>>, Vec<Reason>)> {
    let mut reasons = Vec::new();
    let mut take = |field: Result<Decimal, FieldError>| match field {
        Ok(v) => Some(v),
        Err(e) => {
            reasons.push(Reason::from_field(e));
            None
        }
    };
    let open = take(fields.open);
    let high = take(fields.high);
    let low = take(fields.low);
    let close = take(fields.close);
    let volume = take(fields.volume);
    let open_time = match fields.open_time {
        Ok(t) => Some(t),
        Err(e) => {
            reasons.push(Reason::from_field(e));
            None
        }
    };

    let prices = [open, high, low, close];
    if prices.iter().flatten().any(|p| *p <= Decimal::ZERO) {
        reasons.push(Reason::NonPositivePrice);
    }
    if let (Some(h), Some(l)) = (high, low) {
        if h < l {
            reasons.push(Reason::HighBelowLow);
        }
        // With high < low, [low, high] is empty: open and close both lie outside it, and the
        // contract lists every reason that applies.
        let outside = |v: Option<Decimal>| v.is_some_and(|v| v < l || v > h);
        if outside(open) {
            reasons.push(Reason::OpenOutOfRange);
        }
        if outside(close) {
            reasons.push(Reason::CloseOutOfRange);
        }
    }
    if volume.is_some_and(|v| v < Decimal::ZERO) {
        reasons.push(Reason::NegativeVolume);
    }
    if open_time.is_some_and(|t| !tf.is_aligned(t)) {
        reasons.push(Reason::MisalignedTimestamp);
    }

    match (open_time, open, high, low, close, volume) {
        (Some(open_time), Some(open), Some(high), Some(low), Some(close), Some(volume))
            if reasons.is_empty() =>
        {
            Ok(Candle {
                open_time,
                open,
                high,
                low,
                close,
                volume,
            })
        }
        _ => {
            reasons.sort();
            reasons.dedup();
            Err((open_time, reasons))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::coinbase::parse_record;

    fn check(json: &str) -> Result<Candle, Vec<&'static str>> {
        let raw = RawValue::from_string(json.to_string()).unwrap();
        validate(parse_record(raw), Timeframe::H1)
            .map_err(|r| r.reasons.iter().map(|r| r.as_str()).collect())
    }

    #[test]
    fn every_rule() {
        let ok =
            r#"{"start":"1700006400","low":"1","high":"3","open":"2","close":"2","volume":"0"}"#;
        assert!(check(ok).is_ok());
        // TC: (record, reasons)
        let cases: &[(&str, &[&str])] = &[
            (
                r#"{"start":"1700006400","low":"1","high":"3","open":"2","volume":"1"}"#,
                &["missing_field"],
            ),
            (
                r#"{"start":"1700006400","low":"1","high":"3","open":"2","close":"2e0","volume":"1"}"#,
                &["unparseable"],
            ),
            (
                r#"{"start":"1700006400","low":"0","high":"3","open":"2","close":"2","volume":"1"}"#,
                &["non_positive_price"],
            ),
            (
                r#"{"start":"1700006400","low":"3","high":"1","open":"2","close":"2","volume":"1"}"#,
                &["high_below_low", "open_out_of_range", "close_out_of_range"],
            ),
            (
                r#"{"start":"1700006400","low":"1","high":"3","open":"4","close":"2","volume":"1"}"#,
                &["open_out_of_range"],
            ),
            (
                r#"{"start":"1700006400","low":"1","high":"3","open":"2","close":"0.5","volume":"1"}"#,
                &["close_out_of_range"],
            ),
            (
                r#"{"start":"1700006400","low":"1","high":"3","open":"2","close":"2","volume":"-1"}"#,
                &["negative_volume"],
            ),
            (
                r#"{"start":"1700006460","low":"1","high":"3","open":"2","close":"2","volume":"1"}"#,
                &["misaligned_timestamp"],
            ),
            (
                r#"{"start":"1700006400","low":"1","high":"3","open":"2","close":"2.0000000000000000001","volume":"1"}"#,
                &["precision_overflow"],
            ),
            (
                r#"{"start":"1700006460","low":"1","high":"3","open":"5","close":"-2","volume":"-1"}"#,
                &[
                    "non_positive_price",
                    "open_out_of_range",
                    "close_out_of_range",
                    "negative_volume",
                    "misaligned_timestamp",
                ],
            ),
            (r#"{"start":"x"}"#, &["missing_field", "unparseable"]),
        ];
        for (json, expected) in cases {
            assert_eq!(check(json).unwrap_err(), expected.to_vec(), "{json}");
        }
    }
}
