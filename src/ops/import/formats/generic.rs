//! Generic CSV with a header line, its columns named by `--map timestamp=COL,open=COL,...`
//! (defaults: the field names themselves; `pair` optional, else the file holds the one pair
//! `--pairs` names). Open times are integers in `--timestamp-unit`, or date-times read in
//! `--timezone` (UTC by default). Without a volume column the volume is 0, kind `none`.

use std::collections::HashMap;

use super::lines::{lines, split};
use super::stamp::{datetime, epoch};
use super::{Out, ReadOptions, Record};
use crate::providers::decimal::parse_exact;
use crate::providers::{FieldError, VolumeKind};
use crate::stage::validate::Fields;

/// The unit of integer open times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampUnit {
    Seconds,
    Millis,
    Micros,
    Nanos,
}

impl TimestampUnit {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "s" => TimestampUnit::Seconds,
            "ms" => TimestampUnit::Millis,
            "us" => TimestampUnit::Micros,
            "ns" => TimestampUnit::Nanos,
            _ => return None,
        })
    }

    fn per_second(self) -> i64 {
        match self {
            TimestampUnit::Seconds => 1,
            TimestampUnit::Millis => 1_000,
            TimestampUnit::Micros => 1_000_000,
            TimestampUnit::Nanos => 1_000_000_000,
        }
    }
}

/// The fields a column map names.
pub const MAP_FIELDS: [&str; 7] = [
    "timestamp",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "pair",
];

/// Which column holds each field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap(HashMap<String, String>);

impl ColumnMap {
    /// `timestamp=open_time,open=o,...`; every key one of [`MAP_FIELDS`].
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut map = HashMap::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, column) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}' in --map is not FIELD=COLUMN"))?;
            if !MAP_FIELDS.contains(&field) {
                return Err(format!(
                    "--map names the field '{field}'; the fields are {}",
                    MAP_FIELDS.join(", ")
                ));
            }
            map.insert(field.to_string(), column.to_string());
        }
        Ok(ColumnMap(map))
    }

    /// The column of `field`: the mapped one, else the field's own name.
    pub fn column<'a>(&'a self, field: &'a str) -> &'a str {
        self.0.get(field).map_or(field, String::as_str)
    }
}

pub fn read(text: &str, options: &ReadOptions, out: &mut impl Out) -> Result<(), String> {
    let mut all = lines(text);
    let header = all
        .next()
        .ok_or("the file is empty; a CSV file starts with its header line")?;
    let mut names = Vec::new();
    split(header.text, b',', &mut names);
    let find = |field: &str| {
        let column = options.map.column(field);
        names.iter().position(|n| n.trim() == column)
    };
    let required = |field: &str| {
        find(field).ok_or_else(|| {
            format!(
                "the header has no column '{}' for {field}; name it with --map {field}=COLUMN",
                options.map.column(field)
            )
        })
    };
    let (stamp, open, high, low, close) = (
        required("timestamp")?,
        required("open")?,
        required("high")?,
        required("low")?,
        required("close")?,
    );
    let volume = find("volume");
    let kind = if volume.is_some() {
        VolumeKind::Base
    } else {
        VolumeKind::None
    };
    let pair_column = find("pair");
    let fixed = match (pair_column, &options.pair) {
        (Some(_), _) => None,
        (None, Some(pair)) => Some(out.pair(pair, kind)),
        (None, None) => {
            return Err(format!(
                "the header has no column '{}' for the pair; name it with --map pair=COLUMN, or give --pairs with the file's one pair",
                options.map.column("pair")
            ));
        }
    };
    let unit = options.unit.map(TimestampUnit::per_second);
    let zone = options.timezone.unwrap_or(chrono_tz::UTC);
    let mut fields = Vec::with_capacity(names.len());
    // Rows of one pair come together: the pair text of the row before is looked up once.
    let mut last: Option<(&str, usize)> = None;
    for line in all {
        split(line.text, b',', &mut fields);
        let get = |i: usize| {
            fields
                .get(i)
                .map(|f| f.trim())
                .filter(|f| !f.is_empty())
                .ok_or(FieldError::Missing)
        };
        let pair = match (fixed, pair_column) {
            (Some(i), _) => i,
            (None, Some(c)) => {
                let raw = get(c).unwrap_or_default();
                match last {
                    Some((seen, i)) if seen == raw => i,
                    _ => {
                        let i = out.pair(&canonical(raw), kind);
                        last = Some((raw, i));
                        i
                    }
                }
            }
            (None, None) => unreachable!("checked above"),
        };
        let open_time = get(stamp).and_then(|t| match unit {
            Some(per_second) => epoch(t, per_second),
            None => datetime(t, &zone),
        });
        let record = Record {
            pair,
            line: line.number,
            span: line.span,
            fields: Fields {
                open_time,
                open: get(open).and_then(parse_exact),
                high: get(high).and_then(parse_exact),
                low: get(low).and_then(parse_exact),
                close: get(close).and_then(parse_exact),
                volume: match volume {
                    Some(v) => get(v).and_then(parse_exact),
                    None => Ok(rust_decimal::Decimal::ZERO),
                },
            },
        };
        if out.record(record, line.text).is_break() {
            break;
        }
    }
    Ok(())
}

/// A pair column's text as the tables spell it (`btc/usd` → `BTC-USD`; a ticker stays a ticker).
fn canonical(raw: &str) -> String {
    let upper = raw.to_ascii_uppercase();
    crate::plan::canonical_pair(&upper, crate::providers::ProviderId::AlphaVantage).unwrap_or(upper)
}

#[cfg(test)]
mod tests {
    use super::super::Parsed;
    use super::*;

    #[test]
    fn mapped_columns_units_and_zones() {
        let options = ReadOptions {
            pair: Some("BTC-USD".into()),
            map: ColumnMap::parse("timestamp=t,open=o,high=h,low=l,close=c,volume=v").unwrap(),
            unit: Some(TimestampUnit::Seconds),
            timezone: None,
        };
        let parsed = Parsed::of(|p| read("t,o,h,l,c,v\n1704067200,1,2,1,1.5,3\n", &options, p));
        let f = &parsed.records[0].fields;
        assert_eq!(
            f.open_time.unwrap().to_rfc3339(),
            "2024-01-01T00:00:00+00:00"
        );
        assert_eq!(f.close.unwrap().to_string(), "1.5");
        let zoned = ReadOptions {
            unit: None,
            timezone: Some(chrono_tz::Europe::Berlin),
            ..options.clone()
        };
        let parsed = Parsed::of(|p| read("t,o,h,l,c\n2024-07-01 02:00:00,1,2,1,1\n", &zoned, p));
        let f = &parsed.records[0].fields;
        assert_eq!(
            f.open_time.unwrap().to_rfc3339(),
            "2024-07-01T00:00:00+00:00"
        );
        assert_eq!(f.volume.unwrap().to_string(), "0");
        assert_eq!(parsed.pairs[0].1, VolumeKind::None);
        assert!(ColumnMap::parse("price=x").is_err());
        assert!(
            read("a,b\n", &options, &mut Parsed::default())
                .unwrap_err()
                .contains("--map")
        );
    }
}
