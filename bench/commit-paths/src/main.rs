//! Measures one append commit (60 1m candles of a new series plus its two coverage marks) on a
//! table that already holds FILES data files, through candlelake's append path (`hand`:
//! `DeltaSink::commit`, a commit written to the log by hand) and through the Delta kernel's
//! Transaction API (`kernel`: `Snapshot::transaction`, `write_parquet`, `add_files`,
//! `with_transaction_id`, the filesystem committer, a checkpoint every 100 versions as the
//! append path writes). Both look the marks up once in the snapshot they started from. Run by
//! `bench/commit-paths.sh`; kept outside the workspace, so CI does not build it.
//!
//!   commit-paths seed   LAKE FILES
//!   commit-paths hand   LAKE COMMITS
//!   commit-paths kernel LAKE COMMITS

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use candlelake::model::{Lineage, Row, SeriesKey, TimeRange};
use candlelake::providers::{ProviderId, Timeframe, VolumeKind};
use candlelake::sink::{DeltaSink, PartitionPeriod};
use candlelake::stage::validate::Candle;
use chrono::{DateTime, Duration, TimeZone, Utc};
use delta_kernel::Snapshot;
use delta_kernel::arrow::array::{
    ArrayRef, BooleanArray, Decimal128Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use delta_kernel::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use delta_kernel::committer::FileSystemCommitter;
use delta_kernel::engine::arrow_data::ArrowEngineData;
use delta_kernel::expressions::Scalar;
use delta_kernel_engine::DefaultEngine;
use delta_kernel_engine::executor::tokio::TokioMultiThreadExecutor;
use rust_decimal::Decimal;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const HOUR0: i64 = 1_704_067_200; // 2024-01-01

fn hwm_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM")).unwrap();
    let kb: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb / 1024.0
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS")).unwrap();
    let kb: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb / 1024.0
}

fn rows(start: DateTime<Utc>) -> Vec<Row> {
    (0..60)
        .map(|m| {
            let p = Decimal::new(4_200_000 + m, 2);
            Row {
                candle: Candle {
                    open_time: start + Duration::minutes(m),
                    open: p,
                    high: p + Decimal::new(10, 2),
                    low: p - Decimal::new(10, 2),
                    close: p,
                    volume: Decimal::new(12_345_678, 8),
                },
                extracted_at: start,
            }
        })
        .collect()
}

fn lineage(pair: &str) -> Lineage {
    Lineage {
        series: SeriesKey {
            provider: ProviderId::Coinbase,
            pair: pair.to_string(),
            timeframe: Timeframe::M1,
        },
        volume_kind: VolumeKind::Base,
        ingestion_id: "bench".into(),
        is_mock: false,
        partition_period: PartitionPeriod::Day,
    }
}

fn sink(lake: &str) -> DeltaSink {
    DeltaSink::new(lake, HashMap::from([(Timeframe::M1, PartitionPeriod::Day)]))
}

fn hour() -> TimeRange {
    let start = Utc.timestamp_opt(HOUR0, 0).unwrap();
    TimeRange {
        start,
        end: start + Duration::hours(1),
    }
}

/// Creates the table with one real commit, then adds `files` fake data files (log only, in
/// commits of 10,000) and a checkpoint.
async fn seed(lake: &str, files: usize) {
    let range = hour();
    sink(lake)
        .commit(&lineage("SEED-USD"), &rows(range.start), range, &[])
        .await
        .unwrap();
    let table = format!("{lake}/raw_market_data_1m");
    let mut version = 1;
    for chunk in (0..files).collect::<Vec<_>>().chunks(10_000) {
        let mut text = String::new();
        for i in chunk {
            let pair = format!("P{}-USD", i % 500);
            let day = 1 + (i / 500) % 28;
            let stats = format!(
                r#"{{"numRecords":1440,"minValues":{{"timestamp":"2024-01-{day:02}T00:00:00.000Z","asset_pair":"{pair}","timeframe":"1m","volume_kind":"base","source_provider":"coinbase","_extracted_at":"2024-02-01T00:00:00.000Z","_ingestion_id":"seed"}},"maxValues":{{"timestamp":"2024-01-{day:02}T23:59:00.000Z","asset_pair":"{pair}","timeframe":"1m","volume_kind":"base","source_provider":"coinbase","_extracted_at":"2024-02-01T00:00:00.000Z","_ingestion_id":"seed"}},"nullCount":{{"timestamp":0,"asset_pair":0,"timeframe":0,"volume_kind":0,"source_provider":0,"_extracted_at":0,"_ingestion_id":0}}}}"#
            );
            let dir =
                format!("{table}/partition_date=2024-01-{day:02}/partition_asset_pair={pair}");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(format!("{dir}/part-{i:08}.parquet"), b"").unwrap();
            let add = serde_json::json!({"add": {
                "path": format!("partition_date=2024-01-{day:02}/partition_asset_pair={pair}/part-{i:08}.parquet"),
                "partitionValues": {"partition_date": format!("2024-01-{day:02}"), "partition_asset_pair": pair},
                "size": 90_000, "modificationTime": 1_706_745_600_000_i64, "dataChange": true, "stats": stats}});
            text.push_str(&add.to_string());
            text.push('\n');
        }
        text.push_str(&serde_json::json!({"commitInfo": {"operation": "WRITE", "timestamp": 1_706_745_600_000_i64}}).to_string());
        text.push('\n');
        std::fs::write(format!("{table}/_delta_log/{version:020}.json"), text).unwrap();
        version += 1;
    }
    let (engine, url) = kernel_engine(&table);
    let snapshot = Snapshot::builder_for(url).build(engine.as_ref()).unwrap();
    tokio::task::spawn_blocking(move || snapshot.checkpoint(engine.as_ref(), None).map(|_| ()))
        .await
        .unwrap()
        .unwrap();
    println!("seeded {files} files up to version {}", version - 1);
}

type Kernel = DefaultEngine<TokioMultiThreadExecutor>;

fn kernel_engine(table: &str) -> (Arc<Kernel>, url::Url) {
    let url = url::Url::from_directory_path(std::fs::canonicalize(table).unwrap()).unwrap();
    let root: Arc<dyn object_store::ObjectStore> =
        Arc::new(object_store::local::LocalFileSystem::new());
    let engine = DefaultEngine::builder(root)
        .with_task_executor(Arc::new(TokioMultiThreadExecutor::new(
            tokio::runtime::Handle::current(),
        )))
        .build();
    (Arc::new(engine), url)
}

async fn hand(lake: &str, commits: usize) {
    let sink = sink(lake);
    let base = hwm_mb();
    let started = Instant::now();
    let mut first = None;
    for i in 0..commits {
        let range = hour();
        sink.commit(
            &lineage(&format!("H{i}-USD")),
            &rows(range.start),
            range,
            &[],
        )
        .await
        .unwrap();
        if i == 0 {
            first = Some(started.elapsed());
        }
    }
    report("hand", commits, started, first.unwrap(), base);
}

fn data_batch(pair: &str, start: DateTime<Utc>) -> RecordBatch {
    let n = 60;
    let utc = Some(Arc::from("UTC"));
    let micros = |v: Vec<i64>| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(v).with_timezone_opt(utc.clone()))
    };
    let repeat = |s: &str| -> ArrayRef { Arc::new(StringArray::from(vec![s; n])) };
    let price = |f: &dyn Fn(&Candle) -> Decimal, rows: &[Row]| -> ArrayRef {
        let scaled = rows.iter().map(|r| {
            let mut d = f(&r.candle);
            d.rescale(18);
            d.mantissa()
        });
        Arc::new(
            Decimal128Array::from_iter_values(scaled)
                .with_precision_and_scale(38, 18)
                .unwrap(),
        )
    };
    let rows = rows(start);
    let ts = DataType::Timestamp(TimeUnit::Microsecond, utc.clone());
    let dec = DataType::Decimal128(38, 18);
    let schema = Schema::new(vec![
        Field::new("timestamp", ts.clone(), false),
        Field::new("asset_pair", DataType::Utf8, false),
        Field::new("timeframe", DataType::Utf8, false),
        Field::new("open", dec.clone(), false),
        Field::new("high", dec.clone(), false),
        Field::new("low", dec.clone(), false),
        Field::new("close", dec.clone(), false),
        Field::new("volume", dec.clone(), false),
        Field::new("volume_kind", DataType::Utf8, false),
        Field::new("source_provider", DataType::Utf8, false),
        Field::new("_extracted_at", ts, false),
        Field::new("_ingestion_id", DataType::Utf8, false),
        Field::new("is_mock", DataType::Boolean, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            micros(
                rows.iter()
                    .map(|r| r.candle.open_time.timestamp_micros())
                    .collect(),
            ),
            repeat(pair),
            repeat("1m"),
            price(&|c| c.open, &rows),
            price(&|c| c.high, &rows),
            price(&|c| c.low, &rows),
            price(&|c| c.close, &rows),
            price(&|c| c.volume, &rows),
            repeat("base"),
            repeat("coinbase"),
            micros(
                rows.iter()
                    .map(|r| r.extracted_at.timestamp_micros())
                    .collect(),
            ),
            repeat("bench"),
            Arc::new(BooleanArray::from(vec![false; n])),
        ],
    )
    .unwrap()
}

async fn kernel(lake: &str, commits: usize) {
    let table = format!("{lake}/raw_market_data_1m");
    let (engine, url) = kernel_engine(&table);
    let base = hwm_mb();
    let started = Instant::now();
    let mut first = None;
    let mut snapshot = {
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || Snapshot::builder_for(url).build(engine.as_ref()))
            .await
            .unwrap()
            .unwrap()
    };
    let start = snapshot.clone();
    for i in 0..commits {
        let range = hour();
        let pair = format!("K{i}-USD");
        let to = format!("candlelake/coinbase/{pair}/1m/to");
        let from = format!("candlelake/coinbase/{pair}/1m/from");
        let (known_to, known_from) = {
            let (s, e, to, from) = (start.clone(), engine.clone(), to.clone(), from.clone());
            tokio::task::spawn_blocking(move || {
                (
                    s.get_app_id_version(&to, e.as_ref()).unwrap(),
                    s.get_app_id_version(&from, e.as_ref()).unwrap(),
                )
            })
            .await
            .unwrap()
        };
        assert_eq!((known_to, known_from), (None, None));
        let mut txn = snapshot
            .clone()
            .transaction(Box::new(FileSystemCommitter::new()), engine.as_ref())
            .unwrap()
            .with_operation("WRITE".into())
            .with_engine_info("candlelake-bench")
            .with_blind_append()
            .with_transaction_id(to, range.end.timestamp_micros())
            .with_transaction_id(from, range.start.timestamp_micros());
        let state = txn.write_state().unwrap();
        let day = (range.start.date_naive() - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
            .num_days() as i32;
        let ctx = state
            .partitioned_write_context(HashMap::from([
                ("partition_date".to_string(), Scalar::Date(day)),
                (
                    "partition_asset_pair".to_string(),
                    Scalar::String(pair.clone()),
                ),
            ]))
            .unwrap();
        let data = ArrowEngineData::new(data_batch(&pair, range.start));
        let added = engine.write_parquet(&data, &ctx).await.unwrap();
        txn.add_files(added);
        let e = engine.clone();
        let result = tokio::task::spawn_blocking(move || txn.commit(e.as_ref()))
            .await
            .unwrap()
            .unwrap();
        let delta_kernel::transaction::CommitResult::CommittedTransaction(done) = result else {
            panic!("lost a race with no other writer");
        };
        snapshot = done
            .post_commit_snapshot()
            .expect("post-commit snapshot")
            .clone();
        if (snapshot.version() + 1) % 100 == 0 {
            let (s, e) = (snapshot.clone(), engine.clone());
            snapshot = tokio::task::spawn_blocking(move || s.checkpoint(e.as_ref(), None))
                .await
                .unwrap()
                .unwrap()
                .1;
        }
        if i == 0 {
            first = Some(started.elapsed());
        }
    }
    report("kernel", commits, started, first.unwrap(), base);
}

fn report(path: &str, commits: usize, started: Instant, first: std::time::Duration, base: f64) {
    let total = started.elapsed();
    println!(
        "{path}: {commits} commits in {:.2} s, first {:.0} ms, then {:.1} ms/commit; peak RSS {:.0} MB (before {:.0} MB), RSS now {:.0} MB",
        total.as_secs_f64(),
        first.as_secs_f64() * 1e3,
        (total - first).as_secs_f64() * 1e3 / (commits.max(2) - 1) as f64,
        hwm_mb(),
        base,
        rss_mb()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let lake = &args[2];
    let n: usize = args[3].parse().unwrap();
    match args[1].as_str() {
        "seed" => seed(lake, n).await,
        "hand" => hand(lake, n).await,
        "kernel" => kernel(lake, n).await,
        other => panic!("unknown mode {other}"),
    }
}
