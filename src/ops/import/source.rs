//! The files an import reads: one file, every file of the format under a directory (sorted,
//! recursively), or every object of the format under an `s3://bucket/prefix` (the usual `AWS_*`
//! variables, as for an `s3://` lake). Each file carries what tells a changed file from an
//! unchanged one: its size and modification time, or its ETag.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _};

use super::formats::Format;
use crate::error::Error;
use crate::plan::PlanError;

/// Where a file's bytes are.
#[derive(Debug, Clone)]
enum Origin {
    Local(PathBuf),
    Object(Arc<dyn ObjectStore>, ObjectPath),
}

/// One file of the source.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The absolute path, or `s3://bucket/key`: how state files, the DLQ and summaries name it.
    location: String,
    origin: Origin,
    pub size: u64,
    /// Modification time in nanoseconds since the epoch, or the object's ETag.
    pub version: String,
}

impl SourceFile {
    pub fn name(&self) -> &str {
        self.location.rsplit('/').next().unwrap_or_default()
    }

    pub fn location(&self) -> String {
        self.location.clone()
    }

    fn local(path: PathBuf) -> std::io::Result<SourceFile> {
        let meta = std::fs::metadata(&path)?;
        let modified = meta
            .modified()?
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ok(SourceFile {
            location: path.display().to_string(),
            origin: Origin::Local(path),
            size: meta.len(),
            version: modified.to_string(),
        })
    }

    fn object(
        store: &Arc<dyn ObjectStore>,
        bucket: &str,
        meta: object_store::ObjectMeta,
    ) -> SourceFile {
        SourceFile {
            location: format!("s3://{bucket}/{}", meta.location),
            origin: Origin::Object(store.clone(), meta.location),
            size: meta.size,
            version: meta
                .e_tag
                .unwrap_or_else(|| meta.last_modified.timestamp_micros().to_string()),
        }
    }

    /// The file as it is now: whether it changed since it was listed.
    pub async fn refreshed(&self) -> Result<SourceFile, String> {
        match &self.origin {
            Origin::Local(path) => SourceFile::local(path.clone()).map_err(|e| e.to_string()),
            Origin::Object(store, path) => {
                let meta = store.head(path).await.map_err(|e| e.to_string())?;
                let bucket = self.location["s3://".len()..]
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                Ok(SourceFile::object(store, &bucket, meta))
            }
        }
    }

    /// Appends the file's bytes to `out`.
    pub async fn read_into(&self, out: &mut Vec<u8>) -> Result<(), String> {
        match &self.origin {
            Origin::Local(path) => {
                let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
                file.read_to_end(out).map_err(|e| e.to_string())?;
            }
            Origin::Object(store, path) => out.extend_from_slice(&get(store, path).await?),
        }
        Ok(())
    }

    /// The text of `{file}.CHECKSUM` beside the file; `None` when there is none.
    pub async fn checksum(&self) -> Result<Option<String>, String> {
        let text = match &self.origin {
            Origin::Local(path) => {
                let mut sidecar = path.as_os_str().to_owned();
                sidecar.push(".CHECKSUM");
                match std::fs::read(Path::new(&sidecar)) {
                    Ok(bytes) => bytes,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e.to_string()),
                }
            }
            Origin::Object(store, path) => {
                let sidecar = ObjectPath::from(format!("{path}.CHECKSUM"));
                match store.get(&sidecar).await {
                    Ok(got) => got.bytes().await.map_err(|e| e.to_string())?.to_vec(),
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(e.to_string()),
                }
            }
        };
        Ok(Some(String::from_utf8_lossy(&text).into_owned()))
    }
}

async fn get(store: &Arc<dyn ObjectStore>, path: &ObjectPath) -> Result<bytes::Bytes, String> {
    let got = store.get(path).await.map_err(|e| e.to_string())?;
    got.bytes().await.map_err(|e| e.to_string())
}

/// The files of `format` at `source`, sorted. A local source that does not exist or holds no
/// file of the format is a usage error; a bucket that cannot be listed is a failure.
pub async fn discover(source: &str, format: Format) -> Result<Vec<SourceFile>, Error> {
    let files = match source.strip_prefix("s3://") {
        Some(rest) => list_objects(source, rest, format).await?,
        None => list_local(source, format)?,
    };
    if files.is_empty() {
        return Err(PlanError(format!(
            "--source '{source}' holds no file of the format; check --format and the source"
        ))
        .into());
    }
    Ok(files)
}

fn list_local(source: &str, format: Format) -> Result<Vec<SourceFile>, PlanError> {
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
    paths
        .into_iter()
        .map(|p| {
            SourceFile::local(p.clone())
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

async fn list_objects(source: &str, rest: &str, format: Format) -> Result<Vec<SourceFile>, Error> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(PlanError(format!(
            "--source '{source}' names no bucket; write s3://bucket/prefix"
        ))
        .into());
    }
    let store: Arc<dyn ObjectStore> = Arc::new(
        object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| PlanError(format!("--source '{source}' cannot be used ({e})")))?,
    );
    let prefix = ObjectPath::from(prefix.trim_end_matches('/'));
    let listed: Vec<object_store::ObjectMeta> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| {
            Error::Failed(format!(
                "could not list {source} ({e}); check the bucket, the prefix and the AWS_* credentials"
            ))
        })?;
    let mut files: Vec<SourceFile> = listed
        .into_iter()
        .filter(|m| {
            m.location
                .filename()
                .is_some_and(|n| !n.starts_with('.') && format.accepts(n))
        })
        .map(|m| SourceFile::object(&store, bucket, m))
        .collect();
    files.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(files)
}
