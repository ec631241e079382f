//! Flags, environment and config file → checked `Settings`, a checked `BackfillPlan` or
//! `Selection`, and each provider's `Source`, before any request is made.
//! The only place that reads the environment.

mod aws;
mod config;
mod config_file;
mod credentials;
mod glob;
mod locations;
mod pair;
mod selection;
mod shard;
mod sources;
mod time;

pub use aws::AwsEnv;
pub use config::{Endpoint, Limiter, Settings, SettingsInput};
pub use credentials::Credentials;
pub use glob::{canonical_pattern, expand, is_pattern, matched_nothing};
pub use pair::canonical_pair;
pub use selection::Selection;
pub use shard::Shard;
pub use sources::{Source, connect, daily_quota};
pub use time::{parse_duration, parse_instant};

use chrono::{DateTime, Utc};

use crate::model::SeriesKey;
use crate::providers::{ProviderId, Timeframe};

/// A usage or configuration error: one sentence saying what is wrong and what to do. Exit 1.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

impl Settings {
    /// Where `provider` is and how fast it may be asked.
    pub fn endpoint(&self, provider: ProviderId) -> &Endpoint {
        match provider {
            ProviderId::Coinbase => &self.coinbase,
            ProviderId::Oanda => &self.oanda,
            ProviderId::AlphaVantage => &self.alphavantage,
        }
    }

    /// The finality margin as a time span; a margin past a century is no margin a user meant,
    /// and must not overflow the clock.
    pub fn settle_delta(&self) -> chrono::TimeDelta {
        let century = chrono::TimeDelta::days(36_500);
        chrono::TimeDelta::from_std(self.settle).map_or(century, |d| d.min(century))
    }
}

/// A checked backfill request.
#[derive(Debug, Clone)]
pub struct BackfillPlan {
    pub provider: ProviderId,
    /// The pairs named outright, then those the patterns resolved to.
    pub pairs: Vec<String>,
    /// `--pairs` patterns (`*-USD`), resolved against the provider's list before any request.
    pub patterns: Vec<String>,
    pub timeframes: Vec<Timeframe>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub dry_run: bool,
    /// Only this shard's series.
    pub shard: Option<Shard>,
}

/// Backfill arguments as typed by the user.
#[derive(Debug, Clone, Default)]
pub struct BackfillInput {
    pub provider: String,
    pub pairs: String,
    pub timeframes: String,
    pub start: String,
    pub end: Option<String>,
    pub dry_run: bool,
}

impl BackfillPlan {
    /// Every (pair, timeframe) of the plan (of its shard), pairs first, in the order given.
    pub fn series(&self) -> Vec<SeriesKey> {
        self.pairs
            .iter()
            .flat_map(|pair| {
                self.timeframes.iter().map(|tf| SeriesKey {
                    provider: self.provider,
                    pair: pair.clone(),
                    timeframe: *tf,
                })
            })
            .filter(|k| self.shard.is_none_or(|s| s.owns(k)))
            .collect()
    }

    /// Adds the pairs `pattern` resolved to, or says it named none.
    pub fn add_matches(&mut self, pattern: &str, pairs: Vec<String>) -> Result<(), PlanError> {
        if pairs.is_empty() {
            return Err(matched_nothing(
                pattern,
                &format!("{} instrument that is online", self.provider.as_str()),
            ));
        }
        self.pairs = dedup(
            std::mem::take(&mut self.pairs)
                .into_iter()
                .chain(pairs)
                .collect(),
        );
        Ok(())
    }

    /// Checks every part of a backfill request; `now` bounds the range.
    pub fn resolve(input: &BackfillInput, now: DateTime<Utc>) -> Result<Self, PlanError> {
        let provider = parse_provider(&input.provider)?;
        let (patterns, pairs): (Vec<&str>, Vec<&str>) = split_list(&input.pairs, "--pairs")?
            .into_iter()
            .partition(|p| is_pattern(p));
        let pairs = pairs
            .into_iter()
            .map(|p| canonical_pair(p, provider))
            .collect::<Result<Vec<_>, _>>()?;
        let patterns = patterns.into_iter().map(canonical_pattern).collect();
        let timeframes = split_list(&input.timeframes, "--timeframes")?
            .into_iter()
            .map(|t| t.parse::<Timeframe>().map_err(PlanError))
            .collect::<Result<Vec<_>, _>>()?;
        let start = parse_instant(&input.start, "--start")?;
        let end = match &input.end {
            Some(e) => parse_instant(e, "--end")?.min(now),
            None => now,
        };
        if start >= end {
            return Err(PlanError(format!(
                "--start {} is not before the end of the range {}; pick a start in the past and before --end",
                start.to_rfc3339(),
                end.to_rfc3339()
            )));
        }
        Ok(BackfillPlan {
            provider,
            pairs: dedup(pairs),
            patterns: dedup(patterns),
            timeframes: dedup(timeframes),
            start,
            end,
            dry_run: input.dry_run,
            shard: None,
        })
    }
}

/// A provider as typed: coinbase, oanda or alphavantage.
pub fn parse_provider(name: &str) -> Result<ProviderId, PlanError> {
    ProviderId::parse(name).ok_or_else(|| {
        PlanError(format!(
            "unknown provider '{name}'; use coinbase, oanda or alphavantage"
        ))
    })
}

fn split_list<'a>(value: &'a str, flag: &str) -> Result<Vec<&'a str>, PlanError> {
    let items: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return Err(PlanError(format!(
            "{flag} is empty; give at least one value, comma-separated"
        )));
    }
    Ok(items)
}

fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(pairs: &str, tfs: &str, start: &str, end: Option<&str>) -> BackfillInput {
        BackfillInput {
            provider: "coinbase".into(),
            pairs: pairs.into(),
            timeframes: tfs.into(),
            start: start.into(),
            end: end.map(String::from),
            dry_run: false,
        }
    }

    #[test]
    fn resolves_a_good_plan() {
        let now = parse_instant("2024-06-01", "now").unwrap();
        let plan = BackfillPlan::resolve(
            &input(
                "btc/usd, ETH_USD,BTC-USD",
                "1h,1d",
                "2024-01-01",
                Some("2025-01-01"),
            ),
            now,
        )
        .unwrap();
        assert_eq!(plan.pairs, vec!["BTC-USD", "ETH-USD"]);
        assert_eq!(plan.timeframes, vec![Timeframe::H1, Timeframe::D1]);
        assert_eq!(plan.end, now, "the end is clipped to now");
        let globbed =
            BackfillPlan::resolve(&input("*-usd,BTC-EUR,btc/*", "1h", "2024-01-01", None), now)
                .unwrap();
        assert_eq!(globbed.pairs, vec!["BTC-EUR"]);
        assert_eq!(globbed.patterns, vec!["*-USD", "BTC-*"]);
    }

    #[test]
    fn rejects_bad_requests_with_one_sentence() {
        let now = parse_instant("2024-06-01", "now").unwrap();
        // TC: (input, substring of the message)
        let cases = [
            (input("IBM", "1h", "2024-01-01", None), "ticker"),
            (
                input("BTC-USD", "2h", "2024-01-01", None),
                "unknown timeframe",
            ),
            (input("BTC-USD", "1h", "2024-13-01", None), "--start"),
            (
                input("BTC-USD", "1h", "2024-03-01", Some("2024-02-01")),
                "not before",
            ),
            (input("", "1h", "2024-03-01", None), "--pairs is empty"),
        ];
        for (i, expected) in cases {
            let err = BackfillPlan::resolve(&i, now).unwrap_err();
            assert!(err.0.contains(expected), "{err} should mention {expected}");
            assert!(!err.0.contains('\n'));
        }
    }
}
