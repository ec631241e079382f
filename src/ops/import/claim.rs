//! One worker per file: `{state}/imports/{key}.lock`, an OS file lock held while the file is
//! imported. The kernel releases it when the holder exits or dies, so a claim left by a killed
//! worker expires with its process, and another import takes the file on its next pass.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;

/// A file claimed by this process; released when dropped.
#[derive(Debug)]
pub struct Claim {
    _file: File,
}

impl Claim {
    /// The claim on `key`, or `None` when another process holds it.
    pub fn try_take(dir: &Path, key: &str) -> std::io::Result<Option<Claim>> {
        std::fs::create_dir_all(dir)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(format!("{key}.lock")))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(e),
        }
        file.set_len(0)?;
        write!(file, "pid {}", std::process::id())?;
        Ok(Some(Claim { _file: file }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = Claim::try_take(dir.path(), "k").unwrap();
        assert!(first.is_some());
        assert!(Claim::try_take(dir.path(), "k").unwrap().is_none());
        assert!(Claim::try_take(dir.path(), "other").unwrap().is_some());
        drop(first);
        assert!(Claim::try_take(dir.path(), "k").unwrap().is_some());
    }
}
