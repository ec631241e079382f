//! Oanda v20 wire → `WireCandle`: exact decimals from the `mid` strings, tick volume from the
//! integer `volume`, RFC 3339 open times, and the `complete` flag.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::value::RawValue;

use super::models::{Ohlc, WireRecord};
use crate::candle::{FieldError, WireCandle};
use crate::error::FetchError;
use crate::source::ProviderId;
use crate::timeframe::Timeframe;
use crate::wire::{candles, decimal, field_text, object};

/// The v20 `granularity` of a timeframe. Every candlelake timeframe is native. Note that `M`
/// alone would mean one *month* in v20, which is why this is a table and never a pattern.
pub fn granularity(tf: Timeframe) -> &'static str {
    match tf {
        Timeframe::M1 => "M1",
        Timeframe::M5 => "M5",
        Timeframe::M15 => "M15",
        Timeframe::M30 => "M30",
        Timeframe::H1 => "H1",
        Timeframe::H4 => "H4",
        Timeframe::D1 => "D",
    }
}

/// Parses a 200 body into candles in wire order (oldest first). A body that is not
/// `{"candles": [...]}` is a transient error.
pub fn parse_body(body: &str) -> Result<Vec<WireCandle>, FetchError> {
    candles(body, ProviderId::Oanda, parse_record)
}

/// Parses one candlestick record; fields that are absent or malformed say so instead of
/// failing. A record without a `complete` flag counts as still forming, so it is never written.
pub fn parse_record(raw: Box<RawValue>) -> WireCandle {
    let Some(rec) = object::<WireRecord<'_>>(raw.get()) else {
        return WireCandle::unreadable(raw);
    };
    let [open, high, low, close] = prices(rec.mid);
    WireCandle {
        open_time: rfc3339(rec.time),
        open,
        high,
        low,
        close,
        volume: decimal(rec.volume, true),
        complete: rec.complete.is_some_and(|v| v.get() == "true"),
        raw,
    }
}

/// `mid.o/h/l/c`. No `mid` (or `null`) leaves all four missing; a `mid` that is not an object
/// leaves all four unparseable.
fn prices(mid: Option<&RawValue>) -> [Result<Decimal, FieldError>; 4] {
    let text = match mid.map(RawValue::get) {
        None | Some("null") => return [Err(FieldError::Missing); 4],
        Some(text) => text,
    };
    match object::<Ohlc<'_>>(text) {
        Some(m) => [m.o, m.h, m.l, m.c].map(|v| decimal(v, false)),
        None => [Err(FieldError::Unparseable); 4],
    }
}

/// An RFC 3339 time such as `2024-03-08T19:00:00.000000000Z`. A Unix-seconds string (what the
/// `UNIX` datetime format would send) is not accepted: every request asks for RFC 3339.
fn rfc3339(value: Option<&RawValue>) -> Result<DateTime<Utc>, FieldError> {
    let text = field_text(value, false)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.to_utc())
        .map_err(|_| FieldError::Unparseable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::testing::{fixture, raw};

    fn text(v: &Result<Decimal, FieldError>) -> Result<String, FieldError> {
        v.as_ref().map(|d| d.to_string()).map_err(|e| *e)
    }

    fn time(c: &WireCandle) -> String {
        c.open_time
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    #[test]
    fn granularities_are_the_v20_names() {
        let names: Vec<_> = Timeframe::ALL.into_iter().map(granularity).collect();
        assert_eq!(names, ["M1", "M5", "M15", "M30", "H1", "H4", "D"]);
    }

    #[test]
    fn parses_fixture_pages_exactly() {
        // TC0 the reference example: exact decimal text, ns times, ticks, the forming flag.
        let example = r#"{"instrument":"EUR_USD","granularity":"H1","candles":[
            {"complete":true,"volume":1843,"time":"2024-03-08T19:00:00.000000000Z","mid":{"o":"1.09412","h":"1.09450","l":"1.09380","c":"1.09401"}},
            {"complete":false,"volume":212,"time":"2024-03-08T21:00:00.000000000Z","mid":{"o":"1.09389","h":"1.09395","l":"1.09360","c":"1.09366"}}]}"#;
        let c = parse_body(example).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(time(&c[0]), "2024-03-08T19:00:00Z");
        assert_eq!(text(&c[0].open), Ok("1.09412".into()));
        assert_eq!(text(&c[0].high), Ok("1.0945".into()));
        assert_eq!(c[0].high.unwrap().to_string(), "1.0945");
        assert_eq!(text(&c[0].low), Ok("1.0938".into()));
        assert_eq!(text(&c[0].close), Ok("1.09401".into()));
        assert_eq!(text(&c[0].volume), Ok("1843".into()));
        assert!(c[0].complete);
        assert!(!c[1].complete);
        assert_eq!(
            c[1].raw.get(),
            r#"{"complete":false,"volume":212,"time":"2024-03-08T21:00:00.000000000Z","mid":{"o":"1.09389","h":"1.09395","l":"1.09360","c":"1.09366"}}"#
        );

        // TC1 the M5 fixture: oldest first, aligned, complete, ticks > 0, FX weekends absent.
        let m5 = parse_body(&fixture("oanda/EUR_USD-M5.json")).unwrap();
        assert!(m5.len() > 4500, "{}", m5.len());
        assert_eq!(time(&m5[0]), "2024-03-01T00:00:00Z");
        assert_eq!(time(m5.last().unwrap()), "2024-03-22T20:55:00Z");
        let times: Vec<_> = m5.iter().map(|c| c.open_time.unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]));
        assert!(times.iter().all(|t| Timeframe::M5.is_aligned(*t)));
        for c in &m5 {
            assert!(c.complete);
            assert!(c.volume.unwrap() > Decimal::ZERO);
            for p in [&c.open, &c.high, &c.low, &c.close] {
                let p = p.unwrap();
                assert!(p.scale() <= 5 && p > Decimal::ONE, "{p}");
            }
            assert!(c.low.unwrap() <= c.open.unwrap().min(c.close.unwrap()));
            assert!(c.high.unwrap() >= c.open.unwrap().max(c.close.unwrap()));
        }
        let has = |s: &str| times.iter().any(|t| time_str(*t) == s);
        // Friday close 22:00Z (EST) before 2024-03-10, 21:00Z (EDT) after.
        assert!(has("2024-03-01T21:55:00Z") && !has("2024-03-01T22:00:00Z"));
        assert!(!has("2024-03-03T21:55:00Z") && has("2024-03-03T22:00:00Z"));
        assert!(!has("2024-03-10T20:55:00Z") && has("2024-03-10T21:00:00Z"));
        assert!(has("2024-03-15T20:55:00Z") && !has("2024-03-15T21:00:00Z"));

        // TC2 the forming page: twelve candles, only the last one still open.
        let forming = parse_body(&fixture("oanda/EUR_USD-M5-forming.json")).unwrap();
        assert_eq!(forming.len(), 12);
        let flags: Vec<_> = forming.iter().map(|c| c.complete).collect();
        assert_eq!(flags.iter().filter(|f| !**f).count(), 1);
        assert!(!flags[11]);

        // TC3 H4: UTC-aligned, 2024-03-03T20:00Z .. 2024-03-08T20:00Z.
        let h4 = parse_body(&fixture("oanda/EUR_USD-H4.json")).unwrap();
        assert_eq!(h4.len(), 31);
        assert_eq!(time(&h4[0]), "2024-03-03T20:00:00Z");
        assert_eq!(time(&h4[30]), "2024-03-08T20:00:00Z");
        assert!(
            h4.iter()
                .all(|c| c.complete && Timeframe::H4.is_aligned(c.open_time.unwrap()))
        );

        // TC4 D with dailyAlignment=0: Sunday 03-03 .. Friday 03-08 stamped 00:00Z.
        let d = parse_body(&fixture("oanda/EUR_USD-D.json")).unwrap();
        let days: Vec<_> = d.iter().map(time).collect();
        assert_eq!(
            days,
            [
                "2024-03-03T00:00:00Z",
                "2024-03-04T00:00:00Z",
                "2024-03-05T00:00:00Z",
                "2024-03-06T00:00:00Z",
                "2024-03-07T00:00:00Z",
                "2024-03-08T00:00:00Z"
            ]
        );
        assert!(d.iter().all(|c| c.complete));
    }

    fn time_str(t: DateTime<Utc>) -> String {
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    #[test]
    fn field_problems_are_reported_per_field() {
        type Field = fn(&WireCandle) -> Result<String, FieldError>;
        let open: Field = |c| text(&c.open);
        let high: Field = |c| text(&c.high);
        let low: Field = |c| text(&c.low);
        let close: Field = |c| text(&c.close);
        let volume: Field = |c| text(&c.volume);
        let at: Field = |c| c.open_time.map(time_str);
        let ok = |s: &str| Ok(s.to_string());
        let good_mid = r#""mid":{"o":"1.08000","h":"1.08100","l":"1.07900","c":"1.08050"}"#;
        let t = r#""time":"2024-03-04T00:00:00.000000000Z""#;
        let cases: Vec<(String, Field, Result<String, FieldError>)> = vec![
            // TC0 a JSON float price is unparseable
            (
                format!(r#"{{{t},"volume":5,"mid":{{"o":1.08,"h":"1.1","l":"1","c":"1"}}}}"#),
                open,
                Err(FieldError::Unparseable),
            ),
            // TC1 a null price is missing
            (
                format!(r#"{{{t},"volume":5,"mid":{{"o":"1","h":null,"l":"1","c":"1"}}}}"#),
                high,
                Err(FieldError::Missing),
            ),
            // TC2 an absent price is missing
            (
                format!(r#"{{{t},"volume":5,"mid":{{"o":"1","h":"1","c":"1"}}}}"#),
                low,
                Err(FieldError::Missing),
            ),
            // TC3 an exponent is unparseable
            (
                format!(r#"{{{t},"volume":5,"mid":{{"o":"1","h":"1","l":"1","c":"1e0"}}}}"#),
                close,
                Err(FieldError::Unparseable),
            ),
            // TC4 too many fractional digits overflow
            (
                format!(
                    r#"{{{t},"volume":5,"mid":{{"o":"1.0000000000000000001","h":"1","l":"1","c":"1"}}}}"#
                ),
                open,
                Err(FieldError::PrecisionOverflow),
            ),
            // TC5 no mid (price=BA answer): every price missing
            (
                format!(r#"{{{t},"volume":5,"bid":{{"o":"1","h":"1","l":"1","c":"1"}}}}"#),
                open,
                Err(FieldError::Missing),
            ),
            (
                format!(r#"{{{t},"volume":5}}"#),
                close,
                Err(FieldError::Missing),
            ),
            // TC6 a mid that is not an object is unparseable
            (
                format!(r#"{{{t},"volume":5,"mid":"1.08"}}"#),
                high,
                Err(FieldError::Unparseable),
            ),
            // TC7 an integer volume literal and a string of digits both parse
            (
                format!(r#"{{{t},"volume":1843,{good_mid}}}"#),
                volume,
                ok("1843"),
            ),
            (
                format!(r#"{{{t},"volume":"1843",{good_mid}}}"#),
                volume,
                ok("1843"),
            ),
            // TC8 a float volume literal is unparseable, an absent or null one missing
            (
                format!(r#"{{{t},"volume":18.5,{good_mid}}}"#),
                volume,
                Err(FieldError::Unparseable),
            ),
            (
                format!(r#"{{{t},{good_mid}}}"#),
                volume,
                Err(FieldError::Missing),
            ),
            (
                format!(r#"{{{t},"volume":null,{good_mid}}}"#),
                volume,
                Err(FieldError::Missing),
            ),
            // TC9 a negative volume parses (validation rejects it)
            (
                format!(r#"{{{t},"volume":-3,{good_mid}}}"#),
                volume,
                ok("-3"),
            ),
            // TC10 time: ns RFC 3339 parses; garbage, Unix form and numbers are unparseable
            (
                format!(r#"{{{t},"volume":1,{good_mid}}}"#),
                at,
                ok("2024-03-04T00:00:00Z"),
            ),
            (
                format!(r#"{{"time":"2024-03-04 nonsense","volume":1,{good_mid}}}"#),
                at,
                Err(FieldError::Unparseable),
            ),
            (
                format!(r#"{{"time":"1709510400.000000000","volume":1,{good_mid}}}"#),
                at,
                Err(FieldError::Unparseable),
            ),
            (
                format!(r#"{{"time":1709510400,"volume":1,{good_mid}}}"#),
                at,
                Err(FieldError::Unparseable),
            ),
            // TC11 time absent or null is missing
            (
                format!(r#"{{"volume":1,{good_mid}}}"#),
                at,
                Err(FieldError::Missing),
            ),
            (
                format!(r#"{{"time":null,"volume":1,{good_mid}}}"#),
                at,
                Err(FieldError::Missing),
            ),
            // TC12 the other fields are untouched by one bad field
            (
                format!(r#"{{{t},"volume":5,"mid":{{"o":1.08,"h":"1.08100","l":"1","c":"1"}}}}"#),
                high,
                ok("1.081"),
            ),
        ];
        for (i, (record, field, expected)) in cases.iter().enumerate() {
            let c = parse_record(raw(record));
            assert_eq!(field(&c), *expected, "case {i}: {record}");
            assert_eq!(c.raw.get(), record, "case {i}: raw kept as received");
        }
    }

    #[test]
    fn complete_flag_defaults_to_not_complete() {
        // (record, complete)
        let cases = [
            // TC0 true
            (r#"{"complete":true,"time":"2024-03-04T00:00:00Z"}"#, true),
            // TC1 false
            (r#"{"complete":false,"time":"2024-03-04T00:00:00Z"}"#, false),
            // TC2 absent
            (r#"{"time":"2024-03-04T00:00:00Z"}"#, false),
            // TC3 not a boolean
            (
                r#"{"complete":"true","time":"2024-03-04T00:00:00Z"}"#,
                false,
            ),
        ];
        for (record, complete) in cases {
            assert_eq!(parse_record(raw(record)).complete, complete, "{record}");
        }
    }

    #[test]
    fn unreadable_records_keep_their_raw_text() {
        // TC0 a record that is not an object: every field unparseable, raw kept.
        // TC1 an array (serde would read it into the struct by position): the same.
        for record in [
            r#""x""#,
            r#"[1,2,3]"#,
            r#"[true,"1843","2024-03-04T00:00:00Z"]"#,
        ] {
            let c = parse_record(raw(record));
            assert_eq!(
                c.open_time.unwrap_err(),
                FieldError::Unparseable,
                "{record}"
            );
            assert_eq!(c.volume.unwrap_err(), FieldError::Unparseable, "{record}");
            assert_eq!(c.raw.get(), record);
        }
        // TC2 a mid that is an array: every price unparseable.
        let c = parse_record(raw(
            r#"{"time":"2024-03-04T00:00:00Z","volume":1,"mid":["1","1","1","1"]}"#,
        ));
        assert_eq!(c.open.unwrap_err(), FieldError::Unparseable);
        assert_eq!(c.close.unwrap_err(), FieldError::Unparseable);
    }

    #[test]
    fn broken_body_is_transient() {
        // (body)
        let cases = [
            // TC0 truncated
            r#"{"instrument":"EUR_USD","granularity":"M5","candles":[{"complete":true,"#,
            // TC1 not JSON at all
            "<html>502 Bad Gateway</html>",
            // TC2 JSON without candles
            r#"{"instrument":"EUR_USD","granularity":"M5"}"#,
            // TC3 candles is not a list
            r#"{"candles":{}}"#,
        ];
        for body in cases {
            let err = parse_body(body).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Transient, "{body}");
            assert!(err.message.contains("will be retried"), "{}", err.message);
        }
    }
}
