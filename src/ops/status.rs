//! `status`: every series a table or a watermark file knows, described by its table: coverage
//! from the coverage marks, rows and first and last candle from the file statistics, lag from
//! the coverage end; the watermark file only adds the last run, unreachable history and
//! whether the file agrees; the cached instrument lists add whether the pair is delisted (a
//! delisted pair is never stale). Damage (an unreadable table, lost data files, an unreadable
//! DLQ file) is named. Reads only; takes no lock.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::lake::Lake;
use super::universe::Lists;
use crate::error::{Error, Result};
use crate::model::{SeriesKey, TimeRange, rfc3339};
use crate::plan::Settings;
use crate::providers::{InstrumentStatus, Timeframe};
use crate::report::summary::CoverageLine;
use crate::sink::DeltaSink;
use crate::state::dlq::DeadLetterQueue;
use crate::state::watermark::{Loaded, WatermarkStore};

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub series: Vec<SeriesStatusLine>,
    /// Damage found, each with what to do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl StatusReport {
    /// True when a health check should fail: a stale or unreadable series, or damage found.
    pub fn unhealthy(&self) -> bool {
        !self.problems.is_empty()
            || self
                .series
                .iter()
                .any(|s| s.stale == Some(true) || s.error.is_some())
    }
}

/// How the series' watermark file compares with its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WatermarkState {
    /// It agrees with the table.
    Ok,
    /// There is none (a new machine, a wiped state dir); the next run writes it.
    Missing,
    /// It cannot be read; the next run rewrites it from the table.
    Unreadable,
    /// It claims less than the table holds; the next run repairs it.
    Behind,
    /// It claims coverage the table does not hold; the next run repairs it.
    Ahead,
}

#[derive(Debug, Serialize)]
pub struct SeriesStatusLine {
    pub provider: String,
    pub asset_pair: String,
    pub timeframe: String,
    pub coverage: CoverageLine,
    pub first_candle: Option<String>,
    pub last_candle: Option<String>,
    pub unreachable: Vec<UnreachableLine>,
    pub rows: u64,
    pub dlq_records: u64,
    pub last_run: Option<String>,
    pub last_status: Option<String>,
    /// How far the table's coverage lags behind the end of the last final candle, in seconds;
    /// `null` when the table holds no coverage for the series.
    pub lag_seconds: Option<i64>,
    /// Set when `--fail-if-stale` was given: the lag exceeds it, or there is no coverage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<bool>,
    pub watermark: WatermarkState,
    /// `delisted` when the provider's list (as cached in the state dir) says the pair is
    /// delisted, `offline` when it does not trade now; absent when it trades or no list knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listing: Option<&'static str>,
    /// The delisting date the provider publishes, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delisted: Option<String>,
    /// Why the series could not be described (its table cannot be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// History the provider cannot serve, and why when it is known (`before_listing`).
#[derive(Debug, Serialize)]
pub struct UnreachableLine {
    pub from: String,
    pub to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

fn line(r: TimeRange) -> CoverageLine {
    CoverageLine {
        from: Some(rfc3339(r.start)),
        to: Some(rfc3339(r.end)),
    }
}

/// Every series `selected` accepts; `stale_after` marks the lagging ones.
pub async fn collect(
    settings: &Settings,
    now: DateTime<Utc>,
    selected: impl Fn(&SeriesKey) -> bool,
    stale_after: Option<TimeDelta>,
) -> Result<StatusReport> {
    let settle = settings.settle_delta();
    let sink = DeltaSink::new(&settings.lake, settings.partition_periods.clone());
    let watermarks = WatermarkStore::new(&settings.state_dir);
    let queue = DeadLetterQueue::new(&settings.state_dir);
    let dlq = queue
        .list()
        .map_err(|e| Error::Failed(format!("could not read the DLQ in {}: {e}", queue.dir())))?;
    let lake = Lake::read(&sink, &watermarks, &Timeframe::ALL).await;
    let mut problems = lake.problems(&sink);
    problems.extend(dlq.unreadable.iter().map(ToString::to_string));
    let mut series = Vec::new();
    let lists = Lists::cached(settings);
    for key in lake.series().into_iter().filter(|k| selected(k)) {
        let instrument = lists.instrument(key.provider, &key.pair);
        let delisted = instrument.is_some_and(|i| i.status == InstrumentStatus::Delisted);
        let coverage = lake.coverage(&key);
        let held = lake.holding(&key);
        let file = watermarks.load(&key);
        let mark = match &file {
            Ok(Loaded::Valid(w)) => Some(w.as_ref()),
            _ => None,
        };
        let state = match (&file, mark, coverage) {
            (Ok(Loaded::Absent), _, _) => WatermarkState::Missing,
            (_, Some(w), Some(c)) if w.coverage == c => WatermarkState::Ok,
            (_, Some(w), Some(c)) if w.coverage.end <= c.end && w.coverage.start >= c.start => {
                WatermarkState::Behind
            }
            (_, Some(_), _) => WatermarkState::Ahead,
            _ => WatermarkState::Unreadable,
        };
        let lag =
            coverage.map(|c| (key.timeframe.floor(now - settle) - c.end).max(TimeDelta::zero()));
        series.push(SeriesStatusLine {
            provider: key.provider.as_str().to_string(),
            asset_pair: key.pair.clone(),
            timeframe: key.timeframe.as_str().to_string(),
            coverage: coverage.map_or(
                CoverageLine {
                    from: None,
                    to: None,
                },
                line,
            ),
            first_candle: held.first.map(rfc3339),
            last_candle: held.last.map(rfc3339),
            unreachable: mark
                .map(|w| {
                    w.unreachable
                        .iter()
                        .map(|u| UnreachableLine {
                            from: rfc3339(u.range.start),
                            to: rfc3339(u.range.end),
                            reason: u.reason.map(|r| r.as_str()),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            rows: held.rows,
            dlq_records: dlq.records_of(&key).len() as u64,
            last_run: mark.and_then(|w| w.last_run).map(rfc3339),
            last_status: mark.and_then(|w| w.last_status.clone()),
            lag_seconds: lag.map(|l| l.num_seconds()),
            // A delisted pair gets no newer candle: it is never stale.
            stale: stale_after.map(|limit| !delisted && lag.is_none_or(|l| l > limit)),
            watermark: state,
            listing: instrument
                .map(|i| i.status)
                .filter(|s| *s != InstrumentStatus::Online)
                .map(InstrumentStatus::as_str),
            delisted: instrument.and_then(|i| i.delisted).map(|d| d.to_string()),
            error: lake.broken(key.timeframe).map(str::to_string),
        });
    }
    Ok(StatusReport { series, problems })
}
