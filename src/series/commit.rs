//! What a series run has fetched but not committed, and its commit: the rejects to the DLQ
//! first, then the rows with the coverage they complete in one Delta commit, then the
//! watermark. Nothing is committed when coverage did not move, and nothing at all once the run
//! lost its lease: what is pending is dropped for the next run to fetch again.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::Runner;
use super::counters::Counters;
use super::coverage;
use super::fetch::Window;
use super::request::{Direction, SeriesRequest};
use crate::error::{Error, Result};
use crate::model::{Lineage, Row, TimeRange};
use crate::providers::VolumeKind;
use crate::sink::SinkError;
use crate::stage::validate::Reject;
use crate::state::dlq::{DlqContext, RecordKey};
use crate::state::watermark::Watermark;

/// What one series run carries from window to window and range to range.
pub struct SeriesRun {
    pub watermark: Watermark,
    /// The coverage the table records for the series, as of this run's last commit.
    pub coverage: Option<TimeRange>,
    pub counters: Counters,
    /// Ranges handled this run: a candle inside them again is a duplicate.
    pub processed: Vec<TimeRange>,
    /// History the provider cannot serve, found this run.
    pub unreachable: Vec<TimeRange>,
    /// The time before the pair's first candle at the provider, found this run.
    pub before_listing: Option<TimeRange>,
    /// Whether any commit of this run made a new table version.
    pub committed: bool,
    dlq_known: HashSet<RecordKey>,
    dlq_seq: u64,
}

impl SeriesRun {
    pub fn new(
        watermark: Watermark,
        coverage: Option<TimeRange>,
        dlq_known: HashSet<RecordKey>,
    ) -> Self {
        SeriesRun {
            watermark,
            coverage,
            counters: Counters::default(),
            processed: Vec::new(),
            unreachable: Vec::new(),
            before_listing: None,
            committed: false,
            dlq_known,
            dlq_seq: 0,
        }
    }
}

/// Rows and rejects waiting for the next commit, and the coverage that commit will record.
#[derive(Default)]
pub struct Pending {
    rows: Vec<Row>,
    /// Source candles folded into each of `rows` (empty for a native series).
    sizes: Vec<u64>,
    rejects: Vec<(String, Vec<Reject>)>,
    /// Pending DLQ files (id, records) written for the rows not committed yet.
    dlq_files: Vec<(String, u64)>,
    coverage: Option<TimeRange>,
    volume_kind: Option<VolumeKind>,
}

impl Pending {
    pub fn new(coverage: Option<TimeRange>) -> Self {
        Pending {
            coverage,
            ..Pending::default()
        }
    }

    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// Takes one window in, with the history it shows unreachable and the coverage it
    /// justifies. Returns the end of the window's final source candles.
    pub fn absorb(
        &mut self,
        window: Window,
        tf: crate::providers::Timeframe,
        direction: Direction,
        run: &mut SeriesRun,
    ) -> DateTime<Utc> {
        self.volume_kind = Some(window.volume_kind);
        self.rows.extend(window.rows);
        self.sizes.extend(window.sizes);
        if !window.rejects.is_empty() {
            self.rejects.push((window.request, window.rejects));
        }
        let (lower, gap) = coverage::unserved(window.range, tf, window.available_from);
        run.unreachable.extend(gap);
        self.coverage = coverage::extend(
            self.coverage,
            direction,
            lower,
            tf.floor(window.covered_end),
        );
        window.covered_end
    }

    /// Takes out the rows inside `held` (another run committed them); returns their source
    /// candles and their count.
    fn take_held(&mut self, held: TimeRange) -> (u64, u64) {
        let sizes = std::mem::take(&mut self.sizes);
        let (mut candles, mut taken) = (0, 0);
        let mut sizes = sizes.into_iter();
        for row in std::mem::take(&mut self.rows) {
            let size = sizes.next();
            if held.contains(row.candle.open_time) {
                candles += size.unwrap_or(1);
                taken += 1;
            } else {
                self.rows.push(row);
                self.sizes.extend(size);
            }
        }
        (candles, taken)
    }

    /// Source candles in the rows `keep` selects: the unit of `written` and `skipped`.
    fn candles(&self, rows: &[Row], keep: impl Fn(&Row) -> bool) -> u64 {
        rows.iter()
            .enumerate()
            .filter(|(_, row)| keep(row))
            .map(|(i, _)| self.sizes.get(i).copied().unwrap_or(1))
            .sum()
    }
}

impl Runner {
    /// Writes the pending rejects to the DLQ, then commits pending rows with the coverage they
    /// complete, then writes the watermark.
    ///
    /// When another run committed coverage this run's pending range does not touch yet, the
    /// rows stay pending until the range reaches it; on the `last` flush that is an error.
    pub(super) async fn flush(
        &self,
        request: &SeriesRequest,
        pending: &mut Pending,
        run: &mut SeriesRun,
        last: bool,
    ) -> Result<()> {
        let series = &request.series;
        let now = (self.clock)();
        if let Err(lost) = self.shutdown.still_held() {
            drop_pending(pending, run);
            return Err(lost);
        }
        let batches = std::mem::take(&mut pending.rejects);
        for (i, (request_url, rejects)) in batches.iter().enumerate() {
            let context = DlqContext {
                series,
                source_timeframe: request.source.as_str(),
                ingestion_id: &self.ingestion_id,
                request: request_url,
            };
            let known = run.dlq_known.len();
            match self
                .dlq
                .write(&context, run.dlq_seq + 1, rejects, now, &mut run.dlq_known)
            {
                Ok(Some(id)) => {
                    run.dlq_seq += 1;
                    let records = (run.dlq_known.len() - known) as u64;
                    pending.dlq_files.push((id, records));
                }
                Ok(None) => {}
                Err(e) => {
                    // Neither these rejects nor the pending rows are recorded anywhere: the
                    // next run fetches them again, so this one counts them as skipped.
                    let unrecorded = batches[i..].iter().map(|(_, r)| r.len() as u64).sum();
                    run.counters.unrecord(unrecorded);
                    let rows = std::mem::take(&mut pending.rows);
                    drop_rows(pending, &rows, run);
                    return Err(Error::write(&self.dlq.dir(), e));
                }
            }
        }
        let Some(wanted) = pending.coverage.filter(|c| Some(*c) != run.coverage) else {
            // Coverage did not move: the windows since this run's last commit lie inside the
            // coverage another run committed, and that run recorded their rows and rejects.
            // Rejects outside it are recorded still: they were fetched.
            if let Some(held) = run.coverage {
                let (candles, rows) = pending.take_held(held);
                run.counters.unwrite(candles, rows);
                self.take_back_rejects(pending, held, run)?;
            }
            return self.promote(pending);
        };
        let lineage = Lineage {
            series: series.clone(),
            volume_kind: pending.volume_kind.unwrap_or(VolumeKind::Base),
            ingestion_id: self.ingestion_id.clone(),
            is_mock: self.is_mock,
            partition_period: request.partition_period,
        };
        let rows = std::mem::take(&mut pending.rows);
        if let Err(lost) = self.shutdown.still_held() {
            pending.rows = rows;
            drop_pending(pending, run);
            return Err(lost);
        }
        let ids: Vec<String> = pending.dlq_files.iter().map(|(id, _)| id.clone()).collect();
        let committed = match self.sink.commit(&lineage, &rows, wanted, &ids).await {
            Ok(committed) => committed,
            Err(SinkError::CoverageMoved { .. }) if !last => {
                pending.rows = rows;
                return Ok(());
            }
            Err(e) => {
                // Not written: the coverage did not move, so the next run fetches the rows and
                // their rejects again.
                drop_rows(pending, &rows, run);
                for (id, records) in std::mem::take(&mut pending.dlq_files) {
                    self.dlq
                        .discard(&id)
                        .map_err(|e| Error::write(&self.dlq.dir(), e))?;
                    run.counters.unrecord(records);
                }
                return Err(e.into());
            }
        };
        // Rows another run committed first are already in the table, and its DLQ holds their
        // rejects: count both as skipped, and take the rejects back out of this run's DLQ.
        if let Some(held) = committed.held_before {
            let dropped = |row: &Row| held.contains(row.candle.open_time);
            let rows_dropped = rows.iter().filter(|r| dropped(r)).count() as u64;
            run.counters
                .unwrite(pending.candles(&rows, dropped), rows_dropped);
            self.take_back_rejects(pending, held, run)?;
        }
        pending.sizes.clear();
        // Committed while the lease was held; its DLQ files and watermark are the next run's
        // to settle and repair from the table.
        self.shutdown.still_held()?;
        self.promote(pending)?;
        // Another run moved the coverage since this one last saw it: only the table knows
        // which candles it holds now.
        let moved = committed.held_before != run.coverage;
        run.committed |= committed.version.is_some();
        run.coverage = Some(committed.coverage);
        pending.coverage = Some(committed.coverage);
        let first = rows.iter().map(|r| r.candle.open_time).min();
        let last = rows.iter().map(|r| r.candle.open_time).max();
        coverage::after_commit(&mut run.watermark, &committed, first.zip(last), now);
        if moved {
            let held = self.sink.holding_of(series).await?;
            coverage::describe(&mut run.watermark, &held);
        }
        self.watermarks.save(&run.watermark, series)?;
        Ok(())
    }

    /// Takes the rejects of candles inside `held` back out of the pending DLQ files: another
    /// run's commit covered them, and its DLQ holds them.
    fn take_back_rejects(
        &self,
        pending: &mut Pending,
        held: TimeRange,
        run: &mut SeriesRun,
    ) -> Result<()> {
        for (id, records) in &mut pending.dlq_files {
            let taken = self
                .dlq
                .drop_covered(id, |t| held.contains(t))
                .map_err(|e| Error::write(&self.dlq.dir(), e))?;
            *records -= taken;
            run.counters.unrecord(taken);
        }
        Ok(())
    }

    /// Moves the pending DLQ files into the queue: their window is committed.
    fn promote(&self, pending: &mut Pending) -> Result<()> {
        for (id, _) in std::mem::take(&mut pending.dlq_files) {
            self.dlq
                .promote(&id)
                .map_err(|e| Error::write(&self.dlq.dir(), e))?;
        }
        Ok(())
    }
}

/// Drops everything pending of a run that lost its lease: its rows and rejects count as skipped
/// (the next run fetches them again); the DLQ files already written stay pending, for the next
/// run to discard, since no commit names them.
fn drop_pending(pending: &mut Pending, run: &mut SeriesRun) {
    let rejects: u64 = pending.rejects.drain(..).map(|(_, r)| r.len() as u64).sum();
    let records: u64 = pending.dlq_files.drain(..).map(|(_, n)| n).sum();
    run.counters.unrecord(rejects + records);
    let rows = std::mem::take(&mut pending.rows);
    drop_rows(pending, &rows, run);
}

/// Rows taken from `pending` that will not be committed: they count as skipped (the next run
/// fetches them again).
fn drop_rows(pending: &mut Pending, rows: &[Row], run: &mut SeriesRun) {
    run.counters
        .unwrite(pending.candles(rows, |_| true), rows.len() as u64);
    pending.sizes.clear();
}
