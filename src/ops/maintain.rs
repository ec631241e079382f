//! `maintain`: per table, compacts small files per partition, vacuums files no commit
//! references (never younger than the table's own file retention unless forced), writes a
//! checkpoint and removes expired log files; an old table's statistics column list loses its
//! boolean. Never changes a row. A run that lost its lease starts no further step.

use chrono::TimeDelta;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::fetch::Shutdown;
use crate::plan::PlanError;
use crate::providers::Timeframe;
use crate::sink::{DeltaSink, table_name};

/// What `maintain` did to each table it changed.
#[derive(Debug, Default, Serialize)]
pub struct MaintainReport {
    pub tables: Vec<TableReport>,
}

#[derive(Debug, Serialize)]
pub struct TableReport {
    pub table: String,
    pub files_before: usize,
    pub files_after: usize,
    pub rows_rewritten: usize,
    pub files_vacuumed: usize,
    /// Data files the store had lost, removed from the table by `--repair`.
    pub files_repaired: Vec<String>,
    /// The statistics column list named a boolean and was set to string and time columns.
    pub stats_columns_fixed: bool,
}

/// How `maintain` runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Files no commit references are kept this long (never less than a table's own
    /// `delta.deletedFileRetentionDuration` unless `force`).
    pub retention: TimeDelta,
    pub force: bool,
    /// First remove from each table the data files the store has lost.
    pub repair: bool,
}

/// Maintains each table of `timeframes`; with `repair`, first removes from it the data files
/// the store has lost (without it, such a table is refused with what to do). A retention
/// shorter than a table's own is refused before any table is changed, unless forced.
pub async fn maintain(
    sink: &DeltaSink,
    timeframes: &[Timeframe],
    options: Options,
    lease: &Shutdown,
) -> Result<MaintainReport> {
    let Options {
        retention,
        force,
        repair,
    } = options;
    if !force {
        for tf in timeframes.iter().copied() {
            if let Some(kept) = sink.file_retention(tf).await?
                && retention < kept
            {
                return Err(Error::Usage(PlanError(format!(
                    "--vacuum-retention {}h is shorter than the {}h the table {} keeps removed files for (delta.deletedFileRetentionDuration); give at least {}h, or add --force to delete files that readers of older versions or a concurrent run may still need",
                    retention.num_hours(),
                    kept.num_hours(),
                    sink.location(tf),
                    kept.num_hours()
                ))));
            }
        }
    }
    let mut report = MaintainReport::default();
    for tf in timeframes.iter().copied() {
        lease.still_held()?;
        let repaired = sink.lost_files(tf, repair).await?;
        if let (false, Some(first)) = (repair, repaired.first()) {
            return Err(Error::Failed(format!(
                "the table {} references {} data file(s) the store no longer has (first: {first}); rerun with --repair to remove them from the table, then `candlelake refetch` the range `candlelake gaps` reports",
                sink.location(tf),
                repaired.len()
            )));
        }
        lease.still_held()?;
        let stats_columns_fixed = sink.fix_stats_columns(tf).await?;
        lease.still_held()?;
        let compacted = sink.compact(tf).await?;
        lease.still_held()?;
        let vacuumed = sink.vacuum_and_checkpoint(tf, retention, force).await?;
        if compacted.files_before > 0
            || !vacuumed.is_empty()
            || !repaired.is_empty()
            || stats_columns_fixed
        {
            report.tables.push(TableReport {
                table: table_name(tf),
                files_before: compacted.files_before,
                files_after: compacted.files_after,
                rows_rewritten: compacted.rows,
                files_vacuumed: vacuumed.len(),
                files_repaired: repaired,
                stats_columns_fixed,
            });
        }
    }
    Ok(report)
}
