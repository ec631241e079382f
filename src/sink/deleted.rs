//! Rows another tool deleted with a deletion vector (Spark's or Databricks' DELETE, UPDATE or
//! MERGE): which physical rows of a data file its vector marks deleted, read with the kernel
//! from the log (inline) or from the vector's file (relative or absolute path), so that every
//! read of rows drops them.

use std::collections::HashSet;

use delta_kernel::actions::deletion_vector::DeletionVectorDescriptor;
use deltalake::arrow::array::BooleanArray;
use deltalake::kernel::LogicalFileView;
use deltalake::{DeltaTable, DeltaTableError};

/// The physical row indexes of a data file that its deletion vector marks deleted; empty for a
/// file without one. A vector that cannot be read is an error naming the file and the fix.
pub(super) async fn deleted_rows(
    table: &DeltaTable,
    file: &LogicalFileView,
) -> Result<HashSet<u64>, DeltaTableError> {
    let Some(dv) = file.deletion_vector_descriptor() else {
        return Ok(HashSet::new());
    };
    let path = file.path().to_string();
    let unreadable = |reason: String| {
        DeltaTableError::Generic(format!(
            "the deletion vector of its data file {path} could not be read ({reason}); restore the vector's file from a backup or rewrite the deleted rows away with the tool that deleted them (e.g. REORG TABLE ... APPLY (PURGE) in Spark or Databricks), then rerun"
        ))
    };
    let cardinality = dv.cardinality;
    let descriptor =
        DeletionVectorDescriptor::try_from(dv).map_err(|e| unreadable(e.to_string()))?;
    let log_store = table.log_store();
    let engine = log_store.engine(None);
    let mut root = log_store.root_url().clone();
    if !root.path().ends_with('/') {
        root.set_path(&format!("{}/", root.path()));
    }
    let rows = tokio::task::spawn_blocking(move || {
        descriptor.row_indexes(engine.storage_handler(), &root)
    })
    .await
    .map_err(|e| unreadable(e.to_string()))?
    .map_err(|e| unreadable(e.to_string()))?;
    let deleted: HashSet<u64> = rows.into_iter().collect();
    if deleted.len() as i64 != cardinality {
        return Err(unreadable(format!(
            "it marks {} rows deleted where the log says {}",
            deleted.len(),
            cardinality
        )));
    }
    Ok(deleted)
}

/// Which of a file's `len` rows are live.
pub(super) fn live(deleted: &HashSet<u64>, len: usize) -> BooleanArray {
    (0..len as u64)
        .map(|i| Some(!deleted.contains(&i)))
        .collect()
}
