//! Rewriting files of a table in one commit: the file batches of a series (partition columns
//! restored), compaction of small files, and the replacement of changed candles (`refetch`).
//! Every rewrite removes the old files and adds the new ones atomically.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use deltalake::arrow::array::{
    ArrayRef, AsArray, BooleanArray, Date32Array, RecordBatch, StringArray,
};
use deltalake::arrow::compute::{concat_batches, filter_record_batch};
use deltalake::arrow::datatypes::TimestampMicrosecondType;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, LogicalFileView};
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};
use object_store::ObjectStoreExt as _;

use super::schema::arrow_schema;
use super::table::{DeltaSink, SinkError};
use crate::model::{Lineage, Row};
use crate::providers::Timeframe;

/// The partition a file belongs to and the provider its rows come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct FileGroup {
    pub(super) partition_date: String,
    pub(super) asset_pair: String,
    pub(super) provider: String,
}

/// A file's statistics from the log (`numRecords`, `minValues`, `maxValues`), or `null`.
pub(super) fn file_stats(file: &LogicalFileView) -> serde_json::Value {
    file.stats()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

pub(super) fn group_of(file: &LogicalFileView) -> FileGroup {
    let parts = file.partition_values_map();
    let part = |k: &str| parts.get(k).cloned().flatten().unwrap_or_default();
    let stats = file_stats(file);
    let provider = stats["minValues"]["source_provider"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    FileGroup {
        partition_date: part("partition_date"),
        asset_pair: part("partition_asset_pair"),
        provider,
    }
}

/// Whether a file's timestamp statistics overlap `[start, end)`; unknown statistics overlap.
pub(super) fn overlaps(file: &LogicalFileView, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    let stats = file_stats(file);
    let bound = |k: &str| {
        stats[k]["timestamp"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.to_utc())
    };
    match (bound("minValues"), bound("maxValues")) {
        (Some(min), Some(max)) => min < end && max >= start,
        _ => true,
    }
}

/// A file's rows as one batch of the full table schema (partition columns restored).
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
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>()?;
    let data = concat_batches(&data_schema, &batches)?;
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

/// What a compaction did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Compacted {
    pub files_before: usize,
    pub files_after: usize,
    pub rows: usize,
}

impl DeltaSink {
    /// Writes `batches` and commits them with `removes` in one commit.
    async fn commit_rewrite(
        &self,
        table: &mut DeltaTable,
        removes: Vec<Action>,
        batches: Vec<RecordBatch>,
        operation: DeltaOperation,
        data_change: bool,
    ) -> Result<u64, DeltaTableError> {
        let mut writer = RecordBatchWriter::for_table(table)?;
        for batch in batches.into_iter().filter(|b| b.num_rows() > 0) {
            writer.write(batch).await?;
        }
        let mut actions = removes;
        actions.extend(writer.flush().await?.into_iter().map(|mut add| {
            add.data_change = data_change;
            Action::Add(add)
        }));
        let finalized = CommitBuilder::default()
            .with_actions(actions)
            .build(Some(table.snapshot()?), table.log_store(), operation)
            .await?;
        table.state = Some(finalized.snapshot());
        Ok(finalized.version())
    }

    /// Rewrites every partition group holding more than one file as a single file. Rows are
    /// unchanged; the commit is marked as not changing data.
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
        let (mut removes, mut batches) = (Vec::new(), Vec::new());
        for group in groups.values() {
            if group.len() < 2 {
                report.files_after += group.len();
                continue;
            }
            let mut parts = Vec::new();
            for f in group {
                parts.push(file_batch(&table, f).await.map_err(&err)?);
                removes.push(Action::Remove(f.remove_action(false)));
            }
            let merged = concat_batches(&arrow_schema(), &parts).map_err(|e| err(e.into()))?;
            report.rows += merged.num_rows();
            report.files_after += 1;
            batches.push(merged);
        }
        if !removes.is_empty() {
            let operation = DeltaOperation::Optimize {
                predicate: None,
                target_size: 0,
            };
            self.commit_rewrite(&mut table, removes, batches, operation, false)
                .await
                .map_err(&err)?;
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
        let version = self
            .commit_rewrite(&mut table, removes, batches, operation, true)
            .await
            .map_err(&err)?;
        Ok(Some(version))
    }

    /// Removes files no commit references any more (vacuum in full mode, which also finds the
    /// orphans a crash leaves) older than `retention`, then writes a checkpoint and removes
    /// expired log files.
    pub async fn vacuum_and_checkpoint(
        &self,
        tf: Timeframe,
        retention: chrono::TimeDelta,
    ) -> Result<Vec<String>, SinkError> {
        let err = self.delta_err(tf);
        let Some(table) = self.load(tf).await? else {
            return Ok(Vec::new());
        };
        let (table, metrics) = table
            .vacuum()
            .with_mode(deltalake::operations::vacuum::VacuumMode::Full)
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .await
            .map_err(&err)?;
        deltalake::checkpoints::create_checkpoint(&table, None)
            .await
            .map_err(&err)?;
        // Commit files older than the table's log retention (30 days by default) and older than
        // a checkpoint are no longer needed to read it: the append path leaves them to this.
        deltalake::checkpoints::cleanup_metadata(&table, None)
            .await
            .map_err(&err)?;
        Ok(metrics.files_deleted)
    }
}
