//! One source file through the import: claim it, decide from its state and the table's mark
//! whether it is done, being finished after a crash, or to be imported; then read, sort, commit
//! (rows, replaced rows and mark in one commit), dead-letter its rejects and record its state.

use std::time::Instant;

use chrono::Utc;

use super::decode;
use super::formats::{Format, Parsed, read};
use super::sort::{Sorted, sort};
use super::state::{FileState, Status, key_of};
use super::{FileReport, Importer};
use crate::providers::Timeframe;
use crate::sink::import::{FileCommit, Footprint};
use crate::state::dlq::{ImportContext, LineReject};

/// One try at one file: its key, the file as it is now, and its state being updated.
struct Attempt {
    key: String,
    file: super::SourceFile,
    state: FileState,
    started: Instant,
}

/// What the table and the state say about a file, before any work.
enum Plan {
    /// Imported before at this size and version, and the table holds its mark.
    Done,
    /// Committed by an attempt that died before recording it: write its DLQ and state.
    Finish(FileState),
    /// Import it at this mark version, replacing what an earlier version brought.
    Import {
        version: i64,
        replaced: Vec<Footprint>,
    },
}

impl Importer<'_> {
    pub(super) async fn import_file(&mut self, file: &super::SourceFile) -> FileReport {
        let started = Instant::now();
        let location = file.location();
        let key = key_of(&location);
        let mut report = FileReport::new(&location);
        let claim = match self.claims.try_take(&key).await {
            Ok(Some(claim)) => claim,
            Ok(None) => {
                report.status = Status::Skipped;
                report.note = Some("another import holds this file".into());
                return report;
            }
            Err(e) => return report.failed(format!(
                "it could not be claimed ({e}); check that the state dir or the lake is writable"
            )),
        };
        let result = self.run_file(file, &key, &mut report, started).await;
        self.claims.release(claim).await;
        if let Err(error) = result {
            report.status = Status::Failed;
            report.error = Some(error);
        }
        report.duration_ms = started.elapsed().as_millis() as u64;
        self.progress
            .file_done(&location, report.status.as_str(), report.rows);
        report
    }

    async fn run_file(
        &mut self,
        listed: &super::SourceFile,
        key: &str,
        report: &mut FileReport,
        started: Instant,
    ) -> Result<(), String> {
        let file = listed
            .refreshed()
            .await
            .map_err(|e| format!("it cannot be read any more ({e})"))?;
        let location = file.location();
        let previous = self.states.load(key);
        let state = previous
            .clone()
            .unwrap_or_else(|| FileState::discovered(&location, &file));
        let mut attempt = Attempt {
            key: key.to_string(),
            file,
            state,
            started,
        };
        let tf = match self.timeframe_of(attempt.file.name()) {
            Ok(tf) => tf,
            Err(e) => return self.fail(attempt, e, report),
        };
        let app_id = format!("candlelake/import/{key}");
        let mark = self
            .tables
            .mark(self.sink, tf, &app_id)
            .await
            .map_err(|e| e.to_string())?;
        let same_file = attempt.state.size == attempt.file.size
            && attempt.state.version == attempt.file.version;
        let plan = match previous {
            Some(p) if same_file && p.mark.is_some() && p.mark == mark => match p.status {
                Status::Success | Status::Skipped => Plan::Done,
                _ => Plan::Finish(p),
            },
            Some(p) => Plan::Import {
                version: mark.unwrap_or(0) + 1,
                replaced: if mark.is_some() {
                    p.footprint
                } else {
                    Vec::new()
                },
            },
            None => Plan::Import {
                version: mark.unwrap_or(0) + 1,
                replaced: Vec::new(),
            },
        };
        self.progress.file_started(&location, attempt.file.size);
        match plan {
            Plan::Done => {
                report.status = Status::Skipped;
                report.attempts = attempt.state.attempts;
                attempt.state.status = Status::Skipped;
                self.save(key, &attempt.state)
            }
            Plan::Finish(p) => {
                let ingestion_id = p.ingestion_id.clone().unwrap_or_default();
                let sorted = self.read_and_sort(&attempt.file, tf).await?;
                let dlq = self.dead_letter(&location, key, tf, &ingestion_id, &sorted)?;
                self.succeed(attempt, tf, &sorted, dlq, report)
            }
            Plan::Import { version, replaced } => {
                let state = &mut attempt.state;
                state.status = Status::Processing;
                state.attempts += 1;
                state.mark = Some(version);
                state.ingestion_id = Some(self.ingestion_id.to_string());
                state.timeframe = Some(tf.to_string());
                state.footprint = replaced.clone();
                state.error = None;
                self.save(key, state)?;
                let sorted = match self.read_and_sort(&attempt.file, tf).await {
                    Ok(sorted) => sorted,
                    Err(e) => return self.fail(attempt, e, report),
                };
                let commit = FileCommit {
                    timeframe: tf,
                    period: self.period(tf).await?,
                    source_provider: self.source_provider,
                    ingestion_id: self.ingestion_id,
                    groups: &sorted.groups,
                    replaced: &replaced,
                    app_id: &app_id,
                    version,
                };
                if let Err(e) = self.tables.commit(self.sink, &commit).await {
                    return self.fail(attempt, e.to_string(), report);
                }
                let dlq = self.dead_letter(&location, key, tf, self.ingestion_id, &sorted)?;
                self.succeed(attempt, tf, &sorted, dlq, report)
            }
        }
    }

    fn timeframe_of(&self, name: &str) -> Result<Timeframe, String> {
        match (self.request.timeframe, self.request.format) {
            (Some(tf), _) => Ok(tf),
            (None, Format::BinanceKlines) => super::formats::binance_timeframe(name),
            (None, Format::PolygonMinuteAggs | Format::HistdataM1) => Ok(Timeframe::M1),
            (None, Format::Csv | Format::Parquet) => {
                Err("no timeframe: give --timeframe for csv and parquet files".into())
            }
        }
    }

    async fn read_and_sort(
        &self,
        file: &super::SourceFile,
        tf: Timeframe,
    ) -> Result<Sorted, String> {
        let parsed = self.read(file).await?;
        if let Some(named) = parsed.timeframe
            && named != tf
        {
            return Err(format!(
                "the file holds {named} candles but --timeframe says {tf}; drop --timeframe or import it into the {named} table"
            ));
        }
        let selected = self.request.pairs.as_deref();
        Ok(sort(&parsed, tf, selected, Utc::now()))
    }

    async fn read(&self, file: &super::SourceFile) -> Result<Parsed, String> {
        let bytes = file
            .bytes()
            .await
            .map_err(|e| format!("it cannot be read ({e})"))?;
        if self.request.format == Format::BinanceKlines
            && let Some(sidecar) = file
                .checksum()
                .await
                .map_err(|e| format!("its .CHECKSUM file cannot be read ({e})"))?
        {
            decode::verify_checksum(&sidecar, &bytes)?;
        }
        let text = match self.request.format {
            Format::Parquet => super::parquet::text(bytes, &self.request.options)?,
            _ => decode::text(file.name(), bytes)?,
        };
        read(
            self.request.format,
            file.name(),
            text,
            &self.request.options,
        )
    }

    fn dead_letter(
        &self,
        location: &str,
        key: &str,
        tf: Timeframe,
        ingestion_id: &str,
        sorted: &Sorted,
    ) -> Result<Vec<String>, String> {
        if sorted.rejects.is_empty() {
            return Ok(Vec::new());
        }
        let context = ImportContext {
            vendor: self.source_provider,
            timeframe: tf.as_str(),
            ingestion_id,
            file: location,
            seq: u64::from_str_radix(&key[..6], 16).unwrap_or_default(),
        };
        let rejects: Vec<LineReject> = sorted
            .rejects
            .iter()
            .map(|r| LineReject {
                pair: &r.pair,
                line: r.line,
                open_time: r.open_time,
                reasons: &r.reasons,
                raw: &r.raw,
            })
            .collect();
        self.dlq
            .write_imported(&context, &rejects, Utc::now())
            .map_err(|e| format!("its rejects could not be written to the DLQ ({e}); check that the state dir is writable"))
    }

    fn succeed(
        &self,
        attempt: Attempt,
        tf: Timeframe,
        sorted: &Sorted,
        dlq: Vec<String>,
        report: &mut FileReport,
    ) -> Result<(), String> {
        let Attempt {
            key,
            file,
            mut state,
            started,
        } = attempt;
        state.status = Status::Success;
        state.size = file.size;
        state.version = file.version;
        state.rows = sorted.rows();
        state.rejects = sorted.rejects.len() as u64;
        state.duplicates = sorted.duplicates;
        state.timeframe = Some(tf.to_string());
        state.footprint = sorted.groups.iter().filter_map(|g| g.footprint()).collect();
        state.duration_ms = started.elapsed().as_millis() as u64;
        state.error = None;
        self.save(&key, &state)?;
        *report = FileReport::from_state(&state, Status::Success);
        report.skipped = sorted.skipped;
        report.read = sorted.read;
        report.dlq = dlq;
        Ok(())
    }

    /// Records the attempt as failed with `error`, and returns the error.
    fn fail(&self, attempt: Attempt, error: String, report: &mut FileReport) -> Result<(), String> {
        let Attempt {
            key,
            file,
            mut state,
            started,
        } = attempt;
        report.attempts = state.attempts;
        state.status = Status::Failed;
        state.size = file.size;
        state.version = file.version;
        state.error = Some(error.clone());
        state.duration_ms = started.elapsed().as_millis() as u64;
        self.save(&key, &state)?;
        Err(error)
    }

    fn save(&self, key: &str, state: &FileState) -> Result<(), String> {
        self.states.save(key, state).map_err(|e| {
            format!(
                "its state could not be written to {} ({e}); check that the state dir is writable",
                self.states.dir().display()
            )
        })
    }
}
