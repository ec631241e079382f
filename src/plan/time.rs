//! `--start` / `--end` values: a bare date (00:00:00Z) or an RFC 3339 date-time, always UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

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
