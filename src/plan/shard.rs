//! `--shard I/N`: the part of a selection one of N workers runs. A series belongs to shard I
//! when the FNV-1a 64-bit hash of the UTF-8 text `{provider}/{asset_pair}/{tf}` is I modulo N,
//! so another tool can compute the assignment, shards never share a series, and N workers
//! together do exactly what one would.

use std::collections::HashMap;
use std::fmt;

use super::PlanError;
use crate::model::SeriesKey;

/// One of N shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    /// Parses `I/N` with `0 ≤ I < N`.
    pub fn parse(text: &str, source: &str) -> Result<Shard, PlanError> {
        let bad = || {
            PlanError(format!(
                "{source} '{text}' is not a shard; write I/N with 0 <= I < N, e.g. 0/4"
            ))
        };
        let (index, count) = text.trim().split_once('/').ok_or_else(bad)?;
        let index: u64 = index.trim().parse().map_err(|_| bad())?;
        let count: u64 = count.trim().parse().map_err(|_| bad())?;
        if index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The shard a run is: `--shard`, else `CANDLELAKE_SHARD`, else a Kubernetes Indexed Job's
    /// `JOB_COMPLETION_INDEX` with `CANDLELAKE_SHARDS=N`; `None` runs every series.
    pub fn resolve(
        flag: Option<&str>,
        env: &HashMap<String, String>,
    ) -> Result<Option<Shard>, PlanError> {
        if let Some(text) = flag {
            return Shard::parse(text, "--shard").map(Some);
        }
        if let Some(text) = env.get("CANDLELAKE_SHARD") {
            return Shard::parse(text, "CANDLELAKE_SHARD").map(Some);
        }
        let Some(count) = env.get("CANDLELAKE_SHARDS") else {
            return Ok(None);
        };
        let Some(index) = env.get("JOB_COMPLETION_INDEX") else {
            return Err(PlanError(format!(
                "CANDLELAKE_SHARDS={count} needs JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job); outside one, give --shard I/N instead"
            )));
        };
        Shard::parse(
            &format!("{index}/{count}"),
            "JOB_COMPLETION_INDEX/CANDLELAKE_SHARDS",
        )
        .map(Some)
    }

    /// Whether `series` is this shard's.
    pub fn owns(&self, series: &SeriesKey) -> bool {
        let text = format!(
            "{}/{}/{}",
            series.provider.as_str(),
            series.pair,
            series.timeframe.as_str()
        );
        fnv1a_64(text.as_bytes()) % self.count == self.index
    }

    /// The name of this shard's lock and files: `I-of-N`.
    pub fn name(&self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The 64-bit FNV-1a hash.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{ProviderId, Timeframe};

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn every_series_belongs_to_exactly_one_shard() {
        let shards: Vec<Shard> = (0..4)
            .map(|i| Shard::parse(&format!("{i}/4"), "--shard").unwrap())
            .collect();
        for pair in ["BTC-USD", "ETH-USD", "EUR-USD", "IBM"] {
            for tf in Timeframe::ALL {
                let series = SeriesKey {
                    provider: ProviderId::Coinbase,
                    pair: pair.into(),
                    timeframe: tf,
                };
                assert_eq!(shards.iter().filter(|s| s.owns(&series)).count(), 1);
            }
        }
    }

    #[test]
    fn shards_are_read_from_the_flag_or_an_indexed_job() {
        let env = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let job = env(&[("JOB_COMPLETION_INDEX", "2"), ("CANDLELAKE_SHARDS", "3")]);
        assert_eq!(
            Shard::resolve(None, &job).unwrap().unwrap().to_string(),
            "2/3"
        );
        assert_eq!(
            Shard::resolve(Some("0/2"), &job)
                .unwrap()
                .unwrap()
                .to_string(),
            "0/2"
        );
        assert_eq!(Shard::resolve(None, &env(&[])).unwrap(), None);
        let named = env(&[("CANDLELAKE_SHARD", "1/2"), ("CANDLELAKE_SHARDS", "3")]);
        assert_eq!(
            Shard::resolve(None, &named).unwrap().unwrap().to_string(),
            "1/2"
        );
        assert!(Shard::resolve(None, &env(&[("CANDLELAKE_SHARDS", "3")])).is_err());
        for bad in ["3/3", "x/2", "1", "0/0", "-1/2"] {
            assert!(Shard::parse(bad, "--shard").is_err(), "{bad}");
        }
    }
}
