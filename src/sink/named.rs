//! Which pending DLQ files a table's commits name: a run that stopped between its commit and
//! moving its DLQ files into the queue finds here that the commit landed, and the coverage
//! the commit found held (whose rejects another run recorded).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deltalake::DeltaTableError;

use super::log::{DLQ_HELD_INFO, DLQ_INFO};
use super::table::{DeltaSink, SinkError};
use crate::model::TimeRange;
use crate::providers::Timeframe;

impl DeltaSink {
    /// The DLQ file ids named by the commits of the table of `tf` made at or after `since`,
    /// each with the series' coverage before the commit naming it, reading the log from its
    /// newest commit back.
    pub async fn named_dlq_files(
        &self,
        tf: Timeframe,
        since: DateTime<Utc>,
    ) -> Result<HashMap<String, Option<TimeRange>>, SinkError> {
        let err = self.delta_err(tf);
        let Some(table) = self.unloaded(tf)? else {
            return Ok(HashMap::new());
        };
        let log_store = table.log_store();
        let Ok(latest) = log_store.get_latest_version(0).await else {
            return Ok(HashMap::new());
        };
        let mut named = HashMap::new();
        for version in (0..=latest).rev() {
            let Some(bytes) = log_store.read_commit_entry(version).await.map_err(&err)? else {
                break;
            };
            let mut older = false;
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let action: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
                    err(DeltaTableError::Generic(format!(
                        "the commit file of version {version} is not valid JSON ({e})"
                    )))
                })?;
                let info = &action["commitInfo"];
                if let Some(ids) = info[DLQ_INFO].as_array() {
                    let held = held_of(&info[DLQ_HELD_INFO]);
                    named.extend(
                        ids.iter()
                            .filter_map(|id| id.as_str())
                            .map(|id| (id.to_string(), held)),
                    );
                }
                older |= info["timestamp"]
                    .as_i64()
                    .is_some_and(|t| t < since.timestamp_millis());
            }
            if older {
                break;
            }
        }
        Ok(named)
    }
}

/// The coverage a commit's `candlelake.dlqHeld` records; `None` when it records none.
fn held_of(value: &serde_json::Value) -> Option<TimeRange> {
    let at = |key: &str| {
        DateTime::parse_from_rfc3339(value[key].as_str()?)
            .ok()
            .map(|t| t.to_utc())
    };
    Some(TimeRange::new(at("start")?, at("end")?))
}
