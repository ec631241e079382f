//! What each command does, from parsed arguments to an exit code.

use std::sync::Arc;

use super::args::{BackfillArgs, Cli, Command, OutputFormat, TopupArgs};
use super::exit;
use super::output;
use crate::demo;
use crate::enrich::SeriesKey;
use crate::plan::{
    BackfillInput, BackfillPlan, PlanError, Settings, SettingsInput, canonical_pair,
};
use crate::providers::coinbase::{CoinbaseClient, CoinbaseConfig};
use crate::providers::{CandleSource, Clock, ProviderId, Timeframe, system_clock};
use crate::run;
use crate::schedule::SeriesRequest;
use crate::state::watermark::WatermarkStore;
use crate::status;
use crate::summary::RunSummary;

pub async fn execute(cli: Cli) -> i32 {
    let clock = system_clock();
    let format = cli.global.output;
    let settings_input =
        SettingsInput::from_process(cli.global.setting_flags(), cli.global.config.clone());
    let result = match cli.command {
        Command::Backfill(args) => backfill(settings_input, args, clock, format).await,
        Command::Topup(args) => topup(settings_input, args, clock, format).await,
        Command::Status { json } => status_command(settings_input, json).await,
        Command::Demo => demo::run_demo(cli.global.setting_flags(), clock, format).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            exit::USAGE
        }
    }
}

fn coinbase(settings: &Settings, clock: Clock) -> Result<Arc<dyn CandleSource>, PlanError> {
    let config = CoinbaseConfig {
        base_url: settings.coinbase_url.clone(),
        timeout: settings.http_timeout,
    };
    let client = CoinbaseClient::new(config, clock).map_err(|e| PlanError(e.to_string()))?;
    Ok(Arc::new(client))
}

async fn backfill(
    input: SettingsInput,
    args: BackfillArgs,
    clock: Clock,
    format: OutputFormat,
) -> Result<i32, PlanError> {
    let settings = Settings::resolve(input)?;
    let plan = BackfillPlan::resolve(
        &BackfillInput {
            provider: args.provider,
            pairs: args.pairs,
            timeframes: args.timeframes,
            start: args.start,
            end: args.end,
            dry_run: args.dry_run,
        },
        clock(),
    )?;
    let engine = run::engine(&settings, coinbase(&settings, clock.clone())?, clock, false);
    let periods =
        run::partition_periods(&engine, &settings, plan.timeframes.iter().copied()).await?;
    let requests: Vec<SeriesRequest> = plan
        .pairs
        .iter()
        .flat_map(|pair| plan.timeframes.iter().map(move |tf| (pair, *tf)))
        .map(|(pair, tf)| SeriesRequest {
            series: SeriesKey {
                provider: plan.provider,
                pair: pair.clone(),
                timeframe: tf,
            },
            start: plan.start,
            end: plan.end,
            partition_period: periods[&tf],
        })
        .collect();
    if plan.dry_run {
        output::print_dry_run(&run::dry_run(&engine, &requests).await, format);
        return Ok(exit::OK);
    }
    let summary = RunSummary::new(&engine.ingestion_id, &run::run(&engine, requests).await);
    output::print_summary(&summary, format);
    Ok(summary.exit_code())
}

async fn topup(
    input: SettingsInput,
    args: TopupArgs,
    clock: Clock,
    format: OutputFormat,
) -> Result<i32, PlanError> {
    let settings = Settings::resolve(input)?;
    let provider = match args.provider.as_deref() {
        None => None,
        Some(p) => Some(ProviderId::parse(p).ok_or_else(|| {
            PlanError(format!(
                "unknown provider '{p}'; use coinbase, oanda or alphavantage"
            ))
        })?),
    };
    let list = |v: &Option<String>| -> Vec<String> {
        v.iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    let pairs = list(&args.pairs)
        .iter()
        .map(|p| canonical_pair(p, provider.unwrap_or(ProviderId::Coinbase)))
        .collect::<Result<Vec<_>, _>>()?;
    let timeframes = list(&args.timeframes)
        .iter()
        .map(|t| t.parse::<Timeframe>().map_err(PlanError))
        .collect::<Result<Vec<_>, _>>()?;

    let known = WatermarkStore::new(&settings.state_dir).all();
    let selected = |k: &SeriesKey| {
        provider.is_none_or(|p| p == k.provider)
            && (pairs.is_empty() || pairs.contains(&k.pair))
            && (timeframes.is_empty() || timeframes.contains(&k.timeframe))
    };
    let mut with_mark: Vec<SeriesKey> = known
        .iter()
        .filter_map(|w| w.series())
        .filter(|k| selected(k))
        .collect();
    with_mark.sort();
    let mut missing = Vec::new();
    if let Some(p) = provider.filter(|_| !pairs.is_empty() && !timeframes.is_empty()) {
        for pair in &pairs {
            for tf in &timeframes {
                let key = SeriesKey {
                    provider: p,
                    pair: pair.clone(),
                    timeframe: *tf,
                };
                if !with_mark.contains(&key) {
                    missing.push(run::failed(key, "no watermark; run backfill first".into()));
                }
            }
        }
    }
    if let Some(other) = with_mark
        .iter()
        .find(|k| k.provider != ProviderId::Coinbase)
    {
        return Err(PlanError(format!(
            "provider '{}' is not available in this build yet; select --provider coinbase",
            other.provider.as_str()
        )));
    }

    let engine = run::engine(
        &settings,
        coinbase(&settings, clock.clone())?,
        clock.clone(),
        false,
    );
    let periods =
        run::partition_periods(&engine, &settings, with_mark.iter().map(|k| k.timeframe)).await?;
    let now = clock();
    let requests = with_mark
        .into_iter()
        .filter_map(|series| {
            let mark = known
                .iter()
                .find(|w| w.series().as_ref() == Some(&series))?;
            let partition_period = periods[&series.timeframe];
            Some(SeriesRequest {
                start: mark.coverage.to,
                end: now,
                series,
                partition_period,
            })
        })
        .collect();
    let mut results = missing;
    results.extend(run::run(&engine, requests).await);
    let summary = RunSummary::new(&engine.ingestion_id, &results);
    output::print_summary(&summary, format);
    Ok(summary.exit_code())
}

async fn status_command(input: SettingsInput, json: bool) -> Result<i32, PlanError> {
    let settings = Settings::resolve(input)?;
    let report = status::collect(&settings).await.map_err(PlanError)?;
    output::print_status(&report, json);
    Ok(exit::OK)
}
