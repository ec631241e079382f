//! What each command does, from parsed arguments to an exit code: resolve the settings and the
//! plan, call the operation in `ops`, print its report. Every exit code comes from
//! `crate::error`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use super::args::{
    BackfillArgs, Cli, Command, DlqCommand, DruidSpecArgs, GapsArgs, ImportArgs, InstrumentsArgs,
    LogFormat, MaintainArgs, OutputFormat, RangeArgs, RefetchArgs, SelectionArgs, StatusArgs,
    TopupArgs,
};
use super::output;
use crate::error::{self, Error, Result, exit};
use crate::fetch::Shutdown;
use crate::model::new_ingestion_id;
use crate::ops::{self, RunContext};
use crate::plan::{
    BackfillInput, BackfillPlan, PlanError, Selection, Settings, SettingsInput, Shard,
    parse_duration, parse_instant, parse_provider,
};
use crate::providers::{Clock, Facts, Timeframe, system_clock};
use crate::report::import_progress::ImportProgress;
use crate::report::progress::Progress;
use crate::report::summary::{RunSummary, SeriesResult};
use crate::report::{metrics, pipes};
use crate::sink::DeltaSink;
use crate::state::dlq::DeadLetterQueue;
use crate::state::lock::{LockError, RunLock};
use crate::state::watermark::{Loaded, WatermarkStore};

pub async fn execute(cli: Cli) -> i32 {
    let clock = system_clock();
    let format = cli.global.output;
    let json_logs = cli.global.log_format == LogFormat::Json;
    let flags = cli.global.setting_flags();
    let input = SettingsInput::from_process(flags.clone(), cli.global.config.clone());
    let out = Out { format, json_logs };
    // A run started through Dagster Pipes reports its summary back on the Pipes channel.
    let pipes = match &cli.command {
        Command::Backfill(_) | Command::Topup(_) => match pipes::Session::open(&input.env) {
            Ok(pipes) => pipes,
            Err(e) => {
                eprintln!("error: Dagster Pipes: {e}");
                return exit::USAGE;
            }
        },
        _ => None,
    };
    let result = match cli.command {
        Command::Backfill(args) => backfill(input, args, clock, out, pipes.as_ref()).await,
        Command::Topup(args) => topup(input, args, clock, out, pipes.as_ref()).await,
        Command::Status(args) => status(input, args, clock, out).await,
        Command::Demo => demo(flags, clock, out).await,
        Command::Dlq { command } => dlq(input, command, clock, out).await,
        Command::Refetch(args) => refetch(input, args, clock, out).await,
        Command::Gaps(args) => gaps(input, args, out).await,
        Command::Instruments(args) => instruments(input, args, clock, out).await,
        Command::Maintain(args) => maintain(input, args, out).await,
        Command::Import(args) => import(input, args, out).await,
        Command::DruidSpec(args) => druid_spec(input, args).await,
    };
    let (code, error) = match result {
        Ok(code) => (code, None),
        Err(e) => {
            eprintln!("error: {e}");
            (e.exit_code(), Some(e.to_string()))
        }
    };
    if let Some(pipes) = pipes {
        pipes.close(error.as_deref());
    }
    code
}

/// How a command reports: `--output` for what it prints on stdout, `--log-format` for stderr.
#[derive(Debug, Clone, Copy)]
struct Out {
    format: OutputFormat,
    json_logs: bool,
}

impl Out {
    /// JSON on stdout: `--output json`, or a command's own `--json`.
    fn json(self, flag: bool) -> OutputFormat {
        if flag {
            OutputFormat::Json
        } else {
            self.format
        }
    }
}

/// A run that listens for SIGINT/SIGTERM and shows its progress on stderr.
fn run_context(clock: Clock, json_logs: bool) -> Result<RunContext> {
    let shutdown = Shutdown::on_signals()
        .map_err(|e| Error::Failed(format!("could not listen for SIGINT/SIGTERM: {e}")))?;
    Ok(RunContext {
        clock,
        ingestion_id: new_ingestion_id(),
        shutdown,
        progress: Arc::new(Progress::for_stderr(json_logs)),
    })
}

/// Prints the summary, reports it to Dagster Pipes, publishes the run's metrics and says the
/// exit code.
async fn finish(
    settings: &Settings,
    run: &RunContext,
    results: &[SeriesResult],
    format: OutputFormat,
    pipes: Option<&pipes::Session>,
    started: Instant,
) -> i32 {
    let summary = RunSummary::new(&run.ingestion_id, results);
    output::print_summary(&summary, format);
    if let Some(pipes) = pipes {
        pipes.report(&summary);
    }
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
    args: &RangeArgs,
    dry_run: bool,
    clock: &Clock,
) -> Result<BackfillPlan, PlanError> {
    BackfillPlan::resolve(
        &BackfillInput {
            provider: args.provider.clone(),
            pairs: args.pairs.clone(),
            timeframes: args.timeframes.clone(),
            start: args.start.clone(),
            end: args.end.clone(),
            dry_run,
        },
        clock(),
    )
}

/// What a command will do with the lake, checked before anything else.
enum Access {
    /// It writes: every location must be usable (dry runs included).
    Writes,
    /// It only reads: an object-store lake needs its credentials.
    Reads,
}

/// The checked settings of a command.
async fn settings(input: SettingsInput, access: Access) -> Result<Settings> {
    let settings = Settings::resolve(input)?;
    match access {
        Access::Writes => settings.check_locations().await?,
        Access::Reads => settings.check_object_store().await?,
    }
    Ok(settings)
}

/// An optional flag, parsed when given.
fn optional<T>(
    value: &Option<String>,
    flag: &str,
    parse: fn(&str, &str) -> Result<T, PlanError>,
) -> Result<Option<T>, PlanError> {
    value.as_deref().map(|v| parse(v, flag)).transpose()
}

async fn backfill(
    input: SettingsInput,
    args: BackfillArgs,
    clock: Clock,
    out: Out,
    pipes: Option<&pipes::Session>,
) -> Result<i32> {
    let started = Instant::now();
    let shard = Shard::resolve(args.shard.as_deref(), &input.env)?;
    let settings = settings(input, Access::Writes).await?;
    let mut plan = backfill_plan(&args.range, args.dry_run, &clock)?;
    plan.shard = shard;
    let (lists, patterns) = ops::universe::resolve(&settings, &mut plan, clock.clone()).await?;
    let run = run_context(clock, out.json_logs)?;
    let runner = run.runner(&settings, plan.provider).await?;
    let _lock = if plan.dry_run {
        None
    } else {
        Some(run_lock(&settings, shard, &run.shutdown)?)
    };
    let planned =
        ops::backfill::requests(&runner, &settings, &plan, args.retry_unreachable, &lists).await?;
    if plan.dry_run {
        let limit = settings.alphavantage_daily_limit;
        let mut report = ops::backfill::dry_run(&runner, &planned, patterns, limit).await;
        report.shard = shard.map(|s| s.to_string());
        output::print_dry_run(&report, out.format);
        return Ok(exit::OK);
    }
    let mut results = planned.failed;
    results.extend(Arc::new(runner).run_all(planned.requests).await);
    Ok(finish(&settings, &run, &results, out.format, pipes, started).await)
}

async fn topup(
    input: SettingsInput,
    args: TopupArgs,
    clock: Clock,
    out: Out,
    pipes: Option<&pipes::Session>,
) -> Result<i32> {
    let started = Instant::now();
    let shard = Shard::resolve(args.shard.as_deref(), &input.env)?;
    let settings = settings(input, Access::Writes).await?;
    let mut selection = selection(&args.selection)?;
    selection.shard = shard;
    let run = run_context(clock, out.json_logs)?;
    let _lock = run_lock(&settings, shard, &run.shutdown)?;
    let topup = ops::topup::plan(&settings, &selection, &run).await?;
    let results = ops::topup::run(topup).await;
    Ok(finish(&settings, &run, &results, out.format, pipes, started).await)
}

/// The lock of the state dir, or of one shard's run in it; losing it stops `shutdown`'s run.
fn run_lock(
    settings: &Settings,
    shard: Option<Shard>,
    shutdown: &Shutdown,
) -> Result<RunLock, LockError> {
    let (state, lease, on_lost) = (
        &settings.state_dir,
        settings.state_lease,
        shutdown.stopper(),
    );
    match shard {
        Some(shard) => RunLock::acquire_shard(state, &shard, lease, &on_lost),
        None => RunLock::acquire(state, lease, &on_lost),
    }
}

fn selection(args: &SelectionArgs) -> Result<Selection, PlanError> {
    Selection::parse(
        args.provider.as_deref(),
        args.pairs.as_deref(),
        args.timeframes.as_deref(),
    )
}

async fn status(input: SettingsInput, args: StatusArgs, clock: Clock, out: Out) -> Result<i32> {
    let settings = settings(input, Access::Reads).await?;
    let selection = selection(&args.selection)?;
    let stale_after = optional(&args.fail_if_stale, "--fail-if-stale", parse_duration)?;
    let report =
        ops::status::collect(&settings, clock(), |k| selection.accepts(k), stale_after).await?;
    selection.check_patterns(report.series.iter().map(|s| s.asset_pair.as_str()))?;
    output::print_status(&report, out.json(args.json));
    Ok(error::finished(!report.unhealthy(), None))
}

async fn refetch(input: SettingsInput, args: RefetchArgs, clock: Clock, out: Out) -> Result<i32> {
    let settings = settings(input, Access::Writes).await?;
    let mut plan = backfill_plan(&args.range, false, &clock)?;
    let (lists, _) = ops::universe::resolve(&settings, &mut plan, clock.clone()).await?;
    let run = run_context(clock, out.json_logs)?;
    let runner = run.runner(&settings, plan.provider).await?;
    let _lock = run_lock(&settings, None, &run.shutdown)?;
    let planned = ops::backfill::requests(&runner, &settings, &plan, false, &lists).await?;
    let report = ops::refetch::refetch_all(&runner, &planned).await;
    output::print_refetch(&report, out.format);
    Ok(error::finished(
        report.succeeded(),
        run.shutdown.requested(),
    ))
}

async fn gaps(input: SettingsInput, args: GapsArgs, out: Out) -> Result<i32> {
    let settings = settings(input, Access::Reads).await?;
    let selection = selection(&args.selection)?;
    let start = optional(&args.start, "--start", parse_instant)?;
    let end = optional(&args.end, "--end", parse_instant)?;
    let report = ops::gaps::gaps(&settings, &selection, (start, end)).await;
    selection.check_patterns(report.series.iter().map(|s| s.asset_pair.as_str()))?;
    for p in &report.problems {
        eprintln!("error: {p}");
    }
    let failed = !report.problems.is_empty();
    let report = report.series;
    let any = report.iter().any(|s| !s.gaps.is_empty());
    output::print_gaps(&report, out.json(args.json));
    Ok(error::finished(!(failed || args.fail_on_gaps && any), None))
}

async fn maintain(input: SettingsInput, args: MaintainArgs, out: Out) -> Result<i32> {
    let settings = settings(input, Access::Reads).await?;
    let timeframes = match &args.timeframes {
        None => Timeframe::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|t| t.trim().parse::<Timeframe>().map_err(PlanError))
            .collect::<Result<_, _>>()?,
    };
    let retention = parse_duration(&args.vacuum_retention, "--vacuum-retention")?;
    // No signal handling (a signal ends it between two atomic commits); only a lost lease stops it.
    let lease = Shutdown::never();
    let _lock = run_lock(&settings, None, &lease)?;
    let sink = DeltaSink::new(&settings.lake, settings.partition_periods.clone());
    let options = ops::maintain::Options {
        retention,
        force: args.force,
        repair: args.repair,
    };
    let report = ops::maintain::maintain(&sink, &timeframes, options, &lease).await?;
    output::print_maintain(&report, out.format);
    Ok(exit::OK)
}

async fn instruments(
    input: SettingsInput,
    args: InstrumentsArgs,
    clock: Clock,
    out: Out,
) -> Result<i32> {
    let settings = settings(input, Access::Reads).await?;
    let provider = parse_provider(&args.provider)?;
    let current = ops::universe::current(&settings, provider, clock, args.refresh).await?;
    let report = ops::instruments::report(&settings, &current, args.all).await;
    output::print_instruments(&report, out.json(args.json));
    Ok(exit::OK)
}

async fn import(input: SettingsInput, args: ImportArgs, out: Out) -> Result<i32> {
    let settings = settings(input, Access::Writes).await?;
    let request = super::import::request(&args).await?;
    let shutdown = Shutdown::on_signals()
        .map_err(|e| Error::Failed(format!("could not listen for SIGINT/SIGTERM: {e}")))?;
    let progress = ImportProgress::for_stderr(out.json_logs, request.files.len() as u64);
    let ingestion_id = new_ingestion_id();
    let report = ops::import::import(&settings, &request, &ingestion_id, &progress, || {
        shutdown.requested().is_some()
    })
    .await?;
    output::print_import(&report, out.format);
    Ok(error::finished(report.succeeded(), shutdown.requested()))
}

async fn druid_spec(input: SettingsInput, args: DruidSpecArgs) -> Result<i32> {
    let settings = settings(input, Access::Reads).await?;
    let sink = DeltaSink::new(&settings.lake, settings.partition_periods.clone());
    let explicit = |tf| settings.partition_periods.contains_key(&tf);
    let specs = super::import::druid_specs(&args, &settings.lake, &sink, explicit).await?;
    output::print_druid_specs(&specs);
    Ok(exit::OK)
}

async fn demo(flags: HashMap<String, String>, clock: Clock, out: Out) -> Result<i32> {
    let settings = Settings::resolve(ops::demo::settings_input(flags))?;
    let report = ops::demo::demo(&settings, clock).await?;
    output::print_demo(&report, out.format);
    Ok(error::finished(report.summary.succeeded(), None))
}

async fn dlq(input: SettingsInput, command: DlqCommand, clock: Clock, out: Out) -> Result<i32> {
    let settings = Settings::resolve(input)?;
    let queue = DeadLetterQueue::new(&settings.state_dir);
    match command {
        DlqCommand::List { json } => {
            let listing = queue
                .list()
                .map_err(|e| Error::Failed(format!("could not read {}: {e}", queue.dir())))?;
            output::print_dlq_list(&listing, out.json(json));
            return Ok(error::finished(listing.unreadable.is_empty(), None));
        }
        DlqCommand::Show { id } => {
            let text = queue.show(&id).ok().flatten().ok_or_else(|| {
                PlanError(format!(
                    "no DLQ file with id '{id}' in {}; `candlelake dlq list` shows the ids",
                    queue.dir()
                ))
            })?;
            print!("{}", String::from_utf8_lossy(&text));
        }
        DlqCommand::Replay { ids } => {
            settings.check_locations().await?;
            let lease = Shutdown::never();
            let _lock = run_lock(&settings, None, &lease)?;
            let sink = DeltaSink::new(&settings.lake, settings.partition_periods.clone());
            let facts = Facts::new(&settings.alphavantage_classes);
            let id = new_ingestion_id();
            let report =
                ops::replay::replay(&queue, &sink, &facts, &ids, &id, clock(), &lease).await?;
            output::print_replay(&report, out.format);
            return Ok(error::finished(report.unreadable.is_empty(), None));
        }
    }
    Ok(exit::OK)
}
