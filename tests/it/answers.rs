//! Every bad input a clear answer: damaged DLQ files are named, unknown ids are usage errors,
//! and failures found while working exit 2, never 1.

use wiremock::MockServer;

use crate::support::Workspace;
use crate::support::args::backfill;
use crate::support::servers::serve_fixture;

async fn sol_with_rejects() -> (MockServer, Workspace) {
    let server = serve_fixture(200, "coinbase/invalid/SOL-USD-1h.json").await;
    let ws = Workspace::new(&server.uri());
    ws.run_expect(
        backfill("coinbase", "SOL-USD", "1h").range("2024-03-01", "2024-03-01T12:00:00Z"),
        0,
    )
    .await;
    (server, ws)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_dlq_file_is_named_by_list_replay_and_status() {
    let (_server, ws) = sol_with_rejects().await;
    let corrupt = ws.state().join("dlq").join("x-coinbase-SOL-USD-1h-9.json");
    std::fs::write(&corrupt, "{\"timestamp\": \"2024").unwrap();
    let name = corrupt.display().to_string();

    let list = ws.run(&["dlq", "list"]).await;
    assert_eq!(list.status.code(), Some(2), "{}", text(&list.stderr));
    assert!(text(&list.stderr).contains(&name), "{}", text(&list.stderr));
    assert!(text(&list.stdout).contains("x-coinbase-SOL-USD-1h-9  UNREADABLE"));
    let listed = ws.run(&["dlq", "list", "--json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let entries = json.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{json}");
    assert_eq!(entries[1]["id"], "x-coinbase-SOL-USD-1h-9");
    assert!(entries[1]["unreadable"].is_string());

    let status = ws.run(&["status", "--json"]).await;
    assert_eq!(status.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(report["problems"][0].as_str().unwrap().contains(&name));
    assert_eq!(report["series"][0]["dlq_records"], 9, "{report}");

    let replay = ws.run(&["--output", "json", "dlq", "replay"]).await;
    assert_eq!(replay.status.code(), Some(2), "{}", text(&replay.stderr));
    let report: serde_json::Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(
        report["files"], 1,
        "the readable file is still replayed: {report}"
    );
    assert!(report["unreadable"][0].as_str().unwrap().contains(&name));
}

#[tokio::test(flavor = "multi_thread")]
async fn replaying_an_unknown_id_is_a_usage_error_like_show() {
    let (_server, ws) = sol_with_rejects().await;
    for args in [["dlq", "show", "nosuchid"], ["dlq", "replay", "nosuchid"]] {
        let out = ws.run(&args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out.stderr).contains("no DLQ file with id 'nosuchid'"),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(
        !ws.state().join("dlq").join("replayed.jsonl").exists(),
        "nothing is replayed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_that_cannot_be_read_is_a_failure_not_a_usage_error() {
    let (_server, ws) = sol_with_rejects().await;
    let log = std::path::Path::new(&ws.lake()).join("raw_market_data_1h/_delta_log");
    let first = log.join("00000000000000000000.json");
    std::fs::write(&first, "{\"commitInfo\": ").unwrap();
    for args in [
        vec!["status"],
        vec!["gaps"],
        vec!["maintain", "--timeframes", "1h"],
    ] {
        let out = ws.run(&args).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn output_json_means_the_same_for_every_reporting_command() {
    let (_server, ws) = sol_with_rejects().await;
    for args in [
        vec!["--output", "json", "status"],
        vec!["--output", "json", "gaps"],
        vec!["--output", "json", "dlq", "list"],
        vec!["--output", "json", "maintain", "--timeframes", "1h"],
    ] {
        let out = ws.run_expect(&args, 0).await;
        let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&out.stdout);
        assert!(parsed.is_ok(), "{args:?}: {}", text(&out.stdout));
    }
    let maintain = ws.run_expect(["maintain", "--timeframes", "1h"], 0).await;
    assert!(
        serde_json::from_slice::<serde_json::Value>(&maintain.stdout).is_err(),
        "text by default: {}",
        text(&maintain.stdout)
    );
}
