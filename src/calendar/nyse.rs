//! NYSE trading days and their sessions with extended hours, in UTC.
//!
//! A trading day is a weekday that is not a holiday ([`super::holidays`]). Its session runs
//! 04:00–20:00 New York time: pre-market 04:00–09:30, regular 09:30–16:00, after-hours
//! 16:00–20:00. On an early-close day the regular session ends at 13:00 and after-hours at
//! 17:00. Ad-hoc late opens and intraday halts are not modelled.

use chrono::{DateTime, NaiveDate, Utc};

use super::holidays;
use super::{Interval, ny};

/// One trading day's session, each part a half-open UTC interval `[open, close)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The New York trading date.
    pub date: NaiveDate,
    /// Whether the regular session ends at 13:00 (and after-hours at 17:00).
    pub early_close: bool,
    /// 04:00–09:30 New York.
    pub pre_market: Interval,
    /// 09:30–16:00 New York, or 09:30–13:00 on an early-close day.
    pub regular: Interval,
    /// 16:00–20:00 New York, or 13:00–17:00 on an early-close day.
    pub after_hours: Interval,
}

impl Session {
    /// The whole day with extended hours: pre-market open to after-hours close.
    pub fn extended(&self) -> Interval {
        (self.pre_market.0, self.after_hours.1)
    }
}

/// Whether the NYSE trades on the New York date `date`: a weekday that is not a holiday.
pub fn is_trading_day(date: NaiveDate) -> bool {
    !holidays::is_weekend(date) && holidays::holiday(date).is_none()
}

/// Whether `date` is a trading day whose regular session ends at 13:00.
pub fn is_early_close(date: NaiveDate) -> bool {
    is_trading_day(date) && holidays::early_close(date).is_some()
}

/// The session of `date`, or `None` when it is not a trading day.
pub fn session(date: NaiveDate) -> Option<Session> {
    if !is_trading_day(date) {
        return None;
    }
    let early_close = holidays::early_close(date).is_some();
    let (bell, end) = if early_close { (13, 17) } else { (16, 20) };
    let open = ny::at(date, 4, 0);
    let regular_open = ny::at(date, 9, 30);
    let regular_close = ny::at(date, bell, 0);
    Some(Session {
        date,
        early_close,
        pre_market: (open, regular_open),
        regular: (regular_open, regular_close),
        after_hours: (regular_close, ny::at(date, end, 0)),
    })
}

/// The trading dates from `first` to `last`, both included.
pub fn trading_days(first: NaiveDate, last: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    first
        .iter_days()
        .take_while(move |d| *d <= last)
        .filter(|d| is_trading_day(*d))
}

/// The extended-hours sessions overlapping `[start, end)`, clipped to it, oldest first.
pub fn open_ranges(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Interval> {
    if start >= end {
        return Vec::new();
    }
    // A session lies within its New York date, so the dates of `start` and `end` bound them.
    trading_days(ny::date_of(start), ny::date_of(end))
        .filter_map(session)
        .map(|s| s.extended())
        .filter_map(|(open, close)| {
            let (a, b) = (open.max(start), close.min(end));
            (a < b).then_some((a, b))
        })
        .collect()
}
