//! `gaps`: compares what a table holds with what the asset's calendar says should exist, and
//! labels each missing range: `not_fetched` (outside coverage), `no_trades` (inside coverage,
//! the provider had nothing), `dead_lettered` (fetched but rejected, in the DLQ), `removed`
//! (inside coverage, a row of a data file another writer or `maintain --repair` removed: exact
//! while the store still has the file, its time range once it is gone) or
//! `unreachable` (history the provider cannot serve). Each table and the DLQ are read once.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::calendar::{self, Calendar};
use crate::error::Result;
use crate::model::SeriesKey;
use crate::model::{TimeRange, rfc3339};
use crate::ops::lake::Lake;
use crate::ops::universe::Lists;
use crate::plan::{Selection, Settings};
use crate::providers::Timeframe;
use crate::providers::{Facts, ProviderId};
use crate::sink::{DeltaSink, Removed};
use crate::state::dlq::DeadLetterQueue;
use crate::state::watermark::{Loaded, WatermarkStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    NotFetched,
    NoTrades,
    DeadLettered,
    Removed,
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
/// the provider cannot serve, for a delisted pair when it ended (nothing is expected from
/// then on), the candles held and dead-lettered, and the files removed.
pub struct Known<'a> {
    pub coverage: Option<TimeRange>,
    pub claimed: Option<TimeRange>,
    pub unreachable: Vec<TimeRange>,
    pub ended: Option<DateTime<Utc>>,
    pub held: &'a HashSet<DateTime<Utc>>,
    pub rejected: &'a HashSet<DateTime<Utc>>,
    /// Candles of removed files the store still has.
    pub removed: &'a HashSet<DateTime<Utc>>,
    /// Removed files the store no longer has: only their time ranges are known.
    pub removed_ranges: &'a [Removed],
}

/// The gaps of one series over `[start, end)` (default: the coverage its table records and
/// its watermark file claims).
pub fn series_gaps(
    known: &Known<'_>,
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
    let kind_of = |t: DateTime<Utc>| {
        if known.unreachable.iter().any(|u| u.contains(t)) {
            GapKind::Unreachable
        } else if !covered(t) {
            GapKind::NotFetched
        } else if known.rejected.contains(&t) {
            GapKind::DeadLettered
        } else if known.removed.contains(&t)
            || known
                .removed_ranges
                .iter()
                .any(|r| r.held(series.provider, &series.pair, t))
        {
            GapKind::Removed
        } else {
            GapKind::NoTrades
        }
    };
    let mut gaps: Vec<Gap> = Vec::new();
    let mut open: Option<(DateTime<Utc>, DateTime<Utc>, GapKind, u64)> = None;
    let (mut expected, mut present) = (0, 0);
    for t in calendar::expected_buckets(calendar, tf, start, end) {
        expected += 1;
        if known.held.contains(&t) {
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
/// `range` (default: each series' coverage). Reads each table, its log and the DLQ once.
pub async fn gaps(
    settings: &Settings,
    selection: &Selection,
    (start, end): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> GapsReport {
    let facts = Facts::new(&settings.alphavantage_classes);
    let sink = DeltaSink::new(&settings.lake, settings.partition_periods.clone());
    let watermarks = WatermarkStore::new(&settings.state_dir);
    let lake = Lake::read(&sink, &watermarks, &Timeframe::ALL).await;
    let rejects = dead_lettered(&DeadLetterQueue::new(&settings.state_dir));
    let lists = Lists::cached(settings);
    let mut report = GapsReport {
        series: Vec::new(),
        problems: Vec::new(),
    };
    let selected: Vec<SeriesKey> = lake
        .series()
        .into_iter()
        .filter(|k| selection.accepts(k))
        .collect();
    let mut tables: BTreeMap<Timeframe, Result<TableRead, String>> = BTreeMap::new();
    for series in &selected {
        let tf = series.timeframe;
        if let Some(e) = lake.broken(tf) {
            report.problems.push(format!("{series}: {e}"));
            continue;
        }
        if let Entry::Vacant(slot) = tables.entry(tf) {
            let pairs: HashSet<&str> = selected
                .iter()
                .filter(|k| k.timeframe == tf)
                .map(|k| k.pair.as_str())
                .collect();
            slot.insert(TableRead::read(&sink, tf, &pairs).await);
        }
        let table = match &tables[&tf] {
            Ok(t) => t,
            Err(e) => {
                report.problems.push(format!("{series}: {e}"));
                continue;
            }
        };
        let mark = match watermarks.load(series) {
            Ok(Loaded::Valid(w)) => Some(w),
            _ => None,
        };
        let none = HashSet::new();
        // A delisted pair ends at its published delisting, else with its last candle held.
        let listing = lists.listing(series.provider, &series.pair);
        let last_end = lake
            .holding(series)
            .last
            .map(|t| t + series.timeframe.duration());
        let known = Known {
            coverage: lake.coverage(series),
            claimed: mark.as_ref().map(|w| w.coverage),
            unreachable: mark
                .as_ref()
                .map(|w| w.unreachable.iter().map(|u| u.range).collect())
                .unwrap_or_default(),
            ended: listing
                .delisted
                .then(|| listing.delisted_at.or(last_end))
                .flatten(),
            held: table.held.get(series).unwrap_or(&none),
            rejected: rejects.get(series).unwrap_or(&none),
            removed: table.removed.get(series).unwrap_or(&none),
            removed_ranges: &table.removed_ranges,
        };
        let calendar = calendar_of(series, &facts);
        match series_gaps(&known, series, calendar, (start, end)) {
            Ok(found) => report.series.push(found),
            Err(e) => report.problems.push(format!("{series}: {e}")),
        }
    }
    report
}

/// What `gaps` reads of one table: the open times held and removed per series, and the time
/// ranges of removed files the store no longer has.
struct TableRead {
    held: HashMap<SeriesKey, HashSet<DateTime<Utc>>>,
    removed: HashMap<SeriesKey, HashSet<DateTime<Utc>>>,
    removed_ranges: Vec<Removed>,
}

impl TableRead {
    async fn read(sink: &DeltaSink, tf: Timeframe, pairs: &HashSet<&str>) -> Result<Self, String> {
        let held = sink
            .held_times(tf, |p| pairs.contains(p))
            .await
            .map_err(|e| e.to_string())?;
        let mut read = TableRead {
            held,
            removed: HashMap::new(),
            removed_ranges: Vec::new(),
        };
        let files = sink.removed(tf).await.map_err(|e| e.to_string())?;
        for file in files
            .into_iter()
            .filter(|f| pairs.contains(f.pair.as_str()))
        {
            let Some(rows) = sink
                .file_times(tf, &file.path)
                .await
                .map_err(|e| e.to_string())?
            else {
                read.removed_ranges.push(file);
                continue;
            };
            for (provider, t) in rows {
                let Some(provider) = ProviderId::parse(&provider) else {
                    continue;
                };
                let key = SeriesKey {
                    provider,
                    pair: file.pair.clone(),
                    timeframe: tf,
                };
                read.removed.entry(key).or_default().insert(t);
            }
        }
        Ok(read)
    }
}

/// The open times of every dead-lettered candle, per series, from one read of the DLQ. An
/// unreadable DLQ file is logged (`dlq list` and `status` name it too).
fn dead_lettered(dlq: &DeadLetterQueue) -> HashMap<SeriesKey, HashSet<DateTime<Utc>>> {
    let listing = match dlq.list() {
        Ok(listing) => listing,
        Err(e) => {
            tracing::warn!(dir = %dlq.dir(), "Could not read the DLQ directory: {e}.");
            return HashMap::new();
        }
    };
    for u in &listing.unreadable {
        tracing::warn!("{u}.");
    }
    let mut out: HashMap<SeriesKey, HashSet<DateTime<Utc>>> = HashMap::new();
    for (_, file) in &listing.files {
        let Some(series) = file.context.series() else {
            continue;
        };
        let times = file.records.iter().filter_map(|r| {
            let t = r.timestamp.as_deref()?;
            DateTime::parse_from_rfc3339(t).ok().map(|t| t.to_utc())
        });
        out.entry(series).or_default().extend(times);
    }
    out
}
