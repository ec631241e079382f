//! `backfill`: for every requested series of one provider, fetches what the table's coverage
//! lacks in the range; `--dry-run` says what it would fetch and makes no request.

use std::collections::HashMap;

use serde::Serialize;

use super::universe::{Lists, Resolved};
use crate::error::Result;
use crate::model::{SeriesKey, TimeRange, rfc3339};
use crate::plan::{BackfillPlan, PlanError, Settings};
use crate::providers::Timeframe;
use crate::report::summary::SeriesResult;
use crate::series::{Runner, SeriesRequest};
use crate::sink::{PartitionPeriod, SinkError};

/// The partition period of each table a run touches. A conflict with an existing table, or a
/// table candlelake cannot append to, is a usage error found before any request; a table that
/// cannot be read fails only the series that use it (the error says which file and what to do).
pub async fn partition_periods(
    runner: &Runner,
    settings: &Settings,
    timeframes: impl IntoIterator<Item = Timeframe>,
) -> Result<HashMap<Timeframe, Result<PartitionPeriod, String>>, PlanError> {
    let mut periods = HashMap::new();
    for tf in timeframes {
        let explicit = settings.partition_periods.contains_key(&tf);
        let period = match runner.sink().partition_period(tf, explicit).await {
            Ok(period) => Ok(period),
            Err(
                e @ (SinkError::PeriodConflict { .. }
                | SinkError::Unsupported { .. }
                | SinkError::BadLocation(_)),
            ) => return Err(PlanError(e.to_string())),
            Err(e) => Err(e.to_string()),
        };
        periods.insert(tf, period);
    }
    Ok(periods)
}

/// The requests of a run, and the series that cannot start (their table cannot be read).
#[derive(Default)]
pub struct Planned {
    pub requests: Vec<SeriesRequest>,
    pub failed: Vec<SeriesResult>,
}

/// One request per (pair, timeframe) of the plan, each with what `lists` say of its pair's
/// listing.
pub async fn requests(
    runner: &Runner,
    settings: &Settings,
    plan: &BackfillPlan,
    retry_unreachable: bool,
    lists: &Lists,
) -> Result<Planned, PlanError> {
    let periods = partition_periods(runner, settings, plan.timeframes.iter().copied()).await?;
    let range = TimeRange::new(plan.start, plan.end);
    let mut planned = Planned::default();
    for series in plan.series() {
        match &periods[&series.timeframe] {
            Ok(period) => {
                let mut request = runner.request(series.clone(), range, *period)?;
                request.retry_unreachable = retry_unreachable;
                request.listing = lists.listing(series.provider, &series.pair);
                planned.requests.push(request);
            }
            Err(e) => planned.failed.push(SeriesResult::failed(series, e.clone())),
        }
    }
    Ok(planned)
}

/// The `--dry-run` report: ranges and requests per series and, for a provider with a daily
/// quota, the days of quota they need.
#[derive(Debug, Serialize)]
pub struct DryRun {
    pub dry_run: bool,
    /// The shard (`I/N`) whose part of the plan this is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The pairs each `--pairs` pattern named.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<Resolved>,
    pub requests: usize,
    pub series: Vec<PlannedSeries>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_days: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct PlannedSeries {
    pub provider: &'static str,
    pub asset_pair: String,
    pub timeframe: &'static str,
    pub source_timeframe: &'static str,
    pub ranges: Vec<PlannedRange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PlannedRange {
    pub from: String,
    pub to: String,
    pub direction: &'static str,
    pub requests: usize,
}

/// What a backfill of `requests` would fetch; makes no request.
pub async fn dry_run(
    runner: &Runner,
    planned: &Planned,
    patterns: Vec<Resolved>,
    daily_limit: u64,
) -> DryRun {
    let mut series: Vec<PlannedSeries> = planned
        .failed
        .iter()
        .map(|f| PlannedSeries {
            provider: f.series.provider.as_str(),
            asset_pair: f.series.pair.clone(),
            timeframe: f.series.timeframe.as_str(),
            source_timeframe: f.series.timeframe.as_str(),
            ranges: Vec::new(),
            error: f.error.clone(),
        })
        .collect();
    for r in &planned.requests {
        let SeriesKey {
            provider,
            pair,
            timeframe,
        } = &r.series;
        let mut planned = PlannedSeries {
            provider: provider.as_str(),
            asset_pair: pair.clone(),
            timeframe: timeframe.as_str(),
            source_timeframe: r.source.as_str(),
            ranges: Vec::new(),
            error: None,
        };
        match runner.held(&r.series).await {
            Err(e) => planned.error = Some(e.to_string()),
            Ok(held) => {
                for (range, direction) in runner.plan(r, &held) {
                    planned.ranges.push(PlannedRange {
                        from: rfc3339(range.start),
                        to: rfc3339(range.end),
                        direction: direction.as_str(),
                        requests: runner.windows(r, range, direction).len(),
                    });
                }
            }
        }
        series.push(planned);
    }
    let total: usize = series
        .iter()
        .flat_map(|s| &s.ranges)
        .map(|r| r.requests)
        .sum();
    let quota = runner.source().id().has_daily_quota() && daily_limit > 0;
    DryRun {
        dry_run: true,
        shard: None,
        patterns,
        requests: total,
        series,
        quota_days: quota.then(|| (total as u64).div_ceil(daily_limit)),
    }
}
