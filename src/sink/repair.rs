//! `maintain --repair`: commits the removal of data files the log references but the store has
//! lost (a bad copy, a lifecycle rule, another tool's vacuum), so the table reads again. Their
//! candles are then missing inside coverage; `gaps` shows them and `refetch` writes them back.

use std::collections::HashSet;

use deltalake::kernel::Action;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::protocol::DeltaOperation;
use deltalake::{DeltaTable, DeltaTableError};
use futures::TryStreamExt;

use super::table::{DeltaSink, SinkError};
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
    /// is committed (one commit, none when nothing is missing).
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
        let finalized = CommitBuilder::default()
            .with_actions(removes)
            .build(
                Some(snapshot),
                table.log_store(),
                DeltaOperation::Delete { predicate: None },
            )
            .await
            .map_err(&err)?;
        table.state = Some(finalized.snapshot());
        lost.sort();
        Ok(lost)
    }
}
