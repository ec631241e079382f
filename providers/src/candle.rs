//! What a provider hands to the engine: one page of parsed wire candles per request, each field
//! either an exact value or the reason it is not one, and each record's raw JSON for the DLQ.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::value::RawValue;

/// Why a wire field did not yield a value. Maps one to one onto the contract's reason codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldError {
    Missing,
    Unparseable,
    PrecisionOverflow,
}

/// What the volume column counts for a provider and asset class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeKind {
    /// Traded quantity in base units (Coinbase, Alpha Vantage crypto).
    Base,
    /// Shares traded (Alpha Vantage equities).
    Shares,
    /// Price ticks (Oanda).
    Ticks,
    /// The provider sends no volume (Alpha Vantage FX); stored as 0.
    None,
}

impl VolumeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeKind::Base => "base",
            VolumeKind::Shares => "shares",
            VolumeKind::Ticks => "ticks",
            VolumeKind::None => "none",
        }
    }
}

/// One candle as parsed from the wire, before validation.
#[derive(Debug, Clone)]
pub struct WireCandle {
    pub open_time: Result<DateTime<Utc>, FieldError>,
    pub open: Result<Decimal, FieldError>,
    pub high: Result<Decimal, FieldError>,
    pub low: Result<Decimal, FieldError>,
    pub close: Result<Decimal, FieldError>,
    pub volume: Result<Decimal, FieldError>,
    /// False when the provider flags the candle as still forming (Oanda `complete:false`).
    pub complete: bool,
    /// The record exactly as received.
    pub raw: Box<RawValue>,
}

impl WireCandle {
    /// A record that is not an object of the expected shape: every field is unparseable.
    pub fn unreadable(raw: Box<RawValue>) -> Self {
        let bad = Err(FieldError::Unparseable);
        WireCandle {
            open_time: Err(FieldError::Unparseable),
            open: bad,
            high: bad,
            low: bad,
            close: bad,
            volume: bad,
            complete: true,
            raw,
        }
    }
}

/// The parsed answer to one request.
#[derive(Debug, Clone)]
pub struct Page {
    /// Candles in wire order.
    pub candles: Vec<WireCandle>,
    /// The response's `Date` header, else the local clock when it arrived; decides finality.
    pub response_time: DateTime<Utc>,
    /// When the response was received, by the local clock (`_extracted_at`).
    pub received_at: DateTime<Utc>,
    /// The request URL with every secret removed.
    pub request: String,
    pub volume_kind: VolumeKind,
    /// Set when the provider serves only a fixed trailing window (Alpha Vantage): the oldest
    /// open time it can serve for this request. Earlier history is unreachable.
    pub available_from: Option<DateTime<Utc>>,
}
