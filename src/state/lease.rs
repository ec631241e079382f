//! The run lock of a state dir on object storage, where no file lock exists: a lease object
//! `{state}/locks/{name}.json` naming its owner (a run id, host and pid), when it started and
//! when it expires. It is created with a conditional put (`If-None-Match: *`); a run that finds
//! a live lease is refused with its owner named; an expired one (its holder died or hung), or
//! one that cannot be read, is taken over with a put conditional on the ETag read (`If-Match`), so of two runs taking it
//! over one wins. While the run lives a thread renews it every third of its duration, each
//! renewal conditional on the ETag of the last; at the end it is released by writing it expired.
//! A run whose renewal finds the lease taken over, or that could not renew it before it expired,
//! no longer holds it: the thread stops the run (`Stop::LeaseLost`) and never writes it again.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use object_store::UpdateVersion;
use serde::{Deserialize, Serialize};

use super::lock::LockError;
use super::store::StateStore;
use crate::fetch::{Stop, Stopper};

/// What a lease object holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub owner: String,
    pub host: String,
    pub pid: u32,
    pub started: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

impl LeaseRecord {
    /// How a refusal names the holder.
    fn holder(&self) -> String {
        let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        format!(
            "pid {} on {}, started {}, lease until {}",
            self.pid,
            self.host,
            at(self.started),
            at(self.expires)
        )
    }

    fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a lease serialises")
    }
}

/// A lease this run holds; dropping it stops the renewals and releases it.
#[derive(Debug)]
pub struct Lease {
    stop: Option<mpsc::Sender<()>>,
    renewer: Option<JoinHandle<Option<(LeaseRecord, UpdateVersion)>>>,
    store: StateStore,
    key: String,
}

impl Lease {
    /// Takes the lease `{state}/locks/{name}.json` for `duration`, or names the run that holds it.
    /// Should the run lose it, `on_lost` stops the run.
    pub fn acquire(
        store: &StateStore,
        name: &str,
        duration: Duration,
        on_lost: &Stopper,
    ) -> Result<Lease, LockError> {
        let key = format!("locks/{name}.json");
        let io = |source| LockError::Io {
            dir: store.to_string(),
            source,
        };
        let ttl = TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX);
        let started = Utc::now();
        let mut mine = LeaseRecord {
            owner: uuid::Uuid::new_v4().to_string(),
            host: host(),
            pid: std::process::id(),
            started,
            expires: started + ttl,
        };
        // Twice at most: a lease released or taken over between two requests is read again.
        for _ in 0..2 {
            mine.expires = Utc::now() + ttl;
            if let Some(version) = store.create(&key, &mine.bytes()).map_err(io)? {
                return Ok(Lease::hold(store, key, mine, version, duration, on_lost));
            }
            let Some(found) = store.get_versioned(&key).map_err(io)? else {
                continue;
            };
            let held: Option<LeaseRecord> = serde_json::from_slice(&found.bytes).ok();
            if let Some(held) = held.filter(|h| h.expires > Utc::now()) {
                return Err(LockError::Held {
                    holder: held.holder(),
                    dir: store.to_string(),
                });
            }
            mine.expires = Utc::now() + ttl;
            if let Some(version) = store
                .replace(&key, &mine.bytes(), found.version)
                .map_err(io)?
            {
                tracing::debug!(lease = %store.show(&key), "Took over an expired or released lease.");
                return Ok(Lease::hold(store, key, mine, version, duration, on_lost));
            }
        }
        let holder = store
            .get(&key)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice::<LeaseRecord>(&b).ok())
            .map_or_else(|| "another run".to_string(), |h| h.holder());
        Err(LockError::Held {
            holder,
            dir: store.to_string(),
        })
    }

    fn hold(
        store: &StateStore,
        key: String,
        record: LeaseRecord,
        version: UpdateVersion,
        duration: Duration,
        on_lost: &Stopper,
    ) -> Lease {
        let (stop, stopped) = mpsc::channel();
        let renewing = (store.clone(), key.clone(), on_lost.clone());
        let renewer = std::thread::Builder::new()
            .name("candlelake-lease".into())
            .spawn(move || {
                renew(
                    &renewing.0,
                    &renewing.1,
                    record,
                    version,
                    duration,
                    &stopped,
                    &renewing.2,
                )
            })
            .expect("the lease thread starts");
        Lease {
            stop: Some(stop),
            renewer: Some(renewer),
            store: store.clone(),
            key,
        }
    }
}

/// Renews the lease every third of `duration` until told to stop; returns the lease as last
/// written, or `None` when this run lost it (another run took it over, or it expired before a
/// renewal got through), having stopped the run through `on_lost`.
fn renew(
    store: &StateStore,
    key: &str,
    mut record: LeaseRecord,
    mut version: UpdateVersion,
    duration: Duration,
    stopped: &mpsc::Receiver<()>,
    on_lost: &Stopper,
) -> Option<(LeaseRecord, UpdateVersion)> {
    let ttl = TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX);
    loop {
        match stopped.recv_timeout(duration / 3) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return Some((record, version)),
        }
        let mut next = record.clone();
        next.expires = Utc::now() + ttl;
        match store.replace(key, &next.bytes(), version.clone()) {
            Ok(Some(renewed)) => (record, version) = (next, renewed),
            Ok(None) => {
                lost(on_lost, taken_over(store, key));
                return None;
            }
            Err(e) if Utc::now() >= record.expires => {
                lost(on_lost, expired(store, key, &record, &e));
                return None;
            }
            Err(e) => {
                tracing::warn!(lease = %store.show(key), "Could not renew the lease; trying again: {e}.");
            }
        }
    }
}

/// What to do about a lost lease, said once: the run stops.
const LOST_REMEDY: &str = "this run stops without fetching, committing or writing its state any more; raise CANDLELAKE_STATE_LEASE_MS, or stop the other run";

fn lost(on_lost: &Stopper, why: String) {
    tracing::error!("{why}");
    on_lost.stop(Stop::LeaseLost(why.into()));
}

/// The sentence for a lease another run took over, naming that run as the lease now does.
fn taken_over(store: &StateStore, key: &str) -> String {
    let holder = store
        .get(key)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<LeaseRecord>(&b).ok())
        .map_or_else(
            || "another run".to_string(),
            |h| format!("another run ({})", h.holder()),
        );
    format!(
        "{holder} took over the lease {}, which this run did not renew in time; {LOST_REMEDY}",
        store.show(key)
    )
}

/// The sentence for a lease that expired while every renewal failed.
fn expired(store: &StateStore, key: &str, record: &LeaseRecord, e: &std::io::Error) -> String {
    format!(
        "the lease {} of this run expired at {} before a renewal got through ({e}), so another run may hold the state dir now; {LOST_REMEDY}",
        store.show(key),
        record.expires.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

impl Drop for Lease {
    fn drop(&mut self) {
        drop(self.stop.take());
        let Some(Ok(Some((mut record, version)))) = self.renewer.take().map(JoinHandle::join)
        else {
            return;
        };
        record.expires = Utc::now();
        if let Err(e) = self.store.replace(&self.key, &record.bytes(), version) {
            tracing::warn!(lease = %self.store.show(&self.key), "Could not release the lease; it expires by itself: {e}.");
        }
    }
}

/// This machine's name, as a pod or host knows it.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "an unknown host".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::Shutdown;

    const KEY: &str = "locks/all.json";

    fn read(store: &StateStore) -> LeaseRecord {
        serde_json::from_slice(&store.get(KEY).unwrap().unwrap()).unwrap()
    }

    #[test]
    fn a_live_lease_is_refused_naming_its_holder_and_a_released_one_is_free() {
        let store = StateStore::in_memory();
        let minute = Duration::from_secs(60);
        let on_lost = Shutdown::never().stopper();
        let first = Lease::acquire(&store, "all", minute, &on_lost).unwrap();
        let held = read(&store);
        assert_eq!(held.pid, std::process::id());
        assert!(held.expires > Utc::now());
        let err = Lease::acquire(&store, "all", minute, &on_lost)
            .unwrap_err()
            .to_string();
        let named = format!("pid {} on {}", std::process::id(), held.host);
        assert!(err.contains(&named), "{err}");
        assert!(err.contains("memory://state"), "{err}");
        drop(first);
        let released = read(&store);
        assert_eq!(released.owner, held.owner);
        assert!(released.expires <= Utc::now(), "released: {released:?}");
        let second = Lease::acquire(&store, "all", minute, &on_lost).unwrap();
        assert_ne!(read(&store).owner, held.owner);
        drop(second);
    }

    #[test]
    fn an_expired_lease_is_taken_over_and_an_unreadable_one_too() {
        let store = StateStore::in_memory();
        let dead = LeaseRecord {
            owner: "dead".into(),
            host: "gone".into(),
            pid: 1,
            started: Utc::now() - TimeDelta::hours(1),
            expires: Utc::now() - TimeDelta::seconds(1),
        };
        // TC: what a dead run left
        for left in [dead.bytes(), b"{torn".to_vec()] {
            store.put(KEY, &left, "test").unwrap();
            let on_lost = Shutdown::never().stopper();
            let taken = Lease::acquire(&store, "all", Duration::from_secs(60), &on_lost).unwrap();
            assert_eq!(read(&store).pid, std::process::id());
            drop(taken);
        }
    }

    #[test]
    fn a_lease_another_run_took_stops_the_run_naming_it_and_is_left_to_it() {
        let store = StateStore::in_memory();
        let shutdown = Shutdown::never();
        let held = Lease::acquire(
            &store,
            "all",
            Duration::from_millis(300),
            &shutdown.stopper(),
        )
        .unwrap();
        let taker = LeaseRecord {
            owner: "taker".into(),
            host: "pod-9".into(),
            pid: 4545,
            started: Utc::now(),
            expires: Utc::now() + TimeDelta::hours(1),
        };
        store.put(KEY, &taker.bytes(), "test").unwrap();
        // The next renewal finds it taken.
        let waited = std::time::Instant::now();
        let stop = loop {
            if let Some(stop) = shutdown.requested() {
                break stop;
            }
            assert!(waited.elapsed() < Duration::from_secs(60), "never stopped");
            std::thread::sleep(Duration::from_millis(10));
        };
        let Stop::LeaseLost(why) = stop else {
            panic!("{stop:?}")
        };
        assert!(why.contains("pid 4545 on pod-9"), "{why}");
        assert!(why.contains("memory://state/locks/all.json"), "{why}");
        assert!(why.contains("raise CANDLELAKE_STATE_LEASE_MS"), "{why}");
        drop(held);
        assert_eq!(
            read(&store).owner,
            "taker",
            "the lost lease is not released"
        );
    }
}
