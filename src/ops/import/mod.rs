//! `candlelake import`: vendor files (Binance kline archives, Polygon minute aggregates,
//! HistData M1, generic CSV and Parquet) into the same tables, through the same validation and
//! DLQ as fetched candles. Each file is claimed by one worker, imported in one commit with its
//! mark, and recorded in `{state}/imports/`; an unchanged file is skipped, a changed one
//! replaces what it brought, and a bad file fails alone.

mod claim;
mod decode;
mod file;
pub mod formats;
mod parquet;
mod pool;
mod sort;
mod source;
pub mod state;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::Serialize;

pub use source::{SourceFile, discover};
use state::{FileState, ImportStates, Status};

use crate::plan::{PlanError, Settings};
use crate::providers::Timeframe;
use crate::report::import_progress::ImportProgress;
use crate::sink::import::ImportTables;
use crate::sink::{DeltaSink, PartitionPeriod};
use crate::state::dlq::DeadLetterQueue;
use formats::{Format, ReadOptions};

/// What to import, checked before any work.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub format: Format,
    pub files: Vec<SourceFile>,
    /// The table; else the one the format or file name says.
    pub timeframe: Option<Timeframe>,
    /// Only these pairs (canonical), when given.
    pub pairs: Option<Vec<String>>,
    /// `source_provider` of every row.
    pub source_provider: String,
    pub options: ReadOptions,
}

/// One file's outcome, as `--output json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    pub status: Status,
    /// Records the file holds (lines of candles).
    pub read: u64,
    pub rows: u64,
    pub rejects: u64,
    pub duplicates: u64,
    pub skipped: u64,
    pub error: Option<String>,
    /// Why a file was skipped when it was not for being unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub attempts: u64,
    pub duration_ms: u64,
    /// Ids of the DLQ files holding its rejects.
    pub dlq: Vec<String>,
}

impl FileReport {
    fn new(path: &str) -> Self {
        FileReport {
            path: path.to_string(),
            status: Status::Discovered,
            read: 0,
            rows: 0,
            rejects: 0,
            duplicates: 0,
            skipped: 0,
            error: None,
            note: None,
            attempts: 0,
            duration_ms: 0,
            dlq: Vec::new(),
        }
    }

    fn from_state(state: &FileState, status: Status) -> Self {
        FileReport {
            status,
            rows: state.rows,
            rejects: state.rejects,
            duplicates: state.duplicates,
            attempts: state.attempts,
            ..FileReport::new(&state.path)
        }
    }

    fn failed(mut self, error: String) -> Self {
        self.status = Status::Failed;
        self.error = Some(error);
        self
    }
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub status: &'static str,
    pub ingestion_id: String,
    pub total_rows: u64,
    pub total_rejects: u64,
    pub files: Vec<FileReport>,
}

impl ImportReport {
    fn new(ingestion_id: &str, files: Vec<FileReport>) -> Self {
        let failed = files.iter().filter(|f| f.status == Status::Failed).count();
        let status = match failed {
            0 => "success",
            n if n == files.len() => "error",
            _ => "partial",
        };
        ImportReport {
            status,
            ingestion_id: ingestion_id.to_string(),
            total_rows: files
                .iter()
                .filter(|f| f.status == Status::Success)
                .map(|f| f.rows)
                .sum(),
            total_rejects: files
                .iter()
                .filter(|f| f.status == Status::Success)
                .map(|f| f.rejects)
                .sum(),
            files,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.status == "success"
    }
}

/// Files being read while the file before them is committed: two, one per core, so that
/// parsing (one thread per file) keeps both cores busy beside the encoding of the commit.
const READ_AHEAD: usize = 2;

/// What every file of one run shares.
struct Importer<'a> {
    request: &'a ImportRequest,
    sink: &'a DeltaSink,
    explicit_periods: &'a HashMap<Timeframe, PartitionPeriod>,
    tables: ImportTables,
    states: ImportStates,
    claims: claim::Claims,
    dlq: DeadLetterQueue,
    ingestion_id: &'a str,
    source_provider: &'a str,
    progress: &'a ImportProgress,
    periods: HashMap<Timeframe, PartitionPeriod>,
    buffers: Arc<pool::Buffers>,
}

impl Importer<'_> {
    /// Records every listed file never seen before as `discovered`, under its claim so that a
    /// worker already importing it is not overwritten. A state that cannot be written here is
    /// reported when the file itself is imported.
    async fn discover_all(&self) {
        for file in &self.request.files {
            let location = file.location();
            let key = state::key_of(&location);
            if let Ok(Some(claim)) = self.claims.try_take(&key).await {
                if self.states.load(&key).is_none() {
                    let _ = self
                        .states
                        .save(&key, &FileState::discovered(&location, file));
                }
                self.claims.release(claim).await;
            }
        }
    }

    /// The partition period of the table of `tf`: the recorded one, else the configured one.
    async fn period(&mut self, tf: Timeframe) -> Result<PartitionPeriod, String> {
        if let Some(period) = self.periods.get(&tf) {
            return Ok(*period);
        }
        let explicit = self.explicit_periods.contains_key(&tf);
        let period = self
            .sink
            .partition_period(tf, explicit)
            .await
            .map_err(|e| e.to_string())?;
        self.periods.insert(tf, period);
        Ok(period)
    }
}

/// Imports every file of `request`, committed one at a time in order, each alone: a failing
/// file is reported and the next one goes on. The next `READ_AHEAD` files are claimed, planned
/// and read while a file is committed. `stop` is asked between files (SIGINT/SIGTERM).
pub async fn import(
    settings: &Settings,
    request: &ImportRequest,
    ingestion_id: &str,
    progress: &ImportProgress,
    stop: impl Fn() -> bool,
) -> Result<ImportReport, PlanError> {
    let sink = DeltaSink::new(&settings.lake, settings.partition_periods.clone());
    let states = ImportStates::new(&settings.state_dir);
    let claims = claim::Claims::new(&settings.lake, &settings.state_dir).map_err(PlanError)?;
    let mut importer = Importer {
        request,
        sink: &sink,
        explicit_periods: &settings.partition_periods,
        tables: ImportTables::default(),
        states,
        claims,
        dlq: DeadLetterQueue::new(&settings.state_dir),
        ingestion_id,
        source_provider: &request.source_provider,
        progress,
        periods: HashMap::new(),
        buffers: Arc::new(pool::Buffers::new(READ_AHEAD + 1)),
    };
    importer.discover_all().await;
    let mut reports = Vec::with_capacity(request.files.len());
    let mut pending = VecDeque::with_capacity(READ_AHEAD + 1);
    for file in &request.files {
        if stop() {
            break;
        }
        pending.push_back(importer.prepare(file).await);
        if pending.len() > READ_AHEAD
            && let Some(prepared) = pending.pop_front()
        {
            reports.push(importer.complete(prepared).await);
        }
    }
    while let Some(prepared) = pending.pop_front() {
        reports.push(importer.complete(prepared).await);
    }
    progress.finish();
    Ok(ImportReport::new(ingestion_id, reports))
}
