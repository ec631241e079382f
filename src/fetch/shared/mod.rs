//! One rate budget for every process (`CANDLELAKE_RATE_LIMITER=redis://...`): the requests per
//! second of a provider and credential are the total across all processes (GCRA in Redis), a
//! 429's cool-down pauses all of them, and a daily limit counts every process's requests. A
//! request is admitted only after Redis answered for it: with Redis gone, nothing is sent.

mod keys;
mod scripts;

use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use keys::Keys;

use crate::providers::{Clock, ErrorKind, FetchError, ProviderId, Secret};
use crate::state::quota::QuotaError;

/// A `redis://` URL, and how messages show it (without any password).
#[derive(Clone)]
pub struct RedisUrl {
    url: String,
    shown: String,
}

/// Only the URL without its password, wherever settings are printed.
impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl RedisUrl {
    /// `None` unless `text` is a `redis://host:port/db` URL.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parsed = url::Url::parse(text).ok()?;
        if parsed.scheme() != "redis" || parsed.host_str().is_none() {
            return None;
        }
        parsed.set_password(None).ok()?;
        parsed.set_username("").ok()?;
        Some(RedisUrl {
            url: text.to_string(),
            shown: parsed.to_string(),
        })
    }

    /// The URL without any password, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// The answer of the admit script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// A slot is reserved: send after this wait.
    Reserved(Duration),
    /// A 429's cool-down runs for this long; nothing was reserved.
    Cooling(Duration),
}

/// The shared budget of one provider and credential.
#[derive(Clone)]
pub struct SharedBudget {
    conn: ConnectionManager,
    keys: Keys,
    url: RedisUrl,
    provider: ProviderId,
    /// µs between two requests; zero means unlimited.
    interval_us: u64,
    daily_limit: Option<u64>,
    clock: Clock,
}

/// How long a day's counter outlives its day, in seconds.
const DAY_KEPT_S: u64 = 2 * 86_400;

impl SharedBudget {
    /// Connects to Redis; an error here is the one-line message for a user, before any request.
    pub async fn connect(
        url: &RedisUrl,
        provider: ProviderId,
        credential: Option<&Secret>,
        rps: Decimal,
        daily_limit: Option<u64>,
        clock: Clock,
    ) -> Result<Self, String> {
        let unreachable = |e: redis::RedisError| {
            format!(
                "the shared rate limiter at {} (CANDLELAKE_RATE_LIMITER) cannot be reached ({}); start Redis there, or set CANDLELAKE_RATE_LIMITER=local to use this process's own budget",
                url.shown(),
                redact(&e, &url.url)
            )
        };
        let client = redis::Client::open(url.url.as_str()).map_err(unreachable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(1);
        let mut conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unreachable)?;
        redis::cmd("PING")
            .query_async::<()>(&mut conn)
            .await
            .map_err(unreachable)?;
        let interval_us = (rps > Decimal::ZERO)
            .then(|| (Decimal::from(1_000_000u64) / rps).ceil().to_u64())
            .flatten()
            .unwrap_or(0);
        Ok(SharedBudget {
            conn,
            keys: Keys::new(provider, credential),
            url: url.clone(),
            provider,
            interval_us,
            daily_limit,
            clock,
        })
    }

    /// Waits out any shared cool-down and this request's slot in the shared rate, then checks
    /// once more that no cool-down started meanwhile.
    pub async fn wait_turn(&self) -> Result<(), FetchError> {
        loop {
            match self.turn().await? {
                Turn::Cooling(left) => tokio::time::sleep(left).await,
                Turn::Reserved(wait) => {
                    tokio::time::sleep(wait).await;
                    if self.cooling().await?.is_none() {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// One answer of the admit script (reserves a slot unless a cool-down runs).
    pub async fn turn(&self) -> Result<Turn, FetchError> {
        if self.interval_us == 0 {
            return Ok(match self.cooling().await? {
                Some(left) => Turn::Cooling(left),
                None => Turn::Reserved(Duration::ZERO),
            });
        }
        let (reserved, wait_us): (i64, i64) = scripts::ADMIT
            .key(self.keys.rate())
            .key(self.keys.cool_down())
            .arg(self.interval_us)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.lost(&e))?;
        let wait = Duration::from_micros(wait_us.max(0).unsigned_abs());
        Ok(match reserved {
            1 => Turn::Reserved(wait),
            _ => Turn::Cooling(wait),
        })
    }

    /// The shared cool-down's time left, if one runs.
    pub async fn cooling(&self) -> Result<Option<Duration>, FetchError> {
        let left: i64 = redis::cmd("PTTL")
            .arg(self.keys.cool_down())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.lost(&e))?;
        Ok((left > 0).then(|| Duration::from_millis(left.unsigned_abs())))
    }

    /// Starts (or lengthens) the cool-down every process waits out.
    pub async fn cool_down(&self, wait: Duration) -> Result<Duration, FetchError> {
        let millis = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        let left: u64 = scripts::COOL_DOWN
            .key(self.keys.cool_down())
            .arg(millis)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.lost(&e))?;
        Ok(Duration::from_millis(left))
    }

    /// Counts one request in today's (UTC) shared count, or refuses it once the day's limit is
    /// reached; a provider without a daily limit counts nothing.
    pub async fn spend_daily(&self) -> Result<(), FetchError> {
        let Some(limit) = self.daily_limit else {
            return Ok(());
        };
        let now: DateTime<Utc> = (self.clock)();
        let spent: i64 = scripts::SPEND_DAILY
            .key(self.keys.day(now))
            .arg(limit)
            .arg(DAY_KEPT_S)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.lost(&e))?;
        if spent < 0 {
            let spent = QuotaError::Spent {
                provider: self.provider.as_str(),
                limit,
                date: now.format("%Y-%m-%d").to_string(),
            };
            return Err(FetchError::new(ErrorKind::Halt, spent.to_string()));
        }
        Ok(())
    }

    /// Redis failed mid-run: the provider stops for this run, and nothing is sent unthrottled.
    fn lost(&self, e: &redis::RedisError) -> FetchError {
        FetchError::new(
            ErrorKind::Halt,
            format!(
                "the shared rate limiter at {} stopped answering ({}), so no more {} requests were sent; bring Redis back and rerun",
                self.url.shown(),
                redact(e, &self.url.url),
                self.provider.as_str()
            ),
        )
    }
}

/// A Redis error's text with the URL's password, if any, taken out.
fn redact(e: &redis::RedisError, url: &str) -> String {
    let text = e.to_string();
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
    {
        Some(password) if !password.is_empty() => text.replace(&password, "***"),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_url_is_shown_without_its_password() {
        let url = RedisUrl::parse("redis://:hunter2pass@127.0.0.1:6390/0").unwrap();
        assert_eq!(url.shown(), "redis://127.0.0.1:6390/0");
        let url = RedisUrl::parse("redis://user:hunter2pass@cache:6379/2").unwrap();
        assert_eq!(url.shown(), "redis://cache:6379/2");
        assert_eq!(format!("{url:?}"), "redis://cache:6379/2");
        assert!(RedisUrl::parse("http://127.0.0.1:6379").is_none());
        assert!(RedisUrl::parse("rediss://127.0.0.1:6379").is_none());
        assert!(RedisUrl::parse("127.0.0.1:6379").is_none());
    }
}
