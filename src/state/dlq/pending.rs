//! Rejects waiting for their commit: a DLQ file is first written under `{state}/dlq/pending/`,
//! the commit of its window names it (`candlelake.dlq` in the commit's `commitInfo`), and only
//! then is it moved into the queue. A run that dies in between leaves the file pending; the
//! next run of the series moves it in when a commit names it, less the rejects of the coverage
//! that commit found held (`candlelake.dlqHeld`: another run recorded them), and deletes it
//! otherwise (the window was not committed by this run: it is fetched again, or another run
//! recorded it).

use std::io;
use std::time::SystemTime;

use super::{DIR, DeadLetterQueue, file_infix};
use crate::model::SeriesKey;

/// A pending DLQ file: its id and when it was written.
#[derive(Debug, Clone)]
pub struct PendingFile {
    pub id: String,
    pub written: SystemTime,
}

impl DeadLetterQueue {
    /// The pending directory, as a message shows it.
    pub fn pending_dir(&self) -> String {
        self.store.show(&format!("{DIR}/pending"))
    }

    pub(super) fn pending_key(id: &str) -> String {
        format!("{DIR}/pending/{id}.json")
    }

    /// Moves a pending file into the queue, once its commit landed; a file another run's
    /// coverage emptied (and removed) is nothing to move.
    pub fn promote(&self, id: &str) -> io::Result<()> {
        self.store
            .rename(&Self::pending_key(id), &Self::key(id))
            .map(|_| ())
    }

    /// Deletes a pending file whose commit did not land.
    pub fn discard(&self, id: &str) -> io::Result<()> {
        self.store.delete(&Self::pending_key(id))
    }

    /// The pending files of a series, left by a run that stopped between its DLQ write and
    /// its commit.
    pub fn pending_of(&self, series: &SeriesKey) -> io::Result<Vec<PendingFile>> {
        // Nothing can be pending where there is no directory; a DLQ path in the way fails the
        // first write, with its path.
        let infix = file_infix(series);
        let entries = match self.store.list(&format!("{DIR}/pending")) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(entries
            .into_iter()
            .filter_map(|entry| {
                let id = entry
                    .name
                    .strip_suffix(".json")
                    .filter(|id| id.contains(&infix))?;
                Some(PendingFile {
                    id: id.to_string(),
                    written: entry.modified,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::providers::{ProviderId, Timeframe};
    use crate::state::store::StateStore;

    #[test]
    fn a_pending_file_is_promoted_or_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let queue = DeadLetterQueue::new(&StateStore::Local(dir.path().to_path_buf()));
        let series = SeriesKey {
            provider: ProviderId::Coinbase,
            pair: "BTC-USD".into(),
            timeframe: Timeframe::H1,
        };
        fs::create_dir_all(dir.path().join("dlq/pending")).unwrap();
        for id in ["run-coinbase-BTC-USD-1h-1", "run-coinbase-BTC-USD-1h-2"] {
            fs::write(dir.path().join(DeadLetterQueue::pending_key(id)), "{}").unwrap();
        }
        let mut pending: Vec<String> = queue
            .pending_of(&series)
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        pending.sort();
        assert_eq!(pending.len(), 2);
        queue.promote(&pending[0]).unwrap();
        queue.discard(&pending[1]).unwrap();
        assert!(dir.path().join(format!("dlq/{}.json", pending[0])).exists());
        assert!(queue.pending_of(&series).unwrap().is_empty());
        queue.promote("gone").unwrap();
    }
}
