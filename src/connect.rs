//! Builds a provider's client and its rate budget for a run, from checked settings and the
//! provider's credential. A missing credential is a usage error, found before any request.

use std::sync::Arc;

use crate::plan::{PlanError, Settings};
use crate::providers::coinbase::{CoinbaseClient, CoinbaseConfig};
use crate::providers::oanda::{OandaClient, OandaConfig};
use crate::providers::{CandleSource, Clock, ProviderId};
use crate::schedule::Budget;
use crate::state::budget::DailyBudget;

/// A provider's client with the budget every request to it passes.
pub struct Connection {
    pub source: Arc<dyn CandleSource>,
    pub budget: Arc<Budget>,
}

pub fn connect(
    settings: &Settings,
    provider: ProviderId,
    clock: Clock,
) -> Result<Connection, PlanError> {
    let secret = settings.credentials.for_provider(provider)?;
    let transport = |e: crate::providers::FetchError| PlanError(e.to_string());
    let (source, endpoint, daily): (Arc<dyn CandleSource>, _, _) = match provider {
        ProviderId::Coinbase => {
            let config = CoinbaseConfig {
                base_url: settings.coinbase.url.clone(),
                timeout: settings.http_timeout,
            };
            (
                Arc::new(CoinbaseClient::new(config, clock).map_err(transport)?),
                &settings.coinbase,
                None,
            )
        }
        ProviderId::Oanda => {
            let token = secret.map(|s| s.expose().to_string()).unwrap_or_default();
            let config = OandaConfig {
                base_url: settings.oanda.url.clone(),
                token,
                timeout: settings.http_timeout,
            };
            (
                Arc::new(OandaClient::new(config, clock).map_err(transport)?),
                &settings.oanda,
                None,
            )
        }
        ProviderId::AlphaVantage => {
            let _ = secret;
            return Err(PlanError(format!(
                "provider '{}' is not available in this build yet; use coinbase",
                provider.as_str()
            )));
        }
    };
    let budget = Arc::new(Budget::new(endpoint.rps, daily));
    Ok(Connection { source, budget })
}

/// The daily budget of a provider that has one (Alpha Vantage), shared across runs.
pub fn daily_budget(
    settings: &Settings,
    provider: ProviderId,
    clock: Clock,
) -> Option<DailyBudget> {
    (provider == ProviderId::AlphaVantage && settings.alphavantage_daily_limit > 0).then(|| {
        DailyBudget::new(
            &settings.state_dir,
            provider.as_str(),
            settings.alphavantage_daily_limit,
            clock,
        )
    })
}
