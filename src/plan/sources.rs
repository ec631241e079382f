//! Builds a provider's client and the rate gate every request to it passes, from checked
//! settings and the provider's credential. A missing credential, or a shared rate limiter that
//! cannot be reached, is a usage error, found before any request.

use std::sync::Arc;

use super::{Limiter, PlanError, Settings};
use crate::fetch::RateGate;
use crate::fetch::shared::SharedBudget;
use crate::providers::alphavantage::{AlphaVantageClient, AlphaVantageConfig};
use crate::providers::coinbase::{CoinbaseClient, CoinbaseConfig};
use crate::providers::oanda::{OandaClient, OandaConfig};
use crate::providers::{CandleSource, Clock, FetchError, ProviderId};
use crate::state::quota::DailyQuota;

/// A provider's client with the rate gate every request to it passes.
pub struct Source {
    pub client: Arc<dyn CandleSource>,
    pub gate: Arc<RateGate>,
}

/// The client and gate of `provider` for this run.
pub async fn connect(
    settings: &Settings,
    provider: ProviderId,
    clock: Clock,
) -> Result<Source, PlanError> {
    // Coinbase needs no credential; the others always have one here.
    let credential = settings.credentials.for_provider(provider)?;
    let secret = credential.clone().unwrap_or_default();
    let timeout = settings.http_timeout;
    let endpoint = settings.endpoint(provider);
    let (base_url, at) = (endpoint.url.clone(), clock.clone());
    let source: Arc<dyn CandleSource> = match provider {
        ProviderId::Coinbase => Arc::new(refused(CoinbaseClient::new(
            CoinbaseConfig { base_url, timeout },
            at,
        ))?),
        ProviderId::Oanda => Arc::new(refused(OandaClient::new(
            OandaConfig {
                base_url,
                token: secret,
                timeout,
                account: settings.oanda_account.clone(),
            },
            at,
        ))?),
        ProviderId::AlphaVantage => Arc::new(refused(AlphaVantageClient::new(
            AlphaVantageConfig {
                base_url,
                api_key: secret,
                timeout,
                class_overrides: settings.alphavantage_classes.clone(),
            },
            at,
        ))?),
    };
    let gate = Arc::new(match &settings.rate_limiter {
        Limiter::Local => RateGate::new(endpoint.rps, daily_quota(settings, provider, clock)),
        Limiter::Redis(url) => {
            let daily = (provider.has_daily_quota() && settings.alphavantage_daily_limit > 0)
                .then_some(settings.alphavantage_daily_limit);
            let budget = SharedBudget::connect(
                url,
                provider,
                credential.as_ref(),
                endpoint.rps,
                daily,
                clock,
            )
            .await
            .map_err(PlanError)?;
            RateGate::shared(budget)
        }
    });
    Ok(Source {
        client: source,
        gate,
    })
}

/// The daily quota of a provider that has one (Alpha Vantage), shared across runs.
pub fn daily_quota(settings: &Settings, provider: ProviderId, clock: Clock) -> Option<DailyQuota> {
    (provider.has_daily_quota() && settings.alphavantage_daily_limit > 0).then(|| {
        DailyQuota::new(
            &settings.state_dir,
            provider.as_str(),
            settings.alphavantage_daily_limit,
            clock,
        )
    })
}

/// A client that could not be built is a usage error, found before any request.
fn refused<T>(client: Result<T, FetchError>) -> Result<T, PlanError> {
    client.map_err(|e| PlanError(e.to_string()))
}
