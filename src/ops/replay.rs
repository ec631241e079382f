//! `dlq replay`: re-reads dead-lettered raw records (a user may have corrected them) with
//! today's rules, writes those that now pass and are not in the table yet, and records each
//! replayed (file id, index) in `{state}/dlq/replayed.jsonl` so a second replay writes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::{Error, Result};
use crate::model::{Lineage, Row, SeriesKey};
use crate::providers::alphavantage::{self, AssetClass};
use crate::providers::{ProviderId, Timeframe, VolumeKind, WireCandle, coinbase, oanda};
use crate::sink::DeltaSink;
use crate::stage::validate::validate;
use crate::state::dlq::DeadLetterQueue;

#[derive(Debug, Default, Serialize)]
pub struct ReplayReport {
    pub files: usize,
    pub records: usize,
    pub written: usize,
    pub already_in_table: usize,
    pub still_invalid: usize,
    pub already_replayed: usize,
    /// Members of an aggregated series (4h from 30min): not stored on their own, so not replayed.
    pub aggregated_members: usize,
    /// Outside the series' recorded coverage: the next backfill fetches them again, so a
    /// replay now could write them twice. Left for a later replay.
    pub outside_coverage: usize,
}

#[derive(Serialize, Deserialize)]
struct Replayed {
    id: String,
    index: usize,
    written: bool,
    replayed_at: DateTime<Utc>,
}

fn ledger_path(dlq: &DeadLetterQueue) -> PathBuf {
    dlq.dir().join("replayed.jsonl")
}

fn replayed(path: &Path) -> HashSet<(String, usize)> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Replayed>(l).ok())
        .map(|r| (r.id, r.index))
        .collect()
}

/// A record that passes today's rules, waiting for its series' commit.
struct Candidate {
    id: String,
    index: usize,
    row: Row,
}

/// How to re-read a provider's raw records: Alpha Vantage needs each pair's asset class.
pub struct Parsers {
    pub alphavantage_classes: HashMap<String, AssetClass>,
}

impl Parsers {
    fn parse(
        &self,
        provider: ProviderId,
        pair: &str,
        raw: Box<RawValue>,
    ) -> (WireCandle, VolumeKind) {
        match provider {
            ProviderId::Coinbase => (coinbase::parse_record(raw), VolumeKind::Base),
            ProviderId::Oanda => (oanda::parse_record(raw), VolumeKind::Ticks),
            ProviderId::AlphaVantage => {
                let class = alphavantage::classify(pair, &self.alphavantage_classes);
                (
                    alphavantage::replay_record(raw, pair, class),
                    class.volume_kind(),
                )
            }
        }
    }
}

pub async fn replay(
    dlq: &DeadLetterQueue,
    sink: &DeltaSink,
    parsers: &Parsers,
    ids: &[String],
    ingestion_id: &str,
    now: DateTime<Utc>,
) -> Result<ReplayReport> {
    let ledger = ledger_path(dlq);
    let done = replayed(&ledger);
    let mut report = ReplayReport::default();
    let mut by_series: BTreeMap<SeriesKey, (VolumeKind, Vec<Candidate>)> = BTreeMap::new();
    let mut entries = Vec::new();
    for (id, file) in dlq.files().map_err(|e| {
        Error::Failed(format!(
            "could not read the DLQ in {}: {e}",
            dlq.dir().display()
        ))
    })? {
        if !ids.is_empty() && !ids.contains(&id) {
            continue;
        }
        report.files += 1;
        if file.context.source_timeframe != file.context.timeframe {
            report.aggregated_members += file.records.len();
            continue;
        }
        let (Some(provider), Ok(tf)) = (
            ProviderId::parse(&file.context.provider),
            file.context.source_timeframe.parse::<Timeframe>(),
        ) else {
            continue;
        };
        let series = SeriesKey {
            provider,
            pair: file.context.asset_pair.clone(),
            timeframe: tf,
        };
        let extracted_at = DateTime::parse_from_rfc3339(&file.timestamp)
            .map(|t| t.to_utc())
            .unwrap_or(now);
        for (index, record) in file.records.into_iter().enumerate() {
            report.records += 1;
            if done.contains(&(id.clone(), index)) {
                report.already_replayed += 1;
                continue;
            }
            let (wire, volume_kind) = parsers.parse(provider, &series.pair, record.raw);
            match validate(wire, tf) {
                Ok(candle) => by_series
                    .entry(series.clone())
                    .or_insert_with(|| (volume_kind, Vec::new()))
                    .1
                    .push(Candidate {
                        id: id.clone(),
                        index,
                        row: Row {
                            candle,
                            extracted_at,
                        },
                    }),
                Err(_) => report.still_invalid += 1,
            }
        }
    }
    for (series, (volume_kind, candidates)) in by_series {
        let held: HashSet<DateTime<Utc>> = sink
            .rows_of(&series)
            .await?
            .into_iter()
            .map(|r| r.timestamp)
            .collect();
        let coverage = sink.recorded_coverage(&series).await?;
        let (candidates, outside): (Vec<_>, Vec<_>) = candidates
            .into_iter()
            .partition(|c| coverage.is_some_and(|cov| cov.contains(c.row.candle.open_time)));
        report.outside_coverage += outside.len();
        let mut seen = HashSet::new();
        let (new, present): (Vec<_>, Vec<_>) = candidates.into_iter().partition(|c| {
            !held.contains(&c.row.candle.open_time) && seen.insert(c.row.candle.open_time)
        });
        if !new.is_empty() {
            let lineage = Lineage {
                series: series.clone(),
                volume_kind,
                ingestion_id: ingestion_id.to_string(),
                is_mock: false,
                partition_period: sink.partition_period(series.timeframe, false).await?,
            };
            let rows: Vec<Row> = new.iter().map(|c| c.row.clone()).collect();
            sink.append(&lineage, &rows).await?;
        }
        report.written += new.len();
        report.already_in_table += present.len();
        entries.extend(new.into_iter().map(|c| (c, true)));
        entries.extend(present.into_iter().map(|c| (c, false)));
    }
    append_ledger(&ledger, &entries, now).map_err(|e| Error::write(&ledger, e))?;
    Ok(report)
}

fn append_ledger(
    path: &Path,
    entries: &[(Candidate, bool)],
    now: DateTime<Utc>,
) -> std::io::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let mut text = String::new();
    for (c, written) in entries {
        let line = Replayed {
            id: c.id.clone(),
            index: c.index,
            written: *written,
            replayed_at: now,
        };
        text += &serde_json::to_string(&line).expect("a ledger line serialises");
        text.push('\n');
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
