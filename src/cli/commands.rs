//! What each command does, from parsed arguments to an exit code.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use super::args::{
    BackfillArgs, Cli, Command, DlqCommand, GapsArgs, MaintainArgs, OutputFormat, RefetchArgs,
    SelectionArgs, StatusArgs, TopupArgs,
};
use super::exit;
use super::output;
use crate::connect::connect;
use crate::demo;
use crate::enrich::SeriesKey;
use crate::metrics;
use crate::plan::{
    BackfillInput, BackfillPlan, PlanError, Settings, SettingsInput, canonical_pair,
    parse_duration, parse_instant,
};
use crate::progress::Progress;
use crate::providers::{Clock, ProviderId, Timeframe, system_clock};
use crate::run;
use crate::schedule::Shutdown;
use crate::sink::DeltaSink;
use crate::state::dlq::DeadLetterQueue;
use crate::state::lock::{LockError, RunLock};
use crate::state::watermark::WatermarkStore;
use crate::status;
use crate::summary::{RunSummary, SeriesResult};

/// Why a command stopped before doing its work.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Usage(#[from] PlanError),
    #[error(transparent)]
    Locked(#[from] LockError),
}

impl CommandError {
    fn exit_code(&self) -> i32 {
        match self {
            CommandError::Usage(_) => exit::USAGE,
            CommandError::Locked(LockError::Held { .. }) => exit::LOCKED,
            CommandError::Locked(LockError::Io { .. }) => exit::USAGE,
        }
    }
}

type Outcome = Result<i32, CommandError>;

pub async fn execute(cli: Cli) -> i32 {
    let clock = system_clock();
    let format = cli.global.output;
    let flags = cli.global.setting_flags();
    let input = SettingsInput::from_process(flags.clone(), cli.global.config.clone());
    let result = match cli.command {
        Command::Backfill(args) => backfill(input, args, clock, format).await,
        Command::Topup(args) => topup(input, args, clock, format).await,
        Command::Status(args) => status_command(input, args, clock).await,
        Command::Demo => demo::run_demo(flags, clock, format).await,
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

fn signals() -> Result<Shutdown, PlanError> {
    Shutdown::on_signals()
        .map_err(|e| PlanError(format!("could not listen for SIGINT/SIGTERM: {e}")))
}

/// Prints the summary and publishes the run's metrics; the exit code is 130/143 after a
/// signal, else the summary's.
async fn finish(run: FinishedRun<'_>, results: &[SeriesResult], format: OutputFormat) -> i32 {
    let summary = RunSummary::new(run.ingestion_id, results);
    output::print_summary(&summary, format);
    publish_metrics(run.settings, &summary, results, run.started).await;
    match run.shutdown.requested() {
        Some(stop) => stop.exit_code(),
        None => summary.exit_code(),
    }
}

struct FinishedRun<'a> {
    settings: &'a Settings,
    ingestion_id: &'a str,
    shutdown: &'a Shutdown,
    started: Instant,
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
    let run = metrics::RunMetrics {
        results,
        status: summary.status,
        duration: started.elapsed(),
        finished_at: Utc::now(),
    };
    let text = metrics::render(&run, &WatermarkStore::new(&settings.state_dir));
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

async fn backfill(
    input: SettingsInput,
    args: BackfillArgs,
    clock: Clock,
    format: OutputFormat,
) -> Outcome {
    let started = Instant::now();
    let settings = Settings::resolve(input)?;
    settings.check_locations().await?;
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
    let connection = connect(&settings, plan.provider, clock.clone())?;
    let _lock = if plan.dry_run {
        None
    } else {
        Some(RunLock::acquire(&settings.state_dir)?)
    };
    let shutdown = signals()?;
    let ingestion_id = run::new_ingestion_id();
    let mut engine = run::engine(
        &settings,
        connection,
        clock,
        false,
        shutdown.clone(),
        &ingestion_id,
    );
    engine.progress = Arc::new(Progress::for_stderr());
    let engine = Arc::new(engine);
    let periods =
        run::partition_periods(&engine, &settings, plan.timeframes.iter().copied()).await?;
    let mut requests = Vec::new();
    for pair in &plan.pairs {
        for tf in &plan.timeframes {
            let series = SeriesKey {
                provider: plan.provider,
                pair: pair.clone(),
                timeframe: *tf,
            };
            requests.push(run::series_request(
                &engine,
                series,
                plan.start,
                plan.end,
                periods[tf],
                args.retry_unreachable,
            )?);
        }
    }
    if plan.dry_run {
        output::print_dry_run(&run::dry_run(&engine, &requests, &settings).await, format);
        return Ok(exit::OK);
    }
    let results = run::run(&engine, requests).await;
    let run = FinishedRun {
        settings: &settings,
        ingestion_id: &ingestion_id,
        shutdown: &shutdown,
        started,
    };
    Ok(finish(run, &results, format).await)
}

async fn topup(
    input: SettingsInput,
    args: TopupArgs,
    clock: Clock,
    format: OutputFormat,
) -> Outcome {
    let started = Instant::now();
    let settings = Settings::resolve(input)?;
    settings.check_locations().await?;
    let selection = Selection::parse(&args.selection)?;
    let marks: Vec<SeriesKey> = WatermarkStore::new(&settings.state_dir)
        .keys()
        .into_iter()
        .filter(|k| selection.accepts(k))
        .collect();
    let mut results = Vec::new();
    if let Some(p) = selection
        .provider
        .filter(|_| !selection.pairs.is_empty() && !selection.timeframes.is_empty())
    {
        for pair in &selection.pairs {
            for tf in &selection.timeframes {
                let key = SeriesKey {
                    provider: p,
                    pair: pair.clone(),
                    timeframe: *tf,
                };
                if !marks.contains(&key) {
                    results.push(run::failed(key, "no watermark; run backfill first".into()));
                }
            }
        }
    }
    // One engine per provider, all checked (credentials, tables) before the first request.
    let mut providers: Vec<ProviderId> = marks.iter().map(|k| k.provider).collect();
    providers.sort();
    providers.dedup();
    let _lock = RunLock::acquire(&settings.state_dir)?;
    let shutdown = signals()?;
    let ingestion_id = run::new_ingestion_id();
    let now = clock();
    let progress = Arc::new(Progress::for_stderr());
    let mut jobs = Vec::new();
    for p in providers {
        let connection = connect(&settings, p, clock.clone())?;
        let mut engine = run::engine(
            &settings,
            connection,
            clock.clone(),
            false,
            shutdown.clone(),
            &ingestion_id,
        );
        engine.progress = progress.clone();
        let mine: Vec<&SeriesKey> = marks.iter().filter(|k| k.provider == p).collect();
        let periods =
            run::partition_periods(&engine, &settings, mine.iter().map(|k| k.timeframe)).await?;
        let mut requests = Vec::new();
        for series in mine {
            // The table's coverage, with the watermark file repaired from it.
            match engine.held_coverage(series).await {
                Ok((Some(held), _)) => {
                    let period = periods[&series.timeframe];
                    requests.push(run::series_request(
                        &engine,
                        series.clone(),
                        held.to,
                        now,
                        period,
                        false,
                    )?);
                }
                Ok((None, _)) => results.push(run::failed(
                    series.clone(),
                    "no coverage in the table; run backfill first".into(),
                )),
                Err(e) => results.push(run::failed(series.clone(), e)),
            }
        }
        jobs.push((Arc::new(engine), requests));
    }
    let runs = jobs
        .iter()
        .map(|(engine, requests)| run::run(engine, requests.clone()));
    results.extend(futures::future::join_all(runs).await.into_iter().flatten());
    let run = FinishedRun {
        settings: &settings,
        ingestion_id: &ingestion_id,
        shutdown: &shutdown,
        started,
    };
    Ok(finish(run, &results, format).await)
}

async fn status_command(input: SettingsInput, args: StatusArgs, clock: Clock) -> Outcome {
    let settings = Settings::resolve(input)?;
    settings.check_object_store().await?;
    let selection = Selection::parse(&args.selection)?;
    let stale_after = args
        .fail_if_stale
        .as_deref()
        .map(|d| parse_duration(d, "--fail-if-stale"))
        .transpose()?;
    let report = status::collect(&settings, clock(), |k| selection.accepts(k), stale_after)
        .await
        .map_err(PlanError)?;
    output::print_status(&report, args.json);
    Ok(if report.any_stale() {
        exit::SERIES_FAILED
    } else {
        exit::OK
    })
}

/// The series a command is limited to; an empty part selects everything.
struct Selection {
    provider: Option<ProviderId>,
    pairs: Vec<String>,
    timeframes: Vec<Timeframe>,
}

impl Selection {
    fn parse(args: &SelectionArgs) -> Result<Self, PlanError> {
        let (provider, pairs, timeframes) = (&args.provider, &args.pairs, &args.timeframes);
        let provider = match provider.as_deref() {
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
        let pairs = list(pairs)
            .iter()
            .map(|p| canonical_pair(p, provider.unwrap_or(ProviderId::AlphaVantage)))
            .collect::<Result<Vec<_>, _>>()?;
        let timeframes = list(timeframes)
            .iter()
            .map(|t| t.parse::<Timeframe>().map_err(PlanError))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Selection {
            provider,
            pairs,
            timeframes,
        })
    }

    fn accepts(&self, k: &SeriesKey) -> bool {
        self.provider.is_none_or(|p| p == k.provider)
            && (self.pairs.is_empty() || self.pairs.contains(&k.pair))
            && (self.timeframes.is_empty() || self.timeframes.contains(&k.timeframe))
    }
}

async fn refetch(input: SettingsInput, args: RefetchArgs, clock: Clock) -> Outcome {
    let settings = Settings::resolve(input)?;
    settings.check_locations().await?;
    let plan = BackfillPlan::resolve(
        &BackfillInput {
            provider: args.provider,
            pairs: args.pairs,
            timeframes: args.timeframes,
            start: args.start,
            end: args.end,
            dry_run: false,
        },
        clock(),
    )?;
    let connection = connect(&settings, plan.provider, clock.clone())?;
    let _lock = RunLock::acquire(&settings.state_dir)?;
    let ingestion_id = run::new_ingestion_id();
    let engine = run::engine(
        &settings,
        connection,
        clock,
        false,
        signals()?,
        &ingestion_id,
    );
    let periods =
        run::partition_periods(&engine, &settings, plan.timeframes.iter().copied()).await?;
    let mut reports = Vec::new();
    let mut failed = false;
    for pair in &plan.pairs {
        for tf in &plan.timeframes {
            if engine.shutdown.requested().is_some() {
                break;
            }
            let series = SeriesKey {
                provider: plan.provider,
                pair: pair.clone(),
                timeframe: *tf,
            };
            let request = run::series_request(
                &engine,
                series.clone(),
                plan.start,
                plan.end,
                periods[tf],
                false,
            )?;
            match crate::refetch::refetch(&engine, &request).await {
                Ok(report) => {
                    reports.push(serde_json::to_value(&report).expect("report serialises"))
                }
                Err(e) => {
                    failed = true;
                    reports.push(serde_json::json!({"series": series.to_string(), "error": e}));
                }
            }
        }
    }
    println!(
        "{}",
        serde_json::json!({"ingestion_id": ingestion_id, "results": reports})
    );
    Ok(match engine.shutdown.requested() {
        Some(stop) => stop.exit_code(),
        None if failed => exit::SERIES_FAILED,
        None => exit::OK,
    })
}

async fn gaps(input: SettingsInput, args: GapsArgs) -> Outcome {
    let settings = Settings::resolve(input)?;
    settings.check_object_store().await?;
    let selection = Selection::parse(&args.selection)?;
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
    let classes = crate::connect::class_overrides(&settings)?;
    let sink = DeltaSink::new(&settings.lake, settings.partition_periods.clone());
    let dlq = DeadLetterQueue::new(&settings.state_dir);
    let mut report = Vec::new();
    for mark in WatermarkStore::new(&settings.state_dir).all() {
        let Some(series) = mark.series().filter(|k| selection.accepts(k)) else {
            continue;
        };
        let calendar = crate::gaps::calendar_of(&series, &classes);
        let found = crate::gaps::series_gaps(&sink, &dlq, &mark, &series, calendar, (start, end))
            .await
            .map_err(PlanError)?;
        report.push(found);
    }
    let any = report.iter().any(|s| !s.gaps.is_empty());
    output::print_gaps(&report, args.json);
    Ok(if args.fail_on_gaps && any {
        exit::SERIES_FAILED
    } else {
        exit::OK
    })
}

async fn maintain(input: SettingsInput, args: MaintainArgs) -> Outcome {
    let settings = Settings::resolve(input)?;
    settings.check_object_store().await?;
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
    let mut reports = Vec::new();
    for tf in timeframes {
        let compacted = sink
            .compact(tf)
            .await
            .map_err(|e| PlanError(e.to_string()))?;
        let vacuumed = sink
            .vacuum_and_checkpoint(tf, retention)
            .await
            .map_err(|e| PlanError(e.to_string()))?;
        if compacted.files_before > 0 || !vacuumed.is_empty() {
            reports.push(serde_json::json!({
                "table": crate::sink::table_name(tf),
                "files_before": compacted.files_before,
                "files_after": compacted.files_after,
                "rows_rewritten": compacted.rows,
                "files_vacuumed": vacuumed.len(),
            }));
        }
    }
    println!("{}", serde_json::json!({"tables": reports}));
    Ok(exit::OK)
}

async fn dlq(input: SettingsInput, command: DlqCommand, clock: Clock) -> Outcome {
    let settings = Settings::resolve(input)?;
    let queue = DeadLetterQueue::new(&settings.state_dir);
    match command {
        DlqCommand::List { json } => {
            let files = queue
                .files()
                .map_err(|e| PlanError(format!("cannot read {}: {e}", queue.dir().display())))?;
            output::print_dlq_list(&files, json);
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
            settings.check_locations().await?;
            let _lock = RunLock::acquire(&settings.state_dir)?;
            let sink = DeltaSink::new(&settings.lake, settings.partition_periods.clone());
            let ingestion_id = run::new_ingestion_id();
            let parsers = crate::replay::Parsers {
                alphavantage_classes: crate::connect::class_overrides(&settings)?,
            };
            let report =
                crate::replay::replay(&queue, &sink, &parsers, &ids, &ingestion_id, clock())
                    .await
                    .map_err(|e| PlanError(format!("replay failed: {e}")))?;
            println!(
                "{}",
                serde_json::to_string(&report).expect("report serialises")
            );
        }
    }
    Ok(exit::OK)
}
