//! The FX market week: open from Sunday 17:00 to Friday 17:00 New York time, so the UTC edges
//! move with US daylight saving time (22:00Z in winter, 21:00Z in summer).
//!
//! Holidays: the market has no open time on the New York calendar dates 25 December and
//! 1 January, 00:00 to 24:00 New York time, whatever weekday they fall on. When such a date is
//! a weekday, the week is cut in two (closing at 00:00 and reopening at 24:00 New York time);
//! on a Sunday the week opens at 00:00 on Monday instead of 17:00 on Sunday; on a Friday it
//! closes at 00:00 Friday; on a Saturday it changes nothing. No observed-day shift applies.

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};

use super::{Interval, merge, ny};

/// Whether `date` (a New York calendar date) is an FX holiday: 25 December or 1 January.
pub fn is_holiday(date: NaiveDate) -> bool {
    matches!((date.month(), date.day()), (12, 25) | (1, 1))
}

/// The open part of the New York date `date`, in UTC, or `None` when it has none.
pub fn day_open(date: NaiveDate) -> Option<Interval> {
    if is_holiday(date) {
        return None;
    }
    let next = date.succ_opt()?;
    let midnight = ny::at(date, 0, 0);
    let next_midnight = ny::at(next, 0, 0);
    match date.weekday() {
        Weekday::Sat => None,
        Weekday::Sun => Some((ny::at(date, 17, 0), next_midnight)),
        Weekday::Fri => Some((midnight, ny::at(date, 17, 0))),
        _ => Some((midnight, next_midnight)),
    }
}

/// The UTC intervals within `[start, end)` when the FX market is open, merged and oldest first.
pub fn open_ranges(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Interval> {
    if start >= end {
        return Vec::new();
    }
    let last = ny::date_of(end);
    let days = ny::date_of(start)
        .iter_days()
        .take_while(|d| *d <= last)
        .filter_map(day_open)
        .filter_map(|(open, close)| {
            let (a, b) = (open.max(start), close.min(end));
            (a < b).then_some((a, b))
        });
    merge(days)
}
