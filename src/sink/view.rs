//! What a table holds, read once for a command that looks at many series (`status`, `gaps`,
//! `topup`): every series' coverage from its marks, its rows and first and last candle from
//! the file statistics (from the rows of a file with a deletion vector), and the data files the
//! log references that the store has lost.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deltalake::DeltaTableError;
use deltalake::kernel::LogicalFileView;

use super::marks::all_marks;
use super::repair::stored_files;
use super::stats::FileStats;
use super::table::{DeltaSink, SinkError, coverage_of, mark_of};
use crate::model::{SeriesKey, TimeRange};
use crate::providers::{ProviderId, Timeframe};

/// The candles a table holds for one series, from its file statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holding {
    pub rows: u64,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
}

/// One table at its latest version.
#[derive(Debug, Default)]
pub struct TableView {
    /// Every series' coverage, as its marks record it.
    pub coverage: HashMap<SeriesKey, TimeRange>,
    pub holdings: HashMap<SeriesKey, Holding>,
    /// Data files the log references that the store does not have.
    pub missing: Vec<String>,
}

impl DeltaSink {
    /// Every series' coverage the table of `tf` records, from one pass over its log and without
    /// loading its file list; `None` when there is no table. A damaged log file is named.
    pub async fn coverages(
        &self,
        tf: Timeframe,
    ) -> Result<Option<HashMap<SeriesKey, TimeRange>>, SinkError> {
        let Some(table) = self.unloaded(tf)? else {
            return Ok(None);
        };
        let marks = all_marks(&table.log_store())
            .await
            .map_err(|e| self.unreadable(tf, e))?;
        let mut ends: HashMap<SeriesKey, (Option<i64>, Option<i64>)> = HashMap::new();
        for (app_id, version) in &marks {
            if let Some((series, end)) = mark_of(app_id).filter(|(s, _)| s.timeframe == tf) {
                let slot = ends.entry(series).or_default();
                match end {
                    "from" => slot.0 = Some(*version),
                    _ => slot.1 = Some(*version),
                }
            }
        }
        Ok(Some(
            ends.into_iter()
                .filter_map(|(s, (f, t))| Some((s, coverage_of(f?, t?)?)))
                .collect(),
        ))
    }

    /// The table of `tf` read once; `None` when it does not exist.
    pub async fn view(&self, tf: Timeframe) -> Result<Option<TableView>, SinkError> {
        let Some(coverage) = self.coverages(tf).await? else {
            return Ok(None);
        };
        let Some(mut table) = self.unloaded(tf)? else {
            return Ok(None);
        };
        let err = self.delta_err(tf);
        match table.load().await {
            Ok(()) => {}
            Err(DeltaTableError::NotATable(_)) => return Ok(None),
            Err(e) => return Err(err(e)),
        }
        let mut view = TableView {
            coverage,
            ..TableView::default()
        };
        let stored = stored_files(&table).await.map_err(&err)?;
        let files: Vec<LogicalFileView> =
            table.snapshot().map_err(&err)?.log_data().iter().collect();
        for file in files {
            let path = file.object_store_path().to_string();
            if !stored.contains(&path) {
                view.missing.push(path);
                continue;
            }
            if let Some((key, held)) = self.live_holding(&table, &file, tf).await? {
                view.holdings.entry(key).or_default().add(held);
            }
        }
        view.missing.sort();
        Ok(Some(view))
    }
}

impl Holding {
    pub(super) fn add(&mut self, other: Holding) {
        self.rows += other.rows;
        self.first = self.first.into_iter().chain(other.first).min();
        self.last = self.last.into_iter().chain(other.last).max();
    }
}

/// The series a data file of the table of `tf` holds and its candles, from its partition
/// values and statistics: every file candlelake writes holds one series. `None` for a file
/// without those statistics or with several providers.
pub(super) fn file_holding(file: &LogicalFileView, tf: Timeframe) -> Option<(SeriesKey, Holding)> {
    let stats = FileStats::of(file);
    let pair = file
        .partition_values_map()
        .get("partition_asset_pair")
        .cloned()
        .flatten()?;
    let key = SeriesKey {
        provider: ProviderId::parse(stats.provider()?)?,
        pair,
        timeframe: tf,
    };
    let held = Holding {
        rows: stats.rows.unwrap_or(0),
        first: stats.times.0,
        last: stats.times.1,
    };
    Some((key, held))
}
