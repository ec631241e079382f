//! Table health: `refetch` replaces exactly the candles a provider revised, and `maintain`
//! compacts tiny files and vacuums what crashes leave behind, rows unchanged.

use std::collections::HashMap;

use candlelake::model::{Lineage, Row, SeriesKey};
use candlelake::providers::{ProviderId, Timeframe, VolumeKind};
use candlelake::sink::DeltaSink;
use candlelake::sink::PartitionPeriod;
use candlelake::stage::validate::Candle;
use serde_json::json;

use crate::support::servers::serve;
use crate::support::synth::{SynthRevised, synth_server};
use crate::support::{Args, Workspace, at, backfill, fields, read_json, refetch, walk};

fn week() -> Args {
    backfill("coinbase", "BTC-USD,ETH-USD", "1h").range("2024-01-01", "2024-01-08")
}

#[tokio::test(flavor = "multi_thread")]
async fn refetch_rewrites_exactly_the_revised_candles() {
    let server = synth_server().await;
    let mut ws = Workspace::synth(&server);
    ws.run_ok(week()).await;
    let before = ws.rows(Timeframe::H1).await;

    // The provider revises two BTC-USD candles.
    let revised = [at("2024-01-03T05:00:00Z"), at("2024-01-05T17:00:00Z")];
    let revising = serve(SynthRevised(
        revised.iter().map(|t| t.timestamp()).collect(),
    ))
    .await;
    ws.set("CANDLELAKE_COINBASE_URL", &revising.uri());
    let args = refetch("coinbase", "BTC-USD", "1h").range("2024-01-01", "2024-01-08");
    let report = ws.report(&args).await;
    let btc = &report["results"][0];
    assert_eq!(
        fields(btc, &["changed", "added"]),
        json!([2, 0]),
        "{report}"
    );

    let after = ws.rows(Timeframe::H1).await;
    assert_eq!(after.len(), before.len(), "still unique, nothing lost");
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(
            (old.asset_pair.as_str(), old.timestamp),
            (new.asset_pair.as_str(), new.timestamp)
        );
        if old.asset_pair == "BTC-USD" && revised.contains(&old.timestamp) {
            assert_eq!(new.close, old.open, "the revised close");
            assert_ne!(new.volume, old.volume);
            assert_ne!(
                new.ingestion_id, old.ingestion_id,
                "written by the refetch run"
            );
        } else {
            assert_eq!(old, new, "every other row keeps every cell");
        }
    }
    let revision_dir = ws.state().join("dlq/revisions");
    let file = std::fs::read_dir(&revision_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let record = read_json(&file);
    let old_close = before
        .iter()
        .find(|r| r.asset_pair == "BTC-USD" && r.timestamp == revised[0])
        .unwrap()
        .close
        .clone();
    let change = record["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["timestamp"] == "2024-01-03T05:00:00Z")
        .unwrap();
    assert_eq!(change["old"]["close"], old_close, "{record}");

    let report = ws.report(&args).await;
    assert_eq!(report["results"][0]["changed"], 0, "{report}");
    assert!(
        report["results"][0]["table_version"].is_null(),
        "a second refetch writes nothing"
    );
    assert_eq!(ws.rows(Timeframe::H1).await, after);
}

#[tokio::test(flavor = "multi_thread")]
async fn maintain_compacts_a_thousand_tiny_files_with_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake").display().to_string();
    let sink = DeltaSink::new(&lake, HashMap::new());
    let series = SeriesKey {
        provider: ProviderId::Coinbase,
        pair: "BTC-USD".into(),
        timeframe: Timeframe::H1,
    };
    let lineage = Lineage {
        series: series.clone(),
        volume_kind: VolumeKind::Base,
        ingestion_id: "00000000-0000-4000-8000-000000000000".into(),
        is_mock: false,
        partition_period: PartitionPeriod::Day,
    };
    let start = at("2024-01-01T00:00:00Z");
    // 1,000 hourly candles in day partitions, appended in 50 commits of 20 rows that each land
    // in 20 different days: 1,000 one-row files, about 24 per day.
    for c in 0..50 {
        let rows: Vec<Row> = (0..20)
            .map(|j| {
                let h = c + 50 * j;
                let t = start + chrono::Duration::hours(h);
                let d = |v: i64| rust_decimal::Decimal::new(v, 2);
                Row {
                    candle: Candle {
                        open_time: t,
                        open: d(10_000 + h),
                        high: d(10_100 + h),
                        low: d(9_900 + h),
                        close: d(10_050 + h),
                        volume: d(h + 1),
                    },
                    extracted_at: t,
                }
            })
            .collect();
        sink.append(&lineage, &rows, None).await.unwrap();
    }
    let before = sink.read_rows(Timeframe::H1).await.unwrap();
    let table_dir = dir.path().join("lake/raw_market_data_1h");
    let parquet = |d: &std::path::Path| data_files(d).len();
    assert_eq!(parquet(&table_dir), 1000);

    let ws = Workspace::offline().with("CANDLELAKE_LAKE", &lake);
    let report = ws
        .report(["maintain", "--vacuum-retention", "0h", "--force"])
        .await;
    let t = &report["tables"][0];
    assert_eq!(
        fields(t, &["files_before", "files_after"]),
        json!([1000, 42]),
        "one file per day: {report}"
    );
    assert_eq!(
        sink.read_rows(Timeframe::H1).await.unwrap(),
        before,
        "the same rows, cell by cell"
    );
    assert_eq!(parquet(&table_dir), 42, "the compacted files are vacuumed");
    assert!(
        walk(&table_dir.join("_delta_log"))
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".checkpoint.parquet"))
    );
}

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn maintain_vacuums_the_orphans_a_crash_leaves() {
    let server = synth_server().await;
    let ws = Workspace::synth(&server);
    ws.run_expect(week(), 0).await;
    let rows = ws.rows(Timeframe::H1).await;
    let table_dir = ws.table_dir("1h");
    let files_before = data_files(&table_dir).len();
    // A crash after the data files are written, before the commit: orphans.
    let next_day = backfill("coinbase", "BTC-USD", "1h").range("2024-01-08", "2024-01-09");
    ws.run_aborting_at("before_commit", next_day).await;
    let files_after_crash = data_files(&table_dir).len();
    assert!(files_after_crash > files_before, "the crash left files");

    let short = ["maintain", "--timeframes", "1h", "--vacuum-retention", "0s"];
    let refused = ws.run_expect(short, 1).await;
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("168h") && message.contains("--force"),
        "{message}"
    );
    assert_eq!(
        data_files(&table_dir).len(),
        files_after_crash,
        "nothing was deleted"
    );
    let report = ws
        .report([
            "maintain",
            "--timeframes",
            "1h",
            "--vacuum-retention",
            "0h",
            "--force",
        ])
        .await;
    assert!(
        report["tables"][0]["files_vacuumed"].as_u64().unwrap()
            >= (files_after_crash - files_before) as u64,
        "{report}"
    );
    assert_eq!(ws.rows(Timeframe::H1).await, rows);
    let left = data_files(&table_dir);
    assert!(left.len() <= files_before, "orphans removed: {left:?}");
}

/// Parquet data files of a table (not its log's checkpoints).
fn data_files(table: &std::path::Path) -> Vec<std::path::PathBuf> {
    walk(table)
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "parquet")
                && !p.to_string_lossy().contains("_delta_log")
        })
        .collect()
}

/// Backdates every file of a table's log by 40 days, past the default log retention (30 days).
fn age_log(table: &std::path::Path) {
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(40 * 86_400);
    for entry in std::fs::read_dir(table.join("_delta_log")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let file = std::fs::File::options().append(true).open(&path).unwrap();
            file.set_modified(old).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn maintain_keeps_the_log_history_of_a_table_that_asks_for_it() {
    let server = synth_server().await;
    let first_commit = |ws: &Workspace| {
        ws.table_dir("1h")
            .join("_delta_log")
            .join("00000000000000000000.json")
    };
    let next_day = backfill("coinbase", "BTC-USD", "1h").range("2024-01-08", "2024-01-09");
    let mut kept = Vec::new();
    for keep_history in [false, true] {
        let ws = Workspace::synth(&server);
        ws.run_expect(week(), 0).await;
        if keep_history {
            let said = crate::support::python(&format!(
                "from deltalake import DeltaTable\n\
                 DeltaTable({:?}).alter.set_table_properties({{'delta.enableExpiredLogCleanup': 'false'}})",
                ws.table_dir("1h").to_string_lossy()
            ));
            assert!(said.trim().is_empty(), "{said}");
        }
        // A checkpoint, then every commit so far older than the log retention.
        ws.run_expect(["maintain", "--timeframes", "1h"], 0).await;
        age_log(&ws.table_dir("1h"));
        ws.run_expect(next_day.clone(), 0).await;
        ws.run_expect(["maintain", "--timeframes", "1h"], 0).await;
        kept.push(first_commit(&ws).exists());
    }
    assert_eq!(
        kept,
        [false, true],
        "expired commits are cleaned up unless the table keeps its history"
    );
}
