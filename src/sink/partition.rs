//! How a table is partitioned by date: the period `partition_date` truncates to, its default per
//! timeframe, and the truncation itself. Pure.

use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::providers::Timeframe;

/// How `partition_date` truncates a candle's UTC date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionPeriod {
    Day,
    Month,
    Year,
}

impl PartitionPeriod {
    /// The contract's default: files of hundreds of candles or more.
    pub fn default_for(tf: Timeframe) -> Self {
        match tf {
            Timeframe::M1 => PartitionPeriod::Day,
            Timeframe::M5 | Timeframe::M15 | Timeframe::M30 | Timeframe::H1 => {
                PartitionPeriod::Month
            }
            Timeframe::H4 | Timeframe::D1 => PartitionPeriod::Year,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PartitionPeriod::Day => "day",
            PartitionPeriod::Month => "month",
            PartitionPeriod::Year => "year",
        }
    }

    /// The partition date of a candle opening at `t`.
    pub fn partition_date(self, t: DateTime<Utc>) -> NaiveDate {
        let d = t.date_naive();
        let truncated = match self {
            PartitionPeriod::Day => Some(d),
            PartitionPeriod::Month => d.with_day(1),
            PartitionPeriod::Year => NaiveDate::from_ymd_opt(d.year(), 1, 1),
        };
        truncated.expect("the first of a month or year exists")
    }
}

impl FromStr for PartitionPeriod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "day" => Ok(PartitionPeriod::Day),
            "month" => Ok(PartitionPeriod::Month),
            "year" => Ok(PartitionPeriod::Year),
            other => Err(format!(
                "unknown partition period '{other}'; use day, month or year"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dates_truncate_in_utc() {
        let t = DateTime::parse_from_rfc3339("2024-03-31T23:59:00-01:00")
            .unwrap()
            .to_utc();
        assert_eq!(
            PartitionPeriod::Day.partition_date(t).to_string(),
            "2024-04-01"
        );
        assert_eq!(
            PartitionPeriod::Month.partition_date(t).to_string(),
            "2024-04-01"
        );
        assert_eq!(
            PartitionPeriod::Year.partition_date(t).to_string(),
            "2024-01-01"
        );
        assert_eq!(
            PartitionPeriod::default_for(Timeframe::M1),
            PartitionPeriod::Day
        );
        assert_eq!(
            PartitionPeriod::default_for(Timeframe::H1),
            PartitionPeriod::Month
        );
        assert_eq!(
            PartitionPeriod::default_for(Timeframe::D1),
            PartitionPeriod::Year
        );
    }
}
