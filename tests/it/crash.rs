//! Crash safety: a backfill aborted at every failpoint, or SIGKILLed at seeded random moments
//! (forward and prepend), then rerun to completion, leaves exactly the table and DLQ of one
//! clean run.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use candlelake::providers::Timeframe;
use candlelake::sink::TableRow;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

use crate::support::Workspace;
use crate::synth::SynthCoinbase;

/// The forward run, then a wider one that prepends a day and extends a day.
const RUNS: [[&str; 2]; 2] = [["2024-01-11", "2024-01-13"], ["2024-01-10", "2024-01-14"]];

fn args(run: usize) -> Vec<String> {
    let [start, end] = RUNS[run];
    [
        "backfill",
        "--provider",
        "coinbase",
        "--pairs",
        "BTC-USD,ETH-USD",
        "--timeframes",
        "1m",
        "--start",
        start,
        "--end",
        end,
    ]
    .map(String::from)
    .to_vec()
}

pub async fn synth_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(SynthCoinbase(Duration::ZERO))
        .mount(&server)
        .await;
    server
}

pub fn workspace(server: &MockServer) -> Workspace {
    let mut ws = Workspace::new(&server.uri());
    ws.env.insert("CANDLELAKE_COMMIT_ROWS".into(), "500".into());
    ws
}

/// Every column but `_extracted_at` and `_ingestion_id`.
pub type Cells = (
    String,
    String,
    i64,
    String,
    [String; 5],
    String,
    bool,
    String,
    String,
);

pub fn cells(rows: Vec<TableRow>) -> Vec<Cells> {
    rows.into_iter()
        .map(|r| {
            (
                r.source_provider,
                r.asset_pair,
                r.timestamp.timestamp(),
                r.timeframe,
                [r.open, r.high, r.low, r.close, r.volume],
                r.volume_kind,
                r.is_mock,
                r.partition_date.to_string(),
                r.partition_asset_pair,
            )
        })
        .collect()
}

/// Every dead-lettered record as (timestamp, raw), asserting none is there twice.
fn dlq_records(ws: &Workspace) -> BTreeSet<(String, String)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(ws.state().join("dlq"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            let file: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for r in file["records"].as_array().unwrap() {
                all.push((r["timestamp"].to_string(), r["raw"].to_string()));
            }
        }
    }
    let set: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(set.len(), all.len(), "a DLQ record was written twice");
    set
}

async fn finish_both_runs(ws: &Workspace) {
    for run in 0..2 {
        let args = args(run);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ws.run(&refs).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "rerun {run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

struct Clean {
    rows: Vec<Cells>,
    dlq: BTreeSet<(String, String)>,
    duration: Duration,
}

async fn clean_run(server: &MockServer) -> Clean {
    let ws = workspace(server);
    let started = Instant::now();
    finish_both_runs(&ws).await;
    let duration = started.elapsed();
    let rows = cells(ws.rows(Timeframe::M1).await);
    let start = crate::support::at("2024-01-10T00:00:00Z").timestamp();
    let valid = (0..4 * 1440)
        .map(|k| start + 60 * k)
        .filter(|t| crate::synth::candle("BTC-USD", *t, 60).is_some() && (t / 60) % 97 != 13)
        .count();
    assert_eq!(
        rows.len(),
        2 * valid,
        "four days of 1m candles, less gaps and rejects"
    );
    Clean {
        rows,
        dlq: dlq_records(&ws),
        duration,
    }
}

async fn assert_like_clean(ws: &Workspace, clean: &Clean, what: &str) {
    let rows = cells(ws.rows(Timeframe::M1).await);
    let unique: BTreeSet<_> = rows.iter().map(|r| (r.1.clone(), r.2)).collect();
    assert_eq!(unique.len(), rows.len(), "{what}: duplicate candles");
    assert_eq!(rows.len(), clean.rows.len(), "{what}: missing candles");
    assert!(
        rows == clean.rows,
        "{what}: the table differs from a clean run"
    );
    assert_eq!(
        dlq_records(ws),
        clean.dlq,
        "{what}: the DLQ differs from a clean run"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_20_random_moments_then_rerun_is_exact() {
    let server = synth_server().await;
    let clean = clean_run(&server).await;
    // A seeded generator: the same 20 moments on every machine, scaled to its speed.
    let mut seed: u64 = 0x5eed_cafe;
    let mut killed_mid_run = 0;
    for i in 0..20 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let run = (seed >> 33) as usize % 2;
        let fraction = ((seed >> 40) % 1000) as u32;
        let ws = workspace(&server);
        if run == 1 {
            finish_one(&ws, 0).await;
        }
        let delay = clean.duration / 2 * fraction / 1000;
        let killed = kill_after(&ws, &args(run), delay).await;
        killed_mid_run += usize::from(killed);
        finish_both_runs(&ws).await;
        assert_like_clean(
            &ws,
            &clean,
            &format!("kill {i} (run {run} after {delay:?}, killed: {killed})"),
        )
        .await;
    }
    assert!(
        killed_mid_run >= 15,
        "only {killed_mid_run} of 20 kills hit a running backfill"
    );
}

async fn finish_one(ws: &Workspace, run: usize) {
    let args = args(run);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(ws.run(&refs).await.status.code(), Some(0));
}

/// Starts the binary and SIGKILLs it after `delay`; true when it was still running.
async fn kill_after(ws: &Workspace, args: &[String], delay: Duration) -> bool {
    let env = ws.env.clone();
    let args = args.to_vec();
    let cwd = ws.dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_candlelake"))
            .args(&args)
            .envs(&env)
            .current_dir(cwd)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let running = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let _ = child.wait();
        running
    })
    .await
    .unwrap()
}

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn abort_at_every_failpoint_then_rerun_is_exact() {
    use std::os::unix::process::ExitStatusExt;

    let server = synth_server().await;
    let clean = clean_run(&server).await;
    let points = [
        "after_fetch",
        "before_commit",
        "after_commit",
        "after_dlq_write",
        "mid_watermark",
        "mid_dlq_write",
    ];
    for point in points {
        for (run, nth) in [(0, 3), (1, 2)] {
            let mut ws = workspace(&server);
            if run == 1 {
                finish_one(&ws, 0).await;
            }
            ws.env
                .insert("CANDLELAKE_CRASH_AT".into(), format!("{point}:{nth}"));
            let args = args(run);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = ws.run(&refs).await;
            assert_eq!(
                out.status.signal(),
                Some(6),
                "{point}:{nth} in run {run} should abort: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            ws.env.remove("CANDLELAKE_CRASH_AT");
            finish_both_runs(&ws).await;
            assert_like_clean(&ws, &clean, &format!("{point}:{nth} in run {run}")).await;
        }
    }
}
