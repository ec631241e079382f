//! Coinbase wire models. Every value stays raw JSON text until `parse` reads it exactly.

use serde::Deserialize;

use crate::wire::raw_record;

raw_record! {
    /// One candle object; every field a decimal or Unix-seconds string on the wire.
    WireRecord { start, low, high, open, close, volume }
}

/// An error body: `{"error": "NOT_FOUND", "message": "..."}` or `{"message": "..."}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}
