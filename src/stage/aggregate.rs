//! Building a timeframe a provider lacks from the nearest finer native one (Alpha Vantage 4h
//! from 30min). A bucket is emitted only once the source coverage holds its whole period, only
//! when it has at least one member, and never when a member was dead-lettered. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::model::Row;
use crate::providers::Timeframe;
use crate::stage::validate::Candle;

/// The finest native timeframe that `target` can be built from, or `None` when no native
/// timeframe divides it. A native target is its own source.
pub fn source_timeframe(target: Timeframe, native: &[Timeframe]) -> Option<Timeframe> {
    if native.contains(&target) {
        return Some(target);
    }
    native
        .iter()
        .copied()
        .filter(|s| s.seconds() < target.seconds() && target.seconds() % s.seconds() == 0)
        .max_by_key(|s| s.seconds())
}

/// Members of the buckets not emitted yet, for one series run.
#[derive(Debug)]
pub struct Aggregator {
    target: Timeframe,
    members: BTreeMap<DateTime<Utc>, Vec<Row>>,
    poisoned: BTreeSet<DateTime<Utc>>,
}

/// Buckets ready to write, and how many source candles they fold or leave out.
#[derive(Debug, Default)]
pub struct Emitted {
    pub rows: Vec<Row>,
    /// Source candles folded into each of `rows`, in the same order.
    pub sizes: Vec<u64>,
    /// Source candles of buckets dropped because a member was dead-lettered.
    pub dropped: u64,
}

impl Aggregator {
    pub fn new(target: Timeframe) -> Self {
        Aggregator {
            target,
            members: BTreeMap::new(),
            poisoned: BTreeSet::new(),
        }
    }

    /// Adds validated source candles and the open times of dead-lettered ones.
    pub fn add(&mut self, rows: Vec<Row>, rejected: impl IntoIterator<Item = DateTime<Utc>>) {
        for row in rows {
            self.members
                .entry(self.target.floor(row.candle.open_time))
                .or_default()
                .push(row);
        }
        self.poisoned
            .extend(rejected.into_iter().map(|t| self.target.floor(t)));
    }

    /// Emits every bucket whose whole period lies in `[from, to)` of source coverage.
    pub fn emit(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Emitted {
        let ready: Vec<DateTime<Utc>> = self
            .members
            .keys()
            .copied()
            .filter(|b| *b >= from && *b + self.target.duration() <= to)
            .collect();
        let mut out = Emitted::default();
        for bucket in ready {
            let mut members = self.members.remove(&bucket).expect("key listed above");
            if self.poisoned.contains(&bucket) {
                out.dropped += members.len() as u64;
                continue;
            }
            members.sort_by_key(|r| r.candle.open_time);
            out.sizes.push(members.len() as u64);
            out.rows.push(fold(bucket, &members));
        }
        out
    }

    /// Source candles still waiting for their bucket to complete.
    pub fn waiting(&self) -> u64 {
        self.members.values().map(|m| m.len() as u64).sum()
    }
}

fn fold(bucket: DateTime<Utc>, members: &[Row]) -> Row {
    let first = &members[0].candle;
    let last = &members[members.len() - 1].candle;
    let candle = Candle {
        open_time: bucket,
        open: first.open,
        high: members
            .iter()
            .map(|m| m.candle.high)
            .max()
            .expect("at least one member"),
        low: members
            .iter()
            .map(|m| m.candle.low)
            .min()
            .expect("at least one member"),
        close: last.close,
        volume: members.iter().map(|m| m.candle.volume).sum::<Decimal>(),
    };
    let extracted_at = members
        .iter()
        .map(|m| m.extracted_at)
        .max()
        .expect("at least one member");
    Row {
        candle,
        extracted_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    fn row(t: &str, o: &str, h: &str, l: &str, c: &str, v: &str) -> Row {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        Row {
            candle: Candle {
                open_time: at(t),
                open: d(o),
                high: d(h),
                low: d(l),
                close: d(c),
                volume: d(v),
            },
            extracted_at: at(t),
        }
    }

    #[test]
    fn picks_the_nearest_finer_native_source() {
        let av = [
            Timeframe::M1,
            Timeframe::M5,
            Timeframe::M15,
            Timeframe::M30,
            Timeframe::D1,
        ];
        assert_eq!(source_timeframe(Timeframe::H4, &av), Some(Timeframe::M30));
        assert_eq!(source_timeframe(Timeframe::H1, &av), Some(Timeframe::M30));
        assert_eq!(source_timeframe(Timeframe::D1, &av), Some(Timeframe::D1));
        assert_eq!(source_timeframe(Timeframe::M5, &[Timeframe::M15]), None);
    }

    #[test]
    fn folds_complete_buckets_and_drops_poisoned_ones() {
        let mut agg = Aggregator::new(Timeframe::H1);
        agg.add(
            vec![
                row("2024-03-08T14:30:00Z", "2", "5", "1.5", "4", "10"),
                row("2024-03-08T14:00:00Z", "1", "3", "0.5", "2", "1.25"),
                row("2024-03-08T15:00:00Z", "4", "4", "4", "4", "1"),
                row("2024-03-08T16:00:00Z", "7", "8", "6", "7", "1"),
            ],
            [at("2024-03-08T15:30:00Z")],
        );
        // Source coverage reaches 16:30: the 16:00 bucket is not complete yet.
        let out = agg.emit(at("2024-03-08T14:00:00Z"), at("2024-03-08T16:30:00Z"));
        assert_eq!(out.rows.len(), 1);
        let c = &out.rows[0].candle;
        assert_eq!(
            (
                c.open_time,
                c.open.to_string(),
                c.high.to_string(),
                c.low.to_string(),
                c.close.to_string(),
                c.volume.to_string()
            ),
            (
                at("2024-03-08T14:00:00Z"),
                "1".into(),
                "5".into(),
                "0.5".into(),
                "4".into(),
                "11.25".into()
            )
        );
        assert_eq!(
            out.rows[0].extracted_at,
            at("2024-03-08T14:30:00Z"),
            "the latest member's"
        );
        assert_eq!((out.sizes, out.dropped, agg.waiting()), (vec![2], 1, 1));
    }
}
