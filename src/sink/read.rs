//! Reading tables back: every row as text (for tests, replays and reports), the open times of
//! many series in one read (for `gaps`), and per-series row counts from the log's file
//! statistics (for `status`, reading only files with a deletion vector). Rows another tool
//! deleted with a deletion vector are never read back.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use deltalake::arrow::array::{ArrayRef, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Decimal128Type, TimeUnit, TimestampMicrosecondType};
use deltalake::arrow::error::ArrowError;
use deltalake::kernel::LogicalFileView;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake::parquet::errors::ParquetError;
use deltalake::{DeltaTable, DeltaTableError};
use object_store::ObjectStoreExt as _;

use super::deleted::deleted_rows;
use super::rewrite::{file_batch, pair_of};
use super::table::{DeltaSink, SinkError};
use super::view::{Holding, file_holding};
use crate::model::SeriesKey;
use crate::providers::{ProviderId, Timeframe};

/// One table row, decimals as exact text without trailing zeros.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TableRow {
    pub source_provider: String,
    pub asset_pair: String,
    pub timestamp: DateTime<Utc>,
    pub timeframe: String,
    pub open: String,
    pub high: String,
    pub low: String,
    pub close: String,
    pub volume: String,
    pub volume_kind: String,
    pub extracted_at: DateTime<Utc>,
    pub ingestion_id: String,
    pub is_mock: bool,
    pub partition_date: NaiveDate,
    pub partition_asset_pair: String,
}

/// Formats an unscaled decimal(38,18) value exactly.
pub fn decimal_text(unscaled: i128) -> String {
    let sign = if unscaled < 0 { "-" } else { "" };
    let digits = format!("{:019}", unscaled.unsigned_abs());
    let (int, frac) = digits.split_at(digits.len() - 18);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

impl DeltaSink {
    /// The error of a data file that could not be read: a file the store has lost is named
    /// with the fix.
    fn unreadable_file(
        &self,
        tf: Timeframe,
        file: &LogicalFileView,
        e: DeltaTableError,
    ) -> SinkError {
        match e {
            DeltaTableError::ObjectStore {
                source: object_store::Error::NotFound { .. },
            } => {
                let path = file.object_store_path().to_string();
                self.lost(tf, std::slice::from_ref(&path), &path)
            }
            e => self.delta_err(tf)(e),
        }
    }

    /// Every row of the table of `tf`, sorted by provider, pair and time; empty when absent.
    pub async fn read_rows(&self, tf: Timeframe) -> Result<Vec<TableRow>, SinkError> {
        Ok(self.read_rows_of_pair(tf, None).await?.0)
    }

    /// The rows of one series, reading only the files of its pair's partitions.
    pub async fn rows_of(&self, series: &SeriesKey) -> Result<Vec<TableRow>, SinkError> {
        Ok(self.rows_at(series).await?.0)
    }

    /// The rows of one series and the table version they were read at (`None`: no table), for
    /// an append that must not add what another writer added since
    /// ([`DeltaSink::append`]).
    pub async fn rows_at(
        &self,
        series: &SeriesKey,
    ) -> Result<(Vec<TableRow>, Option<u64>), SinkError> {
        let (rows, version) = self
            .read_rows_of_pair(series.timeframe, Some(&series.pair))
            .await?;
        let rows = rows
            .into_iter()
            .filter(|r| r.source_provider == series.provider.as_str())
            .collect();
        Ok((rows, version))
    }

    async fn read_rows_of_pair(
        &self,
        tf: Timeframe,
        pair: Option<&str>,
    ) -> Result<(Vec<TableRow>, Option<u64>), SinkError> {
        let Some(table) = self.load(tf).await? else {
            return Ok((Vec::new(), None));
        };
        let version = table.version();
        let err = self.delta_err(tf);
        let mut rows = Vec::new();
        let files: Vec<_> = table.snapshot().map_err(&err)?.log_data().iter().collect();
        for file in files {
            let parts = file.partition_values_map();
            let part = |k: &str| parts.get(k).cloned().flatten().unwrap_or_default();
            let partition_date =
                NaiveDate::parse_from_str(&part("partition_date"), "%Y-%m-%d").unwrap_or_default();
            let partition_asset_pair = part("partition_asset_pair");
            if pair.is_some_and(|p| p != partition_asset_pair) {
                continue;
            }
            let batch = file_batch(&table, &file)
                .await
                .map_err(|e| self.unreadable_file(tf, &file, e))?;
            append_rows(&batch, &partition_date, &partition_asset_pair, &mut rows);
        }
        rows.sort();
        Ok((rows, version))
    }

    /// The open times the table of `tf` holds for every series whose pair `pairs` accepts,
    /// reading only the provider and time columns of those pairs' files, once.
    pub async fn held_times(
        &self,
        tf: Timeframe,
        pairs: impl Fn(&str) -> bool,
    ) -> Result<HashMap<SeriesKey, HashSet<DateTime<Utc>>>, SinkError> {
        let Some(table) = self.load(tf).await? else {
            return Ok(HashMap::new());
        };
        let err = self.delta_err(tf);
        let mut held: HashMap<SeriesKey, HashSet<DateTime<Utc>>> = HashMap::new();
        let files: Vec<_> = table.snapshot().map_err(&err)?.log_data().iter().collect();
        for file in files {
            let Some(pair) = pair_of(&file) else {
                continue;
            };
            if !pairs(&pair) {
                continue;
            }
            let bytes = match table.object_store().get(&file.object_store_path()).await {
                Ok(found) => found.bytes().await.map_err(|e| err(e.into()))?,
                Err(e) => return Err(self.unreadable_file(tf, &file, e.into())),
            };
            let deleted = deleted_rows(&table, &file).await.map_err(&err)?;
            let open_times = open_times(bytes, &deleted).map_err(|e| err(e.into()))?;
            for (provider, t) in open_times {
                let Some(provider) = ProviderId::parse(&provider) else {
                    continue;
                };
                let key = SeriesKey {
                    provider,
                    pair: pair.clone(),
                    timeframe: tf,
                };
                held.entry(key).or_default().insert(t);
            }
        }
        Ok(held)
    }

    /// The provider and open time of every physical row of one data file of the table of `tf`
    /// (a path as the log names it), whatever a deletion vector says: the rows a removed file
    /// held; `None` when the store no longer has it.
    pub async fn file_times(
        &self,
        tf: Timeframe,
        path: &str,
    ) -> Result<Option<Vec<(String, DateTime<Utc>)>>, SinkError> {
        let Some(table) = self.unloaded(tf)? else {
            return Ok(None);
        };
        let err = self.delta_err(tf);
        let location = object_store::path::Path::from_url_path(path)
            .map_err(|e| err(DeltaTableError::Generic(e.to_string())))?;
        let bytes = match table.object_store().get(&location).await {
            Ok(found) => found.bytes().await.map_err(|e| err(e.into()))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(err(e.into())),
        };
        Ok(Some(
            open_times(bytes, &HashSet::new()).map_err(|e| err(e.into()))?,
        ))
    }

    /// What the table holds of a series (rows, first and last candle), from the file
    /// statistics, reading only data files with a deletion vector.
    pub async fn holding_of(&self, series: &SeriesKey) -> Result<Holding, SinkError> {
        let tf = series.timeframe;
        let Some(table) = self.load(tf).await? else {
            return Ok(Holding::default());
        };
        let files: Vec<_> = table
            .snapshot()
            .map_err(self.delta_err(tf))?
            .log_data()
            .iter()
            .collect();
        let mut held = Holding::default();
        for file in files {
            if let Some((key, h)) = self.live_holding(&table, &file, tf).await?
                && key == *series
            {
                held.add(h);
            }
        }
        Ok(held)
    }

    /// The series a data file holds and its live candles: from its statistics, or for a file
    /// with a deletion vector from its rows less the deleted ones (the statistics still count
    /// them, and may bound the file's candles by a deleted one).
    pub(super) async fn live_holding(
        &self,
        table: &DeltaTable,
        file: &LogicalFileView,
        tf: Timeframe,
    ) -> Result<Option<(SeriesKey, Holding)>, SinkError> {
        let Some((key, stated)) = file_holding(file, tf) else {
            return Ok(None);
        };
        if file.deletion_vector_descriptor().is_none() {
            return Ok(Some((key, stated)));
        }
        let err = self.delta_err(tf);
        let bytes = match table.object_store().get(&file.object_store_path()).await {
            Ok(found) => found.bytes().await.map_err(|e| err(e.into()))?,
            Err(e) => return Err(self.unreadable_file(tf, file, e.into())),
        };
        let deleted = deleted_rows(table, file).await.map_err(&err)?;
        let times: Vec<DateTime<Utc>> = open_times(bytes, &deleted)
            .map_err(|e| err(e.into()))?
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        let held = Holding {
            rows: times.len() as u64,
            first: times.iter().min().copied(),
            last: times.iter().max().copied(),
        };
        Ok(Some((key, held)))
    }
}

fn append_rows(
    batch: &RecordBatch,
    partition_date: &NaiveDate,
    pair: &str,
    out: &mut Vec<TableRow>,
) {
    let column = |name: &str| batch.column_by_name(name).expect("column present");
    let string = |name: &str| column(name).as_string::<i32>().clone();
    let micros = |name: &str| {
        column(name)
            .as_primitive::<TimestampMicrosecondType>()
            .clone()
    };
    let decimal = |name: &str| column(name).as_primitive::<Decimal128Type>().clone();
    let (ts, extracted) = (micros("timestamp"), micros("_extracted_at"));
    let (asset, timeframe, kind, provider, ingestion) = (
        string("asset_pair"),
        string("timeframe"),
        string("volume_kind"),
        string("source_provider"),
        string("_ingestion_id"),
    );
    let (open, high, low, close, volume) = (
        decimal("open"),
        decimal("high"),
        decimal("low"),
        decimal("close"),
        decimal("volume"),
    );
    let mock = batch
        .column_by_name("is_mock")
        .expect("column present")
        .as_boolean()
        .clone();
    let at = |v: i64| DateTime::from_timestamp_micros(v).expect("timestamp in range");
    for i in 0..batch.num_rows() {
        out.push(TableRow {
            source_provider: provider.value(i).to_string(),
            asset_pair: asset.value(i).to_string(),
            timestamp: at(ts.value(i)),
            timeframe: timeframe.value(i).to_string(),
            open: decimal_text(open.value(i)),
            high: decimal_text(high.value(i)),
            low: decimal_text(low.value(i)),
            close: decimal_text(close.value(i)),
            volume: decimal_text(volume.value(i)),
            volume_kind: kind.value(i).to_string(),
            extracted_at: at(extracted.value(i)),
            ingestion_id: ingestion.value(i).to_string(),
            is_mock: mock.value(i),
            partition_date: *partition_date,
            partition_asset_pair: pair.to_string(),
        });
    }
}

/// The provider and open time of every row of one data file but the physical rows `deleted`,
/// whatever string and timestamp encodings its writer chose (another tool may write `Utf8View`
/// or nanoseconds).
fn open_times(
    bytes: bytes::Bytes,
    deleted: &HashSet<u64>,
) -> Result<Vec<(String, DateTime<Utc>)>, ArrowOrParquet> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["source_provider", "timestamp"]);
    let mut out = Vec::new();
    let mut first = 0;
    for batch in builder.with_projection(mask).build()? {
        let batch = batch?;
        let column = |name: &str, to: &DataType| -> Result<ArrayRef, ArrowOrParquet> {
            let array = batch.column_by_name(name).ok_or_else(|| {
                ArrowError::SchemaError(format!("a data file has no {name} column"))
            })?;
            Ok(cast(array, to)?)
        };
        let providers = column("source_provider", &DataType::Utf8)?;
        let times = column(
            "timestamp",
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )?;
        let (providers, times) = (
            providers.as_string::<i32>(),
            times.as_primitive::<TimestampMicrosecondType>(),
        );
        for i in 0..batch.num_rows() {
            if deleted.contains(&((first + i) as u64)) {
                continue;
            }
            if let Some(t) = DateTime::from_timestamp_micros(times.value(i)) {
                out.push((providers.value(i).to_string(), t));
            }
        }
        first += batch.num_rows();
    }
    Ok(out)
}

/// A data file that could not be decoded.
#[derive(Debug, thiserror::Error)]
enum ArrowOrParquet {
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    #[error(transparent)]
    Parquet(#[from] ParquetError),
}

impl From<ArrowOrParquet> for DeltaTableError {
    fn from(e: ArrowOrParquet) -> Self {
        match e {
            ArrowOrParquet::Arrow(e) => DeltaTableError::Arrow { source: e },
            ArrowOrParquet::Parquet(e) => DeltaTableError::Parquet { source: e },
        }
    }
}
