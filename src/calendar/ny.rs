//! America/New_York wall-clock time ↔ UTC, with the zone's DST rules (tz database).

use chrono::{DateTime, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::America::New_York;

/// The UTC instant of `time` on `date` in New York. A wall time repeated when DST ends takes
/// its first (daylight) instant; one skipped when DST starts (02:xx on the March Sunday) is
/// read one hour later. The calendars only ask for 00:00, 04:00, 09:30, 13:00, 16:00, 17:00
/// and 20:00, which are never either.
pub fn to_utc(date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = date.and_time(time);
    match New_York.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.to_utc(),
        LocalResult::None => New_York
            .from_local_datetime(&(local + chrono::TimeDelta::hours(1)))
            .earliest()
            .expect("one hour after a skipped wall time exists")
            .to_utc(),
    }
}

/// The UTC instant of `hour:minute` on `date` in New York.
pub fn at(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    to_utc(
        date,
        NaiveTime::from_hms_opt(hour, minute, 0).expect("a valid wall time"),
    )
}

/// The New York calendar date at the instant `t`.
pub fn date_of(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&New_York).date_naive()
}
