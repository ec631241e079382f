//! Which series a command (`topup`, `status`, `gaps`) is limited to: `--provider`, `--pairs`,
//! `--timeframes`, each left out selecting everything.

use super::{PlanError, canonical_pair, parse_provider};
use crate::model::SeriesKey;
use crate::providers::{ProviderId, Timeframe};

/// The series a command is limited to; an empty part selects everything.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub provider: Option<ProviderId>,
    pub pairs: Vec<String>,
    pub timeframes: Vec<Timeframe>,
}

impl Selection {
    /// Checks the flags as typed.
    pub fn parse(
        provider: Option<&str>,
        pairs: Option<&str>,
        timeframes: Option<&str>,
    ) -> Result<Self, PlanError> {
        let provider = provider.map(parse_provider).transpose()?;
        let list = |v: Option<&str>| -> Vec<String> {
            v.iter()
                .flat_map(|s| s.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        let pairs = list(pairs)
            .iter()
            .map(|p| canonical_pair(p, provider.unwrap_or(ProviderId::AlphaVantage)))
            .collect::<Result<Vec<_>, _>>()?;
        let timeframes = list(timeframes)
            .iter()
            .map(|t| t.parse::<Timeframe>().map_err(PlanError))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Selection {
            provider,
            pairs,
            timeframes,
        })
    }

    pub fn accepts(&self, k: &SeriesKey) -> bool {
        self.provider.is_none_or(|p| p == k.provider)
            && (self.pairs.is_empty() || self.pairs.contains(&k.pair))
            && (self.timeframes.is_empty() || self.timeframes.contains(&k.timeframe))
    }

    /// Every series the selection names outright (a provider, pairs and timeframes all given).
    pub fn named(&self) -> Vec<SeriesKey> {
        let Some(provider) = self.provider else {
            return Vec::new();
        };
        self.pairs
            .iter()
            .flat_map(|pair| {
                self.timeframes.iter().map(move |tf| SeriesKey {
                    provider,
                    pair: pair.clone(),
                    timeframe: *tf,
                })
            })
            .collect()
    }
}
