//! Listing and delisting dates: a backfill from 2015 of a pair first traded in 2023 finds its
//! first candle by bisection, records the time before as `before_listing` and never asks for it
//! again; a pair delisted mid-range ends there, `topup` asks nothing for it and succeeds, and
//! `status` and `gaps` say so.

use std::collections::BTreeMap;

use candlelake::providers::Timeframe;
use chrono::{DateTime, Duration, Utc};
use wiremock::MockServer;

use crate::support::synth::{PRODUCTS, candle, is_gap, listed_server};
use crate::support::{
    Args, Workspace, at, backfill, by_time, normalized, read_json, series, series_in,
};

/// Candle requests of `pair`, as the Unix seconds of their `start`.
async fn starts(server: &MockServer, pair: &str) -> Vec<i64> {
    let all = server.received_requests().await.unwrap();
    all.iter()
        .filter(|r| r.url.path().ends_with(&format!("/{pair}/candles")))
        .map(|r| {
            crate::support::servers::query(r, "start")
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

/// The synthetic candles of `pair` the table must hold over `[from, to)`: every valid one.
fn expected(pair: &str, from: i64, to: i64, g: i64) -> BTreeMap<DateTime<Utc>, [String; 5]> {
    (from..to)
        .step_by(g as usize)
        .filter_map(|t| {
            let body: serde_json::Value = serde_json::from_str(&candle(pair, t, g)?).unwrap();
            let s = |k: &str| normalized(body[k].as_str().unwrap());
            let values = [s("open"), s("high"), s("low"), s("close"), s("volume")];
            let valid = crate::support::synth::is_valid(t, g);
            valid.then(|| (DateTime::from_timestamp(t, 0).unwrap(), values))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_from_2015_finds_a_2023_listing_in_log_requests_and_never_asks_again() {
    let listed = at("2023-08-15T13:37:00Z").timestamp();
    let end = at("2023-08-15T20:00:00Z");
    let server = listed_server(vec![("SEI-USD", listed, i64::MAX)]).await;
    let ws = Workspace::synth(&server);
    let run = backfill("coinbase", "SEI-USD", "1m").range("2015-01-01", "2023-08-15T20:00:00Z");
    let summary = ws.run_ok(run.clone()).await;
    assert_eq!(series(&summary, "SEI-USD", "1m")["status"], "success");

    // Requests before the listing: at most 2·⌈log2(windows)⌉ + 4.
    let minutes = (end - at("2015-01-01T00:00:00Z")).num_minutes() as u64;
    let windows = minutes.div_ceil(300);
    let log2 = (u64::BITS - (windows - 1).leading_zeros()) as usize;
    let sent = starts(&server, "SEI-USD").await;
    let before = sent.iter().filter(|s| **s < listed).count();
    assert!(
        before <= 2 * log2 + 4,
        "{before} requests before the listing, {windows} windows"
    );
    println!(
        "{windows} windows: {before} requests before the listing, {} in all",
        sent.len()
    );

    // The table holds exactly the candles from the listing on.
    let first = (listed..).step_by(60).find(|t| !is_gap(*t, 60)).unwrap();
    let rows = ws.rows(Timeframe::M1).await;
    assert_eq!(
        by_time(&rows),
        expected("SEI-USD", listed, end.timestamp(), 60)
    );
    assert_eq!(rows.first().unwrap().timestamp.timestamp(), first);

    // The time before it is unreachable, before_listing.
    let mark = read_json(&ws.watermark("coinbase", "SEI-USD", "1m"));
    let first = DateTime::from_timestamp(first, 0).unwrap();
    assert_eq!(
        mark["unreachable"],
        serde_json::json!([{"from": "2015-01-01T00:00:00Z", "to": first.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "reason": "before_listing"}])
    );
    assert_eq!(
        mark["coverage"]["from"],
        first.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let status = ws.run_ok(Args::of(&["status", "--json"])).await;
    let line = series_in(&status["series"], "SEI-USD", "1m");
    assert_eq!(line["unreachable"][0]["reason"], "before_listing");

    // A rerun sends nothing for that part (nor for anything else: it is all covered).
    let again = ws.run_ok(run.clone()).await;
    assert_eq!(again["total_records"], 0);
    assert_eq!(starts(&server, "SEI-USD").await.len(), sent.len());
    // --retry-unreachable asks again: the first window before the listing is sent.
    let retry = run.arg("--retry-unreachable").arg("--dry-run");
    let plan = ws.run_ok(retry).await;
    assert_eq!(
        plan["series"][0]["ranges"][0]["from"],
        "2015-01-01T00:00:00Z"
    );
    assert!(
        !server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .any(|r| r.url.path() == PRODUCTS)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prepend_stops_at_the_listing() {
    let listed = at("2024-01-05T00:00:00Z").timestamp();
    let server = listed_server(vec![("SEI-USD", listed, i64::MAX)]).await;
    let ws = Workspace::synth(&server);
    ws.run_ok(backfill("coinbase", "SEI-USD", "1h").range("2024-02-01", "2024-03-01"))
        .await;
    let before = starts(&server, "SEI-USD").await.len();
    ws.run_ok(backfill("coinbase", "SEI-USD", "1h").range("2022-01-01", "2024-03-01"))
        .await;
    // Back from February: 300-hour windows to the listing, then one empty window, no more.
    // Windows back from 2024-02-01: three with candles, then an empty one; up to three more may
    // already be in flight (four windows are fetched at once).
    let prepend = starts(&server, "SEI-USD").await.len() - before;
    assert!((4..=7).contains(&prepend), "{prepend} prepend requests");
    let rows = ws.rows(Timeframe::H1).await;
    let end = at("2024-03-01T00:00:00Z").timestamp();
    assert_eq!(by_time(&rows), expected("SEI-USD", listed, end, 3600));
    let mark = read_json(&ws.watermark("coinbase", "SEI-USD", "1h"));
    assert_eq!(mark["unreachable"][0]["reason"], "before_listing");
    assert_eq!(mark["unreachable"][0]["from"], "2022-01-01T00:00:00Z");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delisted_pair_ends_there_and_topup_asks_nothing_for_it() {
    let t = |s: &str| at(s).timestamp();
    let delisted = t("2024-01-10T12:00:00Z");
    let lives = vec![
        ("OLD-USD", t("2024-01-01T00:00:00Z"), delisted),
        ("BTC-USD", t("2024-01-01T00:00:00Z"), i64::MAX),
    ];
    let server = listed_server(lives).await;
    let ws = Workspace::synth(&server);
    let summary = ws
        .run_ok(backfill("coinbase", "OLD-USD,BTC-USD", "1h").range("2024-01-01", "2024-01-20"))
        .await;
    assert_eq!(series(&summary, "OLD-USD", "1h")["status"], "success");
    let rows: Vec<_> = ws
        .rows(Timeframe::H1)
        .await
        .into_iter()
        .filter(|r| r.asset_pair == "OLD-USD")
        .collect();
    assert_eq!(
        by_time(&rows),
        expected("OLD-USD", t("2024-01-01T00:00:00Z"), delisted, 3600)
    );

    // topup: the list says OLD-USD is delisted; nothing is asked for it, and it succeeds.
    let old_before = starts(&server, "OLD-USD").await.len();
    let btc_before = starts(&server, "BTC-USD").await.len();
    let topup = ws.run_ok(Args::of(&["topup"])).await;
    assert_eq!(series(&topup, "OLD-USD", "1h")["status"], "success");
    assert_eq!(series(&topup, "OLD-USD", "1h")["records"], 0);
    assert_eq!(starts(&server, "OLD-USD").await.len(), old_before);
    assert!(
        starts(&server, "BTC-USD").await.len() > btc_before,
        "BTC-USD is topped up"
    );
    // A second topup the same day uses the cached list.
    ws.run_ok(Args::of(&["topup"])).await;
    assert_eq!(starts(&server, "OLD-USD").await.len(), old_before);
    let lists = server.received_requests().await.unwrap();
    assert_eq!(lists.iter().filter(|r| r.url.path() == PRODUCTS).count(), 1);

    // status says delisted; gaps reports nothing after the last candle.
    let status = ws.run_ok(Args::of(&["status", "--json"])).await;
    assert_eq!(
        series_in(&status["series"], "OLD-USD", "1h")["listing"],
        "delisted"
    );
    assert!(
        series_in(&status["series"], "BTC-USD", "1h")
            .get("listing")
            .is_none()
    );
    // A delisted pair is never stale: the nightly health check stays green.
    let check = ["status", "--pairs", "OLD-USD", "--fail-if-stale", "1h"];
    ws.run_expect(Args::of(&check), 0).await;
    let text = ws.run_expect(Args::of(&["status"]), 0).await;
    assert!(
        String::from_utf8_lossy(&text.stdout)
            .contains("delisted at the provider: topup asks nothing more for it")
    );
    let gaps = ws
        .run_ok(Args::of(&["gaps", "--json", "--pairs", "OLD-USD"]))
        .await;
    let old = &gaps["series"][0];
    let last = rows.last().unwrap().timestamp + Duration::hours(1);
    assert_eq!(
        old["to"],
        last.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    for gap in old["gaps"].as_array().unwrap() {
        assert!(
            at(gap["to"].as_str().unwrap()).timestamp() <= delisted,
            "{gap}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_published_listing_date_in_the_cached_list_clamps_with_no_request_before_it() {
    let listed = at("2024-01-05T00:00:00Z").timestamp();
    let server = listed_server(vec![("SEI-USD", listed, i64::MAX)]).await;
    let ws = Workspace::synth(&server);
    let list = serde_json::json!({
        "provider": "coinbase",
        "fetched_at": "2024-01-01T00:00:00Z",
        "instruments": [{"asset_pair": "SEI-USD", "status": "online", "kind": "spot",
                         "name": null, "listed": "2024-01-05", "delisted": null}],
    });
    let path = ws.state().join("instruments/coinbase.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, list.to_string()).unwrap();
    let run = backfill("coinbase", "SEI-USD", "1h").range("2022-01-01", "2024-01-20");
    let plan = ws.run_ok(run.clone().arg("--dry-run")).await;
    assert_eq!(
        plan["series"][0]["ranges"][0]["from"],
        "2024-01-05T00:00:00Z"
    );
    ws.run_ok(run).await;
    let sent = starts(&server, "SEI-USD").await;
    assert!(sent.iter().all(|s| *s >= listed), "{sent:?}");
    assert_eq!(
        sent.len(),
        2,
        "2024-01-05 .. 2024-01-20 is two 300-hour windows"
    );
    let rows = ws.rows(Timeframe::H1).await;
    let end = at("2024-01-20T00:00:00Z").timestamp();
    assert_eq!(by_time(&rows), expected("SEI-USD", listed, end, 3600));
    let mark = read_json(&ws.watermark("coinbase", "SEI-USD", "1h"));
    assert_eq!(
        mark["unreachable"],
        serde_json::json!([{"from": "2022-01-01T00:00:00Z", "to": "2024-01-05T00:00:00Z", "reason": "before_listing"}])
    );
    assert_eq!(
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == PRODUCTS)
            .count(),
        0,
        "the cached list is used as it is: a plain pair asks for no list"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pair_with_no_candle_in_the_range_costs_log_requests_and_is_no_data() {
    let server = listed_server(vec![]).await;
    let ws = Workspace::synth(&server);
    let summary = ws
        .run_ok(backfill("coinbase", "SEI-USD", "1m").range("2015-01-01", "2023-08-15T20:00:00Z"))
        .await;
    assert_eq!(series(&summary, "SEI-USD", "1m")["status"], "no_data");
    // 15115 windows: the first, up to three in flight, and ⌈log2⌉ = 14 probes.
    let sent = starts(&server, "SEI-USD").await.len();
    assert!(sent <= 2 * 14 + 4, "{sent} requests");
    assert!(
        !ws.watermark("coinbase", "SEI-USD", "1m").exists(),
        "nothing is covered"
    );
}
