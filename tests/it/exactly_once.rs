//! Exactly once around the crash tests: watermark files repaired from the table, top-ups,
//! the run lock, concurrent writers, SIGTERM, and DLQ replay.

use std::collections::BTreeSet;
use std::time::Duration;

use candlelake::providers::Timeframe;
use wiremock::MockServer;

use crate::support::synth::{is_valid, slow_server, synth_server};
use crate::support::workspace::assert_done_or_lost_race;
use crate::support::workspace::{output, python_readers};
use crate::support::{Args, Workspace, at, backfill, cells, read_json, stdout_json, unique_keys};

/// Two months of BTC-USD 1h.
fn two_months() -> Args {
    backfill("coinbase", "BTC-USD", "1h").range("2024-01-01", "2024-03-01")
}

/// The synthetic server, and a workspace that backfilled `two_months` from it.
async fn backfilled() -> (MockServer, Workspace) {
    let server = synth_server().await;
    let ws = Workspace::synth(&server);
    ws.run_ok(two_months()).await;
    (server, ws)
}

fn watermark_path(ws: &Workspace) -> std::path::PathBuf {
    ws.watermark("coinbase", "BTC-USD", "1h")
}

#[tokio::test(flavor = "multi_thread")]
async fn watermark_files_deleted_torn_behind_or_ahead_are_repaired_from_the_table() {
    let (server, reference) = backfilled().await;
    let clean = cells(reference.rows(Timeframe::H1).await);
    let clean_mark = read_json(&watermark_path(&reference));

    // TC: how the file is damaged between two runs over the same range
    type Damage = fn(&str) -> Option<String>;
    let damage: [(&str, Damage); 4] = [
        ("deleted", |_| None),
        ("truncated", |text| Some(text[..text.len() / 2].to_string())),
        ("behind", |text| {
            Some(text.replace("2024-03-01T00:00:00Z", "2024-02-01T00:00:00Z"))
        }),
        ("ahead", |text| {
            Some(text.replace("2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z"))
        }),
    ];
    for (what, change) in damage {
        let ws = Workspace::synth(&server);
        ws.run_ok(two_months()).await;
        let path = watermark_path(&ws);
        let text = std::fs::read_to_string(&path).unwrap();
        match change(&text) {
            None => std::fs::remove_file(&path).unwrap(),
            Some(t) => std::fs::write(&path, t).unwrap(),
        }
        let before = server.received_requests().await.unwrap().len();
        let summary = ws.run_ok(two_months()).await;
        assert_eq!(summary["total_records"], 0, "{what}: {summary}");
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            before,
            "{what}: the table says nothing is missing"
        );
        assert!(
            cells(ws.rows(Timeframe::H1).await) == clean,
            "{what}: table changed"
        );
        let mark = read_json(&path);
        assert_eq!(
            mark["coverage"], clean_mark["coverage"],
            "{what}: watermark repaired"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watermark_whose_table_is_gone_stops_the_series_saying_so() {
    // A clear message instead of silently starting over.
    let (_server, ws) = backfilled().await;
    std::fs::remove_dir_all(ws.dir.path().join("lake")).unwrap();
    let (code, summary) = ws.run_json(two_months()).await;
    assert_eq!(code, 2);
    let error = summary["results"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("holds none") && error.contains("delete the watermark"),
        "{error}"
    );
}

/// A day of BTC-USD 1h that ended a day ago, backfilled: `topup` has about a day to bring.
async fn backfilled_until_yesterday() -> (wiremock::MockServer, Workspace) {
    let server = synth_server().await;
    let ws = Workspace::synth(&server);
    let now = chrono::Utc::now();
    let start = (now - chrono::Duration::days(3)).format("%Y-%m-%d");
    let end = (now - chrono::Duration::days(1)).format("%Y-%m-%dT%H:00:00Z");
    let args = backfill("coinbase", "BTC-USD", "1h").range(&start.to_string(), &end.to_string());
    ws.run_ok(args).await;
    (server, ws)
}

#[tokio::test(flavor = "multi_thread")]
async fn topup_twice_appends_nothing_the_second_time() {
    let (_server, ws) = backfilled_until_yesterday().await;
    let first = ws.run_ok(["topup"]).await;
    assert!(first["total_records"].as_u64().unwrap() >= 20, "{first}");
    let to = first["results"][0]["coverage"]["to"].as_str().unwrap();
    let last_final =
        chrono::Utc::now() - chrono::Duration::seconds(60) - chrono::Duration::hours(1);
    assert!(
        at(to) > last_final - chrono::Duration::hours(1),
        "coverage reaches the last final hour: {to}"
    );
    let second = ws.run_ok(["topup"]).await;
    assert_eq!(second["total_records"], 0, "{second}");
    let rows = ws.rows(Timeframe::H1).await;
    assert_eq!(unique_keys(&rows), rows.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn topup_of_a_series_with_no_watermark_fails_that_series() {
    let (_server, ws) = backfilled_until_yesterday().await;
    let (code, missing) = ws
        .run_json(Args::series("topup", "coinbase", "ETH-USD", "1h"))
        .await;
    assert_eq!(code, 2);
    assert_eq!(
        missing["results"][0]["error"],
        "no watermark; run backfill first"
    );
}

/// More than 100 commits: the append path writes Delta's checkpoint at version 99, the table
/// reads back whole through it (here and in Python deltalake, Polars and DuckDB), and a rerun
/// neither fetches nor commits.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_backfill_writes_checkpoints_and_reads_back_whole() {
    let server = synth_server().await;
    let ws = Workspace::synth(&server).with("CANDLELAKE_COMMIT_ROWS", "1");
    let args = backfill("coinbase", "BTC-USD,ETH-USD", "1m").range("2024-01-01", "2024-01-12");
    ws.run_ok(&args).await;
    // The synthetic server leaves gaps and serves some candles with high < low (dead-lettered).
    let start = at("2024-01-01T00:00:00Z").timestamp();
    let expected: BTreeSet<(String, i64)> = ["BTC-USD", "ETH-USD"]
        .iter()
        .flat_map(|pair| (0..11 * 1440).map(move |m| (pair.to_string(), start + 60 * m)))
        .filter(|(_, t)| is_valid(*t, 60))
        .collect();
    let log = ws.table_dir("1m").join("_delta_log");
    let versions = |log: &std::path::Path| {
        std::fs::read_dir(log)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json") && !n.starts_with('_'))
            .count()
    };
    // One version creates the table, then one commit per 300-candle window.
    let written = versions(&log);
    assert_eq!(written, 1 + 2 * (11 * 1440_usize).div_ceil(300));
    assert!(log.join("00000000000000000099.checkpoint.parquet").exists());
    let hint = read_json(&log.join("_last_checkpoint"));
    assert_eq!(hint["version"], 99, "{hint}");

    let rows = ws.rows(Timeframe::M1).await;
    assert_eq!(unique_keys(&rows), rows.len(), "duplicates");
    let read: BTreeSet<(String, i64)> = rows
        .iter()
        .map(|r| (r.asset_pair.clone(), r.timestamp.timestamp()))
        .collect();
    assert!(
        read == expected,
        "{} rows read, {} expected",
        read.len(),
        expected.len()
    );

    // Python deltalake, Polars and DuckDB replay the same log and checkpoint to the same rows.
    let python = python_readers(&["--keys".as_ref(), log.parent().unwrap()]);
    let readers: std::collections::BTreeMap<String, Vec<(String, i64)>> =
        serde_json::from_slice(&python.stdout).unwrap();
    assert_eq!(readers.len(), 3);
    for (reader, keys) in readers {
        assert!(
            keys.iter().cloned().collect::<BTreeSet<_>>() == expected
                && keys.len() == expected.len(),
            "{reader}: {} rows",
            keys.len()
        );
    }

    let requests = server.received_requests().await.unwrap().len();
    let second = ws.run_ok(&args).await;
    assert_eq!(second["total_records"], 0, "{second}");
    assert_eq!(server.received_requests().await.unwrap().len(), requests);
    assert_eq!(versions(&log), written);
}

/// Another tool sets a property this append path cannot honour (marks that expire): the next
/// run refuses the table before any request, says why and what to do, and commits nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_whose_marks_could_expire_is_refused() {
    let server = synth_server().await;
    let ws = Workspace::synth(&server);
    let january = backfill("coinbase", "BTC-USD", "1h").range("2024-01-01", "2024-02-01");
    ws.run_ok(january).await;
    let path = ws.table_dir("1h");
    let url = url::Url::from_directory_path(&path).unwrap();
    let table = deltalake::open_table(url).await.unwrap();
    let retention = [(
        "delta.setTransactionRetentionDuration".to_string(),
        "interval 1 days".to_string(),
    )];
    let table = table
        .set_tbl_properties()
        .with_properties(retention.into_iter().collect())
        .with_raise_if_not_exists(false)
        .await
        .unwrap();
    let version = table.version();

    let requests = server.received_requests().await.unwrap().len();
    let out = ws.run_expect(two_months(), 1).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot append")
            && stderr.contains("setTransactionRetentionDuration")
            && stderr.contains("CANDLELAKE_LAKE"),
        "{stderr}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        requests,
        "refused before any request"
    );
    let after = deltalake::open_table(url::Url::from_directory_path(&path).unwrap())
        .await
        .unwrap();
    assert_eq!(after.version(), version, "nothing was committed");
}

/// Four days of 1m candles of two pairs: a few seconds against the slow server.
fn four_days() -> Args {
    backfill("coinbase", "BTC-USD,ETH-USD", "1m").range("2024-01-01", "2024-01-05")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_on_the_same_state_dir_exits_3_naming_the_holder() {
    let server = slow_server().await;
    let ws = Workspace::synth(&server);
    let mut first = ws.spawn(four_days());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = ws.run_expect(four_days(), 3).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("pid {}", first.id())) && stderr.contains("started"),
        "{stderr}"
    );
    // Read-only commands take no lock.
    ws.run_expect(["status"], 0).await;
    ws.run_expect(["dlq", "list"], 0).await;
    // A lock left by a killed run does not block the next one.
    first.kill().unwrap();
    first.wait().unwrap();
    let day = backfill("coinbase", "BTC-USD", "1h").range("2024-01-01", "2024-01-02");
    ws.run_ok(day).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_commits_what_it_has_exits_143_and_a_rerun_completes_exactly() {
    let server = slow_server().await;
    let reference = Workspace::synth(&server);
    reference.run_ok(four_days()).await;
    let clean = cells(reference.rows(Timeframe::M1).await);

    let ws = Workspace::synth(&server);
    let child = ws.spawn(four_days());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let signalled = std::time::Instant::now();
    let mut kill = std::process::Command::new("kill");
    kill.args(["-TERM", &child.id().to_string()]);
    assert!(output(kill).await.status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(143),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "stopped in {:?}",
        signalled.elapsed()
    );
    let partial = ws.rows(Timeframe::M1).await.len();
    assert!(partial < clean.len(), "the run was stopped before the end");
    ws.run_ok(four_days()).await;
    assert!(
        cells(ws.rows(Timeframe::M1).await) == clean,
        "the rerun completes exactly"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_runs_with_separate_state_dirs_on_one_table_write_no_duplicate() {
    let server = synth_server().await;
    let reference = Workspace::synth(&server);
    let wide = backfill("coinbase", "BTC-USD,ETH-USD", "1m").range("2024-01-01", "2024-01-04");
    reference.run_ok(&wide).await;
    let clean = cells(reference.rows(Timeframe::M1).await);

    let overlapping =
        backfill("coinbase", "ETH-USD,BTC-USD", "1m").range("2024-01-02", "2024-01-04");
    for round in 0..3 {
        let a = Workspace::synth(&server);
        let b = Workspace::synth(&server).with("CANDLELAKE_LAKE", &a.lake());
        let (first, second) = tokio::join!(a.run_json(&wide), b.run_json(&overlapping));
        assert_eq!(
            first.0, 0,
            "the wider run always reaches the other's coverage: {}",
            first.1
        );
        assert_done_or_lost_race(&second);
        a.run_ok(&wide).await;
        b.run_ok(&overlapping).await;
        let rows = a.rows(Timeframe::M1).await;
        assert_eq!(unique_keys(&rows), rows.len(), "round {round}: duplicates");
        assert!(
            cells(rows) == clean,
            "round {round}: the table differs from one clean run"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dlq_replay_of_a_corrected_record_ingests_it_once() {
    let (_server, ws) = backfilled().await;
    let rows_before = ws.rows(Timeframe::H1).await.len();
    let file = ws.dlq_files()[0].clone();
    let mut dlq = read_json(&file);
    // Correct the first record: swap high and low back.
    let raw = &mut dlq["records"][0]["raw"];
    let (high, low) = (raw["high"].clone(), raw["low"].clone());
    raw["high"] = low;
    raw["low"] = high;
    let fixed_time = dlq["records"][0]["timestamp"].as_str().unwrap().to_string();
    std::fs::write(&file, dlq.to_string()).unwrap();

    let report = ws.report(["dlq", "replay"]).await;
    assert_eq!(report["written"], 1, "{report}");
    let rows = ws.rows(Timeframe::H1).await;
    assert_eq!(rows.len(), rows_before + 1);
    assert!(rows.iter().any(|r| r.timestamp == at(&fixed_time)));

    let report = ws.report(["dlq", "replay"]).await;
    assert_eq!(report["written"], 0, "{report}");
    assert_eq!(ws.rows(Timeframe::H1).await.len(), rows_before + 1);
    let ledger = std::fs::read_to_string(ws.state().join("dlq/replayed.jsonl")).unwrap();
    assert!(ledger.contains("\"written\":true"));

    let id = file.file_stem().unwrap().to_str().unwrap();
    let show = ws.run_expect(["dlq", "show", id], 0).await;
    assert_eq!(stdout_json(&show), read_json(&file), "show prints the file");
    let listed = stdout_json(&ws.run(["dlq", "list", "--json"]).await);
    let ids: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["id"])
        .collect();
    assert_eq!(
        ids.len(),
        ws.dlq_files().len(),
        "one line per file: {listed}"
    );
    assert!(ids.iter().any(|i| *i == id), "{listed}");
}
