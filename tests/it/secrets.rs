//! Credentials never leak: every log line (debug level, text and JSON), error, summary, DLQ
//! file, watermark, budget file, Delta log and table cell of runs that succeed, fail, dead-letter
//! and time out is searched for the Alpha Vantage key and the Oanda token.

use std::process::Output;
use std::time::Duration;

use candlelake::providers::Timeframe;
use wiremock::{MockServer, ResponseTemplate};

use crate::support::servers::{AV_KEY, av_server, serve, serve_fixture};
use crate::support::{Args, Workspace, backfill, walk};

const TOKEN: &str = "oanda-secret-token-9c1d";
const SECRETS: [&str; 2] = [AV_KEY, TOKEN];

/// Alpha Vantage at `av`, an Oanda that rejects the token at `oanda`, both secrets set, debug
/// logs, fast retries and a short HTTP timeout.
fn workspace(av: &MockServer, oanda: &str, timeout_ms: &str) -> Workspace {
    Workspace::alphavantage(av)
        .with("RUST_LOG", "debug")
        .with("OANDA_API_TOKEN", TOKEN)
        .with("CANDLELAKE_OANDA_URL", oanda)
        .with("CANDLELAKE_RETRY_BASE_MS", "10")
        .with("CANDLELAKE_HTTP_TIMEOUT_MS", timeout_ms)
}

/// No secret in any output or file of the workspace.
fn assert_clean(ws: &Workspace, outputs: &[Output]) {
    for out in outputs {
        for text in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(text);
            for secret in SECRETS {
                assert!(
                    !text.contains(secret),
                    "a secret leaked into output:\n{text}"
                );
            }
        }
    }
    for file in walk(ws.dir.path()) {
        let bytes = std::fs::read(&file).unwrap();
        for secret in SECRETS {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{} holds a secret", file.display());
        }
    }
}

fn fx(pair: &str, end: &str) -> Args {
    backfill("alphavantage", pair, "1d").range("2024-01-02", end)
}

#[tokio::test(flavor = "multi_thread")]
async fn no_key_in_quota_notes_rejects_listings_or_cells() {
    let replies = [
        "errors/daily-quota.json",
        "FX_DAILY-EUR-USD-one-inverted.json",
    ];
    let av = av_server(&[("FX_DAILY", &replies)]).await;
    let ws = workspace(&av, "http://127.0.0.1:9", "300");
    let eur = fx("EUR-USD", "2024-12-01");
    // The quota note echoing the key, then (a new run) data with one invalid candle.
    let logged = eur
        .clone()
        .global(&["--log-format", "json", "--output", "json"]);
    let mut outputs = vec![ws.run_expect(logged, 2).await, ws.run_expect(&eur, 0).await];
    for args in [&["status", "--json"][..], &["dlq", "list", "--json"][..]] {
        outputs.push(ws.run_expect(args, 0).await);
    }
    assert!(
        walk(ws.dir.path())
            .iter()
            .any(|f| f.to_string_lossy().contains("/dlq/")),
        "the runs dead-lettered something"
    );

    let cells: Vec<String> = ws
        .rows(Timeframe::D1)
        .await
        .into_iter()
        .flat_map(|r| {
            [
                r.asset_pair,
                r.timeframe,
                r.open,
                r.high,
                r.low,
                r.close,
                r.volume,
                r.volume_kind,
                r.source_provider,
                r.ingestion_id,
            ]
        })
        .collect();
    assert_eq!(cells.len(), 238 * 10, "238 good days were written");
    let cells = cells.join(" ");
    assert!(
        SECRETS.iter().all(|s| !cells.contains(s)),
        "a secret in a cell"
    );
    assert_clean(&ws, &outputs);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_key_in_a_timed_out_request() {
    // The transport error carries the URL and key.
    let slow = ResponseTemplate::new(200)
        .set_delay(Duration::from_secs(3))
        .set_body_string("{}");
    let slow = serve(slow).await;
    let ws = workspace(&slow, "http://127.0.0.1:9", "200");
    let out = ws
        .run_expect(fx("GBP-USD", "2024-02-01").global(&["--output", "json"]), 2)
        .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("timed out"), "{stdout}");
    assert_clean(&ws, &[out]);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_in_a_rejected_oanda_run() {
    let av = av_server(&[]).await;
    let oanda = serve_fixture(401, "oanda/errors/401-unauthorized.json").await;
    let ws = workspace(&av, &oanda.uri(), "300");
    let day = backfill("oanda", "EUR-USD", "1h").range("2024-03-01", "2024-03-02");
    let out = ws.run_expect(day, 2).await;
    assert_clean(&ws, &[out]);
}
