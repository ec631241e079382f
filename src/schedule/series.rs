//! One series' run: resolve its held coverage (the table wins over the watermark file), fetch
//! what coverage lacks, and commit rows, coverage marks, DLQ files and the watermark in order.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;

use super::budget::Budget;
use super::retry::{RetryPolicy, fetch_with_retry};
use super::shutdown::Shutdown;
use crate::aggregate::Aggregator;
use crate::enrich::{Lineage, PartitionPeriod, Row, SeriesKey};
use crate::failpoint;
use crate::pipeline::{self, Counters, Span};
use crate::progress::Progress;
use crate::providers::{CandleSource, Clock, Page, Timeframe, VolumeKind, WindowRequest};
use crate::sink::{Coverage, DeltaSink, SinkError};
use crate::state::dlq::{DeadLetterQueue, DlqContext, RecordKey};
use crate::state::watermark::{Loaded, Range, Watermark, WatermarkStore};
use crate::summary::{SeriesResult, SeriesStatus};
use crate::validate::Reject;

/// Which way a range extends coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Forward: windows oldest first.
    Forward,
    /// Backward (a prepend): windows newest first.
    Backward,
}

/// What a run shares across its series.
pub struct Engine {
    pub source: Arc<dyn CandleSource>,
    pub budget: Arc<Budget>,
    pub sink: Arc<DeltaSink>,
    pub watermarks: WatermarkStore,
    pub dlq: DeadLetterQueue,
    pub clock: Clock,
    pub retry: RetryPolicy,
    pub settle: TimeDelta,
    pub commit_rows: usize,
    pub window_concurrency: usize,
    pub ingestion_id: String,
    pub is_mock: bool,
    pub shutdown: Shutdown,
    /// Bars on a terminal, nothing otherwise.
    pub progress: Arc<Progress>,
}

/// One series and the range asked for it.
#[derive(Debug, Clone)]
pub struct SeriesRequest {
    pub series: SeriesKey,
    /// The native timeframe fetched: the series' own, or the finer one it is built from.
    pub source: Timeframe,
    /// Ask again for history recorded as unreachable.
    pub retry_unreachable: bool,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub partition_period: PartitionPeriod,
}

/// Rows and rejects waiting for the next commit, and the coverage that commit will record.
#[derive(Default)]
struct Pending {
    /// Folds source candles into the series' timeframe when the provider lacks it.
    aggregator: Option<Aggregator>,
    rows: Vec<Row>,
    /// Source candles folded into each of `rows` of an aggregated series (empty for a native
    /// one, whose rows are one candle each): the unit of its counters.
    sizes: Vec<u64>,
    rejects: Vec<(String, Vec<Reject>)>,
    coverage: Option<Coverage>,
    volume_kind: Option<VolumeKind>,
}

struct RunState {
    watermark: Watermark,
    /// History the provider cannot serve, found this run.
    unreachable: Vec<Span>,
    dlq_known: HashSet<RecordKey>,
    coverage: Option<Coverage>,
    counters: Counters,
    processed: Vec<Span>,
    committed: bool,
    dlq_seq: u64,
}

impl Engine {
    /// The ranges this series must fetch: the whole request aligned to the timeframe and cut at
    /// the last final bucket, less what coverage holds, widened to touch the coverage.
    /// History recorded as unreachable just below the coverage is not asked for again unless
    /// the request says so.
    pub fn plan_ranges(
        &self,
        request: &SeriesRequest,
        held: Option<Coverage>,
        unreachable: &[Range],
    ) -> Vec<(Span, Direction)> {
        let tf = request.series.timeframe;
        let horizon = tf.floor((self.clock)() - self.settle);
        let wanted = Span {
            start: tf.ceil(request.start),
            end: tf.ceil(request.end).min(horizon),
        };
        if wanted.start >= wanted.end {
            return Vec::new();
        }
        let Some(held) = held else {
            return vec![(wanted, Direction::Forward)];
        };
        let mut ranges = Vec::new();
        let known_unreachable = !request.retry_unreachable
            && unreachable
                .iter()
                .any(|u| u.to >= held.from && u.from <= wanted.start);
        if wanted.start < held.from && !known_unreachable {
            ranges.push((
                Span {
                    start: wanted.start,
                    end: held.from,
                },
                Direction::Backward,
            ));
        }
        if wanted.end > held.to {
            ranges.push((
                Span {
                    start: held.to,
                    end: wanted.end,
                },
                Direction::Forward,
            ));
        }
        ranges
    }

    /// The series' coverage as the table records it, with the watermark file repaired to match.
    pub async fn held_coverage(
        &self,
        series: &SeriesKey,
    ) -> Result<(Option<Coverage>, Watermark), String> {
        let recorded = self
            .sink
            .recorded_coverage(series)
            .await
            .map_err(|e| e.to_string())?;
        let file = self.watermarks.load(series).map_err(|e| e.to_string())?;
        let path = self.watermarks.path(series);
        let now = (self.clock)();
        let range = |c: Coverage| Range {
            from: c.from,
            to: c.to,
        };
        match (recorded, file) {
            (Some(c), Loaded::Valid(w)) if w.coverage == range(c) => Ok((Some(c), *w)),
            (Some(c), loaded) => {
                tracing::warn!(path = %path.display(), "The watermark file disagreed with the table; repaired it from the table.");
                let mut w = match loaded {
                    Loaded::Valid(w) => *w,
                    _ => Watermark::new(series, range(c), now),
                };
                w.coverage = range(c);
                w.updated_at = now;
                self.watermarks
                    .save(&w, series)
                    .map_err(|e| e.to_string())?;
                Ok((Some(c), w))
            }
            (None, Loaded::Valid(w)) => Err(format!(
                "the watermark {} records coverage {} .. {} but the table holds none for this series; if the table was removed on purpose, delete the watermark file and rerun",
                path.display(),
                w.coverage.from.to_rfc3339(),
                w.coverage.to.to_rfc3339()
            )),
            (None, _) => Ok((
                None,
                Watermark::new(series, Range { from: now, to: now }, now),
            )),
        }
    }

    /// Runs one series to the end of its request, or to its first failure.
    pub async fn run_series(&self, request: SeriesRequest) -> SeriesResult {
        let started = std::time::Instant::now();
        let mut result = self.run_series_inner(request).await;
        result.duration = started.elapsed();
        result
    }

    async fn run_series_inner(&self, request: SeriesRequest) -> SeriesResult {
        let series = request.series.clone();
        let (coverage, watermark) = match self.held_coverage(&series).await {
            Ok(held) => held,
            Err(e) => {
                return SeriesResult::finish(
                    series,
                    Counters::default(),
                    None,
                    Some(e),
                    false,
                    true,
                );
            }
        };
        let ranges = self.plan_ranges(&request, coverage, &watermark.unreachable);
        let windows: usize = ranges
            .iter()
            .map(|(r, d)| {
                self.source
                    .windows(
                        &series.pair,
                        request.source,
                        r.start,
                        r.end,
                        *d == Direction::Backward,
                    )
                    .len()
            })
            .sum();
        self.progress.start(&series, windows as u64);
        let range_was_empty = ranges.is_empty();
        let mut progress = RunState {
            unreachable: Vec::new(),
            watermark,
            dlq_known: self.dlq.known_records(&series),
            coverage,
            counters: Counters::default(),
            processed: Vec::new(),
            committed: false,
            dlq_seq: 0,
        };
        let error = self
            .fetch_ranges(&request, ranges, &mut progress)
            .await
            .err()
            .or_else(|| unreachable_error(&series, &progress.unreachable));
        let status = SeriesResult::finish(
            series.clone(),
            progress.counters,
            progress.coverage,
            error,
            progress.committed,
            range_was_empty,
        );
        self.progress.finish(&series, status.status.as_str());
        if progress.coverage.is_some() {
            for u in &progress.unreachable {
                let range = Range {
                    from: u.start,
                    to: u.end,
                };
                if !progress.watermark.unreachable.contains(&range) {
                    progress.watermark.unreachable.push(range);
                }
            }
            progress.watermark.last_run = Some((self.clock)());
            progress.watermark.last_status = Some(status.status.as_str().to_string());
            if status.status == SeriesStatus::Success {
                progress.watermark.last_success = progress.watermark.last_run;
            }
            if let Err(e) = self.watermarks.save(&progress.watermark, &series) {
                tracing::error!("{e}");
            }
        }
        status
    }

    async fn fetch_ranges(
        &self,
        request: &SeriesRequest,
        ranges: Vec<(Span, Direction)>,
        progress: &mut RunState,
    ) -> Result<(), String> {
        let series = &request.series;
        let tf = series.timeframe;
        for (range, direction) in ranges {
            let mut pending = Pending {
                coverage: progress.coverage,
                aggregator: (request.source != tf).then(|| Aggregator::new(tf)),
                ..Pending::default()
            };
            let newest_first = direction == Direction::Backward;
            let windows = self.source.windows(
                &series.pair,
                request.source,
                range.start,
                range.end,
                newest_first,
            );
            let fetches = windows
                .into_iter()
                .enumerate()
                .map(|(i, (start, end))| async move {
                    let w = Span { start, end };
                    let req = WindowRequest {
                        pair: series.pair.clone(),
                        timeframe: request.source,
                        start,
                        end,
                        continues: i > 0 && !newest_first,
                    };
                    (
                        w,
                        fetch_with_retry(self.source.as_ref(), &self.budget, &req, self.retry)
                            .await,
                    )
                });
            let mut pages = futures::stream::iter(fetches).buffered(self.window_concurrency.max(1));
            let mut shutdown = self.shutdown.clone();
            let mut stop = None;
            loop {
                let next = tokio::select! {
                    biased;
                    _ = shutdown.wait() => None,
                    next = pages.next() => next,
                };
                let Some((window, result)) = next else {
                    if self.shutdown.requested().is_some() {
                        stop = Some(Err(
                            "interrupted; the next run continues from the last commit".to_string(),
                        ));
                    }
                    break;
                };
                let (result, tries) = result;
                progress.counters.requests += tries.requests;
                progress.counters.retries += tries.retries;
                progress.counters.rate_limited += tries.rate_limited;
                let page = match result {
                    Ok(page) => page,
                    Err(e) => {
                        stop = Some(Err(format!(
                            "{} .. {}: {e}",
                            window.start.to_rfc3339(),
                            window.end.to_rfc3339()
                        )));
                        break;
                    }
                };
                failpoint::hit("after_fetch");
                let covered_end = self.absorb(
                    request,
                    page,
                    window,
                    direction,
                    range,
                    &mut pending,
                    progress,
                );
                self.progress.window_done(series, progress.counters.rows);
                if covered_end < window.end {
                    stop = Some(Ok(()));
                    break;
                }
                if pending.rows.len() >= self.commit_rows {
                    self.flush(request, &mut pending, progress, false).await?;
                }
            }
            drop(pages);
            // Members of buckets that never completed are not written; the next run fetches them.
            let waiting = pending.aggregator.as_ref().map_or(0, |a| a.waiting());
            progress.counters.written -= waiting;
            progress.counters.skipped += waiting;
            self.flush(request, &mut pending, progress, true).await?;
            if let Some(result) = stop {
                return result;
            }
        }
        Ok(())
    }

    /// Takes one page into the pending commit: the pipeline at the source timeframe, the
    /// aggregation to the series' timeframe, unreachable history, and the coverage it
    /// justifies. Returns the end of the final source candles in the window.
    #[allow(clippy::too_many_arguments)]
    fn absorb(
        &self,
        request: &SeriesRequest,
        page: Page,
        window: Span,
        direction: Direction,
        range: Span,
        pending: &mut Pending,
        progress: &mut RunState,
    ) -> DateTime<Utc> {
        let tf = request.series.timeframe;
        let reach = page.available_from.map(|a| tf.ceil(a));
        pending.volume_kind = Some(page.volume_kind);
        let request_url = page.request.clone();
        let out = pipeline::process(
            page,
            window,
            request.source,
            self.settle,
            &progress.processed,
        );
        progress.counters.add(out.counters);
        pipeline::mark_processed(&mut progress.processed, window);
        let rows = match pending.aggregator.as_mut() {
            None => out.rows,
            Some(agg) => {
                agg.add(out.rows, out.rejects.iter().filter_map(|r| r.open_time));
                let (from, to) = match direction {
                    Direction::Forward => (range.start, out.covered_end),
                    Direction::Backward => (window.start, range.end),
                };
                let emitted = agg.emit(from, to);
                progress.counters.written -= emitted.dropped;
                progress.counters.skipped += emitted.dropped;
                pending.sizes.extend(emitted.sizes);
                emitted.rows
            }
        };
        progress.counters.rows += rows.len() as u64;
        pending.rows.extend(rows);
        if !out.rejects.is_empty() {
            pending.rejects.push((request_url, out.rejects));
        }

        // The first bucket of the window the provider can serve, and the end of what is final.
        let lower = reach.map_or(tf.ceil(window.start), |r| r.max(tf.ceil(window.start)));
        if lower > window.start {
            progress.unreachable.push(Span {
                start: window.start,
                end: lower.min(window.end),
            });
        }
        let upper = tf.floor(out.covered_end);
        pending.coverage = match (direction, pending.coverage) {
            (Direction::Forward, None) => (lower < upper).then_some(Coverage {
                from: lower,
                to: upper,
            }),
            (Direction::Forward, Some(c)) => Some(Coverage {
                from: c.from,
                to: c.to.max(upper),
            }),
            (Direction::Backward, Some(c)) if lower < c.from => Some(Coverage {
                from: lower,
                to: c.to,
            }),
            (Direction::Backward, held) => held,
        };
        out.covered_end
    }

    /// Writes the pending rejects to the DLQ, then commits pending rows with the coverage they
    /// complete, then writes the watermark. Nothing is written when coverage did not move.
    ///
    /// When another run committed coverage this run's pending range does not touch yet, the
    /// rows stay pending until the range reaches it; on the `last` flush that is an error.
    async fn flush(
        &self,
        request: &SeriesRequest,
        pending: &mut Pending,
        progress: &mut RunState,
        last: bool,
    ) -> Result<(), String> {
        let series = &request.series;
        let now = (self.clock)();
        for (request_url, rejects) in std::mem::take(&mut pending.rejects) {
            let context = DlqContext {
                series,
                source_timeframe: request.source.as_str(),
                ingestion_id: &self.ingestion_id,
                request: &request_url,
            };
            let written = self
                .dlq
                .write(
                    &context,
                    progress.dlq_seq + 1,
                    &rejects,
                    now,
                    &mut progress.dlq_known,
                )
                .map_err(|e| {
                    format!(
                        "could not write a dead-letter file under {}: {e}",
                        self.dlq.dir().display()
                    )
                })?;
            if written.is_some() {
                progress.dlq_seq += 1;
            }
        }
        // Rejects are written even when coverage does not move: they were fetched.
        let Some(wanted) = pending.coverage.filter(|c| Some(*c) != progress.coverage) else {
            return Ok(());
        };
        let lineage = Lineage {
            series: series.clone(),
            volume_kind: pending.volume_kind.unwrap_or(VolumeKind::Base),
            ingestion_id: self.ingestion_id.clone(),
            is_mock: self.is_mock,
            partition_period: request.partition_period,
        };
        let rows = std::mem::take(&mut pending.rows);
        let sizes = std::mem::take(&mut pending.sizes);
        // Source candles in the rows `keep` selects: the unit of `written` and `skipped`.
        let candles = |keep: &dyn Fn(&Row) -> bool| -> u64 {
            rows.iter()
                .enumerate()
                .filter(|(_, row)| keep(row))
                .map(|(i, _)| sizes.get(i).copied().unwrap_or(1))
                .sum()
        };
        let committed = match self.sink.commit(&lineage, &rows, wanted).await {
            Ok(committed) => committed,
            Err(SinkError::CoverageMoved { .. }) if !last => {
                pending.rows = rows;
                pending.sizes = sizes;
                return Ok(());
            }
            Err(e) => {
                // Not written: the coverage did not move, so the next run fetches them again.
                let all = candles(&|_| true);
                progress.counters.written -= all;
                progress.counters.rows -= rows.len() as u64;
                progress.counters.skipped += all;
                return Err(e.to_string());
            }
        };
        // Rows another run committed first are already in the table: count them as skipped.
        if let Some(held) = committed.held_before {
            let dropped = |row: &Row| held.contains(row.candle.open_time);
            let candles = candles(&dropped);
            progress.counters.written -= candles;
            progress.counters.rows -= rows.iter().filter(|r| dropped(r)).count() as u64;
            progress.counters.skipped += candles;
        }
        progress.committed |= committed.version.is_some();
        progress.coverage = Some(committed.coverage);
        pending.coverage = Some(committed.coverage);
        let w = &mut progress.watermark;
        w.coverage = Range {
            from: committed.coverage.from,
            to: committed.coverage.to,
        };
        let first = rows.iter().map(|r| r.candle.open_time).min();
        let last = rows.iter().map(|r| r.candle.open_time).max();
        if let (Some(first), Some(last)) = (first, last) {
            w.hold(first, last);
        }
        if let Some(version) = committed.version {
            w.table_version = version;
        }
        w.updated_at = now;
        self.watermarks.save(w, series).map_err(|e| e.to_string())
    }
}

/// The series error for history the provider could not serve this run.
fn unreachable_error(series: &SeriesKey, unreachable: &[Span]) -> Option<String> {
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
