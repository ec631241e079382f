//! The Oanda v20 HTTP client: builds the request, reads the response, classifies errors.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use rust_decimal::Decimal;

use super::instruments::{instruments_path, parse_instruments};
use super::models::ErrorBody;
use super::parse::{granularity, parse_body};
use crate::candle::{Page, VolumeKind};
use crate::error::{ErrorKind, FetchError};
use crate::http::{Http, Sent};
use crate::instrument::Instrument;
use crate::secret::{Secret, redact};
use crate::source::{Capabilities, Clock, Gate, ProviderId, WindowRequest, candle_source};

/// Buckets per window. A continuing window is asked from one bucket before its start (see
/// [`candles_url`]), so no request ever spans more than 5000 buckets, v20's largest `count`.
pub const MAX_BUCKETS: u32 = 4999;

/// Requests per second when the user sets none, well below the 120 per IP Oanda allows (it
/// advises at most 100 on one connection).
pub const DEFAULT_RPS: Decimal = Decimal::from_parts(50, 0, 0, false, 0);

/// Oanda's volume is the number of price ticks in the candle.
pub const VOLUME_KIND: VolumeKind = VolumeKind::Ticks;

/// The REST host of the live (fxTrade) environment.
pub const LIVE_HOST: &str = "https://api-fxtrade.oanda.com";
/// The REST host of the practice (fxPractice, demo) environment.
pub const PRACTICE_HOST: &str = "https://api-fxpractice.oanda.com";

/// The REST base URL of an Oanda environment: `live` or `practice`.
pub fn host_for(env: &str) -> Option<&'static str> {
    match env {
        "live" => Some(LIVE_HOST),
        "practice" => Some(PRACTICE_HOST),
        _ => None,
    }
}

/// Where and how to reach Oanda. `Debug` never prints the token.
#[derive(Debug, Clone)]
pub struct OandaConfig {
    /// Base URL, [`LIVE_HOST`] or [`PRACTICE_HOST`] in production.
    pub base_url: String,
    /// The personal access token, sent as `Authorization: Bearer`.
    pub token: Secret,
    pub timeout: Duration,
    /// The account whose instruments are listed (`CANDLELAKE_OANDA_ACCOUNT`); candles need none.
    pub account: Option<String>,
}

/// The v20 candles client.
#[derive(Debug)]
pub struct OandaClient {
    http: Http,
    base_url: String,
    /// `host[:port]` of the base URL, named in credential errors.
    pub(super) host: String,
    /// Kept only to redact it from anything quoted back in an error.
    token: Secret,
    account: Option<String>,
}

impl OandaClient {
    pub fn new(config: OandaConfig, clock: Clock) -> Result<Self, FetchError> {
        let base_url = config.base_url.trim().trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base_url).map_err(|_| {
            FetchError::new(
                ErrorKind::Permanent,
                format!("the oanda base URL '{base_url}' is not a valid URL"),
            )
        })?;
        let host = match (parsed.host_str(), parsed.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => {
                return Err(FetchError::new(
                    ErrorKind::Permanent,
                    format!("the oanda base URL '{base_url}' has no host"),
                ));
            }
        };
        let token = Secret::new(config.token.expose().trim());
        if token.expose().is_empty() {
            return Err(FetchError::new(
                ErrorKind::Permanent,
                "no oanda token; set OANDA_API_TOKEN or OANDA_API_TOKEN_FILE",
            ));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
            FetchError::new(
                ErrorKind::Permanent,
                "the oanda token holds characters an HTTP header cannot carry; check OANDA_API_TOKEN",
            )
        })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(
            "Accept-Datetime-Format",
            HeaderValue::from_static("RFC3339"),
        );
        let http = Http::new(ProviderId::Oanda, config.timeout, headers, clock)?;
        Ok(OandaClient {
            http,
            base_url,
            host,
            token,
            account: config.account.map(|a| a.trim().to_string()),
        })
    }

    /// An error with the token redacted, should Oanda ever quote it back.
    fn scrub(&self, err: FetchError) -> FetchError {
        FetchError {
            message: redact(&err.message, &self.token),
            ..err
        }
    }

    /// The window's one request, and every candle of its answer; nothing is asked of a window
    /// that starts at or after now.
    async fn fetch(&self, request: &WindowRequest, gate: &dyn Gate) -> Result<Page, FetchError> {
        let instrument = instrument(&request.pair);
        if !is_instrument(&instrument) {
            return Err(FetchError::new(
                ErrorKind::Permanent,
                format!(
                    "oanda cannot ask for '{}': not a BASE-QUOTE pair",
                    request.pair
                ),
            ));
        }
        // A window that starts at or after now holds nothing yet; v20 would refuse its `to`.
        let now = self.http.now();
        if clamped_to(request, now) <= request.start {
            return Ok(Page {
                candles: Vec::new(),
                response_time: now,
                received_at: now,
                request: candles_url(&self.base_url, request, now),
                volume_kind: VOLUME_KIND,
                available_from: None,
            });
        }

        let url = candles_url(&self.base_url, request, self.http.now());
        let sent = self.http.send(gate, &url, None).await?;
        let request_id = sent
            .headers
            .get("RequestID")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::debug!(
            request_id,
            %instrument,
            status = sent.status.as_u16(),
            "Oanda answered a candles request."
        );
        if !sent.status.is_success() {
            return Err(self.scrub(classify(&sent, &instrument, &self.host)));
        }
        let candles = parse_body(&sent.body).map_err(|e| self.scrub(e))?;
        Ok(sent.page(candles, VOLUME_KIND, None))
    }
}

impl OandaClient {
    /// The account's instruments, in one request.
    async fn list_instruments(&self, gate: &dyn Gate) -> Result<Vec<Instrument>, FetchError> {
        let Some(account) = &self.account else {
            return Err(FetchError::new(
                ErrorKind::Permanent,
                "oanda lists instruments per account; set CANDLELAKE_OANDA_ACCOUNT to your account id",
            ));
        };
        let url = format!("{}{}", self.base_url, instruments_path(account)?);
        let sent = self.http.send(gate, &url, None).await?;
        if matches!(sent.status.as_u16(), 400 | 404 | 405) {
            return Err(self.scrub(sent.error(
                ErrorKind::Permanent,
                format!(
                    "oanda does not know account {account} at {} ({}); check CANDLELAKE_OANDA_ACCOUNT and CANDLELAKE_OANDA_ENV",
                    self.host,
                    sent.status.as_u16()
                ),
            )));
        }
        if !sent.status.is_success() {
            return Err(self.scrub(classify(&sent, "the instrument list", &self.host)));
        }
        parse_instruments(&sent.body).map_err(|e| self.scrub(e))
    }
}

candle_source!(
    OandaClient,
    ProviderId::Oanda,
    Capabilities::every_timeframe(MAX_BUCKETS)
);

/// The v20 instrument of a canonical pair: `EUR-USD` → `EUR_USD`.
pub fn instrument(pair: &str) -> String {
    pair.replace('-', "_")
}

/// The `to` of a request: the window's end, never later than `now` (v20 refuses a `to` in the
/// future), in whole seconds.
fn clamped_to(request: &WindowRequest, now: DateTime<Utc>) -> DateTime<Utc> {
    request.end.min(now).trunc_subsecs(0)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The candles URL of a window, `to` clamped to `now`.
///
/// A first window asks `from=start&includeFirst=true`. A continuing window asks from one bucket
/// before its start with `includeFirst=false`: v20's forward paging, which never repeats the
/// previous window's boundary candle. `count` is never sent (v20 refuses it with both `from`
/// and `to`).
pub fn candles_url(base_url: &str, request: &WindowRequest, now: DateTime<Utc>) -> String {
    let (from, include_first) = if request.continues {
        (request.start - request.timeframe.duration(), false)
    } else {
        (request.start, true)
    };
    format!(
        "{}/v3/instruments/{}/candles?price=M&smooth=false&dailyAlignment=0&alignmentTimezone=UTC&granularity={}&from={}&to={}&includeFirst={}",
        base_url.trim_end_matches('/'),
        instrument(&request.pair),
        granularity(request.timeframe),
        rfc3339(from),
        rfc3339(clamped_to(request, now)),
        include_first,
    )
}

/// Whether the pair can be put in a URL path as a v20 instrument.
fn is_instrument(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Turns a non-2xx answer into an error the engine can act on. `host` is `host[:port]` of the
/// base URL, named when the token is refused.
pub(super) fn classify(sent: &Sent, instrument: &str, host: &str) -> FetchError {
    let (status, body) = (sent.status, &sent.body);
    let detail = match serde_json::from_str::<ErrorBody>(body) {
        Ok(ErrorBody {
            error_message: Some(m),
            error_code,
        }) => match error_code {
            Some(serde_json::Value::String(c)) => format!("{m} [{c}]"),
            None | Some(serde_json::Value::Null) => m,
            Some(c) => format!("{m} [{c}]"),
        },
        _ => body.trim().chars().take(200).collect(),
    };
    let detail = if detail.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no message")
            .to_string()
    } else {
        detail
    };
    sent.refusal(ProviderId::Oanda, &detail, |code| match code {
        401 | 403 => (
            ErrorKind::Halt,
            format!(
                "oanda rejected the token at {host} ({code}: {detail}); a practice token works only with CANDLELAKE_OANDA_ENV=practice, a live token only with live"
            ),
        ),
        400 | 404 | 405 => {
            let hint = if detail.contains("'count'") {
                "the window is wider than 5000 candles"
            } else if detail.contains("'to'") && detail.contains("future") {
                "the local clock may be ahead of Oanda's"
            } else {
                "check the pair"
            };
            (
                ErrorKind::Permanent,
                format!("oanda refused {instrument} ({code}: {detail}); {hint}"),
            )
        }
        _ => (
            ErrorKind::Permanent,
            format!("oanda refused the request for {instrument} ({code}: {detail})"),
        ),
    })
}
