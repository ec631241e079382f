//! A whole run: builds the engine for a provider, checks the tables' partition periods before
//! any request, runs every series concurrently inside the provider's budget, and summarises.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::TimeDelta;
use futures::future::join_all;

use crate::enrich::{PartitionPeriod, SeriesKey};
use crate::pipeline::Span;
use crate::plan::{PlanError, Settings};
use crate::providers::{CandleSource, Clock, Timeframe};
use crate::schedule::{Budget, Direction, Engine, RetryPolicy, SeriesRequest, Shutdown};
use crate::sink::DeltaSink;
use crate::state::dlq::DeadLetterQueue;
use crate::state::watermark::WatermarkStore;
use crate::summary::{SeriesResult, rfc3339};

/// Builds the engine for one provider. `is_mock` marks rows of the offline demo.
pub fn engine(
    settings: &Settings,
    source: Arc<dyn CandleSource>,
    clock: Clock,
    is_mock: bool,
    shutdown: Shutdown,
) -> Engine {
    Engine {
        budget: Arc::new(Budget::new(settings.coinbase_rps, None)),
        source,
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
        ingestion_id: uuid::Uuid::new_v4().to_string(),
        is_mock,
        shutdown,
    }
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

/// Runs every series; one failing series does not stop the others.
pub async fn run(engine: &Engine, requests: Vec<SeriesRequest>) -> Vec<SeriesResult> {
    let results = join_all(requests.into_iter().map(|r| engine.run_series(r))).await;
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

/// The `--dry-run` plan: ranges and requests per series; makes no request.
pub async fn dry_run(engine: &Engine, requests: &[SeriesRequest]) -> serde_json::Value {
    let mut series = Vec::new();
    for r in requests {
        let entry = match engine.held_coverage(&r.series).await {
            Err(e) => serde_json::json!({"series": r.series.to_string(), "error": e}),
            Ok((held, _)) => {
                let ranges = engine.plan_ranges(r, held);
                let describe = |(span, dir): &(Span, Direction)| {
                    serde_json::json!({
                        "from": rfc3339(span.start),
                        "to": rfc3339(span.end),
                        "direction": if *dir == Direction::Forward { "forward" } else { "prepend" },
                        "requests": engine.source.windows(&r.series.pair, r.series.timeframe, span.start, span.end, *dir == Direction::Backward).len(),
                    })
                };
                serde_json::json!({
                    "provider": r.series.provider.as_str(),
                    "asset_pair": r.series.pair,
                    "timeframe": r.series.timeframe.as_str(),
                    "ranges": ranges.iter().map(describe).collect::<Vec<_>>(),
                })
            }
        };
        series.push(entry);
    }
    serde_json::json!({"dry_run": true, "series": series})
}
