//! Writing the rejects of an imported file: one DLQ file per pair of the file, named
//! `{ingestion_id}-{vendor}-{pair}-{tf}-{seq}.json` like a fetched response's, its `request`
//! the file's path and each record naming the file and line it came from. The name depends only
//! on the run, the file and the pair, so writing it again after a crash replaces it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::DeadLetterQueue;
use super::rejects::{Context, File};
use crate::failpoint;
use crate::stage::validate::Reason;

/// Where a file's rejects came from.
pub struct ImportContext<'a> {
    pub vendor: &'a str,
    pub timeframe: &'a str,
    pub ingestion_id: &'a str,
    pub file: &'a str,
    /// A number that tells this file's DLQ files from other files' of the same run.
    pub seq: u64,
}

/// One rejected line.
pub struct LineReject<'a> {
    pub pair: &'a str,
    pub line: u64,
    pub open_time: Option<DateTime<Utc>>,
    pub reasons: &'a [Reason],
    pub raw: &'a str,
}

#[derive(Serialize)]
struct Record<'a> {
    timestamp: Option<String>,
    reasons: Vec<&'static str>,
    raw: &'a str,
    file: &'a str,
    line: u64,
}

impl DeadLetterQueue {
    /// Writes one DLQ file per pair of `rejects` (in file order); returns their ids.
    pub fn write_imported(
        &self,
        context: &ImportContext<'_>,
        rejects: &[LineReject<'_>],
        now: DateTime<Utc>,
    ) -> std::io::Result<Vec<String>> {
        let mut pairs: Vec<&str> = rejects.iter().map(|r| r.pair).collect();
        pairs.sort_unstable();
        pairs.dedup();
        let mut ids = Vec::new();
        for (n, pair) in pairs.into_iter().enumerate() {
            let id = format!(
                "{}-{}-{pair}-{}-{}",
                context.ingestion_id,
                context.vendor,
                context.timeframe,
                context.seq * 100_000 + n as u64
            );
            let file = File {
                timestamp: now.to_rfc3339_opts(SecondsFormat::Micros, true),
                error: "validation_failed",
                context: Context {
                    provider: context.vendor,
                    asset_pair: pair,
                    timeframe: context.timeframe,
                    source_timeframe: context.timeframe,
                    ingestion_id: context.ingestion_id,
                    request: context.file,
                },
                records: rejects
                    .iter()
                    .filter(|r| r.pair == pair)
                    .map(|r| Record {
                        timestamp: r
                            .open_time
                            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
                        reasons: r.reasons.iter().map(|r| r.as_str()).collect(),
                        raw: r.raw,
                        file: context.file,
                        line: r.line,
                    })
                    .collect(),
            };
            let mut bytes = serde_json::to_vec_pretty(&file).expect("a DLQ file serialises");
            bytes.push(b'\n');
            self.store.put(&Self::key(&id), &bytes, "mid_dlq_write")?;
            ids.push(id);
        }
        failpoint::hit("after_dlq_write");
        Ok(ids)
    }
}
