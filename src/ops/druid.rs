//! `candlelake druid-spec`: an Apache Druid native batch ingestion spec (`index_parallel`) per
//! table: the Delta input source on the table's path, `timestamp` as the time column, the string
//! columns as dimensions, no rollup, and segment granularity from the table's partition period.
//! The prices are metrics (`doubleSum` of one row each, as nothing is rolled up): Druid has no
//! exact decimal type, so they are doubles there while the lake keeps them exact.

use serde_json::{Value, json};

use crate::providers::Timeframe;
use crate::sink::{PartitionPeriod, table_name};

/// String columns of the tables, Druid's string dimensions.
const STRING_COLUMNS: [&str; 6] = [
    "asset_pair",
    "timeframe",
    "volume_kind",
    "source_provider",
    "_ingestion_id",
    "partition_asset_pair",
];

const PRICE_COLUMNS: [&str; 5] = ["open", "high", "low", "close", "volume"];

/// The spec of the table of `tf` under `lake`, partitioned by `period`.
pub fn spec(lake: &str, tf: Timeframe, period: PartitionPeriod) -> Value {
    let table = table_name(tf);
    let dimensions: Vec<Value> = STRING_COLUMNS
        .iter()
        .map(|c| json!({"type": "string", "name": c}))
        .collect();
    let metrics: Vec<Value> = PRICE_COLUMNS
        .iter()
        .map(|c| json!({"type": "doubleSum", "name": c, "fieldName": c}))
        .collect();
    let segment = match period {
        PartitionPeriod::Day => "DAY",
        PartitionPeriod::Month => "MONTH",
        PartitionPeriod::Year => "YEAR",
    };
    json!({
        "type": "index_parallel",
        "spec": {
            "dataSchema": {
                "dataSource": table,
                "timestampSpec": {"column": "timestamp", "format": "auto"},
                "dimensionsSpec": {"dimensions": dimensions},
                "metricsSpec": metrics,
                "granularitySpec": {
                    "type": "uniform",
                    "segmentGranularity": segment,
                    "queryGranularity": "NONE",
                    "rollup": false
                }
            },
            "ioConfig": {
                "type": "index_parallel",
                "inputSource": {
                    "type": "delta",
                    "tablePath": format!("{}/{table}", lake.trim_end_matches('/'))
                },
                "appendToExisting": false
            },
            "tuningConfig": {
                "type": "index_parallel",
                "partitionsSpec": {"type": "dynamic"}
            }
        }
    })
}
