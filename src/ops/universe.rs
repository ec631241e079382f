//! The providers' instrument lists as every command gets them: the cached one while it is
//! fresh, else asked for through the provider's rate gate (with the retry schedule) and cached
//! in the state dir; pairs looked up in them (`Lists`); and `--pairs` patterns resolved
//! against them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::plan::{BackfillPlan, PlanError, Settings, connect, expand};
use crate::providers::{Clock, FetchError, Instrument, ProviderId};
use crate::series::Listing;
use crate::state::instruments::{InstrumentCache, InstrumentList};

/// Tries of one list request: the first and three retries, as for a candle window.
const TRIES: u32 = 4;

/// A provider's list, and whether it came from the cache.
pub struct Current {
    pub list: InstrumentList,
    pub cached: bool,
}

/// The provider's list: the cached one while fresh (unless `refresh`), else one list request
/// (retried on the contract's schedule), then cached. A missing credential or Oanda account is
/// a usage error, found before the request.
pub async fn current(
    settings: &Settings,
    provider: ProviderId,
    clock: Clock,
    refresh: bool,
) -> Result<Current> {
    let cache = InstrumentCache::new(&settings.state_dir);
    let now = clock();
    if !refresh && let Some(list) = cache.load(provider).filter(|l| l.fresh(now)) {
        return Ok(Current { list, cached: true });
    }
    if provider == ProviderId::Oanda && settings.oanda_account.is_none() {
        return Err(PlanError(
            "oanda lists instruments per account; set CANDLELAKE_OANDA_ACCOUNT (or --oanda-account) to your account id".into(),
        )
        .into());
    }
    let source = connect(settings, provider, clock).await?;
    let mut wait = settings.retry_base;
    let mut tries = 0;
    let instruments = loop {
        tries += 1;
        match source.client.instruments(source.gate.as_ref()).await {
            Ok(list) => break list,
            Err(e) if e.is_retryable() && tries < TRIES => {
                let pause = e.retry_after.map_or(wait, |w| w.max(wait));
                if pause > settings.max_retry_after {
                    return Err(failed(provider, &e, tries));
                }
                tracing::warn!(
                    provider = provider.as_str(),
                    "The instrument list failed, retrying: {e}"
                );
                tokio::time::sleep(pause).await;
                wait *= 2;
            }
            Err(e) => return Err(failed(provider, &e, tries)),
        }
    };
    let list = InstrumentList {
        provider: provider.as_str().to_string(),
        fetched_at: now,
        instruments,
    };
    cache
        .save(&list)
        .map_err(|e| Error::write(&cache.path(provider), e))?;
    Ok(Current {
        list,
        cached: false,
    })
}

fn failed(provider: ProviderId, e: &FetchError, tries: u32) -> Error {
    let after = match tries {
        1 => String::new(),
        n => format!(" after {n} tries"),
    };
    // The shared wording of a refused answer says it is retried; here the tries are over.
    let said = e.message.trim_end_matches("; retrying");
    Error::Failed(format!(
        "could not get the {} instrument list{after} ({said}); run again later",
        provider.as_str()
    ))
}

/// Providers' lists to look pairs up in.
#[derive(Debug, Default)]
pub struct Lists(BTreeMap<ProviderId, InstrumentList>);

impl Lists {
    /// Every provider's cached list, whatever its age: no request.
    pub fn cached(settings: &Settings) -> Self {
        let cache = InstrumentCache::new(&settings.state_dir);
        let all = [
            ProviderId::Coinbase,
            ProviderId::Oanda,
            ProviderId::AlphaVantage,
        ];
        Lists(
            all.into_iter()
                .filter_map(|p| Some((p, cache.load(p)?)))
                .collect(),
        )
    }

    /// Uses `list` for its provider from now on.
    pub fn insert(&mut self, list: InstrumentList) {
        if let Some(p) = ProviderId::parse(&list.provider) {
            self.0.insert(p, list);
        }
    }

    /// The listed instrument of `provider` named `pair`.
    pub fn instrument(&self, provider: ProviderId, pair: &str) -> Option<&Instrument> {
        self.0.get(&provider)?.find(pair)
    }

    /// What the lists say of the pair's life (nothing when no list names it).
    pub fn listing(&self, provider: ProviderId, pair: &str) -> Listing {
        self.instrument(provider, pair)
            .map(Listing::of)
            .unwrap_or_default()
    }
}

/// What one `--pairs` pattern named.
#[derive(Debug, Clone, Serialize)]
pub struct Resolved {
    pub pattern: String,
    pub pairs: Vec<String>,
}

/// Resolves the plan's patterns against its provider's list (the cached one while fresh, else
/// one list request, before any candle request), adding the pairs they name; a pattern that
/// names none is a usage error. Plain pairs need no list: without patterns nothing is asked.
/// Returns the lists to look pairs up in (the cached ones, and the one just asked for).
pub async fn resolve(
    settings: &Settings,
    plan: &mut BackfillPlan,
    clock: Clock,
) -> Result<(Lists, Vec<Resolved>)> {
    let mut lists = Lists::cached(settings);
    if plan.patterns.is_empty() {
        return Ok((lists, Vec::new()));
    }
    let current = current(settings, plan.provider, clock, false).await?;
    let mut resolved = Vec::new();
    for pattern in plan.patterns.clone() {
        let pairs = expand(&pattern, plan.provider, &current.list.instruments);
        plan.add_matches(&pattern, pairs.clone())?;
        tracing::info!(
            "--pairs '{pattern}' names {} pair(s): {}",
            pairs.len(),
            pairs.join(", ")
        );
        resolved.push(Resolved { pattern, pairs });
    }
    lists.insert(current.list);
    Ok((lists, resolved))
}
