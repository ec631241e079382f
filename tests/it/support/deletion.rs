//! Rows deleted the way Spark and Databricks delete them on a table with deletion vectors: each
//! data file holding a deleted row is removed and added again with a vector marking its deleted
//! rows, serialised by the kernel's own writer (a vector file, `u`) or inline in the log (`i`).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use delta_kernel::actions::deletion_vector_writer::{
    DeletionVector, KernelDeletionVector, StreamingDeletionVectorWriter,
};
use deltalake::arrow::array::AsArray;
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Where a deletion vector is kept.
#[derive(Debug, Clone, Copy)]
pub enum Storage {
    /// In a vector file beside the data (`storageType: u`), as Spark writes most of them.
    File,
    /// In the log itself (`storageType: i`), z85-encoded.
    Inline,
}

/// The magic number of a portable RoaringBitmapArray (Delta's deletion vector format).
const PORTABLE_MAGIC: u32 = 1_681_511_377;

/// Deletes the rows of `pair` opening in `[from, to)` from the table at `table` with deletion
/// vectors in one commit (operation `DELETE`), which also gives the table's protocol the
/// feature. Returns the open times deleted, sorted.
pub fn delete_with_deletion_vectors(
    table: &Path,
    pair: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    storage: Storage,
) -> Vec<DateTime<Utc>> {
    let (adds, next) = active_adds(&table.join("_delta_log"));
    let mut actions = vec![serde_json::json!({"protocol": {
        "minReaderVersion": 3, "minWriterVersion": 7,
        "readerFeatures": ["deletionVectors"],
        "writerFeatures": ["appendOnly", "invariants", "deletionVectors"]}})];
    let mut deleted = Vec::new();
    for add in adds
        .values()
        .filter(|a| a["partitionValues"]["partition_asset_pair"] == pair)
    {
        let path = add["path"].as_str().unwrap();
        let times = physical_open_times(&table.join(path));
        let rows: Vec<u64> = (0..times.len() as u64)
            .filter(|&i| (from..to).contains(&times[i as usize]))
            .collect();
        if rows.is_empty() {
            continue;
        }
        assert!(
            add["deletionVector"].is_null(),
            "one deletion per file here"
        );
        deleted.extend(rows.iter().map(|&i| times[i as usize]));
        let mut vector = KernelDeletionVector::new();
        vector.add_deleted_row_indexes(&rows);
        let mut with_dv = add.clone();
        with_dv["deletionVector"] = descriptor(table, vector, storage);
        with_dv["dataChange"] = true.into();
        actions.push(
            serde_json::json!({"remove": {"path": path, "dataChange": true,
            "deletionTimestamp": Utc::now().timestamp_millis(), "extendedFileMetadata": true,
            "partitionValues": add["partitionValues"], "size": add["size"]}}),
        );
        actions.push(serde_json::json!({ "add": with_dv }));
    }
    assert!(!deleted.is_empty(), "no row of {pair} in [{from}, {to})");
    actions.push(serde_json::json!({"commitInfo": {"operation": "DELETE",
        "timestamp": Utc::now().timestamp_millis()}}));
    let text: String = actions.iter().map(|a| format!("{a}\n")).collect();
    std::fs::write(table.join(format!("_delta_log/{next:020}.json")), text).unwrap();
    deleted.sort();
    deleted
}

/// The `deletionVector` of an add whose rows `vector` deletes, its bytes written as `storage`
/// says.
fn descriptor(table: &Path, vector: KernelDeletionVector, storage: Storage) -> serde_json::Value {
    let cardinality = vector.cardinality();
    match storage {
        Storage::File => {
            let mut bytes = Vec::new();
            let mut writer = StreamingDeletionVectorWriter::new(&mut bytes);
            let written = writer.write_deletion_vector(vector).unwrap();
            writer.finalize().unwrap();
            let id = uuid::Uuid::new_v4();
            std::fs::write(table.join(format!("deletion_vector_{id}.bin")), bytes).unwrap();
            serde_json::json!({"storageType": "u", "pathOrInlineDv": z85::encode(id.as_bytes()),
                "offset": written.offset, "sizeInBytes": written.size_in_bytes,
                "cardinality": written.cardinality})
        }
        Storage::Inline => {
            let mut bytes = PORTABLE_MAGIC.to_le_bytes().to_vec();
            bytes.extend_from_slice(&vector.serialize().unwrap());
            serde_json::json!({"storageType": "i", "pathOrInlineDv": z85::encode(&bytes),
                "sizeInBytes": bytes.len(), "cardinality": cardinality})
        }
    }
}

/// How many files the table's JSON commits leave active with a deletion vector.
pub fn files_with_deletion_vectors(table: &Path) -> usize {
    let (adds, _) = active_adds(&table.join("_delta_log"));
    adds.values()
        .filter(|a| !a["deletionVector"].is_null())
        .count()
}

/// The `add` actions of the files the table's JSON commits leave active, by path, and the next
/// version.
fn active_adds(log: &Path) -> (BTreeMap<String, serde_json::Value>, u64) {
    let mut commits: Vec<(u64, std::path::PathBuf)> = super::walk(log)
        .into_iter()
        .filter_map(|p| {
            let version = p
                .file_name()?
                .to_str()?
                .strip_suffix(".json")?
                .parse()
                .ok()?;
            Some((version, p))
        })
        .collect();
    commits.sort();
    let mut adds = BTreeMap::new();
    for (_, commit) in &commits {
        for line in std::fs::read_to_string(commit).unwrap().lines() {
            let action: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(path) = action["remove"]["path"].as_str() {
                adds.remove(path);
            }
            if let Some(path) = action["add"]["path"].as_str() {
                adds.insert(path.to_string(), action["add"].clone());
            }
        }
    }
    (adds, commits.last().map_or(0, |(v, _)| v + 1))
}

/// The open time of every row of a data file, in the file's row order.
fn physical_open_times(file: &Path) -> Vec<DateTime<Utc>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let times = cast(
            batch.column_by_name("timestamp").unwrap(),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )
        .unwrap();
        let times = times.as_primitive::<TimestampMicrosecondType>();
        out.extend(
            times
                .values()
                .iter()
                .map(|&t| DateTime::from_timestamp_micros(t).unwrap()),
        );
    }
    out
}
