//! The one error type every provider returns, and whether the engine may retry it.

use std::time::Duration;

/// How the engine should react to a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Rate limited (HTTP 429 or a throttle note): retry after a wait.
    RateLimited,
    /// 5xx, timeouts, connection errors, broken bodies: retry.
    Transient,
    /// Bad symbol, unsupported request, premium-only function: fail the series, do not retry.
    Permanent,
    /// Rejected credential or daily quota spent: stop every series of the provider this run.
    Halt,
}

/// A failed request. The message never holds a credential or a URL carrying one.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    pub kind: ErrorKind,
    pub message: String,
    /// The provider's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
    pub status: Option<u16>,
}

impl FetchError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        FetchError {
            kind,
            message: message.into(),
            retry_after: None,
            status: None,
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::RateLimited | ErrorKind::Transient)
    }
}
