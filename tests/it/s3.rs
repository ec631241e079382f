//! Object storage: `CANDLELAKE_LAKE=s3://...` against a real S3-compatible server on loopback
//! (moto, which honours `If-None-Match`), with two processes with separate state dirs
//! backfilling overlapping ranges of the same series into the same tables at once.

use candlelake::providers::Timeframe;

use crate::support::servers::serve;
use crate::support::servers::{moto, s3_options};
use crate::support::synth::{SynthCoinbase, synth_server};
use crate::support::workspace::assert_done_or_lost_race;
use crate::support::{Workspace, assert_each_reject_once, backfill, python};

/// The S3 options as the JSON object delta-rs Python takes.
fn python_options(endpoint: &str) -> serde_json::Value {
    serde_json::Value::Object(
        s3_options(endpoint)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect(),
    )
}

/// The 1h table's row count and count of distinct (pair, time) keys on S3, as delta-rs Python
/// reads them: "N M".
fn rows_and_unique_rows(endpoint: &str) -> String {
    python(&format!(
        "import json\n\
         from deltalake import DeltaTable\n\
         t = DeltaTable('s3://lake/candles/raw_market_data_1h', storage_options=json.loads('{}'))\n\
         rows = t.to_pyarrow_table(columns=['asset_pair', 'timestamp']).to_pylist()\n\
         print(len(rows), len({{(r['asset_pair'], r['timestamp']) for r in rows}}))",
        python_options(endpoint)
    ))
}

fn on_s3(mut ws: Workspace, endpoint: &str) -> Workspace {
    ws.set("CANDLELAKE_LAKE", "s3://lake/candles");
    for (k, v) in s3_options(endpoint) {
        ws.set(k, &v);
    }
    ws
}

#[tokio::test(flavor = "multi_thread")]
async fn two_writers_on_s3_lose_no_commit_and_duplicate_nothing() {
    let s3 = moto().await;
    let server = synth_server().await;
    let wide = backfill("coinbase", "BTC-USD,ETH-USD", "1h").range("2024-01-01", "2024-02-01");
    let narrow = backfill("coinbase", "ETH-USD,BTC-USD", "1h").range("2024-01-10", "2024-02-01");

    // The expected rows: one clean local run.
    let reference = Workspace::synth(&server);
    reference.run_expect(&wide, 0).await;
    let expected = reference.rows(Timeframe::H1).await.len();

    let a = on_s3(Workspace::synth(&server), &s3.url());
    let b = on_s3(Workspace::synth(&server), &s3.url());
    let (first, second) = tokio::join!(a.run_json(&wide), b.run_json(&narrow));
    assert_eq!(first.0, 0, "{}", first.1);
    if !assert_done_or_lost_race(&second) {
        b.run_expect(&narrow, 0).await;
    }
    // A rerun finds everything in place.
    a.run_expect(&wide, 0).await;

    let count = rows_and_unique_rows(&s3.url());
    assert_eq!(
        count.trim(),
        format!("{expected} {expected}"),
        "rows and unique rows on S3"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn four_processes_creating_one_table_on_s3_lose_no_row() {
    let s3 = moto().await;
    let server = synth_server().await;
    let pairs = ["BTC-USD", "ETH-USD", "SOL-USD", "LTC-USD"];
    let day = |pair: &str| backfill("coinbase", pair, "1h").range("2024-01-01", "2024-01-03");
    let workers: Vec<Workspace> = pairs
        .iter()
        .map(|_| on_s3(Workspace::synth(&server), &s3.url()))
        .collect();
    let runs = workers
        .iter()
        .zip(pairs)
        .map(|(ws, pair)| ws.run_json(day(pair)));
    for (code, summary) in futures::future::join_all(runs).await {
        assert_eq!(code, 0, "{summary}");
    }
    let reference = Workspace::synth(&server);
    for pair in pairs {
        reference.run_expect(day(pair), 0).await;
    }
    let options = python_options(&s3.url());
    let listed = python(&format!(
        "import json\n\
         from deltalake import DeltaTable\n\
         t = DeltaTable('s3://lake/candles/raw_market_data_1h', storage_options=json.loads('{}'))\n\
         rows = t.to_pyarrow_table(columns=['asset_pair', 'timestamp', 'close']).to_pylist()\n\
         for r in sorted(rows, key=lambda r: (r['asset_pair'], r['timestamp'])):\n\
         \x20   print(r['asset_pair'], r['timestamp'].isoformat(), format(r['close'].normalize(), 'f'))",
        options
    ));
    let expected: String = reference
        .rows(Timeframe::H1)
        .await
        .iter()
        .map(|r| {
            format!(
                "{} {} {}\n",
                r.asset_pair,
                r.timestamp.format("%Y-%m-%dT%H:%M:%S+00:00"),
                r.close
            )
        })
        .collect();
    assert_eq!(listed, expected, "every row of every process, once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_writer_killed_beside_another_on_s3_leaves_one_of_everything() {
    let s3 = moto().await;
    let fast = synth_server().await;
    // Two seconds an answer: B is still fetching its second windows after its first commit.
    let slow = serve(SynthCoinbase(std::time::Duration::from_secs(2))).await;
    let wide = backfill("coinbase", "BTC-USD,ETH-USD", "1h").range("2024-01-01", "2024-02-01");
    let narrow = backfill("coinbase", "ETH-USD,BTC-USD", "1h").range("2024-01-10", "2024-02-01");
    let a = on_s3(Workspace::synth(&fast), &s3.url());
    let mut b = on_s3(Workspace::synth(&slow), &s3.url());
    b.set("CANDLELAKE_COMMIT_ROWS", "300");

    // B starts on its slow provider; A writes the same range meanwhile; B is killed right
    // after its first commit, with windows still in flight.
    let mut killed = b.command(&narrow).spawn().unwrap();
    let first = a.run_json(&wide).await;
    assert_eq!(first.0, 0, "{}", first.1);
    let marks = ["BTC-USD", "ETH-USD"].map(|pair| b.watermark("coinbase", pair, "1h"));
    for _ in 0..600 {
        if marks.iter().any(|m| m.exists()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(marks.iter().any(|m| m.exists()), "B committed once");
    assert!(killed.try_wait().unwrap().is_none(), "B is killed mid-run");
    killed.kill().unwrap();
    killed.wait().unwrap();
    b.run_expect(&narrow, 0).await;
    a.run_expect(&wide, 0).await;

    let reference = Workspace::synth(&fast);
    reference.run_expect(&wide, 0).await;
    let expected = reference.rows(Timeframe::H1).await;
    let count = rows_and_unique_rows(&s3.url());
    let n = expected.len();
    assert_eq!(count.trim(), format!("{n} {n}"), "rows and unique rows");

    assert_each_reject_once(&[&a, &b], &reference);

    // Both watermarks describe the table.
    let status = a.report(["status", "--json"]).await;
    for pair in ["BTC-USD", "ETH-USD"] {
        let table = crate::support::series_in(&status["series"], pair, "1h");
        for ws in [&a, &b] {
            let mark = crate::support::read_json(&ws.watermark("coinbase", pair, "1h"));
            for key in ["coverage", "first_candle", "last_candle"] {
                assert_eq!(mark[key], table[key], "{pair} {key}: {mark}");
            }
        }
    }
}
