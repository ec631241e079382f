//! `instruments`: what a provider lists (as `universe` gets it), with the coverage of the
//! series already held.

use std::collections::BTreeMap;

use serde::Serialize;

use super::universe::Current;
use crate::model::{SeriesKey, TimeRange, rfc3339};
use crate::plan::Settings;
use crate::providers::{Instrument, InstrumentStatus, ProviderId, Timeframe};
use crate::report::summary::CoverageLine;
use crate::sink::DeltaSink;

/// What `instruments` prints.
#[derive(Debug, Serialize)]
pub struct InstrumentsReport {
    pub provider: &'static str,
    /// When the list was fetched from the provider.
    pub fetched_at: String,
    /// True when it came from the state dir's cache, not a request of this run.
    pub cached: bool,
    pub instruments: Vec<InstrumentLine>,
}

#[derive(Debug, Serialize)]
pub struct InstrumentLine {
    pub asset_pair: String,
    pub status: &'static str,
    pub kind: String,
    pub name: Option<String>,
    pub listed: Option<String>,
    pub delisted: Option<String>,
    /// The series of this pair already held, with their coverage.
    pub series: Vec<HeldSeries>,
}

#[derive(Debug, Serialize)]
pub struct HeldSeries {
    pub timeframe: &'static str,
    pub coverage: CoverageLine,
}

/// The lines of `list`: online instruments, or every one with `all`, each with the coverage
/// the tables record for its series.
pub async fn report(settings: &Settings, current: &Current, all: bool) -> InstrumentsReport {
    let provider = ProviderId::parse(&current.list.provider).expect("a list names its provider");
    let mut held = held(settings, provider).await;
    let instruments = current
        .list
        .instruments
        .iter()
        .filter(|i| all || i.status == InstrumentStatus::Online)
        .map(|i| line(i, held.remove(&i.asset_pair).unwrap_or_default()))
        .collect();
    InstrumentsReport {
        provider: provider.as_str(),
        fetched_at: rfc3339(current.list.fetched_at),
        cached: current.cached,
        instruments,
    }
}

/// One instrument's line.
pub fn line(i: &Instrument, series: Vec<HeldSeries>) -> InstrumentLine {
    InstrumentLine {
        asset_pair: i.asset_pair.clone(),
        status: i.status.as_str(),
        kind: i.kind.clone(),
        name: i.name.clone(),
        listed: i.listed.map(|d| d.to_string()),
        delisted: i.delisted.map(|d| d.to_string()),
        series,
    }
}

/// The coverage of every series of `provider` the tables record, by pair. A table that cannot
/// be read is logged and left out: the list is still worth printing.
async fn held(settings: &Settings, provider: ProviderId) -> BTreeMap<String, Vec<HeldSeries>> {
    let sink = DeltaSink::new(&settings.lake, settings.partition_periods.clone());
    let mut found: BTreeMap<SeriesKey, TimeRange> = BTreeMap::new();
    for tf in Timeframe::ALL {
        match sink.coverages(tf).await {
            Ok(marks) => found.extend(marks.into_iter().flatten()),
            Err(e) => tracing::error!("{e}"),
        }
    }
    let mut held: BTreeMap<String, Vec<HeldSeries>> = BTreeMap::new();
    for (key, c) in found.into_iter().filter(|(k, _)| k.provider == provider) {
        held.entry(key.pair).or_default().push(HeldSeries {
            timeframe: key.timeframe.as_str(),
            coverage: CoverageLine {
                from: Some(rfc3339(c.start)),
                to: Some(rfc3339(c.end)),
            },
        });
    }
    held
}
