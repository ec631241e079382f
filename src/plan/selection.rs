//! Which series a command (`topup`, `status`, `gaps`) is limited to: `--provider`, `--pairs`
//! (pairs, or patterns matched against the series held), `--timeframes`, each left out
//! selecting everything, and for `topup` `--shard`.

use super::glob::{canonical_pattern, is_pattern, matched_nothing, matches};
use super::{PlanError, Shard, canonical_pair, parse_provider};
use crate::model::SeriesKey;
use crate::providers::{ProviderId, Timeframe};

/// The series a command is limited to; an empty part selects everything.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub provider: Option<ProviderId>,
    pub pairs: Vec<String>,
    pub timeframes: Vec<Timeframe>,
    /// Only this shard's series.
    pub shard: Option<Shard>,
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
            .map(|p| match is_pattern(p) {
                true => Ok(canonical_pattern(p)),
                false => canonical_pair(p, provider.unwrap_or(ProviderId::AlphaVantage)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let timeframes = list(timeframes)
            .iter()
            .map(|t| t.parse::<Timeframe>().map_err(PlanError))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Selection {
            provider,
            pairs,
            timeframes,
            shard: None,
        })
    }

    pub fn accepts(&self, k: &SeriesKey) -> bool {
        self.provider.is_none_or(|p| p == k.provider)
            && (self.pairs.is_empty() || self.pairs.iter().any(|p| names(p, &k.pair)))
            && (self.timeframes.is_empty() || self.timeframes.contains(&k.timeframe))
            && self.shard.is_none_or(|s| s.owns(k))
    }

    /// A usage error when a `--pairs` pattern names none of `selected` (the series the
    /// selection accepted).
    pub fn check_patterns<'a>(
        &self,
        selected: impl Iterator<Item = &'a str> + Clone,
    ) -> Result<(), PlanError> {
        match self
            .pairs
            .iter()
            .filter(|p| is_pattern(p))
            .find(|p| !selected.clone().any(|pair| matches(p, pair)))
        {
            Some(p) => Err(matched_nothing(p, "series held")),
            None => Ok(()),
        }
    }

    /// Every series the selection names outright (a provider, pairs and timeframes all given);
    /// patterns name none outright.
    pub fn named(&self) -> Vec<SeriesKey> {
        let Some(provider) = self.provider else {
            return Vec::new();
        };
        self.pairs
            .iter()
            .filter(|p| !is_pattern(p))
            .flat_map(|pair| {
                self.timeframes.iter().map(move |tf| SeriesKey {
                    provider,
                    pair: pair.clone(),
                    timeframe: *tf,
                })
            })
            .filter(|k| self.shard.is_none_or(|s| s.owns(k)))
            .collect()
    }
}

/// Whether a `--pairs` item (a pair or a pattern) names `pair`.
fn names(item: &str, pair: &str) -> bool {
    if is_pattern(item) {
        matches(item, pair)
    } else {
        item == pair
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_select_held_series_and_must_name_one() {
        let s = Selection::parse(Some("coinbase"), Some("*-usd,ETH-BTC"), Some("1h")).unwrap();
        let key = |pair: &str| SeriesKey {
            provider: ProviderId::Coinbase,
            pair: pair.into(),
            timeframe: Timeframe::H1,
        };
        assert!(s.accepts(&key("BTC-USD")));
        assert!(s.accepts(&key("ETH-BTC")));
        assert!(!s.accepts(&key("BTC-EUR")));
        assert_eq!(s.named(), [key("ETH-BTC")]);
        assert!(s.check_patterns(["BTC-USD"].into_iter()).is_ok());
        let err = s.check_patterns(["BTC-EUR"].into_iter()).unwrap_err();
        assert!(err.0.contains("'*-USD' matches no series held"), "{err}");
    }
}
