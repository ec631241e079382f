//! Open times as files write them: integer epochs in a unit, and date-times in a zone.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

use crate::providers::FieldError;

/// An integer epoch in `per_second` units a second (1, 1e3, 1e6, 1e9) → a UTC time.
pub fn epoch(text: &str, per_second: i64) -> Result<DateTime<Utc>, FieldError> {
    if text.is_empty() {
        return Err(FieldError::Missing);
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::Unparseable);
    }
    let value: i64 = text.parse().map_err(|_| FieldError::Unparseable)?;
    let micros = match per_second {
        1 => value.checked_mul(1_000_000),
        1_000 => value.checked_mul(1_000),
        1_000_000 => Some(value),
        _ => Some(value.div_euclid(1_000) + i64::from(value.rem_euclid(1_000) != 0)),
    };
    // A nanosecond stamp that is not a whole microsecond is kept misaligned, not rounded:
    // `div_euclid` plus one lands it off the minute, so the candle rules reject it.
    micros
        .and_then(DateTime::from_timestamp_micros)
        .ok_or(FieldError::Unparseable)
}

/// A date-time without a zone, read in `zone`: `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DDTHH:MM:SS`
/// or a bare date; RFC 3339 text carries its own offset.
pub fn datetime<Z: TimeZone>(text: &str, zone: &Z) -> Result<DateTime<Utc>, FieldError> {
    if text.is_empty() {
        return Err(FieldError::Missing);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.to_utc());
    }
    let naive = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y%m%d %H%M%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or(FieldError::Unparseable)?;
    zone.from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or(FieldError::Unparseable)
}

/// Eastern Standard Time all year (UTC−5, no daylight saving), HistData's clock.
pub fn eastern_standard() -> FixedOffset {
    FixedOffset::west_opt(5 * 3600).expect("UTC-5 is a valid offset")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_zones() {
        let t = "2024-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(epoch("1704067200", 1), Ok(t));
        assert_eq!(epoch("1704067200000", 1_000), Ok(t));
        assert_eq!(epoch("1704067200000000", 1_000_000), Ok(t));
        assert_eq!(epoch("1704067200000000000", 1_000_000_000), Ok(t));
        assert!(
            !crate::providers::Timeframe::M1
                .is_aligned(epoch("1704067200000000001", 1_000_000_000).unwrap())
        );
        assert_eq!(epoch("", 1), Err(FieldError::Missing));
        assert_eq!(epoch("1.5", 1), Err(FieldError::Unparseable));
        assert_eq!(datetime("20231231 190000", &eastern_standard()), Ok(t));
        assert_eq!(
            datetime("2023-12-31 19:00:00", &chrono_tz::America::New_York),
            Ok(t)
        );
        assert_eq!(datetime("2024-01-01", &Utc), Ok(t));
        assert_eq!(datetime("2024-01-01T01:00:00+01:00", &Utc), Ok(t));
        assert_eq!(datetime("yesterday", &Utc), Err(FieldError::Unparseable));
    }
}
