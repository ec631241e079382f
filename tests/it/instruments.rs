//! `instruments` against local servers in each provider's real list format, the list cached in
//! the state dir, and `--pairs` patterns resolved against it: exactly the matching pairs are
//! backfilled, and a pattern that names nothing stops the run before any candle request.

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::servers::{AV_KEY, av_server, serve};
use crate::support::synth::{PRODUCTS, listed_server};
use crate::support::{Args, Workspace, at, backfill, fixture, read_json, series, stdout_json};

/// Requests the server received whose path is exactly `p`.
async fn sent_to(server: &MockServer, p: &str) -> usize {
    let all = server.received_requests().await.unwrap();
    all.iter().filter(|r| r.url.path() == p).count()
}

/// Candle requests the server received.
async fn candle_requests(server: &MockServer) -> usize {
    let all = server.received_requests().await.unwrap();
    all.iter()
        .filter(|r| r.url.path().ends_with("/candles"))
        .count()
}

/// (asset_pair, status) of every line of an `instruments --json` report.
fn listed(report: &serde_json::Value) -> Vec<(String, String)> {
    report["instruments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let s = |k: &str| i[k].as_str().unwrap().to_string();
            (s("asset_pair"), s("status"))
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(p, s)| (p.to_string(), s.to_string()))
        .collect()
}

const COINBASE_ONLINE: [(&str, &str); 5] = [
    ("BTC-USD", "online"),
    ("ETH-USD", "online"),
    ("SEI-USD", "online"),
    ("BTC-EUR", "online"),
    ("ETH-BTC", "online"),
];

#[tokio::test(flavor = "multi_thread")]
async fn coinbase_lists_online_products_then_all_from_one_cached_request() {
    let server = listed_server(vec![]).await;
    let ws = Workspace::synth(&server);
    let cmd = Args::of(&["instruments", "--provider", "coinbase"]);
    let report = ws.run_ok(cmd.clone()).await;
    assert_eq!(listed(&report), pairs(&COINBASE_ONLINE));
    assert_eq!(report["cached"], false);
    // --all adds the offline and the delisted product, from the cached list.
    let all = ws.run_ok(cmd.clone().arg("--all")).await;
    let mut everything = pairs(&COINBASE_ONLINE);
    everything.extend(pairs(&[("MKR-USD", "offline"), ("OLD-USD", "delisted")]));
    assert_eq!(listed(&all), everything);
    assert_eq!(all["cached"], true);
    assert_eq!(
        sent_to(&server, PRODUCTS).await,
        1,
        "one list request a day"
    );
    let cached = read_json(&ws.state().join("instruments/coinbase.json"));
    assert_eq!(cached["instruments"].as_array().unwrap().len(), 7);
    // Text a person can scan: one line per product.
    let text = ws.run_expect(cmd.clone(), 0).await;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("coinbase: 5 instruments"), "{text}");
    assert!(text.contains("  SEI-USD        online    spot"), "{text}");
    // --refresh asks again.
    ws.run_ok(cmd.arg("--refresh")).await;
    assert_eq!(sent_to(&server, PRODUCTS).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_product_list_that_fails_is_a_clear_error_and_a_fresh_cache_needs_no_request() {
    // TC: (answer, part of stderr)
    let cases = [
        (
            ResponseTemplate::new(503).set_body_string("{\"error\":\"unavailable\"}"),
            "server error 503",
        ),
        (
            ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"),
            "cannot read",
        ),
    ];
    for (i, (answer, says)) in cases.into_iter().enumerate() {
        let server = serve(answer).await;
        let ws = Workspace::new(&server.uri()).with("CANDLELAKE_RETRY_BASE_MS", "1");
        let out = ws
            .run_expect(["instruments", "--provider", "coinbase"], 2)
            .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("could not get the coinbase instrument list after 4 tries"),
            "TC{i}: {stderr}"
        );
        assert!(stderr.contains(says), "TC{i}: {stderr}");
        assert!(
            !ws.state().join("instruments/coinbase.json").exists(),
            "TC{i}"
        );
    }
    // A list cached less than a day ago is used with the provider down.
    let up = listed_server(vec![]).await;
    let ws = Workspace::synth(&up);
    ws.run_ok(["instruments", "--provider", "coinbase"]).await;
    let mut down = Workspace::offline();
    down.env = ws.env.clone();
    down.set("CANDLELAKE_COINBASE_URL", "http://127.0.0.1:9");
    let report = down.run_ok(["instruments", "--provider", "coinbase"]).await;
    assert_eq!(report["cached"], true);
    assert_eq!(listed(&report).len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn oanda_lists_the_account_instruments_and_needs_the_account() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3/accounts/101-004-1234567-001/instruments"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(fixture("oanda/instruments/account-instruments.json")),
        )
        .mount(&server)
        .await;
    let ws = Workspace::oanda(&server);
    let out = ws
        .run_expect(["instruments", "--provider", "oanda"], 1)
        .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("CANDLELAKE_OANDA_ACCOUNT"));
    assert_eq!(server.received_requests().await.unwrap().len(), 0);
    let ws = ws.with("CANDLELAKE_OANDA_ACCOUNT", "101-004-1234567-001");
    let report = ws
        .run_ok(["instruments", "--provider", "oanda", "--all"])
        .await;
    let all = ["EUR-USD", "USD-JPY", "EUR-GBP", "XAU-USD", "SPX500-USD"];
    assert_eq!(listed(&report), pairs(&all.map(|p| (p, "online"))));
    let sent = &server.received_requests().await.unwrap()[0];
    let auth = sent.headers.get("authorization").unwrap().to_str().unwrap();
    assert!(auth.ends_with(crate::support::servers::OANDA_TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn alphavantage_lists_tickers_with_dates_and_delisted_ones_with_all() {
    let server = av_server(&[(
        "LISTING_STATUS",
        &[
            "instruments/LISTING_STATUS-active.csv",
            "instruments/LISTING_STATUS-delisted.csv",
        ],
    )])
    .await;
    for list in ["physical_currency_list", "digital_currency_list"] {
        Mock::given(method("GET"))
            .and(path(format!("/{list}/")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_string(fixture(&format!("alphavantage/instruments/{list}.csv"))),
            )
            .with_priority(1)
            .mount(&server)
            .await;
    }
    let ws = Workspace::alphavantage(&server);
    let report = ws
        .run_ok(["instruments", "--provider", "alphavantage", "--all"])
        .await;
    let line = |pair: &str| {
        let all = report["instruments"].as_array().unwrap();
        let i = all.iter().find(|i| i["asset_pair"] == pair).unwrap();
        [&i["status"], &i["kind"], &i["listed"], &i["delisted"]]
            .map(|v| v.to_string())
            .join(" ")
    };
    assert_eq!(line("IBM"), r#""online" "stock" "1962-01-02" null"#);
    assert_eq!(
        line("AAAP"),
        r#""delisted" "stock" "2015-11-11" "2018-02-19""#
    );
    assert_eq!(line("EUR"), r#""online" "physical_currency" null null"#);
    assert_eq!(line("SEI"), r#""online" "digital_currency" null null"#);
    assert_eq!(listed(&report).len(), 14);
    let online = ws
        .run_ok(["instruments", "--provider", "alphavantage"])
        .await;
    assert_eq!(
        listed(&online).len(),
        12,
        "the two delisted tickers are left out"
    );
    // The key never lands in the cached list.
    let cached = std::fs::read_to_string(ws.state().join("instruments/alphavantage.json")).unwrap();
    assert!(!cached.contains(AV_KEY));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pattern_backfills_exactly_the_matching_pairs() {
    let t = |s: &str| at(s).timestamp();
    let life = (t("2024-01-01T00:00:00Z"), t("2030-01-01T00:00:00Z"));
    let lives = [
        "BTC-USD", "ETH-USD", "SEI-USD", "BTC-EUR", "MKR-USD", "OLD-USD",
    ]
    .map(|p| (p, life.0, life.1))
    .to_vec();
    let server = listed_server(lives).await;
    let ws = Workspace::synth(&server);
    let run = backfill("coinbase", "*-usd", "1h").range("2024-01-01", "2024-01-03");
    let plan = ws.run_ok(run.clone().arg("--dry-run")).await;
    assert_eq!(plan["patterns"][0]["pattern"], "*-USD");
    assert_eq!(
        plan["patterns"][0]["pairs"],
        serde_json::json!(["BTC-USD", "ETH-USD", "SEI-USD"]),
        "online USD pairs only: MKR-USD is offline, OLD-USD delisted"
    );
    assert_eq!(
        candle_requests(&server).await,
        0,
        "a dry run sends no candle request"
    );
    let out = ws.run(run.global(&["--output", "json"])).await;
    assert_eq!(out.status.code(), Some(0));
    let logged = String::from_utf8_lossy(&out.stderr);
    let names = "--pairs '*-USD' names 3 pair(s): BTC-USD, ETH-USD, SEI-USD";
    assert!(logged.contains(names), "the plan names the pairs: {logged}");
    let summary = stdout_json(&out);
    let mut done: Vec<&str> = summary["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["asset_pair"].as_str().unwrap())
        .collect();
    done.sort();
    assert_eq!(done, ["BTC-USD", "ETH-USD", "SEI-USD"]);
    let rows = ws.rows(candlelake::providers::Timeframe::H1).await;
    let mut held: Vec<&str> = rows.iter().map(|r| r.asset_pair.as_str()).collect();
    held.dedup();
    held.sort();
    held.dedup();
    assert_eq!(held, ["BTC-USD", "ETH-USD", "SEI-USD"]);
    assert_eq!(series(&summary, "SEI-USD", "1h")["status"], "success");
    assert_eq!(
        sent_to(&server, PRODUCTS).await,
        1,
        "the dry run cached the list"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pattern_that_names_nothing_is_exit_1_before_any_candle_request() {
    let server = listed_server(vec![]).await;
    let ws = Workspace::synth(&server);
    for pattern in ["ZZZ-*", "MKR-*"] {
        let out = ws
            .run_expect(backfill("coinbase", pattern, "1h").start("2024-01-01"), 1)
            .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("'{pattern}' matches no coinbase instrument")),
            "{stderr}"
        );
    }
    assert_eq!(candle_requests(&server).await, 0);
    assert!(!ws.table_dir("1h").exists(), "nothing written");
    // Plain pairs need no list: none is asked for.
    let plain = listed_server(vec![("BTC-USD", 0, i64::MAX)]).await;
    let ws = Workspace::synth(&plain);
    ws.run_ok(backfill("coinbase", "BTC-USD", "1h").range("2024-01-01", "2024-01-02"))
        .await;
    assert_eq!(sent_to(&plain, PRODUCTS).await, 0);
    // topup, status and gaps match patterns against the series held.
    let status = ws
        .run_ok(Args::of(&["status", "--json", "--pairs", "btc-*"]))
        .await;
    assert_eq!(status["series"].as_array().unwrap().len(), 1);
    for command in ["status", "gaps", "topup"] {
        let out = ws
            .run_expect(Args::of(&[command, "--pairs", "ETH-*"]), 1)
            .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("'ETH-*' matches no series held"),
            "{command}: {stderr}"
        );
    }
}
