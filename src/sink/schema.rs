//! The contract's table schema, column by column, in Delta and in Arrow form.

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType as ArrowType, Field, Schema, TimeUnit};
use deltalake::kernel::{DataType, DecimalType, PrimitiveType, StructField};

use crate::providers::Timeframe;

/// Table property holding the partition period chosen when the table was created.
pub const PARTITION_PERIOD_PROPERTY: &str = "candlelake.partitionPeriod";

/// Columns with file statistics. The price columns are left out: delta-rs 1.1 writes decimal
/// statistics as binary floats (58898.600000000006 for 58898.6), which would let a reader's
/// data skipping drop a file holding an exact match. Only numeric, string and time columns:
/// Spark refuses every later ALTER TABLE on a table whose list holds a boolean (`is_mock`).
pub const STATS_PROPERTY: &str = "delta.dataSkippingStatsColumns";

/// The columns of [`STATS_PROPERTY`].
pub const STATS_COLUMNS: &str =
    "timestamp,asset_pair,timeframe,volume_kind,source_provider,_extracted_at,_ingestion_id";

pub const PARTITION_COLUMNS: [&str; 2] = ["partition_date", "partition_asset_pair"];

pub fn table_name(tf: Timeframe) -> String {
    format!("raw_market_data_{tf}")
}

const PRICE_COLUMNS: [&str; 5] = ["open", "high", "low", "close", "volume"];

fn decimal() -> DataType {
    DataType::Primitive(PrimitiveType::Decimal(
        DecimalType::try_new(38, 18).expect("valid decimal"),
    ))
}

/// The Delta columns, in the contract's order, none nullable.
pub fn delta_columns() -> Vec<StructField> {
    let mut columns = vec![
        StructField::not_null("timestamp", DataType::TIMESTAMP),
        StructField::not_null("asset_pair", DataType::STRING),
        StructField::not_null("timeframe", DataType::STRING),
    ];
    columns.extend(
        PRICE_COLUMNS
            .iter()
            .map(|c| StructField::not_null(*c, decimal())),
    );
    columns.extend([
        StructField::not_null("volume_kind", DataType::STRING),
        StructField::not_null("source_provider", DataType::STRING),
        StructField::not_null("_extracted_at", DataType::TIMESTAMP),
        StructField::not_null("_ingestion_id", DataType::STRING),
        StructField::not_null("is_mock", DataType::BOOLEAN),
        StructField::not_null("partition_date", DataType::DATE),
        StructField::not_null("partition_asset_pair", DataType::STRING),
    ]);
    columns
}

/// The same columns as Arrow types (timestamps are microseconds in UTC).
pub fn arrow_schema() -> Arc<Schema> {
    let ts = || ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields = vec![
        Field::new("timestamp", ts(), false),
        Field::new("asset_pair", ArrowType::Utf8, false),
        Field::new("timeframe", ArrowType::Utf8, false),
    ];
    fields.extend(
        PRICE_COLUMNS
            .iter()
            .map(|c| Field::new(*c, ArrowType::Decimal128(38, 18), false)),
    );
    fields.extend([
        Field::new("volume_kind", ArrowType::Utf8, false),
        Field::new("source_provider", ArrowType::Utf8, false),
        Field::new("_extracted_at", ts(), false),
        Field::new("_ingestion_id", ArrowType::Utf8, false),
        Field::new("is_mock", ArrowType::Boolean, false),
        Field::new("partition_date", ArrowType::Date32, false),
        Field::new("partition_asset_pair", ArrowType::Utf8, false),
    ]);
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_are_kept_for_string_and_time_columns_only() {
        let columns = delta_columns();
        for name in STATS_COLUMNS.split(',') {
            let column = columns
                .iter()
                .find(|c| c.name() == name)
                .unwrap_or_else(|| panic!("{name} is a column"));
            assert!(
                [DataType::STRING, DataType::TIMESTAMP].contains(column.data_type()),
                "{name} is {:?}",
                column.data_type()
            );
        }
    }
}
