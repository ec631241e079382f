//! The dead-letter queue under `{state}/dlq/`: rejected candles (`rejects`), the old values of
//! candles `refetch` replaced (`revisions`), and the ledger of replayed records (`ledger`).
//! This file reads the queue back, naming every file it cannot read instead of skipping it.

mod imported;
mod ledger;
mod pending;
mod rejects;
mod revisions;

pub use imported::{ImportContext, LineReject};
pub use ledger::{Ledger, LedgerEntry};
pub use pending::PendingFile;
pub use rejects::DlqContext;
pub use revisions::{Change, Revision};

use std::collections::HashSet;
use std::io;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{SeriesKey, rfc3339};
use crate::providers::{ProviderId, Timeframe};
use crate::state::store::StateStore;

/// A dead-lettered record's identity: its open time as written, and its raw text.
pub type RecordKey = (Option<String>, String);

fn record_time(t: DateTime<Utc>) -> String {
    rfc3339(t)
}

/// A DLQ file as read back.
#[derive(Deserialize)]
pub struct StoredFile {
    pub timestamp: String,
    pub context: StoredContext,
    pub records: Vec<StoredRecord>,
}

#[derive(Deserialize)]
pub struct StoredContext {
    pub provider: String,
    pub asset_pair: String,
    pub timeframe: String,
    pub source_timeframe: String,
}

impl StoredContext {
    /// The series the file's rejects belong to; `None` for a provider or timeframe this
    /// version does not know.
    pub fn series(&self) -> Option<SeriesKey> {
        Some(SeriesKey {
            provider: ProviderId::parse(&self.provider)?,
            pair: self.asset_pair.clone(),
            timeframe: self.timeframe.parse::<Timeframe>().ok()?,
        })
    }
}

#[derive(Deserialize)]
pub struct StoredRecord {
    pub timestamp: Option<String>,
    pub reasons: Vec<String>,
    pub raw: Box<RawValue>,
}

/// A DLQ file that could not be read or parsed, and why.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub id: String,
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the DLQ file {} cannot be read ({}); restore it from a backup or move it out of the DLQ directory",
            self.path, self.reason
        )
    }
}

/// Every DLQ file of the queue, read once: the readable ones sorted by id, and the others.
#[derive(Default)]
pub struct Listing {
    pub files: Vec<(String, StoredFile)>,
    pub unreadable: Vec<Unreadable>,
}

impl Listing {
    /// Every record dead-lettered for a series, as (open time, raw text).
    pub fn records_of(&self, series: &SeriesKey) -> HashSet<RecordKey> {
        let infix = file_infix(series);
        self.files
            .iter()
            .filter(|(id, _)| id.contains(&infix))
            .flat_map(|(_, f)| &f.records)
            .map(|r| (r.timestamp.clone(), r.raw.get().to_string()))
            .collect()
    }
}

fn file_infix(series: &SeriesKey) -> String {
    format!(
        "-{}-{}-{}-",
        series.provider.as_str(),
        series.pair,
        series.timeframe
    )
}

#[derive(Debug, Clone)]
pub struct DeadLetterQueue {
    store: StateStore,
}

/// The queue's directory in the state dir.
const DIR: &str = "dlq";

impl DeadLetterQueue {
    pub fn new(state_dir: &StateStore) -> Self {
        DeadLetterQueue {
            store: state_dir.clone(),
        }
    }

    /// The queue's directory, as a message shows it.
    pub fn dir(&self) -> String {
        self.store.show(DIR)
    }

    /// The key of the queued file `id`.
    fn key(id: &str) -> String {
        format!("{DIR}/{id}.json")
    }

    /// The text of the queued file `id`; `None` when there is none.
    pub fn show(&self, id: &str) -> io::Result<Option<Vec<u8>>> {
        self.store.get(&Self::key(id))
    }

    /// Reads every DLQ file once. An unreadable file is listed, never skipped silently.
    pub fn list(&self) -> io::Result<Listing> {
        self.read(|_| true)
    }

    /// The files of one series only (a series run reads its own before it starts).
    pub fn list_series(&self, series: &SeriesKey) -> io::Result<Listing> {
        let infix = file_infix(series);
        self.read(|id| id.contains(&infix))
    }

    fn read(&self, wanted: impl Fn(&str) -> bool) -> io::Result<Listing> {
        let mut listing = Listing::default();
        for entry in self.store.list(DIR)? {
            let Some(id) = entry.name.strip_suffix(".json").map(str::to_string) else {
                continue;
            };
            if !wanted(&id) {
                continue;
            }
            let key = Self::key(&id);
            let parsed = match self.store.get(&key) {
                Ok(Some(b)) => serde_json::from_slice(&b).map_err(|e| e.to_string()),
                Ok(None) => Err("it went while the queue was read".to_string()),
                Err(e) => Err(e.to_string()),
            };
            match parsed {
                Ok(file) => listing.files.push((id, file)),
                Err(reason) => listing.unreadable.push(Unreadable {
                    id,
                    path: self.store.show(&key),
                    reason,
                }),
            }
        }
        listing.files.sort_by(|a, b| a.0.cmp(&b.0));
        listing.unreadable.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(listing)
    }

    /// Every record already dead-lettered for a series: a run that crashed after writing its
    /// DLQ file and before its commit refetches the same window, and must not dead-letter the
    /// same record twice. An unreadable file of the series is logged.
    pub fn known_records(&self, series: &SeriesKey) -> HashSet<RecordKey> {
        match self.list_series(series) {
            Ok(listing) => {
                for u in &listing.unreadable {
                    tracing::warn!(series = %series, "{u}.");
                }
                listing.records_of(series)
            }
            Err(e) => {
                tracing::warn!(series = %series, dir = %self.dir(), "Could not read the DLQ directory: {e}.");
                HashSet::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::providers::{ProviderId, Timeframe};

    #[test]
    fn an_unreadable_file_is_listed_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let queue = DeadLetterQueue::new(&StateStore::Local(dir.path().to_path_buf()));
        let at = dir.path().join("dlq");
        fs::create_dir_all(&at).unwrap();
        let good = r#"{"timestamp":"2024-01-01T00:00:00Z","error":"validation_failed","context":{"provider":"coinbase","asset_pair":"BTC-USD","timeframe":"1h","source_timeframe":"1h","ingestion_id":"a","request":"r"},"records":[{"timestamp":"2024-01-01T00:00:00Z","reasons":["high_below_low"],"raw":{"x":1}}]}"#;
        fs::write(at.join("a-coinbase-BTC-USD-1h-1.json"), good).unwrap();
        fs::write(at.join("a-coinbase-BTC-USD-1h-2.json"), "{\"timest").unwrap();
        fs::write(at.join("replayed.jsonl"), "").unwrap();
        let listing = queue.list().unwrap();
        assert_eq!(listing.files.len(), 1);
        assert_eq!(listing.unreadable.len(), 1);
        assert_eq!(listing.unreadable[0].id, "a-coinbase-BTC-USD-1h-2");
        let series = SeriesKey {
            provider: ProviderId::Coinbase,
            pair: "BTC-USD".into(),
            timeframe: Timeframe::H1,
        };
        assert_eq!(listing.records_of(&series).len(), 1);
    }
}
