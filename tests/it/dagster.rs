//! The Dagster project of `deploy/dagster` run for real, in process (`dagster` from PyPI, driven
//! by `tests/python/dagster_shards.py`): its 4 partitions at once, each a `backfill --shard I/4`
//! into an S3 lake on moto reporting through Dagster Pipes, then its `gaps` asset check.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::support::servers::{moto, s3_options};
use crate::support::synth::synth_server;
use crate::support::workspace::output;
use crate::support::{Workspace, backfill, python, root, shard_of};

const PAIRS: &str = "BTC-USD,ETH-USD,SOL-USD,LTC-USD";
const SHARDS: u64 = 4;
const TABLE_1H: &str = "s3://lake/candles/raw_market_data_1h";

/// Runs the driver script in `ws`'s environment: `materialize` with a partition, or `check`.
/// Returns its JSON report.
async fn dagster(ws: &Workspace, mode: &str, partition: Option<u64>) -> Value {
    let config = ws.dir.path().join("selection.json");
    let selection = json!({
        "binary": env!("CARGO_BIN_EXE_candlelake"),
        "command": "backfill",
        "provider": "coinbase",
        "pairs": PAIRS,
        "timeframes": "1h,1d",
        "start": "2024-01-01",
        "end": "2024-01-08",
        "shards": SHARDS,
    });
    std::fs::write(&config, selection.to_string()).unwrap();
    let script = root().join("tests/python/dagster_shards.py");
    let mut words = vec![
        script.display().to_string(),
        mode.into(),
        config.display().to_string(),
    ];
    words.extend(partition.map(|p| p.to_string()));
    let out = output(ws.program("python3", &words)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Dagster driver failed (tests/setup.sh installs dagster):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The S3 storage options as a Python dict literal (JSON is one).
fn storage_options(endpoint: &str) -> String {
    let options: serde_json::Map<_, _> = s3_options(endpoint)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .chain([("AWS_S3_ALLOW_UNSAFE_RENAME".into(), "true".into())])
        .collect();
    Value::Object(options).to_string()
}

/// What the summary says of each series, in the shape of the metadata's `series` entries.
fn summary_series(summary: &Value) -> Vec<Value> {
    summary["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            json!({
                "provider": r["provider"], "asset_pair": r["asset_pair"],
                "timeframe": r["timeframe"], "status": r["status"], "records": r["records"],
                "dead_lettered": r["dead_lettered"], "coverage_end": r["coverage"]["to"],
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn four_partitions_materialise_through_pipes_with_the_run_summaries_as_metadata() {
    let s3 = moto().await;
    let server = synth_server().await;
    let mut ws = Workspace::synth(&server);
    ws.set("CANDLELAKE_LAKE", "s3://lake/candles");
    for (k, v) in s3_options(&s3.url()) {
        ws.set(k, &v);
    }

    // The 4 partitions' runs at once, each in its own process as Dagster's executors run them.
    let partitions = futures::future::join_all(
        (0..SHARDS).map(|shard| dagster(&ws, "materialize", Some(shard))),
    )
    .await;

    let mut seen = BTreeSet::new();
    let mut records: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut dead_lettered = 0;
    for p in &partitions {
        let shard: u64 = p["partition"].as_str().unwrap().parse().unwrap();
        assert_eq!(p["success"], true, "partition {shard}: {p}");
        // The binary's own summary (--output json) and what Dagster recorded from Pipes.
        let [summary] = p["summaries"].as_array().unwrap().as_slice() else {
            panic!("partition {shard}: not one run summary: {p}")
        };
        let [md] = p["materializations"].as_array().unwrap().as_slice() else {
            panic!("partition {shard}: not one materialization: {p}")
        };
        assert_eq!(md["ingestion_id"], summary["ingestion_id"], "the same run");
        assert_eq!(md["status"], summary["status"]);
        assert_eq!(md["records"], summary["total_records"]);
        assert_eq!(md["dead_lettered"], summary["total_failed"]);
        let series = summary_series(summary);
        assert_eq!(md["series_count"], series.len());
        assert_eq!(md["series"], Value::Array(series.clone()));
        let ends: Vec<&str> = series
            .iter()
            .map(|s| s["coverage_end"].as_str().unwrap())
            .collect();
        assert_eq!(md["coverage_end"], json!(ends.iter().min()));
        for s in &series {
            let (pair, tf) = (s["asset_pair"].as_str().unwrap(), s["timeframe"].as_str());
            let tf = tf.unwrap();
            assert_eq!(shard_of("coinbase", pair, tf, SHARDS), shard, "{pair} {tf}");
            assert_eq!(s["status"], "success");
            assert_eq!(s["coverage_end"], "2024-01-08T00:00:00Z");
            assert!(
                seen.insert((pair.to_string(), tf.to_string())),
                "{pair} {tf} twice"
            );
            records.insert(
                (pair.to_string(), tf.to_string()),
                s["records"].as_u64().unwrap(),
            );
            dead_lettered += s["dead_lettered"].as_u64().unwrap();
        }
    }
    assert_eq!(
        seen.len(),
        8,
        "every series in exactly one partition: {seen:?}"
    );
    assert!(dead_lettered > 0, "the DLQ counts are real ones");

    // The gaps check over every series held passes: dead-lettered gaps do not fail it (the
    // synthetic server rejects a candle every 97th bucket), no_trades ones neither.
    let report = dagster(&ws, "check", None).await;
    let [check] = report["checks"].as_array().unwrap().as_slice() else {
        panic!("not one check evaluation: {report}")
    };
    assert_eq!(check["passed"], true, "{check}");
    assert_eq!(check["metadata"]["series_checked"], 8);
    assert_eq!(check["metadata"]["failing_series"], json!([]));
    assert!(
        check["metadata"]["gaps_dead_lettered"].as_u64() > Some(0),
        "{check}"
    );

    // The table on S3 holds what the metadata says, and equals one clean single-process run.
    let reference = Workspace::synth(&server);
    reference
        .run_expect(
            &backfill("coinbase", PAIRS, "1h,1d").range("2024-01-01", "2024-01-08"),
            0,
        )
        .await;
    let compared = python(&format!(
        "import json\n\
         from deltalake import DeltaTable\n\
         def rows(uri, options=None):\n\
         \x20   t = DeltaTable(uri, storage_options=options).to_pyarrow_table()\n\
         \x20   keep = [c for c in t.column_names if not c.startswith('_')]\n\
         \x20   return sorted(tuple(str(v) for v in r.values()) for r in t.select(keep).to_pylist())\n\
         out = {{}}\n\
         for tf in ('1h', '1d'):\n\
         \x20   lake = rows(f's3://lake/candles/raw_market_data_{{tf}}', json.loads('{options}'))\n\
         \x20   same = lake == rows(f'{local}/raw_market_data_{{tf}}')\n\
         \x20   pairs = {{}}\n\
         \x20   for r in DeltaTable(f's3://lake/candles/raw_market_data_{{tf}}', storage_options=json.loads('{options}')).to_pyarrow_table(columns=['asset_pair']).to_pylist():\n\
         \x20       pairs[r['asset_pair']] = pairs.get(r['asset_pair'], 0) + 1\n\
         \x20   out[tf] = {{'same': same, 'pairs': pairs}}\n\
         print(json.dumps(out))",
        options = storage_options(&s3.url()),
        local = reference.lake(),
    ));
    // The first line: `python` appends stderr after stdout.
    let tables: Value = serde_json::from_str(compared.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {compared}"));
    for ((pair, tf), n) in &records {
        assert_eq!(tables[tf]["same"], true, "{tf}: {compared}");
        assert_eq!(tables[tf]["pairs"][pair], *n, "{pair} {tf}: {compared}");
    }

    // Another writer deletes a day of BTC-USD 1h rows: the check now fails, naming that series.
    let deleted = python(&format!(
        "import json\n\
         from deltalake import DeltaTable\n\
         t = DeltaTable('{TABLE_1H}', storage_options=json.loads('{}'))\n\
         print(t.delete(\"asset_pair = 'BTC-USD' AND timestamp >= '2024-01-03T00:00:00Z' AND timestamp < '2024-01-04T00:00:00Z'\")['num_deleted_rows'])",
        storage_options(&s3.url())
    ));
    assert!(
        deleted
            .lines()
            .next()
            .unwrap_or_default()
            .parse::<u64>()
            .is_ok_and(|n| n > 20),
        "{deleted}"
    );
    let report = dagster(&ws, "check", None).await;
    let check = &report["checks"][0];
    assert_eq!(check["passed"], false, "{report}");
    assert_eq!(
        check["metadata"]["failing_series"],
        json!(["coinbase/BTC-USD/1h"])
    );
    assert!(
        check["metadata"]["gaps_removed"].as_u64() > Some(0),
        "{check}"
    );
}

/// Base64 of zlib-compressed JSON: how Dagster passes the Pipes bootstrap params.
fn pipes_param(value: &Value) -> String {
    use base64::Engine;
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(value.to_string().as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn pipes_messages_on_stderr_carry_the_summary_or_the_error_and_bad_params_stop_early() {
    let server = synth_server().await;
    let week = backfill("coinbase", "BTC-USD", "1h").range("2024-01-01", "2024-01-08");
    let context = pipes_param(&json!({"data": {"asset_keys": ["candles"], "run_id": "r"}}));
    let ws = Workspace::synth(&server)
        .with("DAGSTER_PIPES_CONTEXT", &context)
        .with(
            "DAGSTER_PIPES_MESSAGES",
            &pipes_param(&json!({"stdio": "stderr"})),
        );
    let out = ws
        .run_expect(week.clone().global(&["--output", "json"]), 0)
        .await;
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let messages: Vec<Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("__dagster_pipes_version"))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let methods: Vec<&str> = messages
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        ["opened", "report_asset_materialization", "closed"]
    );
    let md = &messages[1]["params"]["metadata"];
    assert_eq!(messages[1]["params"]["asset_key"], "candles");
    assert_eq!(md["records"]["raw_value"], summary["total_records"]);
    assert_eq!(md["dead_lettered"]["raw_value"], summary["total_failed"]);
    assert_eq!(md["ingestion_id"]["raw_value"], summary["ingestion_id"]);
    assert_eq!(md["series"]["raw_value"], json!(summary_series(&summary)));

    // A run that fails before it has a summary closes with the error it printed.
    let backwards = backfill("coinbase", "BTC-USD", "1h").range("2024-01-08", "2024-01-01");
    let out = ws.run_expect(&backwards, 1).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let closed: Value = stderr
        .lines()
        .filter(|l| l.contains("__dagster_pipes_version"))
        .map(|l| serde_json::from_str(l).unwrap())
        .next_back()
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(closed["method"], "closed");
    let message = closed["params"]["exception"]["message"].as_str().unwrap();
    assert!(stderr.contains(&format!("error: {message}")), "{stderr}");

    // Params that are not base64 of zlib JSON: exit 1 naming the variable, nothing fetched.
    let before = server.received_requests().await.unwrap().len();
    let bad = Workspace::synth(&server)
        .with("DAGSTER_PIPES_CONTEXT", &context)
        .with("DAGSTER_PIPES_MESSAGES", "not-base64");
    let out = bad.run_expect(&week, 1).await;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("DAGSTER_PIPES_MESSAGES is not base64"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.received_requests().await.unwrap().len(), before);
}
