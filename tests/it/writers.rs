//! Many writers on one table: runs with separate state dirs over overlapping ranges write each
//! candle once, record each reject once across their DLQs, and keep watermarks that describe
//! the table.

use std::path::Path;
use std::time::Duration;

use candlelake::providers::Timeframe;

use crate::support::args::{Args, backfill};
use crate::support::servers::{first_request, serve};
use crate::support::synth::{SynthCoinbase, synth_server};
use crate::support::{
    Workspace, assert_each_reject_once, cells, dlq_records, read_json, series_in, unique_keys,
};

fn weeks() -> Args {
    backfill("coinbase", "BTC-USD,ETH-USD", "1h")
        .range("2024-01-01", "2024-01-22")
        .global(&["--output", "json"])
}

#[tokio::test(flavor = "multi_thread")]
async fn two_state_dirs_racing_on_one_range_record_each_reject_once() {
    // The second provider answers after 3 s: the second run reads the table, asks, and
    // commits only after the first run (started once the second has asked) committed.
    let fast = synth_server().await;
    let slow = serve(SynthCoinbase(Duration::from_secs(3))).await;
    let first = Workspace::synth(&fast);
    let second = Workspace::synth(&slow).with("CANDLELAKE_LAKE", &first.lake());
    let spawn = |ws: &Workspace| {
        let mut command = ws.command(weeks());
        command.stdout(std::process::Stdio::piped());
        command.spawn().unwrap()
    };
    let late = spawn(&second);
    first_request(&slow).await;
    let runs = [late, spawn(&first)];
    let mut skipped = 0;
    for child in runs {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(0), "{summary}");
        for r in summary["results"].as_array().unwrap() {
            skipped += r["skipped"].as_u64().unwrap();
        }
    }
    assert!(skipped > 0, "one run found the other's commit first");

    let reference = Workspace::synth(&fast);
    reference.run_expect(weeks(), 0).await;
    let rows = first.rows(Timeframe::H1).await;
    assert_eq!(unique_keys(&rows), rows.len(), "no candle twice");
    assert_eq!(cells(rows), cells(reference.rows(Timeframe::H1).await));
    assert_each_reject_once(&[&first, &second], &reference);

    // Both watermarks describe the table, whoever wrote it.
    let status = first.report(["status", "--json"]).await;
    for pair in ["BTC-USD", "ETH-USD"] {
        let table = series_in(&status["series"], pair, "1h");
        for ws in [&first, &second] {
            let mark = read_json(&ws.watermark("coinbase", pair, "1h"));
            for key in ["coverage", "first_candle", "last_candle"] {
                assert_eq!(mark[key], table[key], "{pair} {key}: {mark}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_later_window_another_run_covered_first_records_none_of_its_rejects() {
    // The wide run commits every 500 rows: after its second window (to 01-26) and after its
    // third. Its provider answers after 3 s, so the narrow run, started once the wide one has
    // asked, covers 01-10 .. 02-01 first: the wide run's first commit then completes the
    // coverage to 02-01, and its third window is one the narrow run already recorded.
    let fast = synth_server().await;
    let slow = serve(SynthCoinbase(Duration::from_secs(3))).await;
    let wide = Workspace::synth(&slow);
    let narrow = Workspace::synth(&fast).with("CANDLELAKE_LAKE", &wide.lake());
    let range =
        |from: &str| backfill("coinbase", "BTC-USD,ETH-USD", "1h").range(from, "2024-02-01");
    let mut command = wide.command(range("2024-01-01").global(&["--output", "json"]));
    command.stdout(std::process::Stdio::piped());
    let late = command.spawn().unwrap();
    first_request(&slow).await;
    let first = narrow.run_json_expect(range("2024-01-10"), 0).await;
    let out = tokio::task::spawn_blocking(move || late.wait_with_output().unwrap())
        .await
        .unwrap();
    let second: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{second}");

    let reference = Workspace::synth(&fast);
    reference.run_expect(range("2024-01-01"), 0).await;
    let rows = wide.rows(Timeframe::H1).await;
    let written = rows.len() as u64;
    assert_eq!(cells(rows), cells(reference.rows(Timeframe::H1).await));
    assert_each_reject_once(&[&wide, &narrow], &reference);
    // Each run counts as written and dead-lettered only what it recorded.
    let total = |key: &str| -> u64 {
        [&first, &second]
            .iter()
            .flat_map(|s| s["results"].as_array().unwrap())
            .map(|r| r[key].as_u64().unwrap())
            .sum()
    };
    assert_eq!(total("records"), written, "{first}\n{second}");
    assert_eq!(
        total("dead_lettered"),
        dlq_records(&reference).len() as u64,
        "{first}\n{second}"
    );
}

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_before_its_commit_leaves_no_reject_another_run_recorded() {
    let server = synth_server().await;
    let first = Workspace::synth(&server);
    let second = Workspace::synth(&server).with("CANDLELAKE_LAKE", &first.lake());
    // The second run dies after writing a DLQ file, before the commit of its window.
    second.run_aborting_at("after_dlq_write:1", weeks()).await;
    // The first covers that window and records its rejects; the second reruns.
    first.run_expect(weeks(), 0).await;
    second.run_expect(weeks(), 0).await;

    let reference = Workspace::synth(&server);
    reference.run_expect(weeks(), 0).await;
    assert_each_reject_once(&[&first, &second], &reference);
    let rows = first.rows(Timeframe::H1).await;
    assert_eq!(cells(rows), cells(reference.rows(Timeframe::H1).await));
}

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_after_a_commit_that_found_its_window_partly_covered_records_only_the_rest() {
    // The late run's provider answers after 3 s: the early run, started once the late one has
    // asked, commits 01-10 .. 01-22 first. The late run's commit then finds that part held and
    // names a DLQ file that still holds its rejects; the run dies before taking them out.
    let fast = synth_server().await;
    let slow = serve(SynthCoinbase(Duration::from_secs(3))).await;
    let late = Workspace::synth(&slow);
    let early = Workspace::synth(&fast).with("CANDLELAKE_LAKE", &late.lake());
    let narrow = backfill("coinbase", "BTC-USD,ETH-USD", "1h").range("2024-01-10", "2024-01-22");
    let early_run = async {
        first_request(&slow).await;
        early.run_expect(&narrow, 0).await;
    };
    tokio::join!(late.run_aborting_at("after_commit", weeks()), early_run);
    // The rerun settles the named file: only the rejects of 01-01 .. 01-10 are its own.
    late.run_expect(weeks(), 0).await;

    let reference = Workspace::synth(&fast);
    reference.run_expect(weeks(), 0).await;
    assert_each_reject_once(&[&late, &early], &reference);
    let rows = late.rows(Timeframe::H1).await;
    assert_eq!(cells(rows), cells(reference.rows(Timeframe::H1).await));
}

/// delta-rs Python driven a line at a time: `load` reads the 1h table's latest version,
/// `compact` runs `optimize.compact()` on the version last loaded, as another tool's OPTIMIZE
/// job would. Each answers one line: `loaded V`, `compacted N` (files removed) or
/// `failed ErrorType`.
struct PythonCompactor {
    child: std::process::Child,
    answers: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl PythonCompactor {
    fn start(table: &Path) -> Self {
        let script = "import sys\n\
             from deltalake import DeltaTable\n\
             table = None\n\
             for line in sys.stdin:\n\
             \x20   if line.strip() == 'load':\n\
             \x20       table = DeltaTable(sys.argv[1])\n\
             \x20       print('loaded', table.version(), flush=True)\n\
             \x20       continue\n\
             \x20   try:\n\
             \x20       print('compacted', table.optimize.compact()['numFilesRemoved'], flush=True)\n\
             \x20   except Exception as e:\n\
             \x20       print('failed', type(e).__name__, flush=True)\n";
        let mut child = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(table)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let stdout = child.stdout.take().unwrap();
        let answers = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        PythonCompactor { child, answers }
    }

    fn ask(&mut self, command: &str) -> String {
        use std::io::Write as _;
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        self.answers.next().expect("python answers").unwrap()
    }
}

impl Drop for PythonCompactor {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// candlelake appends a day at a time and compacts after each while delta-rs Python compacts
/// too: every other day delta-rs read the table before candlelake's compaction and commits
/// after it (it must lose: its files are gone), on the others it compacts first and candlelake
/// after. No row is ever written twice.
#[tokio::test(flavor = "multi_thread")]
async fn another_tool_compacting_while_candlelake_appends_and_compacts_duplicates_nothing() {
    let server = synth_server().await;
    let ws = Workspace::synth(&server);
    let day = |d: u32| {
        backfill("coinbase", "BTC-USD,ETH-USD", "1h")
            .range("2024-01-01", &format!("2024-01-{d:02}"))
    };
    ws.run_expect(day(3), 0).await;
    let mut python = PythonCompactor::start(&ws.table_dir("1h"));
    for d in 4..12 {
        ws.run_expect(day(d), 0).await;
        assert!(python.ask("load").starts_with("loaded"));
        if d % 2 == 0 {
            ws.run_expect(["maintain", "--timeframes", "1h"], 0).await;
            assert_eq!(python.ask("compact"), "failed CommitFailedError", "day {d}");
        } else {
            assert_eq!(python.ask("compact"), "compacted 4", "day {d}");
            ws.run_expect(["maintain", "--timeframes", "1h"], 0).await;
        }
    }
    drop(python);

    let reference = Workspace::synth(&server);
    reference.run_expect(day(11), 0).await;
    let rows = ws.rows(Timeframe::H1).await;
    assert_eq!(unique_keys(&rows), rows.len(), "no candle twice");
    assert_eq!(cells(rows), cells(reference.rows(Timeframe::H1).await));
    let gaps = ws
        .run_expect(["gaps", "--json", "--timeframes", "1h"], 0)
        .await;
    let report: serde_json::Value = serde_json::from_slice(&gaps.stdout).unwrap();
    assert!(
        report.to_string().find("\"removed\"").is_none(),
        "compaction removed no candle: {report}"
    );
}
