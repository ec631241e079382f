//! The Coinbase HTTP client: builds the request, reads the response, classifies errors.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use rust_decimal::Decimal;

use super::models::ErrorBody;
use super::parse::{granularity, parse_body};
use crate::candle::{Page, VolumeKind};
use crate::error::{ErrorKind, FetchError};
use crate::source::{CandleSource, Capabilities, Clock, Gate, ProviderId, WindowRequest};
use crate::timeframe::Timeframe;
use crate::wire::{body_text, date_header, retry_after};

/// Buckets per request: Coinbase documents 350 but live probes were refused above 300.
pub const MAX_BUCKETS: u32 = 300;

#[derive(Debug, Clone)]
pub struct CoinbaseConfig {
    /// Base URL, `https://api.coinbase.com` in production.
    pub base_url: String,
    pub timeout: Duration,
}

pub struct CoinbaseClient {
    http: reqwest::Client,
    base_url: String,
    clock: Clock,
}

impl CoinbaseClient {
    pub fn new(config: CoinbaseConfig, clock: Clock) -> Result<Self, FetchError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("candlelake/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::from_transport(e, "coinbase"))?;
        Ok(CoinbaseClient {
            http,
            base_url: config.base_url.trim_end_matches('/').to_string(),
            clock,
        })
    }

    fn url(&self, request: &WindowRequest) -> String {
        // `end` is sent one second before the window's end: Coinbase treats it as inclusive,
        // and the window's last bucket still starts before it.
        format!(
            "{}/api/v3/brokerage/market/products/{}/candles?start={}&end={}&granularity={}&limit={}",
            self.base_url,
            request.pair,
            request.start.timestamp(),
            request.end.timestamp() - 1,
            granularity(request.timeframe),
            buckets(request),
        )
    }
}

fn buckets(request: &WindowRequest) -> i64 {
    (request.end - request.start).num_seconds() / request.timeframe.seconds()
}

#[async_trait]
impl CandleSource for CoinbaseClient {
    fn id(&self) -> ProviderId {
        ProviderId::Coinbase
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            native_timeframes: Timeframe::ALL.to_vec(),
            max_buckets_per_request: MAX_BUCKETS,
            default_rps: Decimal::new(8, 0),
        }
    }

    async fn fetch_window(
        &self,
        request: &WindowRequest,
        gate: &dyn Gate,
    ) -> Result<Page, FetchError> {
        gate.admit().await?;
        let url = self.url(request);
        let response = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| FetchError::from_transport(e, "coinbase"))?;
        let received_at = (self.clock)();
        let status = response.status();
        let headers = response.headers().clone();
        let body = body_text(response)
            .await
            .map_err(|e| FetchError::from_transport(e, "coinbase"))?;
        if !status.is_success() {
            return Err(classify(status, &headers, &body, &request.pair));
        }
        let candles = parse_body(&body)?;
        Ok(Page {
            candles,
            response_time: date_header(&headers).unwrap_or(received_at),
            received_at,
            request: url,
            volume_kind: VolumeKind::Base,
            available_from: None,
        })
    }
}

/// Turns a non-2xx answer into an error the engine can act on.
fn classify(status: StatusCode, headers: &HeaderMap, body: &str, pair: &str) -> FetchError {
    let detail = serde_json::from_str::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.message.or(b.error))
        .unwrap_or_else(|| body.chars().take(200).collect());
    let code = status.as_u16();
    let (kind, message) = match code {
        429 => (
            ErrorKind::RateLimited,
            format!("coinbase rate limit hit (429: {detail}); waiting before retrying"),
        ),
        500..=599 => (
            ErrorKind::Transient,
            format!("coinbase server error {code} ({detail}); retrying"),
        ),
        404 => (
            ErrorKind::Permanent,
            format!(
                "coinbase does not know product {pair} (404: {detail}); check the pair against Coinbase's product list"
            ),
        ),
        _ => (
            ErrorKind::Permanent,
            format!("coinbase refused the request ({code}: {detail})"),
        ),
    };
    FetchError::new(kind, message)
        .with_status(code)
        .with_retry_after(retry_after(headers))
}
