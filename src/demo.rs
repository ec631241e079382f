//! The offline demo: backfills bundled Coinbase-format fixtures through the real pipeline with
//! no HTTP request. Rows are marked `is_mock = true` and land under `data/demo` by default.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::DateTime;
use rust_decimal::Decimal;

use crate::cli::CommandError;
use crate::connect::Connection;
use crate::enrich::SeriesKey;
use crate::plan::{PlanError, Settings, SettingsInput};
use crate::providers::coinbase::parse_body;
use crate::providers::{
    CandleSource, Capabilities, Clock, FetchError, Gate, Page, ProviderId, Timeframe, VolumeKind,
    WindowRequest, WireCandle,
};
use crate::run;
use crate::schedule::{Budget, Shutdown};
use crate::state::lock::RunLock;
use crate::summary::RunSummary;

/// Bundled fixtures: (pair, timeframe, Coinbase candles body).
const FIXTURES: [(&str, Timeframe, &str); 4] = [
    (
        "BTC-USD",
        Timeframe::H1,
        include_str!("../fixtures/coinbase/demo/BTC-USD-1h.json"),
    ),
    (
        "ETH-USD",
        Timeframe::H1,
        include_str!("../fixtures/coinbase/demo/ETH-USD-1h.json"),
    ),
    (
        "BTC-USD",
        Timeframe::D1,
        include_str!("../fixtures/coinbase/demo/BTC-USD-1d.json"),
    ),
    (
        "ETH-USD",
        Timeframe::D1,
        include_str!("../fixtures/coinbase/demo/ETH-USD-1d.json"),
    ),
];

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
}

/// Runs the demo and prints what it wrote.
pub async fn run_demo(
    mut flags: HashMap<String, String>,
    clock: Clock,
    format: crate::cli::OutputFormatArg,
) -> Result<i32, CommandError> {
    flags
        .entry("CANDLELAKE_LAKE".into())
        .or_insert_with(|| "data/demo/lake".into());
    flags
        .entry("CANDLELAKE_STATE_DIR".into())
        .or_insert_with(|| "data/demo".into());
    let settings = Settings::resolve(SettingsInput {
        flags,
        env: HashMap::new(),
        config_file: None,
    })?;
    let _lock = RunLock::acquire(&settings.state_dir)?;
    let connection = Connection {
        source: Arc::new(FixtureSource::bundled(clock.clone())),
        budget: Arc::new(Budget::new(Decimal::ZERO, None)),
    };
    let ingestion_id = run::new_ingestion_id();
    let engine = std::sync::Arc::new(run::engine(
        &settings,
        connection,
        clock,
        true,
        Shutdown::never(),
        &ingestion_id,
    ));
    let timeframes = [Timeframe::H1, Timeframe::D1];
    let periods = run::partition_periods(&engine, &settings, timeframes).await?;
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
            requests.push(run::series_request(
                &engine,
                series,
                at(start),
                at(end),
                periods[&tf],
                false,
            )?);
        }
    }
    let summary = RunSummary::new(&engine.ingestion_id, &run::run(&engine, requests).await);
    crate::cli::print_summary(&summary, format);
    if format == crate::cli::OutputFormatArg::Text {
        println!("\nwhat the tables hold now (offline demo, is_mock = true):");
        for tf in timeframes {
            let rows = engine
                .sink
                .read_rows(tf)
                .await
                .map_err(|e| PlanError(e.to_string()))?;
            println!(
                "  {}/{}: {} rows",
                settings.lake,
                crate::sink::table_name(tf),
                rows.len()
            );
            if let Some(last) = rows.iter().rfind(|r| r.asset_pair == "BTC-USD") {
                println!(
                    "    last BTC-USD candle {}: open {} high {} low {} close {} volume {}",
                    last.timestamp.to_rfc3339(),
                    last.open,
                    last.high,
                    last.low,
                    last.close,
                    last.volume
                );
            }
        }
        println!("  dead-letter files: {}", engine.dlq.dir().display());
        println!("  watermarks: {}/watermarks", settings.state_dir.display());
        println!(
            "  run it again: coverage already holds the range, so nothing is fetched or written twice."
        );
    }
    Ok(summary.exit_code())
}
