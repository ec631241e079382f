//! Fitting the platform: Prometheus textfile and Pushgateway (Debian's `prometheus-pushgateway`,
//! started here), progress bars only on a terminal, JSON logs, and `status --fail-if-stale`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::crash::{synth_server, workspace};

const ARGS: [&str; 11] = [
    "backfill",
    "--provider",
    "coinbase",
    "--pairs",
    "BTC-USD,ETH-USD",
    "--timeframes",
    "1h",
    "--start",
    "2024-01-01",
    "--end",
    "2024-01-08",
];

struct Pushgateway(Child, u16);

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Debian's Pushgateway on a free port (`.ci/run` installs the package).
async fn pushgateway() -> Pushgateway {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("prometheus-pushgateway")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-pushgateway runs (apt-get install prometheus-pushgateway)");
    // Dropping the guard kills and waits for the process, on every path.
    let gateway = Pushgateway(child, port);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return gateway;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the Pushgateway did not start");
}

fn metric(text: &str, name: &str, labels: &str) -> Option<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.starts_with(&format!("{name}{{")) && l.contains(labels)
                || l.starts_with(&format!("{name} "))
        })
        .and_then(|l| l.rsplit(' ').next())
        .map(String::from)
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_reach_the_textfile_and_the_pushgateway() {
    let gateway = pushgateway().await;
    let server = synth_server().await;
    let mut ws = workspace(&server);
    let textfile = ws.dir.path().join("textfile/candlelake.prom");
    ws.env.insert(
        "CANDLELAKE_METRICS_FILE".into(),
        textfile.display().to_string(),
    );
    ws.env.insert(
        "CANDLELAKE_PUSHGATEWAY_URL".into(),
        format!("http://127.0.0.1:{}", gateway.1),
    );
    let (code, summary) = ws.run_json(&ARGS).await;
    assert_eq!(code, 0, "{summary}");

    let text = std::fs::read_to_string(&textfile).unwrap();
    let btc = r#"provider="coinbase",asset_pair="BTC-USD",timeframe="1h""#;
    assert_eq!(
        metric(&text, "candlelake_run_success", "").as_deref(),
        Some("1"),
        "{text}"
    );
    let line = |pair: &str| {
        summary["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["asset_pair"] == pair)
            .unwrap()
            .clone()
    };
    let btc_line = line("BTC-USD");
    assert!(btc_line["fetched"].as_u64().unwrap() > 150);
    assert_eq!(
        metric(&text, "candlelake_series_candles_fetched", btc),
        Some(btc_line["fetched"].to_string()),
        "{text}"
    );
    assert_eq!(
        metric(&text, "candlelake_series_candles_written", btc),
        Some(btc_line["records"].to_string())
    );
    assert_eq!(
        metric(&text, "candlelake_series_candles_dead_lettered", btc),
        Some(btc_line["dead_lettered"].to_string())
    );
    assert_eq!(
        metric(&text, "candlelake_series_requests", btc).as_deref(),
        Some("1")
    );
    assert_eq!(
        metric(&text, "candlelake_series_rate_limited", btc).as_deref(),
        Some("0")
    );
    assert_eq!(
        metric(
            &text,
            "candlelake_series_coverage_end_timestamp_seconds",
            btc
        )
        .as_deref(),
        Some("1704672000")
    );
    assert!(
        metric(
            &text,
            "candlelake_series_last_success_timestamp_seconds",
            btc
        )
        .is_some()
    );
    assert!(metric(&text, "candlelake_run_duration_seconds", "").is_some());

    // What the Pushgateway serves to Prometheus.
    let scraped = reqwest_get(&format!("http://127.0.0.1:{}/metrics", gateway.1)).await;
    assert!(
        scraped.contains("candlelake_series_candles_fetched{"),
        "{scraped}"
    );
    let pushed = scraped
        .lines()
        .find(|l| {
            l.starts_with("candlelake_series_candles_fetched{")
                && l.contains(r#"asset_pair="ETH-USD""#)
        })
        .unwrap();
    let eth_fetched = line("ETH-USD")["fetched"].to_string();
    assert!(
        pushed.contains(r#"job="candlelake""#) && pushed.ends_with(&format!(" {eth_fetched}")),
        "{pushed}"
    );
}

async fn reqwest_get(url: &str) -> String {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let out = Command::new("python3")
            .args([
                "-c",
                &format!(
                    "import urllib.request;print(urllib.request.urlopen('{url}').read().decode())"
                ),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_bars_only_on_a_terminal_and_json_logs() {
    let server = synth_server().await;
    let ws = workspace(&server);
    // Piped: no bar.
    let out = ws.run(&ARGS).await;
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("windows"),
        "a progress bar when piped: {stderr}"
    );

    // On a terminal (a pty from `script`), bars per series.
    let other = workspace(&server);
    let line = format!(
        "{} backfill --provider coinbase --pairs BTC-USD --timeframes 1d --start 2024-01-01 --end 2024-03-01",
        env!("CARGO_BIN_EXE_candlelake")
    );
    let env = other.env.clone();
    let cwd = other.dir.path().to_path_buf();
    let tty = tokio::task::spawn_blocking(move || {
        Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .envs(&env)
            .current_dir(cwd)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(
        shown.contains("coinbase BTC-USD 1d") && shown.contains("windows"),
        "no bar on a terminal: {shown}"
    );

    // JSON log lines on stderr, one object per line.
    let mut json_ws = workspace(&server);
    json_ws.env.insert("RUST_LOG".into(), "debug".into());
    let out = json_ws
        .run(&[&["--log-format", "json"][..], &ARGS[..]].concat())
        .await;
    let lines: Vec<_> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(String::from)
        .collect();
    assert!(!lines.is_empty());
    for l in lines {
        let v: serde_json::Value =
            serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_if_stale_exits_non_zero_only_when_a_series_lags() {
    let server = synth_server().await;
    let ws = workspace(&server);
    let now = chrono::Utc::now();
    let start = (now - chrono::Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    let fresh = [
        "backfill",
        "--provider",
        "coinbase",
        "--pairs",
        "BTC-USD",
        "--timeframes",
        "1h",
        "--start",
        &start,
    ];
    assert_eq!(ws.run(&fresh).await.status.code(), Some(0));
    let old = [
        "backfill",
        "--provider",
        "coinbase",
        "--pairs",
        "ETH-USD",
        "--timeframes",
        "1h",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-02",
    ];
    assert_eq!(ws.run(&old).await.status.code(), Some(0));

    let status = |args: &'static [&'static str]| {
        let ws = &ws;
        async move {
            let out = ws.run(args).await;
            (
                out.status.code(),
                serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default(),
            )
        }
    };
    let (code, report) = status(&[
        "status",
        "--json",
        "--pairs",
        "BTC-USD",
        "--fail-if-stale",
        "2h",
    ])
    .await;
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["series"][0]["stale"], false);
    assert!(report["series"][0]["lag_seconds"].as_i64().unwrap() < 3600);
    let (code, report) = status(&["status", "--json", "--fail-if-stale", "2h"]).await;
    assert_eq!(code, Some(2), "ETH-USD lags since 2024: {report}");
    let eth = report["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["asset_pair"] == "ETH-USD")
        .unwrap()
        .clone();
    assert_eq!(eth["stale"], true);
    let (code, _) = status(&["status", "--fail-if-stale", "soon"]).await;
    assert_eq!(code, Some(1), "a bad duration is a usage error");
}
