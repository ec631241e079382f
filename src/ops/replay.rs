//! `dlq replay`: re-reads dead-lettered raw records (a user may have corrected them) with
//! today's rules, writes those that now pass and are not in the table yet, and records each
//! replayed (file id, index) in `{state}/dlq/replayed.jsonl` so a second replay writes nothing.
//! A replay that lost its lease commits and records nothing more (a series it committed is
//! found in the table by the next replay).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::fetch::Shutdown;
use crate::model::{Lineage, Row, SeriesKey};
use crate::plan::PlanError;
use crate::providers::{Facts, ProviderId, Timeframe, VolumeKind};
use crate::sink::DeltaSink;
use crate::stage::validate::validate;
use crate::state::dlq::{DeadLetterQueue, LedgerEntry};

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
    /// DLQ files that could not be read, with why; the command exits 2 when there are any.
    pub unreadable: Vec<String>,
}

/// A record that passes today's rules, waiting for its series' commit.
struct Candidate {
    id: String,
    index: usize,
    row: Row,
}

pub async fn replay(
    dlq: &DeadLetterQueue,
    sink: &DeltaSink,
    facts: &Facts<'_>,
    ids: &[String],
    ingestion_id: &str,
    now: DateTime<Utc>,
    lease: &Shutdown,
) -> Result<ReplayReport> {
    let ledger = dlq.ledger();
    let done = ledger.replayed();
    let mut report = ReplayReport::default();
    let listing = dlq
        .list()
        .map_err(|e| Error::Failed(format!("could not read the DLQ in {}: {e}", dlq.dir())))?;
    let known = |id: &String| {
        listing.files.iter().any(|(f, _)| f == id) || listing.unreadable.iter().any(|u| &u.id == id)
    };
    if let Some(missing) = ids.iter().find(|id| !known(id)) {
        return Err(PlanError(format!(
            "no DLQ file with id '{missing}' in {}; `candlelake dlq list` shows the ids",
            dlq.dir()
        ))
        .into());
    }
    for u in listing
        .unreadable
        .iter()
        .filter(|u| ids.is_empty() || ids.contains(&u.id))
    {
        report.unreadable.push(u.to_string());
    }
    let mut by_series: BTreeMap<SeriesKey, (VolumeKind, Vec<Candidate>)> = BTreeMap::new();
    let mut entries = Vec::new();
    for (id, file) in listing.files {
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
            let volume_kind = facts.volume_kind(provider, &series.pair);
            let wire = facts.read_record(provider, &series.pair, record.raw);
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
        let (rows, read_at) = sink.rows_at(&series).await?;
        let held: HashSet<DateTime<Utc>> = rows.into_iter().map(|r| r.timestamp).collect();
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
            lease.still_held()?;
            sink.append(&lineage, &rows, read_at).await?;
        }
        report.written += new.len();
        report.already_in_table += present.len();
        entries.extend(new.into_iter().map(|c| (c, true)));
        entries.extend(present.into_iter().map(|c| (c, false)));
    }
    let entries: Vec<LedgerEntry> = entries
        .into_iter()
        .map(|(c, written)| LedgerEntry {
            id: c.id,
            index: c.index,
            written,
            replayed_at: now,
        })
        .collect();
    lease.still_held()?;
    ledger
        .append(&entries)
        .map_err(|e| Error::write(&ledger.path(), e))?;
    Ok(report)
}
