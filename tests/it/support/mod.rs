//! Shared test helpers, the only place test modules take code from:
//! - `workspace`: a scratch lake and state dir, the real binary run in it, tables and files read
//!   back, and summary checks;
//! - `deletion`: rows deleted with deletion vectors, as Spark and Databricks delete them;
//! - `args`: command lines built in one line (`backfill("coinbase", "BTC-USD", "1h").range(..)`);
//! - `servers`: the mock provider servers answering with fixtures, and the external processes
//!   (moto, the Pushgateway, redis-server) behind one guard;
//! - `synth`: a synthetic Coinbase server with deterministic candles for any window, also one
//!   that answers 429 above a rate and records what it saw.

pub mod args;
pub mod deletion;
pub mod servers;
pub mod synth;
pub mod workspace;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

pub use args::{Args, backfill, refetch};
pub use workspace::{
    Cells, Workspace, assert_conservation, by_time, cells, fields, find, ohlcv, series, series_in,
    stdout_json, unique_keys,
};

/// The shard of a series as the contract defines it.
pub fn shard_of(provider: &str, pair: &str, tf: &str, shards: u64) -> u64 {
    let hash = format!("{provider}/{pair}/{tf}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    hash % shards
}

/// The UTC date `days` days before today, as `--start`/`--end` take it.
pub fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

/// The text of `fixtures/{rel}`.
pub fn fixture(rel: &str) -> String {
    let path = root().join("fixtures").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A JSON file, parsed.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", path.display()))
}

/// Every file under `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// RFC 3339 text of a time, as the binary prints it (`2024-01-02T00:00:00Z`).
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Runs `python3 -c code` and returns its stdout followed by its stderr. A script that ran to
/// its end leaves without the interpreter's teardown, where deltalake's S3 client threads
/// sometimes abort ("terminate called without an active exception") after correct output.
pub fn python(code: &str) -> String {
    let script =
        format!("{code}\nimport os, sys\nsys.stdout.flush()\nsys.stderr.flush()\nos._exit(0)\n");
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3 runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The candles of a Coinbase fixture body, as (open time, open, high, low, close, volume) text.
pub fn fixture_candles(rel: &str) -> Vec<(DateTime<Utc>, [String; 5])> {
    let body: serde_json::Value = serde_json::from_str(&fixture(rel)).unwrap();
    body["candles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_string();
            let t = DateTime::from_timestamp(s("start").parse().unwrap(), 0).unwrap();
            (t, [s("open"), s("high"), s("low"), s("close"), s("volume")])
        })
        .collect()
}

/// Exact decimal text without trailing fractional zeros, as the table read-back prints it.
pub fn normalized(text: &str) -> String {
    match text.split_once('.') {
        Some((i, f)) => {
            let f = f.trim_end_matches('0');
            if f.is_empty() {
                i.to_string()
            } else {
                format!("{i}.{f}")
            }
        }
        None => text.to_string(),
    }
}

/// Every dead-lettered record of a workspace as (timestamp, raw), as often as recorded.
pub fn dlq_records(ws: &Workspace) -> Vec<(String, String)> {
    ws.dlq_files()
        .iter()
        .flat_map(|path| {
            read_json(path)["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (r["timestamp"].to_string(), r["raw"].to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Asserts that the runs' DLQs together record each of `reference`'s rejects exactly once.
pub fn assert_each_reject_once(runs: &[&Workspace], reference: &Workspace) {
    let all: Vec<_> = runs.iter().flat_map(|ws| dlq_records(ws)).collect();
    let once: std::collections::BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(once.len(), all.len(), "a reject recorded in two DLQs");
    let expected: std::collections::BTreeSet<_> = dlq_records(reference).into_iter().collect();
    assert_eq!(once, expected, "every reject recorded");
}
