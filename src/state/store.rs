//! Where the state dir lives: a local (or mounted) directory, or a prefix on object storage
//! (`s3://bucket/prefix`, with the lake's `AWS_*` settings). Every state module reads and
//! writes through this one type, by keys relative to the state dir (`watermarks/x/y/1h.json`).
//! A local write is atomic (`atomic.rs`); an object is always written whole by one PUT, so
//! neither is ever seen torn. The conditional operations (create if absent, replace if
//! unchanged) serve the lease lock on object storage.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::future::Future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use futures::TryStreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, UpdateVersion};

use super::atomic::write_atomic;

/// The state dir.
#[derive(Debug, Clone)]
pub enum StateStore {
    Local(PathBuf),
    Object(Arc<Objects>),
}

/// A state dir on object storage.
#[derive(Debug)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    uri: String,
}

/// A file or object found by a listing: its name relative to the listed directory (with `/`
/// between the parts of a nested one) and when it was last written.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub modified: SystemTime,
}

/// An object's content and the version a conditional replace names.
#[derive(Debug, Clone)]
pub struct Versioned {
    pub bytes: Vec<u8>,
    pub version: UpdateVersion,
}

impl StateStore {
    /// A directory path, or an `s3://bucket/prefix` URI opened with the process's `AWS_*`
    /// variables (as the lake is) and those of `env` over them.
    pub fn open(location: &str, env: &HashMap<String, String>) -> Result<Self, String> {
        let Some((scheme, rest)) = location.split_once("://") else {
            return Ok(StateStore::Local(PathBuf::from(location)));
        };
        if !matches!(scheme.to_ascii_lowercase().as_str(), "s3" | "s3a") {
            return Err(format!(
                "is '{location}', a {scheme}:// URI; set it to a directory path or an s3://bucket/prefix URI"
            ));
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!(
                "is '{location}', which names no bucket; write s3://bucket/prefix"
            ));
        }
        let mut builder = AmazonS3Builder::from_env();
        for (key, value) in env {
            if let Some(config) = Some(key)
                .filter(|k| k.starts_with("AWS_"))
                .and_then(|k| k.to_ascii_lowercase().parse().ok())
            {
                builder = builder.with_config(config, value);
            }
        }
        let store = builder
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| format!("is '{location}', which cannot be opened ({e})"))?;
        let prefix = prefix.trim_matches('/');
        Ok(StateStore::Object(Arc::new(Objects {
            store: Arc::new(store),
            prefix: ObjectPath::from(prefix),
            uri: format!("{scheme}://{bucket}/{prefix}")
                .trim_end_matches('/')
                .to_string(),
        })))
    }

    /// A state dir in memory, for tests of what is made on object storage only.
    #[cfg(test)]
    pub fn in_memory() -> Self {
        StateStore::Object(Arc::new(Objects {
            store: Arc::new(object_store::memory::InMemory::new()),
            prefix: ObjectPath::from("state"),
            uri: "memory://state".into(),
        }))
    }

    /// The directory, for a state dir on this machine.
    pub fn local_dir(&self) -> Option<&Path> {
        match self {
            StateStore::Local(dir) => Some(dir),
            StateStore::Object(_) => None,
        }
    }

    /// The object store and the prefix of the state dir, for one on object storage.
    pub fn objects(&self) -> Option<(Arc<dyn ObjectStore>, ObjectPath)> {
        match self {
            StateStore::Local(_) => None,
            StateStore::Object(o) => Some((o.store.clone(), o.prefix.clone())),
        }
    }

    /// The state dir or one of its keys as a message shows it: a path or a URI.
    pub fn show(&self, key: &str) -> String {
        match self {
            StateStore::Local(dir) if key.is_empty() => dir.display().to_string(),
            StateStore::Local(dir) => dir.join(key).display().to_string(),
            StateStore::Object(o) if key.is_empty() => o.uri.clone(),
            StateStore::Object(o) => format!("{}/{key}", o.uri),
        }
    }

    /// The content of `key`; `None` when there is none.
    pub fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match self {
            StateStore::Local(dir) => match fs::read(dir.join(key)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
            StateStore::Object(_) => Ok(self.get_versioned(key)?.map(|v| v.bytes)),
        }
    }

    /// Writes `key` whole: atomically on disk (`crash_point` names the failpoint hit half-way),
    /// by one PUT on object storage.
    pub fn put(&self, key: &str, bytes: &[u8], crash_point: &str) -> io::Result<()> {
        match self {
            StateStore::Local(dir) => write_atomic(&dir.join(key), bytes, crash_point),
            StateStore::Object(o) => {
                let (store, path) = (o.store.clone(), o.path(key));
                let bytes = bytes.to_vec();
                block(async move { store.put(&path, bytes.into()).await.map(|_| ()) })
            }
        }
    }

    /// Appends `bytes` to `key` and syncs it; on object storage the object is written again
    /// whole (appenders hold the run lock, so none is lost).
    pub fn append(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        match self {
            StateStore::Local(dir) => {
                let mut file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(key))?;
                file.write_all(bytes)?;
                file.sync_all()
            }
            StateStore::Object(_) => {
                let mut all = self.get(key)?.unwrap_or_default();
                all.extend_from_slice(bytes);
                self.put(key, &all, "mid_append")
            }
        }
    }

    /// Removes `key`; one already gone is no error.
    pub fn delete(&self, key: &str) -> io::Result<()> {
        let result = match self {
            StateStore::Local(dir) => fs::remove_file(dir.join(key)),
            StateStore::Object(o) => {
                let (store, path) = (o.store.clone(), o.path(key));
                block(async move { store.delete(&path).await })
            }
        };
        match result {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// Moves `from` to `to` (whole: a rename on disk, a copy then a delete on object
    /// storage); `false` when there was nothing at `from`.
    pub fn rename(&self, from: &str, to: &str) -> io::Result<bool> {
        let result = match self {
            StateStore::Local(dir) => {
                let target = dir.join(to);
                fs::rename(dir.join(from), &target).and_then(|()| {
                    let parent = target.parent().unwrap_or(dir);
                    fs::File::open(parent)?.sync_all()
                })
            }
            StateStore::Object(o) => {
                let (store, from, to) = (o.store.clone(), o.path(from), o.path(to));
                block(async move { store.rename(&from, &to).await })
            }
        };
        match result {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The files directly in `dir` (not in its subdirectories); none when it does not exist.
    pub fn list(&self, dir: &str) -> io::Result<Vec<Entry>> {
        match self {
            StateStore::Local(root) => {
                let entries = match fs::read_dir(root.join(dir)) {
                    Ok(e) => e,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                };
                let mut found = Vec::new();
                for entry in entries {
                    let entry = entry?;
                    let meta = entry.metadata()?;
                    if meta.is_file() {
                        found.push(Entry {
                            name: entry.file_name().to_string_lossy().to_string(),
                            modified: meta.modified()?,
                        });
                    }
                }
                Ok(found)
            }
            StateStore::Object(o) => {
                let (store, prefix) = (o.store.clone(), o.path(dir));
                let listed = block(async move { store.list_with_delimiter(Some(&prefix)).await })?;
                Ok(listed
                    .objects
                    .into_iter()
                    .filter_map(|m| {
                        Some(Entry {
                            name: m.location.filename()?.to_string(),
                            modified: m.last_modified.into(),
                        })
                    })
                    .collect())
            }
        }
    }

    /// Every file under `dir`, at any depth, named relative to it.
    pub fn list_all(&self, dir: &str) -> io::Result<Vec<Entry>> {
        match self {
            StateStore::Local(root) => {
                let root = root.join(dir);
                let mut found = Vec::new();
                collect(&root, &root, &mut found);
                Ok(found)
            }
            StateStore::Object(o) => {
                let (store, prefix) = (o.store.clone(), o.path(dir));
                let base = prefix.clone();
                let listed = block(async move {
                    store
                        .list(Some(&prefix))
                        .try_collect::<Vec<object_store::ObjectMeta>>()
                        .await
                })?;
                Ok(listed
                    .into_iter()
                    .filter_map(|m| {
                        let parts: Vec<String> = m
                            .location
                            .prefix_match(&base)?
                            .map(|p| p.as_ref().to_string())
                            .collect();
                        Some(Entry {
                            name: parts.join("/"),
                            modified: m.last_modified.into(),
                        })
                    })
                    .collect())
            }
        }
    }

    /// An object and its version, for a conditional replace; `None` when there is none.
    pub fn get_versioned(&self, key: &str) -> io::Result<Option<Versioned>> {
        let o = self.object_only("a versioned read")?;
        let (store, path) = (o.store.clone(), o.path(key));
        let found = block(async move {
            let got = store.get(&path).await?;
            let version = UpdateVersion {
                e_tag: got.meta.e_tag.clone(),
                version: got.meta.version.clone(),
            };
            Ok(Versioned {
                bytes: got.bytes().await?.to_vec(),
                version,
            })
        });
        match found {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates `key` unless it exists (`If-None-Match: *`); returns the version written, or
    /// `None` when it existed.
    pub fn create(&self, key: &str, bytes: &[u8]) -> io::Result<Option<UpdateVersion>> {
        self.put_mode(key, bytes, PutMode::Create)
    }

    /// Replaces `key` if it is still at `version` (`If-Match`); returns the version written,
    /// or `None` when it changed or went since.
    pub fn replace(
        &self,
        key: &str,
        bytes: &[u8],
        version: UpdateVersion,
    ) -> io::Result<Option<UpdateVersion>> {
        self.put_mode(key, bytes, PutMode::Update(version))
    }

    fn put_mode(
        &self,
        key: &str,
        bytes: &[u8],
        mode: PutMode,
    ) -> io::Result<Option<UpdateVersion>> {
        let o = self.object_only("a conditional write")?;
        let (store, path, bytes) = (o.store.clone(), o.path(key), bytes.to_vec());
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        let put = async move { store.put_opts(&path, bytes.into(), options).await };
        match block_raw(put) {
            Ok(written) => Ok(Some(UpdateVersion {
                e_tag: written.e_tag,
                version: written.version,
            })),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. }
                | object_store::Error::NotFound { .. },
            ) => Ok(None),
            Err(e) => Err(to_io(e)),
        }
    }

    fn object_only(&self, what: &str) -> io::Result<&Objects> {
        match self {
            StateStore::Object(o) => Ok(o),
            StateStore::Local(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{what} is made on object storage only"),
            )),
        }
    }
}

impl std::fmt::Display for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.show(""))
    }
}

impl Objects {
    fn path(&self, key: &str) -> ObjectPath {
        key.split('/')
            .filter(|p| !p.is_empty())
            .fold(self.prefix.clone(), |path, part| path.join(part))
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<Entry>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if meta.is_dir() {
            collect(root, &path, out);
        } else if let (Ok(rel), Ok(modified)) = (path.strip_prefix(root), meta.modified()) {
            let parts: Vec<_> = rel.iter().map(|p| p.to_string_lossy()).collect();
            out.push(Entry {
                name: parts.join("/"),
                modified,
            });
        }
    }
}

/// Runs an object-store request to its end from synchronous code, in async code too: on a
/// runtime of its own, so the caller's runtime is never re-entered.
fn block<T: Send + 'static>(
    request: impl Future<Output = object_store::Result<T>> + Send + 'static,
) -> io::Result<T> {
    block_raw(request).map_err(to_io)
}

fn block_raw<T: Send + 'static>(request: impl Future<Output = T> + Send + 'static) -> T {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("candlelake-state")
            .enable_all()
            .build()
            .expect("the state runtime starts")
    });
    let (done, result) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = done.send(request.await);
    });
    result
        .recv()
        .expect("the state runtime finishes every request")
}

fn to_io(e: object_store::Error) -> io::Error {
    let kind = match e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_uri_opens_with_the_aws_settings_and_other_schemes_are_refused() {
        let env = HashMap::from([("AWS_REGION".to_string(), "us-east-1".to_string())]);
        let store = StateStore::open("s3://bucket/some/state/", &env).unwrap();
        assert_eq!(
            store.show("watermarks/a.json"),
            "s3://bucket/some/state/watermarks/a.json"
        );
        assert!(store.local_dir().is_none());
        let local = StateStore::open("data", &env).unwrap();
        assert_eq!(local.local_dir(), Some(Path::new("data")));
        let err = StateStore::open("gs://bucket/state", &env).unwrap_err();
        assert!(err.contains("a gs:// URI"), "{err}");
        assert!(StateStore::open("s3:///state", &env).is_err());
    }

    /// Puts, reads, lists (flat and nested), renames, appends and deletes keys under `a/`.
    fn reads_lists_renames_and_deletes(store: &StateStore) {
        store.put("a/b/c.json", b"one", "test").unwrap();
        store.put("a/d.json", b"two", "test").unwrap();
        assert_eq!(store.get("a/b/c.json").unwrap().unwrap(), b"one");
        assert_eq!(store.get("a/none.json").unwrap(), None);
        let names = |entries: Vec<Entry>| {
            let mut n: Vec<String> = entries.into_iter().map(|e| e.name).collect();
            n.sort();
            n
        };
        assert_eq!(names(store.list("a").unwrap()), ["d.json"]);
        assert_eq!(names(store.list_all("a").unwrap()), ["b/c.json", "d.json"]);
        assert!(store.rename("a/d.json", "a/b/e.json").unwrap());
        assert!(!store.rename("a/d.json", "a/b/e.json").unwrap());
        store.append("a/log", b"x\n").unwrap();
        store.append("a/log", b"y\n").unwrap();
        assert_eq!(store.get("a/log").unwrap().unwrap(), b"x\ny\n");
        store.delete("a/b/e.json").unwrap();
        store.delete("a/b/e.json").unwrap();
        assert_eq!(names(store.list_all("a").unwrap()), ["b/c.json", "log"]);
    }

    #[test]
    fn local_keys_list_rename_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::Local(dir.path().to_path_buf());
        reads_lists_renames_and_deletes(&store);
        assert!(store.list("none").unwrap().is_empty());
        assert!(
            store.create("x", b"").is_err(),
            "conditional writes are for objects"
        );
    }

    #[test]
    fn objects_list_rename_and_write_conditionally() {
        let store = StateStore::in_memory();
        reads_lists_renames_and_deletes(&store);

        let first = store.create("lease", b"1").unwrap().unwrap();
        assert!(store.create("lease", b"2").unwrap().is_none());
        let read = store.get_versioned("lease").unwrap().unwrap();
        assert_eq!(read.bytes, b"1");
        let second = store.replace("lease", b"3", read.version.clone()).unwrap();
        assert!(second.is_some());
        // A second writer holding the same version loses.
        assert!(
            store
                .replace("lease", b"4", read.version)
                .unwrap()
                .is_none()
        );
        assert!(store.replace("lease", b"5", first).unwrap().is_none());
        assert_eq!(store.get("lease").unwrap().unwrap(), b"3");
    }
}
