//! One rate budget per provider, shared by every task: a client-side limiter, a shared
//! cool-down that a 429 sets (every task waits it out instead of retrying on its own), an
//! optional daily request budget, and a halt that stops the provider for the rest of the run.
//! With a shared budget (Redis), the rate, the cool-down and the daily count are those of every
//! process, and this process's own limiter and daily file are not used.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use tokio::time::Instant;

use super::shared::SharedBudget;
use crate::providers::{ErrorKind, FetchError, Gate};
use crate::state::quota::DailyQuota;

pub struct RateGate {
    limiter: Option<DefaultDirectRateLimiter>,
    shared: Option<SharedBudget>,
    cool_down_until: Mutex<Option<Instant>>,
    daily: Option<DailyQuota>,
    halted: Mutex<Option<FetchError>>,
}

impl RateGate {
    /// `rps` requests per second (decimals allowed); zero means unlimited.
    pub fn new(rps: Decimal, daily: Option<DailyQuota>) -> Self {
        let limiter = (rps > Decimal::ZERO)
            .then(|| (Decimal::from(1_000_000_000u64) / rps).to_u64())
            .flatten()
            .and_then(|nanos| Quota::with_period(Duration::from_nanos(nanos.max(1))))
            .map(|q| RateLimiter::direct(q.allow_burst(NonZeroU32::MIN)));
        RateGate {
            limiter,
            shared: None,
            cool_down_until: Mutex::new(None),
            daily,
            halted: Mutex::new(None),
        }
    }

    /// A gate whose rate, cool-down and daily count are shared with every process through Redis.
    pub fn shared(budget: SharedBudget) -> Self {
        RateGate {
            limiter: None,
            shared: Some(budget),
            cool_down_until: Mutex::new(None),
            daily: None,
            halted: Mutex::new(None),
        }
    }

    /// Holds every task of this provider for `wait` from now (a longer cool-down stays).
    pub fn cool_down(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut guard = self.cool_down_until.lock().expect("cool-down lock");
        if guard.is_none_or(|t| t < until) {
            *guard = Some(until);
        }
        if let Some(shared) = self.shared.clone() {
            // Published in the background: this task waits `wait` anyway, and a Redis that
            // cannot take it fails the next request's turn.
            tokio::spawn(async move {
                if let Err(e) = shared.cool_down(wait).await {
                    tracing::error!("{e}");
                }
            });
        }
    }

    /// Stops the provider for the rest of the run: every later request fails with `error`.
    pub fn halt(&self, error: &FetchError) {
        self.halted
            .lock()
            .expect("halt lock")
            .get_or_insert_with(|| error.clone());
    }
}

#[async_trait]
impl Gate for RateGate {
    /// Waits for the cool-down and a slot in the rate, then counts the request; refuses when
    /// the provider is halted or its daily budget is spent.
    async fn admit(&self) -> Result<(), FetchError> {
        // A slot in the rate, taken only once no cool-down is running: a task that queued in
        // the limiter before a 429 waits out the cool-down that 429 started.
        loop {
            let until = *self.cool_down_until.lock().expect("cool-down lock");
            if let Some(t) = until.filter(|t| *t > Instant::now()) {
                tokio::time::sleep_until(t).await;
                continue;
            }
            if let Some(limiter) = &self.limiter {
                limiter.until_ready().await;
            }
            if let Some(shared) = &self.shared {
                shared.wait_turn().await?;
            }
            let until = *self.cool_down_until.lock().expect("cool-down lock");
            if until.is_none_or(|t| t <= Instant::now()) {
                break;
            }
        }
        // Checked after the waits: the provider may have been halted meanwhile.
        if let Some(e) = self.halted.lock().expect("halt lock").clone() {
            return Err(e);
        }
        if let Some(daily) = &self.daily {
            // Both a spent quota and one that cannot be recorded stop the provider for the run.
            daily
                .spend_one()
                .map_err(|e| FetchError::new(ErrorKind::Halt, e.to_string()))?;
        }
        if let Some(shared) = &self.shared {
            shared.spend_daily().await?;
        }
        Ok(())
    }
}
