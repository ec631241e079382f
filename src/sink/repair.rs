//! `maintain --repair`: commits the removal of data files the log references but the store has
//! lost (a bad copy, a lifecycle rule, another tool's vacuum), so the table reads again. Their
//! candles are then missing inside coverage; `gaps` shows them and `refetch` writes them back.
//! The removal is committed as a rewrite without rows through the append path's log, opened
//! without refusing the lost files it removes.

use std::collections::HashSet;

use deltalake::kernel::Action;
use deltalake::protocol::DeltaOperation;
use deltalake::{DeltaTable, DeltaTableError};
use futures::TryStreamExt;

use super::rewrite::Rewrite;
use super::table::{DeltaSink, LostFiles, SinkError};
use crate::providers::Timeframe;

/// Every object under a table's root, as the log names its files: one listing.
pub(super) async fn stored_files(table: &DeltaTable) -> Result<HashSet<String>, DeltaTableError> {
    Ok(table
        .object_store()
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await?)
}

impl DeltaSink {
    /// The data files of the table of `tf` that the store lacks; with `commit`, their removal
    /// is committed (one commit, none when nothing is missing). Should another writer have
    /// removed one of them first, nothing is committed and the error says to run it again.
    pub async fn lost_files(&self, tf: Timeframe, commit: bool) -> Result<Vec<String>, SinkError> {
        let err = self.delta_err(tf);
        let Some(mut table) = self.load(tf).await? else {
            return Ok(Vec::new());
        };
        let stored = stored_files(&table).await.map_err(&err)?;
        let snapshot = table.snapshot().map_err(&err)?;
        let (mut lost, mut removes) = (Vec::new(), Vec::new());
        for file in snapshot.log_data().iter() {
            let path = file.object_store_path().to_string();
            if !stored.contains(&path) {
                removes.push(Action::Remove(file.remove_action(true)));
                lost.push(path);
            }
        }
        if removes.is_empty() || !commit {
            return Ok(lost);
        }
        let repair = Rewrite {
            removes,
            batches: Vec::new(),
            operation: DeltaOperation::Delete { predicate: None },
            data_change: true,
            lost_files: LostFiles::Removed,
        };
        self.commit_rewrite(tf, &mut table, repair, |_| false)
            .await?;
        lost.sort();
        Ok(lost)
    }
}
