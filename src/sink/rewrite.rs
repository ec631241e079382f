//! Rewriting files of a table in one commit: the file batches of a series (partition columns
//! restored), compaction of small files, and the replacement of changed candles (`refetch`).
//! Every rewrite removes the old files and adds the new ones atomically.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use deltalake::arrow::array::{
    ArrayRef, AsArray, BooleanArray, Date32Array, RecordBatch, StringArray,
};
use deltalake::arrow::compute::{cast, concat_batches, filter_record_batch};
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::datatypes::TimestampMicrosecondType;
use deltalake::kernel::transaction::TransactionError;
use deltalake::kernel::{Action, LogicalFileView, MetadataExt as _};
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::table::config::TablePropertiesExt as _;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};
use object_store::ObjectStoreExt as _;

use super::deleted::{deleted_rows, live};
use super::schema::{STATS_COLUMNS, STATS_PROPERTY, arrow_schema};
use super::stats::FileStats;
use super::table::{COMMIT_TRIES, DeltaSink, LostFiles, SinkError, lost_race_pause};
use crate::model::{Lineage, Row};
use crate::providers::Timeframe;

/// The partition a file belongs to and the provider its rows come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct FileGroup {
    pub(super) partition_date: String,
    pub(super) asset_pair: String,
    pub(super) provider: String,
}

/// The pair a data file holds, from its partition value.
pub(super) fn pair_of(file: &LogicalFileView) -> Option<String> {
    file.partition_values_map()
        .remove("partition_asset_pair")
        .flatten()
}

pub(super) fn group_of(file: &LogicalFileView) -> FileGroup {
    let parts = file.partition_values_map();
    let part = |k: &str| parts.get(k).cloned().flatten().unwrap_or_default();
    let provider = FileStats::of(file).providers.0.unwrap_or_default();
    FileGroup {
        partition_date: part("partition_date"),
        asset_pair: part("partition_asset_pair"),
        provider,
    }
}

/// Whether a file's timestamp statistics overlap `[start, end)`; unknown statistics overlap.
pub(super) fn overlaps(file: &LogicalFileView, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    FileStats::of(file).may_overlap(start, end)
}

/// A file's live rows as one batch of the full table schema (partition columns restored): the
/// rows its deletion vector marks deleted are left out.
pub(super) async fn file_batch(
    table: &DeltaTable,
    file: &LogicalFileView,
) -> Result<RecordBatch, DeltaTableError> {
    let bytes = table
        .object_store()
        .get(&file.object_store_path())
        .await?
        .bytes()
        .await?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    let schema = arrow_schema();
    let data_schema =
        Arc::new(schema.project(&(0..schema.fields().len() - 2).collect::<Vec<_>>())?);
    let batches: Vec<RecordBatch> = reader
        .map(|batch| conform(batch?, &data_schema))
        .collect::<Result<_, _>>()?;
    let mut data = concat_batches(&data_schema, &batches)?;
    let deleted = deleted_rows(table, file).await?;
    if !deleted.is_empty() {
        data = filter_record_batch(&data, &live(&deleted, data.num_rows()))?;
    }
    let n = data.num_rows();
    let group = group_of(file);
    let date = NaiveDate::parse_from_str(&group.partition_date, "%Y-%m-%d").map_err(|e| {
        DeltaTableError::Generic(format!("bad partition date {}: {e}", group.partition_date))
    })?;
    let days = (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32;
    let mut columns: Vec<ArrayRef> = data.columns().to_vec();
    columns.push(Arc::new(Date32Array::from(vec![days; n])));
    columns.push(Arc::new(StringArray::from(vec![
        group.asset_pair.as_str();
        n
    ])));
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// A batch with the table's columns in the table's order and Arrow types: another tool may
/// write the same Delta types as `Utf8View` strings or in another column order.
fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, DeltaTableError> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let column = batch.column_by_name(field.name()).ok_or_else(|| {
                DeltaTableError::Generic(format!("a data file has no {} column", field.name()))
            })?;
            Ok(cast(column, field.data_type())?)
        })
        .collect::<Result<Vec<ArrayRef>, DeltaTableError>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The actions of one rewrite: the files it removes, the rows it writes instead, and how the
/// log describes it.
pub(super) struct Rewrite {
    pub(super) removes: Vec<Action>,
    pub(super) batches: Vec<RecordBatch>,
    pub(super) operation: DeltaOperation,
    /// How the adds are marked: `true` but for a compaction of an append-only table (see
    /// `compact`).
    pub(super) data_change: bool,
    /// Whether the table may reference files the store lost: only a repair's, which removes
    /// them.
    pub(super) lost_files: LostFiles,
}

/// What a compaction did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Compacted {
    pub files_before: usize,
    pub files_after: usize,
    pub rows: usize,
}

impl DeltaSink {
    /// Commits a rewrite read from `table`'s snapshot: `removes` and the files `batches` are
    /// written to, in one commit written to the log as appends are (the table must be one the
    /// append path can write to). When another writer committed first, the rewrite is rebased
    /// only if every file it removes is still in the table and no new file is one `conflicts`
    /// says it should have read; otherwise nothing is committed. delta-rs's own conflict check
    /// is not used: it ignores a winning commit's removes marked `dataChange: false`, so two
    /// compactions of one partition would both land and duplicate its rows. Nor is its protocol
    /// check: without its SQL engine it refuses every table that lists `invariants`, as Spark
    /// lists it on every table it gives deletion vectors.
    pub(super) async fn commit_rewrite(
        &self,
        tf: Timeframe,
        table: &mut DeltaTable,
        rewrite: Rewrite,
        conflicts: impl Fn(&LogicalFileView) -> bool,
    ) -> Result<u64, SinkError> {
        let err = self.delta_err(tf);
        let snapshot = table.snapshot().map_err(&err)?;
        let refused = |reason: &str| SinkError::Unsupported {
            table: self.location(tf),
            reason: reason.to_string(),
        };
        // Whole files removed are a change data feed's deletes as they are (readers derive them);
        // rows written again would need change data files.
        let writes_rows = rewrite.batches.iter().any(|b| b.num_rows() > 0);
        if writes_rows && snapshot.table_config().enable_change_data_feed() {
            return Err(refused(
                "delta.enableChangeDataFeed (a rewrite writes no change data files)",
            ));
        }
        let removes_rows = rewrite
            .removes
            .iter()
            .any(|a| matches!(a, Action::Remove(r) if r.data_change));
        if removes_rows && snapshot.table_config().append_only() {
            return Err(refused(
                "delta.appendOnly (a refetch or a repair removes rows)",
            ));
        }
        let read: HashSet<String> = snapshot
            .log_data()
            .iter()
            .map(|f| f.path().to_string())
            .collect();
        let removed: Vec<String> = rewrite
            .removes
            .iter()
            .filter_map(|a| match a {
                Action::Remove(r) => Some(r.path.clone()),
                _ => None,
            })
            .collect();
        let mut writer = RecordBatchWriter::for_table(table).map_err(&err)?;
        for batch in rewrite.batches.into_iter().filter(|b| b.num_rows() > 0) {
            writer.write(batch).await.map_err(&err)?;
        }
        let mut actions = rewrite.removes;
        actions.extend(
            writer
                .flush()
                .await
                .map_err(&err)?
                .into_iter()
                .map(|mut add| {
                    add.data_change = rewrite.data_change;
                    Action::Add(add)
                }),
        );
        let mut read_at = table.version().unwrap_or_default();
        let committed = self
            .on_log_with(tf, None, rewrite.lost_files, async |log| {
                for tries in 1..=COMMIT_TRIES {
                    if log.version() != read_at {
                        table
                            .update_incremental(Some(log.version()))
                            .await
                            .map_err(&err)?;
                        read_at = log.version();
                        let files: Vec<LogicalFileView> =
                            table.snapshot().map_err(&err)?.log_data().iter().collect();
                        let active: HashSet<String> =
                            files.iter().map(|f| f.path().to_string()).collect();
                        let stale = removed.iter().any(|p| !active.contains(p));
                        let unread = files
                            .iter()
                            .any(|f| !read.contains(f.path().as_ref()) && conflicts(f));
                        if stale || unread {
                            return Err(SinkError::Rewritten {
                                table: self.location(tf),
                            });
                        }
                    }
                    let operation = rewrite.operation.clone();
                    let info = std::collections::HashMap::new();
                    if let Some(version) = log
                        .commit_actions(actions.clone(), Vec::new(), operation, info)
                        .await
                        .map_err(&err)?
                    {
                        return Ok(version);
                    }
                    lost_race_pause(tries).await;
                    if self.catch_up(log, tf).await? {
                        // The table's metadata changed: the files were written for the old one.
                        return Err(SinkError::Rewritten {
                            table: self.location(tf),
                        });
                    }
                }
                Err(SinkError::Busy {
                    table: self.location(tf),
                })
            })
            .await?;
        committed.ok_or_else(|| err(DeltaTableError::NotATable(self.location(tf))))
    }

    /// Rewrites every partition group holding more than one file, or a file with a deletion
    /// vector, as a single file of its live rows: the rows another tool deleted are left out,
    /// never written back.
    ///
    /// The commit's removes and adds are marked `dataChange: true`, though the rows are the
    /// same. delta-rs (Python `optimize.compact()` and others on deltalake-core 1.x) checks its
    /// own commit only against a winning commit's removes marked `dataChange: true`: had this
    /// compaction won with `false`, delta-rs's losing compaction of the same files would land
    /// too and every row of them would be in the table twice. With `true` it fails with a
    /// conflict instead (Spark's conflict checker fails it either way). The cost: a Delta
    /// streaming reader sees the compaction as a change of data, so a Spark stream on the table
    /// needs `skipChangeCommits` (a table with a change data feed is not rewritten at all, see
    /// `commit_rewrite`). Metadata or protocol actions would make delta-rs fail too, but would
    /// also fail every other concurrent writer. `gaps` still knows the rows are kept: it goes by the
    /// operation (`OPTIMIZE`), not by `dataChange`. An append-only table takes no remove marked
    /// `dataChange: true`: there the compaction marks them `false`, as the protocol asks.
    pub async fn compact(&self, tf: Timeframe) -> Result<Compacted, SinkError> {
        let err = self.delta_err(tf);
        let Some(mut table) = self.load(tf).await? else {
            return Ok(Compacted::default());
        };
        let files: Vec<LogicalFileView> =
            table.snapshot().map_err(&err)?.log_data().iter().collect();
        let mut groups: BTreeMap<FileGroup, Vec<LogicalFileView>> = BTreeMap::new();
        for f in files {
            groups.entry(group_of(&f)).or_default().push(f);
        }
        let mut report = Compacted {
            files_before: groups.values().map(Vec::len).sum(),
            ..Compacted::default()
        };
        // An append-only table takes no remove marked as a change of data.
        let data_change = !table.snapshot().map_err(&err)?.table_config().append_only();
        let (mut removes, mut batches) = (Vec::new(), Vec::new());
        for group in groups.values() {
            let purged = group
                .iter()
                .any(|f| f.deletion_vector_descriptor().is_some());
            if group.len() < 2 && !purged {
                report.files_after += group.len();
                continue;
            }
            let mut parts = Vec::new();
            for f in group {
                parts.push(file_batch(&table, f).await.map_err(&err)?);
                removes.push(Action::Remove(f.remove_action(data_change)));
            }
            let merged = concat_batches(&arrow_schema(), &parts).map_err(|e| err(e.into()))?;
            report.rows += merged.num_rows();
            report.files_after += usize::from(merged.num_rows() > 0);
            batches.push(merged);
        }
        if !removes.is_empty() {
            let operation = DeltaOperation::Optimize {
                predicate: None,
                target_size: 0,
            };
            let rewrite = Rewrite {
                removes,
                batches,
                operation,
                data_change,
                lost_files: LostFiles::Refused,
            };
            self.commit_rewrite(tf, &mut table, rewrite, |_| false)
                .await?;
        }
        Ok(report)
    }

    /// Replaces the rows of a series at the open times in `replaced` by `rows` (which may also
    /// hold new open times), in one commit that removes the affected files and adds their
    /// rewrites. Other rows keep every cell.
    pub async fn replace(
        &self,
        lineage: &Lineage,
        range: (DateTime<Utc>, DateTime<Utc>),
        replaced: &[DateTime<Utc>],
        rows: &[Row],
    ) -> Result<Option<u64>, SinkError> {
        let series = &lineage.series;
        let tf = series.timeframe;
        let err = self.delta_err(tf);
        let Some(mut table) = self.load(tf).await? else {
            return Ok(None);
        };
        let files: Vec<LogicalFileView> =
            table.snapshot().map_err(&err)?.log_data().iter().collect();
        let new_rows = super::batch::build(lineage, rows).map_err(|e| err(e.into()))?;
        let (mut removes, mut batches) = (Vec::new(), vec![new_rows]);
        let replaced_micros: std::collections::HashSet<i64> =
            replaced.iter().map(|t| t.timestamp_micros()).collect();
        for f in files {
            let g = group_of(&f);
            if g.asset_pair != series.pair
                || g.provider != series.provider.as_str()
                || !overlaps(&f, range.0, range.1)
            {
                continue;
            }
            let batch = file_batch(&table, &f).await.map_err(&err)?;
            let times = batch.column(0).as_primitive::<TimestampMicrosecondType>();
            let keep: BooleanArray = (0..batch.num_rows())
                .map(|i| Some(!replaced_micros.contains(&times.value(i))))
                .collect();
            if keep.true_count() == batch.num_rows() {
                continue;
            }
            batches.push(filter_record_batch(&batch, &keep).map_err(|e| err(e.into()))?);
            removes.push(Action::Remove(f.remove_action(true)));
        }
        let operation = DeltaOperation::Write {
            mode: SaveMode::Overwrite,
            partition_by: None,
            predicate: Some(format!("refetch of {series}")),
        };
        let rewrite = Rewrite {
            removes,
            batches,
            operation,
            data_change: true,
            lost_files: LostFiles::Refused,
        };
        // A file another writer added for this series in the range holds candles this
        // rewrite did not read: writing on would duplicate them.
        let theirs = |f: &LogicalFileView| {
            let g = group_of(f);
            g.asset_pair == series.pair
                && g.provider == series.provider.as_str()
                && overlaps(f, range.0, range.1)
        };
        let version = self.commit_rewrite(tf, &mut table, rewrite, theirs).await?;
        Ok(Some(version))
    }

    /// Sets the table's `delta.dataSkippingStatsColumns` to today's list when it names a column
    /// that is neither a string nor a time (tables created before `is_mock` was left out:
    /// Spark refuses every ALTER TABLE on them). True when it changed the table. The new
    /// metadata is committed through the append path's log (as `commit_rewrite` commits), built
    /// from the latest metadata again after each commit another writer made first.
    pub async fn fix_stats_columns(&self, tf: Timeframe) -> Result<bool, SinkError> {
        let err = self.delta_err(tf);
        let wanted: HashSet<&str> = STATS_COLUMNS.split(',').collect();
        let fixed = self
            .on_log(tf, None, async |log| {
                for tries in 1..=COMMIT_TRIES {
                    let listed = log.configuration().get(STATS_PROPERTY);
                    if listed.is_none_or(|l| l.split(',').all(|c| wanted.contains(c.trim()))) {
                        return Ok(false);
                    }
                    let setting = (STATS_PROPERTY.to_string(), STATS_COLUMNS.to_string());
                    let metadata = log
                        .metadata()
                        .clone()
                        .add_config_key(setting.0.clone(), setting.1.clone())
                        .map_err(|e| err(e.into()))?;
                    let operation = DeltaOperation::SetTableProperties {
                        properties: std::collections::HashMap::from([setting]),
                    };
                    let actions = vec![Action::Metadata(metadata)];
                    let info = std::collections::HashMap::new();
                    if log
                        .commit_actions(actions, Vec::new(), operation, info)
                        .await
                        .map_err(&err)?
                        .is_some()
                    {
                        return Ok(true);
                    }
                    lost_race_pause(tries).await;
                    self.catch_up(log, tf).await?;
                }
                Err(SinkError::Busy {
                    table: self.location(tf),
                })
            })
            .await?;
        Ok(fixed.unwrap_or(false))
    }

    /// How long the table of `tf` keeps the files its commits removed
    /// (`delta.deletedFileRetentionDuration`, 7 days unless the table says otherwise); `None`
    /// when there is no table.
    pub async fn file_retention(
        &self,
        tf: Timeframe,
    ) -> Result<Option<chrono::TimeDelta>, SinkError> {
        let err = self.delta_err(tf);
        let Some(table) = self.load(tf).await? else {
            return Ok(None);
        };
        let kept = table
            .snapshot()
            .map_err(&err)?
            .table_config()
            .deleted_file_retention_duration();
        chrono::TimeDelta::from_std(kept)
            .map(Some)
            .map_err(|e| err(DeltaTableError::Generic(e.to_string())))
    }

    /// Removes files no commit references any more (vacuum in full mode, which also finds the
    /// orphans a crash leaves) older than `retention`, then writes a checkpoint and removes
    /// expired log files. Unless `force`, `retention` is at least the table's own.
    pub async fn vacuum_and_checkpoint(
        &self,
        tf: Timeframe,
        retention: chrono::TimeDelta,
        force: bool,
    ) -> Result<Vec<String>, SinkError> {
        let err = self.delta_err(tf);
        let Some(table) = self.load(tf).await? else {
            return Ok(Vec::new());
        };
        let vacuum = |table: DeltaTable, dry_run: bool| {
            table
                .vacuum()
                .with_mode(deltalake::operations::vacuum::VacuumMode::Full)
                .with_retention_period(retention)
                .with_enforce_retention_duration(!force)
                .with_dry_run(dry_run)
        };
        let (table, deleted) = match vacuum(table.clone(), false).await {
            Ok((table, metrics)) => (table, metrics.files_deleted),
            // delta-rs writes a vacuum's two commits (commitInfo alone) through its protocol
            // check, which without its SQL engine refuses a table listing `invariants`, as Spark
            // lists it on every table it gives deletion vectors. On a table the append path
            // writes to, the same files are deleted without those commits.
            Err(DeltaTableError::Transaction {
                source: TransactionError::UnsupportedTableFeatures(_),
            }) => {
                self.on_log(tf, None, async |_| Ok(())).await?;
                let (table, metrics) = vacuum(table, true).await.map_err(&err)?;
                // A file removed twice (re-added with a deletion vector in between) is listed
                // twice.
                let files: BTreeSet<String> = metrics.files_deleted.into_iter().collect();
                for file in &files {
                    let path = object_store::path::Path::parse(file)
                        .map_err(|e| err(DeltaTableError::Generic(e.to_string())))?;
                    match table.object_store().delete(&path).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(err(e.into())),
                    }
                }
                (table, files.into_iter().collect())
            }
            Err(e) => return Err(err(e)),
        };
        deltalake::checkpoints::create_checkpoint(&table, None)
            .await
            .map_err(&err)?;
        // Commit files older than the table's log retention (30 days by default) and older than
        // a checkpoint are no longer needed to read it: the append path leaves them to this,
        // unless the table's owner keeps its history (`delta.enableExpiredLogCleanup=false`,
        // which delta-rs's cleanup does not read).
        if table
            .snapshot()
            .map_err(&err)?
            .table_config()
            .enable_expired_log_cleanup()
        {
            deltalake::checkpoints::cleanup_metadata(&table, None)
                .await
                .map_err(&err)?;
        }
        Ok(deleted)
    }
}
