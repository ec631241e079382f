//! The real Alpha Vantage client against a local server serving the fixtures in
//! `fixtures/alphavantage/`, with a fixed clock and a counting gate.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::classify::{AssetClass, classify, is_ticker};
use super::client::{AlphaVantageClient, AlphaVantageConfig};
use super::parse::replay_record;
use super::request::{et_month, interval};
use crate::candle::{FieldError, Page, VolumeKind, WireCandle};
use crate::error::ErrorKind;
use crate::secret::Secret;
use crate::source::{CandleSource, ProviderId};
use crate::testing::{CountingGate, at, fetch, fixed_clock, fixture, raw, window};
use crate::timeframe::Timeframe;

const KEY: &str = "TESTKEY123";
const DATE: &str = "Mon, 02 Dec 2024 12:00:05 GMT";

fn now() -> DateTime<Utc> {
    at("2024-12-02T12:00:00Z")
}

fn config(base_url: &str, timeout: Duration) -> AlphaVantageConfig {
    AlphaVantageConfig {
        base_url: base_url.to_string(),
        api_key: Secret::new(KEY),
        timeout,
        class_overrides: HashMap::new(),
    }
}

fn client_at(base_url: &str, timeout: Duration) -> AlphaVantageClient {
    AlphaVantageClient::new(config(base_url, timeout), fixed_clock(now())).unwrap()
}

fn client(server: &MockServer) -> AlphaVantageClient {
    client_at(&server.uri(), Duration::from_secs(5))
}

fn ok(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_string(body)
        .insert_header("content-type", "application/json")
        .insert_header("date", DATE)
}

/// Answers `/query` with `response` when every one of `params` (and the key) is sent.
async fn answer(server: &MockServer, params: &[(&str, &str)], response: ResponseTemplate) {
    let mut mock = Mock::given(method("GET"))
        .and(path("/query"))
        .and(query_param("apikey", KEY));
    for (name, value) in params {
        mock = mock.and(query_param(*name, *value));
    }
    mock.respond_with(response).mount(server).await;
}

/// A server that gives one [`answer`].
async fn serve(params: &[(&str, &str)], response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    answer(&server, params, response).await;
    server
}

/// A server answering every `/query` with `response`.
async fn serve_any(response: ResponseTemplate) -> MockServer {
    crate::testing::serve("/query", response).await
}

fn text(d: &Result<Decimal, FieldError>) -> String {
    d.as_ref().map(|d| d.to_string()).unwrap_or_default()
}

fn normalized(wire: &str) -> String {
    Decimal::from_str_exact(wire)
        .unwrap()
        .normalize()
        .to_string()
}

/// The record's series key and bar, read back from the raw DLQ record.
fn key_and_bar(c: &WireCandle) -> (String, serde_json::Map<String, serde_json::Value>) {
    let v: serde_json::Value = serde_json::from_str(c.raw.get()).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 1, "one key per raw record: {}", c.raw.get());
    let (k, bar) = obj.iter().next().unwrap();
    (k.clone(), bar.as_object().unwrap().clone())
}

/// An independent UTC offset for 2024 New York wall-clock keys: EDT from 2024-03-10 02:00 to
/// 2024-11-03 02:00, EST otherwise.
fn ny_2024_to_utc(key: &str) -> DateTime<Utc> {
    let local = chrono::NaiveDateTime::parse_from_str(key, "%Y-%m-%d %H:%M:%S").unwrap();
    let edt = ("2024-03-10 03:00:00".."2024-11-03 01:00:00").contains(&key);
    local.and_utc() + chrono::TimeDelta::hours(if edt { 4 } else { 5 })
}

struct FixtureCase {
    name: &'static str,
    pair: &'static str,
    tf: Timeframe,
    start: &'static str,
    end: &'static str,
    fixture: &'static str,
    query: &'static str,
    count: usize,
    kind: VolumeKind,
    available_from: Option<&'static str>,
    /// Candles checked by hand, `key at open time: open high low close volume`: the key and the
    /// values as on the wire, the open time in UTC.
    spots: &'static [&'static str],
}

fn fixture_cases() -> Vec<FixtureCase> {
    vec![
        // TC0 equity intraday, March 2024: EST before 2024-03-10, EDT after
        FixtureCase {
            name: "TC0",
            pair: "IBM",
            tf: Timeframe::M30,
            start: "2024-03-01T05:00:00Z",
            end: "2024-04-01T04:00:00Z",
            fixture: "TIME_SERIES_INTRADAY-IBM-30min-2024-03.json",
            query: "function=TIME_SERIES_INTRADAY&symbol=IBM&interval=30min&month=2024-03&outputsize=full&adjusted=false&extended_hours=true",
            count: 620,
            kind: VolumeKind::Shares,
            available_from: None,
            spots: &[
                "2024-03-08 09:30:00 at 2024-03-08T14:30:00Z: 189.4500 189.8000 188.5400 188.8800 831898",
                "2024-03-08 19:30:00 at 2024-03-09T00:30:00Z: 189.8000 189.8350 189.7900 189.8250 246",
                "2024-03-11 04:00:00 at 2024-03-11T08:00:00Z: 189.8500 189.9000 189.8500 189.8700 1896",
                "2024-03-11 09:30:00 at 2024-03-11T13:30:00Z: 189.9700 190.1700 189.5700 189.7600 684021",
            ],
        },
        // TC1 equity intraday, November 2024: EDT before 2024-11-03, EST after
        FixtureCase {
            name: "TC1",
            pair: "IBM",
            tf: Timeframe::M30,
            start: "2024-11-01T04:00:00Z",
            end: "2024-12-01T05:00:00Z",
            fixture: "TIME_SERIES_INTRADAY-IBM-30min-2024-11.json",
            query: "function=TIME_SERIES_INTRADAY&symbol=IBM&interval=30min&month=2024-11&outputsize=full&adjusted=false&extended_hours=true",
            count: 608,
            kind: VolumeKind::Shares,
            available_from: None,
            spots: &[
                "2024-11-01 09:30:00 at 2024-11-01T13:30:00Z: 208.2800 208.6350 208.1800 208.4350 247814",
                "2024-11-01 19:30:00 at 2024-11-01T23:30:00Z: 209.0100 209.0750 208.9850 209.0500 1329",
                "2024-11-04 04:00:00 at 2024-11-04T09:00:00Z: 209.0650 209.0900 209.0350 209.0400 1298",
                "2024-11-04 09:30:00 at 2024-11-04T14:30:00Z: 209.3250 209.6450 209.0450 209.1450 525169",
            ],
        },
        // TC2 equity daily: dates stamped 00:00Z, no conversion
        FixtureCase {
            name: "TC2",
            pair: "IBM",
            tf: Timeframe::D1,
            start: "2024-01-01",
            end: "2024-12-01",
            fixture: "TIME_SERIES_DAILY-IBM-compact.json",
            query: "function=TIME_SERIES_DAILY&symbol=IBM&outputsize=full",
            count: 100,
            kind: VolumeKind::Shares,
            available_from: Some("2024-07-11"),
            spots: &[
                "2024-11-29 at 2024-11-29: 226.0800 228.6400 223.8100 227.1300 4284256",
                "2024-07-11 at 2024-07-11: 178.7900 181.9000 176.7800 179.9100 7034320",
            ],
        },
        // TC3 FX daily: UTC dates, no volume (0, kind none)
        FixtureCase {
            name: "TC3",
            pair: "EUR-USD",
            tf: Timeframe::D1,
            start: "2024-01-01",
            end: "2024-12-01",
            fixture: "FX_DAILY-EUR-USD.json",
            query: "function=FX_DAILY&from_symbol=EUR&to_symbol=USD&outputsize=full",
            count: 239,
            kind: VolumeKind::None,
            available_from: Some("2024-01-02"),
            spots: &[
                "2024-11-29 at 2024-11-29: 1.05791 1.06226 1.05658 1.05838 0",
                "2024-01-02 at 2024-01-02: 1.09390 1.09655 1.09021 1.09110 0",
            ],
        },
        // TC4 FX intraday: UTC keys
        FixtureCase {
            name: "TC4",
            pair: "EUR-USD",
            tf: Timeframe::M5,
            start: "2024-03-01",
            end: "2024-03-09",
            fixture: "FX_INTRADAY-EUR-USD-5min.json",
            query: "function=FX_INTRADAY&from_symbol=EUR&to_symbol=USD&interval=5min&outputsize=full",
            count: 288,
            kind: VolumeKind::None,
            available_from: Some("2024-03-07T22:00:00Z"),
            spots: &[
                "2024-03-08 21:55:00 at 2024-03-08T21:55:00Z: 1.10004 1.10014 1.09997 1.10000 0",
            ],
        },
        // TC5 crypto intraday: volume is a bare JSON integer
        FixtureCase {
            name: "TC5",
            pair: "ETH-USD",
            tf: Timeframe::M5,
            start: "2023-10-01",
            end: "2023-10-15",
            fixture: "CRYPTO_INTRADAY-ETH-USD-5min.json",
            query: "function=CRYPTO_INTRADAY&symbol=ETH&market=USD&interval=5min&outputsize=full",
            count: 288,
            kind: VolumeKind::Base,
            available_from: Some("2023-10-13T01:15:00Z"),
            spots: &[
                "2023-10-14 01:10:00 at 2023-10-14T01:10:00Z: 1554.52000 1555.11000 1553.06000 1553.31000 11",
                "2023-10-13 01:15:00 at 2023-10-13T01:15:00Z: 1550.00000 1552.50000 1549.90000 1551.80000 849",
            ],
        },
        // TC6 DIGITAL_CURRENCY_DAILY, current format
        FixtureCase {
            name: "TC6",
            pair: "BTC-EUR",
            tf: Timeframe::D1,
            start: "2024-01-01",
            end: "2024-06-03",
            fixture: "DIGITAL_CURRENCY_DAILY-BTC-EUR.json",
            query: "function=DIGITAL_CURRENCY_DAILY&symbol=BTC&market=EUR",
            count: 60,
            kind: VolumeKind::Base,
            available_from: Some("2024-04-04"),
            spots: &[
                "2024-06-02 at 2024-06-02: 61147.71000000 61274.43000000 61112.42000000 61259.55000000 1.26747903",
                "2024-04-04 at 2024-04-04: 61036.95000000 61545.37000000 60384.62000000 60605.52000000 2488.81774965",
            ],
        },
        // TC7 DIGITAL_CURRENCY_DAILY, legacy format: the market's `a` fields
        FixtureCase {
            name: "TC7",
            pair: "BTC-EUR",
            tf: Timeframe::D1,
            start: "2023-01-01",
            end: "2023-10-15",
            fixture: "DIGITAL_CURRENCY_DAILY-BTC-EUR-legacy.json",
            query: "function=DIGITAL_CURRENCY_DAILY&symbol=BTC&market=EUR",
            count: 60,
            kind: VolumeKind::Base,
            available_from: Some("2023-08-16"),
            spots: &[
                "2023-10-14 at 2023-10-14: 24739.51937135 25036.72331871 24284.73135965 24535.81871345 44247.01127904",
                "2023-08-16 at 2023-08-16: 26704.06623735 27079.51241950 26367.25850966 26877.70009200 9819.24644381",
            ],
        },
    ]
}

/// Every field of every candle is the exact decimal of its wire text (checked against the
/// raw record), and every open time is the key read in the right zone.
fn check_every_candle(case: &FixtureCase, page: &Page) {
    let mut previous: Option<DateTime<Utc>> = None;
    for c in &page.candles {
        let (key, bar) = key_and_bar(c);
        let time = *c.open_time.as_ref().unwrap();
        let expected_time = if key.len() == 10 {
            at(&format!("{key}T00:00:00Z"))
        } else if case.pair == "IBM" {
            ny_2024_to_utc(&key)
        } else {
            chrono::NaiveDateTime::parse_from_str(&key, "%Y-%m-%d %H:%M:%S")
                .unwrap()
                .and_utc()
        };
        assert_eq!(time, expected_time, "{} key {key}", case.name);
        // Wire order (newest first) is kept.
        if let Some(p) = previous {
            assert!(time < p, "{}: not in wire order at {key}", case.name);
        }
        previous = Some(time);
        let wire = |name: &str| -> String {
            let legacy = format!("{name} (EUR)");
            let v = bar
                .iter()
                .find(|(k, _)| {
                    let s = k.split_once(". ").unwrap().1;
                    s == name || (s == legacy && k.contains("a. "))
                })
                .map(|(_, v)| v.clone())
                .unwrap();
            match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }
        };
        for (name, got) in [
            ("open", &c.open),
            ("high", &c.high),
            ("low", &c.low),
            ("close", &c.close),
        ] {
            assert_eq!(
                text(got),
                normalized(&wire(name)),
                "{} {key} {name}",
                case.name
            );
        }
        if case.kind == VolumeKind::None {
            assert_eq!(c.volume.as_ref().unwrap(), &Decimal::ZERO);
        } else {
            assert_eq!(
                text(&c.volume),
                normalized(&wire("volume")),
                "{} {key}",
                case.name
            );
        }
        assert!(c.complete);
    }
}

#[tokio::test]
async fn fixtures_parse_exactly() {
    for case in fixture_cases() {
        let params: Vec<(&str, &str)> = case
            .query
            .split('&')
            .map(|kv| kv.split_once('=').unwrap())
            .collect();
        let server = serve(&params, body(case.fixture)).await;
        let gate = CountingGate::default();
        let page = client(&server)
            .fetch_window(&window(case.pair, case.tf, case.start, case.end), &gate)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(gate.count(), 1, "{}", case.name);
        assert_eq!(page.candles.len(), case.count, "{}", case.name);
        assert_eq!(page.volume_kind, case.kind, "{}", case.name);
        assert_eq!(
            page.available_from,
            case.available_from.map(at),
            "{}",
            case.name
        );
        assert_eq!(
            page.request,
            format!("{}/query?{}&apikey=[redacted]", server.uri(), case.query),
            "{}",
            case.name
        );
        assert_eq!(page.received_at, now(), "{}", case.name);
        assert_eq!(
            page.response_time,
            at("2024-12-02T12:00:05Z"),
            "{}",
            case.name
        );
        check_every_candle(&case, &page);
        for spot in case.spots {
            let (key, rest) = spot.split_once(" at ").unwrap();
            let (utc, values) = rest.split_once(": ").unwrap();
            let c = page
                .candles
                .iter()
                .find(|c| key_and_bar(c).0 == key)
                .unwrap_or_else(|| panic!("{}: no {key}", case.name));
            assert_eq!(
                c.open_time.as_ref().unwrap(),
                &at(utc),
                "{} {key}",
                case.name
            );
            let got = [&c.open, &c.high, &c.low, &c.close, &c.volume].map(text);
            let want: Vec<_> = values.split_whitespace().map(normalized).collect();
            assert_eq!(got.to_vec(), want, "{} {key}", case.name);
        }
        // The server saw the key; nothing the engine gets holds it.
        let sent = server.received_requests().await.unwrap();
        assert!(sent[0].url.query().unwrap().ends_with("&apikey=TESTKEY123"));
        assert!(!format!("{page:?}").contains(KEY), "{}", case.name);
    }
}

#[tokio::test]
async fn empty_series_has_no_candles_and_no_availability() {
    let body = r#"{"Meta Data": {"1. Information": "Forex Daily Prices (open, high, low, close)", "6. Time Zone": "UTC"}, "Time Series FX (Daily)": {}}"#;
    let server = serve_any(raw_body(body)).await;
    let page = fetch(
        &client(&server),
        &window("EUR-USD", Timeframe::D1, "2024-01-01", "2024-02-01"),
    )
    .await
    .unwrap();
    assert!(page.candles.is_empty());
    assert_eq!(page.available_from, None);
    assert_eq!(page.volume_kind, VolumeKind::None);
}

#[tokio::test]
async fn raw_records_replay_to_the_same_candle() {
    let server = serve_any(body("TIME_SERIES_INTRADAY-IBM-30min-2024-03.json")).await;
    let page = fetch(
        &client(&server),
        &window(
            "IBM",
            Timeframe::M30,
            "2024-03-01T05:00:00Z",
            "2024-04-01T04:00:00Z",
        ),
    )
    .await
    .unwrap();
    for c in page.candles.iter().take(50) {
        assert!(c.raw.get().starts_with("{\"2024-03-"), "{}", c.raw.get());
        let again = replay_record(c.raw.clone(), "IBM", AssetClass::Equity);
        assert_eq!(again.open_time, c.open_time);
        assert_eq!(
            [
                &again.open,
                &again.high,
                &again.low,
                &again.close,
                &again.volume
            ]
            .map(text),
            [&c.open, &c.high, &c.low, &c.close, &c.volume].map(text)
        );
    }
    // A record a user edited: the bar is re-read from the text.
    let edited = raw(
        r#"{"2024-03-08 09:30:00": {"1. open": "189.4500", "2. high": "189.8000", "3. low": "188.5400", "4. close": "188.8800", "5. volume": "831898"}}"#,
    );
    let c = replay_record(edited, "IBM", AssetClass::Equity);
    assert_eq!(c.open_time.unwrap(), at("2024-03-08T14:30:00Z"));
}

struct BodyCase {
    name: &'static str,
    pair: &'static str,
    tf: Timeframe,
    response: ResponseTemplate,
    kind: ErrorKind,
    says: &'static [&'static str],
    retry_after: Option<Duration>,
    status: Option<u16>,
}

fn body(rel: &str) -> ResponseTemplate {
    ok(fixture(&format!("alphavantage/{rel}")))
}

fn raw_body(text: &str) -> ResponseTemplate {
    ok(text.to_string())
}

#[tokio::test]
async fn every_body_class_is_classified() {
    use ErrorKind::*;
    let cases = vec![
        // TC0 bad symbol or parameters
        BodyCase {
            name: "TC0",
            pair: "IBM",
            tf: Timeframe::D1,
            response: body("errors/error-message.json"),
            kind: Permanent,
            says: &[
                "alphavantage rejected the request for IBM (Invalid API call",
                "TIME_SERIES_DAILY",
            ],
            retry_after: None,
            status: None,
        },
        // TC1 missing or invalid key
        BodyCase {
            name: "TC1",
            pair: "IBM",
            tf: Timeframe::D1,
            response: body("errors/invalid-key.json"),
            kind: Permanent,
            says: &[
                "rejected the request for IBM",
                "apikey is invalid or missing",
            ],
            retry_after: None,
            status: None,
        },
        // TC2 per-second burst note (mentions the daily limit and premium too)
        BodyCase {
            name: "TC2",
            pair: "IBM",
            tf: Timeframe::M30,
            response: body("errors/burst-note.json"),
            kind: RateLimited,
            says: &["1 request per second"],
            retry_after: Some(Duration::from_secs(2)),
            status: None,
        },
        // TC3 daily quota under "Information", echoing the key
        BodyCase {
            name: "TC3",
            pair: "IBM",
            tf: Timeframe::D1,
            response: body("errors/daily-quota.json"),
            kind: Halt,
            says: &[
                "daily request quota of this key is used up; rerun after it resets",
                "detected your API key as [redacted] and",
            ],
            retry_after: None,
            status: None,
        },
        // TC4 daily quota under "Note"
        BodyCase {
            name: "TC4",
            pair: "EUR-USD",
            tf: Timeframe::D1,
            response: body("errors/daily-quota-note.json"),
            kind: Halt,
            says: &["daily request quota", "[redacted]"],
            retry_after: None,
            status: None,
        },
        // TC5 the other wording of the daily quota
        BodyCase {
            name: "TC5",
            pair: "BTC-USD",
            tf: Timeframe::D1,
            response: raw_body(
                r#"{"Information": "Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per day. Please subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to instantly remove all daily rate limits."}"#,
            ),
            kind: Halt,
            says: &["daily request quota"],
            retry_after: None,
            status: None,
        },
        // TC6 premium endpoint
        BodyCase {
            name: "TC6",
            pair: "EUR-USD",
            tf: Timeframe::M5,
            response: body("errors/premium-endpoint.json"),
            kind: Permanent,
            says: &[
                "FX_INTRADAY is a premium Alpha Vantage endpoint; a premium key is needed for EUR-USD 5m",
            ],
            retry_after: None,
            status: None,
        },
        // TC7 premium parameter on a function with no fallback
        BodyCase {
            name: "TC7",
            pair: "EUR-USD",
            tf: Timeframe::D1,
            response: body("errors/premium-parameter.json"),
            kind: Permanent,
            says: &[
                "FX_DAILY is a premium Alpha Vantage feature",
                "premium key is needed for EUR-USD 1d",
            ],
            retry_after: None,
            status: None,
        },
        // TC8 legacy per-minute note
        BodyCase {
            name: "TC8",
            pair: "IBM",
            tf: Timeframe::D1,
            response: body("errors/legacy-note.json"),
            kind: RateLimited,
            says: &["5 calls per minute"],
            retry_after: Some(Duration::from_secs(60)),
            status: None,
        },
        // TC9 demo key
        BodyCase {
            name: "TC9",
            pair: "IBM",
            tf: Timeframe::D1,
            response: body("errors/demo-key.json"),
            kind: Halt,
            says: &["demo API key", "ALPHAVANTAGE_API_KEY"],
            retry_after: None,
            status: None,
        },
        // TC10 `{}`
        BodyCase {
            name: "TC10",
            pair: "IBM",
            tf: Timeframe::D1,
            response: body("errors/empty.json"),
            kind: Permanent,
            says: &["alphavantage answered {} for IBM: unknown symbol or function"],
            retry_after: None,
            status: None,
        },
        // TC11 an object of unknown keys
        BodyCase {
            name: "TC11",
            pair: "IBM",
            tf: Timeframe::D1,
            response: raw_body(r#"{"Weekly Time Series": {}}"#),
            kind: Permanent,
            says: &["unknown answer", "Weekly Time Series"],
            retry_after: None,
            status: None,
        },
        // TC12 a note of unknown wording
        BodyCase {
            name: "TC12",
            pair: "IBM",
            tf: Timeframe::D1,
            response: raw_body(r#"{"Information": "Scheduled maintenance."}"#),
            kind: Permanent,
            says: &["does not know: Scheduled maintenance."],
            retry_after: None,
            status: None,
        },
        // TC13 JSON that is not an object
        BodyCase {
            name: "TC13",
            pair: "IBM",
            tf: Timeframe::D1,
            response: raw_body("[]"),
            kind: Permanent,
            says: &["unknown answer"],
            retry_after: None,
            status: None,
        },
        // TC14 a truncated body
        BodyCase {
            name: "TC14",
            pair: "IBM",
            tf: Timeframe::D1,
            response: raw_body(r#"{"Meta Data": {"1. Information": "Daily Pr"#),
            kind: Transient,
            says: &["not valid JSON"],
            retry_after: None,
            status: None,
        },
        // TC15 a series that is not an object
        BodyCase {
            name: "TC15",
            pair: "IBM",
            tf: Timeframe::D1,
            response: raw_body(r#"{"Time Series (Daily)": []}"#),
            kind: Transient,
            says: &["not an object"],
            retry_after: None,
            status: None,
        },
        // TC16 a time zone candlelake does not know
        BodyCase {
            name: "TC16",
            pair: "IBM",
            tf: Timeframe::D1,
            response: raw_body(
                r#"{"Meta Data": {"5. Time Zone": "Mars/Olympus"}, "Time Series (Daily)": {}}"#,
            ),
            kind: Permanent,
            says: &["Mars/Olympus"],
            retry_after: None,
            status: None,
        },
        // TC17 HTTP 503
        BodyCase {
            name: "TC17",
            pair: "IBM",
            tf: Timeframe::D1,
            response: ResponseTemplate::new(503).set_body_string("upstream unavailable"),
            kind: Transient,
            says: &["HTTP 503", "upstream unavailable"],
            retry_after: None,
            status: Some(503),
        },
        // TC18 HTTP 429 with Retry-After
        BodyCase {
            name: "TC18",
            pair: "IBM",
            tf: Timeframe::D1,
            response: ResponseTemplate::new(429).insert_header("retry-after", "7"),
            kind: RateLimited,
            says: &["HTTP 429"],
            retry_after: Some(Duration::from_secs(7)),
            status: Some(429),
        },
        // TC19 HTTP 403
        BodyCase {
            name: "TC19",
            pair: "IBM",
            tf: Timeframe::D1,
            response: ResponseTemplate::new(403).set_body_string("forbidden"),
            kind: Permanent,
            says: &["HTTP 403"],
            retry_after: None,
            status: Some(403),
        },
    ];
    for case in cases {
        let server = serve_any(case.response).await;
        let gate = CountingGate::default();
        let err = client(&server)
            .fetch_window(
                &window(
                    case.pair,
                    case.tf,
                    "2024-11-01T04:00:00Z",
                    "2024-12-01T05:00:00Z",
                ),
                &gate,
            )
            .await
            .map(|p| p.candles.len())
            .unwrap_err();
        assert_eq!(err.kind, case.kind, "{}: {err}", case.name);
        for needle in case.says {
            assert!(err.message.contains(needle), "{}: {err}", case.name);
        }
        assert!(!err.message.contains(KEY), "{}: {err}", case.name);
        assert_eq!(err.retry_after, case.retry_after, "{}: {err}", case.name);
        assert_eq!(err.status, case.status, "{}: {err}", case.name);
        assert_eq!(gate.count(), 1, "{}: one request", case.name);
    }
}

#[tokio::test]
async fn daily_full_falls_back_to_compact_through_the_gate() {
    // TC0 premium-parameter note, then the compact answer
    let server = serve(
        &[("function", "TIME_SERIES_DAILY"), ("outputsize", "full")],
        body("errors/premium-parameter.json"),
    )
    .await;
    answer(
        &server,
        &[("function", "TIME_SERIES_DAILY"), ("outputsize", "compact")],
        body("TIME_SERIES_DAILY-IBM-compact.json"),
    )
    .await;
    let gate = CountingGate::default();
    let request = window("IBM", Timeframe::D1, "2000-01-01", "2024-12-01");
    let page = client(&server).fetch_window(&request, &gate).await.unwrap();
    assert_eq!(gate.count(), 2);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert_eq!(page.candles.len(), 100);
    assert_eq!(
        page.request,
        format!(
            "{}/query?function=TIME_SERIES_DAILY&symbol=IBM&outputsize=compact&apikey=[redacted]",
            server.uri()
        )
    );
    assert_eq!(page.available_from, Some(at("2024-07-11")));

    // TC1 the note again on compact: permanent, no third request
    let server = serve_any(body("errors/premium-parameter.json")).await;
    let gate = CountingGate::default();
    let err = client(&server)
        .fetch_window(&request, &gate)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent, "{err}");
    assert!(
        err.message.contains("premium key is needed for IBM 1d"),
        "{err}"
    );
    assert_eq!(gate.count(), 2);

    // TC2 a gate that refuses the fallback stops it
    let server = serve_any(body("errors/premium-parameter.json")).await;
    let err = client(&server)
        .fetch_window(&request, &CountingGate::refusing_after(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Halt);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn once_full_is_premium_the_key_asks_compact_directly() {
    // `outputsize=full` draws the premium note; the compact fallback is throttled once.
    let server = MockServer::start().await;
    let daily = |size: &'static str| {
        Mock::given(method("GET"))
            .and(path("/query"))
            .and(query_param("function", "TIME_SERIES_DAILY"))
            .and(query_param("outputsize", size))
    };
    daily("full")
        .respond_with(body("errors/premium-parameter.json"))
        .mount(&server)
        .await;
    daily("compact")
        .respond_with(body("errors/burst-note.json"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    daily("compact")
        .respond_with(body("TIME_SERIES_DAILY-IBM-compact.json"))
        .mount(&server)
        .await;
    let c = client(&server);

    // TC0 the first try: full, the note, compact, throttled
    let ibm = window("IBM", Timeframe::D1, "2000-01-01", "2024-12-01");
    let err = fetch(&c, &ibm).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::RateLimited, "{err}");
    // TC1 the retry, and TC2 another ticker of the same key, ask compact straight away
    assert_eq!(fetch(&c, &ibm).await.unwrap().candles.len(), 100);
    let msft = window("MSFT", Timeframe::D1, "2000-01-01", "2024-12-01");
    assert!(fetch(&c, &msft).await.is_ok());
    let sizes: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| r.url.query_pairs().find(|(k, _)| k == "outputsize"))
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(sizes, ["full", "compact", "compact", "compact"]);

    // TC3 a new client (the next run) asks full first again
    let again = client(&server);
    assert!(fetch(&again, &ibm).await.is_ok());
    let last_two: Vec<_> = server.received_requests().await.unwrap()[4..]
        .iter()
        .map(|r| r.url.query().unwrap().contains("outputsize=full"))
        .collect();
    assert_eq!(last_two, [true, false]);
}

/// (name, pair, timeframe, start, end, newest_first, expected windows)
type WindowCase = (
    &'static str,
    &'static str,
    Timeframe,
    &'static str,
    &'static str,
    bool,
    &'static [(&'static str, &'static str)],
);

fn spans(w: Vec<(DateTime<Utc>, DateTime<Utc>)>) -> Vec<(String, String)> {
    w.into_iter()
        .map(|(s, e)| {
            (
                s.format("%Y-%m-%dT%H:%MZ").to_string(),
                e.format("%Y-%m-%dT%H:%MZ").to_string(),
            )
        })
        .collect()
}

#[test]
fn windows_follow_new_york_months() {
    let c = client_at("http://127.0.0.1:9", Duration::from_secs(1));
    let cases: &[WindowCase] = &[
        // TC0 equity intraday, oldest first: March 2024 is [03-01T05:00Z, 04-01T04:00Z)
        (
            "TC0",
            "IBM",
            Timeframe::M30,
            "2024-02-15",
            "2024-04-10",
            false,
            &[
                ("2024-02-15T00:00Z", "2024-03-01T05:00Z"),
                ("2024-03-01T05:00Z", "2024-04-01T04:00Z"),
                ("2024-04-01T04:00Z", "2024-04-10T00:00Z"),
            ],
        ),
        // TC1 the same, newest first
        (
            "TC1",
            "IBM",
            Timeframe::M30,
            "2024-02-15",
            "2024-04-10",
            true,
            &[
                ("2024-04-01T04:00Z", "2024-04-10T00:00Z"),
                ("2024-03-01T05:00Z", "2024-04-01T04:00Z"),
                ("2024-02-15T00:00Z", "2024-03-01T05:00Z"),
            ],
        ),
        // TC2 November 2024 (EDT at its start, EST at its end)
        (
            "TC2",
            "BRK.B",
            Timeframe::M5,
            "2024-10-20",
            "2024-12-10",
            false,
            &[
                ("2024-10-20T00:00Z", "2024-11-01T04:00Z"),
                ("2024-11-01T04:00Z", "2024-12-01T05:00Z"),
                ("2024-12-01T05:00Z", "2024-12-10T00:00Z"),
            ],
        ),
        // TC3 00:00Z on the 1st is still the previous month in New York
        (
            "TC3",
            "IBM",
            Timeframe::M1,
            "2024-03-01",
            "2024-03-02",
            false,
            &[
                ("2024-03-01T00:00Z", "2024-03-01T05:00Z"),
                ("2024-03-01T05:00Z", "2024-03-02T00:00Z"),
            ],
        ),
        // TC4 exactly one month
        (
            "TC4",
            "IBM",
            Timeframe::M15,
            "2024-03-01T05:00:00Z",
            "2024-04-01T04:00:00Z",
            true,
            &[("2024-03-01T05:00Z", "2024-04-01T04:00Z")],
        ),
        // TC5 across a year end
        (
            "TC5",
            "IBM",
            Timeframe::M30,
            "2023-12-31",
            "2024-01-02",
            false,
            &[
                ("2023-12-31T00:00Z", "2024-01-01T05:00Z"),
                ("2024-01-01T05:00Z", "2024-01-02T00:00Z"),
            ],
        ),
        // TC6 equity daily: one window
        (
            "TC6",
            "IBM",
            Timeframe::D1,
            "2020-01-01",
            "2024-12-01",
            false,
            &[("2020-01-01T00:00Z", "2024-12-01T00:00Z")],
        ),
        // TC7 FX intraday: one window
        (
            "TC7",
            "EUR-USD",
            Timeframe::M5,
            "2024-01-01",
            "2024-12-01",
            true,
            &[("2024-01-01T00:00Z", "2024-12-01T00:00Z")],
        ),
        // TC8 crypto intraday: one window
        (
            "TC8",
            "BTC-USD",
            Timeframe::M1,
            "2024-01-01",
            "2024-12-01",
            false,
            &[("2024-01-01T00:00Z", "2024-12-01T00:00Z")],
        ),
        // TC9 an empty range
        (
            "TC9",
            "IBM",
            Timeframe::M30,
            "2024-03-01",
            "2024-03-01",
            false,
            &[],
        ),
        // TC10 an empty range, one-window class
        (
            "TC10",
            "EUR-USD",
            Timeframe::D1,
            "2024-03-02",
            "2024-03-01",
            false,
            &[],
        ),
    ];
    for (name, pair, tf, start, end, newest_first, expected) in cases {
        let got = spans(c.windows(pair, *tf, at(start), at(end), *newest_first));
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want, "{name}");
    }
    // The month a window asks for is its start's month in New York.
    for (t, month) in [
        ("2024-03-01T04:59:59Z", "2024-02"),
        ("2024-03-01T05:00:00Z", "2024-03"),
        ("2024-11-01T03:59:59Z", "2024-10"),
        ("2024-11-01T04:00:00Z", "2024-11"),
        ("2024-12-01T04:59:59Z", "2024-11"),
        ("2024-12-01T05:00:00Z", "2024-12"),
    ] {
        assert_eq!(et_month(at(t)), month, "{t}");
    }
}

#[tokio::test]
async fn a_window_asks_for_its_new_york_month() {
    let server = serve(
        &[("month", "2024-02"), ("interval", "1min")],
        raw_body(r#"{"Meta Data": {"6. Time Zone": "US/Eastern"}, "Time Series (1min)": {}}"#),
    )
    .await;
    // 2024-03-01T00:00Z is 2024-02-29 19:00 in New York.
    let page = fetch(
        &client(&server),
        &window("IBM", Timeframe::M1, "2024-03-01", "2024-03-01T05:00:00Z"),
    )
    .await
    .unwrap();
    assert!(page.request.contains("month=2024-02"));
}

#[test]
fn pairs_are_classified() {
    let overrides: HashMap<String, AssetClass> = [
        ("EUR-USD".to_string(), AssetClass::Crypto),
        ("SPY".to_string(), AssetClass::Equity),
        ("ABC-USD".to_string(), AssetClass::Fx),
    ]
    .into();
    let none = HashMap::new();
    let cases: &[(&str, &HashMap<String, AssetClass>, AssetClass)] = &[
        ("EUR-USD", &none, AssetClass::Fx),          // TC0
        ("XAU-USD", &none, AssetClass::Fx),          // TC1 metal
        ("CNH-JPY", &none, AssetClass::Fx),          // TC2 offshore yuan
        ("GBP-JPY", &none, AssetClass::Fx),          // TC3
        ("BTC-USD", &none, AssetClass::Crypto),      // TC4
        ("BTC-EUR", &none, AssetClass::Crypto),      // TC5
        ("USDT-USD", &none, AssetClass::Crypto),     // TC6
        ("EUR-BTC", &none, AssetClass::Crypto),      // TC7
        ("IBM", &none, AssetClass::Equity),          // TC8
        ("BRK.B", &none, AssetClass::Equity),        // TC9
        ("EUR-USD", &overrides, AssetClass::Crypto), // TC10 override wins
        ("ABC-USD", &overrides, AssetClass::Fx),     // TC11 override wins
        ("GBP-USD", &overrides, AssetClass::Fx),     // TC12 not overridden
    ];
    for (i, (pair, map, want)) in cases.iter().enumerate() {
        assert_eq!(classify(pair, map), *want, "TC{i} {pair}");
    }
    assert!(is_ticker("IBM") && is_ticker("BRK.B") && is_ticker("7203.T"));
    assert!(!is_ticker("ibm") && !is_ticker("") && !is_ticker("ABCDEFGHIJKLM"));
    for class in AssetClass::ALL {
        assert_eq!(class.as_str().parse::<AssetClass>(), Ok(class));
    }
    for other in ["Equity", "forex", "stock", "bond", ""] {
        assert!(other.parse::<AssetClass>().is_err(), "{other}");
    }
}

#[tokio::test]
async fn the_client_uses_its_overrides() {
    let server = serve(
        &[
            ("function", "DIGITAL_CURRENCY_DAILY"),
            ("symbol", "EUR"),
            ("market", "USD"),
        ],
        raw_body(r#"{"Time Series (Digital Currency Daily)": {}}"#),
    )
    .await;
    let mut cfg = config(&server.uri(), Duration::from_secs(5));
    cfg.class_overrides
        .insert("EUR-USD".to_string(), AssetClass::Crypto);
    let c = AlphaVantageClient::new(cfg, fixed_clock(now())).unwrap();
    assert_eq!(c.class_of("EUR-USD"), AssetClass::Crypto);
    let page = fetch(
        &c,
        &window("EUR-USD", Timeframe::D1, "2024-01-01", "2024-02-01"),
    )
    .await
    .unwrap();
    assert_eq!(page.volume_kind, VolumeKind::Base);
}

#[tokio::test]
async fn capabilities_and_unsupported_requests() {
    let server = MockServer::start().await;
    let c = client(&server);
    assert_eq!(c.id(), ProviderId::AlphaVantage);
    let caps = c.capabilities();
    assert_eq!(
        caps.native_timeframes,
        [
            Timeframe::M1,
            Timeframe::M5,
            Timeframe::M15,
            Timeframe::M30,
            Timeframe::D1
        ]
    );
    assert_eq!(caps.max_buckets_per_request, u32::MAX);
    assert_eq!(ProviderId::AlphaVantage.default_rps().to_string(), "0.8");
    for (i, (pair, tf)) in [
        ("IBM", Timeframe::H1),     // TC0 not native
        ("EUR-USD", Timeframe::H4), // TC1 not native
        ("ibm", Timeframe::M5),     // TC2 not a ticker
    ]
    .into_iter()
    .enumerate()
    {
        let gate = CountingGate::default();
        let err = c
            .fetch_window(&window(pair, tf, "2024-01-01", "2024-02-01"), &gate)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Permanent, "TC{i}: {err}");
        assert_eq!(gate.count(), 0, "TC{i}: no request sent");
    }
    assert_eq!(interval(Timeframe::M15), Some("15min"));
    assert_eq!(interval(Timeframe::H1), None);
}

#[tokio::test]
async fn the_key_is_never_shown() {
    // TC0 Debug of the config and the client
    let cfg = config("http://127.0.0.1:9", Duration::from_secs(1));
    let shown = format!("{cfg:?}");
    assert!(
        !shown.contains(KEY) && shown.contains("[redacted]"),
        "{shown}"
    );
    let c = AlphaVantageClient::new(cfg, fixed_clock(now())).unwrap();
    assert!(!format!("{c:?}").contains(KEY));

    // TC1 a request that times out
    let server =
        serve_any(body("TIME_SERIES_DAILY-IBM-compact.json").set_delay(Duration::from_secs(3)))
            .await;
    let slow = client_at(&server.uri(), Duration::from_millis(200));
    let request = window("IBM", Timeframe::D1, "2024-01-01", "2024-12-01");
    let err = fetch(&slow, &request).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(err.message.contains("timed out"), "{err}");
    assert!(
        !err.message.contains(KEY) && !format!("{err:?}").contains(KEY),
        "{err:?}"
    );

    // TC2 a connection that is refused
    let err = fetch(&c, &request).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(!format!("{err:?}").contains(KEY), "{err:?}");

    // TC3..TC7 bodies that echo the key: quota notes, Error Message, unknown note, HTTP 500
    let echoes = [
        body("errors/daily-quota.json"),
        body("errors/daily-quota-note.json"),
        raw_body(r#"{"Error Message": "the apikey TESTKEY123 is invalid"}"#),
        raw_body(r#"{"Note": "key TESTKEY123 is odd"}"#),
        ResponseTemplate::new(500).set_body_string("bad key TESTKEY123"),
    ];
    for (i, response) in echoes.into_iter().enumerate() {
        let server = serve_any(response).await;
        let err = fetch(&client(&server), &request).await.unwrap_err();
        assert!(!format!("{err:?}").contains(KEY), "TC{}: {err:?}", i + 3);
        assert!(err.message.contains("[redacted]"), "TC{}: {err}", i + 3);
    }

    // TC8 the page's request
    let server = serve_any(body("TIME_SERIES_DAILY-IBM-compact.json")).await;
    let page = fetch(&client(&server), &request).await.unwrap();
    assert!(
        page.request.ends_with("&apikey=[redacted]"),
        "{}",
        page.request
    );
    assert!(!format!("{page:?}").contains(KEY));
}

#[tokio::test]
async fn a_key_with_url_special_characters_is_sent_encoded_and_redacted_both_ways() {
    let server = serve_any(raw_body(
        r#"{"Error Message": "key k+y/1 (k%2By%2F1) is invalid"}"#,
    ))
    .await;
    let mut cfg = config(&server.uri(), Duration::from_secs(5));
    cfg.api_key = Secret::new("k+y/1");
    let c = AlphaVantageClient::new(cfg, fixed_clock(now())).unwrap();
    let err = fetch(
        &c,
        &window("IBM", Timeframe::D1, "2024-01-01", "2024-02-01"),
    )
    .await
    .unwrap_err();
    assert!(
        err.message
            .contains("key [redacted] ([redacted]) is invalid"),
        "{err}"
    );
    let sent = server.received_requests().await.unwrap();
    assert!(sent[0].url.query().unwrap().ends_with("&apikey=k%2By%2F1"));
}

/// Serves the four lists: `LISTING_STATUS` by `state`, and the two currency lists.
async fn lists_server() -> MockServer {
    let server = MockServer::start().await;
    for state in ["active", "delisted"] {
        answer(
            &server,
            &[("function", "LISTING_STATUS"), ("state", state)],
            ok(fixture(&format!(
                "alphavantage/instruments/LISTING_STATUS-{state}.csv"
            ))),
        )
        .await;
    }
    for list in ["physical_currency_list", "digital_currency_list"] {
        Mock::given(method("GET"))
            .and(path(format!("/{list}/")))
            .respond_with(ok(fixture(&format!("alphavantage/instruments/{list}.csv"))))
            .mount(&server)
            .await;
    }
    server
}

/// Active and delisted tickers with their IPO and delisting dates, then the currencies: four
/// requests, the key sent only to `LISTING_STATUS`.
#[tokio::test]
async fn lists_tickers_with_dates_and_currencies() {
    let server = lists_server().await;
    let gate = CountingGate::default();
    let list = client(&server).instruments(&gate).await.unwrap();
    assert_eq!(gate.count(), 4);
    let line = |pair: &str| {
        let i = list.iter().find(|i| i.asset_pair == pair).unwrap();
        let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        format!(
            "{} {} {} {} {}",
            i.kind,
            i.status.as_str(),
            date(i.listed),
            date(i.delisted),
            i.name.clone().unwrap_or_default()
        )
    };
    assert_eq!(
        line("IBM"),
        "stock online 1962-01-02  International Business Machines Corp"
    );
    assert_eq!(
        line("BRK.B"),
        "stock online 1996-05-09  Berkshire Hathaway Inc"
    );
    assert_eq!(line("SPY"), "etf online 1993-01-29  SPDR S&P 500 ETF Trust");
    assert_eq!(
        line("AAI"),
        "stock delisted 2001-09-17 2011-05-02 AirTran Holdings, Inc"
    );
    assert_eq!(line("EUR"), "physical_currency online   Euro");
    assert_eq!(line("SEI"), "digital_currency online   Sei");
    assert_eq!(list.len(), 5 + 2 + 4 + 3);
    for sent in server.received_requests().await.unwrap() {
        let has_key = sent.url.query().unwrap_or_default().contains(KEY);
        assert_eq!(has_key, sent.url.path() == "/query", "{}", sent.url);
    }
}

/// A JSON note where the CSV should be is a clear error, the key redacted.
#[tokio::test]
async fn a_listing_refused_says_why_without_the_key() {
    // TC: (body file, kind)
    let cases = [
        ("errors/daily-quota.json", ErrorKind::Halt),
        ("errors/burst-note.json", ErrorKind::RateLimited),
        ("errors/invalid-key.json", ErrorKind::Permanent),
    ];
    for (i, (body, kind)) in cases.into_iter().enumerate() {
        let server = MockServer::start().await;
        answer(
            &server,
            &[("function", "LISTING_STATUS")],
            ok(fixture(&format!("alphavantage/{body}"))),
        )
        .await;
        let err = client(&server)
            .instruments(&CountingGate::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind, kind, "TC{i}: {err}");
        assert!(err.message.contains("LISTING_STATUS list"), "TC{i}: {err}");
        assert!(!err.message.contains(KEY), "TC{i}: {err}");
    }
}
