//! Polygon's minute-aggregate flat files (`us_stocks_sip/minute_aggs_v1/2024/01/2024-01-02.csv.gz`):
//! gzip CSV with a header `ticker,volume,open,close,high,low,window_start,transactions`, every
//! ticker of one day in one file, `window_start` in nanoseconds. Columns are found by the
//! header's names. Stock tickers stay tickers (`AAPL`, shares); crypto `X:BTCUSD` and forex
//! `C:EURUSD` tickers become pairs (base units and ticks).

use super::lines::{lines, split};
use super::stamp::epoch;
use super::{Out, Record};
use crate::providers::decimal::parse_exact;
use crate::providers::{FieldError, VolumeKind};
use crate::stage::validate::Fields;

const COLUMNS: [&str; 6] = ["ticker", "window_start", "open", "high", "low", "close"];

/// A Polygon ticker as a pair or ticker, and what its volume counts.
fn pair_of(ticker: &str) -> (String, VolumeKind) {
    let split = |symbol: &str| match symbol.split_once('-') {
        Some((base, quote)) => format!("{base}-{quote}"),
        None if symbol.len() > 3 => format!(
            "{}-{}",
            &symbol[..symbol.len() - 3],
            &symbol[symbol.len() - 3..]
        ),
        None => symbol.to_string(),
    };
    if let Some(symbol) = ticker.strip_prefix("X:") {
        (split(symbol), VolumeKind::Base)
    } else if let Some(symbol) = ticker.strip_prefix("C:") {
        (split(symbol), VolumeKind::Ticks)
    } else {
        (ticker.to_string(), VolumeKind::Shares)
    }
}

pub fn read(text: &str, out: &mut impl Out) -> Result<(), String> {
    let mut all = lines(text);
    let header = all
        .next()
        .ok_or("the file is empty; a Polygon flat file starts with its header line")?;
    let names: Vec<&str> = header.text.split(',').collect();
    let column = |name: &str| {
        names.iter().position(|n| *n == name).ok_or_else(|| {
            format!("the header has no '{name}' column; is this a Polygon minute-aggregate file?")
        })
    };
    let [ticker, start, open, high, low, close] = COLUMNS.map(column);
    let (ticker, start, open, high, low, close) = (ticker?, start?, open?, high?, low?, close?);
    let volume = column("volume")?;
    let mut fields = Vec::with_capacity(names.len());
    let mut last: Option<(&str, usize)> = None;
    for line in all {
        split(line.text, b',', &mut fields);
        let get = |i: usize| {
            fields
                .get(i)
                .copied()
                .filter(|f| !f.is_empty())
                .ok_or(FieldError::Missing)
        };
        let name = fields.get(ticker).copied().unwrap_or_default();
        let pair = match last {
            Some((n, i)) if n == name => i,
            _ => {
                let (pair, kind) = pair_of(name);
                let i = out.pair(&pair, kind);
                last = Some((name, i));
                i
            }
        };
        let record = Record {
            pair,
            line: line.number,
            span: line.span,
            fields: Fields {
                open_time: get(start).and_then(|t| epoch(t, 1_000_000_000)),
                open: get(open).and_then(parse_exact),
                high: get(high).and_then(parse_exact),
                low: get(low).and_then(parse_exact),
                close: get(close).and_then(parse_exact),
                volume: get(volume).and_then(parse_exact),
            },
        };
        if out.record(record, line.text).is_break() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Parsed;
    use super::*;

    #[test]
    fn tickers_and_nanoseconds() {
        let text = "ticker,volume,open,close,high,low,window_start,transactions\n\
                    AAPL,4930,185.33,185.3,185.33,185.3,1704186000000000000,37\n\
                    X:BTC-USD,0.5,42000,42001,42002,41999,1704186000000000000,3\n\
                    C:EURUSD,12,1.1,1.1,1.1,1.1,1704186000000000000,12\n";
        let parsed = Parsed::of(|p| read(text, p));
        let pairs: Vec<_> = parsed.pairs.iter().map(|(p, k)| (p.as_str(), *k)).collect();
        assert_eq!(
            pairs,
            [
                ("AAPL", VolumeKind::Shares),
                ("BTC-USD", VolumeKind::Base),
                ("EUR-USD", VolumeKind::Ticks)
            ]
        );
        let first = &parsed.records[0].fields;
        assert_eq!(
            first.open_time.unwrap().to_rfc3339(),
            "2024-01-02T09:00:00+00:00"
        );
        assert_eq!(first.close.unwrap().to_string(), "185.3");
        assert_eq!(first.high.unwrap().to_string(), "185.33");
    }
}
