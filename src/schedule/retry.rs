//! One request with the contract's retry schedule: base, 2×base, 4×base (5 s, 10 s, 20 s),
//! or the provider's `Retry-After` when longer, up to its cap. Every try passes the budget.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use super::budget::Budget;
use crate::providers::{CandleSource, ErrorKind, FetchError, Page, WindowRequest};

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max_retry_after: Duration,
}

pub async fn fetch_with_retry(
    source: &dyn CandleSource,
    budget: &Budget,
    request: &WindowRequest,
    policy: RetryPolicy,
) -> Result<Page, FetchError> {
    let schedule = ExponentialBuilder::default()
        .with_min_delay(policy.base)
        .with_max_delay(policy.base * 4)
        .with_max_times(3);
    let attempt = || async {
        budget.acquire().await;
        source.fetch_window(request).await
    };
    attempt
        .retry(schedule)
        .sleep(tokio::time::sleep)
        .when(FetchError::is_retryable)
        .adjust(|err, delay| {
            let delay = delay?;
            match err.retry_after {
                Some(wait) if wait > policy.max_retry_after => None,
                Some(wait) => Some(delay.max(wait)),
                None => Some(delay),
            }
        })
        .notify(|err, delay| {
            if err.kind == ErrorKind::RateLimited {
                budget.cool_down(delay);
            }
            tracing::warn!(
                pair = %request.pair,
                timeframe = %request.timeframe,
                wait_ms = delay.as_millis() as u64,
                "Request failed, retrying: {err}"
            );
        })
        .await
        .map_err(|err| explain(err, policy))
}

/// Says why retrying stopped when the provider asked for a longer wait than allowed.
fn explain(err: FetchError, policy: RetryPolicy) -> FetchError {
    match err.retry_after {
        Some(wait) if err.is_retryable() && wait > policy.max_retry_after => FetchError {
            message: format!(
                "{} asked to wait {} s, longer than CANDLELAKE_MAX_RETRY_AFTER_MS ({} ms); rerun later or raise that limit",
                err.message,
                wait.as_secs(),
                policy.max_retry_after.as_millis()
            ),
            ..err
        },
        _ => err,
    }
}
