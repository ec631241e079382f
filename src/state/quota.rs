//! The daily request budget (Alpha Vantage), kept per UTC date in
//! `{state}/budget/{provider}-{YYYY-MM-DD}.json` so it holds across runs. A request is counted
//! before it is sent; once the day's limit is reached the next one is refused unsent.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::store::StateStore;
use crate::providers::Clock;

/// Why a request was refused unsent.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    #[error(
        "the {provider} daily budget of {limit} requests for {date} (UTC) is used up, so this request was not sent; rerun after 00:00 UTC or raise CANDLELAKE_ALPHAVANTAGE_DAILY_LIMIT"
    )]
    Spent {
        provider: &'static str,
        limit: u64,
        date: String,
    },
    #[error(
        "could not record the daily request budget in {dir}: {source}; check that the state dir is writable"
    )]
    Io { dir: String, source: std::io::Error },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Spent {
    date: String,
    requests: u64,
}

pub struct DailyQuota {
    store: StateStore,
    provider: &'static str,
    limit: u64,
    clock: Clock,
    lock: Mutex<()>,
}

impl DailyQuota {
    pub fn new(state_dir: &StateStore, provider: &'static str, limit: u64, clock: Clock) -> Self {
        DailyQuota {
            store: state_dir.clone(),
            provider,
            limit,
            clock,
            lock: Mutex::new(()),
        }
    }

    fn key(&self, now: DateTime<Utc>) -> String {
        format!("budget/{}-{}.json", self.provider, now.format("%Y-%m-%d"))
    }

    /// Requests spent today (UTC).
    pub fn spent_today(&self) -> u64 {
        self.store
            .get(&self.key((self.clock)()))
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice::<Spent>(&b).ok())
            .map_or(0, |s| s.requests)
    }

    /// Counts one request, or refuses it when today's budget is spent.
    pub fn spend_one(&self) -> Result<(), QuotaError> {
        let _guard = self.lock.lock().expect("budget lock");
        let now = (self.clock)();
        let spent = self.spent_today();
        if spent >= self.limit {
            return Err(QuotaError::Spent {
                provider: self.provider,
                limit: self.limit,
                date: now.format("%Y-%m-%d").to_string(),
            });
        }
        let record = Spent {
            date: now.format("%Y-%m-%d").to_string(),
            requests: spent + 1,
        };
        let bytes = serde_json::to_vec(&record).expect("budget serialises");
        self.store
            .put(&self.key(now), &bytes, "mid_budget_write")
            .map_err(|source| QuotaError::Io {
                dir: self.store.show("budget"),
                source,
            })
    }
}
