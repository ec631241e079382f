//! `candlelake import` and `druid-spec`: every format read into the table cell for cell, the
//! DLQ naming file and line, bad files failing alone; reruns, changed files, concurrent
//! importers and crashes leaving the table exact.

mod formats;
mod objects;
mod progress;
mod reruns;

use std::path::{Path, PathBuf};

use candlelake::providers::Timeframe;

use crate::support::{Cells, Workspace, at, cells, read_json, root};

/// Copies `fixtures/import/{name}` into the workspace; returns the copy's path.
fn fixture_dir(ws: &Workspace, name: &str) -> PathBuf {
    let from = root().join("fixtures/import").join(name);
    let to = ws.dir.path().join("files").join(name);
    copy_dir(&from, &to);
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

/// `import --format {format} --source {source}` and more arguments.
fn import(format: &str, source: &Path, more: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["import", "--format", format, "--source"]
        .into_iter()
        .map(String::from)
        .collect();
    args.push(source.display().to_string());
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

/// One expected row: (source, pair, open time, timeframe, OHLCV, volume kind, partition date).
fn row(
    source: &str,
    pair: &str,
    time: &str,
    tf: &str,
    ohlcv: [&str; 5],
    kind: &str,
    date: &str,
) -> Cells {
    (
        source.into(),
        pair.into(),
        at(time).timestamp(),
        tf.into(),
        ohlcv.map(String::from),
        kind.into(),
        false,
        date.into(),
        pair.into(),
    )
}

async fn table(ws: &Workspace, tf: Timeframe) -> Vec<Cells> {
    cells(ws.rows(tf).await)
}

/// Every DLQ record as (file name, line, reasons, raw).
fn dlq_records(ws: &Workspace) -> Vec<(String, u64, Vec<String>, String)> {
    let mut records: Vec<_> = ws
        .dlq_files()
        .iter()
        .flat_map(|path| {
            let file = read_json(path);
            let request = file["context"]["request"].as_str().unwrap().to_string();
            file["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    assert_eq!(r["file"], request.as_str(), "{r}");
                    let name = Path::new(r["file"].as_str().unwrap())
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .to_string();
                    let reasons = r["reasons"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_str().unwrap().to_string())
                        .collect();
                    (
                        name,
                        r["line"].as_u64().unwrap(),
                        reasons,
                        r["raw"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    records.sort();
    records
}

/// Waits for two import processes started at once.
async fn outputs(a: std::process::Child, b: std::process::Child) -> [std::process::Output; 2] {
    tokio::task::spawn_blocking(move || {
        [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()]
    })
    .await
    .unwrap()
}

/// The files the importers' JSON reports say they imported, sorted; each exit code must be
/// one of `codes`.
fn imported(outputs: &[std::process::Output], codes: &[i32]) -> Vec<String> {
    let mut imported = Vec::new();
    for out in outputs {
        assert!(
            out.status.code().is_some_and(|c| codes.contains(&c)),
            "{:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let report = crate::support::stdout_json(out);
        imported.extend(
            statuses(&report)
                .into_iter()
                .filter(|s| s.1 == "success")
                .map(|s| s.0),
        );
    }
    imported.sort();
    imported
}

/// The file entries of an import report, by file name: (status, rows, rejects, duplicates).
fn statuses(report: &serde_json::Value) -> Vec<(String, String, u64, u64, u64)> {
    let mut out: Vec<_> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = Path::new(f["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            let n = |k: &str| f[k].as_u64().unwrap();
            (
                name,
                f["status"].as_str().unwrap().to_string(),
                n("rows"),
                n("rejects"),
                n("duplicates"),
            )
        })
        .collect();
    out.sort();
    out
}

/// What an import of the Binance fixtures reports per file: the corrupt archive and the wrong
/// checksum fail alone, the rest lands.
fn binance_statuses() -> Vec<(String, String, u64, u64, u64)> {
    vec![
        ("BNBUSDT-1m-2024-01-01.zip".into(), "failed".into(), 0, 0, 0),
        (
            "BTCUSDT-1m-2024-01-01.zip".into(),
            "success".into(),
            3,
            1,
            1,
        ),
        (
            "ETHUSDT-1m-2025-01-01.zip".into(),
            "success".into(),
            2,
            2,
            0,
        ),
        ("SOLUSDT-1m-2024-01-01.zip".into(), "failed".into(), 0, 0, 0),
    ]
}

/// Versions in a table's log: how many commits it has.
fn commits(ws: &Workspace, tf: &str) -> usize {
    std::fs::read_dir(ws.table_dir(tf).join("_delta_log"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count()
}
