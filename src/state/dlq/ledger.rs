//! The replay ledger `{state}/dlq/replayed.jsonl`: one line per replayed (file id, record
//! index), so a second `dlq replay` writes nothing. Appended and synced after the commit.

use std::collections::HashSet;
use std::io;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::DeadLetterQueue;
use crate::state::store::StateStore;

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
    store: StateStore,
}

const KEY: &str = "dlq/replayed.jsonl";

impl Ledger {
    /// Where the ledger is, as a message shows it.
    pub fn path(&self) -> String {
        self.store.show(KEY)
    }

    /// Every (file id, record index) replayed so far.
    pub fn replayed(&self) -> HashSet<(String, usize)> {
        let bytes = self.store.get(KEY).ok().flatten().unwrap_or_default();
        String::from_utf8_lossy(&bytes)
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
        self.store.append(KEY, text.as_bytes())
    }
}

impl DeadLetterQueue {
    pub fn ledger(&self) -> Ledger {
        Ledger {
            store: self.store.clone(),
        }
    }
}
