//! The file formats `import` reads, each in its own file, and what they all produce: records of
//! exact fields with the pair, line and byte span they came from. A reader never validates a
//! candle (that is `crate::stage::validate`); it only says which field could not be read.

mod binance;
mod generic;
mod histdata;
mod lines;
mod polygon;
mod stamp;

use std::ops::Range;

pub use binance::binance_timeframe;
pub use generic::{ColumnMap, MAP_FIELDS, TimestampUnit};

use crate::providers::{Timeframe, VolumeKind};
use crate::stage::validate::Fields;

/// Which vendor's layout a file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    BinanceKlines,
    PolygonMinuteAggs,
    HistdataM1,
    Csv,
    Parquet,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        Some(match text {
            "binance-klines" => Format::BinanceKlines,
            "polygon-minute-aggs" => Format::PolygonMinuteAggs,
            "histdata-m1" => Format::HistdataM1,
            "csv" => Format::Csv,
            "parquet" => Format::Parquet,
            _ => return None,
        })
    }

    /// The `source_provider` of the rows when `--provider-name` is not given.
    pub fn vendor(self) -> Option<&'static str> {
        match self {
            Format::BinanceKlines => Some("binance"),
            Format::PolygonMinuteAggs => Some("polygon"),
            Format::HistdataM1 => Some("histdata"),
            Format::Csv | Format::Parquet => None,
        }
    }

    /// Whether a file name is one of this format's files (a directory holds other files too:
    /// Binance's `.CHECKSUM`, HistData's `.txt` reports).
    pub fn accepts(self, name: &str) -> bool {
        match self {
            Format::BinanceKlines => name.ends_with(".zip") || name.ends_with(".csv"),
            Format::PolygonMinuteAggs => name.ends_with(".csv.gz") || name.ends_with(".csv"),
            Format::HistdataM1 => name.ends_with(".csv") || name.ends_with(".zip"),
            Format::Csv => name.ends_with(".csv") || name.ends_with(".csv.gz"),
            Format::Parquet => name.ends_with(".parquet"),
        }
    }
}

/// One candle as a file holds it.
#[derive(Debug, Clone)]
pub struct Record {
    /// Index into [`Parsed::pairs`].
    pub pair: usize,
    /// 1-based line of the file (of the CSV inside an archive).
    pub line: u64,
    /// The record's bytes in [`Parsed::text`], for the DLQ.
    pub span: Range<usize>,
    pub fields: Fields,
}

/// A file read: its records, the pairs they name and the text they point into.
#[derive(Debug, Default)]
pub struct Parsed {
    pub text: String,
    pub pairs: Vec<(String, VolumeKind)>,
    pub records: Vec<Record>,
    pub timeframe: Option<Timeframe>,
}

#[cfg(test)]
impl Parsed {
    /// Every record's open time as RFC 3339 text (the readers' tests compare these).
    pub fn open_times(&self) -> Vec<String> {
        self.records
            .iter()
            .map(|r| r.fields.open_time.unwrap().to_rfc3339())
            .collect()
    }
}

impl Parsed {
    /// The index of `pair`, added when new.
    pub fn pair_index(&mut self, pair: &str, kind: VolumeKind) -> usize {
        if let Some(i) = self.pairs.iter().position(|(p, _)| p == pair) {
            return i;
        }
        self.pairs.push((pair.to_string(), kind));
        self.pairs.len() - 1
    }
}

/// How to read a file besides its format: what the command line says about it.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// The file's pair when the file itself does not name one (`--pairs` with one pair).
    pub pair: Option<String>,
    pub map: ColumnMap,
    pub unit: Option<TimestampUnit>,
    pub timezone: Option<chrono_tz::Tz>,
}

/// Reads the content of one file (already decompressed, a Parquet file already turned into
/// CSV text) of `format`. `name` is its file name,
/// which names the pair and timeframe of Binance and HistData files.
pub fn read(
    format: Format,
    name: &str,
    text: String,
    options: &ReadOptions,
) -> Result<Parsed, String> {
    match format {
        Format::BinanceKlines => binance::read(name, text),
        Format::PolygonMinuteAggs => polygon::read(text),
        Format::HistdataM1 => histdata::read(name, text, options.pair.as_deref()),
        // A Parquet file arrives here as the CSV text of its mapped columns.
        Format::Csv | Format::Parquet => generic::read(text, options),
    }
}
