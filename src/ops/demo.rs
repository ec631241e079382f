//! The offline demo: backfills bundled Coinbase-format fixtures through the real pipeline with
//! no HTTP request, and lists the bundled Coinbase product list with the coverage it wrote.
//! Rows are marked `is_mock = true` and land under `data/demo` by default.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::DateTime;
use rust_decimal::Decimal;
use serde::Serialize;

use super::RunContext;
use super::backfill::partition_periods;
use super::instruments::{self as listing, InstrumentsReport};
use super::universe::Current;
use crate::error::{Error, Result};
use crate::fetch::RateGate;
use crate::model::{SeriesKey, TimeRange};
use crate::plan::{Settings, SettingsInput, Source};
use crate::providers::coinbase::{parse_body, parse_products};
use crate::providers::{
    CandleSource, Capabilities, Clock, FetchError, Gate, Instrument, Page, ProviderId, Timeframe,
    VolumeKind, WindowRequest, WireCandle,
};
use crate::report::summary::RunSummary;
use crate::series::Runner;
use crate::sink::table_name;
use crate::state::instruments::InstrumentList;
use crate::state::lock::RunLock;

/// Bundled fixtures: (pair, timeframe, Coinbase candles body).
const FIXTURES: [(&str, Timeframe, &str); 4] = [
    (
        "BTC-USD",
        Timeframe::H1,
        include_str!("../../fixtures/coinbase/demo/BTC-USD-1h.json"),
    ),
    (
        "ETH-USD",
        Timeframe::H1,
        include_str!("../../fixtures/coinbase/demo/ETH-USD-1h.json"),
    ),
    (
        "BTC-USD",
        Timeframe::D1,
        include_str!("../../fixtures/coinbase/demo/BTC-USD-1d.json"),
    ),
    (
        "ETH-USD",
        Timeframe::D1,
        include_str!("../../fixtures/coinbase/demo/ETH-USD-1d.json"),
    ),
];

/// The bundled Coinbase product list (Advanced Trade's public products answer).
const PRODUCTS: &str = include_str!("../../fixtures/coinbase/instruments/products.json");

/// Serves the fixtures as Coinbase would: the window's candles, newest first.
pub struct FixtureSource {
    candles: HashMap<(String, Timeframe), Vec<WireCandle>>,
    clock: Clock,
}

impl FixtureSource {
    pub fn bundled(clock: Clock) -> Self {
        let candles = FIXTURES
            .iter()
            .map(|(pair, tf, body)| {
                let parsed = parse_body(body).expect("bundled fixtures are valid Coinbase bodies");
                ((pair.to_string(), *tf), parsed)
            })
            .collect();
        FixtureSource { candles, clock }
    }
}

#[async_trait]
impl CandleSource for FixtureSource {
    fn id(&self) -> ProviderId {
        ProviderId::Coinbase
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            native_timeframes: &[Timeframe::H1, Timeframe::D1],
            max_buckets_per_request: 300,
        }
    }

    async fn fetch_window(
        &self,
        request: &WindowRequest,
        _: &dyn Gate,
    ) -> Result<Page, FetchError> {
        let in_window = |c: &&WireCandle| {
            c.open_time
                .is_ok_and(|t| request.start <= t && t < request.end)
        };
        let candles = self
            .candles
            .get(&(request.pair.clone(), request.timeframe))
            .map(|all| all.iter().filter(in_window).cloned().collect())
            .unwrap_or_default();
        let now = (self.clock)();
        Ok(Page {
            candles,
            response_time: now,
            received_at: now,
            request: format!(
                "fixture://coinbase/{}/{}?start={}&end={}",
                request.pair,
                request.timeframe,
                request.start.timestamp(),
                request.end.timestamp()
            ),
            volume_kind: VolumeKind::Base,
            available_from: None,
        })
    }

    async fn instruments(&self, _: &dyn Gate) -> Result<Vec<Instrument>, FetchError> {
        parse_products(PRODUCTS)
    }
}

/// What the demo wrote, and how to look at it.
#[derive(Debug, Serialize)]
pub struct DemoReport {
    pub summary: RunSummary,
    /// The bundled product list, online products, with what the demo holds of each.
    pub instruments: InstrumentsReport,
    pub tables: Vec<DemoTable>,
    /// The commands that inspect what the demo wrote (they name its lake and state dir).
    pub inspect: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct DemoTable {
    pub path: String,
    pub rows: usize,
    /// The last BTC-USD candle: timestamp, open, high, low, close, volume.
    pub last_btc_usd: Option<[String; 6]>,
}

/// The demo's lake and state dir, unless the user set others.
pub fn settings_input(mut flags: HashMap<String, String>) -> SettingsInput {
    flags
        .entry("CANDLELAKE_LAKE".into())
        .or_insert_with(|| "data/demo/lake".into());
    flags
        .entry("CANDLELAKE_STATE_DIR".into())
        .or_insert_with(|| "data/demo".into());
    SettingsInput {
        flags,
        env: HashMap::new(),
        config_file: None,
    }
}

/// Backfills the bundled fixtures (rows marked `is_mock`) and reads back what the tables hold.
pub async fn demo(settings: &Settings, clock: Clock) -> Result<DemoReport> {
    let run = RunContext::quiet(clock.clone());
    let _lock = RunLock::acquire(
        &settings.state_dir,
        settings.state_lease,
        &run.shutdown.stopper(),
    )?;
    let source = Source {
        client: Arc::new(FixtureSource::bundled(clock.clone())),
        gate: Arc::new(RateGate::new(Decimal::ZERO, None)),
    };
    let products = source.client.instruments(source.gate.as_ref()).await?;
    let list = InstrumentList {
        provider: ProviderId::Coinbase.as_str().to_string(),
        fetched_at: clock(),
        instruments: products,
    };
    let runner = Arc::new(
        Runner::builder(settings, source, clock, &run.ingestion_id)
            .mock(true)
            .build(),
    );
    let timeframes = [Timeframe::H1, Timeframe::D1];
    let periods = partition_periods(&runner, settings, timeframes).await?;
    let range = |tf: Timeframe| match tf {
        Timeframe::D1 => ("2024-01-01T00:00:00Z", "2024-03-31T00:00:00Z"),
        _ => ("2024-03-01T00:00:00Z", "2024-03-15T00:00:00Z"),
    };
    let at = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .expect("fixed demo dates")
            .to_utc()
    };
    let mut requests = Vec::new();
    for pair in ["BTC-USD", "ETH-USD"] {
        for tf in timeframes {
            let series = SeriesKey {
                provider: ProviderId::Coinbase,
                pair: pair.to_string(),
                timeframe: tf,
            };
            let (start, end) = range(tf);
            let range = TimeRange::new(at(start), at(end));
            let period = periods[&tf].clone().map_err(Error::Failed)?;
            requests.push(runner.request(series, range, period)?);
        }
    }
    let summary = RunSummary::new(&run.ingestion_id, &runner.run_all(requests).await);
    let mut tables = Vec::new();
    for tf in timeframes {
        let rows = runner.sink().read_rows(tf).await?;
        tables.push(DemoTable {
            path: format!("{}/{}", settings.lake, table_name(tf)),
            rows: rows.len(),
            last_btc_usd: rows.iter().rfind(|r| r.asset_pair == "BTC-USD").map(|r| {
                [
                    r.timestamp.to_rfc3339(),
                    r.open.clone(),
                    r.high.clone(),
                    r.low.clone(),
                    r.close.clone(),
                    r.volume.clone(),
                ]
            }),
        });
    }
    let at_demo = format!(
        "candlelake --lake {} --state-dir {}",
        settings.lake, settings.state_dir
    );
    let inspect = ["status", "gaps", "dlq list"]
        .iter()
        .map(|c| format!("{at_demo} {c}"))
        .collect();
    let current = Current {
        list,
        cached: false,
    };
    Ok(DemoReport {
        summary,
        instruments: listing::report(settings, &current, false).await,
        tables,
        inspect,
    })
}
