//! One file's records → rows per pair in time order, rejects and counts: duplicates first (per
//! pair and open time, the last occurrence in file order wins), then pairs not selected are
//! skipped, then the contract's candle rules. Pure: no I/O, no clock.
//!
//! A file whose pairs each rise in time (nearly every vendor file) has no duplicates and needs
//! no sorting: its records become rows as they are read, none of them kept. Any other file is
//! read again whole, its duplicates found, then its rows sorted.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use foldhash::fast::FixedState;

use super::formats::{self, Format, Out, Parsed, ReadOptions, Record};
use crate::model::Row;
use crate::providers::{Timeframe, VolumeKind};
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

/// What to sort a file's records for: the table's timeframe, the pairs to keep (all when
/// `None`) and when the file was read (each row's `_extracted_at`).
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub tf: Timeframe,
    pub selected: Option<&'a [String]>,
    pub extracted_at: DateTime<Utc>,
}

impl Target<'_> {
    fn wants(&self, pair: &str) -> bool {
        self.selected.is_none_or(|s| s.iter().any(|p| p == pair))
    }
}

/// Reads the `text` of a file of `format` named `name` and sorts what it holds.
pub fn read_sorted(
    format: Format,
    name: &str,
    text: &str,
    options: &ReadOptions,
    target: Target<'_>,
    rows: Vec<Row>,
) -> Result<Sorted, String> {
    let lines = formats::count(text);
    let mut rising = Rising::new(target, lines, rows);
    formats::read(format, name, text, options, &mut rising)?;
    if let Some(sorted) = rising.finish() {
        return Ok(sorted);
    }
    let mut parsed = Parsed::with_capacity(lines);
    formats::read(format, name, text, options, &mut parsed)?;
    Ok(sort(&parsed, text, target))
}

/// Rows and rejects made as records are read, while each pair's open times rise; the first
/// record that does not rise ends it.
struct Rising<'a> {
    target: Target<'a>,
    pairs: Vec<(String, VolumeKind)>,
    wanted: Vec<bool>,
    latest: Vec<Option<DateTime<Utc>>>,
    groups: Vec<PairRows>,
    sorted: Sorted,
    /// Where the first pair's rows go, with room for every line of the file: most files hold
    /// one pair.
    first: Option<Vec<Row>>,
    broken: bool,
}

impl<'a> Rising<'a> {
    fn new(target: Target<'a>, lines: usize, mut rows: Vec<Row>) -> Self {
        rows.clear();
        rows.reserve(lines);
        Rising {
            target,
            pairs: Vec::new(),
            wanted: Vec::new(),
            latest: Vec::new(),
            groups: Vec::new(),
            sorted: Sorted::default(),
            first: Some(rows),
            broken: false,
        }
    }

    /// What the file holds; `None` when a pair's open times did not rise.
    fn finish(self) -> Option<Sorted> {
        if self.broken {
            return None;
        }
        let mut groups = self.groups;
        groups.retain(|g| !g.rows.is_empty());
        Some(Sorted {
            groups: groups.into(),
            ..self.sorted
        })
    }
}

impl Out for Rising<'_> {
    fn pair(&mut self, pair: &str, kind: VolumeKind) -> usize {
        let i = formats::pair_index(&mut self.pairs, pair, kind);
        if i < self.groups.len() {
            return i;
        }
        self.wanted.push(self.target.wants(pair));
        self.latest.push(None);
        self.groups.push(PairRows {
            pair: pair.to_string(),
            volume_kind: kind,
            rows: self.first.take().unwrap_or_default(),
        });
        i
    }

    fn record(&mut self, record: Record, raw: &str) -> ControlFlow<()> {
        if let Ok(t) = record.fields.open_time
            && self.latest[record.pair]
                .replace(t)
                .is_some_and(|before| before >= t)
        {
            self.broken = true;
            return ControlFlow::Break(());
        }
        self.sorted.read += 1;
        if !self.wanted[record.pair] {
            self.sorted.skipped += 1;
            return ControlFlow::Continue(());
        }
        let target = self.target;
        match check(record.fields, target.tf) {
            Ok(candle) => self.groups[record.pair].rows.push(Row {
                candle,
                extracted_at: target.extracted_at,
            }),
            Err((open_time, reasons)) => self.sorted.rejects.push(FileReject {
                pair: self.pairs[record.pair].0.clone(),
                line: record.line,
                open_time,
                reasons,
                raw: raw.to_string(),
            }),
        }
        ControlFlow::Continue(())
    }
}

/// Sorts `parsed`, the records of `text`.
fn sort(parsed: &Parsed, text: &str, target: Target<'_>) -> Sorted {
    let last = last_occurrences(parsed);
    let mut per_pair = vec![0usize; parsed.pairs.len()];
    for r in &parsed.records {
        per_pair[r.pair] += 1;
    }
    let wanted: Vec<bool> = parsed.pairs.iter().map(|(p, _)| target.wants(p)).collect();
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
        match check(r.fields.clone(), target.tf) {
            Ok(candle) => groups[r.pair].rows.push(Row {
                candle,
                extracted_at: target.extracted_at,
            }),
            Err((open_time, reasons)) => sorted.rejects.push(FileReject {
                pair: parsed.pairs[r.pair].0.clone(),
                line: r.line,
                open_time,
                reasons,
                raw: text[r.span.clone()].to_string(),
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

    fn binance(text: &str, selected: Option<&[String]>) -> Result<Sorted, String> {
        let target = Target {
            tf: Timeframe::M1,
            selected,
            extracted_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        };
        let name = "BTCUSDT-1m-2024-01-01.zip";
        read_sorted(
            Format::BinanceKlines,
            name,
            text,
            &ReadOptions::default(),
            target,
            Vec::new(),
        )
    }

    #[test]
    fn duplicates_keep_the_last_then_rules_then_counts() {
        let text = "\
1704067200000,1,2,1,1,1,0,0,0,0,0,0
1704067260000,1,2,1,1,1,0,0,0,0,0,0
1704067200000,1,3,1,2,1,0,0,0,0,0,0
1704067320000,1,0.5,1,1,1,0,0,0,0,0,0
";
        let sorted = binance(text, None).unwrap();
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
        let none = binance(text, Some(&["ETH-USDT".into()])).unwrap();
        assert_eq!((none.rows(), none.skipped, none.duplicates), (0, 3, 1));
    }

    /// Everything a sorted file holds, to compare the two ways of sorting.
    fn summary(sorted: &Sorted) -> String {
        format!(
            "{:?} {:?} read {} duplicates {} skipped {}",
            sorted.groups, sorted.rejects, sorted.read, sorted.duplicates, sorted.skipped
        )
    }

    #[test]
    fn a_rising_file_sorted_as_it_is_read_equals_the_file_read_whole() {
        // Two pairs interleaved, each rising; a reject, a record without a readable time, a
        // pair not selected, a blank line and prices past 28 digits.
        let text = "pair,timestamp,open,high,low,close,volume
BTC-USD,1704067200000,42000.5,42010,41990,42005,1.25
ETH-USD,1704067200000,2300,2310,2290,2305,10
BTC-USD,1704067260000,42005,42000,42010,42005,1

SOL-USD,1704067200000,100,101,99,100,5
ETH-USD,x,2300,2310,2290,2305,10
BTC-USD,1704067320000,0.00000000000000000000000000001,1,0.000000000000000000000000000001,1,0
ETH-USD,1704067260000,2305,2306,2300,2301,3
";
        let options = ReadOptions {
            unit: Some(formats::TimestampUnit::Millis),
            ..ReadOptions::default()
        };
        let selected = ["BTC-USD".to_string(), "ETH-USD".to_string()];
        let target = Target {
            tf: Timeframe::M1,
            selected: Some(&selected),
            extracted_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        };
        let mut rising = Rising::new(target, formats::count(text), Vec::new());
        formats::read(Format::Csv, "bars.csv", text, &options, &mut rising).unwrap();
        let streamed = rising.finish().expect("every pair rises");
        let parsed = Parsed::of(|p| formats::read(Format::Csv, "bars.csv", text, &options, p));
        let whole = sort(&parsed, text, target);
        assert_eq!(summary(&streamed), summary(&whole));
        assert_eq!(
            (streamed.read, streamed.skipped, streamed.rows()),
            (7, 1, 3)
        );
        let lines: Vec<u64> = streamed.rejects.iter().map(|r| r.line).collect();
        assert_eq!(lines, [4, 7, 8]);

        // One pair going back in time ends the streamed sort; the whole read sorts it.
        let text = format!("{text}BTC-USD,1704067260000,1,1,1,1,1\n");
        let mut rising = Rising::new(target, formats::count(&text), Vec::new());
        formats::read(Format::Csv, "bars.csv", &text, &options, &mut rising).unwrap();
        assert!(rising.finish().is_none());
        let sorted =
            read_sorted(Format::Csv, "bars.csv", &text, &options, target, Vec::new()).unwrap();
        assert_eq!((sorted.duplicates, sorted.rows()), (1, 4));
    }
}
