//! Where a pair's history starts at a provider that publishes no listing date. Once listed, a
//! pair is taken to trade in every window of a range, so an empty window means the time before
//! its listing: a prepend stops there, and after an empty first window of a new series the
//! first window holding a candle is found by bisection over the range's windows
//! (⌈log2(windows)⌉ requests instead of one per window). The time before is recorded as
//! unreachable (`before_listing`), so no later run asks for it again.

use chrono::{DateTime, Utc};

use super::Runner;
use super::commit::SeriesRun;
use super::counters::Counters;
use super::fetch::Window;
use super::request::{Direction, SeriesRequest};
use crate::error::{Error, Result};
use crate::fetch::fetch_with_retry;
use crate::model::TimeRange;
use crate::providers::{Paging, WindowRequest};

/// What an empty window says of the pair's listing.
pub(super) enum Found {
    /// Nothing: keep fetching.
    Nothing,
    /// The range reaches back before the listing: stop it here.
    Stop,
    /// The range starts before the listing: drop it, and fetch this instead (nothing when the
    /// pair has no candle in the range).
    StartAt(Option<(TimeRange, Direction)>),
}

impl Runner {
    /// What the empty `window` of `range` says, recording the time before the listing in
    /// `run`: in a prepend it is the time before the listing; as the first window of a new
    /// series it starts the search for the first candle.
    pub(super) async fn before_listing(
        &self,
        request: &SeriesRequest,
        range: TimeRange,
        direction: Direction,
        window: &Window,
        first: bool,
        run: &mut SeriesRun,
    ) -> Result<Found> {
        if direction == Direction::Backward {
            run.before_listing = Some(TimeRange::new(range.start, window.range.end));
            return Ok(Found::Stop);
        }
        let windows = self.windows(request, range, direction);
        if !first || run.coverage.is_some() || windows.len() < 2 {
            return Ok(Found::Nothing);
        }
        let Some(t) = self
            .first_candle(request, &windows, &mut run.counters)
            .await?
        else {
            return Ok(Found::StartAt(None));
        };
        let listed = request.series.timeframe.floor(t).max(range.start);
        run.before_listing = Some(TimeRange::new(range.start, listed));
        Ok(Found::StartAt(Some((
            TimeRange::new(listed, range.end),
            direction,
        ))))
    }

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
    async fn first_candle(
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
