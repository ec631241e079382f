//! Revision records: the old values of the candles a `refetch` replaced, one JSON file per
//! series and run under `{state}/dlq/revisions/`, written atomically before the commit that
//! replaces them.

use std::collections::BTreeMap;
use std::io;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::{DIR, DeadLetterQueue};
use crate::model::SeriesKey;

/// One candle's values before and after.
#[derive(Debug, Serialize)]
pub struct Change {
    pub timestamp: String,
    pub old: BTreeMap<&'static str, String>,
    pub new: BTreeMap<&'static str, String>,
}

/// The changes one refetch made to one series.
#[derive(Debug, Serialize)]
pub struct Revision<'a> {
    timestamp: String,
    ingestion_id: &'a str,
    provider: &'static str,
    asset_pair: &'a str,
    timeframe: &'static str,
    changes: Vec<Change>,
}

impl DeadLetterQueue {
    /// Writes the revision record of `series` for the run `ingestion_id`; returns its id.
    pub fn write_revision(
        &self,
        series: &SeriesKey,
        ingestion_id: &str,
        changes: Vec<Change>,
        now: DateTime<Utc>,
    ) -> io::Result<String> {
        let id = format!(
            "{ingestion_id}-{}-{}-{}",
            series.provider.as_str(),
            series.pair,
            series.timeframe
        );
        let record = Revision {
            timestamp: now.to_rfc3339_opts(SecondsFormat::Micros, true),
            ingestion_id,
            provider: series.provider.as_str(),
            asset_pair: &series.pair,
            timeframe: series.timeframe.as_str(),
            changes,
        };
        let bytes = serde_json::to_vec_pretty(&record).expect("a revision serialises");
        self.store.put(
            &format!("{DIR}/revisions/{id}.json"),
            &bytes,
            "mid_revision_write",
        )?;
        Ok(id)
    }

    /// The revisions directory, as a message shows it.
    pub fn revisions_dir(&self) -> String {
        self.store.show(&format!("{DIR}/revisions"))
    }
}
