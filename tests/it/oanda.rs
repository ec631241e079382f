//! The real Oanda client against a local server that pages the fixtures as v20 does
//! (from / to / includeFirst), then the tables read back and compared cell by cell.

use std::collections::BTreeMap;

use candlelake::providers::Timeframe;
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::json;

use crate::support::servers::{assert_query_has, oanda_server, serve_fixture};
use crate::support::{Workspace, at, backfill, by_time, fields, fixture, normalized, series};

/// The end of the three weeks the fixtures cover.
const END: &str = "2024-03-22T21:00:00Z";

/// The fixture's complete candles before `END`, as (time, [o, h, l, c, volume]).
fn expected(rel: &str) -> BTreeMap<DateTime<Utc>, [String; 5]> {
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
        .filter(|(t, _)| *t < at(END))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_past_5000_candles_keeps_weekend_gaps_and_aligns_4h_and_1d_to_utc() {
    let server = oanda_server("oanda/EUR_USD-M5.json").await;
    let ws = Workspace::oanda(&server);
    let three_weeks = backfill("oanda", "EUR_USD", "5m,4h,1d").range("2024-03-01", END);
    let summary = ws.run_ok(three_weeks).await;

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
        let fixed = [
            "price=M",
            "smooth=false",
            "dailyAlignment=0",
            "alignmentTimezone=UTC",
        ];
        assert_query_has(r, &fixed);
        let q = r.url.query().unwrap();
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
    let want = expected("oanda/EUR_USD-M5.json");
    assert_eq!(want.len(), 4576);
    assert_eq!(by_time(&rows), want, "every M5 candle, cell by cell");
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
    assert_eq!(eur["coverage"]["to"], END);

    let h4 = ws.rows(Timeframe::H4).await;
    assert_eq!(by_time(&h4), expected("oanda/EUR_USD-H4.json"));
    assert!(
        h4.iter()
            .all(|r| r.timestamp.hour() % 4 == 0 && r.timestamp.minute() == 0)
    );
    let d1 = ws.rows(Timeframe::D1).await;
    assert_eq!(by_time(&d1), expected("oanda/EUR_USD-D.json"));
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
    let server = oanda_server("oanda/EUR_USD-M5-forming.json").await;
    let ws = Workspace::oanda(&server);
    let hour =
        backfill("oanda", "EUR-USD", "5m").range("2024-03-21T10:00:00Z", "2024-03-21T11:00:00Z");
    let summary = ws.run_ok(hour).await;
    let eur = series(&summary, "EUR-USD", "5m");
    assert_eq!(
        fields(eur, &["records", "skipped"]),
        json!([11, 1]),
        "{eur}"
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
    let server = serve_fixture(401, "oanda/errors/401-unauthorized.json").await;
    let mut ws = Workspace::oanda(&server);
    let args = backfill("oanda", "EUR-USD,USD-JPY", "1h,1d").range("2024-03-01", "2024-03-08");

    ws.env.remove("OANDA_API_TOKEN");
    let out = ws.run_expect(&args, 1).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("OANDA_API_TOKEN is not set"), "{stderr}");
    assert!(server.received_requests().await.unwrap().is_empty());

    ws.set("OANDA_API_TOKEN", "practice-token-on-live");
    let summary = ws.run_json_expect(&args, 2).await;
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
