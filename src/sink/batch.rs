//! Enriched rows → one Arrow record batch in the contract's column order, for a fetched
//! series (`build`) or any other writer that labels its rows itself (`build_labelled`).

use std::sync::Arc;

use chrono::NaiveDate;
use deltalake::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use deltalake::arrow::error::ArrowError;

use super::PartitionPeriod;
use super::schema::arrow_schema;
use crate::model::{Lineage, Row};
use crate::providers::decimal::to_scale_18;
use crate::providers::{Timeframe, VolumeKind};
use crate::stage::validate::Candle;

/// The values every row of one batch shares, whatever wrote it (a fetched series or a file).
pub struct Labels<'a> {
    pub pair: &'a str,
    pub timeframe: Timeframe,
    pub volume_kind: VolumeKind,
    pub source_provider: &'a str,
    pub ingestion_id: &'a str,
    pub is_mock: bool,
    pub period: PartitionPeriod,
}

pub fn build(lineage: &Lineage, rows: &[Row]) -> Result<RecordBatch, ArrowError> {
    let series = &lineage.series;
    let labels = Labels {
        pair: &series.pair,
        timeframe: series.timeframe,
        volume_kind: lineage.volume_kind,
        source_provider: series.provider.as_str(),
        ingestion_id: &lineage.ingestion_id,
        is_mock: lineage.is_mock,
        period: lineage.partition_period,
    };
    build_labelled(&labels, rows)
}

pub fn build_labelled(labels: &Labels<'_>, rows: &[Row]) -> Result<RecordBatch, ArrowError> {
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
    let period = labels.period;
    let partition_dates = rows.iter().map(|r| {
        let days = (period.partition_date(r.candle.open_time) - epoch).num_days();
        i32::try_from(days).expect("dates of candles fit in 32-bit days")
    });
    let columns: Vec<ArrayRef> = vec![
        micros(|r| r.candle.open_time.timestamp_micros()),
        repeat(labels.pair),
        repeat(labels.timeframe.as_str()),
        price(|c| c.open)?,
        price(|c| c.high)?,
        price(|c| c.low)?,
        price(|c| c.close)?,
        price(|c| c.volume)?,
        repeat(labels.volume_kind.as_str()),
        repeat(labels.source_provider),
        micros(|r| r.extracted_at.timestamp_micros()),
        repeat(labels.ingestion_id),
        Arc::new(BooleanArray::from(vec![labels.is_mock; n])),
        Arc::new(Date32Array::from_iter_values(partition_dates)),
        repeat(labels.pair),
    ];
    RecordBatch::try_new(arrow_schema(), columns)
}
