//! Run and series metrics in the Prometheus text format: written as a textfile for
//! node_exporter's textfile collector, and optionally pushed to a Pushgateway. Every metric
//! describes the last run (gauges), so a scrape between runs sees the latest figures.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use std::collections::HashMap;

use crate::model::SeriesKey;
use crate::report::summary::{RunStatus, SeriesResult};
use crate::state::atomic::write_atomic;

/// One run's figures.
pub struct RunMetrics<'a> {
    pub results: &'a [SeriesResult],
    pub status: RunStatus,
    /// When each series last ended a run in success (from its watermark).
    pub last_success: HashMap<SeriesKey, DateTime<Utc>>,
    pub duration: Duration,
    pub finished_at: DateTime<Utc>,
}

/// Seconds with millisecond precision, from integers.
fn seconds(d: Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition of a run. Pure.
pub fn render(run: &RunMetrics<'_>) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(
            out,
            "# HELP candlelake_{name} {help}\n# TYPE candlelake_{name} gauge"
        );
        for (labels, value) in samples {
            let _ = writeln!(out, "candlelake_{name}{labels} {value}");
        }
    };
    let ok = u64::from(run.status == RunStatus::Success).to_string();
    gauge(
        "run_success",
        "1 when every series of the last run succeeded.",
        &[(String::new(), ok)],
    );
    gauge(
        "run_duration_seconds",
        "Wall time of the last run.",
        &[(String::new(), seconds(run.duration))],
    );
    gauge(
        "run_finished_timestamp_seconds",
        "When the last run ended.",
        &[(String::new(), run.finished_at.timestamp().to_string())],
    );

    let labels = |r: &SeriesResult| {
        format!(
            "{{provider=\"{}\",asset_pair=\"{}\",timeframe=\"{}\"}}",
            r.series.provider.as_str(),
            escape(&r.series.pair),
            r.series.timeframe
        )
    };
    let per_series = |f: &dyn Fn(&SeriesResult) -> Option<String>| -> Vec<(String, String)> {
        run.results
            .iter()
            .filter_map(|r| f(r).map(|v| (labels(r), v)))
            .collect()
    };
    type Sample = dyn Fn(&SeriesResult) -> Option<String>;
    let series_gauges: [(&str, &str, &Sample); 10] = [
        (
            "series_candles_fetched",
            "Candles received in the last run.",
            &|r| Some(r.counters.fetched.to_string()),
        ),
        (
            "series_candles_written",
            "Rows written to the table in the last run.",
            &|r| Some(r.counters.rows.to_string()),
        ),
        (
            "series_candles_dead_lettered",
            "Candles sent to the dead-letter queue in the last run.",
            &|r| Some(r.counters.dead_lettered.to_string()),
        ),
        (
            "series_candles_duplicates",
            "Duplicate candles dropped in the last run.",
            &|r| Some(r.counters.duplicates.to_string()),
        ),
        (
            "series_requests",
            "HTTP requests sent in the last run, retries included.",
            &|r| Some(r.counters.requests.to_string()),
        ),
        ("series_retries", "Retries in the last run.", &|r| {
            Some(r.counters.retries.to_string())
        }),
        (
            "series_rate_limited",
            "Rate-limit answers (429 or throttle notes) in the last run.",
            &|r| Some(r.counters.rate_limited.to_string()),
        ),
        (
            "series_duration_seconds",
            "Wall time of the series in the last run.",
            &|r| Some(seconds(r.duration)),
        ),
        (
            "series_coverage_end_timestamp_seconds",
            "End of the series' coverage.",
            &|r| r.coverage.map(|c| c.end.timestamp().to_string()),
        ),
        (
            "series_success",
            "1 when the series' last run succeeded.",
            &|r| Some(u64::from(r.status.succeeded()).to_string()),
        ),
    ];
    for (name, help, f) in series_gauges {
        gauge(name, help, &per_series(f));
    }
    let last_success = |r: &SeriesResult| {
        run.last_success
            .get(&r.series)
            .map(|t| t.timestamp().to_string())
    };
    gauge(
        "series_last_success_timestamp_seconds",
        "When the series last ended a run in success.",
        &per_series(&last_success),
    );
    out
}

/// Writes the textfile atomically (the collector never reads half a file).
pub fn write_textfile(path: &Path, text: &str) -> std::io::Result<()> {
    write_atomic(path, text.as_bytes(), "mid_metrics_write")
}

/// Pushes the run's metrics to a Pushgateway, replacing the job's previous group.
pub async fn push(base_url: &str, text: &str, timeout: Duration) -> Result<(), String> {
    let url = format!("{}/metrics/job/candlelake", base_url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| e.without_url().to_string())?;
    let response = client
        .put(&url)
        .header(reqwest::header::CONTENT_TYPE, "text/plain; version=0.0.4")
        .body(text.to_string())
        .send()
        .await
        .map_err(|e| format!("could not push metrics to {base_url}: {}", e.without_url()))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "the Pushgateway at {base_url} refused the metrics ({})",
            response.status()
        ))
    }
}
