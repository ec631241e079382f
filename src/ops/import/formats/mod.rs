//! The file formats `import` reads, each in its own file, and what they all produce: records of
//! exact fields with the pair, line and byte span they came from. A reader never validates a
//! candle (that is `crate::stage::validate`); it only says which field could not be read.

mod binance;
mod generic;
mod histdata;
mod lines;
mod polygon;
mod stamp;

use std::ops::{ControlFlow, Range};

pub use binance::binance_timeframe;
pub use generic::{ColumnMap, MAP_FIELDS, TimestampUnit};
pub use lines::count;

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
    /// Index of its pair, as [`Out::pair`] gave it.
    pub pair: usize,
    /// 1-based line of the file (of the CSV inside an archive).
    pub line: u64,
    /// The record's bytes in the file's text, for the DLQ.
    pub span: Range<usize>,
    pub fields: Fields,
}

/// Where a reader puts what it reads, record by record in file order.
pub trait Out {
    /// The index of `pair`, added when new.
    fn pair(&mut self, pair: &str, kind: VolumeKind) -> usize;
    /// Takes one record; `raw` is its text. `Break` ends the reading there.
    fn record(&mut self, record: Record, raw: &str) -> ControlFlow<()>;
}

/// A file read whole: its records and the pairs they name.
#[derive(Debug, Default)]
pub struct Parsed {
    pub pairs: Vec<(String, VolumeKind)>,
    pub records: Vec<Record>,
}

impl Parsed {
    /// Room for `lines` records.
    pub fn with_capacity(lines: usize) -> Self {
        Parsed {
            pairs: Vec::new(),
            records: Vec::with_capacity(lines),
        }
    }
}

/// The index of `pair` in `pairs`, added at the end when new.
pub fn pair_index(pairs: &mut Vec<(String, VolumeKind)>, pair: &str, kind: VolumeKind) -> usize {
    if let Some(i) = pairs.iter().position(|(p, _)| p == pair) {
        return i;
    }
    pairs.push((pair.to_string(), kind));
    pairs.len() - 1
}

impl Out for Parsed {
    fn pair(&mut self, pair: &str, kind: VolumeKind) -> usize {
        pair_index(&mut self.pairs, pair, kind)
    }

    fn record(&mut self, record: Record, _raw: &str) -> ControlFlow<()> {
        self.records.push(record);
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
impl Parsed {
    /// Everything `read` finds in `text` (the readers' tests).
    pub fn of(read: impl FnOnce(&mut Parsed) -> Result<(), String>) -> Self {
        let mut parsed = Parsed::default();
        read(&mut parsed).unwrap();
        parsed
    }

    /// Every record's open time as RFC 3339 text (the readers' tests compare these).
    pub fn open_times(&self) -> Vec<String> {
        self.records
            .iter()
            .map(|r| r.fields.open_time.unwrap().to_rfc3339())
            .collect()
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

/// The timeframe a file of `format` named `name` holds, when its format or name says.
pub fn named_timeframe(format: Format, name: &str) -> Result<Option<Timeframe>, String> {
    match format {
        Format::BinanceKlines => binance_timeframe(name).map(Some),
        Format::PolygonMinuteAggs | Format::HistdataM1 => Ok(Some(Timeframe::M1)),
        Format::Csv | Format::Parquet => Ok(None),
    }
}

/// Reads the text of one file (already decompressed, a Parquet file already turned into CSV
/// text) of `format` into `out`. `name` is its file name, which names the pair of Binance and
/// HistData files.
pub fn read(
    format: Format,
    name: &str,
    text: &str,
    options: &ReadOptions,
    out: &mut impl Out,
) -> Result<(), String> {
    match format {
        Format::BinanceKlines => binance::read(name, text, out),
        Format::PolygonMinuteAggs => polygon::read(text, out),
        Format::HistdataM1 => histdata::read(name, text, options.pair.as_deref(), out),
        // A Parquet file arrives here as the CSV text of its mapped columns.
        Format::Csv | Format::Parquet => generic::read(text, options, out),
    }
}
