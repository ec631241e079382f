//! The state dir on object storage (`CANDLELAKE_STATE_DIR=s3://...`) against moto: a run with
//! lake and state on S3 writes what a local run writes and leaves its watermarks, DLQ and ledger
//! as objects the reading commands use; the run lock is a lease object that refuses a second
//! run naming its owner, is taken over once expired (by one of two racing runs), is renewed
//! while a run outlives it, and a run that loses it to another stops at once.

use std::process::Output;
use std::sync::Arc;

use candlelake::providers::Timeframe;
use chrono::{DateTime, TimeDelta, Utc};
use futures::TryStreamExt as _;
use object_store::ObjectStore;
use object_store::ObjectStoreExt as _;
use object_store::path::Path as ObjectPath;
use serde_json::json;

use crate::support::servers::{moto, s3_options};
use crate::support::synth::{held_server, slow_server, synth_server};
use crate::support::{Args, Workspace, at, backfill, python, read_json, series_in, stdout_json};

/// The lake at `s3://lake/candles` and the state dir at `s3://lake/state` on `endpoint`.
fn on_s3(mut ws: Workspace, endpoint: &str) -> Workspace {
    ws.set("CANDLELAKE_LAKE", "s3://lake/candles");
    ws.set("CANDLELAKE_STATE_DIR", "s3://lake/state");
    for (k, v) in s3_options(endpoint) {
        ws.set(k, &v);
    }
    ws
}

/// The bucket, as this test reads and writes it.
fn bucket(endpoint: &str) -> Arc<dyn ObjectStore> {
    let mut builder = object_store::aws::AmazonS3Builder::new().with_bucket_name("lake");
    for (k, v) in s3_options(endpoint) {
        builder = builder.with_config(k.to_ascii_lowercase().parse().unwrap(), v);
    }
    Arc::new(builder.build().unwrap())
}

/// The keys under `prefix`, relative to it, sorted.
async fn keys(store: &Arc<dyn ObjectStore>, prefix: &str) -> Vec<String> {
    let listed: Vec<object_store::ObjectMeta> = store
        .list(Some(&ObjectPath::from(prefix)))
        .try_collect()
        .await
        .unwrap();
    let mut keys: Vec<String> = listed
        .into_iter()
        .map(|m| m.location.as_ref()[prefix.len() + 1..].to_string())
        .collect();
    keys.sort();
    keys
}

async fn get_json(store: &Arc<dyn ObjectStore>, key: &str) -> serde_json::Value {
    let bytes = store
        .get(&ObjectPath::from(key))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn put_json(store: &Arc<dyn ObjectStore>, key: &str, value: &serde_json::Value) {
    store
        .put(
            &ObjectPath::from(key),
            value.to_string().into_bytes().into(),
        )
        .await
        .unwrap();
}

/// Every row of the table of `tf` on S3 as "pair time open high low close volume", sorted, as
/// delta-rs Python reads them.
fn s3_table(endpoint: &str, tf: &str) -> String {
    let options: serde_json::Map<String, serde_json::Value> = s3_options(endpoint)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .collect();
    python(&format!(
        "import json\n\
         from deltalake import DeltaTable\n\
         t = DeltaTable('s3://lake/candles/raw_market_data_{tf}', storage_options=json.loads('{}'))\n\
         cols = ['asset_pair', 'timestamp', 'open', 'high', 'low', 'close', 'volume']\n\
         rows = t.to_pyarrow_table(columns=cols).to_pylist()\n\
         f = lambda d: format(d.normalize(), 'f')\n\
         for r in sorted(rows, key=lambda r: (r['asset_pair'], r['timestamp'])):\n\
         \x20   print(r['asset_pair'], r['timestamp'].isoformat(), *[f(r[c]) for c in cols[2:]])",
        serde_json::Value::Object(options)
    ))
}

/// The same lines for a local workspace's table.
async fn local_table(ws: &Workspace, tf: Timeframe) -> String {
    ws.rows(tf)
        .await
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} {} {} {}\n",
                r.asset_pair,
                r.timestamp.format("%Y-%m-%dT%H:%M:%S+00:00"),
                r.open,
                r.high,
                r.low,
                r.close,
                r.volume
            )
        })
        .collect()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A lease record as the binary writes it.
fn lease(pid: u32, host: &str, expires: DateTime<Utc>) -> serde_json::Value {
    json!({
        "owner": "planted",
        "host": host,
        "pid": pid,
        "started": expires - TimeDelta::hours(2),
        "expires": expires,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_with_lake_and_state_on_s3_matches_a_local_run_and_its_state_reads_back() {
    let s3 = moto().await;
    let store = bucket(&s3.url());
    let server = synth_server().await;
    let args = backfill("coinbase", "BTC-USD,ETH-USD", "1h").range("2024-01-01", "2024-01-20");
    let local = Workspace::synth(&server);
    local.run_ok(&args).await;
    let ws = on_s3(Workspace::synth(&server), &s3.url());
    ws.run_ok(&args).await;

    assert_eq!(
        s3_table(&s3.url(), "1h"),
        local_table(&local, Timeframe::H1).await,
        "the table on S3 is the local run's, cell for cell"
    );
    assert!(
        !ws.dir.path().join("s3:").exists(),
        "nothing of the state is written to disk"
    );

    // Watermarks are objects, equal to the local run's, and `status --json` reads them.
    let objects = keys(&store, "state").await;
    let status = ws.report(["status", "--json"]).await;
    let local_status = local.report(["status", "--json"]).await;
    for pair in ["BTC-USD", "ETH-USD"] {
        let key = format!("watermarks/coinbase/{pair}/1h.json");
        assert!(objects.contains(&key), "{objects:?}");
        let mark = get_json(&store, &format!("state/{key}")).await;
        let local_mark = read_json(&local.watermark("coinbase", pair, "1h"));
        let reported = series_in(&status["series"], pair, "1h");
        for field in ["coverage", "first_candle", "last_candle"] {
            assert_eq!(mark[field], local_mark[field], "{pair} {field}");
            assert_eq!(reported[field], mark[field], "{pair} {field}: {status}");
        }
        let local_reported = series_in(&local_status["series"], pair, "1h");
        assert_eq!(reported["dlq_records"], local_reported["dlq_records"]);
        assert!(reported["dlq_records"].as_u64().unwrap() > 0, "{status}");
    }

    // DLQ files are whole objects, none left pending, listed as the local run's are.
    let dlq: Vec<&String> = objects
        .iter()
        .filter(|k| k.starts_with("dlq/") && k.ends_with(".json"))
        .collect();
    assert!(!dlq.is_empty(), "{objects:?}");
    assert!(
        !objects.iter().any(|k| k.starts_with("dlq/pending/")),
        "{objects:?}"
    );
    let listed = stdout_json(&ws.run_expect(["dlq", "list", "--json"], 0).await);
    let local_listed = stdout_json(&local.run_expect(["dlq", "list", "--json"], 0).await);
    let records = |list: &serde_json::Value| -> Vec<(String, u64)> {
        let mut r: Vec<(String, u64)> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["asset_pair"].as_str().unwrap().to_string(),
                    f["records"].as_u64().unwrap(),
                )
            })
            .collect();
        r.sort();
        r
    };
    assert_eq!(records(&listed), records(&local_listed));
    assert_eq!(listed.as_array().unwrap().len(), dlq.len());

    // A rerun asks for nothing.
    let before = server.received_requests().await.unwrap().len();
    ws.run_ok(&args).await;
    assert_eq!(server.received_requests().await.unwrap().len(), before);

    // A corrected record is replayed from its object once, and the ledger is an object.
    let first = format!("state/{}", dlq[0]);
    let mut file = get_json(&store, &first).await;
    let raw = &mut file["records"][0]["raw"];
    let (high, low) = (raw["high"].clone(), raw["low"].clone());
    raw["high"] = low;
    raw["low"] = high;
    let pair = file["context"]["asset_pair"].as_str().unwrap().to_string();
    let fixed = file["records"][0]["timestamp"]
        .as_str()
        .unwrap()
        .to_string();
    put_json(&store, &first, &file).await;
    let report = ws.report(["dlq", "replay"]).await;
    assert_eq!(report["written"], 1, "{report}");
    let again = ws.report(["dlq", "replay"]).await;
    assert_eq!(again["written"], 0, "{again}");
    let table = s3_table(&s3.url(), "1h");
    let fixed_line = format!("{pair} {}", fixed.replace('Z', "+00:00"));
    assert_eq!(
        table.lines().filter(|l| l.starts_with(&fixed_line)).count(),
        1,
        "{fixed_line} once"
    );
    let ledger = store
        .get(&ObjectPath::from("state/dlq/replayed.jsonl"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let ledger = String::from_utf8_lossy(&ledger);
    assert_eq!(ledger.lines().count(), 1, "{ledger}");
    assert!(ledger.contains("\"written\":true"), "{ledger}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_lease_refuses_a_run_naming_its_owner_and_an_expired_one_is_taken_over() {
    let s3 = moto().await;
    let store = bucket(&s3.url());
    let server = synth_server().await;
    let ws = on_s3(Workspace::synth(&server), &s3.url());
    let args = backfill("coinbase", "BTC-USD", "1h").range("2024-01-01", "2024-01-03");
    let key = "state/locks/all.json";

    put_json(
        &store,
        key,
        &lease(4242, "pod-7", Utc::now() + TimeDelta::hours(1)),
    )
    .await;
    let out = ws.run_expect(&args, 3).await;
    let message = text(&out);
    assert!(message.contains("pid 4242 on pod-7"), "{message}");
    assert!(message.contains("s3://lake/state"), "{message}");
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "no request while another run holds the lease"
    );
    assert_eq!(get_json(&store, key).await["owner"], "planted");

    put_json(
        &store,
        key,
        &lease(4242, "pod-7", Utc::now() - TimeDelta::seconds(1)),
    )
    .await;
    ws.run_ok(&args).await;
    let left = get_json(&store, key).await;
    assert_ne!(left["owner"], "planted", "the expired lease was taken over");
    assert_ne!(left["pid"], 4242);
    let expires: DateTime<Utc> = serde_json::from_value(left["expires"].clone()).unwrap();
    assert!(expires <= Utc::now(), "released at the end: {left}");
    // A released lease is free for the next run.
    ws.run_ok(&args).await;

    // A shard's run holds its own lease, beside the others.
    put_json(
        &store,
        "state/locks/1-of-2.json",
        &lease(4343, "pod-8", Utc::now() + TimeDelta::hours(1)),
    )
    .await;
    let out = ws.run_expect(args.clone().flag("--shard", "1/2"), 3).await;
    assert!(text(&out).contains("pid 4343 on pod-8"), "{}", text(&out));
    ws.run_ok(args.clone().flag("--shard", "0/2")).await;
    let shard = get_json(&store, "state/locks/0-of-2.json").await;
    let expires: DateTime<Utc> = serde_json::from_value(shard["expires"].clone()).unwrap();
    assert!(expires <= Utc::now(), "released: {shard}");
    assert!(shard["pid"].as_u64().unwrap() > 0 && shard["owner"] != "planted");
}

#[tokio::test(flavor = "multi_thread")]
async fn of_two_runs_taking_over_one_expired_lease_exactly_one_wins() {
    let s3 = moto().await;
    let store = bucket(&s3.url());
    let server = slow_server().await;
    let a = on_s3(Workspace::synth(&server), &s3.url());
    let b = on_s3(Workspace::synth(&server), &s3.url());
    let args = backfill("coinbase", "BTC-USD", "1m").range("2024-01-01", "2024-01-03");
    put_json(
        &store,
        "state/locks/all.json",
        &lease(4242, "pod-7", Utc::now() - TimeDelta::seconds(1)),
    )
    .await;
    let (first, second) = (a.spawn(&args), b.spawn(&args));
    let pids = [first.id(), second.id()];
    let (first, second) = tokio::task::spawn_blocking(move || {
        (
            first.wait_with_output().unwrap(),
            second.wait_with_output().unwrap(),
        )
    })
    .await
    .unwrap();
    let mut codes = [first.status.code(), second.status.code()];
    codes.sort();
    assert_eq!(
        codes,
        [Some(0), Some(3)],
        "{}\n{}",
        text(&first),
        text(&second)
    );
    let (winner, loser) = if first.status.code() == Some(0) {
        (pids[0], &second)
    } else {
        (pids[1], &first)
    };
    assert!(
        text(loser).contains(&format!("pid {winner} on ")),
        "the loser names the winner: {}",
        text(loser)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_longer_than_its_lease_keeps_it_by_renewing() {
    let s3 = moto().await;
    let store = bucket(&s3.url());
    let server = slow_server().await;
    let lease_ms = 1500;
    let ws = on_s3(Workspace::synth(&server), &s3.url())
        .with("CANDLELAKE_STATE_LEASE_MS", &lease_ms.to_string());
    let long: Args = backfill("coinbase", "BTC-USD", "1m").range("2024-01-01", "2024-01-20");
    let mut running = ws.spawn(&long);
    let key = ObjectPath::from("state/locks/all.json");

    // Wait until the run has held its lease longer than one lease duration.
    let started = loop {
        if let Ok(got) = store.get(&key).await {
            let held: serde_json::Value =
                serde_json::from_slice(&got.bytes().await.unwrap()).unwrap();
            let started: DateTime<Utc> = serde_json::from_value(held["started"].clone()).unwrap();
            break started;
        }
        assert!(running.try_wait().unwrap().is_none(), "the run ended early");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    while Utc::now() < started + TimeDelta::milliseconds(2 * lease_ms) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        running.try_wait().unwrap().is_none(),
        "the run must outlive its lease for this test"
    );
    let out = ws
        .run_expect(
            backfill("coinbase", "ETH-USD", "1h").range("2024-01-01", "2024-01-02"),
            3,
        )
        .await;
    assert!(
        text(&out).contains(&format!("pid {} on ", running.id())),
        "the renewed lease still names the running run: {}",
        text(&out)
    );
    let held = get_json(&store, "state/locks/all.json").await;
    let expires: DateTime<Utc> = serde_json::from_value(held["expires"].clone()).unwrap();
    assert!(
        expires > started + TimeDelta::milliseconds(lease_ms),
        "renewed: {held}"
    );
    running.kill().unwrap();
    running.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_lease_another_run_takes_stops_without_a_request_or_commit_more() {
    use std::sync::atomic::Ordering;

    let s3 = moto().await;
    let store = bucket(&s3.url());
    let (server, hold, held) = held_server().await;
    let ws = on_s3(Workspace::synth(&server), &s3.url())
        .with("CANDLELAKE_STATE_LEASE_MS", "1500")
        .with("CANDLELAKE_COMMIT_ROWS", "1500");
    let args = backfill("coinbase", "BTC-USD", "1m").range("2024-01-01", "2024-01-08");
    let whole = synth_server().await;
    let local = Workspace::synth(&whole);
    local.run_ok(&args).await;
    let expected = local_table(&local, Timeframe::M1).await;

    let mut json = Args::of(&["--output", "json"]);
    for word in &args {
        json = json.arg(word);
    }
    let mut running = ws.spawn(&json);
    // Once the run has committed rows, the provider holds its answers and another run takes
    // the lease over.
    let second =
        ObjectPath::from("candles/raw_market_data_1m/_delta_log/00000000000000000001.json");
    while store.head(&second).await.is_err() {
        assert!(
            running.try_wait().unwrap().is_none(),
            "the run ended before its second commit"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    hold.store(true, Ordering::SeqCst);
    let key = "state/locks/all.json";
    put_json(
        &store,
        key,
        &lease(4545, "pod-9", Utc::now() + TimeDelta::hours(1)),
    )
    .await;
    let out = tokio::task::spawn_blocking(move || running.wait_with_output().unwrap())
        .await
        .unwrap();

    let message = text(&out);
    assert_eq!(out.status.code(), Some(3), "{message}");
    assert!(message.contains("pid 4545 on pod-9"), "{message}");
    assert!(
        message.contains("raise CANDLELAKE_STATE_LEASE_MS, or stop the other run"),
        "{message}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = summary["results"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("pid 4545 on pod-9"), "{summary}");
    // Held answers never came: every request after the takeover was sent before the run
    // noticed it, at most the 4 windows a series keeps in flight.
    let after = held.load(Ordering::SeqCst);
    assert!(after <= 4, "{after} requests after the takeover");
    assert_eq!(
        get_json(&store, key).await["owner"],
        "planted",
        "the run that lost the lease leaves it to its new owner"
    );

    // What the table holds is whole commits: exactly the candles of the coverage it records.
    let status = ws.report(["status", "--json"]).await;
    let coverage = &series_in(&status["series"], "BTC-USD", "1m")["coverage"];
    let bound = |k: &str| -> DateTime<Utc> { serde_json::from_value(coverage[k].clone()).unwrap() };
    let (from, to) = (bound("from"), bound("to"));
    assert!(to < at("2024-01-08T00:00:00Z"), "{status}");
    let within: String = expected
        .lines()
        .filter(|l| {
            let t: DateTime<Utc> = l.split(' ').nth(1).unwrap().parse().unwrap();
            from <= t && t < to
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!within.is_empty(), "{status}");
    assert_eq!(s3_table(&s3.url(), "1m"), within);

    // Once the other run is gone, a rerun completes the table exactly, rejects recorded once.
    hold.store(false, Ordering::SeqCst);
    put_json(
        &store,
        key,
        &lease(4545, "pod-9", Utc::now() - TimeDelta::seconds(1)),
    )
    .await;
    ws.run_ok(&args).await;
    assert_eq!(s3_table(&s3.url(), "1m"), expected);
    let records = dlq_records(&local).await;
    assert_eq!(dlq_records(&ws).await, records);
    assert!(records > 0);
}

/// The records of every DLQ file `dlq list` shows.
async fn dlq_records(ws: &Workspace) -> u64 {
    let list = stdout_json(&ws.run_expect(["dlq", "list", "--json"], 0).await);
    list.as_array()
        .unwrap()
        .iter()
        .map(|f| f["records"].as_u64().unwrap())
        .sum()
}
