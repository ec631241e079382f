//! The synthetic Coinbase Advanced Trade server: public candles, an optional token-bucket rate
//! limit (10 req/s, burst 15, lazily refilled), an optional 429 blackout, and `/stats`.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::candles::{buckets, candles_body, granularity_seconds};

/// Most buckets one request may ask for (Coinbase's documented cap).
pub const MAX_BUCKETS: i64 = 350;
/// Coinbase's documented public bucket: 10 requests/s, bursts up to 15.
const RATE_PER_S: u64 = 10;
const BURST: u64 = 15;
/// Token amounts are kept in micro-tokens so the lazy refill stays in integers.
const MICRO: u64 = 1_000_000;

const PREFIX: &str = "/api/v3/brokerage/market/products/";
const SUFFIX: &str = "/candles";
const RATE_LIMITED_BODY: &str = r#"{"message":"Public rate limit exceeded"}"#;
const TOO_MANY_BUCKETS: &str =
    "start and end argument is invalid - number of candles requested should be less than 350";

#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    pub port: u16,
    pub rate_limit: bool,
    /// (after, length) of the blackout, from the first request.
    pub blackout: Option<(Duration, Duration)>,
}

struct Bucket {
    micro_tokens: u64,
    last: Instant,
}

struct State {
    options: ServeOptions,
    bucket: Mutex<Bucket>,
    first_request: OnceLock<(Instant, u64)>,
    first_blackout_429: OnceLock<Instant>,
    requests: AtomicU64,
    ok: AtomicU64,
    rate_limited: AtomicU64,
    errors: AtomicU64,
    candles: AtomicU64,
    requests_during_blackout: AtomicU64,
    last_request_ms: AtomicU64,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn json_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn invalid_argument(detail: &str) -> Response<Full<Bytes>> {
    let detail = detail.replace('"', "'");
    json_response(
        StatusCode::BAD_REQUEST,
        format!(
            r#"{{"error":"INVALID_ARGUMENT","error_details":"{detail}","message":"{detail}"}}"#
        ),
    )
}

impl State {
    fn new(options: ServeOptions) -> Self {
        State {
            options,
            bucket: Mutex::new(Bucket {
                micro_tokens: BURST * MICRO,
                last: Instant::now(),
            }),
            first_request: OnceLock::new(),
            first_blackout_429: OnceLock::new(),
            requests: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            candles: AtomicU64::new(0),
            requests_during_blackout: AtomicU64::new(0),
            last_request_ms: AtomicU64::new(0),
        }
    }

    fn stats_json(&self) -> String {
        let first = self.first_request.get().map_or(0, |(_, ms)| *ms);
        format!(
            concat!(
                r#"{{"requests":{},"ok":{},"rate_limited":{},"errors":{},"candles":{},"#,
                r#""requests_during_blackout":{},"first_request_ms":{},"last_request_ms":{}}}"#
            ),
            self.requests.load(Ordering::Relaxed),
            self.ok.load(Ordering::Relaxed),
            self.rate_limited.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            self.candles.load(Ordering::Relaxed),
            self.requests_during_blackout.load(Ordering::Relaxed),
            first,
            self.last_request_ms.load(Ordering::Relaxed),
        )
    }

    /// Takes one token from the lazily refilled bucket; false when it is empty.
    fn take_token(&self, now: Instant) -> bool {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed_us = now.saturating_duration_since(b.last).as_micros() as u64;
        // RATE_PER_S tokens per second = RATE_PER_S micro-tokens per microsecond.
        b.micro_tokens = (b.micro_tokens + elapsed_us * RATE_PER_S).min(BURST * MICRO);
        b.last = now;
        if b.micro_tokens >= MICRO {
            b.micro_tokens -= MICRO;
            true
        } else {
            false
        }
    }

    fn rate_limited(&self, retry_after: bool) -> Response<Full<Bytes>> {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
        let mut response =
            json_response(StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED_BODY.to_string());
        if retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("2"));
        }
        response
    }

    fn handle(&self, method: &Method, path: &str, query: &str) -> Response<Full<Bytes>> {
        if path == "/stats" {
            return json_response(StatusCode::OK, self.stats_json());
        }
        let now = Instant::now();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let (first, _) = *self.first_request.get_or_init(|| (now, unix_ms()));
        self.last_request_ms.store(unix_ms(), Ordering::Relaxed);

        if let Some((after, length)) = self.options.blackout {
            let from = first + after;
            if now >= from && now < from + length {
                match self.first_blackout_429.get() {
                    Some(sent) if now > *sent => {
                        self.requests_during_blackout
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    Some(_) => {}
                    None => {
                        // Stamped after the answer is built, just before it is handed back.
                        let response = self.rate_limited(true);
                        let _ = self.first_blackout_429.set(Instant::now());
                        return response;
                    }
                }
                return self.rate_limited(true);
            }
        }
        if self.options.rate_limit && !self.take_token(now) {
            return self.rate_limited(false);
        }
        let response = self.candles(method, path, query);
        if response.status() == StatusCode::OK {
            self.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        response
    }

    fn candles(&self, method: &Method, path: &str, query: &str) -> Response<Full<Bytes>> {
        let pair = path
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_suffix(SUFFIX))
            .filter(|pair| !pair.is_empty() && !pair.contains('/'));
        let Some(pair) = pair else {
            return json_response(
                StatusCode::NOT_FOUND,
                r#"{"error":"NOT_FOUND","message":"Not Found"}"#.to_string(),
            );
        };
        if method != Method::GET {
            return json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                r#"{"error":"METHOD_NOT_ALLOWED","message":"Method Not Allowed"}"#.to_string(),
            );
        }
        let (mut start, mut end, mut granularity, mut limit) = (None, None, None, None);
        for kv in query.split('&') {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k {
                "start" => start = Some(v),
                "end" => end = Some(v),
                "granularity" => granularity = Some(v),
                "limit" => limit = Some(v),
                _ => {}
            }
        }
        let unix = |v: Option<&str>| v.and_then(|v| v.parse::<i64>().ok()).filter(|v| *v >= 0);
        let (Some(start), Some(end)) = (unix(start), unix(end)) else {
            return invalid_argument("start and end argument is invalid - must be unix seconds");
        };
        let Some(g) = granularity.and_then(granularity_seconds) else {
            return invalid_argument("granularity argument is invalid");
        };
        if let Some(limit) = limit {
            match limit.parse::<i64>() {
                Ok(l) if (0..=MAX_BUCKETS).contains(&l) => {}
                _ => return invalid_argument("limit argument is invalid"),
            }
        }
        if end < start {
            return invalid_argument(
                "start and end argument is invalid - start must be before end",
            );
        }
        let (first, count) = buckets(start, end, g);
        if count > MAX_BUCKETS {
            return invalid_argument(TOO_MANY_BUCKETS);
        }
        self.candles.fetch_add(count as u64, Ordering::Relaxed);
        json_response(StatusCode::OK, candles_body(pair, first, count, g))
    }
}

/// Runs the server until killed. Prints `listening 127.0.0.1:PORT` once it accepts connections.
pub fn serve(options: ServeOptions) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("could not start the runtime: {e}"))?;
    runtime.block_on(accept_loop(options))
}

async fn accept_loop(options: ServeOptions) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], options.port));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("could not listen on {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("no local address: {e}"))?;
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening {local}");
        let _ = stdout.flush();
    }
    let state = Arc::new(State::new(options));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("candlelake-bench serve: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let response = state.handle(
                    req.method(),
                    req.uri().path(),
                    req.uri().query().unwrap_or(""),
                );
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
