//! One file's records → rows per pair in time order, rejects and counts: duplicates first (per
//! pair and open time, the last occurrence in file order wins), then pairs not selected are
//! skipped, then the contract's candle rules. Pure: no I/O, no clock.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use foldhash::fast::FixedState;

use super::formats::Parsed;
use crate::model::Row;
use crate::providers::Timeframe;
use crate::sink::import::PairRows;
use crate::stage::validate::{Reason, check};

/// A record that failed the rules, with where it is in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReject {
    pub pair: String,
    pub line: u64,
    pub open_time: Option<DateTime<Utc>>,
    pub reasons: Vec<Reason>,
    pub raw: String,
}

/// What one file holds, sorted.
#[derive(Debug, Default)]
pub struct Sorted {
    /// Each pair's rows, in time order (a data file is a span of them).
    pub groups: Arc<[PairRows]>,
    pub rejects: Vec<FileReject>,
    pub read: u64,
    pub duplicates: u64,
    pub skipped: u64,
}

/// Sorts `parsed`; `selected` limits the pairs (all when `None`); `extracted_at` is when the
/// file was read, each row's `_extracted_at`.
pub fn sort(
    parsed: &Parsed,
    tf: Timeframe,
    selected: Option<&[String]>,
    extracted_at: DateTime<Utc>,
) -> Sorted {
    let last = last_occurrences(parsed);
    let mut per_pair = vec![0usize; parsed.pairs.len()];
    for r in &parsed.records {
        per_pair[r.pair] += 1;
    }
    let wanted: Vec<bool> = parsed
        .pairs
        .iter()
        .map(|(p, _)| selected.is_none_or(|s| s.contains(p)))
        .collect();
    let mut groups: Vec<PairRows> = parsed
        .pairs
        .iter()
        .zip(&per_pair)
        .map(|((pair, kind), n)| PairRows {
            pair: pair.clone(),
            volume_kind: *kind,
            rows: Vec::with_capacity(*n),
        })
        .collect();
    let mut sorted = Sorted {
        read: parsed.records.len() as u64,
        ..Sorted::default()
    };
    for (i, r) in parsed.records.iter().enumerate() {
        if !last[i] {
            sorted.duplicates += 1;
            continue;
        }
        if !wanted[r.pair] {
            sorted.skipped += 1;
            continue;
        }
        match check(r.fields.clone(), tf) {
            Ok(candle) => groups[r.pair].rows.push(Row {
                candle,
                extracted_at,
            }),
            Err((open_time, reasons)) => sorted.rejects.push(FileReject {
                pair: parsed.pairs[r.pair].0.clone(),
                line: r.line,
                open_time,
                reasons,
                raw: parsed.text[r.span.clone()].to_string(),
            }),
        }
    }
    groups.retain(|g| !g.rows.is_empty());
    for group in &mut groups {
        // Files are mostly in time order already: this is then one pass.
        group.rows.sort_by_key(|r| r.candle.open_time);
    }
    sorted.groups = groups.into();
    sorted
}

/// For each record, whether it is the last of its pair and open time in file order (a record
/// without a readable open time always is). A file whose pairs each rise in time has no
/// duplicates, which one pass finds; else they are found walking backwards, so the set of keys
/// seen is freed before any row is built.
fn last_occurrences(parsed: &Parsed) -> Vec<bool> {
    let mut last = vec![true; parsed.records.len()];
    let mut latest: Vec<Option<DateTime<Utc>>> = vec![None; parsed.pairs.len()];
    let rising = parsed.records.iter().all(|r| match r.fields.open_time {
        Ok(t) => latest[r.pair].replace(t).is_none_or(|before| before < t),
        Err(_) => true,
    });
    if rising {
        return last;
    }
    let mut seen: HashSet<(usize, DateTime<Utc>), FixedState> =
        HashSet::with_capacity_and_hasher(parsed.records.len(), FixedState::default());
    for (i, r) in parsed.records.iter().enumerate().rev() {
        if let Ok(t) = r.fields.open_time {
            last[i] = seen.insert((r.pair, t));
        }
    }
    last
}

impl Sorted {
    pub fn rows(&self) -> u64 {
        self.groups.iter().map(|g| g.rows.len() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::import::formats::{Format, ReadOptions, read};

    #[test]
    fn duplicates_keep_the_last_then_rules_then_counts() {
        let text = "\
1704067200000,1,2,1,1,1,0,0,0,0,0,0
1704067260000,1,2,1,1,1,0,0,0,0,0,0
1704067200000,1,3,1,2,1,0,0,0,0,0,0
1704067320000,1,0.5,1,1,1,0,0,0,0,0,0
";
        let parsed = read(
            Format::BinanceKlines,
            "BTCUSDT-1m-2024-01-01.zip",
            text.into(),
            &ReadOptions::default(),
        )
        .unwrap();
        let now = Utc::now();
        let sorted = sort(&parsed, Timeframe::M1, None, now);
        assert_eq!((sorted.read, sorted.duplicates, sorted.skipped), (4, 1, 0));
        let rows: Vec<_> = sorted.groups[0]
            .rows
            .iter()
            .map(|r| (r.candle.open_time.timestamp(), r.candle.high.to_string()))
            .collect();
        assert_eq!(rows, [(1704067200, "3".into()), (1704067260, "2".into())]);
        assert_eq!(sorted.rejects.len(), 1);
        let reject = &sorted.rejects[0];
        assert_eq!(reject.line, 4);
        assert_eq!(reject.raw, "1704067320000,1,0.5,1,1,1,0,0,0,0,0,0");
        assert_eq!(
            reject.reasons,
            [
                Reason::HighBelowLow,
                Reason::OpenOutOfRange,
                Reason::CloseOutOfRange
            ]
        );
        let none = sort(&parsed, Timeframe::M1, Some(&["ETH-USDT".into()]), now);
        assert_eq!((none.rows(), none.skipped, none.duplicates), (0, 3, 1));
    }
}
