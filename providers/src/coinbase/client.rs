//! The Coinbase HTTP client: builds the request, reads the response, classifies errors.

use std::time::Duration;

use reqwest::header::HeaderMap;
use rust_decimal::Decimal;

use super::instruments::{PRODUCTS, parse_products};
use super::models::ErrorBody;
use super::parse::{granularity, parse_body};
use crate::candle::{Page, VolumeKind};
use crate::error::{ErrorKind, FetchError};
use crate::http::{Http, Sent};
use crate::instrument::Instrument;
use crate::source::{Capabilities, Clock, Gate, ProviderId, WindowRequest, candle_source};

/// Buckets per request: Coinbase documents 350 but live probes were refused above 300.
pub const MAX_BUCKETS: u32 = 300;

/// Requests per second when the user sets none, below the public limit of about 10 per IP.
pub const DEFAULT_RPS: Decimal = Decimal::from_parts(8, 0, 0, false, 0);

/// Coinbase's volume is in the base currency.
pub const VOLUME_KIND: VolumeKind = VolumeKind::Base;

#[derive(Debug, Clone)]
pub struct CoinbaseConfig {
    /// Base URL, `https://api.coinbase.com` in production.
    pub base_url: String,
    pub timeout: Duration,
}

#[derive(Debug)]
pub struct CoinbaseClient {
    http: Http,
    base_url: String,
}

impl CoinbaseClient {
    pub fn new(config: CoinbaseConfig, clock: Clock) -> Result<Self, FetchError> {
        let http = Http::new(
            ProviderId::Coinbase,
            config.timeout,
            HeaderMap::new(),
            clock,
        )?;
        Ok(CoinbaseClient {
            http,
            base_url: config.base_url.trim_end_matches('/').to_string(),
        })
    }

    /// No `limit` is sent: Advanced Trade keeps the newest `limit` rows, and a window of 300
    /// buckets can be answered with more rows than that (a row repeated, both ends inclusive),
    /// so a `limit` of the bucket count would silently drop the window's oldest candles. The
    /// default (350) holds any answer to a window of at most [`MAX_BUCKETS`]; a wider range is
    /// refused outright, never cut.
    fn url(&self, request: &WindowRequest) -> String {
        // `end` is sent one second before the window's end: Coinbase treats it as inclusive,
        // and the window's last bucket still starts before it.
        format!(
            "{}/api/v3/brokerage/market/products/{}/candles?start={}&end={}&granularity={}",
            self.base_url,
            request.pair,
            request.start.timestamp(),
            request.end.timestamp() - 1,
            granularity(request.timeframe),
        )
    }

    /// The window's one request, and every row of its answer.
    async fn fetch(&self, request: &WindowRequest, gate: &dyn Gate) -> Result<Page, FetchError> {
        let sent = self.http.send(gate, &self.url(request), None).await?;
        if !sent.status.is_success() {
            return Err(classify(&sent, &request.pair));
        }
        let candles = parse_body(&sent.body)?;
        Ok(sent.page(candles, VOLUME_KIND, None))
    }

    /// Every spot product, in one request.
    async fn list_instruments(&self, gate: &dyn Gate) -> Result<Vec<Instrument>, FetchError> {
        let url = format!("{}{PRODUCTS}", self.base_url);
        let sent = self.http.send(gate, &url, None).await?;
        if !sent.status.is_success() {
            let detail = detail(&sent);
            return Err(sent.refusal(ProviderId::Coinbase, &detail, |code| {
                (
                    ErrorKind::Permanent,
                    format!("coinbase refused its product list ({code}: {detail}); check CANDLELAKE_COINBASE_URL"),
                )
            }));
        }
        parse_products(&sent.body)
    }
}

candle_source!(
    CoinbaseClient,
    ProviderId::Coinbase,
    Capabilities::every_timeframe(MAX_BUCKETS)
);

/// Turns a non-2xx answer into an error the engine can act on.
fn classify(sent: &Sent, pair: &str) -> FetchError {
    let detail = detail(sent);
    sent.refusal(ProviderId::Coinbase, &detail, |code| match code {
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
    })
}

/// What an error body says: its `message` or `error`, else its first 200 characters.
fn detail(sent: &Sent) -> String {
    let body = &sent.body;
    serde_json::from_str::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.message.or(b.error))
        .unwrap_or_else(|| body.chars().take(200).collect())
}
