//! What one series is asked to do: its key, the native timeframe it is fetched at, the range
//! asked for, and which way a range extends coverage.

use crate::model::{SeriesKey, TimeRange};
use crate::providers::Timeframe;
use crate::sink::PartitionPeriod;

/// Which way a range extends coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Forward: windows oldest first.
    Forward,
    /// Backward (a prepend): windows newest first.
    Backward,
}

impl Direction {
    pub fn newest_first(self) -> bool {
        self == Direction::Backward
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Backward => "prepend",
        }
    }
}

/// One series and the range asked for it.
#[derive(Debug, Clone)]
pub struct SeriesRequest {
    pub series: SeriesKey,
    /// The native timeframe fetched: the series' own, or the finer one it is built from.
    pub source: Timeframe,
    /// `[start, end)` as asked; the run aligns it and cuts it at the last final bucket.
    pub range: TimeRange,
    pub partition_period: PartitionPeriod,
    /// Ask again for history recorded as unreachable.
    pub retry_unreachable: bool,
}

impl SeriesRequest {
    /// True when the series is built from a finer native timeframe.
    pub fn aggregated(&self) -> bool {
        self.source != self.series.timeframe
    }
}
