//! The timeframes candlelake stores, their lengths and UTC alignment.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};

/// A candle length. Every timeframe divides a UTC day, so buckets align to the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timeframe {
    M1,
    M5,
    M15,
    M30,
    H1,
    H4,
    D1,
}

impl Timeframe {
    pub const ALL: [Timeframe; 7] = [
        Timeframe::M1,
        Timeframe::M5,
        Timeframe::M15,
        Timeframe::M30,
        Timeframe::H1,
        Timeframe::H4,
        Timeframe::D1,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Timeframe::M1 => "1m",
            Timeframe::M5 => "5m",
            Timeframe::M15 => "15m",
            Timeframe::M30 => "30m",
            Timeframe::H1 => "1h",
            Timeframe::H4 => "4h",
            Timeframe::D1 => "1d",
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Timeframe::M1 => 60,
            Timeframe::M5 => 300,
            Timeframe::M15 => 900,
            Timeframe::M30 => 1800,
            Timeframe::H1 => 3600,
            Timeframe::H4 => 14_400,
            Timeframe::D1 => 86_400,
        }
    }

    pub fn duration(self) -> TimeDelta {
        TimeDelta::seconds(self.seconds())
    }

    /// Whether `t` is the open time of a bucket of this timeframe.
    pub fn is_aligned(self, t: DateTime<Utc>) -> bool {
        t.timestamp_subsec_nanos() == 0 && t.timestamp().rem_euclid(self.seconds()) == 0
    }

    /// The open time of the bucket holding `t`.
    pub fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let s = t.timestamp();
        let floored = s - s.rem_euclid(self.seconds());
        DateTime::from_timestamp(floored, 0).expect("floored timestamp is in range")
    }

    /// The first bucket open time at or after `t`.
    pub fn ceil(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let f = self.floor(t);
        if f == t { f } else { f + self.duration() }
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Timeframe {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timeframe::ALL
            .into_iter()
            .find(|tf| tf.as_str() == s)
            .ok_or_else(|| format!("unknown timeframe '{s}'; use one of 1m 5m 15m 30m 1h 4h 1d"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    #[test]
    fn floor_and_ceil_align_to_utc_buckets() {
        let t = at("2024-03-10T07:59:59Z");
        assert_eq!(Timeframe::H4.floor(t), at("2024-03-10T04:00:00Z"));
        assert_eq!(Timeframe::H4.ceil(t), at("2024-03-10T08:00:00Z"));
        assert_eq!(Timeframe::D1.floor(t), at("2024-03-10"));
        assert!(Timeframe::H1.is_aligned(Timeframe::H1.floor(t)));
        assert!(!Timeframe::H1.is_aligned(t));
    }

    #[test]
    fn parses_every_timeframe_and_rejects_others() {
        for tf in Timeframe::ALL {
            assert_eq!(tf.as_str().parse::<Timeframe>().unwrap(), tf);
        }
        assert!("2h".parse::<Timeframe>().is_err());
    }
}
