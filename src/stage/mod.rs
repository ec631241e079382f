//! The pure stages a fetched page goes through, in order: `triage` (duplicates, range,
//! finality), `validate` (the candle rules), `aggregate` (a coarser timeframe from a finer one).
//! No I/O, no clock.

pub mod aggregate;
pub mod triage;
pub mod validate;
