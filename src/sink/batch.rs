//! Enriched rows → one Arrow record batch in the contract's column order.

use std::sync::Arc;

use chrono::NaiveDate;
use deltalake::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use deltalake::arrow::error::ArrowError;

use super::schema::arrow_schema;
use crate::model::{Lineage, Row};
use crate::providers::decimal::to_scale_18;
use crate::stage::validate::Candle;

pub fn build(lineage: &Lineage, rows: &[Row]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let repeat = |v: &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, n)))
    };
    let micros = |f: fn(&Row) -> i64| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(f)).with_timezone("UTC"),
        )
    };
    let price = |f: fn(&Candle) -> rust_decimal::Decimal| -> Result<ArrayRef, ArrowError> {
        let values = rows.iter().map(|r| to_scale_18(f(&r.candle)));
        Ok(Arc::new(
            Decimal128Array::from_iter_values(values).with_precision_and_scale(38, 18)?,
        ))
    };
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let period = lineage.partition_period;
    let partition_dates = rows.iter().map(|r| {
        let days = (period.partition_date(r.candle.open_time) - epoch).num_days();
        i32::try_from(days).expect("dates of candles fit in 32-bit days")
    });
    let series = &lineage.series;
    let columns: Vec<ArrayRef> = vec![
        micros(|r| r.candle.open_time.timestamp_micros()),
        repeat(&series.pair),
        repeat(series.timeframe.as_str()),
        price(|c| c.open)?,
        price(|c| c.high)?,
        price(|c| c.low)?,
        price(|c| c.close)?,
        price(|c| c.volume)?,
        repeat(lineage.volume_kind.as_str()),
        repeat(series.provider.as_str()),
        micros(|r| r.extracted_at.timestamp_micros()),
        repeat(&lineage.ingestion_id),
        Arc::new(BooleanArray::from(vec![lineage.is_mock; n])),
        Arc::new(Date32Array::from_iter_values(partition_dates)),
        repeat(&series.pair),
    ];
    RecordBatch::try_new(arrow_schema(), columns)
}
