//! The engine's vocabulary: a series' identity (`SeriesKey`), a table row (`Row`, `Lineage`),
//! the one half-open time range (`TimeRange`) every coverage, window and gap is, and the one
//! way a time is printed (`rfc3339`). Pure: no I/O, no clock.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::providers::{ProviderId, Timeframe, VolumeKind};
use crate::sink::PartitionPeriod;
use crate::stage::validate::Candle;

/// The (provider, asset pair, timeframe) a watermark, a DLQ file and a summary line belong to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub provider: ProviderId,
    pub pair: String,
    pub timeframe: Timeframe,
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.provider.as_str(),
            self.pair,
            self.timeframe
        )
    }
}

/// Values shared by every row of one commit.
#[derive(Debug, Clone)]
pub struct Lineage {
    pub series: SeriesKey,
    pub volume_kind: VolumeKind,
    pub ingestion_id: String,
    pub is_mock: bool,
    pub partition_period: PartitionPeriod,
}

/// A validated candle with its per-row lineage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub candle: Candle,
    pub extracted_at: DateTime<Utc>,
}

/// A half-open time range `[start, end)`: a window, a series' coverage, a gap.
/// Serialised as `{"from", "to"}`, the contract's shape for coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimeRange {
    #[serde(rename = "from")]
    pub start: DateTime<Utc>,
    #[serde(rename = "to")]
    pub end: DateTime<Utc>,
}

impl TimeRange {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        TimeRange { start, end }
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// The part of `self` inside `other`, if any.
    pub fn intersect(&self, other: TimeRange) -> Option<TimeRange> {
        let r = TimeRange::new(self.start.max(other.start), self.end.min(other.end));
        (!r.is_empty()).then_some(r)
    }
}

/// A time as the summaries, reports and DLQ print it: RFC 3339, UTC, whole seconds.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A new run's id: a lowercase UUIDv4, written in every row's `_ingestion_id`.
pub fn new_ingestion_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
