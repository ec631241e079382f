//! The command line's outside: usage errors exit 1 before any request with nothing written,
//! `--dry-run` makes no request, `status --json` reports what a run left.

use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{Workspace, fixture};

async fn server_with_sol_page() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(fixture("coinbase/invalid/SOL-USD-1h.json")),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_exit_1_before_any_request_and_write_nothing() {
    let server = server_with_sol_page().await;
    let ws = Workspace::new(&server.uri());
    let base = ["backfill", "--provider", "coinbase"];
    let good = |pairs: &'static str, tfs: &'static str, start: &'static str| {
        vec!["--pairs", pairs, "--timeframes", tfs, "--start", start]
    };
    // TC: (extra args, env override, words the message must hold)
    type Case = (
        Vec<&'static str>,
        Option<(&'static str, &'static str)>,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (good("IBM", "1h", "2024-03-01"), None, "ticker"),
        (
            good("BTC-USD", "2h", "2024-03-01"),
            None,
            "unknown timeframe",
        ),
        (
            [
                good("BTC-USD", "1h", "2024-03-01"),
                vec!["--end", "2023-01-01"],
            ]
            .concat(),
            None,
            "not before",
        ),
        (good("BTC-USD", "1h", "yesterday"), None, "--start"),
        (
            good("BTC-USD", "1h", "2024-03-01"),
            Some(("CANDLELAKE_COINBASE_RPS", "fast")),
            "CANDLELAKE_COINBASE_RPS",
        ),
        (
            good("BTC-USD,", "1h", "2024-03-01"),
            Some(("CANDLELAKE_RETRY_BASE_MS", "5s")),
            "CANDLELAKE_RETRY_BASE_MS",
        ),
        (
            vec!["--pairs", "BTC-USD", "--timeframes", "1h"],
            None,
            "--start",
        ),
    ];
    for (extra, env, words) in cases {
        let mut ws_case = Workspace::new(&server.uri());
        if let Some((k, v)) = env {
            ws_case.env.insert(k.into(), v.into());
        }
        let args = [base.to_vec(), extra.clone()].concat();
        let out = ws_case.run(&args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {stderr}");
        assert!(stderr.contains(words), "{extra:?}: {stderr}");
        assert!(
            !ws_case.dir.path().join("lake").exists() && !ws_case.state().exists(),
            "{extra:?} wrote something"
        );
    }
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "no request for a bad plan"
    );

    // A config that conflicts with a table's recorded partition period is a usage error too.
    let args = [
        "backfill",
        "--provider",
        "coinbase",
        "--pairs",
        "SOL-USD",
        "--timeframes",
        "1h",
        "--start",
        "2024-03-01",
        "--end",
        "2024-03-01T12:00:00Z",
    ];
    assert_eq!(ws.run(&args).await.status.code(), Some(0));
    let requests = server.received_requests().await.unwrap().len();
    std::fs::write(
        ws.dir.path().join("candlelake.toml"),
        "[tables.1h]\npartition_period = \"day\"\n",
    )
    .unwrap();
    let out = ws.run(&args).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("records partition period 'month'"));
    assert_eq!(server.received_requests().await.unwrap().len(), requests);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_plans_without_requests_and_status_reports_series() {
    let server = server_with_sol_page().await;
    let ws = Workspace::new(&server.uri());
    let args = [
        "backfill",
        "--provider",
        "coinbase",
        "--pairs",
        "SOL-USD",
        "--timeframes",
        "1h,1m",
        "--start",
        "2024-03-01",
        "--end",
        "2024-03-02",
    ];
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let (code, plan) = ws.run_json(&dry).await;
    assert_eq!(code, 0);
    assert!(server.received_requests().await.unwrap().is_empty());
    let one_minute = plan["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["timeframe"] == "1m")
        .unwrap();
    assert_eq!(
        one_minute["ranges"][0]["requests"], 5,
        "1440 minutes in windows of 300: {plan}"
    );
    assert!(!ws.dir.path().join("lake").exists());

    let out = ws
        .run(&[
            "backfill",
            "--provider",
            "coinbase",
            "--pairs",
            "SOL-USD",
            "--timeframes",
            "1h",
            "--start",
            "2024-03-01",
            "--end",
            "2024-03-01T12:00:00Z",
        ])
        .await;
    assert_eq!(out.status.code(), Some(0));
    let status = ws.run(&["status", "--json"]).await;
    assert_eq!(status.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let s = &report["series"][0];
    assert_eq!(
        (
            s["provider"].as_str(),
            s["asset_pair"].as_str(),
            s["timeframe"].as_str()
        ),
        (Some("coinbase"), Some("SOL-USD"), Some("1h"))
    );
    assert_eq!(s["coverage"]["from"], "2024-03-01T00:00:00Z");
    assert_eq!(s["coverage"]["to"], "2024-03-01T12:00:00Z");
    assert_eq!(
        (s["rows"].as_u64(), s["dlq_records"].as_u64()),
        (Some(3), Some(9))
    );
    assert_eq!(
        (s["first_candle"].as_str(), s["last_candle"].as_str()),
        (Some("2024-03-01T00:00:00Z"), Some("2024-03-01T11:00:00Z"))
    );
    assert_eq!(s["last_status"], "success");
}
