//! Writing rejects: one JSON file per HTTP response that had rejects, named
//! `{ingestion_id}-{provider}-{pair}-{tf}-{seq}.json`, written atomically, each record once;
//! and taking back the records of candles another run's commit covered first.

use std::collections::HashSet;
use std::io;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{DeadLetterQueue, RecordKey, record_time};
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

/// A DLQ file as written, whatever its records carry (a fetched or an imported candle).
#[derive(Serialize)]
pub(super) struct File<'a, R> {
    pub(super) timestamp: String,
    pub(super) error: &'static str,
    pub(super) context: Context<'a>,
    pub(super) records: Vec<R>,
}

#[derive(Serialize)]
pub(super) struct Context<'a> {
    pub(super) provider: &'a str,
    pub(super) asset_pair: &'a str,
    pub(super) timeframe: &'a str,
    pub(super) source_timeframe: &'a str,
    pub(super) ingestion_id: &'a str,
    pub(super) request: &'a str,
}

#[derive(Serialize)]
struct Record<'a> {
    timestamp: Option<String>,
    reasons: Vec<&'static str>,
    raw: &'a RawValue,
}

impl DeadLetterQueue {
    /// Writes one pending file (see `pending.rs`) for the rejects of one response that are not
    /// in `known`; returns its id (the file stem), or `None` when every reject was already
    /// dead-lettered.
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
        self.store
            .put(&Self::pending_key(&id), &bytes, "mid_dlq_write")?;
        failpoint::hit("after_dlq_write");
        Ok(Some(id))
    }

    /// Takes out of the pending file `id` the records of candles `covered` says another run's commit
    /// holds (that run recorded them), keeping every other byte; removes the file when none is
    /// left. Returns how many records were taken out.
    pub fn drop_covered(
        &self,
        id: &str,
        covered: impl Fn(DateTime<Utc>) -> bool,
    ) -> io::Result<u64> {
        let key = Self::pending_key(id);
        let Some(bytes) = self.store.get(&key)? else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is gone", self.store.show(&key)),
            ));
        };
        let invalid = |e: serde_json::Error| io::Error::new(io::ErrorKind::InvalidData, e);
        let mut file: Written = serde_json::from_slice(&bytes).map_err(invalid)?;
        let before = file.records.len();
        let mut kept = Vec::with_capacity(before);
        for record in file.records {
            let stamp: Stamp = serde_json::from_str(record.get()).map_err(invalid)?;
            let time = stamp
                .timestamp
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.to_utc());
            if !time.is_some_and(&covered) {
                kept.push(record);
            }
        }
        let dropped = (before - kept.len()) as u64;
        if dropped == 0 {
            return Ok(0);
        }
        if kept.is_empty() {
            self.store.delete(&key)?;
            return Ok(dropped);
        }
        file.records = kept;
        let mut bytes = serde_json::to_vec_pretty(&file).expect("a DLQ file serialises");
        bytes.push(b'\n');
        self.store.put(&key, &bytes, "mid_dlq_write")?;
        Ok(dropped)
    }
}

/// A written DLQ file, each part kept as its text.
#[derive(Serialize, Deserialize)]
struct Written<'a> {
    #[serde(borrow)]
    timestamp: &'a RawValue,
    #[serde(borrow)]
    error: &'a RawValue,
    #[serde(borrow)]
    context: &'a RawValue,
    #[serde(borrow)]
    records: Vec<&'a RawValue>,
}

/// The open time of a written record.
#[derive(Deserialize)]
struct Stamp {
    timestamp: Option<String>,
}
