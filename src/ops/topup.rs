//! `topup`: brings every selected series from its coverage end to the last final candle. With
//! no selection it tops up every series a table or a watermark file knows.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::RunContext;
use super::backfill::partition_periods;
use crate::error::Result;
use crate::model::{SeriesKey, TimeRange};
use crate::plan::{Selection, Settings};
use crate::providers::{ProviderId, Timeframe};
use crate::report::summary::SeriesResult;
use crate::series::{Runner, SeriesRequest};
use crate::sink::DeltaSink;
use crate::state::watermark::WatermarkStore;

/// The runners and requests of a top-up, and the series that cannot start.
pub struct Topup {
    pub jobs: Vec<(Arc<Runner>, Vec<SeriesRequest>)>,
    pub failed: Vec<SeriesResult>,
}

/// Plans a top-up: one runner per provider, every client and table checked before the first
/// request.
pub async fn plan(settings: &Settings, selection: &Selection, run: &RunContext) -> Result<Topup> {
    // The tables' coverage marks first (their file lists are not needed): a series whose
    // watermark file was lost is topped up all the same.
    let sink = DeltaSink::new(&settings.lake, settings.partition_periods.clone());
    let timeframes = match selection.timeframes.as_slice() {
        [] => Timeframe::ALL.to_vec(),
        some => some.to_vec(),
    };
    let mut known: BTreeSet<SeriesKey> = WatermarkStore::new(&settings.state_dir)
        .keys()
        .into_iter()
        .collect();
    for tf in timeframes {
        match sink.coverages(tf).await {
            Ok(marked) => known.extend(marked.into_iter().flatten().map(|(k, _)| k)),
            // Its series with a watermark file fail with this error when they are planned.
            Err(e) => tracing::error!("{e}"),
        }
    }
    let marks: Vec<SeriesKey> = known.into_iter().filter(|k| selection.accepts(k)).collect();
    let mut failed: Vec<SeriesResult> = selection
        .named()
        .into_iter()
        .filter(|k| !marks.contains(k))
        .map(|k| SeriesResult::failed(k, "no watermark; run backfill first".into()))
        .collect();
    let mut providers: Vec<ProviderId> = marks.iter().map(|k| k.provider).collect();
    providers.sort();
    providers.dedup();
    let now = (run.clock)();
    let mut jobs = Vec::new();
    for p in providers {
        let runner = run.runner(settings, p)?;
        let mine: Vec<&SeriesKey> = marks.iter().filter(|k| k.provider == p).collect();
        let periods =
            partition_periods(&runner, settings, mine.iter().map(|k| k.timeframe)).await?;
        let mut requests = Vec::new();
        for series in mine {
            // The table's coverage, with the watermark file repaired from it.
            let period = match &periods[&series.timeframe] {
                Ok(period) => *period,
                Err(e) => {
                    failed.push(SeriesResult::failed(series.clone(), e.clone()));
                    continue;
                }
            };
            match runner.held(series).await {
                Ok(held) => match held.coverage {
                    Some(c) => requests.push(runner.request(
                        series.clone(),
                        TimeRange::new(c.end, now),
                        period,
                    )?),
                    None => failed.push(SeriesResult::failed(
                        series.clone(),
                        "no coverage in the table; run backfill first".into(),
                    )),
                },
                Err(e) => failed.push(SeriesResult::failed(series.clone(), e.to_string())),
            }
        }
        jobs.push((Arc::new(runner), requests));
    }
    Ok(Topup { jobs, failed })
}

/// Runs every provider's series at once; the series that could not start come first.
pub async fn run(topup: Topup) -> Vec<SeriesResult> {
    let runs = topup
        .jobs
        .iter()
        .map(|(runner, requests)| runner.run_all(requests.clone()));
    let mut results = topup.failed;
    results.extend(futures::future::join_all(runs).await.into_iter().flatten());
    results
}
