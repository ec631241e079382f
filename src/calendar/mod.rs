//! Market calendars: when each asset class trades, as UTC intervals, and so which candle
//! buckets a table should hold. Owns the crypto (24/7), FX (Sunday 17:00 to Friday 17:00 New
//! York) and NYSE (extended-hours sessions) calendars and the bundled NYSE holiday and
//! early-close table for 2000–2030. Pure: no I/O, no tables; classifying a series into a
//! [`Calendar`] is the caller's job.
//!
//! The rule the `gaps` command relies on: a bucket `[t, t + tf)` is expected when it overlaps
//! an open session, with one exception for US-equity daily candles ([`expected_bucket_ranges`]).

pub mod fx;
pub mod holidays;
mod ny;
pub mod nyse;

#[cfg(test)]
mod tests;

use std::fmt;
#[cfg(test)]
use std::str::FromStr;

use chrono::{DateTime, Days, Utc};

use crate::providers::{Hours, Timeframe};

pub use nyse::{Session, is_early_close, is_trading_day, session};

/// A half-open UTC interval `[start, end)`.
pub type Interval = (DateTime<Utc>, DateTime<Utc>);

/// The trading calendar an asset follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Calendar {
    /// Always open.
    Crypto,
    /// Sunday 17:00 to Friday 17:00 New York time, closed on 25 December and 1 January.
    Fx,
    /// The same FX sessions with daily bars on UTC weekdays only, as Alpha Vantage's FX_DAILY
    /// serves them: Sunday evening's trading has no bar of its own.
    FxWeekdays,
    /// NYSE trading days, 04:00–20:00 New York time (17:00 on early-close days).
    UsEquity,
}

impl Calendar {
    /// The calendar of bars that follow a provider's trading `hours`.
    pub fn of(hours: Hours) -> Self {
        match hours {
            Hours::AlwaysOpen => Calendar::Crypto,
            Hours::FxWeek => Calendar::Fx,
            Hours::FxWeekdays => Calendar::FxWeekdays,
            Hours::UsEquity => Calendar::UsEquity,
        }
    }

    #[cfg(test)]
    pub const ALL: [Calendar; 4] = [
        Calendar::Crypto,
        Calendar::Fx,
        Calendar::FxWeekdays,
        Calendar::UsEquity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Calendar::Crypto => "crypto",
            Calendar::Fx => "fx",
            Calendar::FxWeekdays => "fx_weekdays",
            Calendar::UsEquity => "us_equity",
        }
    }
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
impl FromStr for Calendar {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Calendar::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!("unknown calendar '{s}'; use one of crypto fx fx_weekdays us_equity")
            })
    }
}

/// The UTC intervals within `[start, end)` when `calendar`'s market is open: sorted, disjoint,
/// never touching (adjacent intervals are merged), clipped to `[start, end)`. Empty when
/// `start >= end`.
pub fn open_ranges(calendar: Calendar, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Interval> {
    match calendar {
        Calendar::Crypto if start < end => vec![(start, end)],
        Calendar::Crypto => Vec::new(),
        Calendar::Fx | Calendar::FxWeekdays => fx::open_ranges(start, end),
        Calendar::UsEquity => nyse::open_ranges(start, end),
    }
}

/// The expected buckets of `tf` whose open time lies in `[start, end)`, as sorted, disjoint,
/// non-touching ranges of open times: a range `(a, b)` stands for the buckets opening at `a`,
/// `a + tf`, … up to but not including `b` (both aligned to `tf`).
///
/// A bucket `[t, t + tf)` is expected when it overlaps an open session of `calendar`. The
/// exceptions are daily buckets labelled by date:
/// - [`Timeframe::D1`] on [`Calendar::UsEquity`]: daily equity candles are stamped at 00:00Z of
///   their New York trading date (not a UTC day of trading), so the bucket of a date is
///   expected exactly when that date is a trading day. The overlap rule would also expect the
///   UTC day after every winter trading day, whose first hour (00:00–01:00Z) is after-hours
///   trading of the day before, and so report a gap every such Saturday.
/// - [`Timeframe::D1`] on [`Calendar::FxWeekdays`]: a bucket per UTC weekday that is not an FX
///   holiday; the overlap rule would expect a Sunday bucket for Sunday evening's trading.
pub fn expected_bucket_ranges(
    calendar: Calendar,
    tf: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<Interval> {
    let (lo, hi) = (tf.ceil(start), tf.ceil(end));
    if lo >= hi {
        return Vec::new();
    }
    if by_trading_date(calendar, tf) {
        let last = hi.date_naive();
        let days = lo
            .date_naive()
            .iter_days()
            .take_while(|d| *d < last)
            .filter(|d| trades_on(calendar, *d))
            .map(|d| {
                let open = d.and_time(chrono::NaiveTime::MIN).and_utc();
                (open, open + Days::new(1))
            });
        return merge(days);
    }
    bucket_ranges(&open_ranges(calendar, lo, hi), tf, lo, hi)
}

/// The open times of the expected buckets of `tf` in `[start, end)`, oldest first (see
/// [`expected_bucket_ranges`]). Lazy within each range, so 1m over years stays cheap to hold.
pub fn expected_buckets(
    calendar: Calendar,
    tf: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> impl Iterator<Item = DateTime<Utc>> {
    let step = tf.duration();
    expected_bucket_ranges(calendar, tf, start, end)
        .into_iter()
        .flat_map(move |(a, b)| {
            std::iter::successors(Some(a), move |t| Some(*t + step)).take_while(move |t| *t < b)
        })
}

#[cfg(test)]
/// How many buckets of `tf` in `[start, end)` are expected (see [`expected_bucket_ranges`]).
pub fn expected_bucket_count(
    calendar: Calendar,
    tf: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> u64 {
    expected_bucket_ranges(calendar, tf, start, end)
        .iter()
        .map(|(a, b)| ((*b - *a).num_seconds() / tf.seconds()) as u64)
        .sum()
}

#[cfg(test)]
/// Whether the bucket of `tf` holding `open_time` is expected (see [`expected_bucket_ranges`]).
/// For many buckets (1m over years), ask [`expected_bucket_ranges`] once instead.
pub fn bucket_expected(calendar: Calendar, tf: Timeframe, open_time: DateTime<Utc>) -> bool {
    let t = tf.floor(open_time);
    if by_trading_date(calendar, tf) {
        return trades_on(calendar, t.date_naive());
    }
    !open_ranges(calendar, t, t + tf.duration()).is_empty()
}

/// Turns open intervals into ranges of bucket open times by the overlap rule: each interval
/// `(s, e)` expects the buckets from `tf.floor(s)` up to `tf.ceil(e)`, limited to open times
/// in `[start, end)`, then merged. `open` must be sorted and should cover
/// `[tf.ceil(start), tf.ceil(end))`, as [`open_ranges`] over that span does.
pub fn bucket_ranges(
    open: &[Interval],
    tf: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<Interval> {
    let (lo, hi) = (tf.ceil(start), tf.ceil(end));
    merge(open.iter().filter_map(|(s, e)| {
        let (a, b) = (tf.floor(*s).max(lo), tf.ceil(*e).min(hi));
        (a < b).then_some((a, b))
    }))
}

/// Whether daily buckets of `calendar` are labelled by trading date rather than by overlap.
fn by_trading_date(calendar: Calendar, tf: Timeframe) -> bool {
    matches!(calendar, Calendar::UsEquity | Calendar::FxWeekdays) && tf == Timeframe::D1
}

/// Whether a date-labelled calendar has a daily bar on `date`.
fn trades_on(calendar: Calendar, date: chrono::NaiveDate) -> bool {
    match calendar {
        Calendar::FxWeekdays => !holidays::is_weekend(date) && !fx::is_holiday(date),
        _ => is_trading_day(date),
    }
}

/// Merges sorted intervals that overlap or touch.
fn merge(sorted: impl IntoIterator<Item = Interval>) -> Vec<Interval> {
    let mut out: Vec<Interval> = Vec::new();
    for (a, b) in sorted {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}
