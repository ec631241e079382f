//! Crash safety: a backfill aborted at every failpoint, or SIGKILLed at seeded random moments
//! (forward and prepend), then rerun to completion, leaves exactly the table and DLQ of one
//! clean run.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use candlelake::providers::Timeframe;
use wiremock::MockServer;

use crate::support::synth::{is_valid, synth_server};
use crate::support::{Args, Cells, Workspace, at, backfill, cells, read_json};

/// The forward run, then a wider one that prepends a day and extends a day.
fn args(run: usize) -> Args {
    let [start, end] = [["2024-01-11", "2024-01-13"], ["2024-01-10", "2024-01-14"]][run];
    backfill("coinbase", "BTC-USD,ETH-USD", "1m").range(start, end)
}

/// Every dead-lettered record as (timestamp, raw), asserting none is there twice.
fn dlq_records(ws: &Workspace) -> BTreeSet<(String, String)> {
    let all: Vec<_> = ws
        .dlq_files()
        .iter()
        .flat_map(|path| {
            let file = read_json(path);
            let records = file["records"].as_array().unwrap().clone();
            records
                .into_iter()
                .map(|r| (r["timestamp"].to_string(), r["raw"].to_string()))
        })
        .collect();
    let set: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(set.len(), all.len(), "a DLQ record was written twice");
    set
}

/// Runs both backfills to completion; returns how long each took.
async fn finish_both_runs(ws: &Workspace) -> [Duration; 2] {
    let mut took = [Duration::ZERO; 2];
    for (run, took) in took.iter_mut().enumerate() {
        let started = Instant::now();
        ws.run_expect(args(run), 0).await;
        *took = started.elapsed();
    }
    took
}

struct Clean {
    rows: Vec<Cells>,
    dlq: BTreeSet<(String, String)>,
    /// How long each run took, so that kills can land inside it.
    durations: [Duration; 2],
}

async fn clean_run(server: &MockServer) -> Clean {
    let ws = Workspace::synth(server);
    let durations = finish_both_runs(&ws).await;
    let rows = cells(ws.rows(Timeframe::M1).await);
    let start = at("2024-01-10T00:00:00Z").timestamp();
    let valid = (0..4 * 1440)
        .map(|k| start + 60 * k)
        .filter(|t| is_valid(*t, 60))
        .count();
    assert_eq!(
        rows.len(),
        2 * valid,
        "four days of 1m candles, less gaps and rejects"
    );
    Clean {
        rows,
        dlq: dlq_records(&ws),
        durations,
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
        let ws = Workspace::synth(&server);
        if run == 1 {
            ws.run_expect(args(0), 0).await;
        }
        // Within the first 90% of that run as the clean one took it.
        let delay = clean.durations[run] * 9 / 10 * fraction / 1000;
        let killed = kill_after(&ws, args(run), delay).await;
        killed_mid_run += usize::from(killed);
        finish_both_runs(&ws).await;
        assert_like_clean(
            &ws,
            &clean,
            &format!("kill {i} (run {run} after {delay:?}, killed: {killed})"),
        )
        .await;
    }
    // Kill times scale with the clean run's; on a loaded machine later runs can be faster, so
    // some kills land after the run ended. Half must land inside one for the test to count.
    assert!(
        killed_mid_run >= 10,
        "only {killed_mid_run} of 20 kills hit a running backfill"
    );
}

/// Starts the binary and SIGKILLs it after `delay`; true when it was still running.
async fn kill_after(ws: &Workspace, args: Args, delay: Duration) -> bool {
    let mut command = ws.command(args);
    tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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
            let ws = Workspace::synth(&server);
            if run == 1 {
                ws.run_expect(args(0), 0).await;
            }
            ws.run_aborting_at(&format!("{point}:{nth}"), args(run))
                .await;
            finish_both_runs(&ws).await;
            assert_like_clean(&ws, &clean, &format!("{point}:{nth} in run {run}")).await;
        }
    }
}
