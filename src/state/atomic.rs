//! Atomic file writes: temporary file, fsync, rename over the target, fsync of the directory.
//! A reader sees the old content or the new, never a torn file.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::failpoint;

/// Writes `bytes` to `path` atomically, creating parent directories. `crash_point` names the
/// failpoint hit when half the temporary file is written.
pub fn write_atomic(path: &Path, bytes: &[u8], crash_point: &str) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        let (head, tail) = bytes.split_at(bytes.len() / 2);
        file.write_all(head)?;
        failpoint::hit(crash_point);
        file.write_all(tail)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/w.json");
        write_atomic(&path, b"one", "test").unwrap();
        write_atomic(&path, b"two", "test").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["w.json"]);
    }
}
