//! Fitting the platform: Prometheus textfile and Pushgateway (Debian's `prometheus-pushgateway`,
//! started here), progress bars only on a terminal, JSON logs, and `status --fail-if-stale`.

use crate::support::servers::pushgateway;
use crate::support::synth::synth_server;
use crate::support::workspace::output;
use crate::support::{Args, Workspace, backfill, find, python, series};

fn week() -> Args {
    backfill("coinbase", "BTC-USD,ETH-USD", "1h").range("2024-01-01", "2024-01-08")
}

/// The value of the first sample of `name` whose labels hold `labels` (or that has none).
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
async fn metrics_in_the_textfile_match_the_summary() {
    let server = synth_server().await;
    let ws = Workspace::synth(&server);
    let textfile = ws.dir.path().join("textfile/candlelake.prom");
    let ws = ws.with("CANDLELAKE_METRICS_FILE", &textfile.display().to_string());
    let summary = ws.run_ok(week()).await;

    let text = std::fs::read_to_string(&textfile).unwrap();
    let btc = r#"provider="coinbase",asset_pair="BTC-USD",timeframe="1h""#;
    let value = |name: &str| metric(&text, name, btc);
    assert_eq!(
        metric(&text, "candlelake_run_success", "").as_deref(),
        Some("1"),
        "{text}"
    );
    let btc_line = series(&summary, "BTC-USD", "1h");
    assert!(btc_line["fetched"].as_u64().unwrap() > 150);
    // TC: (metric, expected value)
    for (name, want) in [
        ("fetched", btc_line["fetched"].to_string()),
        ("written", btc_line["records"].to_string()),
        ("dead_lettered", btc_line["dead_lettered"].to_string()),
    ] {
        let name = format!("candlelake_series_candles_{name}");
        assert_eq!(value(&name), Some(want), "{name}: {text}");
    }
    for (name, want) in [
        ("candlelake_series_requests", "1"),
        ("candlelake_series_rate_limited", "0"),
        (
            "candlelake_series_coverage_end_timestamp_seconds",
            "1704672000",
        ),
    ] {
        assert_eq!(value(name).as_deref(), Some(want), "{name}: {text}");
    }
    assert!(value("candlelake_series_last_success_timestamp_seconds").is_some());
    assert!(metric(&text, "candlelake_run_duration_seconds", "").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_reach_the_pushgateway() {
    let gateway = pushgateway().await;
    let server = synth_server().await;
    let ws = Workspace::synth(&server).with("CANDLELAKE_PUSHGATEWAY_URL", &gateway.url());
    let summary = ws.run_ok(week()).await;

    // What the Pushgateway serves to Prometheus.
    let scraped = python(&format!(
        "import urllib.request;print(urllib.request.urlopen('{}/metrics').read().decode())",
        gateway.url()
    ));
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
    let eth_fetched = series(&summary, "ETH-USD", "1h")["fetched"].to_string();
    assert!(
        pushed.contains(r#"job="candlelake""#) && pushed.ends_with(&format!(" {eth_fetched}")),
        "{pushed}"
    );
}

/// What a progress bar prints (`{pos}/{len} windows, {msg}`).
const BAR: &str = " windows, ";

#[tokio::test(flavor = "multi_thread")]
async fn progress_is_logged_not_drawn_when_piped() {
    let server = synth_server().await;
    let out = Workspace::synth(&server).run_expect(week(), 0).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(BAR), "a progress bar when piped: {stderr}");
    for pair in ["BTC-USD", "ETH-USD"] {
        let of = |what: &str| {
            stderr
                .lines()
                .any(|l| l.contains(" INFO ") && l.contains(what) && l.contains(pair))
        };
        assert!(
            of("Series started.") && of("Series finished."),
            "no start or end line for {pair}: {stderr}"
        );
    }
}

/// What a backfill of BTC-USD 1d shows on a terminal (a pty from `script`), with `global`
/// flags.
async fn on_a_terminal(global: &[&str]) -> String {
    let server = synth_server().await;
    let ws = Workspace::synth(&server);
    let line = backfill("coinbase", "BTC-USD", "1d")
        .range("2024-01-01", "2024-03-01")
        .global(global)
        .shell_line();
    let tty = output(ws.program("script", ["-qec", &line, "/dev/null"])).await;
    String::from_utf8_lossy(&tty.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_on_a_terminal_draw_no_bar() {
    let shown = on_a_terminal(&["--log-format", "json"]).await;
    assert!(!shown.contains(BAR), "a bar in JSON logs: {shown}");
    assert!(shown.contains(r#""message":"Series finished.""#), "{shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_bars_per_series_on_a_terminal() {
    let shown = on_a_terminal(&[]).await;
    assert!(
        shown.contains("coinbase BTC-USD 1d") && shown.contains(BAR),
        "no bar on a terminal: {shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_per_line_on_stderr() {
    let server = synth_server().await;
    let ws = Workspace::synth(&server).with("RUST_LOG", "debug");
    let out = ws.run(week().global(&["--log-format", "json"])).await;
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
    let ws = Workspace::synth(&server);
    let start = (chrono::Utc::now() - chrono::Duration::days(2)).format("%Y-%m-%d");
    let fresh = backfill("coinbase", "BTC-USD", "1h").start(&start.to_string());
    ws.run_expect(fresh, 0).await;
    let old = backfill("coinbase", "ETH-USD", "1h").range("2024-01-01", "2024-01-02");
    ws.run_expect(old, 0).await;

    let status = async |args: Args| {
        let out = ws.run(args).await;
        let report = serde_json::from_slice::<serde_json::Value>(&out.stdout);
        (out.status.code(), report.unwrap_or_default())
    };
    let within_2h = Args::of(&["status", "--json", "--fail-if-stale", "2h"]);
    let (code, report) = status(within_2h.clone().flag("--pairs", "BTC-USD")).await;
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["series"][0]["stale"], false);
    assert!(report["series"][0]["lag_seconds"].as_i64().unwrap() < 3600);
    let (code, report) = status(within_2h).await;
    assert_eq!(code, Some(2), "ETH-USD lags since 2024: {report}");
    assert_eq!(
        find(&report["series"], "asset_pair", "ETH-USD")["stale"],
        true
    );
    let (code, _) = status(Args::of(&["status", "--fail-if-stale", "soon"])).await;
    assert_eq!(code, Some(1), "a bad duration is a usage error");
}
