//! Exactly once around the crash tests: watermark files repaired from the table, top-ups,
//! the run lock, concurrent writers, SIGTERM, and DLQ replay.

use std::collections::BTreeSet;
use std::time::Duration;

use candlelake::providers::Timeframe;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

use crate::crash::{cells, synth_server, workspace};
use crate::support::{Workspace, at};
use crate::synth::SynthCoinbase;

const ARGS: [&str; 11] = [
    "backfill",
    "--provider",
    "coinbase",
    "--pairs",
    "BTC-USD",
    "--timeframes",
    "1h",
    "--start",
    "2024-01-01",
    "--end",
    "2024-03-01",
];

async fn run_ok(ws: &Workspace, args: &[&str]) -> serde_json::Value {
    let (code, summary) = ws.run_json(args).await;
    assert_eq!(code, 0, "{summary}");
    summary
}

fn watermark_path(ws: &Workspace) -> std::path::PathBuf {
    ws.state().join("watermarks/coinbase/BTC-USD/1h.json")
}

fn unique_times(rows: &[candlelake::sink::TableRow]) -> usize {
    rows.iter()
        .map(|r| (r.asset_pair.clone(), r.timestamp))
        .collect::<BTreeSet<_>>()
        .len()
}

#[tokio::test(flavor = "multi_thread")]
async fn watermark_files_deleted_torn_behind_or_ahead_are_repaired_from_the_table() {
    let server = synth_server().await;
    let reference = workspace(&server);
    run_ok(&reference, &ARGS).await;
    let clean = cells(reference.rows(Timeframe::H1).await);
    let clean_mark: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(watermark_path(&reference)).unwrap())
            .unwrap();

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
        let ws = workspace(&server);
        run_ok(&ws, &ARGS).await;
        let path = watermark_path(&ws);
        let text = std::fs::read_to_string(&path).unwrap();
        match change(&text) {
            None => std::fs::remove_file(&path).unwrap(),
            Some(t) => std::fs::write(&path, t).unwrap(),
        }
        let before = server.received_requests().await.unwrap().len();
        let summary = run_ok(&ws, &ARGS).await;
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
        let mark: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            mark["coverage"], clean_mark["coverage"],
            "{what}: watermark repaired"
        );
    }

    // A watermark whose table is gone stops the series with a clear message instead of
    // silently starting over.
    let ws = workspace(&server);
    run_ok(&ws, &ARGS).await;
    std::fs::remove_dir_all(ws.dir.path().join("lake")).unwrap();
    let (code, summary) = ws.run_json(&ARGS).await;
    assert_eq!(code, 2);
    let error = summary["results"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("holds none") && error.contains("delete the watermark"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn topup_twice_appends_nothing_the_second_time() {
    let server = synth_server().await;
    let ws = workspace(&server);
    // Coverage ends a day ago: topup brings it to the last final hour.
    let start = (chrono::Utc::now() - chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    let end = (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%dT%H:00:00Z")
        .to_string();
    run_ok(
        &ws,
        &[
            "backfill",
            "--provider",
            "coinbase",
            "--pairs",
            "BTC-USD",
            "--timeframes",
            "1h",
            "--start",
            &start,
            "--end",
            &end,
        ],
    )
    .await;
    let first = run_ok(&ws, &["topup"]).await;
    assert!(first["total_records"].as_u64().unwrap() >= 20, "{first}");
    let to = first["results"][0]["coverage"]["to"]
        .as_str()
        .unwrap()
        .to_string();
    let last_final =
        chrono::Utc::now() - chrono::Duration::seconds(60) - chrono::Duration::hours(1);
    assert!(
        at(&to) > last_final - chrono::Duration::hours(1),
        "coverage reaches the last final hour: {to}"
    );
    let second = run_ok(&ws, &["topup"]).await;
    assert_eq!(second["total_records"], 0, "{second}");
    let rows = ws.rows(Timeframe::H1).await;
    assert_eq!(unique_times(&rows), rows.len());

    let (code, missing) = ws
        .run_json(&[
            "topup",
            "--provider",
            "coinbase",
            "--pairs",
            "ETH-USD",
            "--timeframes",
            "1h",
        ])
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
    let mut ws = workspace(&server);
    ws.env.insert("CANDLELAKE_COMMIT_ROWS".into(), "1".into());
    let args = [
        "backfill",
        "--provider",
        "coinbase",
        "--pairs",
        "BTC-USD,ETH-USD",
        "--timeframes",
        "1m",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-12",
    ];
    run_ok(&ws, &args).await;
    // The synthetic server leaves gaps and serves some candles with high < low (dead-lettered).
    let start = at("2024-01-01T00:00:00Z").timestamp();
    let expected: BTreeSet<(String, i64)> = ["BTC-USD", "ETH-USD"]
        .iter()
        .flat_map(|pair| (0..11 * 1440).map(move |m| (pair.to_string(), start + 60 * m)))
        .filter(|(_, t)| (t / 60) % 50 != 7 && (t / 60) % 97 != 13)
        .collect();
    let log = std::path::Path::new(&ws.lake()).join("raw_market_data_1m/_delta_log");
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
    let hint: serde_json::Value =
        serde_json::from_slice(&std::fs::read(log.join("_last_checkpoint")).unwrap()).unwrap();
    assert_eq!(hint["version"], 99, "{hint}");

    let rows = ws.rows(Timeframe::M1).await;
    assert_eq!(unique_times(&rows), rows.len(), "duplicates");
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
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::process::Command::new("python3")
        .arg(root.join("tests/python/check_tables.py"))
        .arg("--keys")
        .arg(log.parent().unwrap())
        .output()
        .expect("python3 runs");
    assert!(
        python.status.success(),
        "pip install -r tests/python/requirements.txt: {}",
        String::from_utf8_lossy(&python.stderr)
    );
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
    let second = run_ok(&ws, &args).await;
    assert_eq!(second["total_records"], 0, "{second}");
    assert_eq!(server.received_requests().await.unwrap().len(), requests);
    assert_eq!(versions(&log), written);
}

/// Another tool sets a property this append path cannot honour (marks that expire): the next
/// run refuses the table before any request, says why and what to do, and commits nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_whose_marks_could_expire_is_refused() {
    let server = synth_server().await;
    let ws = workspace(&server);
    run_ok(
        &ws,
        &ARGS[..10]
            .iter()
            .copied()
            .chain(["2024-02-01"])
            .collect::<Vec<_>>(),
    )
    .await;
    let path = std::path::Path::new(&ws.lake()).join("raw_market_data_1h");
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
    let out = ws.run(&ARGS).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a plan error: {stderr}");
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

/// A server slow enough to keep a run open for a few seconds.
async fn slow_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(SynthCoinbase(Duration::from_millis(300)))
        .mount(&server)
        .await;
    server
}

fn spawn(ws: &Workspace, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_candlelake"))
        .args(args)
        .envs(&ws.env)
        .current_dir(ws.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

const SLOW_ARGS: [&str; 11] = [
    "backfill",
    "--provider",
    "coinbase",
    "--pairs",
    "BTC-USD,ETH-USD",
    "--timeframes",
    "1m",
    "--start",
    "2024-01-01",
    "--end",
    "2024-01-05",
];

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_on_the_same_state_dir_exits_3_naming_the_holder() {
    let server = slow_server().await;
    let ws = workspace(&server);
    let mut first = spawn(&ws, &SLOW_ARGS);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = ws.run(&SLOW_ARGS).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {}", first.id())) && stderr.contains("started"),
        "{stderr}"
    );
    // Read-only commands take no lock.
    assert_eq!(ws.run(&["status"]).await.status.code(), Some(0));
    assert_eq!(ws.run(&["dlq", "list"]).await.status.code(), Some(0));
    // A lock left by a killed run does not block the next one.
    first.kill().unwrap();
    first.wait().unwrap();
    let (code, summary) = ws
        .run_json(&[
            "backfill",
            "--provider",
            "coinbase",
            "--pairs",
            "BTC-USD",
            "--timeframes",
            "1h",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-02",
        ])
        .await;
    assert_eq!(code, 0, "{summary}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_commits_what_it_has_exits_143_and_a_rerun_completes_exactly() {
    let server = slow_server().await;
    let reference = workspace(&server);
    run_ok(&reference, &SLOW_ARGS).await;
    let clean = cells(reference.rows(Timeframe::M1).await);

    let ws = workspace(&server);
    let child = spawn(&ws, &SLOW_ARGS);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let signalled = std::time::Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
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
    run_ok(&ws, &SLOW_ARGS).await;
    assert!(
        cells(ws.rows(Timeframe::M1).await) == clean,
        "the rerun completes exactly"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_runs_with_separate_state_dirs_on_one_table_write_no_duplicate() {
    let server = synth_server().await;
    let reference = workspace(&server);
    let wide = [
        "backfill",
        "--provider",
        "coinbase",
        "--pairs",
        "BTC-USD,ETH-USD",
        "--timeframes",
        "1m",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-04",
    ];
    run_ok(&reference, &wide).await;
    let clean = cells(reference.rows(Timeframe::M1).await);

    for round in 0..3 {
        let a = workspace(&server);
        let mut b = workspace(&server);
        b.env.insert("CANDLELAKE_LAKE".into(), a.lake());
        let overlapping = [
            "backfill",
            "--provider",
            "coinbase",
            "--pairs",
            "ETH-USD,BTC-USD",
            "--timeframes",
            "1m",
            "--start",
            "2024-01-02",
            "--end",
            "2024-01-04",
        ];
        let (first, second) = tokio::join!(a.run_json(&wide), b.run_json(&overlapping));
        assert_eq!(
            first.0, 0,
            "the wider run always reaches the other's coverage: {}",
            first.1
        );
        // The narrower run may end before the coverage it found moved reaches it; a rerun
        // then completes.
        if second.0 != 0 {
            assert!(
                second
                    .1
                    .to_string()
                    .contains("another run changed the coverage"),
                "{}",
                second.1
            );
        }
        run_ok(&a, &wide).await;
        run_ok(&b, &overlapping).await;
        let rows = a.rows(Timeframe::M1).await;
        assert_eq!(unique_times(&rows), rows.len(), "round {round}: duplicates");
        assert!(
            cells(rows) == clean,
            "round {round}: the table differs from one clean run"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dlq_replay_of_a_corrected_record_ingests_it_once() {
    let server = synth_server().await;
    let ws = workspace(&server);
    run_ok(&ws, &ARGS).await;
    let rows_before = ws.rows(Timeframe::H1).await.len();
    let dir = ws.state().join("dlq");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let mut dlq: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    // Correct the first record: swap high and low back.
    let raw = &mut dlq["records"][0]["raw"];
    let (high, low) = (raw["high"].clone(), raw["low"].clone());
    raw["high"] = low;
    raw["low"] = high;
    let fixed_time = dlq["records"][0]["timestamp"].as_str().unwrap().to_string();
    std::fs::write(&file, dlq.to_string()).unwrap();

    let out = ws.run(&["dlq", "replay"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["written"], 1, "{report}");
    let rows = ws.rows(Timeframe::H1).await;
    assert_eq!(rows.len(), rows_before + 1);
    assert!(rows.iter().any(|r| r.timestamp == at(&fixed_time)));

    let again = ws.run(&["dlq", "replay"]).await;
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["written"], 0, "{report}");
    assert_eq!(ws.rows(Timeframe::H1).await.len(), rows_before + 1);
    assert!(
        std::fs::read_to_string(dir.join("replayed.jsonl"))
            .unwrap()
            .contains("\"written\":true")
    );

    let show = ws
        .run(&["dlq", "show", file.file_stem().unwrap().to_str().unwrap()])
        .await;
    assert_eq!(show.status.code(), Some(0));
    let list = ws.run(&["dlq", "list", "--json"]).await;
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert!(!listed.as_array().unwrap().is_empty());
}
