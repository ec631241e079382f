//! The cached instrument list of each provider, `{state}/instruments/{provider}.json`: what the
//! provider listed and when it was asked, so a nightly run asks for the list at most once a
//! day. Written atomically; an unreadable file is as good as none (the list is asked again).

use std::io;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::store::StateStore;
use crate::providers::{Instrument, ProviderId};

/// How long a fetched list is used before it is asked for again.
pub const FRESH_FOR: TimeDelta = TimeDelta::hours(24);

/// One provider's list and when it was fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentList {
    pub provider: String,
    pub fetched_at: DateTime<Utc>,
    pub instruments: Vec<Instrument>,
}

impl InstrumentList {
    /// Fetched less than [`FRESH_FOR`] before `now` (and not in its future).
    pub fn fresh(&self, now: DateTime<Utc>) -> bool {
        self.fetched_at <= now && now - self.fetched_at < FRESH_FOR
    }

    /// The instrument listed as `pair`.
    pub fn find(&self, pair: &str) -> Option<&Instrument> {
        self.instruments.iter().find(|i| i.asset_pair == pair)
    }
}

/// The cached lists under one state directory.
#[derive(Debug, Clone)]
pub struct InstrumentCache {
    store: StateStore,
}

impl InstrumentCache {
    pub fn new(state_dir: &StateStore) -> Self {
        InstrumentCache {
            store: state_dir.clone(),
        }
    }

    fn key(provider: ProviderId) -> String {
        format!("instruments/{}.json", provider.as_str())
    }

    /// Where the provider's list is, as a message shows it.
    pub fn path(&self, provider: ProviderId) -> String {
        self.store.show(&Self::key(provider))
    }

    /// The cached list of `provider`, whatever its age; `None` when there is none or it cannot
    /// be read.
    pub fn load(&self, provider: ProviderId) -> Option<InstrumentList> {
        let bytes = self.store.get(&Self::key(provider)).ok()??;
        serde_json::from_slice::<InstrumentList>(&bytes)
            .ok()
            .filter(|l| l.provider == provider.as_str())
    }

    pub fn save(&self, list: &InstrumentList) -> io::Result<()> {
        let provider = ProviderId::parse(&list.provider).expect("a list names its provider");
        let mut bytes = serde_json::to_vec_pretty(list).expect("a list serialises");
        bytes.push(b'\n');
        self.store
            .put(&Self::key(provider), &bytes, "mid_instruments")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    #[test]
    fn a_saved_list_loads_back_and_is_fresh_for_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let cache = InstrumentCache::new(&StateStore::Local(dir.path().to_path_buf()));
        assert_eq!(cache.load(ProviderId::Coinbase), None);
        let list = InstrumentList {
            provider: "coinbase".into(),
            fetched_at: at("2024-03-01T00:00:00Z"),
            instruments: vec![Instrument::online("BTC-USD".into(), "spot", None)],
        };
        cache.save(&list).unwrap();
        let loaded = cache.load(ProviderId::Coinbase).unwrap();
        assert_eq!(loaded, list);
        assert_eq!(cache.load(ProviderId::Oanda), None);
        assert!(loaded.fresh(at("2024-03-01T23:59:59Z")));
        assert!(!loaded.fresh(at("2024-03-02T00:00:00Z")));
        assert!(!loaded.fresh(at("2024-02-29T23:00:00Z")));
        std::fs::write(dir.path().join("instruments/coinbase.json"), "{torn").unwrap();
        assert_eq!(cache.load(ProviderId::Coinbase), None);
    }
}
