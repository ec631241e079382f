//! `refetch`: fetches a series' range again and, when the provider now answers differently
//! (late trades, provider fixes), replaces exactly the changed candles in one commit. The
//! replaced values are kept as a revision record under `{state}/dlq/revisions/`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::backfill::Planned;
use crate::error::{Error, Result};
use crate::model::{Lineage, Row, TimeRange, rfc3339};
use crate::providers::VolumeKind;
use crate::providers::decimal::to_scale_18;
use crate::series::{Counters, Direction, Runner, SeriesRequest};
use crate::sink::read::decimal_text;
use crate::state::dlq::Change;

#[derive(Debug, Default, Serialize)]
pub struct RefetchReport {
    pub provider: &'static str,
    pub asset_pair: String,
    pub timeframe: &'static str,
    pub fetched: usize,
    pub changed: usize,
    pub added: usize,
    pub rejected: usize,
    pub revision: Option<String>,
    pub table_version: Option<u64>,
}

type Cells = [String; 5];

fn cells(row: &Row) -> Cells {
    let c = &row.candle;
    [c.open, c.high, c.low, c.close, c.volume].map(|d| decimal_text(to_scale_18(d)))
}

const FIELDS: [&str; 5] = ["open", "high", "low", "close", "volume"];

/// What one `refetch` command did, series by series.
#[derive(Debug, Serialize)]
pub struct RefetchRun {
    pub ingestion_id: String,
    pub results: Vec<RefetchOutcome>,
}

/// One series' refetch, or why it failed.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum RefetchOutcome {
    Done(RefetchReport),
    Failed { series: String, error: String },
}

impl RefetchRun {
    pub fn succeeded(&self) -> bool {
        self.results
            .iter()
            .all(|r| matches!(r, RefetchOutcome::Done(_)))
    }
}

/// Refetches every request in turn, stopping between series at SIGINT/SIGTERM; one failing
/// series does not stop the others.
pub async fn refetch_all(runner: &Runner, planned: &Planned) -> RefetchRun {
    let mut results: Vec<RefetchOutcome> = planned
        .failed
        .iter()
        .map(|f| RefetchOutcome::Failed {
            series: f.series.to_string(),
            error: f.error.clone().unwrap_or_default(),
        })
        .collect();
    for request in &planned.requests {
        if runner.shutdown().requested().is_some() {
            break;
        }
        results.push(match refetch(runner, request).await {
            Ok(report) => RefetchOutcome::Done(report),
            Err(e) => RefetchOutcome::Failed {
                series: request.series.to_string(),
                error: e.to_string(),
            },
        });
    }
    RefetchRun {
        ingestion_id: runner.ingestion_id().to_string(),
        results,
    }
}

/// Refetches `request`'s range (clipped to the series' coverage) and writes what changed.
pub async fn refetch(runner: &Runner, request: &SeriesRequest) -> Result<RefetchReport> {
    let series = &request.series;
    let tf = series.timeframe;
    let mut report = RefetchReport {
        provider: series.provider.as_str(),
        asset_pair: series.pair.clone(),
        timeframe: tf.as_str(),
        ..RefetchReport::default()
    };
    let held = runner.held(series).await?.coverage.ok_or_else(|| {
        Error::Failed(format!("{series} has no coverage yet; run backfill first"))
    })?;
    let asked = TimeRange::new(tf.ceil(request.range.start), tf.ceil(request.range.end));
    let Some(range) = asked.intersect(held) else {
        return Ok(report);
    };

    // Fetch the range again through the same window loop as a backfill.
    let mut fetched: Vec<Row> = Vec::new();
    let mut volume_kind = VolumeKind::Base;
    let (mut counters, mut processed) = (Counters::default(), Vec::new());
    let mut windows = runner.fetch(request, range, Direction::Forward);
    while let Some(window) = windows.next(&mut counters, &mut processed).await {
        let window = window.map_err(|e| match e {
            Error::Interrupted(stop) if stop.commits() => Error::Failed(
                "interrupted before its commit; nothing of this series was replaced".into(),
            ),
            e => e,
        })?;
        volume_kind = window.volume_kind;
        report.rejected += window.rejects.len();
        fetched.extend(window.rows);
    }
    fetched.retain(|r| range.contains(r.candle.open_time));
    report.fetched = fetched.len();

    // Compare with the table.
    let held_rows: BTreeMap<DateTime<Utc>, Cells> = runner
        .sink()
        .rows_of(series)
        .await?
        .into_iter()
        .filter(|r| range.contains(r.timestamp))
        .map(|r| (r.timestamp, [r.open, r.high, r.low, r.close, r.volume]))
        .collect();
    let now = runner.now();
    let mut replaced = Vec::new();
    let mut writes = Vec::new();
    let mut changes = Vec::new();
    for row in fetched {
        let new = cells(&row);
        match held_rows.get(&row.candle.open_time) {
            Some(old) if *old == new => continue,
            Some(old) => {
                report.changed += 1;
                replaced.push(row.candle.open_time);
                changes.push(Change {
                    timestamp: rfc3339(row.candle.open_time),
                    old: FIELDS.iter().copied().zip(old.iter().cloned()).collect(),
                    new: FIELDS.iter().copied().zip(new.iter().cloned()).collect(),
                });
            }
            None => report.added += 1,
        }
        writes.push(row);
    }
    if writes.is_empty() {
        return Ok(report);
    }

    // The old values first, then the one commit that replaces them.
    runner.shutdown().still_held()?;
    if !changes.is_empty() {
        let dlq = runner.dlq();
        let id = dlq
            .write_revision(series, runner.ingestion_id(), changes, now)
            .map_err(|e| Error::write(&dlq.revisions_dir(), e))?;
        report.revision = Some(id);
    }
    let lineage = Lineage {
        series: series.clone(),
        volume_kind,
        ingestion_id: runner.ingestion_id().to_string(),
        is_mock: runner.is_mock(),
        partition_period: request.partition_period,
    };
    runner.shutdown().still_held()?;
    report.table_version = runner
        .sink()
        .replace(&lineage, (range.start, range.end), &replaced, &writes)
        .await?;
    Ok(report)
}
