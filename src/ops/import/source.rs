//! The files an import reads: one file, or every file of the format under a directory (sorted,
//! recursively), each with what tells a changed file from an unchanged one (size and
//! modification time).

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::formats::Format;
use crate::plan::PlanError;

/// One file of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub size: u64,
    /// Modification time in nanoseconds since the epoch, as text.
    pub version: String,
}

impl SourceFile {
    pub fn name(&self) -> &str {
        self.path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
    }

    /// The path as state files, the DLQ and summaries name it.
    pub fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn of(path: PathBuf) -> std::io::Result<SourceFile> {
        let meta = std::fs::metadata(&path)?;
        let modified = meta
            .modified()?
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ok(SourceFile {
            path,
            size: meta.len(),
            version: modified.to_string(),
        })
    }

    /// Size and modification time now: whether the file changed since `self` was listed.
    pub fn refreshed(&self) -> std::io::Result<SourceFile> {
        SourceFile::of(self.path.clone())
    }
}

/// The files of `format` at `source`, sorted by path. A source that does not exist, or holds
/// no file of the format, is a usage error: nothing is done.
pub fn discover(source: &str, format: Format) -> Result<Vec<SourceFile>, PlanError> {
    let root = std::path::absolute(source)
        .map_err(|e| PlanError(format!("--source '{source}' is not a usable path ({e})")))?;
    let meta = std::fs::metadata(&root).map_err(|e| {
        PlanError(format!(
            "--source '{source}' cannot be read ({e}); give an existing file or directory"
        ))
    })?;
    let mut paths = Vec::new();
    if meta.is_dir() {
        walk(&root, format, &mut paths)
            .map_err(|e| PlanError(format!("the directory '{source}' cannot be listed ({e})")))?;
    } else {
        paths.push(root);
    }
    paths.sort();
    if paths.is_empty() {
        return Err(PlanError(format!(
            "--source '{source}' holds no file of the format; check --format and the directory"
        )));
    }
    paths
        .into_iter()
        .map(|p| {
            SourceFile::of(p.clone())
                .map_err(|e| PlanError(format!("'{}' cannot be read ({e})", p.display())))
        })
        .collect()
}

fn walk(dir: &Path, format: Format, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, format, out)?;
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| !n.starts_with('.') && format.accepts(n))
        {
            out.push(path);
        }
    }
    Ok(())
}
