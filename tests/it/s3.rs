//! Object storage: `CANDLELAKE_LAKE=s3://...` against a real S3-compatible server on loopback
//! (moto, which honours `If-None-Match`), with two processes with separate state dirs
//! backfilling overlapping ranges of the same series into the same tables at once.

use candlelake::providers::Timeframe;

use crate::support::servers::{moto, s3_options};
use crate::support::synth::synth_server;
use crate::support::workspace::assert_done_or_lost_race;
use crate::support::{Workspace, backfill, python};

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

    let options: serde_json::Map<_, _> = s3_options(&s3.url())
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .collect();
    let count = python(&format!(
        "import json\n\
         from deltalake import DeltaTable\n\
         t = DeltaTable('s3://lake/candles/raw_market_data_1h', storage_options=json.loads('{}'))\n\
         rows = t.to_pyarrow_table(columns=['asset_pair', 'timestamp']).to_pylist()\n\
         print(len(rows), len({{(r['asset_pair'], r['timestamp']) for r in rows}}))",
        serde_json::Value::Object(options)
    ));
    assert_eq!(
        count.trim(),
        format!("{expected} {expected}"),
        "rows and unique rows on S3"
    );
}
