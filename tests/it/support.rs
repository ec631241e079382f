//! Shared test helpers: a scratch workspace, the real binary, fixtures, and table read-back.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use candlelake::providers::Timeframe;
use candlelake::sink::{DeltaSink, TableRow};
use chrono::{DateTime, Utc};

pub fn fixture(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
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

/// A lake and state dir in a temporary directory, and the env to point the binary at them.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub env: HashMap<String, String>,
}

impl Workspace {
    pub fn new(coinbase_url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let env = HashMap::from([
            (
                "CANDLELAKE_LAKE".to_string(),
                dir.path().join("lake").display().to_string(),
            ),
            (
                "CANDLELAKE_STATE_DIR".to_string(),
                dir.path().join("state").display().to_string(),
            ),
            (
                "CANDLELAKE_COINBASE_URL".to_string(),
                coinbase_url.to_string(),
            ),
            ("CANDLELAKE_RETRY_BASE_MS".to_string(), "20".to_string()),
            ("CANDLELAKE_COINBASE_RPS".to_string(), "0".to_string()),
        ]);
        Workspace { dir, env }
    }

    pub fn lake(&self) -> String {
        self.env["CANDLELAKE_LAKE"].clone()
    }

    pub fn state(&self) -> PathBuf {
        PathBuf::from(&self.env["CANDLELAKE_STATE_DIR"])
    }

    /// Runs the real binary with this workspace's env, off the async runtime.
    pub async fn run(&self, args: &[&str]) -> Output {
        let env = self.env.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let cwd = self.dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_candlelake"))
                .args(&args)
                .env_remove("RUST_LOG")
                .envs(&env)
                .current_dir(cwd)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    }

    /// Runs with `--output json` and returns the exit code and the parsed summary.
    pub async fn run_json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let out = self.run(&all).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let summary = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {stdout}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap(), summary)
    }

    pub async fn rows(&self, tf: Timeframe) -> Vec<TableRow> {
        DeltaSink::new(&self.lake(), HashMap::new())
            .read_rows(tf)
            .await
            .unwrap()
    }
}

/// The summary line of one series.
pub fn series<'a>(summary: &'a serde_json::Value, pair: &str, tf: &str) -> &'a serde_json::Value {
    summary["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["asset_pair"] == pair && r["timeframe"] == tf)
        .unwrap_or_else(|| panic!("no result for {pair} {tf} in {summary}"))
}

/// Checks fetched = written + dead-lettered + duplicates + skipped for every series.
pub fn assert_conservation(summary: &serde_json::Value) {
    for r in summary["results"].as_array().unwrap() {
        let n = |k: &str| r[k].as_u64().unwrap();
        assert_eq!(
            n("fetched"),
            n("records") + n("dead_lettered") + n("duplicates") + n("skipped"),
            "{r}"
        );
    }
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
