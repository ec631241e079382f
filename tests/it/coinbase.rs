//! The real Coinbase client against a local server serving fixture pages, end to end through
//! the binary, then the Delta table read back and compared cell by cell.

use std::collections::BTreeMap;

use candlelake::providers::Timeframe;
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use crate::support::servers::query;
use crate::support::{
    Workspace, assert_conservation, at, backfill, by_time, fields, fixture, fixture_candles,
    normalized, series,
};

const CANDLES: &str = "/api/v3/brokerage/market/products";

fn page(pair: &str, start: DateTime<Utc>, granularity: &str) -> MockBuilder {
    Mock::given(method("GET"))
        .and(path(format!("{CANDLES}/{pair}/candles")))
        .and(query_param("start", start.timestamp().to_string()))
        .and(query_param("granularity", granularity))
}

fn ok(rel: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_string(fixture(rel))
        .insert_header("content-type", "application/json")
}

fn error(status: u16, rel: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_string(fixture(rel))
}

fn rate_limited(retry_after: &str) -> ResponseTemplate {
    error(429, "coinbase/errors/429-rate-limited.json").insert_header("retry-after", retry_after)
}

/// Mounts `answer` for `page`; with `first`, only for the first such request, ahead of the
/// others.
async fn mount(server: &MockServer, page: MockBuilder, answer: ResponseTemplate, first: bool) {
    let mock = page.respond_with(answer);
    let mock = if first {
        mock.up_to_n_times(1).with_priority(1)
    } else {
        mock
    };
    mock.mount(server).await;
}

/// Pages of the 2024-01-01 .. 2024-01-29 1h range: windows start at 0 h, 300 h and 600 h.
async fn serve_january(server: &MockServer) {
    let t0 = at("2024-01-01T00:00:00Z");
    let w = |pair, k: i64| page(pair, t0 + Duration::hours(300 * k), "ONE_HOUR");
    let pages = |pair| [1, 2, 3].map(|k| ok(&format!("coinbase/backfill/{pair}-1h-page{k}.json")));
    let [btc1, btc2, btc3] = pages("BTC-USD");
    let [eth1, eth2, eth3] = pages("ETH-USD");
    // TC: (request, answer, only the first request)
    let answers = [
        (w("BTC-USD", 0), btc1, false),
        // A 429 with Retry-After first, then the page.
        (w("BTC-USD", 1), rate_limited("1"), true),
        (w("BTC-USD", 1), btc2, false),
        // The last page answers at 23:30, so the 23:00 bucket is still forming.
        (
            w("BTC-USD", 2),
            btc3.insert_header("date", "Sun, 28 Jan 2024 23:30:00 GMT"),
            false,
        ),
        // A 500 first, then the page.
        (
            w("ETH-USD", 0),
            error(500, "coinbase/errors/500-internal.json"),
            true,
        ),
        (w("ETH-USD", 0), eth1, false),
        (w("ETH-USD", 1), eth2, false),
        (w("ETH-USD", 2), eth3, false),
        (
            page("ETH-USD", t0 - Duration::hours(24), "ONE_HOUR"),
            ok("coinbase/backfill/ETH-USD-1h-prepend.json"),
            false,
        ),
        (
            Mock::given(method("GET")).and(path(format!("{CANDLES}/NOPE-USD/candles"))),
            error(404, "coinbase/errors/404-not-found.json"),
            false,
        ),
    ];
    for (request, answer, first) in answers {
        mount(server, request, answer, first).await;
    }
}

async fn requests_for(server: &MockServer, pair: &str) -> Vec<String> {
    let mut starts: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().contains(&format!("/{pair}/")))
        .map(|r| query(r, "start").unwrap_or_default())
        .collect();
    starts.sort();
    starts
}

/// The expected rows of a series from fixture pages in fetch order: the last copy of each open
/// time in wire order wins, and candles at or after `end` are left out.
fn expected(pages: &[impl AsRef<str>], end: DateTime<Utc>) -> BTreeMap<DateTime<Utc>, [String; 5]> {
    let mut rows = BTreeMap::new();
    for p in pages {
        for (t, values) in fixture_candles(p.as_ref()) {
            if t < end {
                rows.insert(t, values.map(|v| normalized(&v)));
            }
        }
    }
    rows
}

/// The January backfill of BTC-USD, ETH-USD and the unknown NOPE-USD, run once.
async fn january() -> (MockServer, Workspace, serde_json::Value) {
    let server = MockServer::start().await;
    serve_january(&server).await;
    let ws = Workspace::new(&server.uri());
    let (code, summary) = ws.run_json(january_args()).await;
    assert_eq!(
        code, 2,
        "one failing series makes the run exit 2: {summary}"
    );
    (server, ws, summary)
}

fn january_args() -> crate::support::Args {
    backfill("coinbase", "BTC-USD,ETH-USD,NOPE-USD", "1h").range("2024-01-01", "2024-01-29")
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_dedupes_skips_the_forming_candle_and_fails_only_the_unknown_pair() {
    let (server, _ws, summary) = january().await;
    assert_eq!(summary["status"], "partial");
    assert_conservation(&summary);
    let btc = series(&summary, "BTC-USD", "1h");
    assert_eq!(btc["status"], "success", "{btc}");
    // 301 + 301 + 71 fetched; the stale in-page copy and the page-edge repeat are duplicates;
    // the forming 23:00 bucket is skipped.
    assert_eq!(
        fields(btc, &["fetched", "duplicates", "skipped"]),
        json!([673, 2, 1]),
        "{btc}"
    );
    assert_eq!(btc["records"], 670);
    assert_eq!(
        btc["coverage"]["to"], "2024-01-28T23:00:00Z",
        "coverage stops before the forming candle"
    );
    let eth = series(&summary, "ETH-USD", "1h");
    assert_eq!(
        fields(eth, &["status", "records"]),
        json!(["success", 672]),
        "{eth}"
    );
    let nope = series(&summary, "NOPE-USD", "1h");
    assert_eq!(nope["status"], "error");
    assert!(
        nope["error"].as_str().unwrap().contains("NOPE-USD"),
        "{nope}"
    );
    let nope_requests = requests_for(&server, "NOPE-USD").await;
    let mut unique = nope_requests.clone();
    unique.dedup();
    assert_eq!(unique, nope_requests, "a 404 is not retried");
    assert_eq!(
        requests_for(&server, "BTC-USD").await.len(),
        4,
        "three pages and one retry after the 429"
    );
    assert_eq!(
        requests_for(&server, "ETH-USD").await.len(),
        4,
        "three pages and one retry after the 500"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_cell_of_every_candle_is_the_last_wire_copy() {
    let (_server, ws, summary) = january().await;
    let rows = ws.rows(Timeframe::H1).await;
    let ingestion_id = summary["ingestion_id"].as_str().unwrap();
    for (pair, end) in [
        ("BTC-USD", at("2024-01-28T23:00:00Z")),
        ("ETH-USD", at("2024-01-29T00:00:00Z")),
    ] {
        let pages = [1, 2, 3].map(|k| format!("coinbase/backfill/{pair}-1h-page{k}.json"));
        let want: Vec<_> = expected(&pages, end).into_iter().collect();
        let got: Vec<_> = rows.iter().filter(|r| r.asset_pair == pair).collect();
        assert_eq!(got.len(), want.len(), "{pair}: row count");
        for (row, (t, [open, high, low, close, volume])) in got.iter().zip(&want) {
            assert_eq!(&row.timestamp, t);
            assert_eq!(
                [&row.open, &row.high, &row.low, &row.close, &row.volume],
                [open, high, low, close, volume],
                "{pair} {t}"
            );
            assert_eq!(
                (
                    row.timeframe.as_str(),
                    row.volume_kind.as_str(),
                    row.source_provider.as_str()
                ),
                ("1h", "base", "coinbase")
            );
            assert_eq!(
                (row.ingestion_id.as_str(), row.is_mock),
                (ingestion_id, false)
            );
            assert_eq!(row.partition_asset_pair, pair);
            assert_eq!(
                row.partition_date,
                t.date_naive().with_day(1).unwrap(),
                "month partitions for 1h"
            );
            assert!(
                row.extracted_at > at("2026-01-01T00:00:00Z"),
                "extracted by the local clock"
            );
        }
    }
    let kept = rows
        .iter()
        .find(|r| r.asset_pair == "BTC-USD" && r.timestamp == at("2024-01-05T10:00:00Z"))
        .unwrap();
    assert_ne!(
        kept.volume, "0.5",
        "the last copy in wire order wins over the stale one"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_writes_nothing_and_asks_only_past_the_coverage() {
    let (server, ws, _) = january().await;
    let rows = ws.rows(Timeframe::H1).await.len();
    // The forming bucket is asked again.
    let before = requests_for(&server, "BTC-USD").await.len();
    let (_, again) = ws.run_json(january_args()).await;
    assert_eq!(again["total_records"], 0, "{again}");
    assert_eq!(ws.rows(Timeframe::H1).await.len(), rows, "no duplicate");
    assert_eq!(
        requests_for(&server, "BTC-USD").await.len() - before,
        1,
        "only the window past coverage"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wider_range_fetches_and_prepends_only_the_uncovered_day() {
    let (server, ws, _) = january().await;
    let eth_before = requests_for(&server, "ETH-USD").await;
    let wider = backfill("coinbase", "ETH-USD", "1h").range("2023-12-31", "2024-01-29");
    let wider = ws.run_ok(wider).await;
    let eth_after = requests_for(&server, "ETH-USD").await;
    assert_eq!(eth_after.len() - eth_before.len(), 1);
    assert!(eth_after.contains(&at("2023-12-31T00:00:00Z").timestamp().to_string()));
    let eth = series(&wider, "ETH-USD", "1h");
    assert_eq!(
        (eth["records"].as_u64(), eth["coverage"]["from"].as_str()),
        (Some(24), Some("2023-12-31T00:00:00Z"))
    );
    let eth_rows: Vec<_> = ws
        .rows(Timeframe::H1)
        .await
        .into_iter()
        .filter(|r| r.asset_pair == "ETH-USD")
        .collect();
    assert_eq!(eth_rows.len(), 696);
    let mut times: Vec<_> = eth_rows.iter().map(|r| r.timestamp).collect();
    times.dedup();
    assert_eq!(times.len(), 696, "unique open times");
}

#[tokio::test(flavor = "multi_thread")]
async fn four_hour_buckets_start_on_utc_hours_divisible_by_four() {
    let rel = "coinbase/backfill/BTC-USD-4h.json";
    let hours: std::collections::BTreeSet<u32> =
        fixture_candles(rel).iter().map(|(t, _)| t.hour()).collect();
    assert_eq!(
        hours.into_iter().collect::<Vec<_>>(),
        vec![0, 4, 8, 12, 16, 20],
        "the fixture itself"
    );

    let server = MockServer::start().await;
    page("BTC-USD", at("2024-02-01T00:00:00Z"), "FOUR_HOUR")
        .respond_with(ok(rel))
        .mount(&server)
        .await;
    let ws = Workspace::new(&server.uri());
    let ten_days = backfill("coinbase", "BTC-USD", "4h").range("2024-02-01", "2024-02-11");
    ws.run_ok(ten_days).await;
    let rows = ws.rows(Timeframe::H4).await;
    assert_eq!(rows.len(), 60);
    assert!(
        rows.iter()
            .all(|r| r.timestamp.hour() % 4 == 0 && r.timestamp.minute() == 0)
    );
    assert!(
        rows.iter()
            .all(|r| r.partition_date.to_string() == "2024-01-01"),
        "year partitions for 4h"
    );
    assert_eq!(by_time(&rows), expected(&[rel], at("2024-02-11T00:00:00Z")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_body_is_retried_and_a_too_long_retry_after_fails_only_its_series() {
    let server = MockServer::start().await;
    let rel = "coinbase/backfill/BTC-USD-4h.json";
    let truncated: String = fixture(rel).chars().take(500).collect();
    let february = |pair| page(pair, at("2024-02-01T00:00:00Z"), "FOUR_HOUR");
    let broken = ResponseTemplate::new(200).set_body_string(truncated);
    mount(&server, february("BTC-USD"), broken, true).await;
    mount(&server, february("BTC-USD"), ok(rel), false).await;
    mount(&server, february("ETH-USD"), rate_limited("3600"), false).await;
    let ws = Workspace::new(&server.uri());
    let ten_days = backfill("coinbase", "BTC-USD,ETH-USD", "4h").range("2024-02-01", "2024-02-11");
    let summary = ws.run_json_expect(ten_days, 2).await;
    let btc = series(&summary, "BTC-USD", "4h");
    assert_eq!(
        fields(btc, &["status", "records"]),
        json!(["success", 60]),
        "{btc}"
    );
    assert_eq!(
        requests_for(&server, "BTC-USD").await.len(),
        2,
        "the broken body was asked again once"
    );
    let eth = series(&summary, "ETH-USD", "4h");
    assert_eq!(eth["status"], "error");
    assert!(eth["error"].as_str().unwrap().contains("3600 s"), "{eth}");
    assert_eq!(
        requests_for(&server, "ETH-USD").await.len(),
        1,
        "no retry past the Retry-After cap"
    );
    assert_eq!(ws.rows(Timeframe::H4).await.len(), 60);
}
