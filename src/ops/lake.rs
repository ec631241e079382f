//! The lake as the commands that list series see it: every table read once, and every series
//! that a table's coverage marks or a watermark file knows. The tables are the truth; a
//! watermark file only adds series whose table lost them, so they are reported, not missed.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{SeriesKey, TimeRange};
use crate::providers::Timeframe;
use crate::sink::{DeltaSink, Holding, TableView};
use crate::state::watermark::WatermarkStore;

/// The tables of some timeframes, read once.
pub struct Lake {
    tables: BTreeMap<Timeframe, TableView>,
    /// Tables that could not be read, with why.
    broken: BTreeMap<Timeframe, String>,
    /// Series that have a watermark file.
    files: Vec<SeriesKey>,
}

impl Lake {
    pub async fn read(
        sink: &DeltaSink,
        watermarks: &WatermarkStore,
        timeframes: &[Timeframe],
    ) -> Lake {
        let mut lake = Lake {
            tables: BTreeMap::new(),
            broken: BTreeMap::new(),
            files: watermarks.keys(),
        };
        for tf in timeframes.iter().copied() {
            match sink.view(tf).await {
                Ok(Some(view)) => {
                    lake.tables.insert(tf, view);
                }
                Ok(None) => {}
                Err(e) => {
                    lake.broken.insert(tf, e.to_string());
                }
            }
        }
        lake
    }

    /// Every series a table or a watermark file knows, sorted.
    pub fn series(&self) -> Vec<SeriesKey> {
        let from_tables = self.tables.values().flat_map(|t| t.coverage.keys());
        let all: BTreeSet<&SeriesKey> = from_tables.chain(&self.files).collect();
        all.into_iter().cloned().collect()
    }

    /// The series' coverage as its table records it.
    pub fn coverage(&self, series: &SeriesKey) -> Option<TimeRange> {
        self.tables
            .get(&series.timeframe)?
            .coverage
            .get(series)
            .copied()
    }

    /// What the series' table holds of it.
    pub fn holding(&self, series: &SeriesKey) -> Holding {
        self.tables
            .get(&series.timeframe)
            .and_then(|t| t.holdings.get(series).copied())
            .unwrap_or_default()
    }

    /// Why the table of `tf` could not be read, when it could not.
    pub fn broken(&self, tf: Timeframe) -> Option<&str> {
        self.broken.get(&tf).map(String::as_str)
    }

    /// Damage found, each with what to do: unreadable tables and lost data files.
    pub fn problems(&self, sink: &DeltaSink) -> Vec<String> {
        let mut problems: Vec<String> = self.broken.values().cloned().collect();
        for (tf, view) in &self.tables {
            if let Some(first) = view.missing.first() {
                problems.push(sink.lost(*tf, &view.missing, first).to_string());
            }
        }
        problems
    }
}
