//! candlelake: backfills historical OHLCV candles into Delta Lake bronze tables, validates
//! every candle, keeps per-series coverage watermarks and a dead-letter queue, and tops the
//! tables up incrementally.
//!
//! A candle travels one way: `plan` → `schedule` (fetch with rate budget and retries) →
//! `pipeline` (dedupe, finality, range) → `validate` → `enrich` → `sink` (Delta commit) and
//! `state` (DLQ, watermarks) → `summary`.

pub mod aggregate;
pub mod calendar;
pub mod cli;
pub mod connect;
pub mod demo;
pub mod enrich;
pub mod failpoint;
pub mod gaps;
pub mod metrics;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod refetch;
pub mod replay;
pub mod run;
pub mod schedule;
pub mod sink;
pub mod state;
pub mod status;
pub mod summary;
pub mod validate;

pub use candlelake_providers as providers;
