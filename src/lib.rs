//! candlelake: backfills historical OHLCV candles into Delta Lake bronze tables, validates
//! every candle, keeps per-series coverage watermarks and a dead-letter queue, and tops the
//! tables up incrementally.
//!
//! A candle travels one way: `plan` (flags, env, file → checked settings and series) →
//! `series` (one series' run: `coverage` says what to fetch, `fetch` asks the provider through
//! the rate `fetch::Gate` with retries and runs the pure `stage`s, `commit` writes the DLQ, the
//! Delta commit and the watermark) → `report`. `model` is the shared vocabulary, `error` the one
//! error type and the only mapping to exit codes, `ops` one file per user operation, `cli` only
//! parses and prints.

pub mod calendar;
pub mod cli;
pub mod error;
pub mod failpoint;
pub mod fetch;
pub mod model;
pub mod ops;
pub mod plan;
pub mod report;
pub mod series;
pub mod sink;
pub mod stage;
pub mod state;
#[cfg(test)]
mod testing;

pub use candlelake_providers as providers;
