//! The dead-letter queue: one JSON file per HTTP response that had rejects, named
//! `{ingestion_id}-{provider}-{pair}-{tf}-{seq}.json`, written atomically.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

use super::atomic::write_atomic;
use crate::enrich::SeriesKey;
use crate::validate::Reject;

/// Where a batch of rejects came from.
#[derive(Debug, Clone)]
pub struct DlqContext<'a> {
    pub series: &'a SeriesKey,
    pub source_timeframe: &'a str,
    pub ingestion_id: &'a str,
    /// The request URL with no secret in it.
    pub request: &'a str,
}

#[derive(Serialize)]
struct File<'a> {
    timestamp: String,
    error: &'static str,
    context: Context<'a>,
    records: Vec<Record<'a>>,
}

#[derive(Serialize)]
struct Context<'a> {
    provider: &'a str,
    asset_pair: &'a str,
    timeframe: &'a str,
    source_timeframe: &'a str,
    ingestion_id: &'a str,
    request: &'a str,
}

#[derive(Serialize)]
struct Record<'a> {
    timestamp: Option<String>,
    reasons: Vec<&'static str>,
    raw: &'a RawValue,
}

#[derive(Debug, Clone)]
pub struct DeadLetterQueue {
    dir: PathBuf,
}

impl DeadLetterQueue {
    pub fn new(state_dir: &Path) -> Self {
        DeadLetterQueue {
            dir: state_dir.join("dlq"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one file for the rejects of one response; returns its id (the file stem).
    pub fn write(
        &self,
        context: &DlqContext<'_>,
        seq: u64,
        rejects: &[Reject],
        now: DateTime<Utc>,
    ) -> io::Result<String> {
        let series = context.series;
        let id = format!(
            "{}-{}-{}-{}-{seq}",
            context.ingestion_id,
            series.provider.as_str(),
            series.pair,
            series.timeframe
        );
        let file = File {
            timestamp: now.to_rfc3339_opts(SecondsFormat::Micros, true),
            error: "validation_failed",
            context: Context {
                provider: series.provider.as_str(),
                asset_pair: &series.pair,
                timeframe: series.timeframe.as_str(),
                source_timeframe: context.source_timeframe,
                ingestion_id: context.ingestion_id,
                request: context.request,
            },
            records: rejects
                .iter()
                .map(|r| Record {
                    timestamp: r
                        .open_time
                        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
                    reasons: r.reasons.iter().map(|r| r.as_str()).collect(),
                    raw: &r.raw,
                })
                .collect(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file).expect("a DLQ file serialises");
        bytes.push(b'\n');
        write_atomic(&self.dir.join(format!("{id}.json")), &bytes)?;
        Ok(id)
    }

    /// Number of dead-lettered records of a series, over every run.
    pub fn count_records(&self, series: &SeriesKey) -> u64 {
        let infix = format!(
            "-{}-{}-{}-",
            series.provider.as_str(),
            series.pair,
            series.timeframe
        );
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        entries
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.ends_with(".json") && n.contains(&infix))
            })
            .filter_map(|e| fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .map(|v| v["records"].as_array().map_or(0, |r| r.len() as u64))
            .sum()
    }
}
