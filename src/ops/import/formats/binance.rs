//! Binance's public kline archives (`BTCUSDT-1m-2024-01.zip` holding `BTCUSDT-1m-2024-01.csv`):
//! headerless CSV (futures files may carry a header line), twelve columns of which the first six
//! are open time, open, high, low, close and base volume. Open times are milliseconds, and
//! microseconds in spot files from 2025 on; the pair and timeframe come from the file name, the
//! symbol split into base and quote by a list of Binance's quote assets.

use super::lines::{lines, split};
use super::stamp::epoch;
use super::{Out, Record};
use crate::providers::{FieldError, Timeframe, VolumeKind};
use crate::stage::validate::Fields;

/// Quote assets, longest first where one ends another (`FDUSD` before `USD`).
const QUOTES: [&str; 32] = [
    "FDUSD", "USDT", "USDC", "TUSD", "BUSD", "USDP", "USD1", "BIDR", "IDRT", "EURI", "DAI", "PAX",
    "USD", "BTC", "ETH", "BNB", "EUR", "GBP", "TRY", "BRL", "AUD", "JPY", "RUB", "UAH", "NGN",
    "ZAR", "PLN", "RON", "ARS", "MXN", "COP", "CZK",
];

/// Open times at or above this are microseconds (10^15 µs is 2001; 10^15 ms is year 33658).
const MICROS_FROM: i64 = 1_000_000_000_000_000;

/// `BTCUSDT` → `BTC-USDT`, by the longest known quote the symbol ends with.
pub fn binance_pair(symbol: &str) -> Option<String> {
    QUOTES
        .iter()
        .filter(|q| symbol.len() > q.len() && symbol.ends_with(*q))
        .max_by_key(|q| q.len())
        .map(|q| format!("{}-{q}", &symbol[..symbol.len() - q.len()]))
}

/// The symbol and interval a file name starts with: `BTCUSDT-1m-2024-01.zip`.
fn name_parts(name: &str) -> Option<(&str, &str)> {
    let mut parts = name.split('-');
    Some((parts.next()?, parts.next()?))
}

/// The timeframe of a Binance file name, when it is one candlelake stores.
pub fn binance_timeframe(name: &str) -> Result<Timeframe, String> {
    let (_, interval) = name_parts(name).ok_or_else(|| {
        format!("'{name}' is not named like a Binance kline file (SYMBOL-INTERVAL-DATE.zip)")
    })?;
    interval.parse::<Timeframe>().map_err(|_| {
        format!("the Binance interval '{interval}' of '{name}' is not one candlelake stores (1m 5m 15m 30m 1h 4h 1d)")
    })
}

pub fn read(name: &str, text: &str, out: &mut impl Out) -> Result<(), String> {
    let (symbol, _) = name_parts(name).unwrap_or_default();
    let pair = binance_pair(symbol).ok_or_else(|| {
        format!("the file name '{name}' does not start with a Binance symbol ending in a known quote asset (e.g. BTCUSDT-1m-2024-01.zip)")
    })?;
    let index = out.pair(&pair, VolumeKind::Base);
    let mut fields = Vec::with_capacity(12);
    for line in lines(text) {
        split(line.text, b',', &mut fields);
        if line.number == 1 && fields[0] == "open_time" {
            continue;
        }
        let get = |i: usize| fields.get(i).copied().ok_or(FieldError::Missing);
        let open_time = get(0).and_then(|t| {
            let unit = if t.len() >= 16 && t.parse::<i64>().is_ok_and(|v| v >= MICROS_FROM) {
                1_000_000
            } else {
                1_000
            };
            epoch(t, unit)
        });
        let price = |i: usize| get(i).and_then(crate::providers::decimal::parse_exact);
        let record = Record {
            pair: index,
            line: line.number,
            span: line.span,
            fields: Fields {
                open_time,
                open: price(1),
                high: price(2),
                low: price(3),
                close: price(4),
                volume: price(5),
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
    fn symbols_split_by_quote() {
        // TC: (symbol, pair)
        let cases = [
            ("BTCUSDT", Some("BTC-USDT")),
            ("ETHBTC", Some("ETH-BTC")),
            ("BTCFDUSD", Some("BTC-FDUSD")),
            ("1000SATSUSDT", Some("1000SATS-USDT")),
            ("USDT", None),
            ("XYZ", None),
        ];
        for (symbol, pair) in cases {
            assert_eq!(binance_pair(symbol).as_deref(), pair, "{symbol}");
        }
    }

    #[test]
    fn milliseconds_and_microseconds() {
        let text = "1704067200000,1,2,1,1,1,1704067259999,1,1,1,1,0\n\
                    1735689600000000,1,2,1,1,1,1735689659999999,1,1,1,1,0\n";
        let parsed = Parsed::of(|p| read("BTCUSDT-1m-2025-01-01.csv", text, p));
        assert_eq!(
            parsed.open_times(),
            ["2024-01-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00"]
        );
        assert_eq!(parsed.pairs[0].0, "BTC-USDT");
    }
}
