//! The replay ledger `{state}/dlq/replayed.jsonl`: one line per replayed (file id, record
//! index), so a second `dlq replay` writes nothing. Appended and synced after the commit.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::DeadLetterQueue;

/// One replayed record.
#[derive(Debug, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: String,
    pub index: usize,
    /// Whether the replay wrote it (false: the table already held that candle).
    pub written: bool,
    pub replayed_at: DateTime<Utc>,
}

/// The ledger of a queue.
pub struct Ledger {
    path: PathBuf,
}

impl Ledger {
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Every (file id, record index) replayed so far.
    pub fn replayed(&self) -> HashSet<(String, usize)> {
        fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<LedgerEntry>(l).ok())
            .map(|r| (r.id, r.index))
            .collect()
    }

    /// Appends `entries` and syncs the file.
    pub fn append(&self, entries: &[LedgerEntry]) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for e in entries {
            text += &serde_json::to_string(e).expect("a ledger line serialises");
            text.push('\n');
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    }
}

impl DeadLetterQueue {
    pub fn ledger(&self) -> Ledger {
        Ledger {
            path: self.dir().join("replayed.jsonl"),
        }
    }
}
