//! The dead-letter queue: one JSON file per HTTP response that had rejects, named
//! `{ingestion_id}-{provider}-{pair}-{tf}-{seq}.json`, written atomically.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::atomic::write_atomic;
use crate::failpoint;
use crate::model::SeriesKey;
use crate::stage::validate::Reject;

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

/// A dead-lettered record's identity: its open time as written, and its raw text.
pub type RecordKey = (Option<String>, String);

fn record_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A DLQ file as read back.
#[derive(Deserialize)]
pub struct StoredFile {
    pub timestamp: String,
    pub context: StoredContext,
    pub records: Vec<StoredRecord>,
}

#[derive(Deserialize)]
pub struct StoredContext {
    pub provider: String,
    pub asset_pair: String,
    pub timeframe: String,
    pub source_timeframe: String,
}

#[derive(Deserialize)]
pub struct StoredRecord {
    pub timestamp: Option<String>,
    pub reasons: Vec<String>,
    pub raw: Box<RawValue>,
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

    /// Every record already dead-lettered for a series, as (open time, raw text): a run that
    /// crashed after writing its DLQ file and before its commit refetches the same window, and
    /// must not dead-letter the same record twice.
    pub fn known_records(&self, series: &SeriesKey) -> HashSet<RecordKey> {
        self.files_of(series)
            .filter_map(|path| fs::read(path).ok())
            .filter_map(|b| serde_json::from_slice::<StoredFile>(&b).ok())
            .flat_map(|f| f.records)
            .map(|r| (r.timestamp, r.raw.get().to_string()))
            .collect()
    }

    fn files_of(&self, series: &SeriesKey) -> impl Iterator<Item = PathBuf> + use<> {
        let infix = format!(
            "-{}-{}-{}-",
            series.provider.as_str(),
            series.pair,
            series.timeframe
        );
        fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(move |e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.ends_with(".json") && n.contains(&infix))
            })
            .map(|e| e.path())
    }

    /// Writes one file for the rejects of one response that are not in `known`; returns its id
    /// (the file stem), or `None` when every reject was already dead-lettered.
    pub fn write(
        &self,
        context: &DlqContext<'_>,
        seq: u64,
        rejects: &[Reject],
        now: DateTime<Utc>,
        known: &mut HashSet<RecordKey>,
    ) -> io::Result<Option<String>> {
        let rejects: Vec<&Reject> = rejects
            .iter()
            .filter(|r| known.insert((r.open_time.map(record_time), r.raw.get().to_string())))
            .collect();
        if rejects.is_empty() {
            return Ok(None);
        }
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
        write_atomic(
            &self.dir.join(format!("{id}.json")),
            &bytes,
            "mid_dlq_write",
        )?;
        failpoint::hit("after_dlq_write");
        Ok(Some(id))
    }

    /// Every DLQ file as (id, content), sorted by id; unreadable files are skipped.
    pub fn files(&self) -> io::Result<Vec<(String, StoredFile)>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut files: Vec<(String, StoredFile)> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter_map(|p| {
                let id = p.file_stem()?.to_str()?.to_string();
                let file = serde_json::from_slice(&fs::read(&p).ok()?).ok()?;
                Some((id, file))
            })
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(files)
    }

    /// Number of dead-lettered records of a series, over every run.
    pub fn count_records(&self, series: &SeriesKey) -> u64 {
        self.known_records(series).len() as u64
    }
}
