//! The async candle-fetch trait every provider implements, the request it answers, the
//! capabilities it declares, and the injectable clock.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::candle::Page;
use crate::error::FetchError;
use crate::timeframe::Timeframe;

/// A source of "now", passed in so tests can fix time.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// The providers candlelake knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderId {
    Coinbase,
    Oanda,
    AlphaVantage,
}

impl ProviderId {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderId::Coinbase => "coinbase",
            ProviderId::Oanda => "oanda",
            ProviderId::AlphaVantage => "alphavantage",
        }
    }

    pub fn parse(s: &str) -> Option<ProviderId> {
        match s {
            "coinbase" => Some(ProviderId::Coinbase),
            "oanda" => Some(ProviderId::Oanda),
            "alphavantage" => Some(ProviderId::AlphaVantage),
            _ => None,
        }
    }
}

/// One request: the candles of `pair` and `timeframe` with `start ≤ open < end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowRequest {
    pub pair: String,
    pub timeframe: Timeframe,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// What a provider can serve and how fast it may be asked.
#[derive(Debug, Clone)]
pub struct Capabilities {
    pub native_timeframes: Vec<Timeframe>,
    /// Most buckets one request may cover.
    pub max_buckets_per_request: u32,
    /// Requests per second when the user sets none.
    pub default_rps: rust_decimal::Decimal,
}

/// A provider of historical candles.
#[async_trait]
pub trait CandleSource: Send + Sync {
    fn id(&self) -> ProviderId;

    fn capabilities(&self) -> Capabilities;

    /// Fetches one window. Every candle of the answer is returned, in wire order, with its raw
    /// record: the engine decides what is a duplicate, final, in range or valid.
    async fn fetch_window(&self, request: &WindowRequest) -> Result<Page, FetchError>;
}
