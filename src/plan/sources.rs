//! Builds a provider's client and the rate gate every request to it passes, from checked
//! settings and the provider's credential. A missing credential is a usage error, found before
//! any request.

use std::sync::Arc;

use super::{Endpoint, PlanError, Settings};
use crate::fetch::RateGate;
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
pub fn connect(
    settings: &Settings,
    provider: ProviderId,
    clock: Clock,
) -> Result<Source, PlanError> {
    // Coinbase needs no credential; the others always have one here.
    let secret = settings
        .credentials
        .for_provider(provider)?
        .unwrap_or_default();
    let refused = |e: FetchError| PlanError(e.to_string());
    let timeout = settings.http_timeout;
    let (source, endpoint): (Arc<dyn CandleSource>, &Endpoint) = match provider {
        ProviderId::Coinbase => {
            let config = CoinbaseConfig {
                base_url: settings.coinbase.url.clone(),
                timeout,
            };
            (
                Arc::new(CoinbaseClient::new(config, clock.clone()).map_err(refused)?),
                &settings.coinbase,
            )
        }
        ProviderId::Oanda => {
            let config = OandaConfig {
                base_url: settings.oanda.url.clone(),
                token: secret,
                timeout,
            };
            (
                Arc::new(OandaClient::new(config, clock.clone()).map_err(refused)?),
                &settings.oanda,
            )
        }
        ProviderId::AlphaVantage => {
            let config = AlphaVantageConfig {
                base_url: settings.alphavantage.url.clone(),
                api_key: secret,
                timeout,
                class_overrides: settings.alphavantage_classes.clone(),
            };
            (
                Arc::new(AlphaVantageClient::new(config, clock.clone()).map_err(refused)?),
                &settings.alphavantage,
            )
        }
    };
    let gate = Arc::new(RateGate::new(
        endpoint.rps,
        daily_quota(settings, provider, clock),
    ));
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
