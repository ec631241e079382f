//! The run summary: per-series results and the run's status, as the contract's JSON and as text.

use serde::Serialize;

use crate::model::{SeriesKey, TimeRange, rfc3339};
use crate::series::{Counters, SeriesRun};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesStatus {
    Success,
    NoData,
    Partial,
    ValidationFailed,
    Error,
}

impl SeriesStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SeriesStatus::Success => "success",
            SeriesStatus::NoData => "no_data",
            SeriesStatus::Partial => "partial",
            SeriesStatus::ValidationFailed => "validation_failed",
            SeriesStatus::Error => "error",
        }
    }

    pub fn succeeded(self) -> bool {
        matches!(self, SeriesStatus::Success | SeriesStatus::NoData)
    }
}

/// How one series' run ended.
#[derive(Debug, Clone)]
pub struct SeriesResult {
    pub series: SeriesKey,
    pub status: SeriesStatus,
    pub counters: Counters,
    pub coverage: Option<TimeRange>,
    pub error: Option<String>,
    /// Wall time of the series' run.
    pub duration: std::time::Duration,
}

impl SeriesResult {
    /// A series that could not start (no coverage for `topup`, an unreadable table).
    pub fn failed(series: SeriesKey, error: String) -> Self {
        SeriesResult {
            series,
            status: SeriesStatus::Error,
            counters: Counters::default(),
            coverage: None,
            error: Some(error),
            duration: std::time::Duration::ZERO,
        }
    }

    /// Decides the status from what the run did: a failure after some commits is `partial`.
    pub fn finish(
        series: SeriesKey,
        run: &SeriesRun,
        error: Option<String>,
        nothing_to_fetch: bool,
    ) -> Self {
        let (counters, committed) = (run.counters, run.committed);
        let status = match (&error, counters) {
            (Some(_), _) if committed => SeriesStatus::Partial,
            (Some(_), _) => SeriesStatus::Error,
            (None, c) if c.fetched == 0 && !nothing_to_fetch => SeriesStatus::NoData,
            // Every candle that came back was rejected (none skipped as already held).
            (None, c)
                if c.written == 0
                    && c.dead_lettered > 0
                    && c.dead_lettered + c.duplicates == c.fetched =>
            {
                SeriesStatus::ValidationFailed
            }
            (None, _) => SeriesStatus::Success,
        };
        SeriesResult {
            series,
            status,
            counters,
            coverage: run.coverage,
            error,
            duration: std::time::Duration::ZERO,
        }
    }
}

/// How a whole run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every series succeeded.
    Success,
    /// Some series failed.
    Partial,
    /// No series succeeded.
    Error,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::Partial => "partial",
            RunStatus::Error => "error",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub status: RunStatus,
    pub ingestion_id: String,
    pub total_records: u64,
    pub total_failed: u64,
    pub results: Vec<SeriesLine>,
}

#[derive(Debug, Serialize)]
pub struct SeriesLine {
    pub provider: &'static str,
    pub asset_pair: String,
    pub timeframe: &'static str,
    pub status: SeriesStatus,
    pub records: u64,
    pub fetched: u64,
    pub duplicates: u64,
    pub skipped: u64,
    pub dead_lettered: u64,
    pub coverage: CoverageLine,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CoverageLine {
    pub from: Option<String>,
    pub to: Option<String>,
}

impl RunSummary {
    pub fn new(ingestion_id: &str, results: &[SeriesResult]) -> Self {
        let any_ok = results.iter().any(|r| r.status.succeeded());
        let all_ok = results.iter().all(|r| r.status.succeeded());
        let status = match (any_ok, all_ok) {
            (_, true) => RunStatus::Success,
            (true, false) => RunStatus::Partial,
            (false, false) => RunStatus::Error,
        };
        RunSummary {
            status,
            ingestion_id: ingestion_id.to_string(),
            total_records: results.iter().map(|r| r.counters.rows).sum(),
            total_failed: results.iter().map(|r| r.counters.dead_lettered).sum(),
            results: results.iter().map(SeriesLine::from).collect(),
        }
    }

    pub fn succeeded(&self) -> bool {
        self.status == RunStatus::Success
    }

    pub fn to_text(&self) -> String {
        let mut out = format!(
            "run {} {}: {} candles written, {} dead-lettered\n",
            self.ingestion_id,
            self.status.as_str(),
            self.total_records,
            self.total_failed
        );
        for r in &self.results {
            let range = match (&r.coverage.from, &r.coverage.to) {
                (Some(f), Some(t)) => format!("{f} .. {t}"),
                _ => "none".to_string(),
            };
            out += &format!(
                "  {:<12} {:<10} {:<4} {:<17} written {:>8}  fetched {:>8}  dup {:>5}  skipped {:>5}  dlq {:>5}  coverage {range}\n",
                r.provider,
                r.asset_pair,
                r.timeframe,
                r.status.as_str(),
                r.records,
                r.fetched,
                r.duplicates,
                r.skipped,
                r.dead_lettered
            );
            if let Some(e) = &r.error {
                out += &format!("      error: {e}\n");
            }
        }
        out
    }
}

impl From<&SeriesResult> for SeriesLine {
    fn from(r: &SeriesResult) -> Self {
        SeriesLine {
            provider: r.series.provider.as_str(),
            asset_pair: r.series.pair.clone(),
            timeframe: r.series.timeframe.as_str(),
            status: r.status,
            records: r.counters.rows,
            fetched: r.counters.fetched,
            duplicates: r.counters.duplicates,
            skipped: r.counters.skipped,
            dead_lettered: r.counters.dead_lettered,
            coverage: CoverageLine {
                from: r.coverage.map(|c| rfc3339(c.start)),
                to: r.coverage.map(|c| rfc3339(c.end)),
            },
            error: r.error.clone(),
        }
    }
}
