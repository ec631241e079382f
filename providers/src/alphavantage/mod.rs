//! Alpha Vantage time series (`GET {base}/query?function=...&apikey=KEY`): FX, crypto and
//! equities, one call per window with no range parameters; equity intraday month by month
//! (`month=YYYY-MM`, America/New_York months), everything else one call for the whole trailing
//! history Alpha Vantage serves. Every failure comes back as HTTP 200 and is classified from
//! the body; the key is redacted wherever text leaves this module. Its lists: `LISTING_STATUS`
//! (active and delisted tickers with their IPO and delisting dates) and the currency lists.
//!
//! DLQ replay: a dead-lettered record is `{"<series key>": {<bar>}}`; re-parse it with
//! `replay_record(raw, pair, classify(pair, &overrides))`.

mod classify;
mod client;
mod fiat;
mod instruments;
mod models;
mod parse;
mod request;

#[cfg(test)]
mod tests;

pub use classify::{AssetClass, classify, is_ticker};
pub use client::{AlphaVantageClient, AlphaVantageConfig, DEFAULT_RPS};
pub use parse::replay_record;
