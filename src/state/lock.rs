//! One run at a time per state dir (or per shard of one). In a directory: an OS file lock on
//! `{state}/lock` (`{state}/locks/{I}-of-{N}` for a shard), released by the kernel
//! when the process dies, so a lock left by a killed run never blocks the next one. The file
//! names the holder (pid and start time) for the message of the run that is refused. On object
//! storage: a lease object (`lease.rs`), `{state}/locks/all.json` or `{state}/locks/{I}-of-{N}.json`.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};

use super::lease::Lease;
use super::store::StateStore;
use crate::fetch::Stopper;
use crate::plan::Shard;

/// Held for the life of a run.
#[derive(Debug)]
pub struct RunLock {
    _held: Held,
}

#[derive(Debug)]
enum Held {
    File { _file: File },
    Lease { _lease: Lease },
}

impl From<Lease> for RunLock {
    fn from(lease: Lease) -> Self {
        RunLock {
            _held: Held::Lease { _lease: lease },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another candlelake run ({holder}) holds the lock on {dir}; wait for it to finish or stop it"
    )]
    Held { holder: String, dir: String },
    #[error(
        "could not take the lock in {dir}: {source}; check that the state dir is writable (for s3://, the bucket and the AWS_* settings)"
    )]
    Io { dir: String, source: std::io::Error },
}

impl RunLock {
    /// The lock of the whole state dir, `{state}/lock` (a lease `{state}/locks/all.json` on
    /// object storage, lasting `lease` unrenewed; should the run lose it, `on_lost` stops the
    /// run).
    pub fn acquire(
        state: &StateStore,
        lease: Duration,
        on_lost: &Stopper,
    ) -> Result<Self, LockError> {
        match state {
            StateStore::Local(dir) => RunLock::acquire_at(dir, &dir.join("lock")),
            StateStore::Object(_) => {
                Lease::acquire(state, "all", lease, on_lost).map(RunLock::from)
            }
        }
    }

    /// The lock of one shard's run, `{state}/locks/{I}-of-{N}`: shards share a state dir and
    /// never a series, so they run at once.
    pub fn acquire_shard(
        state: &StateStore,
        shard: &Shard,
        lease: Duration,
        on_lost: &Stopper,
    ) -> Result<Self, LockError> {
        match state {
            StateStore::Local(dir) => {
                RunLock::acquire_at(dir, &dir.join("locks").join(shard.name()))
            }
            StateStore::Object(_) => {
                Lease::acquire(state, &shard.name(), lease, on_lost).map(RunLock::from)
            }
        }
    }

    fn acquire_at(state_dir: &Path, path: &Path) -> Result<Self, LockError> {
        let dir = state_dir.display().to_string();
        let io = |source| LockError::Io {
            dir: dir.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "pid unknown".to_string()
                } else {
                    holder.to_string()
                };
                return Err(LockError::Held { holder, dir });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let started = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "pid {}, started {started}", std::process::id()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(RunLock {
            _held: Held::File { _file: file },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_and_a_released_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateStore::Local(dir.path().to_path_buf());
        let lease = Duration::from_secs(60);
        let on_lost = crate::fetch::Shutdown::never().stopper();
        let first = RunLock::acquire(&state, lease, &on_lost).unwrap();
        let err = RunLock::acquire(&state, lease, &on_lost)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("started 20"), "{err}");
        drop(first);
        RunLock::acquire(&state, lease, &on_lost).unwrap();
    }
}
