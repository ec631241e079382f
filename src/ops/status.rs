//! `status`: each series' coverage from its watermark, its rows from the table's file
//! statistics, and its dead-lettered records. Reads only; takes no lock.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::{SeriesKey, rfc3339};
use crate::plan::Settings;
use crate::report::summary::CoverageLine;
use crate::sink::DeltaSink;
use crate::state::dlq::DeadLetterQueue;
use crate::state::watermark::WatermarkStore;

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub series: Vec<SeriesStatusLine>,
    /// Damage found on the way (an unreadable DLQ file), each with what to do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl StatusReport {
    /// True when a health check should fail: a stale series or damage found.
    pub fn unhealthy(&self) -> bool {
        !self.problems.is_empty() || self.series.iter().any(|s| s.stale == Some(true))
    }
}

#[derive(Debug, Serialize)]
pub struct SeriesStatusLine {
    pub provider: String,
    pub asset_pair: String,
    pub timeframe: String,
    pub coverage: CoverageLine,
    pub first_candle: Option<String>,
    pub last_candle: Option<String>,
    pub unreachable: Vec<CoverageLine>,
    pub rows: u64,
    pub dlq_records: u64,
    pub last_run: Option<String>,
    pub last_status: Option<String>,
    /// How far coverage lags behind the end of the last final candle, in seconds.
    pub lag_seconds: i64,
    /// Set when `--fail-if-stale` was given: the lag exceeds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<bool>,
}

/// Every series with a watermark that `selected` accepts; `stale_after` marks the lagging ones.
pub async fn collect(
    settings: &Settings,
    now: DateTime<Utc>,
    selected: impl Fn(&SeriesKey) -> bool,
    stale_after: Option<TimeDelta>,
) -> Result<StatusReport> {
    let settle = settings.settle_delta();
    let sink = DeltaSink::new(&settings.lake, settings.partition_periods.clone());
    let queue = DeadLetterQueue::new(&settings.state_dir);
    let dlq = queue.list().map_err(|e| {
        Error::Failed(format!(
            "could not read the DLQ in {}: {e}",
            queue.dir().display()
        ))
    })?;
    let problems = dlq.unreadable.iter().map(ToString::to_string).collect();
    let mut series = Vec::new();
    for w in WatermarkStore::new(&settings.state_dir).all() {
        let Some(key) = w.series().filter(|k| selected(k)) else {
            continue;
        };
        let lag = (key.timeframe.floor(now - settle) - w.coverage.end).max(TimeDelta::zero());
        let rows = sink.series_rows(&key).await?;
        let line = |from, to| CoverageLine {
            from: Some(rfc3339(from)),
            to: Some(rfc3339(to)),
        };
        series.push(SeriesStatusLine {
            provider: w.provider.clone(),
            asset_pair: w.asset_pair.clone(),
            timeframe: w.timeframe.clone(),
            coverage: line(w.coverage.start, w.coverage.end),
            first_candle: w.first_candle.map(rfc3339),
            last_candle: w.last_candle.map(rfc3339),
            unreachable: w.unreachable.iter().map(|r| line(r.start, r.end)).collect(),
            rows,
            dlq_records: dlq.records_of(&key).len() as u64,
            last_run: w.last_run.map(rfc3339),
            last_status: w.last_status.clone(),
            lag_seconds: lag.num_seconds(),
            stale: stale_after.map(|limit| lag > limit),
        });
    }
    Ok(StatusReport { series, problems })
}
