//! One worker per file. With a local lake and state dir: `{state}/imports/{key}.lock`, an OS file
//! lock held while the file is imported and released by the kernel when the holder exits or
//! dies. With the state dir on object storage, where importers on several machines share it
//! and its per-file states: an object `{state}/imports/claims/{key}.json`; else with a lake on
//! object storage, where importers share the tables: `{lake}/_candlelake/import-claims/{key}.json`.
//! Such an object is created with a conditional put (`If-None-Match`) and names its holder and
//! expiry; a claim past its expiry (its holder died) is taken over with a put conditional on its
//! ETag (`If-Match`), so two workers never both take it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::state::store::StateStore;

/// How long an object claim holds without its holder: longer than any one file takes.
const CLAIM_TTL: TimeDelta = TimeDelta::minutes(15);

/// Where claims are made.
#[derive(Debug, Clone)]
pub enum Claims {
    Local(PathBuf),
    Object(Arc<dyn ObjectStore>, ObjectPath),
}

/// A file claimed by this process; released by [`Claims::release`], or by the process ending
/// (a lock file) or expiring (an object).
#[derive(Debug)]
pub enum Claim {
    Local { _lock: File },
    Object(ObjectPath),
}

#[derive(Serialize, Deserialize)]
struct Holder {
    holder: String,
    expires_at_ms: i64,
}

impl Claims {
    /// Claims in an object-store state dir; else beside the tables in an object-store lake;
    /// else under the local state dir.
    pub fn new(lake: &str, state: &StateStore) -> Result<Claims, String> {
        let state_dir = match state {
            StateStore::Object(_) => {
                let (store, prefix) = state.objects().expect("an object-store state dir");
                let dir = prefix.join("imports").join("claims");
                return Ok(Claims::Object(store, dir));
            }
            StateStore::Local(dir) => dir,
        };
        let Some(rest) = lake.strip_prefix("s3://") else {
            return Ok(Claims::Local(state_dir.join("imports")));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| format!("the lake {lake} cannot hold import claims ({e})"))?;
        let dir = format!("{}/_candlelake/import-claims", prefix.trim_end_matches('/'));
        Ok(Claims::Object(
            Arc::new(store),
            ObjectPath::from(dir.trim_start_matches('/')),
        ))
    }

    /// The claim on `key`, or `None` when another worker holds it.
    pub async fn try_take(&self, key: &str) -> Result<Option<Claim>, String> {
        match self {
            Claims::Local(dir) => take_lock(dir, key).map_err(|e| e.to_string()),
            Claims::Object(store, dir) => {
                take_object(store, &dir.clone().join(format!("{key}.json")))
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Gives a claim up.
    pub async fn release(&self, claim: Claim) {
        if let (Claims::Object(store, _), Claim::Object(path)) = (self, &claim)
            && let Err(e) = store.delete(path).await
        {
            tracing::warn!(claim = %path, "Could not remove an import claim; it expires by itself: {e}");
        }
    }
}

fn take_lock(dir: &Path, key: &str) -> std::io::Result<Option<Claim>> {
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
    Ok(Some(Claim::Local { _lock: file }))
}

fn holder() -> Vec<u8> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let holder = Holder {
        holder: format!("pid {} on {}", std::process::id(), host.trim()),
        expires_at_ms: (Utc::now() + CLAIM_TTL).timestamp_millis(),
    };
    serde_json::to_vec(&holder).expect("a claim serialises")
}

async fn take_object(
    store: &Arc<dyn ObjectStore>,
    path: &ObjectPath,
) -> object_store::Result<Option<Claim>> {
    let create = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    match store.put_opts(path, holder().into(), create).await {
        Ok(_) => return Ok(Some(Claim::Object(path.clone()))),
        Err(
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. },
        ) => {}
        Err(e) => return Err(e),
    }
    let current = match store.get(path).await {
        Ok(current) => current,
        // Released between the two requests: the next pass takes it.
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let version = UpdateVersion {
        e_tag: current.meta.e_tag.clone(),
        version: current.meta.version.clone(),
    };
    let held: Option<Holder> = serde_json::from_slice(&current.bytes().await?).ok();
    if held.is_some_and(|h| h.expires_at_ms > Utc::now().timestamp_millis()) {
        return Ok(None);
    }
    let take_over = PutOptions {
        mode: PutMode::Update(version),
        ..PutOptions::default()
    };
    match store.put_opts(path, holder().into(), take_over).await {
        Ok(_) => Ok(Some(Claim::Object(path.clone()))),
        Err(
            object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. },
        ) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_and_expired_claims_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let local = Claims::Local(dir.path().to_path_buf());
        let first = local.try_take("k").await.unwrap();
        assert!(first.is_some());
        assert!(local.try_take("k").await.unwrap().is_none());
        assert!(local.try_take("other").await.unwrap().is_some());
        local.release(first.unwrap()).await;
        assert!(local.try_take("k").await.unwrap().is_some());

        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let objects = Claims::Object(store.clone(), ObjectPath::from("claims"));
        let held = objects.try_take("k").await.unwrap().unwrap();
        assert!(objects.try_take("k").await.unwrap().is_none());
        objects.release(held).await;
        assert!(objects.try_take("k").await.unwrap().is_some());
        // A claim whose holder died: past its expiry, the next worker takes it.
        let dead = Holder {
            holder: "pid 1 on gone".into(),
            expires_at_ms: (Utc::now() - TimeDelta::seconds(1)).timestamp_millis(),
        };
        let path = ObjectPath::from("claims/dead.json");
        store
            .put(&path, serde_json::to_vec(&dead).unwrap().into())
            .await
            .unwrap();
        assert!(objects.try_take("dead").await.unwrap().is_some());
        assert!(objects.try_take("dead").await.unwrap().is_none());
    }
}
