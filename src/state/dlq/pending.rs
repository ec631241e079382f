//! Rejects waiting for their commit: a DLQ file is first written under `{state}/dlq/pending/`,
//! the commit of its window names it (`candlelake.dlq` in the commit's `commitInfo`), and only
//! then is it moved into the queue. A run that dies in between leaves the file pending; the
//! next run of the series moves it in when a commit names it and deletes it otherwise (the
//! window was not committed by this run: it is fetched again, or another run recorded it).

use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::SystemTime;

use super::{DeadLetterQueue, file_infix};
use crate::model::SeriesKey;

/// A pending DLQ file: its id and when it was written.
#[derive(Debug, Clone)]
pub struct PendingFile {
    pub id: String,
    pub written: SystemTime,
}

impl DeadLetterQueue {
    pub fn pending_dir(&self) -> PathBuf {
        self.dir.join("pending")
    }

    pub(super) fn pending_path(&self, id: &str) -> PathBuf {
        self.pending_dir().join(format!("{id}.json"))
    }

    /// Moves a pending file into the queue, once its commit landed; a file another run's
    /// coverage emptied (and removed) is nothing to move.
    pub fn promote(&self, id: &str) -> io::Result<()> {
        match fs::rename(self.pending_path(id), self.dir.join(format!("{id}.json"))) {
            Ok(()) => fs::File::open(&self.dir)?.sync_all(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes a pending file whose commit did not land.
    pub fn discard(&self, id: &str) -> io::Result<()> {
        match fs::remove_file(self.pending_path(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The pending files of a series, left by a run that stopped between its DLQ write and
    /// its commit.
    pub fn pending_of(&self, series: &SeriesKey) -> io::Result<Vec<PendingFile>> {
        // Nothing can be pending where there is no directory; a DLQ path in the way fails the
        // first write, with its path.
        let entries = match fs::read_dir(self.pending_dir()) {
            Ok(e) => e,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let infix = file_infix(series);
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(id) = name.strip_suffix(".json").filter(|id| id.contains(&infix)) else {
                continue;
            };
            found.push(PendingFile {
                id: id.to_string(),
                written: entry.metadata()?.modified()?,
            });
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{ProviderId, Timeframe};

    #[test]
    fn a_pending_file_is_promoted_or_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let queue = DeadLetterQueue::new(dir.path());
        let series = SeriesKey {
            provider: ProviderId::Coinbase,
            pair: "BTC-USD".into(),
            timeframe: Timeframe::H1,
        };
        fs::create_dir_all(queue.pending_dir()).unwrap();
        for id in ["run-coinbase-BTC-USD-1h-1", "run-coinbase-BTC-USD-1h-2"] {
            fs::write(queue.pending_path(id), "{}").unwrap();
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
