//! Oanda v20 candles (`/v3/instruments/{instrument}/candles`): bearer token, mid prices as
//! decimal strings, tick volume, oldest first, `from`/`to` windows of at most 5000 buckets.
//! Every request asks `price=M&smooth=false&dailyAlignment=0&alignmentTimezone=UTC`, so 4h and
//! 1d candles are UTC-aligned.

mod client;
mod models;
mod parse;

pub use client::{
    LIVE_HOST, MAX_BUCKETS, OandaClient, OandaConfig, PRACTICE_HOST, candles_url, host_for,
    instrument,
};
pub use parse::{granularity, parse_body, parse_record};
