//! The async candle-fetch trait every provider implements (through `candle_source!`), with the
//! provider's instrument list, the request it answers, the capabilities and paging it declares, each provider's default request
//! rate, and the injectable clock.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::candle::Page;
use crate::error::FetchError;
use crate::instrument::Instrument;
use crate::timeframe::Timeframe;
use crate::{alphavantage, coinbase, oanda};

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

    /// Requests per second when the user sets none: below what the provider publishes.
    pub fn default_rps(self) -> Decimal {
        match self {
            ProviderId::Coinbase => coinbase::DEFAULT_RPS,
            ProviderId::Oanda => oanda::DEFAULT_RPS,
            ProviderId::AlphaVantage => alphavantage::DEFAULT_RPS,
        }
    }

    /// The environment variable holding the provider's credential; `None` for a public API.
    pub fn credential_var(self) -> Option<&'static str> {
        match self {
            ProviderId::Coinbase => None,
            ProviderId::Oanda => Some("OANDA_API_TOKEN"),
            ProviderId::AlphaVantage => Some("ALPHAVANTAGE_API_KEY"),
        }
    }

    /// Whether the provider limits requests per day (kept across runs), not only per second.
    pub fn has_daily_quota(self) -> bool {
        self == ProviderId::AlphaVantage
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
    /// True when the window continues the previous one of the same range (its `start` is the
    /// previous window's `end`), so a provider that pages forward can exclude the boundary.
    pub continues: bool,
}

/// Admits each HTTP request a provider sends: waits for the provider's rate budget, counts the
/// request against any daily budget, and refuses once the budget is spent or the provider was
/// halted for this run. Every request, retries and fallbacks included, passes it first.
#[async_trait]
pub trait Gate: Send + Sync {
    async fn admit(&self) -> Result<(), FetchError>;
}

/// Splits `[start, end)` into windows of at most `max_buckets` buckets of `tf`, oldest first,
/// or newest first when `newest_first`.
pub fn chunk(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    tf: Timeframe,
    max_buckets: u32,
    newest_first: bool,
) -> Vec<Span> {
    // A limit too large for any range (u32::MAX: no limit) makes one window.
    let buckets = i32::try_from(max_buckets.max(1)).unwrap_or(i32::MAX);
    let step = tf.duration().checked_mul(buckets);
    let mut out = Vec::new();
    if newest_first {
        let mut e = end;
        while e > start {
            let s = step
                .and_then(|step| e.checked_sub_signed(step))
                .map_or(start, |s| s.max(start));
            out.push((s, e));
            e = s;
        }
    } else {
        let mut s = start;
        while s < end {
            let e = step
                .and_then(|step| s.checked_add_signed(step))
                .map_or(end, |e| e.min(end));
            out.push((s, e));
            s = e;
        }
    }
    out
}

/// A range: `start ≤ open < end`.
pub type Span = (DateTime<Utc>, DateTime<Utc>);

/// What a provider can serve.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    pub native_timeframes: &'static [Timeframe],
    /// Most buckets one request may cover.
    pub max_buckets_per_request: u32,
}

impl Capabilities {
    /// Every timeframe native, at most `max_buckets_per_request` buckets a request.
    pub(crate) const fn every_timeframe(max_buckets_per_request: u32) -> Self {
        Capabilities {
            native_timeframes: &Timeframe::ALL,
            max_buckets_per_request,
        }
    }
}

/// How a provider cuts a range into requests.
#[derive(Debug, Clone, Copy)]
pub enum Paging {
    /// Windows of at most this many buckets ([`chunk`]).
    Buckets(u32),
    /// The provider's own cut of `[start, end)`, oldest first or newest first (by calendar
    /// month, for example).
    Cut(fn(DateTime<Utc>, DateTime<Utc>, bool) -> Vec<Span>),
}

/// A provider of historical candles.
#[async_trait]
pub trait CandleSource: Send + Sync {
    fn id(&self) -> ProviderId;

    fn capabilities(&self) -> Capabilities;

    /// How a range of `pair` at `tf` is cut into requests. By default windows of
    /// `max_buckets_per_request`; a provider whose API pages differently (by calendar month, or
    /// one call for the whole history) says so here.
    fn paging(&self, pair: &str, tf: Timeframe) -> Paging {
        let _ = (pair, tf);
        Paging::Buckets(self.capabilities().max_buckets_per_request)
    }

    /// The request windows covering `[start, end)` of a native timeframe, in commit order
    /// (newest first when `newest_first`), as [`CandleSource::paging`] cuts them.
    fn windows(
        &self,
        pair: &str,
        tf: Timeframe,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        newest_first: bool,
    ) -> Vec<Span> {
        match self.paging(pair, tf) {
            Paging::Buckets(max) => chunk(start, end, tf, max, newest_first),
            Paging::Cut(cut) => cut(start, end, newest_first),
        }
    }

    /// Fetches one window, passing `gate` before every HTTP request it sends. Every candle of
    /// the answer is returned, in wire order, with its raw record: the engine decides what is
    /// a duplicate, final, in range or valid.
    async fn fetch_window(
        &self,
        request: &WindowRequest,
        gate: &dyn Gate,
    ) -> Result<Page, FetchError>;

    /// Everything the provider lists (pairs, tickers, currencies), each of its requests passing
    /// `gate` first. A source with no list says so.
    async fn instruments(&self, gate: &dyn Gate) -> Result<Vec<Instrument>, FetchError> {
        let _ = gate;
        Err(FetchError::new(
            crate::error::ErrorKind::Permanent,
            format!("{} publishes no instrument list here", self.id().as_str()),
        ))
    }
}

/// Implements [`CandleSource`] for a provider's client from its id and capabilities: the trait's
/// `fetch_window` is the client's own `fetch`, `instruments` its own `list_instruments`, and
/// with `paging = name` its `paging` is the client's own method `name`.
macro_rules! candle_source {
    ($client:ty, $id:expr, $capabilities:expr $(, paging = $paging:ident)?) => {
        #[::async_trait::async_trait]
        impl $crate::source::CandleSource for $client {
            fn id(&self) -> $crate::source::ProviderId {
                $id
            }

            fn capabilities(&self) -> $crate::source::Capabilities {
                $capabilities
            }

            $(
                fn paging(
                    &self,
                    pair: &str,
                    tf: $crate::timeframe::Timeframe,
                ) -> $crate::source::Paging {
                    self.$paging(pair, tf)
                }
            )?

            async fn fetch_window(
                &self,
                request: &$crate::source::WindowRequest,
                gate: &dyn $crate::source::Gate,
            ) -> Result<$crate::candle::Page, $crate::error::FetchError> {
                self.fetch(request, gate).await
            }

            async fn instruments(
                &self,
                gate: &dyn $crate::source::Gate,
            ) -> Result<Vec<$crate::instrument::Instrument>, $crate::error::FetchError> {
                self.list_instruments(gate).await
            }
        }
    };
}
pub(crate) use candle_source;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    #[test]
    fn chunks_tile_the_range_both_ways() {
        let (start, end) = (at("2024-01-01T00:00:00Z"), at("2024-01-01T07:00:00Z"));
        let hours = |w: Vec<(DateTime<Utc>, DateTime<Utc>)>| {
            w.iter()
                .map(|(s, e)| (s.format("%H").to_string(), e.format("%H").to_string()))
                .collect::<Vec<_>>()
        };
        let pairs = |v: [(&str, &str); 3]| v.map(|(a, b)| (a.to_string(), b.to_string())).to_vec();
        assert_eq!(
            hours(chunk(start, end, Timeframe::H1, 3, false)),
            pairs([("00", "03"), ("03", "06"), ("06", "07")])
        );
        assert_eq!(
            hours(chunk(start, end, Timeframe::H1, 3, true)),
            pairs([("04", "07"), ("01", "04"), ("00", "01")])
        );
        // No limit (u32::MAX buckets, far past any date) is one window, not an overflow.
        for newest_first in [false, true] {
            assert_eq!(
                chunk(start, end, Timeframe::D1, u32::MAX, newest_first),
                vec![(start, end)]
            );
        }
        assert!(chunk(end, start, Timeframe::D1, u32::MAX, false).is_empty());
    }
}
