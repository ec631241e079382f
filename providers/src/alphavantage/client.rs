//! The Alpha Vantage HTTP client: picks the function per asset class, sends the request with
//! the key, and classifies every HTTP-200 body (Alpha Vantage answers 200 for every failure).
//! The key is a `Secret`: errors, logs, `Debug` and `Page::request` show `[redacted]`, and body
//! texts that echo it are redacted before they are quoted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url};
use rust_decimal::Decimal;

use super::classify::{AssetClass, classify, is_ticker, market_of};
use super::instruments::{CURRENCY_LISTS, parse_currencies, parse_listing};
use super::parse::{Answer, parse_body};
use super::request::{Call, call_for, month_windows};
use crate::candle::{Page, WireCandle};
use crate::error::{ErrorKind, FetchError};
use crate::http::{Http, SecretParam, Sent};
use crate::instrument::Instrument;
use crate::secret::{Secret, redact};
use crate::source::{Capabilities, Clock, Gate, Paging, ProviderId, WindowRequest, candle_source};
use crate::timeframe::Timeframe;

/// How long to wait after the per-second burst note ("... more sparingly (1 request per
/// second)").
pub const BURST_RETRY_AFTER: Duration = Duration::from_secs(2);

/// How long to wait after the legacy note ("5 calls per minute and 500 calls per day").
pub const LEGACY_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Requests per second when the user sets none, below the free key's burst limit of about 1.
pub const DEFAULT_RPS: Decimal = Decimal::from_parts(8, 0, 0, false, 1);

/// 1h and 4h are not native: equity `60min` keys sit at :30 past the hour, so they are built
/// from 30min. One call answers a whole range (or month), so requests have no bucket limit.
const CAPABILITIES: Capabilities = Capabilities {
    native_timeframes: &[
        Timeframe::M1,
        Timeframe::M5,
        Timeframe::M15,
        Timeframe::M30,
        Timeframe::D1,
    ],
    max_buckets_per_request: u32::MAX,
};

/// Longest body text quoted in an error message.
const QUOTE_CHARS: usize = 300;

#[derive(Debug, Clone)]
pub struct AlphaVantageConfig {
    /// Base URL, `https://www.alphavantage.co` in production; requests go to `{base}/query`.
    pub base_url: String,
    pub api_key: Secret,
    pub timeout: Duration,
    /// Pairs whose class the user set by hand (canonical pair → class).
    pub class_overrides: HashMap<String, AssetClass>,
}

#[derive(Debug)]
pub struct AlphaVantageClient {
    http: Http,
    /// `{base}/query`, without parameters.
    query_url: Url,
    api_key: Secret,
    overrides: HashMap<String, AssetClass>,
    /// Set once this key was told `outputsize=full` is premium (`TIME_SERIES_DAILY`): every
    /// later call of this run asks `compact` directly instead of spending a request on `full`.
    full_is_premium: AtomicBool,
}

/// What a 200 body means for the window.
enum Verdict {
    Candles(Vec<WireCandle>),
    /// The premium-parameter note on `TIME_SERIES_DAILY&outputsize=full`: ask for `compact`.
    FallBack,
    Failed(FetchError),
}

impl AlphaVantageClient {
    pub fn new(config: AlphaVantageConfig, clock: Clock) -> Result<Self, FetchError> {
        let base = config.base_url.trim_end_matches('/');
        let query_url = Url::parse(&format!("{base}/query")).map_err(|e| {
            FetchError::new(
                ErrorKind::Permanent,
                format!("alphavantage base URL '{base}' is not a valid URL ({e})"),
            )
        })?;
        let http = Http::new(
            ProviderId::AlphaVantage,
            config.timeout,
            HeaderMap::new(),
            clock,
        )?;
        Ok(AlphaVantageClient {
            http,
            query_url,
            api_key: config.api_key,
            overrides: config.class_overrides,
            full_is_premium: AtomicBool::new(false),
        })
    }

    /// The asset class of a canonical pair or ticker, overrides applied.
    pub fn class_of(&self, pair: &str) -> AssetClass {
        classify(pair, &self.overrides)
    }

    /// How a range is cut into requests. Equity intraday: one window per America/New_York
    /// calendar month (`month=YYYY-MM`). Everything else: the whole range in one window (one
    /// call returns all the history Alpha Vantage serves).
    fn paging_of(&self, pair: &str, tf: Timeframe) -> Paging {
        if self.class_of(pair) == AssetClass::Equity && tf != Timeframe::D1 {
            Paging::Cut(month_windows)
        } else {
            Paging::Buckets(u32::MAX)
        }
    }

    /// The URL of a call, without the key.
    fn url(&self, call: &Call) -> String {
        let mut url = self.query_url.clone();
        url.query_pairs_mut().extend_pairs(&call.params);
        url.into()
    }

    /// `text` redacted, then cut to a quotable length (redacting first, so no part of the key
    /// survives the cut).
    fn quote(&self, text: &str) -> String {
        let text = redact(text, &self.api_key);
        let mut chars = text.chars();
        let mut out: String = chars.by_ref().take(QUOTE_CHARS).collect();
        if chars.next().is_some() {
            out.push('…');
        }
        out
    }

    fn scrub(&self, mut err: FetchError) -> FetchError {
        err.message = redact(&err.message, &self.api_key);
        err
    }

    /// Passes the gate, then sends one call with the key.
    async fn send(&self, call: &Call, gate: &dyn Gate) -> Result<Sent, FetchError> {
        let key = SecretParam {
            name: "apikey",
            value: &self.api_key,
        };
        self.http.send(gate, &self.url(call), Some(key)).await
    }

    /// A non-200 answer: 429 and 5xx are retried, any other 4xx is permanent.
    fn http_error(&self, sent: &Sent, pair: &str) -> FetchError {
        let code = sent.status.as_u16();
        let detail = self.quote(sent.body.trim());
        let (kind, what) = match code {
            429 => (ErrorKind::RateLimited, "rate limited the request"),
            500..=599 => (ErrorKind::Transient, "had a server error"),
            400..=499 => (ErrorKind::Permanent, "refused the request"),
            _ => (ErrorKind::Transient, "sent an unexpected status"),
        };
        sent.error(
            kind,
            format!("alphavantage {what} for {pair} (HTTP {code}: {detail})"),
        )
    }

    /// Classifies a 200 body, in the order of providers.md 1.7: a series first, then
    /// `Error Message`, then the notes (burst before quota: both mention the daily limit).
    fn judge(&self, answer: Answer, call: &Call, pair: &str, tf: Timeframe) -> Verdict {
        let function = call.function;
        let failed = |kind, message: String| Verdict::Failed(FetchError::new(kind, message));
        match answer {
            Answer::Series(candles) => Verdict::Candles(candles),
            Answer::ErrorMessage(text) => failed(
                ErrorKind::Permanent,
                format!(
                    "alphavantage rejected the request for {pair} ({})",
                    self.quote(&text)
                ),
            ),
            Answer::Notice(text) => {
                let has = |needle: &str| text.to_ascii_lowercase().contains(needle);
                if has("sparingly") || has("per second") {
                    Verdict::Failed(
                        FetchError::new(
                            ErrorKind::RateLimited,
                            format!(
                                "alphavantage asks to spread requests out (burst limit of about 1 request per second) for {pair} {tf}; retrying"
                            ),
                        )
                        .with_retry_after(Some(BURST_RETRY_AFTER)),
                    )
                } else if has("detected your api key")
                    || has("remove all daily rate limits")
                    || has("requests per day")
                {
                    failed(
                        ErrorKind::Halt,
                        format!(
                            "alphavantage says the daily request quota of this key is used up; rerun after it resets ({})",
                            self.quote(&text)
                        ),
                    )
                } else if has("call frequency") || has("calls per minute") {
                    Verdict::Failed(
                        FetchError::new(
                            ErrorKind::RateLimited,
                            format!(
                                "alphavantage throttled the request for {pair} {tf} (legacy limit of 5 calls per minute); retrying"
                            ),
                        )
                        .with_retry_after(Some(LEGACY_RETRY_AFTER)),
                    )
                } else if has("**demo**") || has("demo api key") {
                    failed(
                        ErrorKind::Halt,
                        "alphavantage refuses the demo API key outside its documented examples; set ALPHAVANTAGE_API_KEY to your own key"
                            .to_string(),
                    )
                } else if has("premium endpoint") {
                    failed(
                        ErrorKind::Permanent,
                        format!(
                            "{function} is a premium Alpha Vantage endpoint; a premium key is needed for {pair} {tf}"
                        ),
                    )
                } else if has("premium feature") {
                    if call.may_fall_back() {
                        Verdict::FallBack
                    } else {
                        failed(
                            ErrorKind::Permanent,
                            format!(
                                "a parameter of {function} is a premium Alpha Vantage feature; a premium key is needed for {pair} {tf} ({})",
                                self.quote(&text)
                            ),
                        )
                    }
                } else if has("premium") {
                    failed(
                        ErrorKind::Permanent,
                        format!(
                            "alphavantage needs a premium key for {pair} {tf} ({function}: {})",
                            self.quote(&text)
                        ),
                    )
                } else {
                    failed(
                        ErrorKind::Permanent,
                        format!(
                            "alphavantage answered {function} for {pair} {tf} with a note candlelake does not know: {}",
                            self.quote(&text)
                        ),
                    )
                }
            }
            Answer::Empty => failed(
                ErrorKind::Permanent,
                format!(
                    "alphavantage answered {{}} for {pair}: unknown symbol or function ({function})"
                ),
            ),
            Answer::Unknown(keys) => failed(
                ErrorKind::Permanent,
                format!(
                    "alphavantage sent an unknown answer to {function} for {pair} {tf} (top-level keys: {})",
                    self.quote(&keys.join(", "))
                ),
            ),
        }
    }

    /// The window's call, and once more with `compact` should `full` be premium for this key.
    async fn fetch(&self, request: &WindowRequest, gate: &dyn Gate) -> Result<Page, FetchError> {
        let pair = request.pair.as_str();
        let tf = request.timeframe;
        let class = self.class_of(pair);
        if class == AssetClass::Equity && !is_ticker(pair) {
            return Err(FetchError::new(
                ErrorKind::Permanent,
                format!(
                    "'{pair}' is neither a BASE-QUOTE pair nor an equity ticker (A-Z, 0-9 and '.', at most 12)"
                ),
            ));
        }
        let mut call = call_for(pair, class, tf, request.start)?;
        if call.may_fall_back() && self.full_is_premium.load(Ordering::Relaxed) {
            call = call.compact();
        }
        loop {
            let sent = self.send(&call, gate).await?;
            if sent.status != StatusCode::OK {
                return Err(self.http_error(&sent, pair));
            }
            let answer =
                parse_body(&sent.body, class, market_of(pair)).map_err(|e| self.scrub(e))?;
            match self.judge(answer, &call, pair, tf) {
                Verdict::Candles(candles) => {
                    let available_from = if call.is_monthly() {
                        None
                    } else {
                        candles.iter().filter_map(|c| c.open_time.ok()).min()
                    };
                    return Ok(sent.page(candles, class.volume_kind(), available_from));
                }
                Verdict::FallBack => {
                    tracing::info!(
                        pair,
                        "Alpha Vantage outputsize=full is premium for this key; asking for the latest 100 days (compact) for the rest of the run."
                    );
                    self.full_is_premium.store(true, Ordering::Relaxed);
                    call = call.compact();
                }
                Verdict::Failed(err) => return Err(err),
            }
        }
    }
}

impl AlphaVantageClient {
    /// Active and delisted tickers (`LISTING_STATUS`, twice) and the physical and digital
    /// currencies: four requests.
    async fn list_instruments(&self, gate: &dyn Gate) -> Result<Vec<Instrument>, FetchError> {
        let mut all = Vec::new();
        for state in ["active", "delisted"] {
            let call = Call::new("LISTING_STATUS").with("state", state);
            let sent = self.send(&call, gate).await?;
            if sent.status != StatusCode::OK {
                return Err(self.http_error(&sent, "LISTING_STATUS"));
            }
            all.extend(parse_listing(&sent.body).map_err(|e| self.scrub(e))?);
        }
        for (path, kind) in CURRENCY_LISTS {
            let url = self.query_url.join(path).map_err(|e| {
                FetchError::new(
                    ErrorKind::Permanent,
                    format!("alphavantage base URL cannot name {path} ({e})"),
                )
            })?;
            let sent = self.http.send(gate, url.as_str(), None).await?;
            if sent.status != StatusCode::OK {
                return Err(self.http_error(&sent, kind));
            }
            all.extend(parse_currencies(&sent.body, kind)?);
        }
        Ok(all)
    }
}

candle_source!(
    AlphaVantageClient,
    ProviderId::AlphaVantage,
    CAPABILITIES,
    paging = paging_of
);
