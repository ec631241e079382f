//! What an import run knows a table holds without reading its file list again: for each pair,
//! the time bounds of its data files as of one table version, the run's own commits added as
//! they land. A file whose rows meet no file of their pairs replaces nothing, so its commit
//! needs neither the table's file list brought up to date nor a scan of it; only another
//! writer's commit in between (looked for in the log) sends it back to the file list.

use std::collections::HashMap;

use chrono::TimeDelta;
use deltalake::{DeltaTable, DeltaTableError};

use super::import::{FileCommit, Footprint};
use super::rewrite::pair_of;
use super::stats::FileStats;

/// The time bounds of a table's files, by pair, at `version`.
pub(super) struct Holdings {
    pub version: u64,
    bounds: HashMap<String, Vec<FileStats>>,
}

impl Holdings {
    /// The bounds of every file of `table` as loaded.
    pub fn of(table: &DeltaTable) -> Result<Self, DeltaTableError> {
        let mut bounds: HashMap<String, Vec<FileStats>> = HashMap::new();
        for file in table.snapshot()?.log_data().iter() {
            let pair = pair_of(&file);
            let times = FileStats::of(&file).times;
            bounds
                .entry(pair.unwrap_or_default())
                .or_default()
                .push(FileStats {
                    times,
                    ..FileStats::default()
                });
        }
        let version = table.version().unwrap_or_default();
        Ok(Holdings { version, bounds })
    }

    /// Whether committing `file` may remove rows: it replaces an earlier version of itself, or
    /// the span of one of its pairs meets a file of that pair.
    pub fn may_meet(&self, file: &FileCommit<'_>) -> bool {
        !file.replaced.is_empty()
            || footprints(file).any(|f| {
                self.bounds.get(&f.pair).is_some_and(|files| {
                    let end = f.last + TimeDelta::microseconds(1);
                    files.iter().any(|b| b.may_overlap(f.first, end))
                })
            })
    }

    /// Adds the spans of `file`, committed at `version`. `false` when a commit came between
    /// (these bounds are then not the table's any more).
    pub fn add(&mut self, file: &FileCommit<'_>, version: u64) -> bool {
        if version != self.version + 1 {
            return false;
        }
        for f in footprints(file) {
            self.bounds.entry(f.pair).or_default().push(FileStats {
                times: (Some(f.first), Some(f.last)),
                ..FileStats::default()
            });
        }
        self.version = version;
        true
    }
}

/// The span of each pair's rows of `file`.
pub(super) fn footprints<'a>(file: &'a FileCommit<'_>) -> impl Iterator<Item = Footprint> + 'a {
    file.groups.iter().filter_map(|g| g.footprint())
}
