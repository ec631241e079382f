//! Per-file state in `{state}/imports/{key}.json`, one file per source file, written atomically:
//! the file's path, size, version (modification time), status, rows, rejects, error, attempts
//! and duration; and what the table needs to finish or replace the file's import: the mark
//! version of the attempt, its ingestion id and the rows' footprint.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::sink::import::Footprint;
use crate::state::store::StateStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Discovered,
    Processing,
    Success,
    Failed,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Discovered => "discovered",
            Status::Processing => "processing",
            Status::Success => "success",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// What is known about one source file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    pub path: String,
    pub size: u64,
    /// Modification time (ns since the epoch) of the version last seen.
    pub version: String,
    pub status: Status,
    pub rows: u64,
    pub rejects: u64,
    pub duplicates: u64,
    pub error: Option<String>,
    pub attempts: u64,
    pub duration_ms: u64,
    /// The table the file's rows go to.
    pub timeframe: Option<String>,
    /// The `txn` version the current attempt commits, and the run that makes it.
    pub mark: Option<i64>,
    pub ingestion_id: Option<String>,
    /// What the last committed version of the file brought, per pair.
    pub footprint: Vec<Footprint>,
}

impl FileState {
    /// A file seen for the first time.
    pub fn discovered(path: &str, file: &super::SourceFile) -> Self {
        FileState {
            path: path.to_string(),
            size: file.size,
            version: file.version.clone(),
            status: Status::Discovered,
            rows: 0,
            rejects: 0,
            duplicates: 0,
            error: None,
            attempts: 0,
            duration_ms: 0,
            timeframe: None,
            mark: None,
            ingestion_id: None,
            footprint: Vec::new(),
        }
    }
}

/// The directory of per-file states.
#[derive(Debug, Clone)]
pub struct ImportStates {
    store: StateStore,
}

/// A short stable key for a source path: the first 16 bytes of its SHA-256, in hex.
pub fn key_of(location: &str) -> String {
    hex::encode(&Sha256::digest(location.as_bytes())[..16])
}

impl ImportStates {
    pub fn new(state_dir: &StateStore) -> Self {
        ImportStates {
            store: state_dir.clone(),
        }
    }

    /// The directory of the states, as a message shows it.
    pub fn dir(&self) -> String {
        self.store.show("imports")
    }

    fn path(key: &str) -> String {
        format!("imports/{key}.json")
    }

    /// The state of a file; `None` when it was never seen. A torn or unreadable state file is
    /// treated as absent: the table's mark says what was committed.
    pub fn load(&self, key: &str) -> Option<FileState> {
        let bytes = self.store.get(&Self::path(key)).ok()??;
        match serde_json::from_slice(&bytes) {
            Ok(state) => Some(state),
            Err(e) => {
                tracing::warn!(file = %self.store.show(&Self::path(key)), "The import state file cannot be read ({e}); the table's mark decides what is done.");
                None
            }
        }
    }

    pub fn save(&self, key: &str, state: &FileState) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(state).expect("a state serialises");
        bytes.push(b'\n');
        self.store.put(&Self::path(key), &bytes, "mid_import_state")
    }
}
