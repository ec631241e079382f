//! Coinbase Advanced Trade public candles (`/api/v3/brokerage/market/products/{id}/candles`):
//! no key, decimal strings, newest first, at most 300 buckets per request.

mod client;
mod models;
mod parse;

#[cfg(test)]
mod tests;

pub use client::{CoinbaseClient, CoinbaseConfig, DEFAULT_RPS, VOLUME_KIND};
pub use parse::{parse_body, parse_record};
