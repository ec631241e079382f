//! HistData's M1 ASCII files (`DAT_ASCII_EURUSD_M1_2023.csv`, shipped in
//! `HISTDATA_COM_ASCII_EURUSD_M1_2023.zip`): `;`-separated, no header,
//! `YYYYMMDD HHMMSS;open;high;low;close;volume`, stamped in Eastern Standard Time all year
//! (UTC−5, no daylight saving). Volume is always 0: stored with volume kind `none`.

use super::lines::{lines, split};
use super::stamp::{datetime, eastern_standard};
use super::{Out, Record};
use crate::providers::decimal::parse_exact;
use crate::providers::{FieldError, VolumeKind};
use crate::stage::validate::Fields;

/// `DAT_ASCII_EURUSD_M1_2023.csv` → `EUR-USD`.
pub fn histdata_pair(name: &str) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    let symbol = upper
        .split('_')
        .find(|p| p.len() == 6 && p.bytes().all(|b| b.is_ascii_uppercase()) && *p != "HISTDA")?;
    Some(format!("{}-{}", &symbol[..3], &symbol[3..]))
}

pub fn read(name: &str, text: &str, pair: Option<&str>, out: &mut impl Out) -> Result<(), String> {
    let pair = histdata_pair(name).or_else(|| pair.map(str::to_string)).ok_or_else(|| {
        format!("the file name '{name}' names no pair (like DAT_ASCII_EURUSD_M1_2023.csv); rename it or give --pairs with one pair")
    })?;
    let index = out.pair(&pair, VolumeKind::None);
    let zone = eastern_standard();
    let mut fields = Vec::with_capacity(6);
    for line in lines(text) {
        split(line.text, b';', &mut fields);
        let get = |i: usize| {
            fields
                .get(i)
                .copied()
                .filter(|f| !f.is_empty())
                .ok_or(FieldError::Missing)
        };
        let record = Record {
            pair: index,
            line: line.number,
            span: line.span,
            fields: Fields {
                open_time: get(0).and_then(|t| stamp(t, &zone)),
                open: get(1).and_then(parse_exact),
                high: get(2).and_then(parse_exact),
                low: get(3).and_then(parse_exact),
                close: get(4).and_then(parse_exact),
                volume: get(5).and_then(parse_exact),
            },
        };
        if out.record(record, line.text).is_break() {
            break;
        }
    }
    Ok(())
}

/// `YYYYMMDD HHMMSS` exactly, in EST.
fn stamp(
    text: &str,
    zone: &chrono::FixedOffset,
) -> Result<chrono::DateTime<chrono::Utc>, FieldError> {
    let shaped = text.len() == 15
        && text.as_bytes()[8] == b' '
        && text
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 8 || b.is_ascii_digit());
    if !shaped {
        return Err(FieldError::Unparseable);
    }
    datetime(text, zone)
}

#[cfg(test)]
mod tests {
    use super::super::Parsed;
    use super::*;

    #[test]
    fn eastern_standard_time_all_year() {
        // 17:00 EST is 22:00 UTC in January and in July alike: HistData keeps no DST.
        let text = "20230102 170000;1.070100;1.070200;1.070000;1.070100;0\n\
                    20230703 170000;1.091000;1.091100;1.090900;1.091000;0\n";
        let parsed = Parsed::of(|p| read("DAT_ASCII_EURUSD_M1_2023.csv", text, None, p));
        assert_eq!(
            parsed.open_times(),
            ["2023-01-02T22:00:00+00:00", "2023-07-03T22:00:00+00:00"]
        );
        assert_eq!(parsed.pairs, [("EUR-USD".to_string(), VolumeKind::None)]);
        assert_eq!(parsed.records[0].fields.open.unwrap().to_string(), "1.0701");
    }
}
