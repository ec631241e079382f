//! `gaps`: compares what a table holds with what the asset's calendar says should exist, and
//! labels each missing range: `not_fetched` (outside coverage), `no_trades` (inside coverage,
//! the provider had nothing), `dead_lettered` (fetched but rejected, in the DLQ) or
//! `unreachable` (history the provider cannot serve).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::calendar::{self, Calendar};
use crate::error::Result;
use crate::model::SeriesKey;
use crate::model::{TimeRange, rfc3339};
use crate::ops::lake::Lake;
use crate::ops::universe::Lists;
use crate::plan::{Selection, Settings};
use crate::providers::Facts;
use crate::providers::Timeframe;
use crate::sink::DeltaSink;
use crate::state::dlq::DeadLetterQueue;
use crate::state::watermark::{Loaded, WatermarkStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    NotFetched,
    NoTrades,
    DeadLettered,
    Unreachable,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub from: String,
    pub to: String,
    pub kind: GapKind,
    pub buckets: u64,
}

#[derive(Debug, Serialize)]
pub struct SeriesGaps {
    pub provider: &'static str,
    pub asset_pair: String,
    pub timeframe: &'static str,
    pub calendar: &'static str,
    pub from: String,
    pub to: String,
    pub expected: u64,
    pub held: u64,
    pub gaps: Vec<Gap>,
}

/// The trading calendar of a series.
pub fn calendar_of(series: &SeriesKey, facts: &Facts<'_>) -> Calendar {
    Calendar::of(facts.hours(series.provider, &series.pair, series.timeframe))
}

/// What a series' gaps are judged against: the coverage its table records, the range its
/// watermark file claims (more than the table holds when the file is ahead), the history
/// the provider cannot serve, and for a delisted pair when it ended (nothing is expected
/// from then on).
pub struct Known {
    pub coverage: Option<TimeRange>,
    pub claimed: Option<TimeRange>,
    pub unreachable: Vec<TimeRange>,
    pub ended: Option<DateTime<Utc>>,
}

/// The gaps of one series over `[start, end)` (default: the coverage its table records and
/// its watermark file claims).
pub async fn series_gaps(
    sink: &DeltaSink,
    dlq: &DeadLetterQueue,
    known: &Known,
    series: &SeriesKey,
    calendar: Calendar,
    range: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> Result<SeriesGaps> {
    let tf = series.timeframe;
    let ranges = || known.coverage.iter().chain(&known.claimed);
    let (Some(start), Some(end)) = (
        range.0.or_else(|| ranges().map(|r| r.start).min()),
        range.1.or_else(|| ranges().map(|r| r.end).max()),
    ) else {
        return Err(crate::error::Error::Failed(format!(
            "{series} has no coverage in its table or watermark; give --start and --end"
        )));
    };
    let end = known.ended.map_or(end, |ended| end.min(ended).max(start));
    let covered = |t: DateTime<Utc>| known.coverage.is_some_and(|c| c.contains(t));
    let held: HashSet<DateTime<Utc>> = sink
        .rows_of(series)
        .await?
        .into_iter()
        .map(|r| r.timestamp)
        .collect();
    let rejected: HashSet<DateTime<Utc>> = dlq
        .known_records(series)
        .into_iter()
        .filter_map(|(t, _)| {
            t.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.to_utc())
        })
        .collect();
    let kind_of = |t: DateTime<Utc>| {
        if known.unreachable.iter().any(|u| u.contains(t)) {
            GapKind::Unreachable
        } else if !covered(t) {
            GapKind::NotFetched
        } else if rejected.contains(&t) {
            GapKind::DeadLettered
        } else {
            GapKind::NoTrades
        }
    };
    let mut gaps: Vec<Gap> = Vec::new();
    let mut open: Option<(DateTime<Utc>, DateTime<Utc>, GapKind, u64)> = None;
    let (mut expected, mut present) = (0, 0);
    for t in calendar::expected_buckets(calendar, tf, start, end) {
        expected += 1;
        if held.contains(&t) {
            present += 1;
            continue;
        }
        let kind = kind_of(t);
        open = match open {
            Some((from, to, k, n)) if to == t && k == kind => {
                Some((from, t + tf.duration(), k, n + 1))
            }
            other => {
                if let Some((from, to, k, n)) = other {
                    gaps.push(Gap {
                        from: rfc3339(from),
                        to: rfc3339(to),
                        kind: k,
                        buckets: n,
                    });
                }
                Some((t, t + tf.duration(), kind, 1))
            }
        };
    }
    if let Some((from, to, k, n)) = open {
        gaps.push(Gap {
            from: rfc3339(from),
            to: rfc3339(to),
            kind: k,
            buckets: n,
        });
    }
    Ok(SeriesGaps {
        provider: series.provider.as_str(),
        asset_pair: series.pair.clone(),
        timeframe: tf.as_str(),
        calendar: calendar.as_str(),
        from: rfc3339(start),
        to: rfc3339(end),
        expected,
        held: present,
        gaps,
    })
}

/// The gaps of every selected series, and the series that could not be judged.
pub struct GapsReport {
    pub series: Vec<SeriesGaps>,
    pub problems: Vec<String>,
}

/// The gaps of every series a table or a watermark file knows that `selection` accepts, over
/// `range` (default: each series' coverage). Reads each table once.
pub async fn gaps(
    settings: &Settings,
    selection: &Selection,
    (start, end): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> GapsReport {
    let facts = Facts::new(&settings.alphavantage_classes);
    let sink = DeltaSink::new(&settings.lake, settings.partition_periods.clone());
    let dlq = DeadLetterQueue::new(&settings.state_dir);
    let watermarks = WatermarkStore::new(&settings.state_dir);
    let lake = Lake::read(&sink, &watermarks, &Timeframe::ALL).await;
    let lists = Lists::cached(settings);
    let mut report = GapsReport {
        series: Vec::new(),
        problems: Vec::new(),
    };
    for series in lake.series().into_iter().filter(|k| selection.accepts(k)) {
        if let Some(e) = lake.broken(series.timeframe) {
            report.problems.push(format!("{series}: {e}"));
            continue;
        }
        let mark = match watermarks.load(&series) {
            Ok(Loaded::Valid(w)) => Some(w),
            _ => None,
        };
        // A delisted pair ends at its published delisting, else with its last candle held.
        let listing = lists.listing(series.provider, &series.pair);
        let last_end = lake
            .holding(&series)
            .last
            .map(|t| t + series.timeframe.duration());
        let known = Known {
            coverage: lake.coverage(&series),
            claimed: mark.as_ref().map(|w| w.coverage),
            unreachable: mark
                .as_ref()
                .map(|w| w.unreachable.iter().map(|u| u.range).collect())
                .unwrap_or_default(),
            ended: listing
                .delisted
                .then(|| listing.delisted_at.or(last_end))
                .flatten(),
        };
        let calendar = calendar_of(&series, &facts);
        match series_gaps(&sink, &dlq, &known, &series, calendar, (start, end)).await {
            Ok(found) => report.series.push(found),
            Err(e) => report.problems.push(format!("{series}: {e}")),
        }
    }
    report
}
