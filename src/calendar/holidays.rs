//! The NYSE holiday and early-close table: rule-based holidays computed per year, plus the
//! explicit list of special (one-off) closures and ad-hoc early closes, checked for 2000–2030.

use std::ops::RangeInclusive;

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// The years whose table is complete: the rules and every special closure and ad-hoc early
/// close known for them. Outside these years the rules still apply (MLK Day from 1998,
/// Juneteenth from 2022), but one-off closures (a state funeral, a storm) are unknown.
pub const COVERED_YEARS: RangeInclusive<i32> = 2000..=2030;

/// One-off full-day closures in the covered years, oldest first.
const SPECIAL_CLOSURES: [((i32, u32, u32), &str); 10] = [
    ((2001, 9, 11), "September 11 attacks"),
    ((2001, 9, 12), "September 11 attacks"),
    ((2001, 9, 13), "September 11 attacks"),
    ((2001, 9, 14), "September 11 attacks"),
    ((2004, 6, 11), "National day of mourning for Ronald Reagan"),
    ((2007, 1, 2), "National day of mourning for Gerald Ford"),
    ((2012, 10, 29), "Hurricane Sandy"),
    ((2012, 10, 30), "Hurricane Sandy"),
    (
        (2018, 12, 5),
        "National day of mourning for George H. W. Bush",
    ),
    ((2025, 1, 9), "National day of mourning for Jimmy Carter"),
];

/// One-off 13:00 early closes in the covered years that no rule gives.
const ADHOC_EARLY_CLOSES: [((i32, u32, u32), &str); 1] =
    [((2003, 12, 26), "Day after Christmas (ad hoc)")];

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid calendar date")
}

fn listed(table: &[((i32, u32, u32), &'static str)], date: NaiveDate) -> Option<&'static str> {
    table
        .iter()
        .find(|((y, m, d), _)| ymd(*y, *m, *d) == date)
        .map(|(_, name)| *name)
}

/// Whether `date` falls on a Saturday or Sunday.
pub fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Easter Sunday of `year` (Gregorian), by the anonymous Gregorian algorithm
/// (Meeus/Jones/Butcher).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(year, month as u32, day as u32)
}

/// The `n`th (1-based) `weekday` of `month`.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n).expect("weekday exists")
}

/// The last `weekday` of `month`.
fn last_weekday(year: i32, month: u32, weekday: Weekday) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, 5)
        .unwrap_or_else(|| nth_weekday(year, month, weekday, 4))
}

/// The weekday a fixed-date holiday is observed on: Saturday → the Friday before, Sunday → the
/// Monday after.
fn observed(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date - Days::new(1),
        Weekday::Sun => date + Days::new(1),
        _ => date,
    }
}

/// The full-day closures that the NYSE rules give for `year`, each with its name. Observed
/// dates fall on weekdays; a New Year's Day on a Saturday is not observed at all (the Friday
/// before, 31 December, is the last trading day of the year and stays open).
pub fn rule_holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let mut out = Vec::with_capacity(10);
    let new_year = ymd(year, 1, 1);
    if new_year.weekday() != Weekday::Sat {
        out.push((observed(new_year), "New Year's Day"));
    }
    if year >= 1998 {
        out.push((
            nth_weekday(year, 1, Weekday::Mon, 3),
            "Martin Luther King Jr. Day",
        ));
    }
    out.push((
        nth_weekday(year, 2, Weekday::Mon, 3),
        "Washington's Birthday",
    ));
    out.push((easter_sunday(year) - Days::new(2), "Good Friday"));
    out.push((last_weekday(year, 5, Weekday::Mon), "Memorial Day"));
    if year >= 2022 {
        out.push((observed(ymd(year, 6, 19)), "Juneteenth"));
    }
    out.push((observed(ymd(year, 7, 4)), "Independence Day"));
    out.push((nth_weekday(year, 9, Weekday::Mon, 1), "Labor Day"));
    out.push((nth_weekday(year, 11, Weekday::Thu, 4), "Thanksgiving Day"));
    out.push((observed(ymd(year, 12, 25)), "Christmas Day"));
    out
}

/// Why the NYSE is closed all day on the weekday `date`, or `None` when it is not a holiday
/// (weekends are not holidays: they are simply closed).
pub fn holiday(date: NaiveDate) -> Option<&'static str> {
    if is_weekend(date) {
        return None;
    }
    listed(&SPECIAL_CLOSURES, date).or_else(|| {
        rule_holidays(date.year())
            .into_iter()
            .find(|(d, _)| *d == date)
            .map(|(_, name)| name)
    })
}

/// Why the regular session of `date` ends at 13:00, or `None`. Says nothing about whether
/// `date` is a trading day: [`super::nyse::is_early_close`] checks both.
///
/// - The day before Independence Day (3 July) when a weekday: Monday, Tuesday or Thursday;
///   Wednesday only from 2013. Before 2013, when 4 July was a Thursday, the NYSE closed early
///   on Friday 5 July instead (and traded a full day on Wednesday 3 July).
/// - The day after Thanksgiving.
/// - Christmas Eve, Monday to Thursday (on a Friday it is the observed Christmas holiday).
/// - Ad hoc: 26 December 2003.
pub fn early_close(date: NaiveDate) -> Option<&'static str> {
    let (year, month, day, weekday) = (date.year(), date.month(), date.day(), date.weekday());
    let independence_eve = month == 7
        && day == 3
        && match weekday {
            Weekday::Mon | Weekday::Tue | Weekday::Thu => true,
            Weekday::Wed => year >= 2013,
            _ => false,
        };
    if independence_eve {
        return Some("Day before Independence Day");
    }
    if month == 7 && day == 5 && weekday == Weekday::Fri && (1996..=2012).contains(&year) {
        return Some("Day after Independence Day");
    }
    if date == nth_weekday(year, 11, Weekday::Thu, 4) + Days::new(1) {
        return Some("Day after Thanksgiving");
    }
    if month == 12 && day == 24 && !matches!(weekday, Weekday::Fri | Weekday::Sat | Weekday::Sun) {
        return Some("Christmas Eve");
    }
    listed(&ADHOC_EARLY_CLOSES, date)
}
