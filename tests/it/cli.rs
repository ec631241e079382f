//! The command line's outside: usage errors exit 1 before any request with nothing written,
//! `--dry-run` makes no request, `status --json` reports what a run left.

use serde_json::json;

use crate::support::servers::serve_fixture;
use crate::support::{Args, Workspace, backfill, fields, find, stdout_json};

/// Half a day of SOL-USD 1h: three good candles and nine rejects.
fn half_day() -> Args {
    backfill("coinbase", "SOL-USD", "1h").range("2024-03-01", "2024-03-01T12:00:00Z")
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_exit_1_before_any_request_and_write_nothing() {
    let server = serve_fixture(200, "coinbase/invalid/SOL-USD-1h.json").await;
    let good = |pairs, tfs, start| backfill("coinbase", pairs, tfs).start(start);
    // TC: (arguments, env override, words the message must hold)
    let cases = [
        (good("IBM", "1h", "2024-03-01"), None, "ticker"),
        (
            good("BTC-USD", "2h", "2024-03-01"),
            None,
            "unknown timeframe",
        ),
        (
            good("BTC-USD", "1h", "2024-03-01").flag("--end", "2023-01-01"),
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
        (backfill("coinbase", "BTC-USD", "1h"), None, "--start"),
    ];
    for (args, env, words) in cases {
        let mut ws = Workspace::new(&server.uri());
        if let Some((k, v)) = env {
            ws.set(k, v);
        }
        let out = ws.run(&args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(words), "{args:?}: {stderr}");
        assert!(
            !ws.dir.path().join("lake").exists() && !ws.state().exists(),
            "{args:?} wrote something"
        );
    }
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "no request for a bad plan"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_conflicting_with_the_recorded_partition_period_is_a_usage_error() {
    let server = serve_fixture(200, "coinbase/invalid/SOL-USD-1h.json").await;
    let ws = Workspace::new(&server.uri());
    ws.run_expect(half_day(), 0).await;
    let requests = server.received_requests().await.unwrap().len();
    std::fs::write(
        ws.dir.path().join("candlelake.toml"),
        "[tables.1h]\npartition_period = \"day\"\n",
    )
    .unwrap();
    let out = ws.run_expect(half_day(), 1).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("records partition period 'month'"));
    assert_eq!(server.received_requests().await.unwrap().len(), requests);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_plans_without_requests_and_status_reports_series() {
    let server = serve_fixture(200, "coinbase/invalid/SOL-USD-1h.json").await;
    let ws = Workspace::new(&server.uri());
    let dry = backfill("coinbase", "SOL-USD", "1h,1m")
        .range("2024-03-01", "2024-03-02")
        .arg("--dry-run");
    let (code, plan) = ws.run_json(dry).await;
    assert_eq!(code, 0);
    assert!(server.received_requests().await.unwrap().is_empty());
    let one_minute = find(&plan["series"], "timeframe", "1m");
    assert_eq!(
        one_minute["ranges"][0]["requests"], 5,
        "1440 minutes in windows of 300: {plan}"
    );
    assert!(!ws.dir.path().join("lake").exists());

    ws.run_expect(half_day(), 0).await;
    let report = stdout_json(&ws.run_expect(["status", "--json"], 0).await);
    let s = &report["series"][0];
    assert_eq!(
        fields(s, &["provider", "asset_pair", "timeframe"]),
        json!(["coinbase", "SOL-USD", "1h"]),
        "{s}"
    );
    assert_eq!(s["coverage"]["from"], "2024-03-01T00:00:00Z");
    assert_eq!(s["coverage"]["to"], "2024-03-01T12:00:00Z");
    assert_eq!(fields(s, &["rows", "dlq_records"]), json!([3, 9]), "{s}");
    assert_eq!(
        fields(s, &["first_candle", "last_candle"]),
        json!(["2024-03-01T00:00:00Z", "2024-03-01T11:00:00Z"]),
        "{s}"
    );
    assert_eq!(s["last_status"], "success");
}
