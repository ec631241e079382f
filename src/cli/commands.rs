//! What each command does, from parsed arguments to an exit code: resolve the settings and the
//! plan, call the operation in `ops`, print its report. Every exit code comes from
//! `crate::error`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use super::args::{
    BackfillArgs, Cli, Command, DlqCommand, GapsArgs, MaintainArgs, OutputFormat, RefetchArgs,
    SelectionArgs, StatusArgs, TopupArgs,
};
use super::output;
use crate::error::{self, Error, Result, exit};
use crate::fetch::Shutdown;
use crate::model::new_ingestion_id;
use crate::ops::{self, RunContext};
use crate::plan::{
    BackfillInput, BackfillPlan, PlanError, Selection, Settings, SettingsInput, class_overrides,
    parse_duration, parse_instant,
};
use crate::providers::{Clock, Timeframe, system_clock};
use crate::report::metrics;
use crate::report::progress::Progress;
use crate::report::summary::{RunSummary, SeriesResult};
use crate::sink::DeltaSink;
use crate::state::dlq::DeadLetterQueue;
use crate::state::lock::RunLock;
use crate::state::watermark::{Loaded, WatermarkStore};

pub async fn execute(cli: Cli) -> i32 {
    let clock = system_clock();
    let format = cli.global.output;
    let flags = cli.global.setting_flags();
    let input = SettingsInput::from_process(flags.clone(), cli.global.config.clone());
    let result = match cli.command {
        Command::Backfill(args) => backfill(input, args, clock, format).await,
        Command::Topup(args) => topup(input, args, clock, format).await,
        Command::Status(args) => status(input, args, clock).await,
        Command::Demo => demo(flags, clock, format).await,
        Command::Dlq { command } => dlq(input, command, clock).await,
        Command::Refetch(args) => refetch(input, args, clock).await,
        Command::Gaps(args) => gaps(input, args).await,
        Command::Maintain(args) => maintain(input, args).await,
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        e.exit_code()
    })
}

/// A run that listens for SIGINT/SIGTERM and shows progress on a terminal.
fn run_context(clock: Clock) -> Result<RunContext> {
    let shutdown = Shutdown::on_signals()
        .map_err(|e| Error::Failed(format!("could not listen for SIGINT/SIGTERM: {e}")))?;
    Ok(RunContext {
        clock,
        ingestion_id: new_ingestion_id(),
        shutdown,
        progress: Arc::new(Progress::for_stderr()),
    })
}

/// Prints the summary, publishes the run's metrics and says the exit code.
async fn finish(
    settings: &Settings,
    run: &RunContext,
    results: &[SeriesResult],
    format: OutputFormat,
    started: Instant,
) -> i32 {
    let summary = RunSummary::new(&run.ingestion_id, results);
    output::print_summary(&summary, format);
    publish_metrics(settings, &summary, results, started).await;
    error::finished(summary.succeeded(), run.shutdown.requested())
}

/// Writes the textfile and pushes to the Pushgateway when configured. A failure to publish is
/// logged, not fatal: the data is committed either way.
async fn publish_metrics(
    settings: &Settings,
    summary: &RunSummary,
    results: &[SeriesResult],
    started: Instant,
) {
    if settings.metrics_file.is_none() && settings.pushgateway_url.is_none() {
        return;
    }
    let watermarks = WatermarkStore::new(&settings.state_dir);
    let last_success = results
        .iter()
        .filter_map(|r| match watermarks.load(&r.series) {
            Ok(Loaded::Valid(w)) => Some((r.series.clone(), w.last_success?)),
            _ => None,
        })
        .collect::<HashMap<_, _>>();
    let run = metrics::RunMetrics {
        results,
        status: summary.status,
        last_success,
        duration: started.elapsed(),
        finished_at: Utc::now(),
    };
    let text = metrics::render(&run);
    if let Some(path) = &settings.metrics_file
        && let Err(e) = metrics::write_textfile(path, &text)
    {
        tracing::error!(
            "Could not write the metrics textfile {}: {e}",
            path.display()
        );
    }
    if let Some(url) = &settings.pushgateway_url
        && let Err(e) = metrics::push(url, &text, settings.http_timeout).await
    {
        tracing::error!("{e}");
    }
}

fn backfill_plan(
    args: &BackfillArgs,
    dry_run: bool,
    clock: &Clock,
) -> Result<BackfillPlan, PlanError> {
    BackfillPlan::resolve(
        &BackfillInput {
            provider: args.range.provider.clone(),
            pairs: args.range.pairs.clone(),
            timeframes: args.range.timeframes.clone(),
            start: args.range.start.clone(),
            end: args.range.end.clone(),
            dry_run,
        },
        clock(),
    )
}

async fn backfill(
    input: SettingsInput,
    args: BackfillArgs,
    clock: Clock,
    format: OutputFormat,
) -> Result<i32> {
    let started = Instant::now();
    let settings = Settings::resolve(input)?;
    let plan = backfill_plan(&args, args.dry_run, &clock)?;
    let run = run_context(clock)?;
    let runner = run.runner(&settings, plan.provider)?;
    let _lock = if plan.dry_run {
        None
    } else {
        Some(RunLock::acquire(&settings.state_dir)?)
    };
    let requests =
        ops::backfill::requests(&runner, &settings, &plan, args.retry_unreachable).await?;
    if plan.dry_run {
        let report =
            ops::backfill::dry_run(&runner, &requests, settings.alphavantage_daily_limit).await;
        output::print_dry_run(&report, format);
        return Ok(exit::OK);
    }
    let results = Arc::new(runner).run_all(requests).await;
    Ok(finish(&settings, &run, &results, format, started).await)
}

async fn topup(
    input: SettingsInput,
    args: TopupArgs,
    clock: Clock,
    format: OutputFormat,
) -> Result<i32> {
    let started = Instant::now();
    let settings = Settings::resolve(input)?;
    let selection = selection(&args.selection)?;
    let _lock = RunLock::acquire(&settings.state_dir)?;
    let run = run_context(clock)?;
    let topup = ops::topup::plan(&settings, &selection, &run).await?;
    let results = ops::topup::run(topup).await;
    Ok(finish(&settings, &run, &results, format, started).await)
}

fn selection(args: &SelectionArgs) -> Result<Selection, PlanError> {
    Selection::parse(
        args.provider.as_deref(),
        args.pairs.as_deref(),
        args.timeframes.as_deref(),
    )
}

async fn status(input: SettingsInput, args: StatusArgs, clock: Clock) -> Result<i32> {
    let settings = Settings::resolve(input)?;
    let selection = selection(&args.selection)?;
    let stale_after = args
        .fail_if_stale
        .as_deref()
        .map(|d| parse_duration(d, "--fail-if-stale"))
        .transpose()?;
    let report =
        ops::status::collect(&settings, clock(), |k| selection.accepts(k), stale_after).await?;
    output::print_status(&report, args.json);
    Ok(error::finished(!report.unhealthy(), None))
}

async fn refetch(input: SettingsInput, args: RefetchArgs, clock: Clock) -> Result<i32> {
    let settings = Settings::resolve(input)?;
    let plan = backfill_plan(
        &BackfillArgs {
            range: args.range,
            dry_run: false,
            retry_unreachable: false,
        },
        false,
        &clock,
    )?;
    let run = run_context(clock)?;
    let runner = run.runner(&settings, plan.provider)?;
    let _lock = RunLock::acquire(&settings.state_dir)?;
    let requests = ops::backfill::requests(&runner, &settings, &plan, false).await?;
    let mut reports = Vec::new();
    let mut failed = false;
    for request in &requests {
        if run.shutdown.requested().is_some() {
            break;
        }
        match ops::refetch::refetch(&runner, request).await {
            Ok(report) => reports.push(serde_json::to_value(&report).expect("report serialises")),
            Err(e) => {
                failed = true;
                reports.push(serde_json::json!({
                    "series": request.series.to_string(),
                    "error": e.to_string(),
                }));
            }
        }
    }
    println!(
        "{}",
        serde_json::json!({"ingestion_id": run.ingestion_id, "results": reports})
    );
    Ok(error::finished(!failed, run.shutdown.requested()))
}

async fn gaps(input: SettingsInput, args: GapsArgs) -> Result<i32> {
    let settings = Settings::resolve(input)?;
    let selection = selection(&args.selection)?;
    let start = args
        .start
        .as_deref()
        .map(|s| parse_instant(s, "--start"))
        .transpose()?;
    let end = args
        .end
        .as_deref()
        .map(|s| parse_instant(s, "--end"))
        .transpose()?;
    let classes = class_overrides(&settings)?;
    let sink = DeltaSink::new(&settings.lake, settings.partition_periods.clone());
    let dlq = DeadLetterQueue::new(&settings.state_dir);
    let mut report = Vec::new();
    for mark in WatermarkStore::new(&settings.state_dir).all() {
        let Some(series) = mark.series().filter(|k| selection.accepts(k)) else {
            continue;
        };
        let calendar = ops::gaps::calendar_of(&series, &classes);
        let found =
            ops::gaps::series_gaps(&sink, &dlq, &mark, &series, calendar, (start, end)).await?;
        report.push(found);
    }
    let any = report.iter().any(|s| !s.gaps.is_empty());
    output::print_gaps(&report, args.json);
    Ok(error::finished(!(args.fail_on_gaps && any), None))
}

async fn maintain(input: SettingsInput, args: MaintainArgs) -> Result<i32> {
    let settings = Settings::resolve(input)?;
    let timeframes = match &args.timeframes {
        None => Timeframe::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|t| t.trim().parse::<Timeframe>().map_err(PlanError))
            .collect::<Result<_, _>>()?,
    };
    let retention = parse_duration(&args.vacuum_retention, "--vacuum-retention")?;
    let _lock = RunLock::acquire(&settings.state_dir)?;
    let sink = DeltaSink::new(&settings.lake, settings.partition_periods.clone());
    let report = ops::maintain::maintain(&sink, &timeframes, retention).await?;
    println!(
        "{}",
        serde_json::to_string(&report).expect("report serialises")
    );
    Ok(exit::OK)
}

async fn demo(flags: HashMap<String, String>, clock: Clock, format: OutputFormat) -> Result<i32> {
    let settings = Settings::resolve(ops::demo::settings_input(flags))?;
    let report = ops::demo::demo(&settings, clock).await?;
    output::print_demo(&report, format);
    Ok(error::finished(report.summary.succeeded(), None))
}

async fn dlq(input: SettingsInput, command: DlqCommand, clock: Clock) -> Result<i32> {
    let settings = Settings::resolve(input)?;
    let queue = DeadLetterQueue::new(&settings.state_dir);
    match command {
        DlqCommand::List { json } => {
            let listing = queue.list().map_err(|e| {
                Error::Failed(format!("could not read {}: {e}", queue.dir().display()))
            })?;
            output::print_dlq_list(&listing, json);
            return Ok(error::finished(listing.unreadable.is_empty(), None));
        }
        DlqCommand::Show { id } => {
            let path = queue.dir().join(format!("{id}.json"));
            let text = std::fs::read_to_string(&path).map_err(|_| {
                PlanError(format!(
                    "no DLQ file with id '{id}' in {}; `candlelake dlq list` shows the ids",
                    queue.dir().display()
                ))
            })?;
            print!("{text}");
        }
        DlqCommand::Replay { ids } => {
            let _lock = RunLock::acquire(&settings.state_dir)?;
            let sink = DeltaSink::new(&settings.lake, settings.partition_periods.clone());
            let parsers = ops::replay::Parsers {
                alphavantage_classes: class_overrides(&settings)?,
            };
            let report =
                ops::replay::replay(&queue, &sink, &parsers, &ids, &new_ingestion_id(), clock())
                    .await?;
            println!(
                "{}",
                serde_json::to_string(&report).expect("report serialises")
            );
            return Ok(error::finished(report.unreadable.is_empty(), None));
        }
    }
    Ok(exit::OK)
}
