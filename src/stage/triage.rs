//! One response of one series → what to write, what to dead-letter and what to count.
//! Duplicates first, then range and finality, then the candle rules. Pure: no I/O, no clock.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::{Row, TimeRange};
use crate::providers::{Page, Timeframe};
use crate::series::Counters;
use crate::stage::validate::{Reject, validate};

/// Adds `window` to the ranges a series run has handled, merging it with a neighbour so the
/// list stays as short as the number of separate ranges (one per direction), not windows.
pub fn mark_processed(processed: &mut Vec<TimeRange>, window: TimeRange) {
    for span in processed.iter_mut() {
        if span.end == window.start {
            span.end = window.end;
            return;
        }
        if window.end == span.start {
            span.start = window.start;
            return;
        }
    }
    processed.push(window);
}

/// What one response contributes.
#[derive(Debug)]
pub struct Outcome {
    pub rows: Vec<Row>,
    pub rejects: Vec<Reject>,
    pub counters: Counters,
    /// TimeRange this response justifies: `[window.start, covered_end)` holds only final
    /// candles. Equal to the window's end unless a candle is not final yet.
    pub covered_end: DateTime<Utc>,
}

/// Sorts one response of `window` into rows, rejects and counts.
///
/// `processed` lists the ranges this series run already handled: a candle inside them is a
/// duplicate of one already counted. A candle outside `window` is skipped (it belongs to
/// another request); so is a candle that is not final at the response time.
pub fn process(
    page: Page,
    window: TimeRange,
    tf: Timeframe,
    settle: TimeDelta,
    processed: &[TimeRange],
) -> Outcome {
    let mut counters = Counters {
        fetched: page.candles.len() as u64,
        ..Counters::default()
    };

    // Keep the last occurrence of each open time, in wire order.
    let mut last_index: HashMap<DateTime<Utc>, usize> = HashMap::with_capacity(page.candles.len());
    for (i, c) in page.candles.iter().enumerate() {
        if let Ok(t) = c.open_time {
            last_index.insert(t, i);
        }
    }

    let horizon = tf.floor(page.response_time - settle);
    let first_incomplete = page
        .candles
        .iter()
        .filter(|c| !c.complete)
        .filter_map(|c| c.open_time.ok())
        .filter(|t| window.contains(*t))
        .min();
    let covered_end = [
        Some(window.end),
        Some(horizon.max(window.start)),
        first_incomplete,
    ]
    .into_iter()
    .flatten()
    .min()
    .expect("window end is always present");

    let mut rows = Vec::with_capacity(page.candles.len());
    let mut rejects = Vec::new();
    for (i, candle) in page.candles.into_iter().enumerate() {
        if let Ok(t) = candle.open_time {
            if last_index[&t] != i || processed.iter().any(|s| s.contains(t)) {
                counters.duplicates += 1;
                continue;
            }
            if !window.contains(t) || t >= covered_end {
                counters.skipped += 1;
                continue;
            }
        }
        match validate(candle, tf) {
            Ok(candle) => rows.push(Row {
                candle,
                extracted_at: page.received_at,
            }),
            Err(reject) => rejects.push(*reject),
        }
    }
    counters.written = rows.len() as u64;
    counters.dead_lettered = rejects.len() as u64;
    Outcome {
        rows,
        rejects,
        counters,
        covered_end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::VolumeKind;
    use crate::providers::coinbase::parse_body;
    use crate::testing::at;

    fn candle(t: &str, close: &str) -> String {
        let secs = at(t).timestamp();
        format!(
            r#"{{"start":"{secs}","low":"1","high":"9","open":"2","close":"{close}","volume":"1"}}"#
        )
    }

    fn page(candles: &[String], response_time: &str) -> Page {
        let body = format!(r#"{{"candles":[{}]}}"#, candles.join(","));
        Page {
            candles: parse_body(&body).unwrap(),
            response_time: at(response_time),
            received_at: at(response_time),
            request: "http://test".into(),
            volume_kind: VolumeKind::Base,
            available_from: None,
        }
    }

    #[test]
    fn processed_windows_merge_into_one_span_per_direction() {
        let span = |a: &str, b: &str| TimeRange {
            start: at(a),
            end: at(b),
        };
        let mut processed = Vec::new();
        mark_processed(
            &mut processed,
            span("2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"),
        );
        mark_processed(
            &mut processed,
            span("2024-01-03T00:00:00Z", "2024-01-04T00:00:00Z"),
        );
        mark_processed(
            &mut processed,
            span("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"),
        );
        mark_processed(
            &mut processed,
            span("2024-02-01T00:00:00Z", "2024-02-02T00:00:00Z"),
        );
        assert_eq!(
            processed,
            vec![
                span("2024-01-01T00:00:00Z", "2024-01-04T00:00:00Z"),
                span("2024-02-01T00:00:00Z", "2024-02-02T00:00:00Z")
            ]
        );
    }

    #[test]
    fn dedupes_skips_and_counts() {
        let window = TimeRange {
            start: at("2024-01-01T00:00:00Z"),
            end: at("2024-01-01T05:00:00Z"),
        };
        let earlier = TimeRange {
            start: at("2023-12-31T00:00:00Z"),
            end: window.start,
        };
        let p = page(
            &[
                candle("2024-01-01T04:00:00Z", "3"), // not final at 04:30
                candle("2024-01-01T02:00:00Z", "3"),
                candle("2024-01-01T01:00:00Z", "3"), // replaced by the later copy
                candle("2024-01-01T01:00:00Z", "4"),
                candle("2023-12-31T23:00:00Z", "3"), // already handled by this run
                candle("2024-01-01T05:00:00Z", "3"), // outside the window
                candle("2024-01-01T00:00:00Z", "99"), // close above high
            ],
            "2024-01-01T04:30:00Z",
        );
        let out = process(p, window, Timeframe::H1, TimeDelta::seconds(60), &[earlier]);
        assert_eq!(out.covered_end, at("2024-01-01T04:00:00Z"));
        let closes: Vec<_> = out
            .rows
            .iter()
            .map(|r| (r.candle.open_time, r.candle.close.to_string()))
            .collect();
        assert_eq!(
            closes,
            vec![
                (at("2024-01-01T02:00:00Z"), "3".into()),
                (at("2024-01-01T01:00:00Z"), "4".into())
            ]
        );
        assert_eq!(out.rejects.len(), 1);
        assert_eq!(
            out.counters,
            Counters {
                fetched: 7,
                written: 2,
                dead_lettered: 1,
                duplicates: 2,
                skipped: 2,
                ..Counters::default()
            }
        );
        assert!(out.counters.balanced());
    }
}
