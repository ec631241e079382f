//! The append path's handle on one table: its metadata, the coverage marks it has seen, and
//! commits written straight to the Delta log. It never loads the table's file list, so the
//! memory and time of a commit do not grow with the number of files the table holds.

use std::collections::{HashMap, HashSet};
use std::num::NonZero;
use std::sync::Arc;

use delta_kernel::{Engine, Snapshot as KernelSnapshot};
use delta_kernel_engine::DefaultEngineBuilder;
use delta_kernel_engine::executor::tokio::{TokioBackgroundExecutor, TokioMultiThreadExecutor};
use deltalake::kernel::transaction::{CommitData, TransactionError};
use deltalake::kernel::{Action, Add, Metadata, Transaction};
use deltalake::logstore::{CommitOrBytes, LogStoreRef};
use deltalake::protocol::DeltaOperation;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{BlindDeltaTable, DeltaTableError, Path};
use futures::TryStreamExt;
use object_store::ObjectStoreExt as _;

use super::batch;
use super::stats::FileStats;
use crate::model::{Lineage, Row, TimeRange, rfc3339};

/// The `commitInfo` key naming the DLQ files whose window a commit holds.
pub(super) const DLQ_INFO: &str = "candlelake.dlq";

/// The `commitInfo` key of the series' coverage before a commit naming DLQ files
/// (`{"start", "end"}`): the rejects inside it are another run's to record.
pub(super) const DLQ_HELD_INFO: &str = "candlelake.dlqHeld";

/// Delta's default when a table does not set `delta.checkpointInterval`.
const DEFAULT_CHECKPOINT_INTERVAL: u64 = 100;

/// Log files the kernel reads at once. Its default (1000) holds a JSON decoder per commit file
/// since the last checkpoint, about 1.5 MB each: 150 MB for every checkpoint written at the
/// default interval of 100.
const LOG_READAHEAD: NonZero<usize> = NonZero::new(8).expect("non-zero");

/// One table as the append path sees it, valid at `version`.
pub(super) struct AppendLog {
    table: BlindDeltaTable,
    /// Replays the log for marks and checkpoints, with bounded readahead.
    engine: Arc<dyn Engine>,
    version: u64,
    /// A kernel snapshot at the version of the first lookup; marks the cache lacks are looked
    /// up there.
    base: Option<Arc<KernelSnapshot>>,
    /// `txn` versions at `version`: every mark of every commit after `base`, and those looked
    /// up in it.
    marks: HashMap<String, Option<i64>>,
}

impl AppendLog {
    pub(super) async fn open(log_store: LogStoreRef) -> Result<Self, DeltaTableError> {
        let table = BlindDeltaTable::try_new_with_log_store(log_store).await?;
        let store = table.log_store().root_object_store(None);
        let handle = tokio::runtime::Handle::current();
        let engine: Arc<dyn Engine> = match handle.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::CurrentThread => Arc::new(
                DefaultEngineBuilder::new(store)
                    .with_task_executor(Arc::new(TokioBackgroundExecutor::new()))
                    .with_buffer_size(LOG_READAHEAD)
                    .build(),
            ),
            _ => Arc::new(
                DefaultEngineBuilder::new(store)
                    .with_task_executor(Arc::new(TokioMultiThreadExecutor::new(handle)))
                    .with_buffer_size(LOG_READAHEAD)
                    .build(),
            ),
        };
        Ok(AppendLog {
            engine,
            version: table.version(),
            table,
            base: None,
            marks: HashMap::new(),
        })
    }

    /// The version of the table this log has read up to.
    pub(super) fn version(&self) -> u64 {
        self.version
    }

    pub(super) fn configuration(&self) -> &HashMap<String, String> {
        self.table.metadata().configuration()
    }

    /// The table's metadata at `version`.
    pub(super) fn metadata(&self) -> &Metadata {
        self.table.metadata()
    }

    /// The latest `txn` version of `app_id`.
    pub(super) async fn mark(&mut self, app_id: &str) -> Result<Option<i64>, DeltaTableError> {
        if let Some(known) = self.marks.get(app_id) {
            return Ok(*known);
        }
        let base = match &self.base {
            Some(base) => base.clone(),
            None => {
                let base = self.kernel_snapshot(self.version).await?;
                self.base = Some(base.clone());
                base
            }
        };
        let engine = self.engine.clone();
        let id = app_id.to_string();
        let found =
            tokio::task::spawn_blocking(move || base.get_app_id_version(&id, engine.as_ref()))
                .await
                .map_err(|e| DeltaTableError::Generic(e.to_string()))??;
        self.marks.insert(app_id.to_string(), found);
        Ok(found)
    }

    async fn kernel_snapshot(&self, version: u64) -> Result<Arc<KernelSnapshot>, DeltaTableError> {
        let engine = self.engine.clone();
        let mut root = self.table.log_store().root_url().clone();
        if !root.path().ends_with('/') {
            root.set_path(&format!("{}/", root.path()));
        }
        tokio::task::spawn_blocking(move || {
            KernelSnapshot::builder_for(root)
                .at_version(version)
                .build(engine.as_ref())
        })
        .await
        .map_err(|e| DeltaTableError::Generic(e.to_string()))?
        .map_err(DeltaTableError::from)
    }

    /// The data files the log references at `version` that the store does not have: one
    /// streamed replay of the log (paths only) and one listing of the table's objects.
    pub(super) async fn lost_files(&self) -> Result<Vec<String>, DeltaTableError> {
        let snapshot = self.kernel_snapshot(self.version).await?;
        let engine = self.engine.clone();
        let referenced = tokio::task::spawn_blocking(move || {
            let scan = snapshot.scan_builder().build()?;
            let mut paths: Vec<String> = Vec::new();
            for metadata in scan.scan_metadata(engine.as_ref())? {
                paths = metadata?.visit_scan_files(paths, |paths, file| paths.push(file.path))?;
            }
            Ok::<_, delta_kernel::Error>(paths)
        })
        .await
        .map_err(|e| DeltaTableError::Generic(e.to_string()))??;
        if referenced.is_empty() {
            return Ok(Vec::new());
        }
        let stored: HashSet<String> = self
            .table
            .log_store()
            .object_store(None)
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await?;
        let present = |p: &str| {
            [Path::parse(p).ok(), Path::from_url_path(p).ok()]
                .into_iter()
                .flatten()
                .any(|path| stored.contains(path.as_ref()))
        };
        let mut lost: Vec<String> = referenced.into_iter().filter(|p| !present(p)).collect();
        lost.sort();
        Ok(lost)
    }

    /// Writes `rows` as Parquet files under the table; returns their `add` actions.
    pub(super) async fn write_files(
        &self,
        lineage: &Lineage,
        rows: &[Row],
    ) -> Result<Vec<Add>, DeltaTableError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let batch = batch::build(lineage, rows)?;
        let mut writer = RecordBatchWriter::for_blind_appends(&self.table)?;
        writer.write(batch).await?;
        writer.flush().await
    }

    /// Writes the next version of the log: `adds` and `txns` in one commit, its `commitInfo`
    /// naming the pending DLQ files `dlq` of the same window and the coverage `held` before it.
    /// `None` when another writer took that version first; [`AppendLog::catch_up`] then reads
    /// what it committed.
    pub(super) async fn commit(
        &mut self,
        adds: &[Add],
        txns: Vec<Transaction>,
        operation: DeltaOperation,
        dlq: &[String],
        held: Option<TimeRange>,
    ) -> Result<Option<u64>, DeltaTableError> {
        let actions = adds.iter().cloned().map(Action::Add).collect();
        let mut info = HashMap::new();
        if !dlq.is_empty() {
            info.insert(DLQ_INFO.to_string(), serde_json::json!(dlq));
            if let Some(held) = held {
                info.insert(
                    DLQ_HELD_INFO.to_string(),
                    serde_json::json!({"start": rfc3339(held.start), "end": rfc3339(held.end)}),
                );
            }
        }
        self.commit_actions(actions, txns, operation, info).await
    }

    /// Writes the next version of the log with any `actions` (an import's removes and adds, a
    /// rewrite's, a change of metadata), `txns` and `info` for its `commitInfo`; `None` when
    /// another writer took that version first. A change of metadata or protocol reloads the
    /// table, as reading another writer's would.
    pub(super) async fn commit_actions(
        &mut self,
        actions: Vec<Action>,
        txns: Vec<Transaction>,
        operation: DeltaOperation,
        info: HashMap<String, serde_json::Value>,
    ) -> Result<Option<u64>, DeltaTableError> {
        let version = self.version + 1;
        let reload = actions
            .iter()
            .any(|a| matches!(a, Action::Metadata(_) | Action::Protocol(_)));
        let data = CommitData::new(actions, operation, info, txns.clone());
        let bytes = data.get_bytes()?;
        let log_store = self.table.log_store();
        let operation_id = uuid::Uuid::new_v4();
        let entry = if ["DefaultLogStore", "LakeFSLogStore"].contains(&log_store.name().as_str()) {
            CommitOrBytes::LogBytes(bytes)
        } else {
            let path = Path::from_iter(["_delta_log", &format!("_commit_{operation_id}.json.tmp")]);
            log_store
                .object_store(Some(operation_id))
                .put(&path, bytes.into())
                .await?;
            CommitOrBytes::TmpCommit(path)
        };
        match log_store
            .write_commit_entry(version, entry.clone(), operation_id)
            .await
        {
            Ok(()) => {}
            Err(TransactionError::VersionAlreadyExists(_)) => {
                if let CommitOrBytes::TmpCommit(_) = entry {
                    log_store
                        .abort_commit_entry(version, entry, operation_id)
                        .await?;
                }
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
        self.version = version;
        for txn in txns {
            self.marks.insert(txn.app_id, Some(txn.version));
        }
        self.checkpoint_if_due().await;
        if reload {
            *self = AppendLog::open(log_store).await?;
        }
        Ok(Some(version))
    }

    /// Reads the commits other writers added since `version`: their marks join the cache, and a
    /// change of metadata or protocol reloads the table. Returns whether it reloaded: files
    /// written before were written for the old metadata and must not be committed.
    pub(super) async fn catch_up(&mut self) -> Result<bool, DeltaTableError> {
        let log_store = self.table.log_store();
        let mut reload = false;
        while let Some(bytes) = log_store.read_commit_entry(self.version + 1).await? {
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let action: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
                    DeltaTableError::Generic(format!(
                        "the commit file of version {} is not valid JSON ({e})",
                        self.version + 1
                    ))
                })?;
                if let Some(txn) = action.get("txn") {
                    let app_id = txn.get("appId").and_then(|v| v.as_str());
                    let version = txn.get("version").and_then(|v| v.as_i64());
                    if let (Some(app_id), Some(version)) = (app_id, version) {
                        self.marks.insert(app_id.to_string(), Some(version));
                    }
                }
                reload |= action.get("metaData").is_some() || action.get("protocol").is_some();
            }
            self.version += 1;
        }
        if reload {
            *self = AppendLog::open(log_store).await?;
        }
        Ok(reload)
    }

    /// Whether a commit after `version`, up to the one this log has caught up with, added a
    /// data file of `pair` whose statistics say it may hold `provider`'s candles in `range`.
    pub(super) async fn added_since(
        &self,
        version: u64,
        pair: &str,
        provider: &str,
        range: TimeRange,
    ) -> Result<bool, DeltaTableError> {
        let log_store = self.table.log_store();
        for v in version + 1..=self.version {
            let Some(bytes) = log_store.read_commit_entry(v).await? else {
                continue;
            };
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let action: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
                    DeltaTableError::Generic(format!(
                        "the commit file of version {v} is not valid JSON ({e})"
                    ))
                })?;
                if added_file_may_hold(&action["add"], pair, provider, range) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Why this path must not append to the table, if it must not.
    pub(super) fn unsupported(&self) -> Option<String> {
        let protocol = serde_json::to_value(self.table.protocol()).ok()?;
        let writer_version = protocol["minWriterVersion"].as_i64().unwrap_or(0);
        let mut unsupported: Vec<String> = match protocol["writerFeatures"].as_array() {
            Some(features) => features
                .iter()
                .filter_map(|f| f.as_str())
                .filter(|f| !BLIND_APPEND_FEATURES.contains(f))
                .map(|f| format!("writer feature {f}"))
                .collect(),
            None if writer_version > 2 => vec![format!("writer protocol version {writer_version}")],
            None => Vec::new(),
        };
        if self
            .configuration()
            .contains_key("delta.setTransactionRetentionDuration")
        {
            unsupported
                .push("delta.setTransactionRetentionDuration (coverage marks would expire)".into());
        }
        (!unsupported.is_empty()).then(|| unsupported.join(", "))
    }

    /// Writes a checkpoint when this version is due one under the table's interval, as a
    /// delta-rs commit would. A failed checkpoint only costs readers time: it is logged.
    async fn checkpoint_if_due(&self) {
        let interval = self
            .table
            .table_properties()
            .checkpoint_interval
            .map_or(DEFAULT_CHECKPOINT_INTERVAL, |n| n.get());
        if !(self.version + 1).is_multiple_of(interval) {
            return;
        }
        let engine = self.engine.clone();
        let written = match self.kernel_snapshot(self.version).await {
            Ok(snapshot) => tokio::task::spawn_blocking(move || {
                snapshot.checkpoint(engine.as_ref(), None).map(|_| ())
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string())),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = written {
            tracing::warn!(
                version = self.version,
                "Could not write a Delta checkpoint; readers replay more of the log until the next one: {e}"
            );
        }
    }
}

/// Writer features a blind append honours by writing only `add` and `txn` actions with a
/// `commitInfo`. Any other (row tracking, in-commit timestamps, column mapping, constraints,
/// generated or identity columns) asks more of each commit than this path writes.
const BLIND_APPEND_FEATURES: [&str; 8] = [
    "appendOnly",
    "invariants",
    "timestampNtz",
    "domainMetadata",
    "vacuumProtocolCheck",
    "v2Checkpoint",
    "deletionVectors",
    "changeDataFeed",
];

/// Whether an `add` action (or `null`) is a file of `pair` that may hold `provider`'s candles in
/// `range`: unknown statistics may.
fn added_file_may_hold(
    add: &serde_json::Value,
    pair: &str,
    provider: &str,
    range: TimeRange,
) -> bool {
    if add["partitionValues"]["partition_asset_pair"].as_str() != Some(pair) {
        return false;
    }
    let stats = FileStats::parse(add["stats"].as_str());
    stats.may_hold_provider(provider) && stats.may_overlap(range.start, range.end)
}
