//! The Oanda v20 HTTP client: builds the request, reads the response, classifies errors.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use rust_decimal::Decimal;

use super::models::ErrorBody;
use super::parse::{granularity, parse_body};
use crate::candle::{Page, VolumeKind};
use crate::error::{ErrorKind, FetchError};
use crate::source::{CandleSource, Capabilities, Clock, Gate, ProviderId, WindowRequest};
use crate::timeframe::Timeframe;
use crate::wire::{body_text, date_header, retry_after};

/// Buckets per window. A continuing window is asked from one bucket before its start (see
/// [`candles_url`]), so no request ever spans more than 5000 buckets, v20's largest `count`.
pub const MAX_BUCKETS: u32 = 4999;

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
#[derive(Clone)]
pub struct OandaConfig {
    /// Base URL, [`LIVE_HOST`] or [`PRACTICE_HOST`] in production.
    pub base_url: String,
    /// The personal access token, sent as `Authorization: Bearer`.
    pub token: String,
    pub timeout: Duration,
}

impl fmt::Debug for OandaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OandaConfig")
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The v20 candles client. Its `Debug` shows the base URL only.
pub struct OandaClient {
    http: reqwest::Client,
    base_url: String,
    /// `host[:port]` of the base URL, named in credential errors.
    host: String,
    /// Kept only to scrub it from anything quoted back in an error.
    token: String,
    clock: Clock,
}

impl fmt::Debug for OandaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OandaClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
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
        let token = config.token.trim().to_string();
        if token.is_empty() {
            return Err(FetchError::new(
                ErrorKind::Permanent,
                "no oanda token; set OANDA_API_TOKEN or OANDA_API_TOKEN_FILE",
            ));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
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
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("candlelake/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .build()
            .map_err(|e| FetchError::from_transport(e, "oanda"))?;
        Ok(OandaClient {
            http,
            base_url,
            host,
            token,
            clock,
        })
    }

    /// Whatever Oanda quoted back, with the token scrubbed should it ever appear.
    fn scrub(&self, text: &str) -> String {
        text.replace(&self.token, "[redacted]")
    }
}

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

#[async_trait]
impl CandleSource for OandaClient {
    fn id(&self) -> ProviderId {
        ProviderId::Oanda
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            native_timeframes: Timeframe::ALL.to_vec(),
            max_buckets_per_request: MAX_BUCKETS,
            default_rps: Decimal::new(50, 0),
        }
    }

    async fn fetch_window(
        &self,
        request: &WindowRequest,
        gate: &dyn Gate,
    ) -> Result<Page, FetchError> {
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
        let now = (self.clock)();
        if clamped_to(request, now) <= request.start {
            return Ok(Page {
                candles: Vec::new(),
                response_time: now,
                received_at: now,
                request: candles_url(&self.base_url, request, now),
                volume_kind: VolumeKind::Ticks,
                available_from: None,
            });
        }

        gate.admit().await?;
        let url = candles_url(&self.base_url, request, (self.clock)());
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| FetchError::from_transport(e, "oanda"))?;
        let received_at = (self.clock)();
        let status = response.status();
        let headers = response.headers().clone();
        let request_id = headers
            .get("RequestID")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::debug!(
            request_id,
            %instrument,
            status = status.as_u16(),
            "oanda candles response"
        );
        let body = body_text(response)
            .await
            .map_err(|e| FetchError::from_transport(e, "oanda"))?;
        if !status.is_success() {
            let err = classify(status, &headers, &body, &instrument, &self.host);
            return Err(FetchError {
                message: self.scrub(&err.message),
                ..err
            });
        }
        let candles = parse_body(&body).map_err(|e| FetchError {
            message: self.scrub(&e.message),
            ..e
        })?;
        Ok(Page {
            candles,
            response_time: date_header(&headers).unwrap_or(received_at),
            received_at,
            request: url,
            volume_kind: VolumeKind::Ticks,
            available_from: None,
        })
    }
}

/// Turns a non-2xx answer into an error the engine can act on. `host` is `host[:port]` of the
/// base URL, named when the token is refused.
fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    instrument: &str,
    host: &str,
) -> FetchError {
    let code = status.as_u16();
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
    let (kind, message) = match code {
        401 | 403 => (
            ErrorKind::Halt,
            format!(
                "oanda rejected the token at {host} ({code}: {detail}); a practice token works only with CANDLELAKE_OANDA_ENV=practice, a live token only with live"
            ),
        ),
        429 => (
            ErrorKind::RateLimited,
            format!("oanda rate limit hit (429: {detail}); waiting before retrying"),
        ),
        500..=599 => (
            ErrorKind::Transient,
            format!("oanda server error {code} ({detail}); retrying"),
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
    };
    FetchError::new(kind, message)
        .with_status(code)
        .with_retry_after(retry_after(headers))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    use super::*;

    const TOKEN: &str = "0123456789abcdef-SECRET-TOKEN-fedcba9876543210";

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn fixture(rel: &str) -> String {
        let path = format!("{}/../fixtures/oanda/{rel}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn fixed(now: DateTime<Utc>) -> Clock {
        Arc::new(move || now)
    }

    fn client(base_url: &str, now: DateTime<Utc>) -> OandaClient {
        let config = OandaConfig {
            base_url: base_url.to_string(),
            token: TOKEN.to_string(),
            timeout: Duration::from_secs(5),
        };
        OandaClient::new(config, fixed(now)).unwrap()
    }

    fn window(pair: &str, tf: Timeframe, start: &str, end: &str, continues: bool) -> WindowRequest {
        WindowRequest {
            pair: pair.to_string(),
            timeframe: tf,
            start: at(start),
            end: at(end),
            continues,
        }
    }

    /// Admits everything and counts, or refuses everything.
    #[derive(Default)]
    struct TestGate {
        admitted: AtomicUsize,
        refuse: bool,
    }

    #[async_trait]
    impl Gate for TestGate {
        async fn admit(&self) -> Result<(), FetchError> {
            if self.refuse {
                return Err(FetchError::new(
                    ErrorKind::Halt,
                    "oanda halted for this run",
                ));
            }
            self.admitted.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn query(req: &Request) -> BTreeMap<String, String> {
        req.url.query_pairs().into_owned().collect()
    }

    const CANDLES: &str = "/v3/instruments/EUR_USD/candles";

    #[test]
    fn hosts_and_capabilities() {
        // TC0..TC3 (env, host)
        let cases = [
            ("live", Some("https://api-fxtrade.oanda.com")),
            ("practice", Some("https://api-fxpractice.oanda.com")),
            ("fxtrade", None),
            ("", None),
        ];
        for (env, host) in cases {
            assert_eq!(host_for(env), host, "{env}");
        }
        let c = client(LIVE_HOST, at("2024-03-04T00:00:00Z"));
        assert_eq!(c.id(), ProviderId::Oanda);
        let caps = c.capabilities();
        assert_eq!(caps.native_timeframes, Timeframe::ALL.to_vec());
        assert_eq!(caps.max_buckets_per_request, 4999);
        assert_eq!(caps.default_rps, Decimal::new(50, 0));
        assert_eq!(instrument("EUR-USD"), "EUR_USD");
    }

    #[test]
    fn url_building() {
        let base = "https://api-fxtrade.oanda.com/";
        let fixed_part = "https://api-fxtrade.oanda.com/v3/instruments/EUR_USD/candles?price=M&smooth=false&dailyAlignment=0&alignmentTimezone=UTC";
        // (request, now, expected query after the fixed part)
        let cases = [
            // TC0 a first window: from = start, includeFirst=true
            (
                window(
                    "EUR-USD",
                    Timeframe::M5,
                    "2024-03-04T00:00:00Z",
                    "2024-03-05T00:00:00Z",
                    false,
                ),
                "2024-04-01T00:00:00Z",
                "&granularity=M5&from=2024-03-04T00:00:00Z&to=2024-03-05T00:00:00Z&includeFirst=true",
            ),
            // TC1 a continuing window: from one bucket earlier, includeFirst=false
            (
                window(
                    "EUR-USD",
                    Timeframe::M5,
                    "2024-03-04T00:00:00Z",
                    "2024-03-05T00:00:00Z",
                    true,
                ),
                "2024-04-01T00:00:00Z",
                "&granularity=M5&from=2024-03-03T23:55:00Z&to=2024-03-05T00:00:00Z&includeFirst=false",
            ),
            // TC2 `to` clamped to now, in whole seconds (never in the future)
            (
                window(
                    "EUR-USD",
                    Timeframe::H1,
                    "2024-03-04T00:00:00Z",
                    "2024-03-05T00:00:00Z",
                    false,
                ),
                "2024-03-04T13:27:41.900Z",
                "&granularity=H1&from=2024-03-04T00:00:00Z&to=2024-03-04T13:27:41Z&includeFirst=true",
            ),
            // TC3 1d is `D`, continuing from the previous UTC midnight; 4h is `H4`
            (
                window(
                    "EUR-USD",
                    Timeframe::D1,
                    "2024-03-04T00:00:00Z",
                    "2024-03-09T00:00:00Z",
                    true,
                ),
                "2024-04-01T00:00:00Z",
                "&granularity=D&from=2024-03-03T00:00:00Z&to=2024-03-09T00:00:00Z&includeFirst=false",
            ),
            (
                window(
                    "EUR-USD",
                    Timeframe::H4,
                    "2024-03-04T00:00:00Z",
                    "2024-03-09T00:00:00Z",
                    false,
                ),
                "2024-04-01T00:00:00Z",
                "&granularity=H4&from=2024-03-04T00:00:00Z&to=2024-03-09T00:00:00Z&includeFirst=true",
            ),
            // TC4 every other timeframe's granularity
            (
                window(
                    "EUR-USD",
                    Timeframe::M1,
                    "2024-03-04T00:00:00Z",
                    "2024-03-04T01:00:00Z",
                    false,
                ),
                "2024-04-01T00:00:00Z",
                "&granularity=M1&from=2024-03-04T00:00:00Z&to=2024-03-04T01:00:00Z&includeFirst=true",
            ),
            (
                window(
                    "EUR-USD",
                    Timeframe::M15,
                    "2024-03-04T00:00:00Z",
                    "2024-03-04T01:00:00Z",
                    true,
                ),
                "2024-04-01T00:00:00Z",
                "&granularity=M15&from=2024-03-03T23:45:00Z&to=2024-03-04T01:00:00Z&includeFirst=false",
            ),
            (
                window(
                    "EUR-USD",
                    Timeframe::M30,
                    "2024-03-04T00:00:00Z",
                    "2024-03-04T01:00:00Z",
                    false,
                ),
                "2024-04-01T00:00:00Z",
                "&granularity=M30&from=2024-03-04T00:00:00Z&to=2024-03-04T01:00:00Z&includeFirst=true",
            ),
        ];
        for (i, (request, now, expected)) in cases.iter().enumerate() {
            let url = candles_url(base, request, at(now));
            assert_eq!(url, format!("{fixed_part}{expected}"), "case {i}");
            assert!(!url.contains("count"), "case {i}");
        }
    }

    #[tokio::test]
    async fn sends_the_documented_request_and_reads_the_page() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(CANDLES))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_string(fixture("EUR_USD-M5-forming.json"))
                    .insert_header("content-type", "application/json")
                    .insert_header("RequestID", "24990132746514736")
                    .insert_header("date", "Thu, 21 Mar 2024 10:57:30 GMT"),
            )
            .mount(&server)
            .await;
        let now = at("2024-03-21T10:57:31.250Z");
        let c = client(&server.uri(), now);
        let gate = TestGate::default();
        let request = window(
            "EUR-USD",
            Timeframe::M5,
            "2024-03-21T10:00:00Z",
            "2024-03-21T12:00:00Z",
            false,
        );
        let page = c.fetch_window(&request, &gate).await.unwrap();

        // TC0 one admitted request with the documented query and headers, no `count`
        assert_eq!(gate.admitted.load(Ordering::SeqCst), 1);
        let received = server.received_requests().await.unwrap();
        assert_eq!(received.len(), 1);
        let req = &received[0];
        assert_eq!(req.url.path(), CANDLES);
        let expected: BTreeMap<String, String> = [
            ("price", "M"),
            ("smooth", "false"),
            ("dailyAlignment", "0"),
            ("alignmentTimezone", "UTC"),
            ("granularity", "M5"),
            ("from", "2024-03-21T10:00:00Z"),
            ("to", "2024-03-21T10:57:31Z"),
            ("includeFirst", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(query(req), expected);
        let header = |name: &str| req.headers.get(name).unwrap().to_str().unwrap().to_string();
        assert_eq!(header("authorization"), format!("Bearer {TOKEN}"));
        assert_eq!(header("accept-datetime-format"), "RFC3339");
        assert_eq!(header("accept"), "application/json");
        assert!(header("user-agent").starts_with("candlelake/"));

        // TC1 the page: wire order, ticks, Date header as response time, clock as received
        assert_eq!(page.candles.len(), 12);
        assert!(!page.candles[11].complete);
        assert_eq!(page.volume_kind, VolumeKind::Ticks);
        assert_eq!(page.response_time, at("2024-03-21T10:57:30Z"));
        assert_eq!(page.received_at, now);
        let sent = format!(
            "{}{}?{}",
            server.uri(),
            req.url.path(),
            req.url.query().unwrap()
        );
        assert_eq!(page.request, sent);
        assert!(page.available_from.is_none());

        // TC2 without a Date header the response time is the clock
        assert_eq!(
            crate::wire::date_header(&HeaderMap::new()).unwrap_or(now),
            now
        );
    }

    /// Serves the M5 fixture as v20 would: `from`/`to`/`includeFirst` filter it, a span over
    /// 5000 buckets or a `to` after the server's now is refused.
    struct Filtered {
        candles: Vec<(DateTime<Utc>, String)>,
        now: DateTime<Utc>,
    }

    impl Respond for Filtered {
        fn respond(&self, req: &Request) -> ResponseTemplate {
            let q = query(req);
            assert!(!q.contains_key("count"), "count sent with from and to");
            let (from, to) = (at(&q["from"]), at(&q["to"]));
            if to > self.now {
                return ResponseTemplate::new(400)
                    .set_body_string(fixture("errors/400-to-in-future.json"));
            }
            if (to - from).num_seconds() / 300 > 5000 {
                return ResponseTemplate::new(400)
                    .set_body_string(fixture("errors/400-count-exceeded.json"));
            }
            let include_first = q["includeFirst"] == "true";
            let picked: Vec<&str> = self
                .candles
                .iter()
                .filter(|(t, _)| (*t > from || (include_first && *t == from)) && *t < to)
                .map(|(_, raw)| raw.as_str())
                .collect();
            ResponseTemplate::new(200).set_body_string(format!(
                r#"{{"instrument":"EUR_USD","granularity":"M5","candles":[{}]}}"#,
                picked.join(",")
            ))
        }
    }

    #[tokio::test]
    async fn pages_forward_without_gaps_or_repeats() {
        let all: Vec<(DateTime<Utc>, String)> = parse_body(&fixture("EUR_USD-M5.json"))
            .unwrap()
            .into_iter()
            .map(|c| (c.open_time.unwrap(), c.raw.get().to_string()))
            .collect();
        // (now, range start, range end, windows expected, candles expected)
        let cases = [
            // TC0 the whole fixture, long after: every candle exactly once, two windows
            (
                "2024-04-01T00:00:00Z",
                "2024-03-01T00:00:00Z",
                "2024-03-22T21:00:00Z",
                2,
                all.len(),
            ),
            // TC1 now inside the second window: `to` clamped, nothing after now
            (
                "2024-03-20T12:00:00.500Z",
                "2024-03-01T00:00:00Z",
                "2024-03-22T21:00:00Z",
                2,
                all.iter()
                    .filter(|(t, _)| *t < at("2024-03-20T12:00:00Z"))
                    .count(),
            ),
            // TC2 three windows: a full continuing one asks exactly 5000 buckets, accepted
            (
                "2024-04-01T00:00:00Z",
                "2024-02-01T00:00:00Z",
                "2024-03-22T21:00:00Z",
                3,
                all.len(),
            ),
        ];
        for (i, (now, start, end, windows, expected)) in cases.into_iter().enumerate() {
            let server = MockServer::start().await;
            let now = at(now);
            Mock::given(method("GET"))
                .and(path(CANDLES))
                .respond_with(Filtered {
                    candles: all.clone(),
                    now,
                })
                .mount(&server)
                .await;
            let c = client(&server.uri(), now);
            let gate = TestGate::default();
            let spans = c.windows("EUR-USD", Timeframe::M5, at(start), at(end), false);
            assert_eq!(spans.len(), windows, "case {i}");
            let mut seen = Vec::new();
            for (k, (s, e)) in spans.iter().enumerate() {
                let request = WindowRequest {
                    pair: "EUR-USD".into(),
                    timeframe: Timeframe::M5,
                    start: *s,
                    end: *e,
                    continues: k > 0,
                };
                let page = c.fetch_window(&request, &gate).await.unwrap();
                for candle in page.candles {
                    let t = candle.open_time.unwrap();
                    assert!(*s <= t && t < *e, "case {i}: {t} outside window {k}");
                    seen.push(t);
                }
            }
            assert_eq!(gate.admitted.load(Ordering::SeqCst), windows, "case {i}");
            let want: Vec<_> = all.iter().map(|(t, _)| *t).take(expected).collect();
            assert_eq!(seen, want, "case {i}");
        }
    }

    #[tokio::test]
    async fn classifies_every_error() {
        // (status, body, Retry-After, kind, retry_after, message parts)
        type Case = (
            u16,
            String,
            Option<&'static str>,
            ErrorKind,
            Option<u64>,
            Vec<&'static str>,
        );
        let cases: Vec<Case> = vec![
            // TC0 bad instrument: permanent, quotes the message and the instrument
            (
                400,
                fixture("errors/400-bad-instrument.json"),
                None,
                ErrorKind::Permanent,
                None,
                vec![
                    "oanda refused EUR_USD (400: Invalid value specified for 'instrument'); check the pair",
                ],
            ),
            // TC1 too many candles: permanent
            (
                400,
                fixture("errors/400-count-exceeded.json"),
                None,
                ErrorKind::Permanent,
                None,
                vec!["(400: Maximum value for 'count' exceeded)", "5000"],
            ),
            // TC2 `to` in the future: permanent, hints at the clock
            (
                400,
                fixture("errors/400-to-in-future.json"),
                None,
                ErrorKind::Permanent,
                None,
                vec!["Time is in the future", "clock"],
            ),
            // TC3 401: halts the provider, names the host, practice vs live
            (
                401,
                fixture("errors/401-unauthorized.json"),
                None,
                ErrorKind::Halt,
                None,
                vec![
                    "rejected the token at 127.0.0.1:",
                    "(401: Insufficient authorization to perform request.)",
                    "CANDLELAKE_OANDA_ENV=practice",
                    "live",
                ],
            ),
            // TC4 403 halts as well
            (
                403,
                r#"{"errorMessage":"The provided request was forbidden."}"#.into(),
                None,
                ErrorKind::Halt,
                None,
                vec!["(403: The provided request was forbidden.)", "practice"],
            ),
            // TC5 404 and 405 are permanent; an errorCode is quoted too
            (
                404,
                r#"{"errorCode":"NOT_FOUND","errorMessage":"Unknown instrument"}"#.into(),
                None,
                ErrorKind::Permanent,
                None,
                vec!["oanda refused EUR_USD (404: Unknown instrument [NOT_FOUND]); check the pair"],
            ),
            (
                405,
                r#"{"errorCode":405,"errorMessage":"Method not allowed"}"#.into(),
                None,
                ErrorKind::Permanent,
                None,
                vec!["(405: Method not allowed [405])"],
            ),
            // TC6 429: rate limited, with and without Retry-After, body unknown
            (
                429,
                String::new(),
                Some("7"),
                ErrorKind::RateLimited,
                Some(7),
                vec!["429: Too Many Requests"],
            ),
            (
                429,
                r#"{"errorMessage":"Rate limit violation"}"#.into(),
                None,
                ErrorKind::RateLimited,
                None,
                vec!["Rate limit violation"],
            ),
            // TC7 5xx: transient, Retry-After kept
            (
                503,
                "<html>unavailable</html>".into(),
                Some("3"),
                ErrorKind::Transient,
                Some(3),
                vec!["server error 503"],
            ),
            (
                500,
                r#"{"errorMessage":"Internal server error"}"#.into(),
                None,
                ErrorKind::Transient,
                None,
                vec!["Internal server error"],
            ),
            // TC8 any other status: permanent
            (
                416,
                r#"{"errorMessage":"Range not satisfiable"}"#.into(),
                None,
                ErrorKind::Permanent,
                None,
                vec!["(416: Range not satisfiable)"],
            ),
            // TC9 a broken 200 body: transient, will be retried
            (
                200,
                r#"{"instrument":"EUR_USD","candles":[{"#.into(),
                None,
                ErrorKind::Transient,
                None,
                vec!["will be retried"],
            ),
        ];
        let request = window(
            "EUR-USD",
            Timeframe::M5,
            "2024-03-04T00:00:00Z",
            "2024-03-05T00:00:00Z",
            false,
        );
        for (i, (status, body, retry, kind, retry_after, parts)) in cases.into_iter().enumerate() {
            let server = MockServer::start().await;
            let mut template = ResponseTemplate::new(status).set_body_string(body);
            if let Some(r) = retry {
                template = template.insert_header("retry-after", r);
            }
            Mock::given(method("GET"))
                .and(path(CANDLES))
                .respond_with(template)
                .mount(&server)
                .await;
            let c = client(&server.uri(), at("2024-04-01T00:00:00Z"));
            let err = c
                .fetch_window(&request, &TestGate::default())
                .await
                .unwrap_err();
            assert_eq!(err.kind, kind, "case {i}: {}", err.message);
            assert_eq!(
                err.retry_after,
                retry_after.map(Duration::from_secs),
                "case {i}"
            );
            if status != 200 {
                assert_eq!(err.status, Some(status), "case {i}");
            }
            for part in parts {
                assert!(
                    err.message.contains(part),
                    "case {i}: {:?} lacks {part:?}",
                    err.message
                );
            }
            assert!(!err.message.contains(TOKEN), "case {i}");
        }
    }

    #[test]
    fn credential_errors_name_the_real_host() {
        // (status, body, host, message)
        let cases = [
            // TC0 live
            (
                401,
                fixture("errors/401-unauthorized.json"),
                "api-fxtrade.oanda.com",
                "oanda rejected the token at api-fxtrade.oanda.com (401: Insufficient authorization to perform request.); a practice token works only with CANDLELAKE_OANDA_ENV=practice, a live token only with live",
            ),
            // TC1 practice
            (
                401,
                fixture("errors/401-unauthorized.json"),
                "api-fxpractice.oanda.com",
                "oanda rejected the token at api-fxpractice.oanda.com (401: Insufficient authorization to perform request.); a practice token works only with CANDLELAKE_OANDA_ENV=practice, a live token only with live",
            ),
            // TC2 a bad instrument, as in the contract's example
            (
                400,
                fixture("errors/400-bad-instrument.json"),
                "api-fxtrade.oanda.com",
                "oanda refused EUR_XXX (400: Invalid value specified for 'instrument'); check the pair",
            ),
        ];
        for (status, body, host, message) in cases {
            let status = StatusCode::from_u16(status).unwrap();
            let err = classify(status, &HeaderMap::new(), &body, "EUR_XXX", host);
            assert_eq!(err.message, message);
        }
        // TC3 the host comes from the base URL
        for (base, host) in [
            (LIVE_HOST, "api-fxtrade.oanda.com"),
            (PRACTICE_HOST, "api-fxpractice.oanda.com"),
        ] {
            assert_eq!(client(base, at("2024-03-04T00:00:00Z")).host, host);
        }
    }

    #[tokio::test]
    async fn the_token_never_leaks() {
        // TC0 Debug of the config and the client
        let config = OandaConfig {
            base_url: LIVE_HOST.into(),
            token: TOKEN.into(),
            timeout: Duration::from_secs(30),
        };
        let debug = format!("{config:?} {config:#?}");
        assert!(
            !debug.contains(TOKEN) && debug.contains("[redacted]"),
            "{debug}"
        );
        let c = OandaClient::new(config, fixed(at("2024-03-04T00:00:00Z"))).unwrap();
        assert!(!format!("{c:?}").contains(TOKEN));

        // TC1 a body that echoes the token is scrubbed, whatever the status
        let request = window(
            "EUR-USD",
            Timeframe::M5,
            "2024-03-04T00:00:00Z",
            "2024-03-05T00:00:00Z",
            false,
        );
        for status in [200, 400, 401, 403, 404, 429, 500, 502] {
            let server = MockServer::start().await;
            let echo = format!(r#"{{"errorMessage":"bad token {TOKEN}"}}"#);
            Mock::given(method("GET"))
                .and(path(CANDLES))
                .respond_with(ResponseTemplate::new(status).set_body_string(echo))
                .mount(&server)
                .await;
            let err = client(&server.uri(), at("2024-04-01T00:00:00Z"))
                .fetch_window(&request, &TestGate::default())
                .await
                .unwrap_err();
            assert!(!err.message.contains(TOKEN), "{status}: {}", err.message);
            assert!(!format!("{err:?}").contains(TOKEN), "{status}");
        }

        // TC2 a transport error (nothing listens) is transient and carries neither token nor URL
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let err = client(&format!("http://{closed}"), at("2024-04-01T00:00:00Z"))
            .fetch_window(&request, &TestGate::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Transient);
        assert!(
            !err.message.contains(TOKEN) && !err.message.contains("/v3/"),
            "{}",
            err.message
        );

        // TC3 a token a header cannot carry, and an empty one, fail without quoting it
        for token in ["bad\ntoken-SECRET", "  "] {
            let config = OandaConfig {
                base_url: LIVE_HOST.into(),
                token: token.into(),
                timeout: Duration::from_secs(1),
            };
            let err = OandaClient::new(config, fixed(at("2024-03-04T00:00:00Z"))).unwrap_err();
            assert!(!err.message.contains("SECRET"), "{}", err.message);
            assert!(err.message.contains("OANDA_API_TOKEN"), "{}", err.message);
        }
    }

    #[tokio::test]
    async fn the_gate_comes_first() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(CANDLES))
            .respond_with(ResponseTemplate::new(200).set_body_string(fixture("EUR_USD-D.json")))
            .mount(&server)
            .await;
        let c = client(&server.uri(), at("2024-03-10T00:00:00Z"));

        // TC0 a refusing gate: its error, and nothing sent
        let request = window(
            "EUR-USD",
            Timeframe::D1,
            "2024-03-03T00:00:00Z",
            "2024-03-09T00:00:00Z",
            false,
        );
        let refusing = TestGate {
            refuse: true,
            ..TestGate::default()
        };
        let err = c.fetch_window(&request, &refusing).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Halt);
        assert!(server.received_requests().await.unwrap().is_empty());

        // TC1 a window that starts at or after now: an empty page, nothing admitted or sent
        let gate = TestGate::default();
        let future = window(
            "EUR-USD",
            Timeframe::D1,
            "2024-03-10T00:00:00Z",
            "2024-03-12T00:00:00Z",
            true,
        );
        let page = c.fetch_window(&future, &gate).await.unwrap();
        assert!(page.candles.is_empty());
        assert_eq!(page.response_time, at("2024-03-10T00:00:00Z"));
        assert_eq!(gate.admitted.load(Ordering::SeqCst), 0);
        assert!(server.received_requests().await.unwrap().is_empty());

        // TC2 a pair that is not BASE-QUOTE: permanent, nothing sent
        let odd = window(
            "EUR/USD?x=1",
            Timeframe::D1,
            "2024-03-03T00:00:00Z",
            "2024-03-09T00:00:00Z",
            false,
        );
        let err = c.fetch_window(&odd, &gate).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Permanent);
        assert_eq!(gate.admitted.load(Ordering::SeqCst), 0);

        // TC3 an admitted request: the six daily candles, one admission
        let page = c.fetch_window(&request, &gate).await.unwrap();
        assert_eq!(page.candles.len(), 6);
        assert_eq!(gate.admitted.load(Ordering::SeqCst), 1);
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }
}
