//! Rows other writers removed from a table: the data files that a commit other than
//! candlelake's own appends, replaces and compactions removed (another tool's DELETE, MERGE or
//! UPDATE, or `maintain --repair`), each with the pair, provider and time range its statistics
//! gave when it was added, less what later writes (a `refetch`) wrote back over that range.
//! `gaps` labels missing candles inside those ranges `removed`.
//!
//! A file removed that way may also have spanned hours with no trades; until a `refetch`
//! writes over them they are labelled `removed` too. A file whose `add` is no longer in the
//! log (log files past their retention) is not known.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::marks::{LogError, LogFile, log_bytes, log_files};
use super::stats::FileStats;
use super::table::{DeltaSink, SinkError};
use crate::model::TimeRange;
use crate::providers::{ProviderId, Timeframe};

/// The candles of a removed data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// The file, as the log names it: while the store still has it (until a vacuum), its rows
    /// say exactly which candles were removed.
    pub path: String,
    pub pair: String,
    /// `None` when the file held more than one provider.
    pub provider: Option<ProviderId>,
    pub range: TimeRange,
}

impl Removed {
    /// Whether this file held the candle of `provider`/`pair` opening at `t`.
    pub fn held(&self, provider: ProviderId, pair: &str, t: DateTime<Utc>) -> bool {
        self.pair == pair && self.provider.is_none_or(|p| p == provider) && self.range.contains(t)
    }

    /// What is left of this range once `written` wrote its candles again.
    fn less(self, written: &Removed) -> Vec<Removed> {
        let same = self.pair == written.pair
            && (written.provider.is_none() || written.provider == self.provider);
        let (r, w) = (self.range, written.range);
        if !same || w.end <= r.start || r.end <= w.start {
            return vec![self];
        }
        [(r.start, w.start), (w.end, r.end)]
            .into_iter()
            .filter(|(start, end)| start < end)
            .map(|(start, end)| Removed {
                range: TimeRange { start, end },
                ..self.clone()
            })
            .collect()
    }
}

/// Operations whose removes keep every row: candlelake's replace (refetch) and compaction. The
/// operation, not `dataChange`, tells: candlelake's compaction marks its removes as changing
/// data (see `rewrite::compact`). A deletion vector another tool adds is a remove and an add of
/// the same file under another operation (`DELETE`, `UPDATE`, `MERGE`): the whole file counts
/// as removed, and the rows its new vector still shows are held.
const ROW_KEEPING: [&str; 2] = ["WRITE", "OPTIMIZE"];

/// The operation of writes that fetched a range again (candlelake's appends and `refetch`).
const WRITE: &str = "WRITE";

impl DeltaSink {
    /// Every data file of the table of `tf` that another writer's commit removed, from one
    /// pass over the log's JSON commits; empty when there is no table.
    pub async fn removed(&self, tf: Timeframe) -> Result<Vec<Removed>, SinkError> {
        let Some(table) = self.unloaded(tf)? else {
            return Ok(Vec::new());
        };
        let store = table.log_store().object_store(None);
        let unreadable = |e: LogError| self.unreadable(tf, e);
        let mut added: HashMap<String, Removed> = HashMap::new();
        let mut removed: Vec<Removed> = Vec::new();
        for (file, path) in log_files(store.as_ref()).await.map_err(unreadable)? {
            if !matches!(file, LogFile::Commit(_)) {
                continue;
            }
            let bytes = log_bytes(store.as_ref(), &path).await.map_err(unreadable)?;
            let commit = Commit::parse(&bytes, tf).map_err(|reason| {
                unreadable(LogError {
                    file: path.to_string(),
                    reason,
                })
            })?;
            let operation = commit.operation.as_deref();
            let keeps_rows = operation.is_some_and(|op| ROW_KEEPING.contains(&op));
            if operation == Some(WRITE) {
                for (_, written) in &commit.adds {
                    removed = removed.into_iter().flat_map(|r| r.less(written)).collect();
                }
            }
            for path in commit.removes {
                if let Some(file) = added.remove(&path)
                    && !keeps_rows
                {
                    removed.push(file);
                }
            }
            added.extend(commit.adds);
        }
        Ok(removed)
    }
}

/// What one commit adds and removes.
#[derive(Default)]
struct Commit {
    operation: Option<String>,
    adds: Vec<(String, Removed)>,
    /// Paths removed with `dataChange: true`.
    removes: Vec<String>,
}

impl Commit {
    fn parse(bytes: &[u8], tf: Timeframe) -> Result<Commit, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 ({e})"))?;
        let mut commit = Commit::default();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let action: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| format!("line {} is not a JSON action ({e})", i + 1))?;
            if let Some(op) = action["commitInfo"]["operation"].as_str() {
                commit.operation = Some(op.to_string());
            }
            let remove = &action["remove"];
            if let Some(path) = remove["path"].as_str()
                && remove["dataChange"].as_bool() != Some(false)
            {
                commit.removes.push(path.to_string());
            }
            let add = &action["add"];
            if let Some(path) = add["path"].as_str()
                && let Some(file) = added_file(path, add, tf)
            {
                commit.adds.push((path.to_string(), file));
            }
        }
        Ok(commit)
    }
}

/// The pair, provider and candles of an added file, from its partition values and statistics.
fn added_file(path: &str, add: &serde_json::Value, tf: Timeframe) -> Option<Removed> {
    let pair = add["partitionValues"]["partition_asset_pair"].as_str()?;
    let stats = FileStats::parse(add["stats"].as_str());
    Some(Removed {
        path: path.to_string(),
        pair: pair.to_string(),
        provider: stats.provider().and_then(ProviderId::parse),
        range: TimeRange {
            start: stats.times.0?,
            end: stats.times.1? + tf.duration(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADD: &str = r#"{"add":{"path":"p/a.parquet","partitionValues":{"partition_date":"2024-01-01","partition_asset_pair":"ETH-USD"},"size":1,"modificationTime":0,"dataChange":true,"stats":"{\"numRecords\":3,\"minValues\":{\"timestamp\":\"2024-01-01T00:00:00.000Z\",\"source_provider\":\"coinbase\"},\"maxValues\":{\"timestamp\":\"2024-01-01T02:00:00.000Z\",\"source_provider\":\"coinbase\"}}"}}"#;

    #[test]
    fn an_added_file_gives_its_pair_provider_and_candles() {
        let commit = Commit::parse(ADD.as_bytes(), Timeframe::H1).unwrap();
        let (path, file) = &commit.adds[0];
        assert_eq!(path, "p/a.parquet");
        assert_eq!(file.provider, Some(ProviderId::Coinbase));
        let at = |h: u32| crate::testing::at(&format!("2024-01-01T{h:02}:00:00Z"));
        assert!(file.held(ProviderId::Coinbase, "ETH-USD", at(2)));
        assert!(!file.held(ProviderId::Coinbase, "ETH-USD", at(3)));
        assert!(!file.held(ProviderId::Oanda, "ETH-USD", at(1)));
        assert!(!file.held(ProviderId::Coinbase, "BTC-USD", at(1)));
    }

    #[test]
    fn a_later_write_leaves_only_what_it_did_not_cover() {
        let at = |h: u32| crate::testing::at(&format!("2024-01-01T{h:02}:00:00Z"));
        let file = |from: u32, to: u32, provider| Removed {
            path: "p/a.parquet".into(),
            pair: "ETH-USD".into(),
            provider,
            range: TimeRange {
                start: at(from),
                end: at(to),
            },
        };
        let removed = file(0, 10, Some(ProviderId::Coinbase));
        let ranges = |left: Vec<Removed>| left.iter().map(|r| r.range).collect::<Vec<_>>();
        assert_eq!(
            ranges(
                removed
                    .clone()
                    .less(&file(3, 5, Some(ProviderId::Coinbase)))
            ),
            vec![file(0, 3, None).range, file(5, 10, None).range]
        );
        assert_eq!(
            ranges(removed.clone().less(&file(3, 5, Some(ProviderId::Oanda)))),
            vec![removed.range],
            "another provider's candles"
        );
        assert!(removed.less(&file(0, 12, None)).is_empty());
    }

    #[test]
    fn compaction_removes_are_not_data_changes() {
        let text = r#"{"remove":{"path":"p/a.parquet","dataChange":false}}
{"remove":{"path":"p/b.parquet","dataChange":true}}
{"commitInfo":{"operation":"DELETE"}}"#;
        let commit = Commit::parse(text.as_bytes(), Timeframe::H1).unwrap();
        assert_eq!(commit.removes, vec!["p/b.parquet".to_string()]);
        assert_eq!(commit.operation.as_deref(), Some("DELETE"));
    }
}
