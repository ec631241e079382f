//! Printing results: the run summary, the dry-run plan and the status report, as text or JSON
//! on stdout (logs go to stderr).

use serde::Serialize;

use super::args::OutputFormat;
use crate::ops::backfill::DryRun;
use crate::ops::demo::DemoReport;
use crate::ops::gaps::SeriesGaps;
use crate::ops::import::ImportReport;
use crate::ops::instruments::{InstrumentLine, InstrumentsReport};
use crate::ops::maintain::MaintainReport;
use crate::ops::refetch::{RefetchOutcome, RefetchRun};
use crate::ops::replay::ReplayReport;
use crate::ops::status::{StatusReport, WatermarkState};
use crate::report::summary::RunSummary;
use crate::state::dlq::Listing;

pub fn print_summary(summary: &RunSummary, format: OutputFormat) {
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string(summary).expect("summary serialises")
        ),
        OutputFormat::Text => print!("{}", summary.to_text()),
    }
}

pub fn print_dry_run(plan: &DryRun, format: OutputFormat) {
    if format == OutputFormat::Json {
        println!("{}", serde_json::to_string(plan).expect("plan serialises"));
        return;
    }
    println!("dry run: no candle request made");
    if let Some(shard) = &plan.shard {
        println!("  shard {shard}: {} series", plan.series.len());
    }
    for p in &plan.patterns {
        println!("  --pairs '{}' names {}", p.pattern, p.pairs.join(", "));
    }
    for s in &plan.series {
        println!("  {} {} {}", s.provider, s.asset_pair, s.timeframe);
        if let Some(e) = &s.error {
            println!("    error: {e}");
        } else if s.ranges.is_empty() {
            println!("    nothing to fetch: coverage already holds the range");
        }
        for r in &s.ranges {
            println!(
                "    {} {} .. {}  {} requests",
                r.direction, r.from, r.to, r.requests
            );
        }
    }
    if let Some(days) = plan.quota_days {
        println!(
            "  {} requests: {days} days of the daily quota",
            plan.requests
        );
    }
}

pub fn print_demo(report: &DemoReport, format: OutputFormat) {
    print_summary(&report.summary, format);
    if format == OutputFormat::Json {
        return;
    }
    println!("\nwhat the tables hold now (offline demo, is_mock = true):");
    for t in &report.tables {
        println!("  {}: {} rows", t.path, t.rows);
        if let Some([time, open, high, low, close, volume]) = &t.last_btc_usd {
            println!(
                "    last BTC-USD candle {time}: open {open} high {high} low {low} close {close} volume {volume}"
            );
        }
    }
    println!(
        "\nthe bundled Coinbase product list ({} online):",
        report.instruments.instruments.len()
    );
    for i in &report.instruments.instruments {
        print_instrument(i);
    }
    println!("\nlook at what it wrote:");
    for command in &report.inspect {
        println!("  {command}");
    }
    println!(
        "\nrun it again: coverage already holds the range, so nothing is fetched or written twice."
    );
}

pub fn print_status(report: &StatusReport, format: OutputFormat) {
    if format == OutputFormat::Json {
        println!(
            "{}",
            serde_json::to_string(report).expect("status serialises")
        );
        return;
    }
    for p in &report.problems {
        eprintln!("error: {p}");
    }
    if report.series.is_empty() {
        println!("no series yet: run `candlelake backfill` first");
    }
    for s in &report.series {
        println!(
            "{:<12} {:<10} {:<4} coverage {} .. {}  lag {:>8}{}  rows {:>9}  dlq {:>5}  last run {} ({})",
            s.provider,
            s.asset_pair,
            s.timeframe,
            s.coverage.from.as_deref().unwrap_or("-"),
            s.coverage.to.as_deref().unwrap_or("-"),
            s.lag_seconds.map_or("-".to_string(), human_duration),
            if s.stale == Some(true) { " STALE" } else { "" },
            s.rows,
            s.dlq_records,
            s.last_run.as_deref().unwrap_or("-"),
            s.last_status.as_deref().unwrap_or("-"),
        );
        if s.watermark != WatermarkState::Ok {
            let said = serde_json::to_value(s.watermark).expect("a state serialises");
            println!(
                "      watermark file {}: the next run rewrites it from the table",
                said.as_str().unwrap_or_default()
            );
        }
        if let Some(listing) = s.listing {
            let since = s
                .delisted
                .as_deref()
                .map(|d| format!(" since {d}"))
                .unwrap_or_default();
            let topup = if listing == "delisted" {
                ": topup asks nothing more for it"
            } else {
                ""
            };
            println!("      {listing}{since} at the provider{topup}");
        }
        for u in &s.unreachable {
            let why = u.reason.map(|r| format!(" ({r})")).unwrap_or_default();
            println!("      unreachable {} .. {}{why}", u.from, u.to);
        }
        if let Some(e) = &s.error {
            println!("      error: {e}");
        }
    }
}

/// `3d 4h`, `2h 5m`, `45m`, `0s`.
fn human_duration(seconds: i64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

pub fn print_dlq_list(listing: &Listing, format: OutputFormat) {
    for u in &listing.unreadable {
        eprintln!("error: {u}");
    }
    if format == OutputFormat::Json {
        let list: Vec<serde_json::Value> = listing
            .files
            .iter()
            .map(|(id, f)| {
                serde_json::json!({
                    "id": id,
                    "timestamp": f.timestamp,
                    "provider": f.context.provider,
                    "asset_pair": f.context.asset_pair,
                    "timeframe": f.context.timeframe,
                    "records": f.records.len(),
                })
            })
            .chain(
                listing
                    .unreadable
                    .iter()
                    .map(|u| serde_json::json!({"id": u.id, "unreadable": u.reason})),
            )
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return;
    }
    if listing.files.is_empty() && listing.unreadable.is_empty() {
        println!("the dead-letter queue is empty");
    }
    for (id, f) in &listing.files {
        let mut reasons: Vec<&str> = f
            .records
            .iter()
            .flat_map(|r| r.reasons.iter().map(String::as_str))
            .collect();
        reasons.sort_unstable();
        reasons.dedup();
        println!("{id}  {} records  {}", f.records.len(), reasons.join(","));
    }
    for u in &listing.unreadable {
        println!("{}  UNREADABLE  {}", u.id, u.reason);
    }
}

pub fn print_gaps(report: &[SeriesGaps], format: OutputFormat) {
    if format == OutputFormat::Json {
        println!("{}", serde_json::json!({ "series": report }));
        return;
    }
    for s in report {
        println!(
            "{} {} {} ({} calendar) {} .. {}: {} of {} expected candles held, {} gaps",
            s.provider,
            s.asset_pair,
            s.timeframe,
            s.calendar,
            s.from,
            s.to,
            s.held,
            s.expected,
            s.gaps.len()
        );
        for g in &s.gaps {
            println!(
                "  {:<13} {} .. {}  {} candles",
                serde_json::to_value(g.kind)
                    .expect("kind")
                    .as_str()
                    .unwrap_or(""),
                g.from,
                g.to,
                g.buckets
            );
        }
    }
}

/// JSON on stdout, or the text `render` makes of it.
fn print_report<T: Serialize>(report: &T, format: OutputFormat, render: impl FnOnce() -> String) {
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string(report).expect("a report serialises")
        ),
        OutputFormat::Text => print!("{}", render()),
    }
}

pub fn print_maintain(report: &MaintainReport, format: OutputFormat) {
    print_report(report, format, || {
        if report.tables.is_empty() {
            return "maintain: nothing to compact or vacuum\n".to_string();
        }
        report
            .tables
            .iter()
            .map(|t| {
                format!(
                    "{}: {} files -> {}, {} rows rewritten, {} files vacuumed, {} lost files removed\n",
                    t.table,
                    t.files_before,
                    t.files_after,
                    t.rows_rewritten,
                    t.files_vacuumed,
                    t.files_repaired.len()
                )
            })
            .collect()
    });
}

pub fn print_refetch(run: &RefetchRun, format: OutputFormat) {
    print_report(run, format, || {
        let mut out = format!("refetch {}\n", run.ingestion_id);
        for r in &run.results {
            out += &match r {
                RefetchOutcome::Done(r) => format!(
                    "  {} {} {}: {} fetched, {} changed, {} added back, {} rejected{}\n",
                    r.provider,
                    r.asset_pair,
                    r.timeframe,
                    r.fetched,
                    r.changed,
                    r.added,
                    r.rejected,
                    r.revision
                        .as_deref()
                        .map(|id| format!(", old values in revisions/{id}.json"))
                        .unwrap_or_default()
                ),
                RefetchOutcome::Failed { series, error } => {
                    format!("  {series}: error: {error}\n")
                }
            };
        }
        out
    });
}

pub fn print_replay(report: &ReplayReport, format: OutputFormat) {
    print_report(report, format, || {
        format!(
            "dlq replay: {} files, {} records: {} written, {} already in the table, {} still invalid, {} replayed before, {} outside coverage, {} aggregate members\n",
            report.files,
            report.records,
            report.written,
            report.already_in_table,
            report.still_invalid,
            report.already_replayed,
            report.outside_coverage,
            report.aggregated_members
        )
    });
}

pub fn print_instruments(report: &InstrumentsReport, format: OutputFormat) {
    if format == OutputFormat::Json {
        println!(
            "{}",
            serde_json::to_string(report).expect("report serialises")
        );
        return;
    }
    let source = if report.cached {
        "cached in the state dir"
    } else {
        "just asked"
    };
    println!(
        "{}: {} instruments (list of {}, {source})",
        report.provider,
        report.instruments.len(),
        report.fetched_at
    );
    for i in &report.instruments {
        print_instrument(i);
    }
}

/// One instrument: pair, status, kind, dates where published, name; then each series held.
pub fn print_instrument(i: &InstrumentLine) {
    let mut line = format!("  {:<14} {:<9} {:<18}", i.asset_pair, i.status, i.kind);
    if let Some(d) = &i.listed {
        line.push_str(&format!(" listed {d}"));
    }
    if let Some(d) = &i.delisted {
        line.push_str(&format!(" delisted {d}"));
    }
    if let Some(n) = &i.name {
        line.push_str(&format!("  {n}"));
    }
    println!("{}", line.trim_end());
    for s in &i.series {
        println!(
            "      held {:<3} {} .. {}",
            s.timeframe,
            s.coverage.from.as_deref().unwrap_or("-"),
            s.coverage.to.as_deref().unwrap_or("-")
        );
    }
}

pub fn print_import(report: &ImportReport, format: OutputFormat) {
    print_report(report, format, || {
        let mut text = String::new();
        for f in &report.files {
            text.push_str(&format!(
                "{}: {}, {} rows, {} rejects, {} duplicates",
                f.path,
                f.status.as_str(),
                f.rows,
                f.rejects,
                f.duplicates
            ));
            if let Some(note) = f.note.as_ref().or(f.error.as_ref()) {
                text.push_str(&format!(" ({note})"));
            }
            text.push('\n');
        }
        text.push_str(&format!(
            "import {}: {} rows, {} rejects\n",
            report.status, report.total_rows, report.total_rejects
        ));
        text
    });
}

/// Druid specs are JSON whatever `--output` says.
pub fn print_druid_specs(specs: &[serde_json::Value]) {
    println!(
        "{}",
        serde_json::to_string_pretty(specs).expect("a spec serialises")
    );
}
