//! The one HTTP exchange every provider client makes: a client with the run's timeout,
//! candlelake's user agent and `Accept: application/json`; `send`, which passes the gate, sends
//! one GET and reads the clock, status, headers and body; the `Page` built from the answer, or
//! the error of a refused one (429 and 5xx worded alike for every provider). Transport errors
//! never carry the URL, and a secret sent in the query is shown only as `[redacted]`.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{ACCEPT, DATE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use crate::candle::{Page, VolumeKind, WireCandle};
use crate::error::{ErrorKind, FetchError};
use crate::secret::{REDACTED, Secret, redact};
use crate::source::{Clock, Gate, ProviderId};

/// A provider's HTTP client and clock. `Debug` shows the provider only.
pub(crate) struct Http {
    client: reqwest::Client,
    clock: Clock,
    provider: ProviderId,
}

/// A query parameter whose value is a secret: sent as is, shown as `[redacted]`.
pub(crate) struct SecretParam<'a> {
    pub name: &'static str,
    pub value: &'a Secret,
}

/// One answer that came back, whatever its status.
pub(crate) struct Sent {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    /// When the answer arrived, by the local clock.
    pub received_at: DateTime<Utc>,
    /// The URL sent, with any secret parameter `[redacted]`.
    pub request: String,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl Http {
    /// `headers` are sent with every request, besides the user agent and `Accept`.
    pub fn new(
        provider: ProviderId,
        timeout: Duration,
        mut headers: HeaderMap,
        clock: Clock,
    ) -> Result<Self, FetchError> {
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("candlelake/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .build()
            .map_err(|e| transport(e, provider, None))?;
        Ok(Http {
            client,
            clock,
            provider,
        })
    }

    /// Now, by the client's clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Passes the gate, then sends one GET to `url` (plus `secret`, appended to its query).
    pub async fn send(
        &self,
        gate: &dyn Gate,
        url: &str,
        secret: Option<SecretParam<'_>>,
    ) -> Result<Sent, FetchError> {
        gate.admit().await?;
        let (sent_url, request) = match &secret {
            None => (url.to_string(), url.to_string()),
            Some(param) => {
                let mut with = Url::parse(url).map_err(|e| {
                    FetchError::new(
                        ErrorKind::Permanent,
                        format!("{} URL '{url}' is not valid ({e})", self.provider.as_str()),
                    )
                })?;
                with.query_pairs_mut()
                    .append_pair(param.name, param.value.expose());
                (with.into(), format!("{url}&{}={REDACTED}", param.name))
            }
        };
        tracing::debug!(provider = self.provider.as_str(), %request, "Sending a request.");
        let hidden = secret.as_ref().map(|p| p.value);
        let response = self
            .client
            .get(sent_url)
            .send()
            .await
            .map_err(|e| transport(e, self.provider, hidden))?;
        let received_at = self.now();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport(e, self.provider, hidden))?;
        // Valid UTF-8 (what every provider sends) is checked in one pass; reqwest's `text()`
        // decodes chunk by chunk, 3% of a backfill's CPU in the profile.
        let body = match std::str::from_utf8(&bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
        };
        Ok(Sent {
            status,
            headers,
            body,
            received_at,
            request,
        })
    }
}

impl Sent {
    /// `Retry-After` in seconds (the HTTP-date form is not used by these APIs).
    pub fn retry_after(&self) -> Option<Duration> {
        let value = self.headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
        value.parse::<u64>().ok().map(Duration::from_secs)
    }

    /// An error for this answer, with its status and `Retry-After`.
    pub fn error(&self, kind: ErrorKind, message: String) -> FetchError {
        FetchError::new(kind, message)
            .with_status(self.status.as_u16())
            .with_retry_after(self.retry_after())
    }

    /// The error for this non-2xx answer, whose body said `detail`: a 429 is rate limited and a
    /// 5xx transient, worded alike for every provider; any other status is what `refused` makes
    /// of it.
    pub fn refusal(
        &self,
        provider: ProviderId,
        detail: &str,
        refused: impl FnOnce(u16) -> (ErrorKind, String),
    ) -> FetchError {
        let (name, code) = (provider.as_str(), self.status.as_u16());
        let (kind, message) = match code {
            429 => (
                ErrorKind::RateLimited,
                format!("{name} rate limit hit (429: {detail}); waiting before retrying"),
            ),
            500..=599 => (
                ErrorKind::Transient,
                format!("{name} server error {code} ({detail}); retrying"),
            ),
            _ => refused(code),
        };
        self.error(kind, message)
    }

    /// The page of this answer. Its response time is the `Date` header (RFC 2822), else the
    /// local clock when it arrived.
    pub fn page(
        self,
        candles: Vec<WireCandle>,
        volume_kind: VolumeKind,
        available_from: Option<DateTime<Utc>>,
    ) -> Page {
        let date = self
            .headers
            .get(DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok());
        Page {
            candles,
            response_time: date.map_or(self.received_at, |d| d.to_utc()),
            received_at: self.received_at,
            request: self.request,
            volume_kind,
            available_from,
        }
    }
}

/// A transport failure (connection, timeout, broken body) is transient. reqwest prints the
/// URL, which is stripped; the secret is redacted should any other part quote it.
fn transport(err: reqwest::Error, provider: ProviderId, secret: Option<&Secret>) -> FetchError {
    let what = if err.is_timeout() {
        "timed out"
    } else {
        "failed"
    };
    let message = format!(
        "{} request {what}: {}",
        provider.as_str(),
        err.without_url()
    );
    let message = match secret {
        Some(secret) => redact(&message, secret),
        None => message,
    };
    FetchError::new(ErrorKind::Transient, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    fn answer(headers: &[(&'static str, &'static str)]) -> Sent {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_static(value));
        }
        Sent {
            status: StatusCode::OK,
            headers: map,
            body: String::new(),
            received_at: at("2024-03-21T10:57:31Z"),
            request: "http://x/candles".to_string(),
        }
    }

    #[test]
    fn the_page_takes_its_response_time_from_the_date_header_else_the_clock() {
        // TC0 a Date header, TC1 none, TC2 one that is not a date
        let cases = [
            (
                vec![("date", "Thu, 21 Mar 2024 10:57:30 GMT")],
                "2024-03-21T10:57:30Z",
            ),
            (vec![], "2024-03-21T10:57:31Z"),
            (vec![("date", "yesterday")], "2024-03-21T10:57:31Z"),
        ];
        for (i, (headers, expected)) in cases.into_iter().enumerate() {
            let page = answer(&headers).page(Vec::new(), VolumeKind::Base, None);
            assert_eq!(page.response_time, at(expected), "TC{i}");
            assert_eq!(page.received_at, at("2024-03-21T10:57:31Z"), "TC{i}");
            assert_eq!(page.request, "http://x/candles", "TC{i}");
        }
        // Retry-After in seconds; any other form is ignored.
        assert_eq!(
            answer(&[("retry-after", " 7 ")]).retry_after(),
            Some(Duration::from_secs(7))
        );
        assert_eq!(answer(&[("retry-after", "soon")]).retry_after(), None);
    }
}
