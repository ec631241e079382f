//! Oanda v20 candles (`/v3/instruments/{instrument}/candles`): bearer token, mid prices as
//! decimal strings, tick volume, oldest first, `from`/`to` windows of at most 5000 buckets.
//! Every request asks `price=M&smooth=false&dailyAlignment=0&alignmentTimezone=UTC`, so 4h and
//! 1d candles are UTC-aligned. The account's instruments (`/v3/accounts/{id}/instruments`) are
//! what it lists.

mod client;
mod instruments;
mod models;
mod parse;

#[cfg(test)]
mod tests;

pub use client::{DEFAULT_RPS, OandaClient, OandaConfig, VOLUME_KIND, host_for};
pub use parse::parse_record;
