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
use crate::model::rfc3339;
use crate::providers::Facts;
use crate::sink::DeltaSink;
use crate::state::dlq::DeadLetterQueue;
use crate::state::watermark::Watermark;

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

/// The gaps of one series over `[start, end)` (default: its coverage).
pub async fn series_gaps(
    sink: &DeltaSink,
    dlq: &DeadLetterQueue,
    mark: &Watermark,
    series: &SeriesKey,
    calendar: Calendar,
    range: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> Result<SeriesGaps> {
    let tf = series.timeframe;
    let start = range.0.unwrap_or(mark.coverage.start);
    let end = range.1.unwrap_or(mark.coverage.end);
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
        if mark.unreachable.iter().any(|u| u.contains(t)) {
            GapKind::Unreachable
        } else if !(mark.coverage.start <= t && t < mark.coverage.end) {
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
