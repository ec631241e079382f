//! Alpha Vantage wire → `WireCandle`: series keys are open times in the zone of `Meta Data`
//! (intraday) or UTC calendar dates (daily), every value an exact decimal from its wire text.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde_json::value::RawValue;

use crate::wire::decimal;

use super::classify::{AssetClass, market_of};
use super::models::{Entries, prefix_letter};
use crate::candle::{FieldError, WireCandle};
use crate::error::{ErrorKind, FetchError};

/// What a 200 body holds, before the client decides what it means.
#[derive(Debug)]
pub enum Answer {
    /// A `Time Series ...` object: its candles in wire order (newest first).
    Series(Vec<WireCandle>),
    /// `{"Error Message": "..."}`: the text.
    ErrorMessage(String),
    /// `{"Information": "..."}` or `{"Note": "..."}`: the text (throttle, quota, premium).
    Notice(String),
    /// `{}`.
    Empty,
    /// Any other body: its top-level keys.
    Unknown(Vec<String>),
}

/// The zone Alpha Vantage stamps a class's intraday keys in when `Meta Data` does not say:
/// US/Eastern for equities, UTC for FX and crypto.
pub fn zone_of(class: AssetClass) -> Tz {
    match class {
        AssetClass::Equity => chrono_tz::America::New_York,
        AssetClass::Fx | AssetClass::Crypto => chrono_tz::UTC,
    }
}

/// The zone named by `Meta Data → … Time Zone`: `US/Eastern` is `America/New_York` (with its
/// DST rules), `UTC` is UTC, and any other IANA name is taken as is.
pub fn zone_named(name: &str) -> Option<Tz> {
    match name.trim() {
        "US/Eastern" => Some(chrono_tz::America::New_York),
        "UTC" => Some(chrono_tz::UTC),
        other => other.parse::<Tz>().ok(),
    }
}

/// Parses a 200 body of any Alpha Vantage time-series function.
///
/// `class` decides the volume (FX has none: 0) and the default zone; `market` is the quote
/// currency, which names the legacy `DIGITAL_CURRENCY_DAILY` fields (`1a. open (EUR)`). A body
/// that is not JSON, or whose series is not an object, is a transient error; a time zone
/// candlelake does not know is permanent (its keys cannot be placed in time).
pub fn parse_body(body: &str, class: AssetClass, market: &str) -> Result<Answer, FetchError> {
    let whole: Box<RawValue> = serde_json::from_str(body).map_err(|e| {
        FetchError::new(
            ErrorKind::Transient,
            format!("alphavantage sent a body that is not valid JSON ({e}); it will be retried"),
        )
    })?;
    let Ok(top) = serde_json::from_str::<Entries<Box<RawValue>>>(whole.get()) else {
        return Ok(Answer::Unknown(Vec::new()));
    };
    if let Some((name, series)) = top.0.iter().find(|(k, _)| k.starts_with("Time Series")) {
        let zone = match meta_zone(top.get("Meta Data").map(|m| &**m)) {
            Some(Ok(zone)) => zone,
            Some(Err(name)) => {
                return Err(FetchError::new(
                    ErrorKind::Permanent,
                    format!(
                        "alphavantage stamps this series in time zone '{name}', which candlelake does not know"
                    ),
                ));
            }
            None => zone_of(class),
        };
        let entries: Entries<Box<RawValue>> = serde_json::from_str(series.get()).map_err(|_| {
            FetchError::new(
                ErrorKind::Transient,
                format!("alphavantage sent a '{name}' that is not an object; it will be retried"),
            )
        })?;
        let candles = entries
            .0
            .into_iter()
            .map(|(key, bar)| parse_record(record(&key, &bar), zone, class, market))
            .collect();
        return Ok(Answer::Series(candles));
    }
    if let Some(text) = top.get("Error Message") {
        return Ok(Answer::ErrorMessage(text_of(text)));
    }
    if let Some(text) = top.get("Information").or_else(|| top.get("Note")) {
        return Ok(Answer::Notice(text_of(text)));
    }
    if top.0.is_empty() {
        return Ok(Answer::Empty);
    }
    Ok(Answer::Unknown(top.0.into_iter().map(|(k, _)| k).collect()))
}

/// The zone of `Meta Data`, `Err(name)` when it names one candlelake does not know, `None`
/// when there is no `Meta Data` or no `Time Zone` in it.
fn meta_zone(meta: Option<&RawValue>) -> Option<Result<Tz, String>> {
    let meta: Entries<Box<RawValue>> = serde_json::from_str(meta?.get()).ok()?;
    let name = text_of(meta.by_suffix("Time Zone")?);
    Some(zone_named(&name).ok_or(name))
}

/// A string value's content, or the raw text of any other value.
fn text_of(value: &RawValue) -> String {
    serde_json::from_str::<String>(value.get()).unwrap_or_else(|_| value.get().to_string())
}

/// The DLQ record of one bar: `{"<key as received>": {<bar as received>}}`.
fn record(key: &str, bar: &RawValue) -> Box<RawValue> {
    let key = serde_json::to_string(key).expect("a string serializes");
    RawValue::from_string(format!("{{{key}:{}}}", bar.get())).expect("an object of valid JSON")
}

/// Parses one record `{"<series key>": {"1. open": "...", ...}}` as stored in the DLQ.
///
/// `zone` is the zone of the series' intraday keys (daily keys are UTC dates whatever it is),
/// `class` decides the volume, `market` picks the legacy `DIGITAL_CURRENCY_DAILY` fields. A
/// DLQ replay, which knows only the provider, pair and timeframe, calls [`replay_record`].
pub fn parse_record(raw: Box<RawValue>, zone: Tz, class: AssetClass, market: &str) -> WireCandle {
    let Ok(Entries(entries)) = serde_json::from_str::<Entries<&RawValue>>(raw.get()) else {
        return WireCandle::unreadable(raw);
    };
    let [(key, bar)] = entries.as_slice() else {
        return WireCandle::unreadable(raw);
    };
    let open_time = key_time(key, zone);
    let Ok(bar) = serde_json::from_str::<Entries<&RawValue>>(bar.get()) else {
        return WireCandle {
            open_time,
            ..WireCandle::unreadable(raw)
        };
    };
    let volume = match class {
        AssetClass::Fx => Ok(Decimal::ZERO),
        AssetClass::Crypto | AssetClass::Equity => decimal(field(&bar, "volume", market), true),
    };
    WireCandle {
        open_time,
        open: decimal(field(&bar, "open", market), false),
        high: decimal(field(&bar, "high", market), false),
        low: decimal(field(&bar, "low", market), false),
        close: decimal(field(&bar, "close", market), false),
        volume,
        complete: true,
        raw,
    }
}

/// Re-parses a dead-lettered record knowing only its pair and class:
/// `replay_record(raw, pair, classify(pair, &config.class_overrides))`.
///
/// The zone is the class's ([`zone_of`]: US/Eastern for equities, UTC otherwise), which is
/// what Alpha Vantage's `Meta Data` names for these functions; the market is the pair's quote.
pub fn replay_record(raw: Box<RawValue>, pair: &str, class: AssetClass) -> WireCandle {
    parse_record(raw, zone_of(class), class, market_of(pair))
}

/// A bar's field: `N. name` (current formats), else the legacy `Na. name (MARKET)` (the
/// market's `a` field before any other of that name).
fn field<'a>(bar: &Entries<&'a RawValue>, name: &str, market: &str) -> Option<&'a RawValue> {
    if let Some(value) = bar.by_suffix(name) {
        return Some(*value);
    }
    let legacy = format!("{name} ({market})");
    let matching = || {
        bar.0
            .iter()
            .filter(|(k, _)| super::models::strip_prefix(k) == legacy)
    };
    matching()
        .find(|(k, _)| prefix_letter(k) == Some('a'))
        .or_else(|| matching().next())
        .map(|(_, v)| *v)
}

/// `YYYY-MM-DD HH:MM:SS` in `zone` → UTC (a local time that is skipped or repeated by a DST
/// change is unparseable); `YYYY-MM-DD` → that date at 00:00:00Z, whatever the zone.
fn key_time(key: &str, zone: Tz) -> Result<DateTime<Utc>, FieldError> {
    if has_shape(key, "dddd-dd-dd") {
        let date =
            NaiveDate::parse_from_str(key, "%Y-%m-%d").map_err(|_| FieldError::Unparseable)?;
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    if has_shape(key, "dddd-dd-dd dd:dd:dd") {
        let local = NaiveDateTime::parse_from_str(key, "%Y-%m-%d %H:%M:%S")
            .map_err(|_| FieldError::Unparseable)?;
        return match zone.from_local_datetime(&local) {
            LocalResult::Single(t) => Ok(t.to_utc()),
            LocalResult::Ambiguous(..) | LocalResult::None => Err(FieldError::Unparseable),
        };
    }
    Err(FieldError::Unparseable)
}

/// Whether `s` matches `shape`, where `d` stands for an ASCII digit and anything else for
/// itself.
fn has_shape(s: &str, shape: &str) -> bool {
    s.len() == shape.len()
        && s.bytes().zip(shape.bytes()).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            _ => c == p,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::raw;

    fn ny() -> Tz {
        chrono_tz::America::New_York
    }

    #[test]
    fn key_times() {
        let cases: &[(&str, Tz, Result<&str, FieldError>)] = &[
            // TC0 EST
            ("2024-03-08 09:30:00", ny(), Ok("2024-03-08T14:30:00+00:00")),
            // TC1 EDT after the March change
            ("2024-03-11 09:30:00", ny(), Ok("2024-03-11T13:30:00+00:00")),
            // TC2 skipped hour of 2024-03-10
            ("2024-03-10 02:30:00", ny(), Err(FieldError::Unparseable)),
            // TC3 repeated hour of 2024-11-03
            ("2024-11-03 01:30:00", ny(), Err(FieldError::Unparseable)),
            // TC4 UTC as is
            (
                "2024-03-10 02:30:00",
                chrono_tz::UTC,
                Ok("2024-03-10T02:30:00+00:00"),
            ),
            // TC5 daily: 00:00Z whatever the zone
            ("2024-11-04", ny(), Ok("2024-11-04T00:00:00+00:00")),
            // TC6 malformed
            ("2024-3-8 9:30:00", ny(), Err(FieldError::Unparseable)),
            // TC7 impossible date
            ("2024-02-30", chrono_tz::UTC, Err(FieldError::Unparseable)),
            // TC8 no seconds
            ("2024-03-08 09:30", ny(), Err(FieldError::Unparseable)),
        ];
        for (key, zone, expected) in cases {
            let got = key_time(key, *zone).map(|t| t.to_rfc3339());
            assert_eq!(got, expected.map(str::to_string), "key {key:?}");
        }
    }

    #[test]
    fn field_problems_are_reported_per_field() {
        // TC0 float price, TC1 null, TC2 absent, TC3 exponent, TC4 integer volume
        let c = parse_record(
            raw(
                r#"{"2024-03-08 09:30:00": {"1. open": 195.95, "2. high": null, "4. close": "1e3", "5. volume": 12}}"#,
            ),
            ny(),
            AssetClass::Equity,
            "USD",
        );
        assert_eq!(c.open.unwrap_err(), FieldError::Unparseable);
        assert_eq!(c.high.unwrap_err(), FieldError::Missing);
        assert_eq!(c.low.unwrap_err(), FieldError::Missing);
        assert_eq!(c.close.unwrap_err(), FieldError::Unparseable);
        assert_eq!(c.volume.unwrap().to_string(), "12");
        // TC5 a float volume is unparseable
        let c = parse_record(
            raw(r#"{"2024-03-08": {"5. volume": 12.5}}"#),
            ny(),
            AssetClass::Crypto,
            "USD",
        );
        assert_eq!(c.volume.unwrap_err(), FieldError::Unparseable);
        // TC6 FX has no volume: 0
        let c = parse_record(
            raw(r#"{"2024-03-08": {"1. open": "1.09480"}}"#),
            chrono_tz::UTC,
            AssetClass::Fx,
            "USD",
        );
        assert_eq!(c.volume.unwrap(), Decimal::ZERO);
    }

    #[test]
    fn unreadable_records() {
        // TC0 not an object, TC1 two keys, TC2 bar not an object (time still read)
        for text in [r#"[1,2]"#, r#"{"2024-03-08": {}, "2024-03-07": {}}"#] {
            let c = parse_record(raw(text), ny(), AssetClass::Equity, "USD");
            assert_eq!(c.open_time.unwrap_err(), FieldError::Unparseable);
            assert_eq!(c.raw.get(), text);
        }
        let c = parse_record(
            raw(r#"{"2024-03-08": "x"}"#),
            ny(),
            AssetClass::Equity,
            "USD",
        );
        assert_eq!(
            c.open_time.unwrap().to_rfc3339(),
            "2024-03-08T00:00:00+00:00"
        );
        assert_eq!(c.open.unwrap_err(), FieldError::Unparseable);
    }

    #[test]
    fn legacy_fields_use_the_market_a_field() {
        let text = r#"{"2023-10-14": {"1a. open (USD)": "26862.00000000", "1b. open (USD)": "1.00000000", "2b. high (USD)": "27000.00000000", "5. volume": "9.5"}}"#;
        let c = parse_record(raw(text), chrono_tz::UTC, AssetClass::Crypto, "USD");
        // TC0 the `a` field wins, TC1 a lone `b` field is taken, TC2 no low at all
        assert_eq!(c.open.unwrap().to_string(), "26862");
        assert_eq!(c.high.unwrap().to_string(), "27000");
        assert_eq!(c.low.unwrap_err(), FieldError::Missing);
        assert_eq!(c.volume.unwrap().to_string(), "9.5");
    }

    #[test]
    fn replay_uses_the_class_zone_and_quote() {
        let text = r#"{"2024-03-11 09:30:00": {"1. open": "190.1000"}}"#;
        let c = replay_record(raw(text), "IBM", AssetClass::Equity);
        assert_eq!(
            c.open_time.unwrap().to_rfc3339(),
            "2024-03-11T13:30:00+00:00"
        );
        let text = r#"{"2023-10-14": {"1a. open (EUR)": "25401.23456700", "1b. open (USD)": "26862.00000000"}}"#;
        let c = replay_record(raw(text), "BTC-EUR", AssetClass::Crypto);
        assert_eq!(c.open.unwrap().to_string(), "25401.234567");
    }
}
