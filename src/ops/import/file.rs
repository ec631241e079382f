//! One source file through the import: claim it, decide from its state and the table's mark
//! whether it is done, being finished after a crash, or to be imported; then read and sort it
//! (on a blocking thread, beside an earlier file's commit), commit (rows, replaced rows and
//! mark in one commit), dead-letter its rejects and record its state.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use tokio::task::JoinHandle;

use super::claim::Claim;
use super::decode;
use super::formats::{Format, ReadOptions, named_timeframe};
use super::pool::Buffers;
use super::sort::{Sorted, Target, read_sorted};
use super::state::{FileState, Status, key_of};
use super::{FileReport, Importer};
use crate::providers::Timeframe;
use crate::sink::import::{FileCommit, Footprint};
use crate::state::dlq::{ImportContext, LineReject};

/// The file's mark: the `txn` app id its commits record.
fn app_id(key: &str) -> String {
    format!("candlelake/import/{key}")
}

/// What reading a file needs, owned, so that it runs beside the commit of the file before.
struct Reader {
    format: Format,
    options: ReadOptions,
    pairs: Option<Vec<String>>,
    buffers: Arc<Buffers>,
}

impl Reader {
    async fn read_and_sort(self, file: super::SourceFile, tf: Timeframe) -> Result<Sorted, String> {
        let name = file.name().to_string();
        let mut bytes = self.buffers.bytes.take();
        file.read_into(&mut bytes)
            .await
            .map_err(|e| format!("it cannot be read ({e})"))?;
        let sidecar = if self.format == Format::BinanceKlines {
            file.checksum()
                .await
                .map_err(|e| format!("its .CHECKSUM file cannot be read ({e})"))?
        } else {
            None
        };
        tokio::task::spawn_blocking(move || {
            if let Some(sidecar) = sidecar {
                decode::verify_checksum(&sidecar, &bytes)?;
            }
            let text = match self.format {
                Format::Parquet => super::parquet::text(bytes, &self.options)?,
                _ => {
                    let (text, unused) = decode::text(&name, bytes, self.buffers.bytes.take())?;
                    self.buffers.bytes.give(unused);
                    text
                }
            };
            let target = Target {
                tf,
                selected: self.pairs.as_deref(),
                extracted_at: Utc::now(),
            };
            let rows = self.buffers.rows.take();
            let sorted = read_sorted(self.format, &name, &text, &self.options, target, rows);
            self.buffers.bytes.give(text.into_bytes());
            let sorted = sorted?;
            // Checked once the file is read, so that an unreadable file says so first.
            if let Some(named) = named_timeframe(self.format, &name)?
                && named != tf
            {
                return Err(format!(
                    "the file holds {named} candles but --timeframe says {tf}; drop --timeframe or import it into the {named} table"
                ));
            }
            Ok(sorted)
        })
        .await
        .unwrap_or_else(|e| Err(format!("its reading stopped ({e})")))
    }
}

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

/// A file claimed and planned, its reading under way on a thread of its own while a file before
/// it is written: the cores parse the next files and encode this one's rows.
pub(super) struct Prepared {
    claim: Option<Claim>,
    report: FileReport,
    step: Step,
}

enum Step {
    /// Nothing more to do: the report is final.
    Reported,
    /// To finish or import once the reading ends.
    Read(Box<Reading>),
}

/// A file being read, and what to do with it then.
struct Reading {
    attempt: Attempt,
    tf: Timeframe,
    plan: Plan,
    sorted: JoinHandle<Result<Sorted, String>>,
}

impl Importer<'_> {
    /// Claims `file`, decides what it needs and starts reading it.
    pub(super) async fn prepare(&mut self, file: &super::SourceFile) -> Prepared {
        let started = Instant::now();
        let location = file.location();
        let key = key_of(&location);
        let mut report = FileReport::new(&location);
        let claim = match self.claims.try_take(&key).await {
            Ok(Some(claim)) => claim,
            Ok(None) => {
                report.status = Status::Skipped;
                report.note = Some("another import holds this file".into());
                return Prepared {
                    claim: None,
                    report,
                    step: Step::Reported,
                };
            }
            Err(e) => {
                return Prepared {
                    claim: None,
                    report: report.failed(format!(
                        "it could not be claimed ({e}); check that the state dir or the lake is writable"
                    )),
                    step: Step::Reported,
                };
            }
        };
        let step = match self.plan(file, &key, &mut report, started).await {
            Ok(step) => step,
            Err(error) => {
                report.status = Status::Failed;
                report.error = Some(error);
                Step::Reported
            }
        };
        Prepared {
            claim: Some(claim),
            report,
            step,
        }
    }

    /// Ends a prepared file: its commit, DLQ and state; then gives its claim up.
    pub(super) async fn complete(&mut self, prepared: Prepared) -> FileReport {
        let Prepared {
            claim,
            mut report,
            step,
        } = prepared;
        let started = match &step {
            Step::Read(reading) => reading.attempt.started,
            Step::Reported => Instant::now(),
        };
        if let Step::Read(reading) = step {
            let Reading {
                attempt,
                tf,
                plan,
                sorted,
            } = *reading;
            let read = sorted
                .await
                .unwrap_or_else(|e| Err(format!("its reading stopped ({e})")));
            if let Err(error) = self.finish(attempt, tf, plan, read, &mut report).await {
                report.status = Status::Failed;
                report.error = Some(error);
            }
        }
        if let Some(claim) = claim {
            self.claims.release(claim).await;
        }
        report.duration_ms = report.duration_ms.max(started.elapsed().as_millis() as u64);
        self.progress
            .file_done(&report.path, report.status.as_str(), report.rows);
        report
    }

    async fn plan(
        &mut self,
        listed: &super::SourceFile,
        key: &str,
        report: &mut FileReport,
        started: Instant,
    ) -> Result<Step, String> {
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
            Err(e) => return self.fail(attempt, e, report).map(|()| Step::Reported),
        };
        let app_id = app_id(key);
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
        match &plan {
            Plan::Done => {
                report.status = Status::Skipped;
                report.attempts = attempt.state.attempts;
                attempt.state.status = Status::Skipped;
                self.save(key, &attempt.state)?;
                return Ok(Step::Reported);
            }
            Plan::Finish(_) => {}
            Plan::Import { version, replaced } => {
                let state = &mut attempt.state;
                state.status = Status::Processing;
                state.attempts += 1;
                state.mark = Some(*version);
                state.ingestion_id = Some(self.ingestion_id.to_string());
                state.timeframe = Some(tf.to_string());
                state.footprint = replaced.clone();
                state.error = None;
                self.save(key, state)?;
            }
        }
        let reader = Reader {
            format: self.request.format,
            options: self.request.options.clone(),
            pairs: self.request.pairs.clone(),
            buffers: self.buffers.clone(),
        };
        let file = attempt.file.clone();
        let sorted = tokio::spawn(async move { reader.read_and_sort(file, tf).await });
        Ok(Step::Read(Box::new(Reading {
            attempt,
            tf,
            plan,
            sorted,
        })))
    }

    /// Commits (or, for a file committed before a crash, only records) what was read.
    async fn finish(
        &mut self,
        attempt: Attempt,
        tf: Timeframe,
        plan: Plan,
        read: Result<Sorted, String>,
        report: &mut FileReport,
    ) -> Result<(), String> {
        let location = attempt.file.location();
        let key = attempt.key.clone();
        match plan {
            Plan::Done => Ok(()),
            Plan::Finish(p) => {
                let ingestion_id = p.ingestion_id.clone().unwrap_or_default();
                let sorted = read?;
                let dlq = self.dead_letter(&location, &key, tf, &ingestion_id, &sorted)?;
                self.succeed(attempt, tf, &sorted, dlq, report)
            }
            Plan::Import { version, replaced } => {
                let sorted = match read {
                    Ok(sorted) => sorted,
                    Err(e) => return self.fail(attempt, e, report),
                };
                let app_id = app_id(&key);
                let commit = FileCommit {
                    timeframe: tf,
                    period: self.period(tf).await?,
                    source_provider: self.source_provider,
                    ingestion_id: self.ingestion_id,
                    groups: sorted.groups.clone(),
                    replaced: &replaced,
                    app_id: &app_id,
                    version,
                };
                let committed = self.tables.commit(self.sink, &commit).await;
                drop(commit);
                if let Err(e) = committed {
                    return self.fail(attempt, e.to_string(), report);
                }
                let dlq = self.dead_letter(&location, &key, tf, self.ingestion_id, &sorted)?;
                self.succeed(attempt, tf, &sorted, dlq, report)?;
                self.give_back(sorted);
                Ok(())
            }
        }
    }

    /// Hands the rows of a committed file to the next file read.
    fn give_back(&self, sorted: Sorted) {
        let mut groups = sorted.groups;
        if let Some(groups) = Arc::get_mut(&mut groups) {
            for group in groups {
                self.buffers.rows.give(std::mem::take(&mut group.rows));
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
                self.states.dir()
            )
        })
    }
}
