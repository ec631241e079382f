//! Coinbase wire models. Every value stays raw JSON text until `parse` reads it exactly.

use serde::Deserialize;
use serde_json::value::RawValue;

/// A 200 body: `{"candles": [...]}`.
#[derive(Debug, Deserialize)]
pub(crate) struct CandlesBody {
    pub candles: Vec<Box<RawValue>>,
}

/// One candle object; every field a decimal or Unix-seconds string on the wire.
#[derive(Debug, Deserialize)]
pub(crate) struct WireRecord<'a> {
    #[serde(borrow, default)]
    pub start: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub low: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub high: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub open: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub close: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub volume: Option<&'a RawValue>,
}

/// An error body: `{"error": "NOT_FOUND", "message": "..."}` or `{"message": "..."}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}
