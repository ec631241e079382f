//! In-process tests of a series run against a local Delta directory: what is committed, what
//! a rerun asks for, where a failed window leaves coverage, and the counters of an aggregate.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::value::RawValue;

use super::*;
use crate::plan::{Settings, SettingsInput, Source};
use crate::providers::decimal::parse_exact;
use crate::providers::{
    Capabilities, ErrorKind, FetchError, Gate, Page, ProviderId, Timeframe, VolumeKind,
    WindowRequest, WireCandle,
};
use crate::report::summary::SeriesStatus;
use crate::state::watermark::Loaded;
use crate::testing::at;

/// Serves one 1h candle per bucket (close = the hour of day + 100), ten buckets a window,
/// and counts requests; windows starting at a time in `failing` fail permanently, candles at
/// a time in `invalid` have high below low.
struct Hourly {
    requests: Mutex<Vec<DateTime<Utc>>>,
    failing: Mutex<HashSet<DateTime<Utc>>>,
    invalid: Mutex<HashSet<DateTime<Utc>>>,
    now: DateTime<Utc>,
}

impl Hourly {
    fn new(now: &str) -> Arc<Self> {
        Arc::new(Hourly {
            requests: Mutex::new(Vec::new()),
            failing: Mutex::new(HashSet::new()),
            invalid: Mutex::new(HashSet::new()),
            now: at(now),
        })
    }

    fn sent(&self) -> Vec<DateTime<Utc>> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }

    fn candle(t: DateTime<Utc>, invalid: bool) -> WireCandle {
        let close = format!(
            "{}.5",
            100 + t.format("%H").to_string().parse::<u32>().unwrap()
        );
        let raw = format!(r#"{{"start":"{}","close":"{close}"}}"#, t.timestamp());
        WireCandle {
            open_time: Ok(t),
            open: parse_exact("100"),
            high: parse_exact("200"),
            low: parse_exact(if invalid { "500" } else { "50" }),
            close: parse_exact(&close),
            volume: parse_exact("1.25"),
            complete: true,
            raw: RawValue::from_string(raw).unwrap(),
        }
    }
}

#[async_trait]
impl CandleSource for Hourly {
    fn id(&self) -> ProviderId {
        ProviderId::Coinbase
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            native_timeframes: &[Timeframe::H1],
            max_buckets_per_request: 10,
        }
    }

    async fn fetch_window(&self, r: &WindowRequest, _: &dyn Gate) -> Result<Page, FetchError> {
        self.requests.lock().unwrap().push(r.start);
        if self.failing.lock().unwrap().contains(&r.start) {
            return Err(FetchError::new(ErrorKind::Permanent, "refused by the test"));
        }
        let mut candles = Vec::new();
        let mut t = r.start;
        while t < r.end {
            candles.push(Hourly::candle(t, self.invalid.lock().unwrap().contains(&t)));
            t += Timeframe::H1.duration();
        }
        Ok(Page {
            candles,
            response_time: self.now,
            received_at: self.now,
            request: "test://hourly".into(),
            volume_kind: VolumeKind::Base,
            available_from: None,
        })
    }
}

struct Lake {
    _dir: tempfile::TempDir,
    settings: Settings,
}

fn lake() -> Lake {
    let dir = tempfile::tempdir().unwrap();
    let flags = HashMap::from([
        (
            "CANDLELAKE_LAKE".to_string(),
            dir.path().join("lake").display().to_string(),
        ),
        (
            "CANDLELAKE_STATE_DIR".to_string(),
            dir.path().join("state").display().to_string(),
        ),
        ("CANDLELAKE_RETRY_BASE_MS".to_string(), "1".to_string()),
    ]);
    let settings = Settings::resolve(SettingsInput {
        flags,
        env: HashMap::new(),
        config_file: None,
    })
    .unwrap();
    Lake {
        _dir: dir,
        settings,
    }
}

fn runner(lake: &Lake, source: &Arc<Hourly>) -> Runner {
    let now = source.now;
    let source = Source {
        client: source.clone(),
        gate: Arc::new(RateGate::new(Decimal::ZERO, None)),
    };
    Runner::builder(&lake.settings, source, Arc::new(move || now), "run-1").build()
}

fn request(runner: &Runner, tf: Timeframe, start: &str, end: &str) -> SeriesRequest {
    let series = SeriesKey {
        provider: ProviderId::Coinbase,
        pair: "BTC-USD".into(),
        timeframe: tf,
    };
    runner
        .request(
            series,
            TimeRange::new(at(start), at(end)),
            PartitionPeriod::default_for(tf),
        )
        .unwrap()
}

async fn table(runner: &Runner, tf: Timeframe) -> Vec<(DateTime<Utc>, String)> {
    let mut rows: Vec<_> = runner
        .sink()
        .read_rows(tf)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.timestamp, r.close))
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn a_series_run_commits_exactly_and_a_rerun_asks_for_nothing() {
    let lake = lake();
    let source = Hourly::new("2024-02-01T00:00:00Z");
    let runner = runner(&lake, &source);
    let r = request(&runner, Timeframe::H1, "2024-01-01", "2024-01-03");
    let result = runner.run_series(r.clone()).await;
    assert_eq!(result.status, SeriesStatus::Success, "{:?}", result.error);
    assert_eq!(source.sent().len(), 5, "48 buckets in windows of 10");
    assert_eq!(result.counters.rows, 48);
    assert!(result.counters.balanced());
    assert_eq!(
        result.coverage,
        Some(TimeRange::new(
            at("2024-01-01T00:00:00Z"),
            at("2024-01-03T00:00:00Z")
        ))
    );

    let rows = table(&runner, Timeframe::H1).await;
    assert_eq!(rows.len(), 48);
    assert_eq!(rows[0], (at("2024-01-01T00:00:00Z"), "100.5".into()));
    assert_eq!(rows[47], (at("2024-01-02T23:00:00Z"), "123.5".into()));

    let Loaded::Valid(w) = runner.watermarks.load(&r.series).unwrap() else {
        panic!("no watermark after a commit");
    };
    assert_eq!(Some(w.coverage), result.coverage);
    assert_eq!(w.last_status.as_deref(), Some("success"));

    let again = runner.run_series(r).await;
    assert!(source.sent().is_empty(), "coverage holds the range");
    assert_eq!(
        (again.status, again.counters.rows),
        (SeriesStatus::Success, 0)
    );
    assert_eq!(table(&runner, Timeframe::H1).await.len(), 48);
}

#[tokio::test]
async fn a_failed_window_ends_coverage_at_the_last_commit_and_the_next_run_resumes_there() {
    let lake = lake();
    let source = Hourly::new("2024-02-01T00:00:00Z");
    let runner = runner(&lake, &source);
    source
        .failing
        .lock()
        .unwrap()
        .insert(at("2024-01-01T20:00:00Z"));
    let r = request(&runner, Timeframe::H1, "2024-01-01", "2024-01-03");
    let result = runner.run_series(r.clone()).await;
    assert_eq!(result.status, SeriesStatus::Partial);
    assert!(
        result
            .error
            .as_deref()
            .unwrap()
            .contains("refused by the test"),
        "{:?}",
        result.error
    );
    assert_eq!(
        result.coverage,
        Some(TimeRange::new(
            at("2024-01-01T00:00:00Z"),
            at("2024-01-01T20:00:00Z")
        ))
    );
    assert_eq!(table(&runner, Timeframe::H1).await.len(), 20);
    source.sent();

    source.failing.lock().unwrap().clear();
    let resumed = runner.run_series(r).await;
    assert_eq!(resumed.status, SeriesStatus::Success);
    assert_eq!(
        source.sent(),
        vec![
            at("2024-01-01T20:00:00Z"),
            at("2024-01-02T06:00:00Z"),
            at("2024-01-02T16:00:00Z")
        ],
        "only what coverage lacks"
    );
    let rows = table(&runner, Timeframe::H1).await;
    assert_eq!(rows.len(), 48);
    let distinct: HashSet<_> = rows.iter().map(|r| r.0).collect();
    assert_eq!(distinct.len(), 48, "no candle twice");
}

#[tokio::test]
async fn a_prepend_runs_newest_first_and_joins_the_coverage() {
    let lake = lake();
    let source = Hourly::new("2024-02-01T00:00:00Z");
    let runner = runner(&lake, &source);
    let later = request(&runner, Timeframe::H1, "2024-01-02", "2024-01-03");
    runner.run_series(later).await;
    source.sent();
    let earlier = request(&runner, Timeframe::H1, "2024-01-01T04:00:00Z", "2024-01-03");
    let result = runner.run_series(earlier).await;
    assert_eq!(
        source.sent(),
        vec![at("2024-01-01T14:00:00Z"), at("2024-01-01T04:00:00Z")],
        "newest window first"
    );
    assert_eq!(
        result.coverage,
        Some(TimeRange::new(
            at("2024-01-01T04:00:00Z"),
            at("2024-01-03T00:00:00Z")
        ))
    );
    assert_eq!(table(&runner, Timeframe::H1).await.len(), 44);
}

#[tokio::test]
async fn an_aggregated_series_counts_source_candles_and_stores_only_whole_buckets() {
    let lake = lake();
    let source = Hourly::new("2024-02-01T00:00:00Z");
    let runner = runner(&lake, &source);
    // 2024-01-01T02:00 .. 2024-01-02T00:00: the first 4h bucket starts at 04:00.
    let r = request(&runner, Timeframe::H4, "2024-01-01T02:00:00Z", "2024-01-02");
    assert_eq!(r.source, Timeframe::H1);
    let result = runner.run_series(r).await;
    assert_eq!(result.status, SeriesStatus::Success, "{:?}", result.error);
    let c = result.counters;
    assert_eq!((c.fetched, c.written, c.rows), (20, 20, 5), "{c:?}");
    assert!(c.balanced());
    let rows = table(&runner, Timeframe::H4).await;
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0], (at("2024-01-01T04:00:00Z"), "107.5".into()));
}

#[tokio::test]
async fn a_dlq_that_cannot_be_written_counts_nothing_as_written_or_dead_lettered() {
    let lake = lake();
    let source = Hourly::new("2024-02-01T00:00:00Z");
    source
        .invalid
        .lock()
        .unwrap()
        .insert(at("2024-01-01T03:00:00Z"));
    let runner = runner(&lake, &source);
    let state_dir = lake.settings.state_dir.local_dir().unwrap();
    std::fs::create_dir_all(state_dir).unwrap();
    std::fs::write(state_dir.join("dlq"), "in the way").unwrap();
    let r = request(&runner, Timeframe::H1, "2024-01-01", "2024-01-02");
    let result = runner.run_series(r).await;
    assert_eq!(result.status, SeriesStatus::Error);
    assert!(
        result.error.as_deref().unwrap().contains("dlq"),
        "{:?}",
        result.error
    );
    let c = result.counters;
    assert_eq!(
        (c.fetched, c.rows, c.written, c.dead_lettered),
        (24, 0, 0, 0),
        "{c:?}"
    );
    assert!(c.balanced());
    assert!(table(&runner, Timeframe::H1).await.is_empty());
}
