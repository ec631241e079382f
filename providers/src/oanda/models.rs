//! Oanda v20 wire models. Every value stays raw JSON text until `parse` reads it exactly.

use serde::Deserialize;
use serde_json::value::RawValue;

/// A 200 body: `{"instrument": "EUR_USD", "granularity": "M5", "candles": [...]}`, oldest first.
#[derive(Debug, Deserialize)]
pub(crate) struct CandlesBody {
    pub candles: Vec<Box<RawValue>>,
}

/// One candlestick: `{"complete", "volume", "time", "mid": {...}}` (`bid`/`ask` are never asked
/// for: every request sends `price=M`).
#[derive(Debug, Deserialize)]
pub(crate) struct WireRecord<'a> {
    #[serde(borrow, default)]
    pub time: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub volume: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub complete: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub mid: Option<&'a RawValue>,
}

/// `CandlestickData`: open, high, low and close as decimal strings.
#[derive(Debug, Deserialize)]
pub(crate) struct Ohlc<'a> {
    #[serde(borrow, default)]
    pub o: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub h: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub l: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub c: Option<&'a RawValue>,
}

/// An error body: `{"errorCode": "<optional>", "errorMessage": "..."}`. The code is read as any
/// JSON value so that an unexpected type still leaves the message readable.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(rename = "errorCode", default)]
    pub error_code: Option<serde_json::Value>,
    #[serde(rename = "errorMessage", default)]
    pub error_message: Option<String>,
}
