//! `--start` / `--end` values: a bare date (00:00:00Z) or an RFC 3339 date-time, always UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};

use super::PlanError;

pub fn parse_instant(value: &str, flag: &str) -> Result<DateTime<Utc>, PlanError> {
    let v = value.trim();
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.to_utc());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S") {
        return Ok(t.and_utc());
    }
    Err(PlanError(format!(
        "{flag} '{value}' is not a date; use YYYY-MM-DD or an RFC 3339 time such as 2024-01-01T00:00:00Z"
    )))
}

/// A duration such as `90s`, `15m`, `2h` or `1d`.
pub fn parse_duration(value: &str, flag: &str) -> Result<TimeDelta, PlanError> {
    let v = value.trim();
    let bad = || {
        PlanError(format!(
            "{flag} '{value}' is not a duration; use a number with s, m, h or d, such as 90m or 2h"
        ))
    };
    let split = v.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = v.split_at(split);
    let n: i64 = number.parse().map_err(|_| bad())?;
    match unit {
        "s" => Ok(TimeDelta::seconds(n)),
        "m" => Ok(TimeDelta::minutes(n)),
        "h" => Ok(TimeDelta::hours(n)),
        "d" => Ok(TimeDelta::days(n)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90m", "f").unwrap(), TimeDelta::minutes(90));
        assert_eq!(parse_duration("2h", "f").unwrap(), TimeDelta::hours(2));
        assert_eq!(parse_duration("1d", "f").unwrap(), TimeDelta::days(1));
        for bad in ["", "h", "2", "2w", "-1h", "1.5h"] {
            assert!(parse_duration(bad, "f").is_err(), "{bad}");
        }
    }
}
