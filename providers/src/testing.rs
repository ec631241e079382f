//! Helpers every provider's tests share: instants written as text, the recorded payloads in
//! `fixtures/`, raw JSON records, a fixed clock, a local server, a gate that counts what it
//! admits, `fetch`, which asks a client for one window, and error answers with what a client
//! must make of them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

use crate::candle::Page;
use crate::error::{ErrorKind, FetchError};
use crate::source::{CandleSource, Clock, Gate, WindowRequest};
use crate::timeframe::Timeframe;

/// An instant in RFC 3339, or a bare `YYYY-MM-DD` for 00:00:00Z of that date.
pub(crate) fn at(s: &str) -> DateTime<Utc> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    DateTime::parse_from_rfc3339(&full)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .to_utc()
}

/// A recorded payload, by its path below `fixtures/` (`oanda/EUR_USD-D.json`).
pub(crate) fn fixture(rel: &str) -> String {
    let path = format!("{}/../fixtures/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A raw JSON record, as a parser receives it.
pub(crate) fn raw(s: &str) -> Box<RawValue> {
    RawValue::from_string(s.to_string()).unwrap()
}

/// A clock that always says `now`.
pub(crate) fn fixed_clock(now: DateTime<Utc>) -> Clock {
    Arc::new(move || now)
}

/// The first window of a range (`continues: false`); times as [`at`] reads them.
pub(crate) fn window(pair: &str, timeframe: Timeframe, start: &str, end: &str) -> WindowRequest {
    WindowRequest {
        pair: pair.to_string(),
        timeframe,
        start: at(start),
        end: at(end),
        continues: false,
    }
}

/// A local server answering every GET of `endpoint` through `responder` (a `ResponseTemplate`
/// or a custom `Respond`).
pub(crate) async fn serve(endpoint: &str, responder: impl Respond + 'static) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(endpoint))
        .respond_with(responder)
        .mount(&server)
        .await;
    server
}

/// The base URL of a local port nothing listens on: every request to it is refused.
pub(crate) fn nothing_listens() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// Fetches one window through a gate that admits every request.
pub(crate) async fn fetch(
    source: &dyn CandleSource,
    request: &WindowRequest,
) -> Result<Page, FetchError> {
    source.fetch_window(request, &CountingGate::default()).await
}

/// An error answer and what a client must make of it: `kind`, the `Retry-After` it carried
/// (in seconds) as `retry_after`, its status unless it was a 200, and a message holding every
/// one of `says`.
pub(crate) struct ErrorCase {
    pub status: u16,
    pub body: String,
    pub kind: ErrorKind,
    pub says: &'static [&'static str],
    pub retry_after: Option<u64>,
}

/// An [`ErrorCase`] without `Retry-After`.
pub(crate) fn error_case(
    status: u16,
    body: impl Into<String>,
    kind: ErrorKind,
    says: &'static [&'static str],
) -> ErrorCase {
    ErrorCase {
        status,
        body: body.into(),
        kind,
        says,
        retry_after: None,
    }
}

impl ErrorCase {
    pub fn retry_after(self, seconds: u64) -> Self {
        ErrorCase {
            retry_after: Some(seconds),
            ..self
        }
    }

    /// The answer the server sends.
    pub fn response(&self) -> ResponseTemplate {
        let template = ResponseTemplate::new(self.status).set_body_string(self.body.clone());
        match self.retry_after {
            Some(seconds) => template.insert_header("retry-after", seconds.to_string()),
            None => template,
        }
    }

    /// Asserts that `err` is what this answer must become; `name` says which case failed.
    pub fn check(&self, name: &str, err: &FetchError) {
        assert_eq!(err.kind, self.kind, "{name}: {err}");
        let retry_after = self.retry_after.map(Duration::from_secs);
        assert_eq!(err.retry_after, retry_after, "{name}: {err}");
        let status = (self.status != 200).then_some(self.status);
        assert_eq!(err.status, status, "{name}: {err}");
        for part in self.says {
            assert!(err.message.contains(part), "{name}: {err} lacks {part:?}");
        }
    }
}

/// Asks `request` once per case of the client `client` makes for a server serving the case's
/// answer at `endpoint`, and checks each error (named `case {i}`, by index); returns them.
pub(crate) async fn check_errors<S: CandleSource>(
    cases: &[ErrorCase],
    endpoint: &str,
    request: &WindowRequest,
    client: impl Fn(&str) -> S,
) -> Vec<FetchError> {
    let mut errors = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let server = serve(endpoint, case.response()).await;
        let err = fetch(&client(&server.uri()), request).await.unwrap_err();
        case.check(&format!("case {i}"), &err);
        errors.push(err);
    }
    errors
}

/// Admits requests and counts them; refuses every request after the first `limit`, as a spent
/// budget or a halted provider does.
#[derive(Default)]
pub(crate) struct CountingGate {
    admitted: AtomicUsize,
    limit: Option<usize>,
}

impl CountingGate {
    pub fn refusing_after(limit: usize) -> Self {
        CountingGate {
            admitted: AtomicUsize::new(0),
            limit: Some(limit),
        }
    }

    /// How many requests were admitted.
    pub fn count(&self) -> usize {
        self.admitted.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Gate for CountingGate {
    async fn admit(&self) -> Result<(), FetchError> {
        if self.limit.is_some_and(|limit| self.count() >= limit) {
            return Err(FetchError::new(
                ErrorKind::Halt,
                "the budget is spent for this run",
            ));
        }
        self.admitted.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
