//! Where a pair's history starts at a provider that publishes no listing date. Once listed, a
//! pair is taken to trade in every window of a range, so after an empty first window the first
//! window holding a candle is found by bisection over the range's windows: ⌈log2(windows)⌉
//! requests instead of one per window. The time before its first candle is recorded as
//! unreachable (`before_listing`), so no later run asks for it again.

use chrono::{DateTime, Utc};

use super::Runner;
use super::counters::Counters;
use super::request::SeriesRequest;
use crate::error::{Error, Result};
use crate::fetch::fetch_with_retry;
use crate::model::TimeRange;
use crate::providers::{Paging, WindowRequest};

impl Runner {
    /// Whether an empty window may be taken for the time before the pair's listing: the
    /// provider answers a range in many windows of buckets, publishes no listing date for the
    /// pair, and unreachable history is not being asked for again.
    pub(super) fn searches_listing(&self, request: &SeriesRequest) -> bool {
        let paging = self.source.paging(&request.series.pair, request.source);
        !request.retry_unreachable
            && request.listing.listed.is_none()
            && matches!(paging, Paging::Buckets(n) if n != u32::MAX)
    }

    /// The open time of the pair's first candle in `windows` (oldest first, the first one
    /// known empty), or `None` when no window holds one.
    pub(super) async fn first_candle(
        &self,
        request: &SeriesRequest,
        windows: &[TimeRange],
        counters: &mut Counters,
    ) -> Result<Option<DateTime<Utc>>> {
        // windows[lo] holds no candle; windows[hi] holds `first` (or is past the end).
        let (mut lo, mut hi) = (0, windows.len());
        let mut first = None;
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match self.probe(request, windows[mid], counters).await? {
                Some(t) => {
                    hi = mid;
                    first = Some(t);
                }
                None => lo = mid,
            }
        }
        Ok(first)
    }

    /// The earliest candle of one window, asked for with the usual retries.
    async fn probe(
        &self,
        request: &SeriesRequest,
        window: TimeRange,
        counters: &mut Counters,
    ) -> Result<Option<DateTime<Utc>>> {
        let ask = WindowRequest {
            pair: request.series.pair.clone(),
            timeframe: request.source,
            start: window.start,
            end: window.end,
            continues: false,
        };
        let (page, tries) =
            fetch_with_retry(self.source.as_ref(), &self.gate, &ask, self.retry).await;
        counters.requests += tries.requests;
        counters.retries += tries.retries;
        counters.rate_limited += tries.rate_limited;
        let page = page.map_err(|e| {
            Error::Failed(format!(
                "looking for the first {} candle, {} .. {}: {e}",
                request.series.pair,
                window.start.to_rfc3339(),
                window.end.to_rfc3339()
            ))
        })?;
        Ok(page
            .candles
            .iter()
            .filter_map(|c| c.open_time.ok())
            .filter(|t| window.contains(*t))
            .min())
    }
}
