//! Credentials never leak: every log line (debug level, text and JSON), error, summary, DLQ
//! file, watermark, budget file, Delta log and table cell of runs that succeed, fail, dead-letter
//! and time out is searched for the Alpha Vantage key and the Oanda token.

use std::time::Duration;

use candlelake::providers::Timeframe;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::alphavantage::{KEY, av_server};
use crate::support::{Workspace, fixture, walk};

const TOKEN: &str = "oanda-secret-token-9c1d";

fn assert_clean(ws: &Workspace, outputs: &[String]) {
    for text in outputs {
        for secret in [KEY, TOKEN] {
            assert!(
                !text.contains(secret),
                "a secret leaked into output:\n{text}"
            );
        }
    }
    let files = walk(ws.dir.path());
    assert!(
        files.iter().any(|f| f.to_string_lossy().contains("/dlq/")),
        "the runs dead-lettered something"
    );
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for secret in [KEY, TOKEN] {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{} holds a secret", file.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_key_or_token_in_any_output_file_or_cell() {
    let av = av_server(&[(
        "FX_DAILY",
        &[
            "errors/daily-quota.json",
            "FX_DAILY-EUR-USD-one-inverted.json",
        ],
    )])
    .await;
    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(3))
                .set_body_string("{}"),
        )
        .mount(&slow)
        .await;
    let oanda = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_string(fixture("oanda/errors/401-unauthorized.json")),
        )
        .mount(&oanda)
        .await;

    let mut ws = crate::alphavantage::workspace(&av);
    ws.env.insert("RUST_LOG".into(), "debug".into());
    ws.env.insert("OANDA_API_TOKEN".into(), TOKEN.into());
    ws.env.insert("CANDLELAKE_OANDA_URL".into(), oanda.uri());
    ws.env
        .insert("CANDLELAKE_RETRY_BASE_MS".into(), "10".into());
    ws.env
        .insert("CANDLELAKE_HTTP_TIMEOUT_MS".into(), "300".into());
    let mut outputs = Vec::new();
    let fx = [
        "backfill",
        "--provider",
        "alphavantage",
        "--pairs",
        "EUR-USD",
        "--timeframes",
        "1d",
        "--start",
        "2024-01-02",
        "--end",
        "2024-12-01",
    ];
    // The quota note echoing the key, then (a new run) data with one invalid candle.
    assert_eq!(
        run(
            &ws,
            &mut outputs,
            &[&["--log-format", "json", "--output", "json"][..], &fx[..]].concat()
        )
        .await,
        Some(2)
    );
    assert_eq!(run(&ws, &mut outputs, &fx).await, Some(0));
    // An Alpha Vantage request that times out: the transport error carries the URL and key.
    let mut timeout_ws = crate::alphavantage::workspace(&slow);
    timeout_ws.env.insert("RUST_LOG".into(), "debug".into());
    timeout_ws
        .env
        .insert("CANDLELAKE_HTTP_TIMEOUT_MS".into(), "200".into());
    timeout_ws
        .env
        .insert("CANDLELAKE_RETRY_BASE_MS".into(), "10".into());
    let timeout_args = [
        "--output",
        "json",
        "backfill",
        "--provider",
        "alphavantage",
        "--pairs",
        "GBP-USD",
        "--timeframes",
        "1d",
        "--start",
        "2024-01-02",
        "--end",
        "2024-02-01",
    ];
    assert_eq!(run(&timeout_ws, &mut outputs, &timeout_args).await, Some(2));
    assert!(
        outputs[outputs.len() - 2].contains("timed out"),
        "{}",
        outputs[outputs.len() - 2]
    );
    // A rejected Oanda token, and status and DLQ listings.
    assert_eq!(
        run(
            &ws,
            &mut outputs,
            &[
                "backfill",
                "--provider",
                "oanda",
                "--pairs",
                "EUR-USD",
                "--timeframes",
                "1h",
                "--start",
                "2024-03-01",
                "--end",
                "2024-03-02"
            ]
        )
        .await,
        Some(2)
    );
    for args in [&["status", "--json"][..], &["dlq", "list", "--json"][..]] {
        assert_eq!(run(&ws, &mut outputs, args).await, Some(0));
    }

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
    outputs.push(cells.join(" "));
    assert_clean(&ws, &outputs);
    assert_clean_files(&timeout_ws);
}

async fn run(ws: &Workspace, outputs: &mut Vec<String>, args: &[&str]) -> Option<i32> {
    let out = ws.run(args).await;
    outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
    outputs.push(String::from_utf8_lossy(&out.stderr).into_owned());
    out.status.code()
}

fn assert_clean_files(ws: &Workspace) {
    let files = walk(ws.dir.path());
    for file in files {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(
            !text.contains(KEY) && !text.contains(TOKEN),
            "{} holds a secret",
            file.display()
        );
    }
}
