//! The real Oanda client against a local server that pages the fixtures as v20 does
//! (from / to / includeFirst), then the tables read back and compared cell by cell.

use std::collections::BTreeMap;

use candlelake::providers::Timeframe;
use chrono::{DateTime, Datelike, Timelike, Utc};
use wiremock::matchers::{header, method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::{Workspace, at, fixture, normalized, series};

const TOKEN: &str = "oanda-test-token-7f3a";

/// Serves `fixtures/oanda/EUR_USD-{granularity}.json`, filtered like v20: candles from `from`
/// (or after it with includeFirst=false) and before `to`; refuses more than 5000 buckets.
struct V20Fixtures {
    m5: &'static str,
}

impl Respond for V20Fixtures {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let q = |k: &str| {
            request
                .url
                .query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_string())
        };
        let granularity = q("granularity").unwrap_or_default();
        let rel = match granularity.as_str() {
            "M5" => self.m5.to_string(),
            g => format!("oanda/EUR_USD-{g}.json"),
        };
        let body: serde_json::Value = serde_json::from_str(&fixture(&rel)).unwrap();
        let from = at(&q("from").unwrap());
        let to = at(&q("to").unwrap());
        let include_first = q("includeFirst").as_deref() != Some("false");
        let step = match granularity.as_str() {
            "M5" => 300,
            "H4" => 14_400,
            _ => 86_400,
        };
        if (to - from).num_seconds() / step > 5000 {
            return ResponseTemplate::new(400)
                .set_body_string(fixture("oanda/errors/400-count-exceeded.json"));
        }
        let candles: Vec<&serde_json::Value> = body["candles"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                let t = at(c["time"].as_str().unwrap());
                (if include_first { t >= from } else { t > from }) && t < to
            })
            .collect();
        let out = serde_json::json!({"instrument": "EUR_USD", "granularity": granularity, "candles": candles});
        ResponseTemplate::new(200)
            .set_body_string(out.to_string())
            .insert_header("RequestID", "42")
    }
}

pub async fn server(m5: &'static str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("^/v3/instruments/EUR_USD/candles$"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(V20Fixtures { m5 })
        .mount(&server)
        .await;
    server
}

pub fn workspace(server: &MockServer) -> Workspace {
    let mut ws = Workspace::new("http://127.0.0.1:9");
    ws.env.insert("CANDLELAKE_OANDA_URL".into(), server.uri());
    ws.env.insert("OANDA_API_TOKEN".into(), TOKEN.into());
    ws
}

/// The fixture's complete candles before `end`, as (time, [o, h, l, c, volume]).
fn expected(rel: &str, end: DateTime<Utc>) -> BTreeMap<DateTime<Utc>, [String; 5]> {
    let body: serde_json::Value = serde_json::from_str(&fixture(rel)).unwrap();
    body["candles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["complete"] == true)
        .map(|c| {
            let m = |k: &str| normalized(c["mid"][k].as_str().unwrap());
            (
                at(c["time"].as_str().unwrap()),
                [m("o"), m("h"), m("l"), m("c"), c["volume"].to_string()],
            )
        })
        .filter(|(t, _)| *t < end)
        .collect()
}

fn table(rows: &[candlelake::sink::TableRow]) -> BTreeMap<DateTime<Utc>, [String; 5]> {
    rows.iter()
        .map(|r| {
            (
                r.timestamp,
                [
                    r.open.clone(),
                    r.high.clone(),
                    r.low.clone(),
                    r.close.clone(),
                    r.volume.clone(),
                ],
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_past_5000_candles_keeps_weekend_gaps_and_aligns_4h_and_1d_to_utc() {
    let server = server("oanda/EUR_USD-M5.json").await;
    let ws = workspace(&server);
    let (code, summary) = ws
        .run_json(&[
            "backfill",
            "--provider",
            "oanda",
            "--pairs",
            "EUR_USD",
            "--timeframes",
            "5m,4h,1d",
            "--start",
            "2024-03-01",
            "--end",
            "2024-03-22T21:00:00Z",
        ])
        .await;
    assert_eq!(code, 0, "{summary}");

    // 6300 M5 buckets: two windows, the second continuing without repeating the boundary.
    let m5_requests: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.query().unwrap().contains("granularity=M5"))
        .collect();
    assert_eq!(m5_requests.len(), 2);
    for r in &m5_requests {
        let q = r.url.query().unwrap();
        for fixed in [
            "price=M",
            "smooth=false",
            "dailyAlignment=0",
            "alignmentTimezone=UTC",
        ] {
            assert!(q.contains(fixed), "{q}");
        }
        assert!(!q.contains("count="), "never count with from and to: {q}");
    }
    assert_eq!(
        m5_requests
            .iter()
            .filter(|r| r.url.query().unwrap().contains("includeFirst=false"))
            .count(),
        1
    );

    let rows = ws.rows(Timeframe::M5).await;
    let want = expected("oanda/EUR_USD-M5.json", at("2024-03-22T21:00:00Z"));
    assert_eq!(want.len(), 4576);
    assert_eq!(table(&rows), want, "every M5 candle, cell by cell");
    assert!(rows.iter().all(|r| r.volume_kind == "ticks"
        && r.source_provider == "oanda"
        && r.asset_pair == "EUR-USD"));
    // The FX weekend stays a gap: nothing from Friday 22:00Z to Sunday 22:00Z (EST).
    assert!(
        !rows
            .iter()
            .any(|r| r.timestamp >= at("2024-03-01T22:00:00Z")
                && r.timestamp < at("2024-03-03T22:00:00Z"))
    );
    let eur = series(&summary, "EUR-USD", "5m");
    assert_eq!(eur["coverage"]["to"], "2024-03-22T21:00:00Z");

    let h4 = ws.rows(Timeframe::H4).await;
    assert_eq!(
        table(&h4),
        expected("oanda/EUR_USD-H4.json", at("2024-03-22T21:00:00Z"))
    );
    assert!(
        h4.iter()
            .all(|r| r.timestamp.hour() % 4 == 0 && r.timestamp.minute() == 0)
    );
    let d1 = ws.rows(Timeframe::D1).await;
    assert_eq!(
        table(&d1),
        expected("oanda/EUR_USD-D.json", at("2024-03-22T21:00:00Z"))
    );
    let days: Vec<_> = d1
        .iter()
        .map(|r| (r.timestamp.weekday().to_string(), r.timestamp.hour()))
        .collect();
    assert_eq!(
        days.first().unwrap(),
        &("Sun".to_string(), 0),
        "a short Sunday candle at 00:00Z"
    );
    assert_eq!(
        days.last().unwrap(),
        &("Fri".to_string(), 0),
        "a short Friday candle at 00:00Z"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forming_candle_is_never_written_and_coverage_stops_before_it() {
    let server = server("oanda/EUR_USD-M5-forming.json").await;
    let ws = workspace(&server);
    let (code, summary) = ws
        .run_json(&[
            "backfill",
            "--provider",
            "oanda",
            "--pairs",
            "EUR-USD",
            "--timeframes",
            "5m",
            "--start",
            "2024-03-21T10:00:00Z",
            "--end",
            "2024-03-21T11:00:00Z",
        ])
        .await;
    assert_eq!(code, 0, "{summary}");
    let eur = series(&summary, "EUR-USD", "5m");
    assert_eq!(
        (eur["records"].as_u64(), eur["skipped"].as_u64()),
        (Some(11), Some(1))
    );
    assert_eq!(eur["coverage"]["to"], "2024-03-21T10:55:00Z");
    let rows = ws.rows(Timeframe::M5).await;
    assert_eq!(rows.len(), 11);
    assert!(
        rows.iter()
            .all(|r| r.timestamp < at("2024-03-21T10:55:00Z"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_token_exits_1_and_a_rejected_one_fails_every_series_writing_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_string(fixture("oanda/errors/401-unauthorized.json")),
        )
        .mount(&server)
        .await;
    let mut ws = workspace(&server);
    let args = [
        "backfill",
        "--provider",
        "oanda",
        "--pairs",
        "EUR-USD,USD-JPY",
        "--timeframes",
        "1h,1d",
        "--start",
        "2024-03-01",
        "--end",
        "2024-03-08",
    ];

    ws.env.remove("OANDA_API_TOKEN");
    let out = ws.run(&args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("OANDA_API_TOKEN is not set"), "{stderr}");
    assert!(server.received_requests().await.unwrap().is_empty());

    ws.env
        .insert("OANDA_API_TOKEN".into(), "practice-token-on-live".into());
    let (code, summary) = ws.run_json(&args).await;
    assert_eq!(code, 2, "{summary}");
    assert_eq!(summary["status"], "error");
    for r in summary["results"].as_array().unwrap() {
        assert_eq!(r["status"], "error", "{r}");
        let e = r["error"].as_str().unwrap();
        assert!(e.contains("401") && e.contains("practice"), "{e}");
        assert!(!e.contains("practice-token-on-live"));
    }
    assert!(
        server.received_requests().await.unwrap().len() < 4 * 4,
        "the provider stops after the rejection"
    );
    assert!(
        !ws.dir.path().join("lake/raw_market_data_1h").exists(),
        "nothing written"
    );
}
