use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::holidays::{self, easter_sunday};
use super::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn open_at(calendar: Calendar, at: &str) -> bool {
    let at = t(at);
    !open_ranges(calendar, at, at + TimeDelta::seconds(1)).is_empty()
}

#[test]
fn calendar_names_round_trip() {
    for c in Calendar::ALL {
        assert_eq!(c.as_str().parse::<Calendar>().unwrap(), c);
        assert_eq!(c.to_string(), c.as_str());
    }
    assert_eq!("us_equity".parse::<Calendar>(), Ok(Calendar::UsEquity));
    assert!("equity".parse::<Calendar>().is_err());
    assert!("FX".parse::<Calendar>().is_err());
}

#[test]
fn easter_gives_good_friday() {
    let cases = [
        // (case, year, Easter Sunday)
        (1, 2000, "2000-04-23"),
        (2, 2008, "2008-03-23"),
        (3, 2011, "2011-04-24"),
        (4, 2019, "2019-04-21"),
        (5, 2021, "2021-04-04"),
        (6, 2024, "2024-03-31"),
        (7, 2025, "2025-04-20"),
        (8, 2030, "2030-04-21"),
    ];
    for (case, year, easter) in cases {
        assert_eq!(easter_sunday(year), d(easter), "case {case}");
        let good_friday = d(easter) - chrono::Days::new(2);
        assert_eq!(
            holidays::holiday(good_friday),
            Some("Good Friday"),
            "case {case}"
        );
    }
}

#[test]
fn nyse_trading_days_and_holidays() {
    let cases = [
        // (case, date, trading day)
        // 2024: every holiday of the year.
        (1, "2024-01-01", false),
        (2, "2024-01-15", false),
        (3, "2024-02-19", false),
        (4, "2024-03-29", false),
        (5, "2024-05-27", false),
        (6, "2024-06-19", false),
        (7, "2024-07-04", false),
        (8, "2024-09-02", false),
        (9, "2024-11-28", false),
        (10, "2024-12-25", false),
        // ... and ordinary days around them.
        (11, "2024-01-02", true),
        (12, "2024-03-28", true),
        (13, "2024-07-05", true),
        (14, "2024-11-29", true),
        (15, "2024-03-09", false), // Saturday
        (16, "2024-03-10", false), // Sunday
        // Juneteenth from 2022, observed: Sunday → Monday, Saturday → Friday.
        (17, "2021-06-18", true),
        (18, "2022-06-20", false),
        (19, "2027-06-18", false),
        (20, "2026-06-19", false),
        // Christmas 2021 on a Saturday → Friday 24 closed; New Year 2022 on a Saturday is not
        // observed on Friday 31 December.
        (21, "2021-12-24", false),
        (22, "2021-12-31", true),
        (23, "2010-12-31", true),
        (24, "2023-01-02", false), // New Year on Sunday → Monday
        (25, "2022-12-26", false), // Christmas on Sunday → Monday
        (26, "2022-12-23", true),
        (27, "2020-07-03", false), // Independence Day on Saturday → Friday
        (28, "2021-07-05", false), // Independence Day on Sunday → Monday
        // Special closures.
        (29, "2001-09-11", false),
        (30, "2001-09-14", false),
        (31, "2001-09-17", true),
        (32, "2004-06-11", false),
        (33, "2007-01-02", false),
        (34, "2012-10-29", false),
        (35, "2012-10-30", false),
        (36, "2012-10-31", true),
        (37, "2018-12-05", false),
        (38, "2025-01-09", false),
        // MLK Day is a closure every year of the table.
        (39, "2000-01-17", false),
        (40, "2030-01-21", false),
    ];
    for (case, date, trading) in cases {
        assert_eq!(is_trading_day(d(date)), trading, "case {case}: {date}");
        assert_eq!(session(d(date)).is_some(), trading, "case {case}: {date}");
    }
}

#[test]
fn nyse_early_closes() {
    let cases = [
        // (case, date, early close)
        (1, "2024-07-03", true), // Wednesday before a Thursday 4 July, since 2013
        (2, "2024-11-29", true), // day after Thanksgiving
        (3, "2024-12-24", true), // Christmas Eve, Tuesday
        (4, "2019-07-03", true), // Wednesday, since 2013
        (5, "2013-07-03", true), // the first such Wednesday
        (6, "2002-07-03", false), // Wednesday before 2013: a full day ...
        (7, "2002-07-05", true), // ... and the Friday after closed early instead
        (8, "2013-07-05", false), // since 2013 that Friday is a full day
        (9, "2023-07-03", true), // Monday
        (10, "2018-07-03", true), // Tuesday
        (11, "2025-07-03", true), // Thursday
        (12, "2020-07-02", false), // 4 July on Saturday: Friday 3 closed, Thursday full day
        (13, "2020-07-03", false), // closed, so not an early close
        (14, "2021-12-23", false), // Christmas observed Friday 24: Thursday full day
        (15, "2021-12-24", false), // closed
        (16, "2003-12-26", true), // ad hoc
        (17, "2000-11-24", true),
        (18, "2024-12-31", false),
        (19, "2024-12-23", false),
        (20, "2025-12-24", true),
        (21, "2000-07-03", true), // Monday
    ];
    for (case, date, early) in cases {
        assert_eq!(is_early_close(d(date)), early, "case {case}: {date}");
        if let Some(s) = session(d(date)) {
            assert_eq!(s.early_close, early, "case {case}: {date}");
        }
    }
}

#[test]
fn nyse_trading_days_per_year() {
    let cases = [
        // (case, year, trading days)
        (1, 2001, 248),
        (2, 2012, 250),
        (3, 2019, 252),
        (4, 2020, 253),
        (5, 2021, 252),
        (6, 2022, 251),
        (7, 2023, 250),
        (8, 2024, 252),
    ];
    for (case, year, days) in cases {
        let n =
            nyse::trading_days(d(&format!("{year}-01-01")), d(&format!("{year}-12-31"))).count();
        assert_eq!(n, days, "case {case}: {year}");
    }
}

#[test]
fn nyse_sessions_in_utc_follow_dst() {
    let cases = [
        // (case, date, pre-market open, regular open, regular close, after-hours close)
        // Friday before DST starts (EST, UTC-5).
        (
            1,
            "2024-03-08",
            "2024-03-08T09:00:00Z",
            "2024-03-08T14:30:00Z",
            "2024-03-08T21:00:00Z",
            "2024-03-09T01:00:00Z",
        ),
        // Monday after DST starts (EDT, UTC-4).
        (
            2,
            "2024-03-11",
            "2024-03-11T08:00:00Z",
            "2024-03-11T13:30:00Z",
            "2024-03-11T20:00:00Z",
            "2024-03-12T00:00:00Z",
        ),
        // Friday before DST ends (EDT) and Monday after (EST).
        (
            3,
            "2024-11-01",
            "2024-11-01T08:00:00Z",
            "2024-11-01T13:30:00Z",
            "2024-11-01T20:00:00Z",
            "2024-11-02T00:00:00Z",
        ),
        (
            4,
            "2024-11-04",
            "2024-11-04T09:00:00Z",
            "2024-11-04T14:30:00Z",
            "2024-11-04T21:00:00Z",
            "2024-11-05T01:00:00Z",
        ),
        // Early closes: regular to 13:00, after-hours to 17:00.
        (
            5,
            "2024-11-29",
            "2024-11-29T09:00:00Z",
            "2024-11-29T14:30:00Z",
            "2024-11-29T18:00:00Z",
            "2024-11-29T22:00:00Z",
        ),
        (
            6,
            "2024-07-03",
            "2024-07-03T08:00:00Z",
            "2024-07-03T13:30:00Z",
            "2024-07-03T17:00:00Z",
            "2024-07-03T21:00:00Z",
        ),
        // 2006 rules (DST from the first Sunday of April): 2006-03-13 is still EST.
        (
            7,
            "2006-03-13",
            "2006-03-13T09:00:00Z",
            "2006-03-13T14:30:00Z",
            "2006-03-13T21:00:00Z",
            "2006-03-14T01:00:00Z",
        ),
    ];
    for (case, date, pre, open, close, end) in cases {
        let s = session(d(date)).unwrap_or_else(|| panic!("case {case}: no session"));
        assert_eq!(s.pre_market, (t(pre), t(open)), "case {case}");
        assert_eq!(s.regular, (t(open), t(close)), "case {case}");
        assert_eq!(s.after_hours, (t(close), t(end)), "case {case}");
        assert_eq!(s.extended(), (t(pre), t(end)), "case {case}");
    }
}

#[test]
fn fx_open_and_closed_instants() {
    let cases = [
        // (case, instant, open)
        // Sunday open: 17:00 New York = 22:00Z in winter, 21:00Z in summer.
        (1, "2024-01-07T21:59:59Z", false),
        (2, "2024-01-07T22:00:00Z", true),
        (3, "2024-07-07T20:59:59Z", false),
        (4, "2024-07-07T21:00:00Z", true),
        // Friday close: 22:00Z in winter, 21:00Z in summer.
        (5, "2024-01-12T21:59:59Z", true),
        (6, "2024-01-12T22:00:00Z", false),
        (7, "2024-07-12T20:59:59Z", true),
        (8, "2024-07-12T21:00:00Z", false),
        (9, "2024-07-13T12:00:00Z", false), // Saturday
        // The Sundays DST starts and ends on: the open moves the same day.
        (10, "2024-03-10T21:00:00Z", true),
        (11, "2024-03-10T20:59:59Z", false),
        (12, "2024-11-03T21:59:59Z", false),
        (13, "2024-11-03T22:00:00Z", true),
        // Christmas 2024 (Wednesday): closed for the New York date, 05:00Z to 05:00Z.
        (14, "2024-12-25T04:59:59Z", true),
        (15, "2024-12-25T05:00:00Z", false),
        (16, "2024-12-25T12:00:00Z", false),
        (17, "2024-12-26T04:59:59Z", false),
        (18, "2024-12-26T05:00:00Z", true),
        // New Year 2025 (Wednesday).
        (19, "2024-12-31T12:00:00Z", true),
        (20, "2025-01-01T12:00:00Z", false),
        (21, "2025-01-02T04:59:59Z", false),
        (22, "2025-01-02T05:00:00Z", true),
        // New Year 2023 on a Sunday: no Sunday open; reopens Monday 00:00 New York.
        (23, "2023-01-01T22:00:00Z", false),
        (24, "2023-01-02T05:00:00Z", true),
        // Crypto never closes.
        (25, "2024-12-25T12:00:00Z", true),
    ];
    for (case, at, open) in cases {
        let calendar = if case == 25 {
            Calendar::Crypto
        } else {
            Calendar::Fx
        };
        assert_eq!(open_at(calendar, at), open, "case {case}: {at}");
    }
}

#[test]
fn open_ranges_are_merged_and_clipped() {
    type Case = (
        u32,
        Calendar,
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
    );
    let cases: [Case; 6] = [
        // (case, calendar, start, end, ranges)
        (
            1,
            Calendar::Fx,
            "2024-01-06T00:00:00Z",
            "2024-01-14T00:00:00Z",
            &[("2024-01-07T22:00:00Z", "2024-01-12T22:00:00Z")],
        ),
        (
            2,
            Calendar::Fx,
            "2024-12-21T00:00:00Z",
            "2024-12-29T00:00:00Z",
            &[
                ("2024-12-22T22:00:00Z", "2024-12-25T05:00:00Z"),
                ("2024-12-26T05:00:00Z", "2024-12-27T22:00:00Z"),
            ],
        ),
        (
            3,
            Calendar::Fx,
            "2024-01-10T10:00:00Z",
            "2024-01-10T11:00:00Z",
            &[("2024-01-10T10:00:00Z", "2024-01-10T11:00:00Z")],
        ),
        (
            4,
            Calendar::UsEquity,
            "2024-03-08T12:00:00Z",
            "2024-03-11T12:00:00Z",
            &[
                ("2024-03-08T12:00:00Z", "2024-03-09T01:00:00Z"),
                ("2024-03-11T08:00:00Z", "2024-03-11T12:00:00Z"),
            ],
        ),
        (
            5,
            Calendar::Crypto,
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00Z",
            &[],
        ),
        (
            6,
            Calendar::UsEquity,
            "2024-03-29T00:00:00Z",
            "2024-03-31T00:00:00Z",
            &[],
        ),
    ];
    for (case, calendar, start, end, want) in cases {
        let want: Vec<Interval> = want.iter().map(|(a, b)| (t(a), t(b))).collect();
        assert_eq!(open_ranges(calendar, t(start), t(end)), want, "case {case}");
    }
}

#[test]
fn a_bucket_is_expected_when_it_overlaps_a_session() {
    use Calendar::{Crypto, Fx, UsEquity};
    use Timeframe::{D1, H1, H4, M1};
    let cases = [
        // (case, calendar, timeframe, open time, expected)
        // A 4h bucket 20:00Z–24:00Z holding the Friday close is expected; the next is not.
        (1, Fx, H4, "2024-01-12T20:00:00Z", true),
        (2, Fx, H4, "2024-01-13T00:00:00Z", false),
        (3, Fx, H4, "2024-07-12T20:00:00Z", true),
        (4, Fx, H1, "2024-07-12T20:00:00Z", true),
        (5, Fx, H1, "2024-07-12T21:00:00Z", false),
        // The Sunday open at 22:00Z (winter) is inside the 20:00Z bucket.
        (6, Fx, H4, "2024-01-07T20:00:00Z", true),
        (7, Fx, H1, "2024-01-07T21:00:00Z", false),
        (8, Fx, D1, "2024-01-07T00:00:00Z", true),
        (9, Fx, D1, "2024-01-06T00:00:00Z", false),
        (10, Fx, D1, "2024-12-25T00:00:00Z", true), // holds 00:00–05:00Z of 24 December
        (11, Fx, H1, "2024-12-25T12:00:00Z", false),
        (12, Crypto, M1, "2024-12-25T12:00:00Z", true),
        // Equities: sessions from 04:00 New York, after-hours into the next UTC day in winter.
        (13, UsEquity, M1, "2024-03-08T08:59:00Z", false),
        (14, UsEquity, M1, "2024-03-08T09:00:00Z", true),
        (15, UsEquity, M1, "2024-03-09T00:59:00Z", true),
        (16, UsEquity, M1, "2024-03-09T01:00:00Z", false),
        (17, UsEquity, H4, "2024-03-09T00:00:00Z", true),
        (18, UsEquity, H1, "2024-03-11T07:00:00Z", false),
        (19, UsEquity, H1, "2024-03-11T08:00:00Z", true),
        (20, UsEquity, M1, "2024-11-29T21:59:00Z", true),
        (21, UsEquity, M1, "2024-11-29T22:00:00Z", false),
        // Daily equity buckets go by trading date, not by overlap.
        (22, UsEquity, D1, "2024-03-08T00:00:00Z", true),
        (23, UsEquity, D1, "2024-03-09T00:00:00Z", false),
        (24, UsEquity, D1, "2024-03-29T00:00:00Z", false),
        (25, UsEquity, D1, "2024-11-29T00:00:00Z", true),
        // An open time inside a bucket means that bucket.
        (26, Fx, H4, "2024-01-12T23:59:00Z", true),
    ];
    for (case, calendar, tf, at, expected) in cases {
        assert_eq!(
            bucket_expected(calendar, tf, t(at)),
            expected,
            "case {case}: {calendar} {tf} {at}"
        );
    }
}

#[test]
fn expected_bucket_counts() {
    use Calendar::{Crypto, Fx, UsEquity};
    use Timeframe::{D1, H1, H4, M1, M5};
    let cases = [
        // (case, calendar, timeframe, start, end, count)
        // A full trading day is 04:00–20:00 New York: 960 minutes. (Thursday's after-hours
        // run to 01:00Z on Friday, so the window starts after them.)
        (
            1,
            UsEquity,
            M1,
            "2024-03-08T05:00:00Z",
            "2024-03-10T00:00:00Z",
            960,
        ),
        (
            2,
            UsEquity,
            M1,
            "2024-03-11T00:00:00Z",
            "2024-03-12T06:00:00Z",
            960,
        ),
        // An early-close day is 04:00–17:00: 780 minutes.
        (
            3,
            UsEquity,
            M1,
            "2024-11-29T00:00:00Z",
            "2024-11-30T00:00:00Z",
            780,
        ),
        (
            4,
            UsEquity,
            M1,
            "2024-07-03T00:00:00Z",
            "2024-07-04T00:00:00Z",
            780,
        ),
        (
            5,
            UsEquity,
            M5,
            "2024-03-08T05:00:00Z",
            "2024-03-10T00:00:00Z",
            192,
        ),
        // 4h buckets of a winter day: 08:00Z (holds 09:00Z) to 00:00Z (holds 00:00–01:00Z).
        (
            6,
            UsEquity,
            H4,
            "2024-03-08T05:00:00Z",
            "2024-03-10T00:00:00Z",
            5,
        ),
        // The Good Friday week: four full days.
        (
            7,
            UsEquity,
            M1,
            "2024-03-24T00:00:00Z",
            "2024-03-31T00:00:00Z",
            4 * 960,
        ),
        (
            8,
            UsEquity,
            D1,
            "2024-03-24T00:00:00Z",
            "2024-03-31T00:00:00Z",
            4,
        ),
        (
            9,
            UsEquity,
            D1,
            "2024-01-01T00:00:00Z",
            "2025-01-01T00:00:00Z",
            252,
        ),
        // An FX week is 120 hours; the buckets holding its edges count.
        (
            10,
            Fx,
            H1,
            "2024-01-06T00:00:00Z",
            "2024-01-14T00:00:00Z",
            120,
        ),
        (
            11,
            Fx,
            M1,
            "2024-01-06T00:00:00Z",
            "2024-01-14T00:00:00Z",
            120 * 60,
        ),
        (
            12,
            Fx,
            H4,
            "2024-01-06T00:00:00Z",
            "2024-01-14T00:00:00Z",
            31,
        ),
        (
            13,
            Fx,
            D1,
            "2024-01-06T00:00:00Z",
            "2024-01-14T00:00:00Z",
            6,
        ),
        (
            14,
            Crypto,
            M1,
            "2024-01-01T00:00:00Z",
            "2025-01-01T00:00:00Z",
            366 * 1440,
        ),
        // Bucket open times in [start, end): an unaligned start skips the bucket it is in.
        (
            15,
            Crypto,
            H1,
            "2024-01-01T00:30:00Z",
            "2024-01-01T03:00:00Z",
            2,
        ),
        (
            16,
            Crypto,
            H1,
            "2024-01-01T00:00:00Z",
            "2024-01-01T02:30:00Z",
            3,
        ),
        (
            17,
            Fx,
            H1,
            "2024-01-10T00:00:00Z",
            "2024-01-09T00:00:00Z",
            0,
        ),
    ];
    for (case, calendar, tf, start, end, count) in cases {
        let (start, end) = (t(start), t(end));
        assert_eq!(
            expected_bucket_count(calendar, tf, start, end),
            count,
            "case {case}"
        );
        assert_eq!(
            expected_buckets(calendar, tf, start, end).count() as u64,
            count,
            "case {case}"
        );
    }
}

#[test]
fn expected_ranges_agree_with_bucket_expected() {
    // Every aligned bucket in a window around holidays, DST changes and week edges: listed by
    // `expected_buckets` exactly when `bucket_expected` says so.
    let windows = [
        ("2024-03-01T00:00:00Z", "2024-03-20T00:00:00Z"),
        ("2024-10-25T00:00:00Z", "2024-11-08T00:00:00Z"),
        ("2024-12-18T00:00:00Z", "2025-01-06T00:00:00Z"),
        ("2022-12-20T00:00:00Z", "2023-01-05T00:00:00Z"),
    ];
    for (start, end) in windows {
        let (start, end) = (t(start), t(end));
        for calendar in Calendar::ALL {
            for tf in Timeframe::ALL {
                let listed: std::collections::BTreeSet<_> =
                    expected_buckets(calendar, tf, start, end).collect();
                let mut b = tf.ceil(start);
                while b < end {
                    assert_eq!(
                        listed.contains(&b),
                        bucket_expected(calendar, tf, b),
                        "{calendar} {tf} {b}"
                    );
                    b += tf.duration();
                }
                assert!(listed.iter().all(|b| tf.is_aligned(*b) && *b < end));
                let ranges = expected_bucket_ranges(calendar, tf, start, end);
                assert!(
                    ranges.windows(2).all(|w| w[0].1 < w[1].0),
                    "{calendar} {tf}: ranges sorted, disjoint, not touching"
                );
            }
        }
    }
}

#[test]
fn every_table_year_has_its_rule_holidays_on_weekdays() {
    for year in holidays::COVERED_YEARS {
        let rules = holidays::rule_holidays(year);
        assert!(rules.len() >= 8, "{year}");
        for (date, name) in rules {
            assert!(!holidays::is_weekend(date), "{year}: {name} on {date}");
            assert!(!is_trading_day(date), "{year}: {name} on {date}");
        }
    }
}
