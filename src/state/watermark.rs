//! Per-series watermark files `{state}/watermarks/{provider}/{pair}/{tf}.json`.
//!
//! Contract: a watermark is written only after the commit holding the data it describes, and
//! atomically. It is a cache of the table's coverage marks: when the file disagrees with the
//! table, the table wins.

use std::io;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::store::StateStore;
use crate::model::{SeriesKey, TimeRange};
use crate::providers::{ProviderId, Timeframe};

pub const FORMAT_VERSION: u32 = 1;

/// What a watermark file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    pub version: u32,
    pub provider: String,
    pub asset_pair: String,
    pub timeframe: String,
    pub coverage: TimeRange,
    pub first_candle: Option<DateTime<Utc>>,
    pub last_candle: Option<DateTime<Utc>>,
    #[serde(default)]
    pub unreachable: Vec<Unreachable>,
    pub table_version: u64,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub last_run: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_status: Option<String>,
    /// When a run of this series last ended in success.
    #[serde(default)]
    pub last_success: Option<DateTime<Utc>>,
}

/// History the provider cannot serve, never asked for again unless `--retry-unreachable`:
/// `{"from", "to"}`, with `"reason"` when candlelake knows it (files written before reasons
/// existed have none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreachable {
    #[serde(flatten)]
    pub range: TimeRange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<UnreachableReason>,
}

/// Why history is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnreachableReason {
    /// Before the pair's first candle at the provider: its listing.
    BeforeListing,
}

impl UnreachableReason {
    pub fn as_str(self) -> &'static str {
        match self {
            UnreachableReason::BeforeListing => "before_listing",
        }
    }
}

impl Unreachable {
    pub fn new(range: TimeRange, reason: Option<UnreachableReason>) -> Self {
        Unreachable { range, reason }
    }
}

impl Watermark {
    pub fn new(series: &SeriesKey, coverage: TimeRange, now: DateTime<Utc>) -> Self {
        Watermark {
            version: FORMAT_VERSION,
            provider: series.provider.as_str().to_string(),
            asset_pair: series.pair.clone(),
            timeframe: series.timeframe.as_str().to_string(),
            coverage,
            first_candle: None,
            last_candle: None,
            unreachable: Vec::new(),
            table_version: 0,
            updated_at: now,
            last_run: None,
            last_status: None,
            last_success: None,
        }
    }

    pub fn series(&self) -> Option<SeriesKey> {
        Some(SeriesKey {
            provider: ProviderId::parse(&self.provider)?,
            pair: self.asset_pair.clone(),
            timeframe: self.timeframe.parse::<Timeframe>().ok()?,
        })
    }

    /// Records candles held between `first` and `last`.
    pub fn hold(&mut self, first: DateTime<Utc>, last: DateTime<Utc>) {
        self.first_candle = Some(self.first_candle.map_or(first, |f| f.min(first)));
        self.last_candle = Some(self.last_candle.map_or(last, |l| l.max(last)));
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WatermarkError {
    #[error("could not read or write the watermark {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// The watermark files under one state directory.
#[derive(Debug, Clone)]
pub struct WatermarkStore {
    store: StateStore,
}

const DIR: &str = "watermarks";

/// What reading a watermark file found.
#[derive(Debug)]
pub enum Loaded {
    Absent,
    Valid(Box<Watermark>),
    /// Torn, truncated or not ours: to be repaired from the table.
    Unreadable(String),
}

impl WatermarkStore {
    pub fn new(state_dir: &StateStore) -> Self {
        WatermarkStore {
            store: state_dir.clone(),
        }
    }

    fn key(series: &SeriesKey) -> String {
        format!(
            "{DIR}/{}/{}/{}.json",
            series.provider.as_str(),
            series.pair,
            series.timeframe
        )
    }

    /// Where the series' watermark is, as a message shows it.
    pub fn path(&self, series: &SeriesKey) -> String {
        self.store.show(&Self::key(series))
    }

    pub fn load(&self, series: &SeriesKey) -> Result<Loaded, WatermarkError> {
        let bytes = match self.store.get(&Self::key(series)) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(Loaded::Absent),
            Err(source) => {
                return Err(WatermarkError::Io {
                    path: self.path(series),
                    source,
                });
            }
        };
        Ok(match serde_json::from_slice::<Watermark>(&bytes) {
            Ok(w) if w.version == FORMAT_VERSION && w.series().as_ref() == Some(series) => {
                Loaded::Valid(Box::new(w))
            }
            Ok(_) => Loaded::Unreadable("it describes another series or format".into()),
            Err(e) => Loaded::Unreadable(e.to_string()),
        })
    }

    pub fn save(&self, watermark: &Watermark, series: &SeriesKey) -> Result<(), WatermarkError> {
        let mut bytes = serde_json::to_vec_pretty(watermark).expect("a watermark serialises");
        bytes.push(b'\n');
        self.store
            .put(&Self::key(series), &bytes, "mid_watermark")
            .map_err(|source| WatermarkError::Io {
                path: self.path(series),
                source,
            })
    }

    /// Every series that has a watermark file, read from the paths (a torn or unreadable file
    /// still names its series, and is repaired from the table when the series runs).
    pub fn keys(&self) -> Vec<SeriesKey> {
        let mut keys: Vec<SeriesKey> = self
            .files()
            .iter()
            .filter_map(|name| {
                let parts: Vec<&str> = name.split('/').collect();
                let [provider, pair, file] = parts.as_slice() else {
                    return None;
                };
                Some(SeriesKey {
                    provider: ProviderId::parse(provider)?,
                    pair: pair.to_string(),
                    timeframe: file.strip_suffix(".json")?.parse().ok()?,
                })
            })
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Every valid watermark under the store, sorted by series.
    pub fn all(&self) -> Vec<Watermark> {
        let mut marks: Vec<Watermark> = self
            .files()
            .iter()
            .filter_map(|name| self.store.get(&format!("{DIR}/{name}")).ok().flatten())
            .filter_map(|b| serde_json::from_slice::<Watermark>(&b).ok())
            .filter(|w| w.series().is_some())
            .collect();
        marks.sort_by_key(|w| w.series());
        marks
    }

    /// The names of the watermark files, relative to `watermarks/`; none when it cannot be
    /// listed.
    fn files(&self) -> Vec<String> {
        match self.store.list_all(DIR) {
            Ok(entries) => entries
                .into_iter()
                .map(|e| e.name)
                .filter(|n| n.ends_with(".json"))
                .collect(),
            Err(e) => {
                tracing::warn!(dir = %self.store.show(DIR), "Could not list the watermarks: {e}.");
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    /// Files written before reasons existed (`{from, to}`) still read, and a reason is written
    /// only when there is one.
    #[test]
    fn unreachable_entries_read_with_or_without_a_reason() {
        let old = r#"[{"from": "2015-01-01T00:00:00Z", "to": "2023-05-01T00:00:00Z"}]"#;
        let read: Vec<Unreachable> = serde_json::from_str(old).unwrap();
        let range = TimeRange::new(at("2015-01-01T00:00:00Z"), at("2023-05-01T00:00:00Z"));
        assert_eq!(read, [Unreachable::new(range, None)]);
        let listed = Unreachable::new(range, Some(UnreachableReason::BeforeListing));
        assert_eq!(
            serde_json::to_value([Unreachable::new(range, None), listed]).unwrap(),
            serde_json::json!([
                {"from": "2015-01-01T00:00:00Z", "to": "2023-05-01T00:00:00Z"},
                {"from": "2015-01-01T00:00:00Z", "to": "2023-05-01T00:00:00Z", "reason": "before_listing"}
            ])
        );
    }
}
