//! Every coverage mark a table records, read in one pass over its log: the `txn` actions of
//! the newest classic checkpoint and of every commit after it, the newest per app id winning.
//! Commands that list series (`status`, `gaps`, `topup`) read them here once per table instead
//! of one lookup per series; a commit that cannot be read is named.

use std::collections::HashMap;

use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::datatypes::Int64Type;
use deltalake::logstore::LogStoreRef;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake::parquet::file::reader::ChunkReader;
use futures::TryStreamExt;
use object_store::ObjectStoreExt as _;
use object_store::path::Path;

/// Why the log could not be read, with the file at fault.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct LogError {
    pub file: String,
    pub reason: String,
}

/// A log file that matters for marks.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum LogFile {
    /// `N.json`.
    Commit(u64),
    /// Part `part` of `parts` of the checkpoint at version `N`.
    Checkpoint { version: u64, part: u32, parts: u32 },
}

pub(super) fn classify(name: &str) -> Option<LogFile> {
    let (stem, ext) = name.split_once('.')?;
    let version = stem.parse::<u64>().ok().filter(|_| stem.len() == 20)?;
    match ext.split('.').collect::<Vec<_>>()[..] {
        ["json"] => Some(LogFile::Commit(version)),
        ["checkpoint", "parquet"] => Some(LogFile::Checkpoint {
            version,
            part: 1,
            parts: 1,
        }),
        ["checkpoint", part, parts, "parquet"] => Some(LogFile::Checkpoint {
            version,
            part: part.parse().ok()?,
            parts: parts.parse().ok()?,
        }),
        _ => None,
    }
}

/// Every commit and checkpoint file of a table's log, oldest first.
pub(super) async fn log_files(
    store: &dyn object_store::ObjectStore,
) -> Result<Vec<(LogFile, Path)>, LogError> {
    let log_dir = Path::from("_delta_log");
    let entries: Vec<_> = store
        .list(Some(&log_dir))
        .try_collect()
        .await
        .map_err(|e| LogError {
            file: "_delta_log/".into(),
            reason: e.to_string(),
        })?;
    let mut files: Vec<(LogFile, Path)> = entries
        .into_iter()
        .filter_map(|m| Some((classify(m.location.filename()?)?, m.location)))
        .collect();
    files.sort();
    Ok(files)
}

/// The bytes of one log file; a failure names it.
pub(super) async fn log_bytes(
    store: &dyn object_store::ObjectStore,
    path: &Path,
) -> Result<bytes::Bytes, LogError> {
    let failed = |e: object_store::Error| LogError {
        file: path.to_string(),
        reason: e.to_string(),
    };
    store
        .get(path)
        .await
        .map_err(failed)?
        .bytes()
        .await
        .map_err(failed)
}

/// The newest `txn` version of every app id the table's log records.
pub async fn all_marks(log_store: &LogStoreRef) -> Result<HashMap<String, i64>, LogError> {
    let store = log_store.object_store(None);
    let files = log_files(store.as_ref()).await?;
    // The newest checkpoint with every part present.
    let mut parts_seen: HashMap<u64, (u32, u32)> = HashMap::new();
    for (file, _) in &files {
        if let LogFile::Checkpoint { version, parts, .. } = file {
            let seen = parts_seen.entry(*version).or_insert((0, *parts));
            seen.0 += 1;
        }
    }
    let checkpoint = parts_seen
        .iter()
        .filter(|(_, (seen, parts))| seen == parts)
        .map(|(v, _)| *v)
        .max();
    let mut marks = HashMap::new();
    for (file, path) in &files {
        let wanted = match (file, checkpoint) {
            (LogFile::Checkpoint { version, .. }, Some(c)) => *version == c,
            (LogFile::Checkpoint { .. }, None) => false,
            (LogFile::Commit(v), Some(c)) => *v > c,
            (LogFile::Commit(_), None) => true,
        };
        if !wanted {
            continue;
        }
        let bytes = log_bytes(store.as_ref(), path).await?;
        let failed = |reason: String| LogError {
            file: path.to_string(),
            reason,
        };
        match file {
            LogFile::Checkpoint { .. } => checkpoint_marks(bytes, &mut marks).map_err(failed)?,
            LogFile::Commit(_) => commit_marks(&bytes, &mut marks).map_err(failed)?,
        }
    }
    Ok(marks)
}

/// The `txn` actions of one JSON commit, one action per line.
fn commit_marks(bytes: &[u8], marks: &mut HashMap<String, i64>) -> Result<(), String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 ({e})"))?;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let action: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("line {} is not a JSON action ({e})", i + 1))?;
        if let Some(txn) = action.get("txn") {
            let (Some(app), Some(version)) = (txn["appId"].as_str(), txn["version"].as_i64())
            else {
                return Err(format!(
                    "line {} holds a txn action without appId or version",
                    i + 1
                ));
            };
            marks.insert(app.to_string(), version);
        }
    }
    Ok(())
}

/// The `txn` column of one checkpoint part.
fn checkpoint_marks(
    bytes: impl ChunkReader + 'static,
    marks: &mut HashMap<String, i64>,
) -> Result<(), String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| e.to_string())?;
    let schema = builder.parquet_schema();
    let txn_leaves: Vec<usize> = (0..schema.num_columns())
        .filter(|i| schema.column(*i).path().parts().first().map(String::as_str) == Some("txn"))
        .collect();
    if txn_leaves.is_empty() {
        return Ok(());
    }
    let mask = ProjectionMask::leaves(schema, txn_leaves);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| e.to_string())?;
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        let Some(txn) = batch.column_by_name("txn") else {
            continue;
        };
        let txn = txn.as_struct();
        let (Some(apps), Some(versions)) =
            (txn.column_by_name("appId"), txn.column_by_name("version"))
        else {
            return Err("its txn column has no appId or version".into());
        };
        let apps = apps.as_string::<i32>();
        let versions = versions.as_primitive::<Int64Type>();
        for i in (0..txn.len()).filter(|i| txn.is_valid(*i)) {
            marks.insert(apps.value(i).to_string(), versions.value(i));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_files_are_told_apart() {
        assert_eq!(
            classify("00000000000000000012.json"),
            Some(LogFile::Commit(12))
        );
        assert_eq!(
            classify("00000000000000000100.checkpoint.parquet"),
            Some(LogFile::Checkpoint {
                version: 100,
                part: 1,
                parts: 1
            })
        );
        assert_eq!(
            classify("00000000000000000100.checkpoint.0000000002.0000000003.parquet"),
            Some(LogFile::Checkpoint {
                version: 100,
                part: 2,
                parts: 3
            })
        );
        assert_eq!(classify("_last_checkpoint"), None);
        assert_eq!(classify("00000000000000000012.crc"), None);
        assert_eq!(classify("12.json"), None);
    }

    #[test]
    fn a_torn_commit_is_named_by_line() {
        let mut marks = HashMap::new();
        let torn = b"{\"txn\":{\"appId\":\"a\",\"version\":3}}\n{\"add\":{\"path\":";
        let e = commit_marks(torn, &mut marks).unwrap_err();
        assert!(e.starts_with("line 2 is not a JSON action"), "{e}");
    }
}
