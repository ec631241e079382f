//! One request with the contract's retry schedule: base, 2×base, 4×base (5 s, 10 s, 20 s),
//! or the provider's `Retry-After` when longer, up to its cap. Every try passes the budget.

use std::sync::Mutex;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use super::gate::RateGate;
use crate::providers::{CandleSource, ErrorKind, FetchError, Page, WindowRequest};

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max_retry_after: Duration,
}

/// What one window's fetch cost: tries sent, retries, and rate-limit answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tries {
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
}

pub async fn fetch_with_retry(
    source: &dyn CandleSource,
    budget: &RateGate,
    request: &WindowRequest,
    policy: RetryPolicy,
) -> (Result<Page, FetchError>, Tries) {
    // A mutex, not a Cell: the future must stay Send so series run on every worker thread.
    let tries = Mutex::new(Tries::default());
    let count = |f: fn(&mut Tries)| f(&mut tries.lock().expect("tries lock"));
    let schedule = ExponentialBuilder::default()
        .with_min_delay(policy.base)
        .with_max_delay(policy.base * 4)
        .with_max_times(3);
    let attempt = || {
        count(|t| t.requests += 1);
        source.fetch_window(request, budget)
    };
    let result = attempt
        .retry(schedule)
        .sleep(tokio::time::sleep)
        .when(|err: &FetchError| {
            if err.kind == ErrorKind::Halt {
                budget.halt(err);
            }
            if err.kind == ErrorKind::RateLimited {
                count(|t| t.rate_limited += 1);
            }
            err.is_retryable()
        })
        .adjust(|err, delay| {
            let delay = delay?;
            match err.retry_after {
                Some(wait) if wait > policy.max_retry_after => None,
                Some(wait) => Some(delay.max(wait)),
                None => Some(delay),
            }
        })
        .notify(|err, delay| {
            count(|t| t.retries += 1);
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
        .map_err(|err| explain(err, policy));
    let tries = *tries.lock().expect("tries lock");
    (result, tries)
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use rust_decimal::Decimal;
    use tokio::time::Instant;

    use super::*;
    use crate::providers::{Capabilities, Gate, ProviderId, Timeframe, VolumeKind};

    /// Fails with the given errors in turn, then succeeds; records when each try arrived.
    struct Flaky {
        errors: Mutex<Vec<FetchError>>,
        tries: Mutex<Vec<Instant>>,
    }

    #[async_trait]
    impl CandleSource for Flaky {
        fn id(&self) -> ProviderId {
            ProviderId::Coinbase
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities {
                native_timeframes: &[Timeframe::H1],
                max_buckets_per_request: 300,
            }
        }
        async fn fetch_window(
            &self,
            _: &WindowRequest,
            gate: &dyn Gate,
        ) -> Result<Page, FetchError> {
            gate.admit().await?;
            self.tries.lock().unwrap().push(Instant::now());
            let mut errors = self.errors.lock().unwrap();
            if errors.is_empty() {
                let now = chrono::Utc::now();
                return Ok(Page {
                    candles: vec![],
                    response_time: now,
                    received_at: now,
                    request: String::new(),
                    volume_kind: VolumeKind::Base,
                    available_from: None,
                });
            }
            Err(errors.remove(0))
        }
    }

    fn request() -> WindowRequest {
        let t = chrono::Utc::now();
        WindowRequest {
            pair: "BTC-USD".into(),
            timeframe: Timeframe::H1,
            start: t,
            end: t,
            continues: false,
        }
    }

    fn gaps(tries: &[Instant]) -> Vec<u64> {
        tries.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect()
    }

    const POLICY: RetryPolicy = RetryPolicy {
        base: Duration::from_secs(5),
        max_retry_after: Duration::from_secs(120),
    };

    #[tokio::test(start_paused = true)]
    async fn waits_5_10_20_seconds_then_gives_up() {
        let transient = || FetchError::new(ErrorKind::Transient, "boom");
        let source = Flaky {
            errors: Mutex::new(vec![transient(); 4]),
            tries: Mutex::default(),
        };
        let result = fetch_with_retry(
            &source,
            &RateGate::new(Decimal::ZERO, None),
            &request(),
            POLICY,
        )
        .await;
        assert!(result.0.is_err());
        assert_eq!(gaps(&source.tries.lock().unwrap()), vec![5, 10, 20]);
        assert_eq!(
            result.1,
            Tries {
                requests: 4,
                retries: 3,
                rate_limited: 0
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn honours_a_longer_retry_after_and_refuses_one_past_the_cap() {
        let limited = |secs| {
            FetchError::new(ErrorKind::RateLimited, "429")
                .with_retry_after(Some(Duration::from_secs(secs)))
        };
        let source = Flaky {
            errors: Mutex::new(vec![limited(30), limited(1)]),
            tries: Mutex::default(),
        };
        let budget = RateGate::new(Decimal::ZERO, None);
        let (result, tries) = fetch_with_retry(&source, &budget, &request(), POLICY).await;
        assert!(result.is_ok());
        assert_eq!(
            tries,
            Tries {
                requests: 3,
                retries: 2,
                rate_limited: 2
            }
        );
        assert_eq!(
            gaps(&source.tries.lock().unwrap()),
            vec![30, 10],
            "Retry-After 30 s beats 5 s; 10 s beats 1 s"
        );

        let source = Flaky {
            errors: Mutex::new(vec![limited(600)]),
            tries: Mutex::default(),
        };
        let err = fetch_with_retry(&source, &budget, &request(), POLICY)
            .await
            .0
            .unwrap_err();
        assert_eq!(source.tries.lock().unwrap().len(), 1);
        assert!(
            err.message.contains("CANDLELAKE_MAX_RETRY_AFTER_MS"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let source = Flaky {
            errors: Mutex::new(vec![FetchError::new(ErrorKind::Permanent, "404")]),
            tries: Mutex::default(),
        };
        assert!(
            fetch_with_retry(
                &source,
                &RateGate::new(Decimal::ZERO, None),
                &request(),
                POLICY
            )
            .await
            .0
            .is_err()
        );
        assert_eq!(source.tries.lock().unwrap().len(), 1);
    }
}
