//! `refetch`: fetches a series' range again and, when the provider now answers differently
//! (late trades, provider fixes), replaces exactly the changed candles in one commit. The
//! replaced values are kept as a revision record under `{state}/dlq/revisions/`.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::aggregate::Aggregator;
use crate::enrich::{Lineage, Row};
use crate::pipeline::{self, Span};
use crate::providers::decimal::to_scale_18;
use crate::providers::{VolumeKind, WindowRequest};
use crate::schedule::{Engine, SeriesRequest, fetch_with_retry};
use crate::sink::read::decimal_text;
use crate::state::atomic::write_atomic;

#[derive(Debug, Default, Serialize)]
pub struct RefetchReport {
    pub provider: &'static str,
    pub asset_pair: String,
    pub timeframe: &'static str,
    pub fetched: usize,
    pub changed: usize,
    pub added: usize,
    pub rejected: usize,
    pub revision: Option<String>,
    pub table_version: Option<u64>,
}

type Cells = [String; 5];

fn cells(row: &Row) -> Cells {
    let c = &row.candle;
    [c.open, c.high, c.low, c.close, c.volume].map(|d| decimal_text(to_scale_18(d)))
}

#[derive(Serialize)]
struct Revision<'a> {
    timestamp: String,
    ingestion_id: &'a str,
    provider: &'static str,
    asset_pair: &'a str,
    timeframe: &'static str,
    changes: Vec<Change>,
}

#[derive(Serialize)]
struct Change {
    timestamp: String,
    old: BTreeMap<&'static str, String>,
    new: BTreeMap<&'static str, String>,
}

const FIELDS: [&str; 5] = ["open", "high", "low", "close", "volume"];

/// Refetches `request`'s range (clipped to the series' coverage) and writes what changed.
pub async fn refetch(engine: &Engine, request: &SeriesRequest) -> Result<RefetchReport, String> {
    let series = &request.series;
    let tf = series.timeframe;
    let mut report = RefetchReport {
        provider: series.provider.as_str(),
        asset_pair: series.pair.clone(),
        timeframe: tf.as_str(),
        ..RefetchReport::default()
    };
    let (held, _) = engine.held_coverage(series).await?;
    let held = held.ok_or_else(|| format!("{series} has no coverage yet; run backfill first"))?;
    let range = Span {
        start: tf.ceil(request.start).max(held.from),
        end: tf.ceil(request.end).min(held.to),
    };
    if range.start >= range.end {
        return Ok(report);
    }

    // Fetch the range again through the same pipeline as a backfill.
    let mut fetched: Vec<Row> = Vec::new();
    let mut aggregator = (request.source != tf).then(|| Aggregator::new(tf));
    let mut volume_kind = VolumeKind::Base;
    let mut processed = Vec::new();
    for (i, (start, end)) in engine
        .source
        .windows(&series.pair, request.source, range.start, range.end, false)
        .into_iter()
        .enumerate()
    {
        if engine.shutdown.requested().is_some() {
            return Err(
                "interrupted before its commit; nothing of this series was replaced".into(),
            );
        }
        let req = WindowRequest {
            pair: series.pair.clone(),
            timeframe: request.source,
            start,
            end,
            continues: i > 0,
        };
        let page = fetch_with_retry(engine.source.as_ref(), &engine.budget, &req, engine.retry)
            .await
            .0
            .map_err(|e| e.to_string())?;
        volume_kind = page.volume_kind;
        let window = Span { start, end };
        let out = pipeline::process(page, window, request.source, engine.settle, &processed);
        pipeline::mark_processed(&mut processed, window);
        report.rejected += out.rejects.len();
        match aggregator.as_mut() {
            None => fetched.extend(out.rows),
            Some(agg) => {
                agg.add(out.rows, out.rejects.iter().filter_map(|r| r.open_time));
                fetched.extend(agg.emit(range.start, out.covered_end).rows);
            }
        }
    }
    fetched.retain(|r| range.start <= r.candle.open_time && r.candle.open_time < range.end);
    report.fetched = fetched.len();

    // Compare with the table.
    let held_rows: BTreeMap<DateTime<Utc>, Cells> = engine
        .sink
        .rows_of(series)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|r| range.start <= r.timestamp && r.timestamp < range.end)
        .map(|r| (r.timestamp, [r.open, r.high, r.low, r.close, r.volume]))
        .collect();
    let now = (engine.clock)();
    let mut replaced = Vec::new();
    let mut writes = Vec::new();
    let mut changes = Vec::new();
    for row in fetched {
        let new = cells(&row);
        match held_rows.get(&row.candle.open_time) {
            Some(old) if *old == new => continue,
            Some(old) => {
                report.changed += 1;
                replaced.push(row.candle.open_time);
                changes.push(Change {
                    timestamp: crate::summary::rfc3339(row.candle.open_time),
                    old: FIELDS.iter().copied().zip(old.iter().cloned()).collect(),
                    new: FIELDS.iter().copied().zip(new.iter().cloned()).collect(),
                });
            }
            None => report.added += 1,
        }
        writes.push(row);
    }
    if writes.is_empty() {
        return Ok(report);
    }

    // The old values first, then the one commit that replaces them.
    if !changes.is_empty() {
        let id = format!(
            "{}-{}-{}-{}",
            engine.ingestion_id,
            series.provider.as_str(),
            series.pair,
            tf
        );
        let record = Revision {
            timestamp: now.to_rfc3339_opts(SecondsFormat::Micros, true),
            ingestion_id: &engine.ingestion_id,
            provider: series.provider.as_str(),
            asset_pair: &series.pair,
            timeframe: tf.as_str(),
            changes,
        };
        let path = engine
            .dlq
            .dir()
            .join("revisions")
            .join(format!("{id}.json"));
        let bytes = serde_json::to_vec_pretty(&record).expect("a revision serialises");
        write_atomic(&path, &bytes, "mid_revision_write")
            .map_err(|e| format!("could not write {}: {e}", path.display()))?;
        report.revision = Some(id);
    }
    let lineage = Lineage {
        series: series.clone(),
        volume_kind,
        ingestion_id: engine.ingestion_id.clone(),
        is_mock: engine.is_mock,
        partition_period: request.partition_period,
    };
    report.table_version = engine
        .sink
        .replace(&lineage, (range.start, range.end), &replaced, &writes)
        .await
        .map_err(|e| e.to_string())?;
    Ok(report)
}
