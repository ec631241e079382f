//! The window loop every fetching operation shares (backfill, topup, refetch): cuts a range
//! into the provider's windows, fetches several at once through the rate gate with retries,
//! hands them back in commit order, triages each page and, for a series built from a finer
//! timeframe, folds the source candles into its buckets. Stops at the first window that
//! fails after its retries, or at SIGINT/SIGTERM.

use std::pin::Pin;

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};

use super::Runner;
use super::counters::Counters;
use super::request::{Direction, SeriesRequest};
use crate::error::{Error, Result};
use crate::fetch::Tries;
use crate::fetch::fetch_with_retry;
use crate::model::{Row, TimeRange};
use crate::providers::{FetchError, Page, VolumeKind, WindowRequest};
use crate::stage::aggregate::Aggregator;
use crate::stage::triage;
use crate::stage::validate::Reject;

/// What one fetched window contributes, at the series' timeframe.
#[derive(Debug)]
pub struct Window {
    pub range: TimeRange,
    /// The request URL, without secrets (for the DLQ).
    pub request: String,
    pub volume_kind: VolumeKind,
    /// The oldest history the provider says it can serve, when it says so.
    pub available_from: Option<DateTime<Utc>>,
    pub rows: Vec<Row>,
    /// Source candles folded into each of `rows` of an aggregated series (empty for a native
    /// one, whose rows are one candle each).
    pub sizes: Vec<u64>,
    pub rejects: Vec<Reject>,
    /// Source candles the answer held, whatever became of them.
    pub candles: u64,
    /// `[range.start, covered_end)` holds only final source candles.
    pub covered_end: DateTime<Utc>,
}

type Pages<'a> =
    Pin<Box<dyn Stream<Item = (TimeRange, (Result<Page, FetchError>, Tries))> + Send + 'a>>;

/// One range of one series, fetched window by window in commit order.
pub struct RangeFetch<'a> {
    runner: &'a Runner,
    range: TimeRange,
    direction: Direction,
    pages: Pages<'a>,
    aggregator: Option<Aggregator>,
    request: &'a SeriesRequest,
}

impl<'a> RangeFetch<'a> {
    pub fn new(
        runner: &'a Runner,
        request: &'a SeriesRequest,
        range: TimeRange,
        direction: Direction,
    ) -> Self {
        let newest_first = direction.newest_first();
        let fetches = runner
            .windows(request, range, direction)
            .into_iter()
            .enumerate()
            .map(move |(i, window)| async move {
                let req = WindowRequest {
                    pair: request.series.pair.clone(),
                    timeframe: request.source,
                    start: window.start,
                    end: window.end,
                    continues: i > 0 && !newest_first,
                };
                let fetched =
                    fetch_with_retry(runner.source.as_ref(), &runner.gate, &req, runner.retry)
                        .await;
                (window, fetched)
            });
        let pages = futures::stream::iter(fetches)
            .buffered(runner.window_concurrency.max(1))
            .boxed();
        RangeFetch {
            runner,
            range,
            direction,
            pages,
            aggregator: request
                .aggregated()
                .then(|| Aggregator::new(request.series.timeframe)),
            request,
        }
    }

    /// The next window in commit order, `None` after the last. `processed` lists the ranges
    /// this series run already handled (a candle inside them is a duplicate); the window is
    /// added to it.
    pub async fn next(
        &mut self,
        counters: &mut Counters,
        processed: &mut Vec<TimeRange>,
    ) -> Option<Result<Window>> {
        let mut shutdown = self.runner.shutdown.clone();
        let next = tokio::select! {
            biased;
            _ = shutdown.wait() => None,
            next = self.pages.next() => next,
        };
        let Some((window, (result, tries))) = next else {
            return self
                .runner
                .shutdown
                .requested()
                .map(|stop| Err(Error::Interrupted(stop)));
        };
        counters.requests += tries.requests;
        counters.retries += tries.retries;
        counters.rate_limited += tries.rate_limited;
        let page = match result {
            Ok(page) => page,
            Err(e) => {
                return Some(Err(Error::Failed(format!(
                    "{} .. {}: {e}",
                    window.start.to_rfc3339(),
                    window.end.to_rfc3339()
                ))));
            }
        };
        let request = page.request.clone();
        let (volume_kind, available_from) = (page.volume_kind, page.available_from);
        let out = triage::process(
            page,
            window,
            self.request.source,
            self.runner.settle,
            processed,
        );
        let candles = out.counters.fetched;
        counters.add(out.counters);
        triage::mark_processed(processed, window);
        let (rows, sizes) = match self.aggregator.as_mut() {
            None => (out.rows, Vec::new()),
            Some(agg) => {
                agg.add(out.rows, out.rejects.iter().filter_map(|r| r.open_time));
                let ready = match self.direction {
                    Direction::Forward => TimeRange::new(self.range.start, out.covered_end),
                    Direction::Backward => TimeRange::new(window.start, self.range.end),
                };
                let emitted = agg.emit(ready.start, ready.end);
                counters.unwrite(emitted.dropped, 0);
                (emitted.rows, emitted.sizes)
            }
        };
        counters.rows += rows.len() as u64;
        Some(Ok(Window {
            range: window,
            request,
            volume_kind,
            available_from,
            rows,
            sizes,
            rejects: out.rejects,
            candles,
            covered_end: out.covered_end,
        }))
    }

    /// Ends the range: members of buckets that never completed are not written (the next run
    /// fetches them again), so they count as skipped.
    pub fn finish(self, counters: &mut Counters) {
        let waiting = self.aggregator.as_ref().map_or(0, Aggregator::waiting);
        counters.unwrite(waiting, 0);
    }
}
