//! `topup`: brings every selected series from its coverage end to the last final candle. With
//! no selection it tops up every series a table or a watermark file knows. A pair its
//! provider's list says is delisted is asked nothing after its delisting (or, with no date
//! published, nothing more at all), and succeeds.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::RunContext;
use super::backfill::partition_periods;
use super::universe::{self, Lists};
use crate::error::Result;
use crate::model::{SeriesKey, TimeRange};
use crate::plan::{Selection, Settings};
use crate::providers::alphavantage::is_ticker;
use crate::providers::{Clock, ProviderId, Timeframe};
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
    selection.check_patterns(marks.iter().map(|k| k.pair.as_str()))?;
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
    let lists = lists(settings, &marks, run.clock.clone()).await;
    let mut jobs = Vec::new();
    for p in providers {
        let runner = run.runner(settings, p).await?;
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
            let listing = lists.listing(series.provider, &series.pair);
            match runner.held(series).await {
                Ok(held) => match held.coverage {
                    Some(c) => {
                        // Delisted with no date published: nothing more to ask.
                        let end = match listing.delisted && listing.delisted_at.is_none() {
                            true => c.end,
                            false => now,
                        };
                        let mut request =
                            runner.request(series.clone(), TimeRange::new(c.end, end), period)?;
                        request.listing = listing;
                        requests.push(request);
                    }
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

/// The lists that say which pairs are delisted, each asked for at most once a day: Coinbase's
/// when a Coinbase series is topped up, Alpha Vantage's (four requests of its daily quota) only
/// when an equity is, since only tickers are delisted there; Oanda publishes no delistings. A
/// list that cannot be had is logged, and its series are topped up without it.
async fn lists(settings: &Settings, series: &[SeriesKey], clock: Clock) -> Lists {
    let mut lists = Lists::cached(settings);
    let wants = |p: ProviderId| {
        series.iter().any(|k| {
            k.provider == p
                && match p {
                    ProviderId::Coinbase => true,
                    ProviderId::AlphaVantage => is_ticker(&k.pair),
                    ProviderId::Oanda => false,
                }
        })
    };
    for p in [ProviderId::Coinbase, ProviderId::AlphaVantage] {
        if !wants(p) {
            continue;
        }
        match universe::current(settings, p, clock.clone(), false).await {
            Ok(current) => lists.insert(current.list),
            Err(e) => tracing::warn!("{e}; topping up without knowing which pairs are delisted"),
        }
    }
    lists
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
