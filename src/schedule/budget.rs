//! One rate budget per provider, shared by every task: a client-side limiter plus a shared
//! cool-down that a 429 sets, so every task waits it out instead of retrying on its own.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use tokio::time::Instant;

pub struct Budget {
    limiter: Option<DefaultDirectRateLimiter>,
    cool_down_until: Mutex<Option<Instant>>,
    requests: AtomicU64,
}

impl Budget {
    /// `rps` requests per second (decimals allowed); zero means unlimited.
    pub fn new(rps: Decimal) -> Self {
        let limiter = (rps > Decimal::ZERO)
            .then(|| (Decimal::from(1_000_000_000u64) / rps).to_u64())
            .flatten()
            .and_then(|nanos| Quota::with_period(Duration::from_nanos(nanos.max(1))))
            .map(|q| RateLimiter::direct(q.allow_burst(NonZeroU32::MIN)));
        Budget {
            limiter,
            cool_down_until: Mutex::new(None),
            requests: AtomicU64::new(0),
        }
    }

    /// Waits for the cool-down to end and for a slot in the rate, then counts the request.
    pub async fn acquire(&self) {
        loop {
            let until = *self.cool_down_until.lock().expect("cool-down lock");
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => break,
            }
        }
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Holds every task of this provider for `wait` from now (a longer cool-down stays).
    pub fn cool_down(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut guard = self.cool_down_until.lock().expect("cool-down lock");
        if guard.is_none_or(|t| t < until) {
            *guard = Some(until);
        }
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}
