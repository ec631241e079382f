//! Health checks that cannot lie: `status` describes the tables, whatever happened to the
//! watermark files, and names damage to a table (lost data files, a torn commit) with the fix.

use std::path::{Path, PathBuf};

use candlelake::providers::Timeframe;
use chrono::{DateTime, Utc};

use crate::support::args::{Args, backfill};
use crate::support::deletion::{
    Storage, delete_with_deletion_vectors, files_with_deletion_vectors,
};
use crate::support::synth::synth_server;
use crate::support::{Workspace, series_in, unique_keys, walk};

/// BTC-USD and ETH-USD 1h over a week of 2024, and BTC-USD 1d over January.
async fn lake() -> (wiremock::MockServer, Workspace) {
    let server = synth_server().await;
    let ws = Workspace::synth(&server);
    ws.run_expect(
        backfill("coinbase", "BTC-USD,ETH-USD", "1h").range("2024-01-01", "2024-01-08"),
        0,
    )
    .await;
    ws.run_expect(
        backfill("coinbase", "BTC-USD", "1d").range("2024-01-01", "2024-02-01"),
        0,
    )
    .await;
    (server, ws)
}

async fn status(ws: &Workspace, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let args = extra
        .iter()
        .fold(Args::of(&["status", "--json"]), |a, w| a.arg(w));
    let out = ws.run(args).await;
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

/// The 1h rows of `pair`, read back from the table.
async fn held(ws: &Workspace, pair: &str) -> usize {
    ws.rows(Timeframe::H1)
        .await
        .iter()
        .filter(|r| r.asset_pair == pair)
        .count()
}

/// Each row's pair, time and values, in table order.
fn candles(rows: Vec<candlelake::sink::TableRow>) -> Vec<(String, DateTime<Utc>, [String; 5])> {
    rows.into_iter()
        .map(|r| {
            (
                r.asset_pair,
                r.timestamp,
                [r.open, r.high, r.low, r.close, r.volume],
            )
        })
        .collect()
}

fn watermark(ws: &Workspace, pair: &str, tf: &str) -> PathBuf {
    ws.state()
        .join("watermarks/coinbase")
        .join(pair)
        .join(format!("{tf}.json"))
}

fn series<'a>(report: &'a serde_json::Value, pair: &str, tf: &str) -> &'a serde_json::Value {
    series_in(&report["series"], pair, tf)
}

/// Rewrites the ETH-USD 1h watermark file, each (old, new) text replaced.
fn edit_eth_watermark(ws: &Workspace, edits: &[(&str, &str)]) {
    let path = watermark(ws, "ETH-USD", "1h");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = edits.iter().fold(text.clone(), |t, (a, b)| t.replace(a, b));
    assert_ne!(text, edited, "the watermark changed shape: {text}");
    std::fs::write(&path, edited).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_watermarks_leave_every_series_listed_from_the_tables() {
    let (_server, ws) = lake().await;
    let (_, before) = status(&ws, &[]).await;
    std::fs::remove_dir_all(ws.state().join("watermarks")).unwrap();

    let (code, report) = status(&ws, &["--fail-if-stale", "26h"]).await;
    assert_eq!(code, Some(2), "a week of 2024 is stale: {report}");
    assert_eq!(report["series"].as_array().unwrap().len(), 3, "{report}");
    for (pair, tf) in [("BTC-USD", "1h"), ("ETH-USD", "1h"), ("BTC-USD", "1d")] {
        let now = series(&report, pair, tf);
        let was = series(&before, pair, tf);
        assert_eq!(now["watermark"], "missing");
        assert_eq!(now["stale"], true);
        for field in ["coverage", "rows", "first_candle", "last_candle"] {
            assert_eq!(now[field], was[field], "{pair} {tf} {field}");
        }
    }
    assert_eq!(
        series(&report, "BTC-USD", "1h")["rows"],
        held(&ws, "BTC-USD").await,
        "rows as the table holds them"
    );
    assert_eq!(
        series(&report, "BTC-USD", "1h")["coverage"]["to"],
        "2024-01-08T00:00:00Z"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watermark_ahead_of_the_table_does_not_hide_staleness() {
    let (_server, ws) = lake().await;
    edit_eth_watermark(
        &ws,
        &[
            (
                "\"to\": \"2024-01-08T00:00:00Z\"",
                "\"to\": \"2099-01-01T00:00:00Z\"",
            ),
            (
                "\"last_candle\": \"2024-01-07T23:00:00Z\"",
                "\"last_candle\": \"2098-12-31T23:00:00Z\"",
            ),
        ],
    );

    let (code, report) = status(&ws, &["--fail-if-stale", "26h"]).await;
    assert_eq!(code, Some(2), "{report}");
    let eth = series(&report, "ETH-USD", "1h");
    assert_eq!(eth["watermark"], "ahead");
    assert_eq!(eth["coverage"]["to"], "2024-01-08T00:00:00Z");
    assert_eq!(eth["last_candle"], "2024-01-07T23:00:00Z");
    assert!(eth["lag_seconds"].as_i64().unwrap() > 300 * 86_400, "{eth}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_garbage_or_empty_watermark_is_listed_and_flagged() {
    let (_server, ws) = lake().await;
    std::fs::write(watermark(&ws, "ETH-USD", "1h"), "{\"version\": 1, \"prov").unwrap();
    std::fs::write(watermark(&ws, "BTC-USD", "1d"), "").unwrap();
    let (code, report) = status(&ws, &[]).await;
    assert_eq!(
        code,
        Some(0),
        "a cache problem alone is no failure: {report}"
    );
    assert_eq!(series(&report, "ETH-USD", "1h")["watermark"], "unreadable");
    assert_eq!(
        series(&report, "ETH-USD", "1h")["rows"],
        held(&ws, "ETH-USD").await
    );
    assert_eq!(series(&report, "BTC-USD", "1d")["watermark"], "unreadable");
    assert_eq!(series(&report, "BTC-USD", "1h")["watermark"], "ok");
}

/// Deletes one ETH-USD data file of the 1h table behind the log's back; returns its path.
fn lose_an_eth_file(ws: &Workspace) -> PathBuf {
    let table = Path::new(&ws.lake()).join("raw_market_data_1h");
    let lost = data_files(&table)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("ETH-USD"))
        .unwrap();
    std::fs::remove_file(&lost).unwrap();
    lost
}

/// Cuts the 1h table's commit 1 in half, as a bad copy would.
fn tear_commit_1(ws: &Workspace) {
    let torn =
        Path::new(&ws.lake()).join("raw_market_data_1h/_delta_log/00000000000000000001.json");
    let text = std::fs::read_to_string(&torn).unwrap();
    std::fs::write(&torn, &text[..text.len() / 2]).unwrap();
}

fn data_files(table: &Path) -> Vec<PathBuf> {
    walk(table)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .filter(|p| !p.to_string_lossy().contains("_delta_log"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_file_lost_under_the_log_is_named_by_status() {
    let (_server, ws) = lake().await;
    let lost = lose_an_eth_file(&ws);
    let (code, report) = status(&ws, &[]).await;
    assert_eq!(code, Some(2), "{report}");
    let problem = report["problems"][0].as_str().unwrap();
    let name = lost.file_name().unwrap().to_string_lossy();
    assert!(problem.contains(name.as_ref()), "{problem}");
    assert!(problem.contains("maintain --repair"), "{problem}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_torn_commit_fails_its_table_alone_and_is_named() {
    let (_server, ws) = lake().await;
    tear_commit_1(&ws);

    let (code, report) = status(&ws, &[]).await;
    assert_eq!(code, Some(2), "{report}");
    let problem = report["problems"][0].as_str().unwrap();
    assert!(
        problem.contains("raw_market_data_1h") && problem.contains("00000000000000000001.json"),
        "{problem}"
    );
    let daily = series(&report, "BTC-USD", "1d");
    assert_eq!(daily["rows"], 31, "the 1d table still reads: {report}");
    assert!(daily["error"].is_null());
    assert!(series(&report, "ETH-USD", "1h")["error"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_watermarks_do_not_stop_topup() {
    let server = synth_server().await;
    let ws = Workspace::synth(&server);
    let day = crate::support::days_ago;
    let (start, end) = (day(3), day(1));
    ws.run_expect(
        backfill("coinbase", "BTC-USD,ETH-USD", "1h").range(&start, &end),
        0,
    )
    .await;
    std::fs::remove_dir_all(ws.state().join("watermarks")).unwrap();

    let summary = ws.run_ok(["topup"]).await;
    assert_eq!(summary["results"].as_array().unwrap().len(), 2, "{summary}");
    let (_, report) = status(&ws, &[]).await;
    let to = series(&report, "BTC-USD", "1h")["coverage"]["to"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(to > format!("{}T", day(1)), "topped up past {end}: {to}");
    // Exactly what one backfill of the whole range writes, cell for cell.
    let reference = Workspace::synth(&server);
    reference
        .run_expect(
            backfill("coinbase", "BTC-USD,ETH-USD", "1h").range(&start, &to),
            0,
        )
        .await;
    assert_eq!(
        candles(ws.rows(Timeframe::H1).await),
        candles(reference.rows(Timeframe::H1).await)
    );
    for pair in ["BTC-USD", "ETH-USD"] {
        assert_eq!(
            series(&report, pair, "1h")["watermark"],
            "ok",
            "topup rewrote it"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn gaps_call_what_a_watermark_claims_beyond_the_table_not_fetched() {
    let (_server, ws) = lake().await;
    edit_eth_watermark(
        &ws,
        &[(
            "\"to\": \"2024-01-08T00:00:00Z\"",
            "\"to\": \"2024-01-10T00:00:00Z\"",
        )],
    );
    let out = ws
        .run_expect(
            ["gaps", "--json", "--pairs", "ETH-USD", "--timeframes", "1h"],
            0,
        )
        .await;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let gaps = report["series"][0]["gaps"].as_array().unwrap();
    let last = gaps.last().unwrap();
    assert_eq!(
        (&last["kind"], &last["from"], &last["to"]),
        (
            &serde_json::json!("not_fetched"),
            &serde_json::json!("2024-01-08T00:00:00Z"),
            &serde_json::json!("2024-01-10T00:00:00Z")
        ),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_torn_commit_fails_a_backfill_of_its_table_only() {
    let (_server, ws) = lake().await;
    tear_commit_1(&ws);

    let wider = backfill("coinbase", "BTC-USD", "1h,1d").range("2024-01-01", "2024-03-01");
    let (code, summary) = ws.run_json(wider).await;
    assert_eq!(code, 2, "{summary}");
    let daily = crate::support::series(&summary, "BTC-USD", "1d");
    assert_eq!(daily["status"], "success", "{summary}");
    assert_eq!(daily["coverage"]["to"], "2024-03-01T00:00:00Z");
    let hourly = crate::support::series(&summary, "BTC-USD", "1h");
    assert_eq!(hourly["status"], "error");
    let error = hourly["error"].as_str().unwrap();
    assert!(
        error.contains("00000000000000000001.json") && error.contains("restore"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_data_file_is_repaired_and_its_candles_refetched() {
    let (_server, ws) = lake().await;
    let before = ws.rows(Timeframe::H1).await;
    let gaps_before = eth_gaps(&ws).await;
    let lost = lose_an_eth_file(&ws);

    let refused = ws.run(["maintain", "--timeframes", "1h"]).await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--repair"));
    let report = ws
        .report(["maintain", "--timeframes", "1h", "--repair"])
        .await;
    let repaired = report["tables"][0]["files_repaired"].as_array().unwrap();
    assert_eq!(repaired.len(), 1, "{report}");
    let name = lost.file_name().unwrap().to_string_lossy();
    assert!(
        repaired[0].as_str().unwrap().ends_with(name.as_ref()),
        "{report}"
    );
    let (code, status_report) = status(&ws, &[]).await;
    assert_eq!(code, Some(0), "the table reads again: {status_report}");
    let held = ws.rows(Timeframe::H1).await;
    assert!(held.len() < before.len(), "the lost candles are gone");
    // Every lost candle lies in a gap labelled `removed` (which may also span hours that had
    // no trades: the file's range is all the log knows).
    let gaps = eth_gaps(&ws).await;
    let removed: Vec<(DateTime<Utc>, DateTime<Utc>)> = gaps
        .iter()
        .filter(|g| g["kind"] == "removed")
        .map(|g| (time(&g["from"]), time(&g["to"])))
        .collect();
    let kept: std::collections::HashSet<_> =
        held.iter().map(|r| (&r.asset_pair, r.timestamp)).collect();
    let lost_times: Vec<_> = before
        .iter()
        .filter(|r| !kept.contains(&(&r.asset_pair, r.timestamp)))
        .map(|r| r.timestamp)
        .collect();
    assert_eq!(lost_times.len(), before.len() - held.len());
    for t in &lost_times {
        assert!(
            removed.iter().any(|(from, to)| from <= t && t < to),
            "{t} is labelled removed: {gaps:?}"
        );
    }

    assert_eq!(refetch_eth_week(&ws).await, before.len() - held.len());
    assert_eq!(candles(ws.rows(Timeframe::H1).await), candles(before));
    assert_eq!(eth_gaps(&ws).await, gaps_before, "nothing is left removed");
}

/// Refetches ETH-USD 1h over the first week of 2024; returns how many candles it added.
async fn refetch_eth_week(ws: &Workspace) -> usize {
    let restored = ws
        .report(
            crate::support::refetch("coinbase", "ETH-USD", "1h").range("2024-01-01", "2024-01-08"),
        )
        .await;
    restored["results"][0]["added"].as_u64().unwrap() as usize
}

fn time(v: &serde_json::Value) -> DateTime<Utc> {
    time_of(v.as_str().unwrap())
}

fn time_of(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The gaps `gaps --json` reports for ETH-USD 1h.
async fn eth_gaps(ws: &Workspace) -> Vec<serde_json::Value> {
    let out = ws
        .run_expect(
            ["gaps", "--json", "--pairs", "ETH-USD", "--timeframes", "1h"],
            0,
        )
        .await;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report["series"][0]["gaps"].as_array().unwrap().clone()
}

/// Each hour `gaps` reports for ETH-USD 1h, with its label.
fn labelled_hours(gaps: &[serde_json::Value]) -> std::collections::BTreeMap<DateTime<Utc>, String> {
    let mut hours = std::collections::BTreeMap::new();
    for g in gaps {
        let (mut t, to) = (time(&g["from"]), time(&g["to"]));
        while t < to {
            hours.insert(t, g["kind"].as_str().unwrap().to_string());
            t += chrono::Duration::hours(1);
        }
    }
    hours
}

#[tokio::test(flavor = "multi_thread")]
async fn another_tools_delete_is_labelled_removed_exactly_and_refetched_back() {
    let (_server, ws) = lake().await;
    let before = ws.rows(Timeframe::H1).await;
    let hours_before = labelled_hours(&eth_gaps(&ws).await);
    let table = Path::new(&ws.lake()).join("raw_market_data_1h");
    let script = "import sys; from deltalake import DeltaTable; DeltaTable(sys.argv[1]).delete(\"asset_pair = 'ETH-USD' AND timestamp >= '2024-01-03T00:00:00Z' AND timestamp < '2024-01-03T12:00:00Z'\")";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&table)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deleted: Vec<DateTime<Utc>> = before
        .iter()
        .filter(|r| r.asset_pair == "ETH-USD")
        .map(|r| r.timestamp)
        .filter(|t| (time_of("2024-01-03T00:00:00Z")..time_of("2024-01-03T12:00:00Z")).contains(t))
        .collect();
    assert!(deleted.len() > 6, "the delete removed candles: {deleted:?}");

    let mut expected = hours_before.clone();
    for t in &deleted {
        expected.insert(*t, "removed".to_string());
    }
    assert_eq!(labelled_hours(&eth_gaps(&ws).await), expected);

    assert_eq!(refetch_eth_week(&ws).await, deleted.len());
    assert_eq!(candles(ws.rows(Timeframe::H1).await), candles(before));
    assert_eq!(labelled_hours(&eth_gaps(&ws).await), hours_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_data_file_fails_the_writes_to_its_table_only() {
    let (_server, ws) = lake().await;
    let before = ws.rows(Timeframe::H1).await;
    let lost = lose_an_eth_file(&ws);
    let version =
        |ws: &Workspace| walk(&Path::new(&ws.lake()).join("raw_market_data_1h/_delta_log")).len();
    let log_files = version(&ws);

    let wider = backfill("coinbase", "BTC-USD", "1h,1d").range("2024-01-01", "2024-03-01");
    let (code, summary) = ws.run_json(wider).await;
    assert_eq!(code, 2, "{summary}");
    let daily = crate::support::series(&summary, "BTC-USD", "1d");
    assert_eq!(daily["status"], "success", "{summary}");
    let hourly = crate::support::series(&summary, "BTC-USD", "1h");
    assert_eq!(hourly["status"], "error", "{summary}");
    let error = hourly["error"].as_str().unwrap();
    let name = lost.file_name().unwrap().to_string_lossy();
    assert!(
        error.contains(name.as_ref()) && error.contains("maintain --repair"),
        "{error}"
    );
    assert_eq!(
        version(&ws),
        log_files,
        "nothing was committed to the 1h table"
    );

    let refetched = ws
        .run(crate::support::refetch("coinbase", "ETH-USD", "1h").range("2024-01-01", "2024-01-08"))
        .await;
    assert_eq!(refetched.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refetched.stdout).contains("maintain --repair"));
    let gaps = ws
        .run(["gaps", "--pairs", "ETH-USD", "--timeframes", "1h"])
        .await;
    assert_eq!(gaps.status.code(), Some(2));
    let said =
        String::from_utf8_lossy(&gaps.stderr).to_string() + &String::from_utf8_lossy(&gaps.stdout);
    assert!(
        said.contains(name.as_ref()) && said.contains("maintain --repair"),
        "{said}"
    );
    let held = before.len();
    ws.run_expect(["maintain", "--timeframes", "1h", "--repair"], 0)
        .await;
    assert!(ws.rows(Timeframe::H1).await.len() < held);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_state_dirs_on_one_table_keep_watermarks_that_describe_the_table() {
    let server = synth_server().await;
    let first = Workspace::synth(&server);
    let second = Workspace::synth(&server).with("CANDLELAKE_LAKE", &first.lake());
    first
        .run_expect(
            backfill("coinbase", "BTC-USD", "1h").range("2024-03-01", "2024-03-15"),
            0,
        )
        .await;
    second
        .run_expect(
            backfill("coinbase", "BTC-USD", "1h").range("2024-03-10", "2024-03-31"),
            0,
        )
        .await;
    first
        .run_expect(
            backfill("coinbase", "BTC-USD", "1h").range("2024-03-01", "2024-04-10"),
            0,
        )
        .await;

    let (_, report) = status(&first, &[]).await;
    let table = series(&report, "BTC-USD", "1h");
    assert_eq!(table["first_candle"], "2024-03-01T00:00:00Z", "{report}");
    for ws in [&first, &second] {
        let text = std::fs::read_to_string(watermark(ws, "BTC-USD", "1h")).unwrap();
        let mark: serde_json::Value = serde_json::from_str(&text).unwrap();
        let held = ["first_candle", "last_candle"].map(|k| mark[k].clone());
        let expected = if std::ptr::eq(ws, &first) {
            [table["first_candle"].clone(), table["last_candle"].clone()]
        } else {
            // The second state dir last wrote when the table ended on 30 March.
            [table["first_candle"].clone(), "2024-03-30T23:00:00Z".into()]
        };
        assert_eq!(held, expected, "{text}");
    }
}

/// The ETH-USD 1h open times Python deltalake reads from the table (it honours deletion
/// vectors), in table order, as µs since the epoch.
fn python_eth_times(ws: &Workspace) -> Vec<i64> {
    let code = format!(
        "from deltalake import DeltaTable, QueryBuilder\n\
         q = QueryBuilder().register('t', DeltaTable('{}'))\n\
         rows = q.execute(\"select cast(timestamp as bigint) as t from t where asset_pair = 'ETH-USD'\").read_all()\n\
         print(','.join(str(x) for x in sorted(rows.column('t').to_pylist())))",
        ws.table_dir("1h").display()
    );
    let out = crate::support::python(&code);
    out.trim()
        .split(',')
        .map(|t| t.parse().unwrap_or_else(|_| panic!("{out}")))
        .collect()
}

/// Another tool deletes the ETH-USD 1h candles opening in `[from, to)` with deletion vectors
/// kept as `storage` says; every command then reads the table without them until `refetch`
/// brings them back, and `maintain` never writes them back.
async fn a_deletion_vector_is_honoured_by_every_read(storage: Storage, (from, to): (&str, &str)) {
    let (_server, ws) = lake().await;
    let before = ws.rows(Timeframe::H1).await;
    let hours_before = labelled_hours(&eth_gaps(&ws).await);
    let (_, report) = status(&ws, &[]).await;
    let eth_rows = series(&report, "ETH-USD", "1h")["rows"].as_u64().unwrap();
    let span = (time_of(from), time_of(to));
    let deleted = delete_with_deletion_vectors(&ws.table_dir("1h"), "ETH-USD", span, storage);
    assert!(deleted.len() > 6, "the delete removed candles: {deleted:?}");
    let live: Vec<_> = before
        .iter()
        .filter(|r| !(r.asset_pair == "ETH-USD" && deleted.contains(&r.timestamp)))
        .cloned()
        .collect();
    let micros = |rows: &[candlelake::sink::TableRow]| -> Vec<i64> {
        rows.iter()
            .filter(|r| r.asset_pair == "ETH-USD")
            .map(|r| r.timestamp.timestamp_micros())
            .collect()
    };
    assert_eq!(
        python_eth_times(&ws),
        micros(&live),
        "Python reads the deletion"
    );

    let (code, report) = status(&ws, &[]).await;
    assert_eq!(code, Some(0), "{report}");
    let eth = series(&report, "ETH-USD", "1h");
    assert_eq!(
        eth["rows"].as_u64(),
        Some(eth_rows - deleted.len() as u64),
        "{report}"
    );
    let held = micros(&live);
    let text = |t: Option<&i64>| {
        crate::support::rfc3339(DateTime::from_timestamp_micros(*t.unwrap()).unwrap())
    };
    assert_eq!(
        eth["first_candle"].as_str(),
        Some(text(held.first()).as_str())
    );
    assert_eq!(
        eth["last_candle"].as_str(),
        Some(text(held.last()).as_str())
    );
    assert_eq!(candles(ws.rows(Timeframe::H1).await), candles(live.clone()));
    let mut expected = hours_before.clone();
    for t in &deleted {
        expected.insert(*t, "removed".to_string());
    }
    assert_eq!(labelled_hours(&eth_gaps(&ws).await), expected);

    assert!(files_with_deletion_vectors(&ws.table_dir("1h")) > 0);
    ws.run_expect(["maintain", "--timeframes", "1h"], 0).await;
    assert_eq!(
        files_with_deletion_vectors(&ws.table_dir("1h")),
        0,
        "maintain wrote the files with a deletion vector again without their deleted rows"
    );
    assert_eq!(candles(ws.rows(Timeframe::H1).await), candles(live.clone()));
    assert_eq!(
        python_eth_times(&ws),
        micros(&live),
        "no deleted row is back"
    );
    assert_eq!(labelled_hours(&eth_gaps(&ws).await), expected);

    assert_eq!(refetch_eth_week(&ws).await, deleted.len());
    let rows = ws.rows(Timeframe::H1).await;
    assert_eq!(unique_keys(&rows), rows.len(), "no candle twice");
    assert_eq!(candles(rows), candles(before.clone()));
    assert_eq!(python_eth_times(&ws), micros(&before));
    assert_eq!(labelled_hours(&eth_gaps(&ws).await), hours_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deletion_vector_in_its_own_file_is_honoured_by_every_read() {
    let span = ("2024-01-03T00:00:00Z", "2024-01-03T12:00:00Z");
    a_deletion_vector_is_honoured_by_every_read(Storage::File, span).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inline_deletion_vector_at_the_end_of_a_series_is_honoured_by_every_read() {
    let span = ("2024-01-07T12:00:00Z", "2024-01-08T00:00:00Z");
    a_deletion_vector_is_honoured_by_every_read(Storage::Inline, span).await;
}

/// Spark lists `invariants` among the writer features of every table it gives deletion vectors,
/// a feature delta-rs refuses to commit to without its SQL engine: `maintain` still compacts
/// and vacuums such a table.
#[tokio::test(flavor = "multi_thread")]
async fn maintain_vacuums_a_table_spark_gave_deletion_vectors() {
    let (_server, ws) = lake().await;
    let table = ws.table_dir("1h");
    let span = (
        time_of("2024-01-03T00:00:00Z"),
        time_of("2024-01-03T06:00:00Z"),
    );
    delete_with_deletion_vectors(&table, "ETH-USD", span, Storage::File);
    let live = ws.rows(Timeframe::H1).await;
    let replaced: Vec<PathBuf> = walk(&table)
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("_delta_log"))
        .collect();
    let out = ws
        .run_expect(
            [
                "maintain",
                "--timeframes",
                "1h",
                "--vacuum-retention",
                "0s",
                "--force",
                "--output",
                "json",
            ],
            0,
        )
        .await;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let vacuumed = report["tables"][0]["files_vacuumed"].as_u64().unwrap();
    let gone: Vec<_> = replaced.iter().filter(|p| !p.exists()).collect();
    assert!(
        gone.iter()
            .any(|p| p.to_string_lossy().contains("deletion_vector_")),
        "the vector of the file compaction replaced is vacuumed: {report}"
    );
    assert_eq!(gone.len() as u64, vacuumed, "{report}: {gone:?}");
    assert_eq!(candles(ws.rows(Timeframe::H1).await), candles(live.clone()));
    let eth: Vec<i64> = live
        .iter()
        .filter(|r| r.asset_pair == "ETH-USD")
        .map(|r| r.timestamp.timestamp_micros())
        .collect();
    assert_eq!(python_eth_times(&ws), eth);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deletion_vector_that_cannot_be_read_stops_every_read_naming_its_file() {
    let (_server, ws) = lake().await;
    let table = ws.table_dir("1h");
    let span = (
        time_of("2024-01-03T00:00:00Z"),
        time_of("2024-01-03T02:00:00Z"),
    );
    delete_with_deletion_vectors(&table, "ETH-USD", span, Storage::File);
    let vector = walk(&table)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("deletion_vector_"))
        .unwrap();
    std::fs::remove_file(&vector).unwrap();
    let before = walk(&table);
    for args in [
        Args::of(&["maintain", "--timeframes", "1h"]),
        Args::of(&["gaps", "--timeframes", "1h"]),
        Args::of(&["status"]),
        crate::support::refetch("coinbase", "ETH-USD", "1h").range("2024-01-01", "2024-01-08"),
    ] {
        let out = ws.run(args.clone()).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("deletion vector of its data file")
                && said.contains("ETH-USD")
                && said.contains("raw_market_data_1h"),
            "{args:?}: {said}"
        );
    }
    assert_eq!(walk(&table), before, "nothing was written to the table");
}

#[tokio::test(flavor = "multi_thread")]
async fn maintain_takes_a_boolean_out_of_an_old_tables_statistics_columns() {
    let (_server, ws) = lake().await;
    let table = Path::new(&ws.lake()).join("raw_market_data_1d");
    let property = |set: &str| {
        crate::support::python(&format!(
            "from deltalake import DeltaTable\n\
             t = DeltaTable('{}')\n\
             {set}\n\
             print(DeltaTable('{}').metadata().configuration['delta.dataSkippingStatsColumns'])",
            table.display(),
            table.display()
        ))
    };
    let old = property(
        "t.alter.set_table_properties({'delta.dataSkippingStatsColumns': 'timestamp,asset_pair,is_mock'})",
    );
    assert_eq!(old.trim(), "timestamp,asset_pair,is_mock");

    let report = ws.report(["maintain", "--timeframes", "1d"]).await;
    assert_eq!(report["tables"][0]["stats_columns_fixed"], true, "{report}");
    let now = property("pass");
    assert_eq!(
        now.trim(),
        "timestamp,asset_pair,timeframe,volume_kind,source_provider,_extracted_at,_ingestion_id"
    );
    let again = ws.report(["maintain", "--timeframes", "1d"]).await;
    assert!(
        again["tables"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["stats_columns_fixed"] == false),
        "{again}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn maintain_repairs_and_fixes_the_statistics_of_a_table_spark_gave_deletion_vectors() {
    let (_server, ws) = lake().await;
    let table = ws.table_dir("1h");
    let python = |code: &str| {
        crate::support::python(&format!(
            "from deltalake import DeltaTable\n\
             t = DeltaTable('{}')\n\
             {code}",
            table.display()
        ))
    };
    python(
        "t.alter.set_table_properties({'delta.dataSkippingStatsColumns': 'timestamp,asset_pair,is_mock'})",
    );
    let span = (
        time_of("2024-01-03T00:00:00Z"),
        time_of("2024-01-03T06:00:00Z"),
    );
    delete_with_deletion_vectors(&table, "ETH-USD", span, Storage::File);
    let live = ws.rows(Timeframe::H1).await;
    let lost = data_files(&table)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("BTC-USD"))
        .unwrap();
    std::fs::remove_file(&lost).unwrap();

    let refused = ws.run(["maintain", "--timeframes", "1h"]).await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--repair"));
    let report = ws
        .report(["maintain", "--timeframes", "1h", "--repair"])
        .await;
    let done = &report["tables"][0];
    let repaired = done["files_repaired"].as_array().unwrap();
    assert_eq!(repaired.len(), 1, "{report}");
    let name = lost.file_name().unwrap().to_string_lossy();
    assert!(
        repaired[0].as_str().unwrap().ends_with(name.as_ref()),
        "{report}"
    );
    assert_eq!(done["stats_columns_fixed"], true, "{report}");

    // delta-rs reads the repaired table: the protocol Spark wrote, today's statistics list.
    let read = python(
        "p = t.protocol()\n\
         print(sorted(p.writer_features))\n\
         print(t.metadata().configuration['delta.dataSkippingStatsColumns'])",
    );
    assert_eq!(
        read.trim(),
        "['appendOnly', 'deletionVectors', 'invariants']\n\
         timestamp,asset_pair,timeframe,volume_kind,source_provider,_extracted_at,_ingestion_id"
    );
    let (code, status_report) = status(&ws, &[]).await;
    assert_eq!(code, Some(0), "the table reads again: {status_report}");
    // ETH-USD kept every live candle and no deleted one; BTC-USD lost only the lost file's.
    let now = ws.rows(Timeframe::H1).await;
    let of = |rows: &[candlelake::sink::TableRow], pair: &str| {
        candles(
            rows.iter()
                .filter(|r| r.asset_pair == pair)
                .cloned()
                .collect(),
        )
    };
    assert_eq!(of(&now, "ETH-USD"), of(&live, "ETH-USD"));
    let eth: Vec<i64> = live
        .iter()
        .filter(|r| r.asset_pair == "ETH-USD")
        .map(|r| r.timestamp.timestamp_micros())
        .collect();
    assert_eq!(python_eth_times(&ws), eth);
    let btc_before = of(&live, "BTC-USD");
    let btc_now = of(&now, "BTC-USD");
    assert!(
        btc_now.len() < btc_before.len(),
        "the lost file's candles are gone"
    );
    assert!(btc_now.iter().all(|c| btc_before.contains(c)));
}
