//! Coinbase Advanced Trade public candles (`/api/v3/brokerage/market/products/{id}/candles`):
//! no key, decimal strings, newest first, at most 300 buckets per request; and the public
//! product list (`/api/v3/brokerage/market/products`).

mod client;
mod instruments;
mod models;
mod parse;

#[cfg(test)]
mod tests;

pub use client::{CoinbaseClient, CoinbaseConfig, DEFAULT_RPS, VOLUME_KIND};
pub use instruments::parse_products;
pub use parse::{parse_body, parse_record};
