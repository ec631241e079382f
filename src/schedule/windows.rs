//! Splitting a range into request windows: forward ranges oldest first, prepends newest first.

use crate::pipeline::Span;
use crate::providers::Timeframe;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Extends coverage forward: windows oldest first.
    Forward,
    /// Extends coverage backward (a prepend): windows newest first.
    Backward,
}

/// Windows of at most `max_buckets` buckets covering `range`, in commit order.
pub fn windows(range: Span, tf: Timeframe, max_buckets: u32, direction: Direction) -> Vec<Span> {
    let step = tf.duration() * max_buckets.max(1) as i32;
    let mut out = Vec::new();
    match direction {
        Direction::Forward => {
            let mut start = range.start;
            while start < range.end {
                let end = (start + step).min(range.end);
                out.push(Span { start, end });
                start = end;
            }
        }
        Direction::Backward => {
            let mut end = range.end;
            while end > range.start {
                let start = (end - step).max(range.start);
                out.push(Span { start, end });
                end = start;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn forward_and_backward_tile_the_range() {
        let range = Span {
            start: at("2024-01-01T00:00:00Z"),
            end: at("2024-01-01T07:00:00Z"),
        };
        let fwd = windows(range, Timeframe::H1, 3, Direction::Forward);
        let bwd = windows(range, Timeframe::H1, 3, Direction::Backward);
        let hours = |w: &[Span]| {
            w.iter()
                .map(|s| {
                    (
                        s.start.format("%H").to_string(),
                        s.end.format("%H").to_string(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            hours(&fwd),
            [("00", "03"), ("03", "06"), ("06", "07")].map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert_eq!(
            hours(&bwd),
            [("04", "07"), ("01", "04"), ("00", "01")].map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }
}
