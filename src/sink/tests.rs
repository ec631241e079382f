//! In-process tests of the append path against a local Delta directory.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;

use super::*;
use crate::model::{Lineage, Row, SeriesKey, TimeRange};
use crate::providers::{ProviderId, Timeframe, VolumeKind};
use crate::stage::validate::Candle;
use crate::testing::at;

fn lineage(pair: &str, period: PartitionPeriod) -> Lineage {
    Lineage {
        series: SeriesKey {
            provider: ProviderId::Coinbase,
            pair: pair.into(),
            timeframe: Timeframe::H1,
        },
        volume_kind: VolumeKind::Base,
        ingestion_id: "run".into(),
        is_mock: false,
        partition_period: period,
    }
}

fn day_of_rows(start: DateTime<Utc>) -> Vec<Row> {
    (0..24)
        .map(|h| Row {
            candle: Candle {
                open_time: start + TimeDelta::hours(h),
                open: Decimal::new(105, 1),
                high: Decimal::new(11, 0),
                low: Decimal::new(10, 0),
                close: Decimal::new(105, 1),
                volume: Decimal::ONE,
            },
            extracted_at: start,
        })
        .collect()
}

/// Metadata actions in the table's log: one means one table id, made once.
fn metadata_commits(lake: &std::path::Path) -> usize {
    std::fs::read_dir(lake.join("raw_market_data_1h/_delta_log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| std::fs::read_to_string(p).unwrap().contains("\"metaData\""))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_that_create_a_table_at_once_agree_on_one_and_lose_no_row() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().display().to_string();
    let start = at("2024-01-01T00:00:00Z");
    const PAIRS: [&str; 6] = [
        "BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD", "XRP-USD", "DOT-USD",
    ];
    // One sink per pair, as separate processes have: none sees the others' cached log.
    let commits = PAIRS.iter().map(|pair| {
        let lake = lake.clone();
        tokio::spawn(async move {
            let sink = DeltaSink::new(&lake, HashMap::new());
            let wanted = TimeRange::new(start, start + TimeDelta::days(1));
            sink.commit(
                &lineage(pair, PartitionPeriod::Month),
                &day_of_rows(start),
                wanted,
                &[],
            )
            .await
        })
    });
    for committed in futures::future::join_all(commits).await {
        committed.unwrap().unwrap();
    }
    assert_eq!(
        metadata_commits(dir.path()),
        1,
        "the table was created twice"
    );
    let rows = DeltaSink::new(&lake, HashMap::new())
        .read_rows(Timeframe::H1)
        .await
        .unwrap();
    assert_eq!(rows.len(), PAIRS.len() * 24);
}

#[tokio::test]
async fn a_run_that_loses_the_creation_to_another_period_refuses_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().display().to_string();
    let start = at("2024-01-01T00:00:00Z");
    let wanted = TimeRange::new(start, start + TimeDelta::days(1));
    let first = DeltaSink::new(&lake, HashMap::new());
    first
        .commit(
            &lineage("BTC-USD", PartitionPeriod::Month),
            &day_of_rows(start),
            wanted,
            &[],
        )
        .await
        .unwrap();
    // A second run decided its period before the table existed, and loses the creation.
    let second = DeltaSink::new(&lake, HashMap::new());
    let log = second
        .create_or_join(Timeframe::H1, PartitionPeriod::Day)
        .await;
    assert!(
        matches!(log, Err(SinkError::PeriodConflict { .. })),
        "{:?}",
        log.err()
    );
    assert_eq!(metadata_commits(dir.path()), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compaction_that_loses_to_another_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().display().to_string();
    let sink = DeltaSink::new(&lake, HashMap::new());
    let lineage = lineage("BTC-USD", PartitionPeriod::Month);
    for day in ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"] {
        let start = at(day);
        let wanted = TimeRange::new(at("2024-01-01T00:00:00Z"), start + TimeDelta::days(1));
        sink.commit(&lineage, &day_of_rows(start), wanted, &[])
            .await
            .unwrap();
    }
    // A second maintainer read the table before the first compacted it.
    let mut stale = sink.load(Timeframe::H1).await.unwrap().unwrap();
    let files: Vec<_> = stale.snapshot().unwrap().log_data().iter().collect();
    assert_eq!(files.len(), 2, "two files in one partition");
    let mut batches = Vec::new();
    for f in &files {
        batches.push(rewrite::file_batch(&stale, f).await.unwrap());
    }
    let removes = files
        .iter()
        .map(|f| deltalake::kernel::Action::Remove(f.remove_action(false)))
        .collect();

    sink.compact(Timeframe::H1).await.unwrap();
    let rewrite = rewrite::Rewrite {
        removes,
        batches,
        operation: deltalake::protocol::DeltaOperation::Optimize {
            predicate: None,
            target_size: 0,
        },
        data_change: false,
        lost_files: super::table::LostFiles::Refused,
    };
    let second = sink
        .commit_rewrite(Timeframe::H1, &mut stale, rewrite, |_| false)
        .await;
    assert!(
        matches!(second, Err(SinkError::Rewritten { .. })),
        "{second:?}"
    );
    let rows = sink.read_rows(Timeframe::H1).await.unwrap();
    assert_eq!(rows.len(), 48, "no candle twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_append_of_rows_another_writer_added_since_they_were_read_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().display().to_string();
    let btc = lineage("BTC-USD", PartitionPeriod::Month);
    let start = at("2024-01-01T00:00:00Z");
    let first = DeltaSink::new(&lake, HashMap::new());
    first
        .commit(
            &btc,
            &day_of_rows(start)[..12],
            TimeRange::new(start, start + TimeDelta::days(1)),
            &[],
        )
        .await
        .unwrap();
    // Two replays read the table, both find the afternoon missing; one appends it first.
    let second = DeltaSink::new(&lake, HashMap::new());
    let (_, read_at) = second.rows_at(&btc.series).await.unwrap();
    let afternoon = &day_of_rows(start)[12..];
    first.append(&btc, afternoon, None).await.unwrap();
    let late = second.append(&btc, afternoon, read_at).await;
    assert!(matches!(late, Err(SinkError::Rewritten { .. })), "{late:?}");
    assert_eq!(first.read_rows(Timeframe::H1).await.unwrap().len(), 24);
    // Another pair's rows added meanwhile do not stop an append.
    let eth = lineage("ETH-USD", PartitionPeriod::Month);
    let (_, read_at) = second.rows_at(&eth.series).await.unwrap();
    first
        .append(&btc, &day_of_rows(start + TimeDelta::days(1)), None)
        .await
        .unwrap();
    second
        .append(&eth, &day_of_rows(start), read_at)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_of_rows_another_writer_added_during_the_run_replaces_them() {
    use super::import::{FileCommit, ImportTables, PairRows};
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().display().to_string();
    let start = at("2024-01-01T00:00:00Z");
    let day = |n: i64| day_of_rows(start + TimeDelta::days(n));
    let file = |rows: Vec<Row>, app_id: &'static str| FileCommit {
        timeframe: Timeframe::H1,
        period: PartitionPeriod::Month,
        source_provider: "coinbase",
        ingestion_id: "import",
        groups: vec![PairRows {
            pair: "BTC-USD".into(),
            volume_kind: VolumeKind::Base,
            rows,
        }]
        .into(),
        replaced: &[],
        app_id,
        version: 1,
    };
    let sink = DeltaSink::new(&lake, HashMap::new());
    let mut run = ImportTables::default();
    run.commit(&sink, &file(day(0), "candlelake/import/a"))
        .await
        .unwrap();
    // Between two files of the run, a backfill appends the day the next file holds.
    let other = DeltaSink::new(&lake, HashMap::new());
    let btc = lineage("BTC-USD", PartitionPeriod::Month);
    let span = TimeRange::new(start + TimeDelta::days(1), start + TimeDelta::days(2));
    other.commit(&btc, &day(1), span, &[]).await.unwrap();
    run.commit(&sink, &file(day(1), "candlelake/import/b"))
        .await
        .unwrap();
    assert_eq!(sink.read_rows(Timeframe::H1).await.unwrap().len(), 48);
    // A file of new rows after it, then one of the rows that file wrote.
    run.commit(&sink, &file(day(2), "candlelake/import/c"))
        .await
        .unwrap();
    run.commit(&sink, &file(day(2), "candlelake/import/d"))
        .await
        .unwrap();
    assert_eq!(sink.read_rows(Timeframe::H1).await.unwrap().len(), 72);
}
