//! A data file's statistics as the log records them (the `stats` JSON of its `add`): its row
//! count and the bounds of its provider and time columns, which every reader of file
//! statistics in the sink (compaction groups, read sets, holdings, removed files) goes by.

use chrono::{DateTime, Utc};
use deltalake::kernel::LogicalFileView;

/// The statistics the sink reads; a bound is `None` where the file has no statistic for it.
#[derive(Debug, Default)]
pub(super) struct FileStats {
    pub rows: Option<u64>,
    pub providers: (Option<String>, Option<String>),
    pub times: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
}

impl FileStats {
    /// From an `add`'s `stats` text; unknown (every bound `None`) when absent or unreadable.
    pub fn parse(text: Option<&str>) -> Self {
        let Some(stats) = text.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        else {
            return FileStats::default();
        };
        let text = |side: &str, column: &str| stats[side][column].as_str().map(str::to_string);
        let time = |side: &str| {
            text(side, "timestamp")
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.to_utc())
        };
        FileStats {
            rows: stats["numRecords"].as_u64(),
            providers: (
                text("minValues", "source_provider"),
                text("maxValues", "source_provider"),
            ),
            times: (time("minValues"), time("maxValues")),
        }
    }

    pub fn of(file: &LogicalFileView) -> Self {
        FileStats::parse(file.stats().as_deref())
    }

    /// The one provider whose candles the file holds, when its bounds say so.
    pub fn provider(&self) -> Option<&str> {
        match &self.providers {
            (Some(low), Some(high)) if low == high => Some(low),
            _ => None,
        }
    }

    /// Whether the file may hold `provider`'s candles; unknown bounds may.
    pub fn may_hold_provider(&self, provider: &str) -> bool {
        match &self.providers {
            (Some(low), Some(high)) => low.as_str() <= provider && provider <= high.as_str(),
            _ => true,
        }
    }

    /// Whether the file's candles may open in `[start, end)`; unknown bounds may.
    pub fn may_overlap(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        match self.times {
            (Some(first), Some(last)) => first < end && start <= last,
            _ => true,
        }
    }
}
