//! Reruns: an unchanged file is skipped and nothing is committed; a changed file replaces
//! exactly its rows; two importers over one directory import each file once; a crash at any
//! point, or a SIGKILL at any moment, then a rerun leaves the table and DLQ of a clean import.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use candlelake::providers::Timeframe;

use super::{commits, dlq_records, import, statuses, table};
use crate::support::{Cells, Workspace, read_json};

const PAIRS: [&str; 8] = [
    "EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "USDCHF", "NZDUSD", "EURGBP", "USDCAD",
];

/// HistData files of `PAIRS`, `minutes` rows each from 2023-01-02 17:00 EST, every 97th row
/// with high below low and every 89th a repeat of the row before.
fn histdata_dir(ws: &Workspace, minutes: u32) -> PathBuf {
    let dir = ws.dir.path().join("files/histdata");
    std::fs::create_dir_all(&dir).unwrap();
    for (p, pair) in PAIRS.iter().enumerate() {
        let mut text = String::new();
        let start = chrono::NaiveDate::from_ymd_opt(2023, 1, 2)
            .unwrap()
            .and_hms_opt(17, 0, 0)
            .unwrap();
        for m in 0..minutes {
            let minute = if m % 89 == 88 { m - 1 } else { m };
            let t = start + chrono::TimeDelta::minutes(i64::from(minute));
            let base = 10_000 + p as u32 * 1_000 + m;
            let (high, low) = if m % 97 == 96 {
                (base, base + 5)
            } else {
                (base + 5, base)
            };
            text.push_str(&format!(
                "{};1.{base:05};1.{high:05};1.{low:05};1.{base:05};0\n",
                t.format("%Y%m%d %H%M%S")
            ));
        }
        std::fs::write(dir.join(format!("DAT_ASCII_{pair}_M1_2023.csv")), text).unwrap();
    }
    dir
}

fn histdata(dir: &Path) -> Vec<String> {
    import("histdata-m1", dir, &[])
}

#[tokio::test]
async fn an_unchanged_file_is_skipped_and_a_changed_one_replaces_exactly_its_rows() {
    let ws = Workspace::offline();
    let dir = histdata_dir(&ws, 300);
    let first = ws.run_json_expect(histdata(&dir), 0).await;
    assert!(statuses(&first).iter().all(|s| s.1 == "success"), "{first}");
    let before = ws.rows(Timeframe::M1).await;
    let versions = commits(&ws, "1m");
    assert_eq!(
        versions,
        1 + PAIRS.len(),
        "the create, then one commit per file"
    );

    let second = ws.run_json_expect(histdata(&dir), 0).await;
    assert!(
        statuses(&second).iter().all(|s| s.1 == "skipped"),
        "{second}"
    );
    assert_eq!(
        commits(&ws, "1m"),
        versions,
        "a second import commits nothing"
    );
    assert_eq!(ws.rows(Timeframe::M1).await, before);

    // EURUSD is published again: its last 100 minutes gone, one price corrected.
    let eur = dir.join("DAT_ASCII_EURUSD_M1_2023.csv");
    let text = std::fs::read_to_string(&eur).unwrap();
    let mut lines: Vec<String> = text.lines().take(200).map(String::from).collect();
    lines[10] = format!("{};1.10010;1.10016;1.10010;1.10012;0", &lines[10][..15]);
    std::fs::write(&eur, lines.join("\n") + "\n").unwrap();
    let third = ws.run_json_expect(histdata(&dir), 0).await;
    let changed: Vec<_> = statuses(&third)
        .into_iter()
        .filter(|s| s.1 == "success")
        .collect();
    assert_eq!(changed.len(), 1, "{third}");
    assert_eq!(changed[0].0, "DAT_ASCII_EURUSD_M1_2023.csv");
    assert_eq!(
        commits(&ws, "1m"),
        versions + 1,
        "the changed file is one commit"
    );

    let after = ws.rows(Timeframe::M1).await;
    let others = |rows: &[candlelake::sink::TableRow]| -> Vec<_> {
        rows.iter()
            .filter(|r| r.asset_pair != "EUR-USD")
            .cloned()
            .collect()
    };
    assert_eq!(
        others(&after),
        others(&before),
        "other files' rows keep every cell"
    );
    let eur_rows: Vec<_> = after.iter().filter(|r| r.asset_pair == "EUR-USD").collect();
    let old_eur = before.iter().filter(|r| r.asset_pair == "EUR-USD").count();
    // 200 lines: two repeats (lines 89 and 178) and two rejects (97 and 194) fewer.
    assert_eq!(eur_rows.len(), 196);
    assert!(old_eur > eur_rows.len());
    let t = |line: usize| {
        let naive =
            chrono::NaiveDateTime::parse_from_str(&lines[line][..15], "%Y%m%d %H%M%S").unwrap();
        naive.and_utc() + chrono::TimeDelta::hours(5)
    };
    let corrected = eur_rows.iter().find(|r| r.timestamp == t(10)).unwrap();
    assert_eq!([&corrected.high, &corrected.close], ["1.10016", "1.10012"]);
    assert!(eur_rows.iter().all(|r| r.timestamp <= t(199)));
    let keys: BTreeSet<_> = after
        .iter()
        .map(|r| (r.asset_pair.clone(), r.timestamp))
        .collect();
    assert_eq!(keys.len(), after.len(), "one row per pair and minute");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_importers_over_one_directory_import_each_file_once() {
    let ws = Workspace::offline();
    let dir = histdata_dir(&ws, 400);
    let clean = clean_import(400).await;
    let mut args = vec!["--output".to_string(), "json".to_string()];
    args.extend(histdata(&dir));
    let (a, b) = (ws.spawn(&args), ws.spawn(&args));
    let imported = super::imported(&super::outputs(a, b).await, &[0]);
    let mut expected: Vec<String> = PAIRS
        .iter()
        .map(|p| format!("DAT_ASCII_{p}_M1_2023.csv"))
        .collect();
    expected.sort();
    assert_eq!(
        imported, expected,
        "each file imported by exactly one importer"
    );
    assert_eq!(table(&ws, Timeframe::M1).await, clean.rows);
    assert_eq!(dlq_records(&ws), clean.dlq);
    for entry in std::fs::read_dir(ws.state().join("imports")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "json") {
            assert_eq!(read_json(&path)["attempts"], 1, "{}", path.display());
        }
    }
}

type Dlq = Vec<(String, u64, Vec<String>, String)>;

struct Clean {
    rows: Vec<Cells>,
    dlq: Dlq,
    duration: Duration,
}

async fn clean_import(minutes: u32) -> Clean {
    let ws = Workspace::offline();
    let dir = histdata_dir(&ws, minutes);
    let started = Instant::now();
    ws.run_expect(histdata(&dir), 0).await;
    let duration = started.elapsed();
    let rows = table(&ws, Timeframe::M1).await;
    assert_eq!(rows.len(), PAIRS.len() * (minutes as usize - 4 - 4));
    Clean {
        rows,
        dlq: dlq_records(&ws),
        duration,
    }
}

async fn assert_like_clean(ws: &Workspace, clean: &Clean, what: &str) {
    assert!(
        table(ws, Timeframe::M1).await == clean.rows,
        "{what}: the table differs from a clean import"
    );
    let dlq = dlq_records(ws);
    let unique: BTreeSet<_> = dlq.iter().collect();
    assert_eq!(
        unique.len(),
        dlq.len(),
        "{what}: a DLQ record was written twice"
    );
    assert_eq!(
        dlq, clean.dlq,
        "{what}: the DLQ differs from a clean import"
    );
}

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn abort_at_every_failpoint_then_rerun_is_exact() {
    let clean = clean_import(400).await;
    let points = [
        "before_commit",
        "after_commit",
        "mid_dlq_write",
        "after_dlq_write",
        "mid_import_state",
    ];
    for point in points {
        let ws = Workspace::offline();
        let dir = histdata_dir(&ws, 400);
        ws.run_aborting_at(&format!("{point}:2"), histdata(&dir))
            .await;
        ws.run_expect(histdata(&dir), 0).await;
        assert_like_clean(&ws, &clean, point).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_moments_then_rerun_is_exact() {
    let clean = clean_import(400).await;
    let mut seed: u64 = 0x1a7e_f11e;
    for i in 0..6 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let fraction = ((seed >> 40) % 1000) as u32;
        let ws = Workspace::offline();
        let dir = histdata_dir(&ws, 400);
        let delay = clean.duration * fraction / 1000;
        let mut command = ws.command(histdata(&dir));
        tokio::task::spawn_blocking(move || {
            let mut child = command
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(delay);
            let _ = child.kill();
            let _ = child.wait();
        })
        .await
        .unwrap();
        ws.run_expect(histdata(&dir), 0).await;
        assert_like_clean(&ws, &clean, &format!("kill {i} after {delay:?}")).await;
    }
}

#[tokio::test]
async fn a_file_overlapping_another_keeps_one_row_per_key_its_own() {
    let ws = Workspace::offline();
    let dir = ws.dir.path().join("files/desk");
    std::fs::create_dir_all(&dir).unwrap();
    let first = "pair,timestamp,open,high,low,close,volume\n\
                 ETH-USD,1704067200,10,12,9,11,1\n\
                 ETH-USD,1704070800,11,13,10,12,2\n";
    std::fs::write(dir.join("a.csv"), first).unwrap();
    let args = |file: &str| {
        import(
            "csv",
            &dir.join(file),
            &[
                "--timeframe",
                "1h",
                "--provider-name",
                "desk",
                "--timestamp-unit",
                "s",
            ],
        )
    };
    ws.run_expect(args("a.csv"), 0).await;
    // b.csv restates 01:00 and adds 02:00.
    let second = "pair,timestamp,open,high,low,close,volume\n\
                  ETH-USD,1704070800,11,14,10,13,3\n\
                  ETH-USD,1704074400,13,15,12,14,4\n";
    std::fs::write(dir.join("b.csv"), second).unwrap();
    ws.run_expect(args("b.csv"), 0).await;
    let rows: Vec<(i64, [String; 5])> = table(&ws, Timeframe::H1)
        .await
        .into_iter()
        .map(|r| (r.2, r.4))
        .collect();
    let s = |v: [&str; 5]| v.map(String::from);
    assert_eq!(
        rows,
        [
            (1704067200, s(["10", "12", "9", "11", "1"])),
            (1704070800, s(["11", "14", "10", "13", "3"])),
            (1704074400, s(["13", "15", "12", "14", "4"])),
        ]
    );
}
