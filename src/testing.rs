//! Helpers shared by the engine's in-process tests.

use chrono::{DateTime, Utc};

/// An RFC 3339 time, or a bare date at 00:00Z.
pub fn at(s: &str) -> DateTime<Utc> {
    crate::plan::parse_instant(s, "test").expect("a test time")
}
