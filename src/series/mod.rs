//! One series' run, and many at once. `coverage` says what the table holds and what to fetch,
//! `fetch` is the window loop, `commit` writes the DLQ, the Delta commit and the watermark;
//! this file strings them together and builds the `Runner` they share.

mod commit;
mod counters;
pub mod coverage;
pub mod fetch;
mod listing;
mod request;

pub use commit::SeriesRun;
pub use counters::Counters;
pub use request::{Direction, Listing, SeriesRequest};

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;

use self::commit::Pending;
use self::fetch::RangeFetch;
use self::listing::Found;
use crate::error::{Error, Result};
use crate::failpoint;
use crate::fetch::{RateGate, RetryPolicy, Shutdown};
use crate::model::{SeriesKey, TimeRange};
use crate::plan::{PlanError, Settings, Source};
use crate::providers::{CandleSource, Clock};
use crate::report::progress::Progress;
use crate::report::summary::SeriesResult;
use crate::sink::{DeltaSink, PartitionPeriod};
use crate::stage::aggregate::source_timeframe;
use crate::state::dlq::DeadLetterQueue;
use crate::state::watermark::WatermarkStore;

/// What every series of one provider in one run shares.
pub struct Runner {
    source: Arc<dyn CandleSource>,
    gate: Arc<RateGate>,
    sink: Arc<DeltaSink>,
    watermarks: WatermarkStore,
    dlq: DeadLetterQueue,
    clock: Clock,
    retry: RetryPolicy,
    settle: TimeDelta,
    commit_rows: usize,
    window_concurrency: usize,
    ingestion_id: String,
    is_mock: bool,
    shutdown: Shutdown,
    progress: Arc<Progress>,
}

/// Builds a `Runner` from checked settings and a provider's source.
pub struct RunnerBuilder {
    runner: Runner,
}

impl RunnerBuilder {
    /// Rows of the offline demo (`is_mock` true in the table).
    pub fn mock(mut self, is_mock: bool) -> Self {
        self.runner.is_mock = is_mock;
        self
    }

    pub fn progress(mut self, progress: Arc<Progress>) -> Self {
        self.runner.progress = progress;
        self
    }

    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.runner.shutdown = shutdown;
        self
    }

    pub fn build(self) -> Runner {
        self.runner
    }
}

/// Series running at once. Each holds up to `CANDLELAKE_COMMIT_ROWS` rows before its commit,
/// so this bounds a run's memory however many pairs it has; with 4 windows in flight each, 128
/// requests wait on a provider's rate budget, far more than any budget needs to stay full.
const SERIES_AT_ONCE: usize = 32;

impl Runner {
    /// A runner for `source` in the run `ingestion_id`: no progress bars, never interrupted,
    /// real rows, unless the builder says otherwise.
    pub fn builder(
        settings: &Settings,
        source: Source,
        clock: Clock,
        ingestion_id: &str,
    ) -> RunnerBuilder {
        RunnerBuilder {
            runner: Runner {
                source: source.client,
                gate: source.gate,
                sink: Arc::new(DeltaSink::new(
                    &settings.lake,
                    settings.partition_periods.clone(),
                )),
                watermarks: WatermarkStore::new(&settings.state_dir),
                dlq: DeadLetterQueue::new(&settings.state_dir),
                clock,
                retry: RetryPolicy {
                    base: settings.retry_base,
                    max_retry_after: settings.max_retry_after,
                },
                settle: settings.settle_delta(),
                commit_rows: settings.commit_rows,
                window_concurrency: settings.window_concurrency,
                ingestion_id: ingestion_id.to_string(),
                is_mock: false,
                shutdown: Shutdown::never(),
                progress: Arc::new(Progress::none()),
            },
        }
    }

    pub fn source(&self) -> &dyn CandleSource {
        self.source.as_ref()
    }

    pub fn sink(&self) -> &DeltaSink {
        &self.sink
    }

    pub fn dlq(&self) -> &DeadLetterQueue {
        &self.dlq
    }

    pub fn ingestion_id(&self) -> &str {
        &self.ingestion_id
    }

    pub fn is_mock(&self) -> bool {
        self.is_mock
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// The request of one series over `range`, with the native timeframe it is fetched at.
    pub fn request(
        &self,
        series: SeriesKey,
        range: TimeRange,
        partition_period: PartitionPeriod,
    ) -> Result<SeriesRequest, PlanError> {
        let native = self.source.capabilities().native_timeframes;
        let source = source_timeframe(series.timeframe, native).ok_or_else(|| {
            PlanError(format!(
                "{} has no timeframe that {} can be built from; pick another timeframe",
                series.provider.as_str(),
                series.timeframe
            ))
        })?;
        Ok(SeriesRequest {
            series,
            source,
            range,
            partition_period,
            retry_unreachable: false,
            listing: Listing::default(),
        })
    }

    /// The series' coverage as the table records it, with the watermark file repaired.
    pub async fn held(&self, series: &SeriesKey) -> Result<coverage::Held> {
        coverage::held(&self.sink, &self.watermarks, series, self.now()).await
    }

    /// The ranges `request` must fetch, given what the table holds.
    pub fn plan(
        &self,
        request: &SeriesRequest,
        held: &coverage::Held,
    ) -> Vec<(TimeRange, Direction)> {
        let horizon = request.series.timeframe.floor(self.now() - self.settle);
        let unreachable: Vec<TimeRange> =
            held.watermark.unreachable.iter().map(|u| u.range).collect();
        coverage::plan_ranges(
            &request.within_listing(),
            held.coverage,
            &unreachable,
            horizon,
        )
    }

    /// The provider's windows covering `range`, in commit order.
    pub fn windows(
        &self,
        request: &SeriesRequest,
        range: TimeRange,
        direction: Direction,
    ) -> Vec<TimeRange> {
        self.source
            .windows(
                &request.series.pair,
                request.source,
                range.start,
                range.end,
                direction.newest_first(),
            )
            .into_iter()
            .map(|(start, end)| TimeRange::new(start, end))
            .collect()
    }

    /// Fetches one range of a series window by window, in commit order.
    pub fn fetch<'a>(
        &'a self,
        request: &'a SeriesRequest,
        range: TimeRange,
        direction: Direction,
    ) -> RangeFetch<'a> {
        RangeFetch::new(self, request, range, direction)
    }

    /// Runs every series; one failing series does not stop the others. Each series is its own
    /// task, so parsing and validation use every worker thread.
    pub async fn run_all(self: &Arc<Self>, requests: Vec<SeriesRequest>) -> Vec<SeriesResult> {
        let slots = Arc::new(tokio::sync::Semaphore::new(SERIES_AT_ONCE));
        let tasks = requests.into_iter().map(|r| {
            let runner = Arc::clone(self);
            let slots = Arc::clone(&slots);
            tokio::spawn(async move {
                let _slot = slots
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                runner.run_series(r).await
            })
        });
        let results: Vec<SeriesResult> = join_all(tasks)
            .await
            .into_iter()
            .map(|joined| joined.expect("a series task panicked"))
            .collect();
        for r in &results {
            debug_assert!(
                r.counters.balanced(),
                "conservation broken for {}",
                r.series
            );
        }
        results
    }

    /// Runs one series to the end of its request, or to its first failure.
    pub async fn run_series(&self, request: SeriesRequest) -> SeriesResult {
        let started = std::time::Instant::now();
        let series = request.series.clone();
        // A run that lost its lease touches neither the state dir nor the provider again.
        let held = match self.shutdown.still_held() {
            Ok(()) => match self.settle_pending_dlq(&series).await {
                Ok(()) => self.held(&series).await,
                Err(e) => Err(e),
            },
            Err(lost) => Err(lost),
        };
        let mut result = match held {
            Err(e) => SeriesResult::failed(series, e.to_string()),
            Ok(held) => self.run_held(request, held).await,
        };
        result.duration = started.elapsed();
        result
    }

    /// Settles the DLQ files a stopped run left pending: into the queue when a commit names
    /// them, less the rejects of the coverage that commit found another run had committed;
    /// deleted otherwise (that window was never committed by that run).
    async fn settle_pending_dlq(&self, series: &SeriesKey) -> Result<()> {
        let pending = self
            .dlq
            .pending_of(series)
            .map_err(|e| Error::write(&self.dlq.pending_dir(), e))?;
        let Some(oldest) = pending.iter().map(|p| p.written).min() else {
            return Ok(());
        };
        // Commits are stamped by their writer's clock: allow it a minute of difference.
        let since = DateTime::<Utc>::from(oldest) - TimeDelta::minutes(1);
        let named = self.sink.named_dlq_files(series.timeframe, since).await?;
        for file in pending {
            let settled = match named.get(&file.id) {
                Some(Some(held)) => self
                    .dlq
                    .drop_covered(&file.id, |t| held.contains(t))
                    .and_then(|_| self.dlq.promote(&file.id)),
                Some(None) => self.dlq.promote(&file.id),
                None => self.dlq.discard(&file.id),
            };
            settled.map_err(|e| Error::write(&self.dlq.dir(), e))?;
        }
        Ok(())
    }

    async fn run_held(&self, request: SeriesRequest, held: coverage::Held) -> SeriesResult {
        let series = request.series.clone();
        let ranges = self.plan(&request, &held);
        let windows: usize = ranges
            .iter()
            .map(|(r, d)| self.windows(&request, *r, *d).len())
            .sum();
        self.progress.start(&series, windows as u64);
        let nothing_to_fetch = ranges.is_empty();
        let mut run = SeriesRun::new(
            held.watermark,
            held.coverage,
            self.dlq.known_records(&series),
        );
        run.before_listing = request.before_listing();
        let error = match self.fetch_ranges(&request, ranges, &mut run).await {
            Err(e) => Some(e.to_string()),
            Ok(()) => unreachable_error(&series, &run.unreachable),
        };
        let result = SeriesResult::finish(series.clone(), &run, error, nothing_to_fetch);
        self.progress
            .finish(&series, result.status.as_str(), run.counters.rows);
        if run.coverage.is_some() && self.shutdown.lease_lost().is_none() {
            coverage::after_run(
                &mut run.watermark,
                &run.unreachable,
                run.before_listing,
                result.status,
                self.now(),
            );
            if let Err(e) = self.watermarks.save(&run.watermark, &series) {
                tracing::error!(series = %series, "{e}");
            }
        }
        result
    }

    /// Fetches the ranges in order; where the pair's listing date is not published, an empty
    /// window may end a range at the listing (`listing::Found`).
    async fn fetch_ranges(
        &self,
        request: &SeriesRequest,
        ranges: Vec<(TimeRange, Direction)>,
        run: &mut SeriesRun,
    ) -> Result<()> {
        let tf = request.series.timeframe;
        let mut ranges: VecDeque<(TimeRange, Direction)> = ranges.into();
        let mut search = self.searches_listing(request);
        while let Some((range, direction)) = ranges.pop_front() {
            let mut pending = Pending::new(run.coverage);
            let mut windows = self.fetch(request, range, direction);
            let mut stop: Option<Result<()>> = None;
            let mut first = true;
            while let Some(window) = windows.next(&mut run.counters, &mut run.processed).await {
                let window = match window {
                    Ok(window) => window,
                    Err(e) => {
                        stop = Some(Err(e));
                        break;
                    }
                };
                if search && window.candles == 0 {
                    match self
                        .before_listing(request, range, direction, &window, first, run)
                        .await?
                    {
                        Found::Nothing => {}
                        Found::Stop => break,
                        Found::StartAt(rest) => {
                            search = false;
                            if let Some(rest) = rest {
                                ranges.push_front(rest);
                            }
                            break;
                        }
                    }
                }
                first = false;
                failpoint::hit("after_fetch");
                let end = window.range.end;
                let covered_end = pending.absorb(window, tf, direction, run);
                self.progress
                    .window_done(&request.series, run.counters.rows);
                if covered_end < end {
                    stop = Some(Ok(()));
                    break;
                }
                if pending.rows() >= self.commit_rows {
                    self.flush(request, &mut pending, run, false).await?;
                }
            }
            windows.finish(&mut run.counters);
            self.flush(request, &mut pending, run, true).await?;
            if let Some(result) = stop {
                return result;
            }
        }
        Ok(())
    }
}

/// The series error for history the provider could not serve this run.
fn unreachable_error(series: &SeriesKey, unreachable: &[TimeRange]) -> Option<String> {
    let first = unreachable.iter().map(|u| u.start).min()?;
    let available = unreachable.iter().map(|u| u.end).max()?;
    Some(format!(
        "{} serves {} {} history only from {}; {} .. {} is recorded as unreachable and not asked again unless --retry-unreachable is given",
        series.provider.as_str(),
        series.pair,
        series.timeframe,
        available.to_rfc3339(),
        first.to_rfc3339(),
        available.to_rfc3339()
    ))
}

#[cfg(test)]
mod tests;
