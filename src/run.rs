//! A whole run: builds the engine for a provider, checks the tables' partition periods before
//! any request, runs every series concurrently inside the provider's budget, and summarises.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;

use crate::aggregate::source_timeframe;
use crate::connect::Connection;
use crate::enrich::{PartitionPeriod, SeriesKey};
use crate::pipeline::Span;
use crate::plan::{PlanError, Settings};
use crate::progress::Progress;
use crate::providers::{Clock, ProviderId, Timeframe};
use crate::schedule::{Direction, Engine, RetryPolicy, SeriesRequest, Shutdown};
use crate::sink::DeltaSink;
use crate::state::dlq::DeadLetterQueue;
use crate::state::watermark::WatermarkStore;
use crate::summary::{SeriesResult, rfc3339};

/// Builds the engine for one provider. `is_mock` marks rows of the offline demo; every engine
/// of one run shares `ingestion_id`.
pub fn engine(
    settings: &Settings,
    connection: Connection,
    clock: Clock,
    is_mock: bool,
    shutdown: Shutdown,
    ingestion_id: &str,
) -> Engine {
    Engine {
        budget: connection.budget,
        source: connection.source,
        sink: Arc::new(DeltaSink::new(
            &settings.lake,
            settings.partition_periods.clone(),
        )),
        watermarks: WatermarkStore::new(&settings.state_dir),
        dlq: DeadLetterQueue::new(&settings.state_dir),
        clock,
        retry: RetryPolicy {
            base: settings.retry_base,
            max_retry_after: settings.max_retry_after,
        },
        settle: TimeDelta::from_std(settings.settle).unwrap_or(TimeDelta::seconds(60)),
        commit_rows: settings.commit_rows,
        window_concurrency: settings.window_concurrency,
        ingestion_id: ingestion_id.to_string(),
        is_mock,
        shutdown,
        progress: Arc::new(Progress::none()),
    }
}

/// A new run's lowercase UUIDv4.
pub fn new_ingestion_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The request of one series, with the native timeframe it is fetched at.
pub fn series_request(
    engine: &Engine,
    series: SeriesKey,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    partition_period: PartitionPeriod,
    retry_unreachable: bool,
) -> Result<SeriesRequest, PlanError> {
    let native = engine.source.capabilities().native_timeframes;
    let source = source_timeframe(series.timeframe, native).ok_or_else(|| {
        PlanError(format!(
            "{} has no timeframe that {} can be built from; pick another timeframe",
            series.provider.as_str(),
            series.timeframe
        ))
    })?;
    Ok(SeriesRequest {
        series,
        source,
        retry_unreachable,
        start,
        end,
        partition_period,
    })
}

/// The partition period of each table the run touches; a conflict with an existing table is a
/// usage error, found before any request.
pub async fn partition_periods(
    engine: &Engine,
    settings: &Settings,
    timeframes: impl IntoIterator<Item = Timeframe>,
) -> Result<HashMap<Timeframe, PartitionPeriod>, PlanError> {
    let mut periods = HashMap::new();
    for tf in timeframes {
        let explicit = settings.partition_periods.contains_key(&tf);
        let period = engine
            .sink
            .partition_period(tf, explicit)
            .await
            .map_err(|e| PlanError(e.to_string()))?;
        periods.insert(tf, period);
    }
    Ok(periods)
}

/// Series running at once. Each holds up to `CANDLELAKE_COMMIT_ROWS` rows before its commit,
/// so this bounds a run's memory however many pairs it has; with 4 windows in flight each, 128
/// requests wait on a provider's rate budget, far more than any budget needs to stay full.
const SERIES_AT_ONCE: usize = 32;

/// Runs every series; one failing series does not stop the others.
/// Each series is its own task, so parsing and validation use every worker thread.
pub async fn run(engine: &Arc<Engine>, requests: Vec<SeriesRequest>) -> Vec<SeriesResult> {
    let slots = Arc::new(tokio::sync::Semaphore::new(SERIES_AT_ONCE));
    let tasks = requests.into_iter().map(|r| {
        let engine = Arc::clone(engine);
        let slots = Arc::clone(&slots);
        tokio::spawn(async move {
            let _slot = slots
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            engine.run_series(r).await
        })
    });
    let results: Vec<SeriesResult> = join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.expect("a series task panicked"))
        .collect();
    for r in &results {
        debug_assert!(
            r.counters.balanced(),
            "conservation broken for {}",
            r.series
        );
    }
    results
}

/// A series whose request could not start (for example `topup` without a watermark).
pub fn failed(series: SeriesKey, error: String) -> SeriesResult {
    SeriesResult::finish(series, Default::default(), None, Some(error), false, true)
}

/// The `--dry-run` plan: ranges and requests per series, and for a provider with a daily
/// budget the days of quota it needs; makes no request.
pub async fn dry_run(
    engine: &Engine,
    requests: &[SeriesRequest],
    settings: &Settings,
) -> serde_json::Value {
    let mut series = Vec::new();
    let mut total_requests = 0;
    for r in requests {
        let entry = match engine.held_coverage(&r.series).await {
            Err(e) => serde_json::json!({"series": r.series.to_string(), "error": e}),
            Ok((held, mark)) => {
                let ranges = engine.plan_ranges(r, held, &mark.unreachable);
                let describe = |(span, dir): &(Span, Direction)| {
                    let n = engine
                        .source
                        .windows(
                            &r.series.pair,
                            r.source,
                            span.start,
                            span.end,
                            *dir == Direction::Backward,
                        )
                        .len();
                    total_requests += n;
                    serde_json::json!({
                        "from": rfc3339(span.start),
                        "to": rfc3339(span.end),
                        "direction": if *dir == Direction::Forward { "forward" } else { "prepend" },
                        "requests": n,
                    })
                };
                serde_json::json!({
                    "provider": r.series.provider.as_str(),
                    "asset_pair": r.series.pair,
                    "timeframe": r.series.timeframe.as_str(),
                    "source_timeframe": r.source.as_str(),
                    "ranges": ranges.iter().map(describe).collect::<Vec<_>>(),
                })
            }
        };
        series.push(entry);
    }
    let mut plan =
        serde_json::json!({"dry_run": true, "requests": total_requests, "series": series});
    let limit = settings.alphavantage_daily_limit;
    if engine.source.id() == ProviderId::AlphaVantage && limit > 0 {
        plan["quota_days"] = serde_json::json!((total_requests as u64).div_ceil(limit));
    }
    plan
}
