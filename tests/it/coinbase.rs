//! The real Coinbase client against a local server serving fixture pages, end to end through
//! the binary, then the Delta table read back and compared cell by cell.

use std::collections::BTreeMap;

use candlelake::providers::Timeframe;
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    Workspace, assert_conservation, at, fixture, fixture_candles, normalized, series,
};

const CANDLES: &str = "/api/v3/brokerage/market/products";

fn page(pair: &str, start: DateTime<Utc>, granularity: &str) -> wiremock::MockBuilder {
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

/// Pages of the 2024-01-01 .. 2024-01-29 1h range: windows start at 0 h, 300 h and 600 h.
async fn serve_january(server: &MockServer) {
    let t0 = at("2024-01-01T00:00:00Z");
    let w = |k: i64| t0 + Duration::hours(300 * k);
    page("BTC-USD", w(0), "ONE_HOUR")
        .respond_with(ok("coinbase/backfill/BTC-USD-1h-page1.json"))
        .mount(server)
        .await;
    // A 429 with Retry-After first, then the page.
    page("BTC-USD", w(1), "ONE_HOUR")
        .respond_with(
            error(429, "coinbase/errors/429-rate-limited.json").insert_header("retry-after", "1"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
    page("BTC-USD", w(1), "ONE_HOUR")
        .respond_with(ok("coinbase/backfill/BTC-USD-1h-page2.json"))
        .mount(server)
        .await;
    // The last page answers at 23:30, so the 23:00 bucket is still forming.
    page("BTC-USD", w(2), "ONE_HOUR")
        .respond_with(
            ok("coinbase/backfill/BTC-USD-1h-page3.json")
                .insert_header("date", "Sun, 28 Jan 2024 23:30:00 GMT"),
        )
        .mount(server)
        .await;
    // A 500 first, then the page.
    page("ETH-USD", w(0), "ONE_HOUR")
        .respond_with(error(500, "coinbase/errors/500-internal.json"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
    for k in 0..3 {
        page("ETH-USD", w(k), "ONE_HOUR")
            .respond_with(ok(&format!(
                "coinbase/backfill/ETH-USD-1h-page{}.json",
                k + 1
            )))
            .mount(server)
            .await;
    }
    page("ETH-USD", t0 - Duration::hours(24), "ONE_HOUR")
        .respond_with(ok("coinbase/backfill/ETH-USD-1h-prepend.json"))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{CANDLES}/NOPE-USD/candles")))
        .respond_with(error(404, "coinbase/errors/404-not-found.json"))
        .mount(server)
        .await;
}

async fn requests_for(server: &MockServer, pair: &str) -> Vec<String> {
    let mut starts: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().contains(&format!("/{pair}/")))
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "start")
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        })
        .collect();
    starts.sort();
    starts
}

/// The expected rows of a series from fixture pages in fetch order: the last copy of each open
/// time in wire order wins, and candles at or after `end` are left out.
fn expected(pages: &[&str], end: DateTime<Utc>) -> BTreeMap<DateTime<Utc>, [String; 5]> {
    let mut rows = BTreeMap::new();
    for p in pages {
        for (t, values) in fixture_candles(p) {
            if t < end {
                rows.insert(t, values.map(|v| normalized(&v)));
            }
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn backfills_compares_cell_by_cell_and_reruns_exactly() {
    let server = MockServer::start().await;
    serve_january(&server).await;
    let ws = Workspace::new(&server.uri());
    let args = [
        "backfill",
        "--provider",
        "coinbase",
        "--pairs",
        "BTC-USD,ETH-USD,NOPE-USD",
        "--timeframes",
        "1h",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-29",
    ];

    let (code, summary) = ws.run_json(&args).await;
    assert_eq!(
        code, 2,
        "one failing series makes the run exit 2: {summary}"
    );
    assert_eq!(summary["status"], "partial");
    assert_conservation(&summary);
    let btc = series(&summary, "BTC-USD", "1h");
    assert_eq!(btc["status"], "success", "{btc}");
    // 301 + 301 + 71 fetched; the stale in-page copy and the page-edge repeat are duplicates;
    // the forming 23:00 bucket is skipped.
    assert_eq!(
        (
            btc["fetched"].as_u64(),
            btc["duplicates"].as_u64(),
            btc["skipped"].as_u64()
        ),
        (Some(673), Some(2), Some(1))
    );
    assert_eq!(btc["records"], 670);
    assert_eq!(
        btc["coverage"]["to"], "2024-01-28T23:00:00Z",
        "coverage stops before the forming candle"
    );
    let eth = series(&summary, "ETH-USD", "1h");
    assert_eq!(
        (eth["status"].as_str(), eth["records"].as_u64()),
        (Some("success"), Some(672))
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

    // Every cell of every candle.
    let rows = ws.rows(Timeframe::H1).await;
    let ingestion_id = summary["ingestion_id"].as_str().unwrap();
    for (pair, pages, end) in [
        (
            "BTC-USD",
            [
                "coinbase/backfill/BTC-USD-1h-page1.json",
                "coinbase/backfill/BTC-USD-1h-page2.json",
                "coinbase/backfill/BTC-USD-1h-page3.json",
            ],
            at("2024-01-28T23:00:00Z"),
        ),
        (
            "ETH-USD",
            [
                "coinbase/backfill/ETH-USD-1h-page1.json",
                "coinbase/backfill/ETH-USD-1h-page2.json",
                "coinbase/backfill/ETH-USD-1h-page3.json",
            ],
            at("2024-01-29T00:00:00Z"),
        ),
    ] {
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

    // A second run over the same range: nothing written, the forming bucket asked again.
    let before = requests_for(&server, "BTC-USD").await.len();
    let (_, again) = ws.run_json(&args).await;
    assert_eq!(again["total_records"], 0, "{again}");
    assert_eq!(
        ws.rows(Timeframe::H1).await.len(),
        rows.len(),
        "no duplicate"
    );
    assert_eq!(
        requests_for(&server, "BTC-USD").await.len() - before,
        1,
        "only the window past coverage"
    );

    // A wider range: only the uncovered day before is fetched, and prepended.
    let eth_before = requests_for(&server, "ETH-USD").await;
    let (code, wider) = ws
        .run_json(&[
            "backfill",
            "--provider",
            "coinbase",
            "--pairs",
            "ETH-USD",
            "--timeframes",
            "1h",
            "--start",
            "2023-12-31",
            "--end",
            "2024-01-29",
        ])
        .await;
    assert_eq!(code, 0, "{wider}");
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
    let (code, summary) = ws
        .run_json(&[
            "backfill",
            "--provider",
            "coinbase",
            "--pairs",
            "BTC-USD",
            "--timeframes",
            "4h",
            "--start",
            "2024-02-01",
            "--end",
            "2024-02-11",
        ])
        .await;
    assert_eq!(code, 0, "{summary}");
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
    let want = expected(&[rel], at("2024-02-11T00:00:00Z"));
    let got: BTreeMap<_, _> = rows
        .iter()
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
        .collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_body_is_retried_and_a_too_long_retry_after_fails_only_its_series() {
    let server = MockServer::start().await;
    let rel = "coinbase/backfill/BTC-USD-4h.json";
    let truncated: String = fixture(rel).chars().take(500).collect();
    page("BTC-USD", at("2024-02-01T00:00:00Z"), "FOUR_HOUR")
        .respond_with(ResponseTemplate::new(200).set_body_string(truncated))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    page("BTC-USD", at("2024-02-01T00:00:00Z"), "FOUR_HOUR")
        .respond_with(ok(rel))
        .mount(&server)
        .await;
    page("ETH-USD", at("2024-02-01T00:00:00Z"), "FOUR_HOUR")
        .respond_with(
            error(429, "coinbase/errors/429-rate-limited.json")
                .insert_header("retry-after", "3600"),
        )
        .mount(&server)
        .await;
    let ws = Workspace::new(&server.uri());
    let (code, summary) = ws
        .run_json(&[
            "backfill",
            "--provider",
            "coinbase",
            "--pairs",
            "BTC-USD,ETH-USD",
            "--timeframes",
            "4h",
            "--start",
            "2024-02-01",
            "--end",
            "2024-02-11",
        ])
        .await;
    assert_eq!(code, 2, "{summary}");
    let btc = series(&summary, "BTC-USD", "4h");
    assert_eq!(
        (btc["status"].as_str(), btc["records"].as_u64()),
        (Some("success"), Some(60))
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
