//! Oanda v20 wire models. Every value stays raw JSON text until `parse` reads it exactly.

use serde::Deserialize;

use crate::wire::raw_record;

raw_record! {
    /// One candlestick: `{"complete", "volume", "time", "mid": {...}}` (`bid`/`ask` are never
    /// asked for: every request sends `price=M`).
    WireRecord { time, volume, complete, mid }
}

raw_record! {
    /// `CandlestickData`: open, high, low and close as decimal strings.
    Ohlc { o, h, l, c }
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
