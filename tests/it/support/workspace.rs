//! A scratch workspace (lake and state dir in a temporary directory), the real binary run in
//! it, and what a run leaves read back: table rows, watermarks, DLQ files and the summary.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use candlelake::providers::Timeframe;
use candlelake::sink::{DeltaSink, TableRow};
use chrono::{DateTime, Utc};
use wiremock::MockServer;

use super::servers::{AV_KEY, OANDA_TOKEN};

/// A lake and state dir in a temporary directory, and the env to point the binary at them.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub env: HashMap<String, String>,
}

impl Workspace {
    /// A workspace whose Coinbase is `coinbase_url`, retrying fast and unthrottled.
    pub fn new(coinbase_url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = |sub: &str| dir.path().join(sub).display().to_string();
        let env = HashMap::from([
            ("CANDLELAKE_LAKE".to_string(), path("lake")),
            ("CANDLELAKE_STATE_DIR".to_string(), path("state")),
            ("CANDLELAKE_COINBASE_URL".to_string(), coinbase_url.into()),
            ("CANDLELAKE_RETRY_BASE_MS".to_string(), "20".into()),
            ("CANDLELAKE_COINBASE_RPS".to_string(), "0".into()),
        ]);
        Workspace { dir, env }
    }

    /// A workspace with no provider to reach (a closed port).
    pub fn offline() -> Self {
        Workspace::new("http://127.0.0.1:9")
    }

    /// Coinbase at `server` (the synthetic one), committing every 500 rows.
    pub fn synth(server: &MockServer) -> Self {
        Workspace::new(&server.uri()).with("CANDLELAKE_COMMIT_ROWS", "500")
    }

    /// Alpha Vantage at `server`, unthrottled, with the test key.
    pub fn alphavantage(server: &MockServer) -> Self {
        Workspace::offline()
            .with("CANDLELAKE_ALPHAVANTAGE_URL", &server.uri())
            .with("CANDLELAKE_ALPHAVANTAGE_RPS", "0")
            .with("ALPHAVANTAGE_API_KEY", AV_KEY)
    }

    /// Oanda at `server`, with the test token.
    pub fn oanda(server: &MockServer) -> Self {
        Workspace::offline()
            .with("CANDLELAKE_OANDA_URL", &server.uri())
            .with("OANDA_API_TOKEN", OANDA_TOKEN)
    }

    /// Sets one variable of the binary's environment.
    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// This workspace with one more variable set.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.set(key, value);
        self
    }

    pub fn lake(&self) -> String {
        self.env["CANDLELAKE_LAKE"].clone()
    }

    pub fn state(&self) -> PathBuf {
        PathBuf::from(&self.env["CANDLELAKE_STATE_DIR"])
    }

    /// The directory of the table of `tf` (a local lake).
    pub fn table_dir(&self, tf: &str) -> PathBuf {
        Path::new(&self.lake()).join(format!("raw_market_data_{tf}"))
    }

    /// `program` with this workspace's env (and no inherited `RUST_LOG`), run in its directory.
    pub fn program<A>(&self, program: &str, args: A) -> Command
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        let mut command = Command::new(program);
        command
            .args(args.into_iter().map(|a| a.as_ref().to_string()))
            .env_remove("RUST_LOG")
            .envs(&self.env)
            .current_dir(self.dir.path());
        command
    }

    /// The real binary with these arguments, ready to run.
    pub fn command<A>(&self, args: A) -> Command
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        self.program(env!("CARGO_BIN_EXE_candlelake"), args)
    }

    /// Starts the binary in the background, its output piped.
    pub fn spawn<A>(&self, args: A) -> Child
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Runs the real binary with this workspace's env, off the async runtime.
    pub async fn run<A>(&self, args: A) -> Output
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        output(self.command(args)).await
    }

    /// Runs and asserts the exit code, showing stderr when it differs.
    pub async fn run_expect<A>(&self, args: A, code: i32) -> Output
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        let out = self.run(args).await;
        assert_eq!(
            out.status.code(),
            Some(code),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs a command with `--output json` (refetch, maintain, dlq replay), asserting exit 0,
    /// and returns its report.
    pub async fn report<A>(&self, args: A) -> serde_json::Value
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        self.run_ok(args).await
    }

    /// Runs with the crash point `point` (`name` or `name:nth`, the `failpoints` feature) and
    /// asserts that the run aborted there; the crash point is not set for later runs.
    pub async fn run_aborting_at<A>(&self, point: &str, args: A)
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        use std::os::unix::process::ExitStatusExt;

        let mut command = self.command(args);
        command.env("CANDLELAKE_CRASH_AT", point);
        let out = output(command).await;
        assert_eq!(
            out.status.signal(),
            Some(6),
            "{point} should abort: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs with `--output json` and returns the exit code and the parsed summary.
    pub async fn run_json<A>(&self, args: A) -> (i32, serde_json::Value)
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        let all: Vec<String> = ["--output", "json"]
            .into_iter()
            .map(String::from)
            .chain(args.into_iter().map(|a| a.as_ref().to_string()))
            .collect();
        let out = self.run(&all).await;
        (out.status.code().unwrap(), stdout_json(&out))
    }

    /// Runs with `--output json`, asserts the exit code and returns the summary.
    pub async fn run_json_expect<A>(&self, args: A, code: i32) -> serde_json::Value
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        let (got, summary) = self.run_json(args).await;
        assert_eq!(got, code, "{summary}");
        summary
    }

    /// Runs with `--output json`, asserts exit 0 and returns the summary.
    pub async fn run_ok<A>(&self, args: A) -> serde_json::Value
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        self.run_json_expect(args, 0).await
    }

    pub async fn rows(&self, tf: Timeframe) -> Vec<TableRow> {
        DeltaSink::new(&self.lake(), HashMap::new())
            .read_rows(tf)
            .await
            .unwrap()
    }

    /// The watermark file of a series.
    pub fn watermark(&self, provider: &str, pair: &str, tf: &str) -> PathBuf {
        self.state()
            .join(format!("watermarks/{provider}/{pair}/{tf}.json"))
    }

    /// The DLQ's files of rejects (`{state}/dlq/*.json`), sorted.
    pub fn dlq_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.state().join("dlq"))
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
    }
}

/// Runs a prepared command off the async runtime and collects its output.
pub async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// Stdout parsed as JSON, or a panic showing both streams.
pub fn stdout_json(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The item of a JSON array whose `key` is `value`, or a panic naming what is missing.
pub fn find<'a>(list: &'a serde_json::Value, key: &str, value: &str) -> &'a serde_json::Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no {key} {value} in {list}"))
}

/// The summary line of one series.
pub fn series<'a>(summary: &'a serde_json::Value, pair: &str, tf: &str) -> &'a serde_json::Value {
    series_in(&summary["results"], pair, tf)
}

/// The entry of one series in a list of them (a summary's results, a status's series).
pub fn series_in<'a>(list: &'a serde_json::Value, pair: &str, tf: &str) -> &'a serde_json::Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|r| r["asset_pair"] == pair && r["timeframe"] == tf)
        .unwrap_or_else(|| panic!("no {pair} {tf} in {list}"))
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

/// Open, high, low, close and volume of a row.
pub fn ohlcv(r: &TableRow) -> [String; 5] {
    [
        r.open.clone(),
        r.high.clone(),
        r.low.clone(),
        r.close.clone(),
        r.volume.clone(),
    ]
}

/// Rows as open time → OHLCV.
pub fn by_time(rows: &[TableRow]) -> BTreeMap<DateTime<Utc>, [String; 5]> {
    rows.iter().map(|r| (r.timestamp, ohlcv(r))).collect()
}

/// How many distinct (asset pair, open time) the rows hold.
pub fn unique_keys(rows: &[TableRow]) -> usize {
    rows.iter()
        .map(|r| (r.asset_pair.clone(), r.timestamp))
        .collect::<BTreeSet<_>>()
        .len()
}

/// Runs `tests/python/check_tables.py` with these arguments (Python deltalake, Polars, DuckDB).
pub fn python_readers(args: &[&Path]) -> Output {
    let out = Command::new("python3")
        .arg(super::root().join("tests/python/check_tables.py"))
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the Python readers failed (tests/setup.sh installs them):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A run racing a concurrent writer either succeeds or ends early saying the coverage moved (a
/// rerun then completes); any other failure fails the test. True when it succeeded.
pub fn assert_done_or_lost_race((code, summary): &(i32, serde_json::Value)) -> bool {
    if *code != 0 {
        assert!(
            summary
                .to_string()
                .contains("another run changed the coverage"),
            "{summary}"
        );
    }
    *code == 0
}

/// The values of `keys` in a JSON object, as one array: compare with `json!([..])`.
pub fn fields(object: &serde_json::Value, keys: &[&str]) -> serde_json::Value {
    keys.iter().map(|k| object[k].clone()).collect()
}
