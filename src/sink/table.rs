//! Opening, creating and appending to one Delta table per timeframe, with the series' coverage
//! recorded as application transactions in the same commit as its rows.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use tokio::sync::Mutex;
use url::Url;

use super::PartitionPeriod;
use super::log::AppendLog;
use super::schema::{
    PARTITION_COLUMNS, PARTITION_PERIOD_PROPERTY, STATS_COLUMNS, STATS_PROPERTY, delta_columns,
    table_name,
};
use crate::failpoint;
use crate::model::{Lineage, Row, SeriesKey, TimeRange};
use crate::providers::Timeframe;

/// `from` is recorded as 2^62 − µs so that both marks only grow as coverage widens.
const FROM_COMPLEMENT: i64 = 1 << 62;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("the table {table} could not be used: {source}")]
    Delta {
        table: String,
        #[source]
        source: DeltaTableError,
    },
    #[error(
        "another run changed the coverage of {series} while this one was fetching; rerun to continue from the table's coverage"
    )]
    CoverageMoved { series: String },
    #[error(
        "other writers committed to the table {table} {COMMIT_TRIES} times while this run tried to; rerun to continue from the table's coverage"
    )]
    Busy { table: String },
    #[error(
        "another writer changed or added files of the table {table} that this run read while it ran, so nothing was committed; rerun it"
    )]
    Rewritten { table: String },
    #[error(
        "candlelake cannot append to the table {table}: it uses {reason}; point CANDLELAKE_LAKE at tables candlelake created"
    )]
    Unsupported { table: String, reason: String },
    #[error(
        "the table {table} records partition period '{recorded}', but the config asks for '{wanted}'; remove [tables.{tf}] partition_period or set it to '{recorded}'"
    )]
    PeriodConflict {
        table: String,
        tf: Timeframe,
        recorded: String,
        wanted: &'static str,
    },
    #[error(
        "the table {table} references {count} data file(s) the store no longer has (first: {first}); run `candlelake maintain --repair` so the table reads again, then `candlelake refetch` over the range `candlelake gaps` reports as removed"
    )]
    LostFiles {
        table: String,
        count: usize,
        first: String,
    },
    #[error(
        "the lake location '{0}' is not a valid path or URL; set CANDLELAKE_LAKE to a directory or s3:// URI"
    )]
    BadLocation(String),
    #[error(
        "the table {table} cannot be read: its log file {file} is damaged ({reason}); restore that file from a backup, or if it is the newest commit and half-written, move it out of _delta_log so the table ends at the version before it"
    )]
    UnreadableLog {
        table: String,
        file: String,
        reason: String,
    },
}

type TableSlot = Arc<Mutex<Option<AppendLog>>>;

/// All tables under one lake root. Commits to one table are serialised in this process.
pub struct DeltaSink {
    root: String,
    periods: HashMap<Timeframe, PartitionPeriod>,
    tables: std::sync::Mutex<HashMap<Timeframe, TableSlot>>,
}

impl DeltaSink {
    /// `periods` are the configured partition periods for tables not yet created.
    pub fn new(root: &str, periods: HashMap<Timeframe, PartitionPeriod>) -> Self {
        DeltaSink {
            root: root.trim_end_matches('/').to_string(),
            periods,
            tables: Default::default(),
        }
    }

    fn slot(&self, tf: Timeframe) -> TableSlot {
        let mut tables = self.tables.lock().expect("table map lock");
        tables.entry(tf).or_default().clone()
    }

    /// Where the table of `tf` is, as messages name it.
    pub fn location(&self, tf: Timeframe) -> String {
        format!("{}/{}", self.root, table_name(tf))
    }

    fn url(&self, tf: Timeframe) -> Result<Url, SinkError> {
        let location = self.location(tf);
        let bad = || SinkError::BadLocation(self.root.clone());
        if location.contains("://") {
            let mut url = Url::parse(&location).map_err(|_| bad())?;
            url.set_path(&format!("{}/", url.path().trim_end_matches('/')));
            Ok(url)
        } else {
            let path = std::path::absolute(&location).map_err(|_| bad())?;
            Url::from_directory_path(path).map_err(|_| bad())
        }
    }

    pub(super) fn delta_err(&self, tf: Timeframe) -> impl Fn(DeltaTableError) -> SinkError + '_ {
        move |source| SinkError::Delta {
            table: self.location(tf),
            source,
        }
    }

    /// A table that could not be opened: when a file of its log is damaged, the error names
    /// it and the fix; otherwise it is the Delta error.
    pub(super) async fn explain(&self, tf: Timeframe, source: DeltaTableError) -> SinkError {
        if let Ok(Some(table)) = self.unloaded(tf)
            && let Err(e) = super::marks::all_marks(&table.log_store()).await
        {
            return self.unreadable(tf, e);
        }
        self.delta_err(tf)(source)
    }

    /// The error of a table whose log file is damaged.
    pub(super) fn unreadable(&self, tf: Timeframe, e: super::marks::LogError) -> SinkError {
        SinkError::UnreadableLog {
            table: self.location(tf),
            file: e.file,
            reason: e.reason,
        }
    }

    /// The table, not yet loaded; `None` when a local table has no log yet.
    pub(super) fn unloaded(&self, tf: Timeframe) -> Result<Option<DeltaTable>, SinkError> {
        let url = self.url(tf)?;
        if url.scheme() == "file"
            && !url
                .to_file_path()
                .is_ok_and(|p| p.join("_delta_log").exists())
        {
            return Ok(None);
        }
        DeltaTableBuilder::from_url(url)
            .and_then(|b| b.build())
            .map(Some)
            .map_err(self.delta_err(tf))
    }

    /// Loads the table with its file list if it exists; `None` when nothing has been written yet.
    pub(super) async fn load(&self, tf: Timeframe) -> Result<Option<DeltaTable>, SinkError> {
        let Some(mut table) = self.unloaded(tf)? else {
            return Ok(None);
        };
        match table.load().await {
            Ok(()) => {}
            Err(DeltaTableError::NotATable(_)) => return Ok(None),
            Err(e) => return Err(self.explain(tf, e).await),
        }
        Ok(Some(table))
    }

    /// The partition period a table will use: the recorded one for an existing table (a
    /// conflicting explicit config is an error), else the configured or default one.
    pub async fn partition_period(
        &self,
        tf: Timeframe,
        explicit: bool,
    ) -> Result<PartitionPeriod, SinkError> {
        let wanted = self
            .periods
            .get(&tf)
            .copied()
            .unwrap_or(PartitionPeriod::default_for(tf));
        let slot = self.slot(tf);
        let mut guard = slot.lock().await;
        let Some(log) = self.open_log(&mut guard, tf, None).await? else {
            return Ok(wanted);
        };
        let recorded = log.configuration().get(PARTITION_PERIOD_PROPERTY).cloned();
        match recorded.as_deref().map(str::parse::<PartitionPeriod>) {
            Some(Ok(period)) if period == wanted || !explicit => Ok(period),
            Some(Ok(period)) => Err(SinkError::PeriodConflict {
                table: self.location(tf),
                tf,
                recorded: period.as_str().to_string(),
                wanted: wanted.as_str(),
            }),
            _ => Ok(wanted),
        }
    }

    async fn create(
        &self,
        tf: Timeframe,
        period: PartitionPeriod,
    ) -> Result<DeltaTable, SinkError> {
        let url = self.url(tf)?;
        if url.scheme() == "file" {
            deltalake::ensure_table_uri(url.as_str()).map_err(self.delta_err(tf))?;
        }
        let table = DeltaTableBuilder::from_url(url)
            .and_then(|b| b.build())
            .map_err(self.delta_err(tf))?;
        table
            .create()
            .with_table_name(table_name(tf))
            .with_columns(delta_columns())
            .with_partition_columns(PARTITION_COLUMNS)
            .with_configuration([
                (PARTITION_PERIOD_PROPERTY, Some(period.as_str())),
                (STATS_PROPERTY, Some(STATS_COLUMNS)),
            ])
            .with_raise_if_key_not_exists(false)
            .with_save_mode(SaveMode::Ignore)
            // The first commit is made once: a run that loses the race for version 0 must not
            // retry its CREATE at version 1 (a second table id, perhaps another period).
            .with_commit_properties(CommitProperties::default().with_max_retries(0))
            .await
            .map_err(self.delta_err(tf))
    }

    /// The log of a table this run just created, or the one another run created first, whose
    /// partition period must then be the one this run partitions its rows by.
    pub(super) async fn create_or_join(
        &self,
        tf: Timeframe,
        period: PartitionPeriod,
    ) -> Result<AppendLog, SinkError> {
        let err = self.delta_err(tf);
        let log = match self.create(tf, period).await {
            Ok(table) => AppendLog::open(table.log_store()).await.map_err(&err)?,
            Err(lost) => self.join(tf).await.ok_or(lost)?,
        };
        let recorded = log.configuration().get(PARTITION_PERIOD_PROPERTY).cloned();
        match recorded.as_deref().map(str::parse::<PartitionPeriod>) {
            Some(Ok(p)) if p == period => Ok(log),
            _ => Err(SinkError::PeriodConflict {
                table: self.location(tf),
                tf,
                recorded: recorded.unwrap_or_default(),
                wanted: period.as_str(),
            }),
        }
    }

    /// The log of the table another run is creating: its first commit may still be in flight
    /// (its `_delta_log` directory already there, its version 0 not yet), so a few short
    /// pauses are allowed for it to land. `None` when no table appears.
    async fn join(&self, tf: Timeframe) -> Option<AppendLog> {
        for tries in 1..=COMMIT_TRIES {
            if let Ok(Some(table)) = self.unloaded(tf)
                && let Ok(log) = AppendLog::open(table.log_store()).await
            {
                return Some(log);
            }
            lost_race_pause(tries).await;
        }
        None
    }

    /// Appends `rows` of one series and widens its coverage to `wanted`, in one commit.
    ///
    /// The table is the source of truth: before each try the log is read up to its latest
    /// version, rows the series' coverage marks already cover are dropped, and an empty commit
    /// is skipped. When another writer takes the version first, its commit is read: if it
    /// moved neither this series' marks nor the table's metadata, the same files are committed
    /// at the next version, else the rows are checked and written again.
    pub async fn commit(
        &self,
        lineage: &Lineage,
        rows: &[Row],
        wanted: TimeRange,
        dlq: &[String],
    ) -> Result<Committed, SinkError> {
        self.with_log(lineage.series.timeframe, async |slot| {
            self.commit_to(slot, lineage, rows, wanted, dlq).await
        })
        .await
    }

    /// Runs `work` on the table's cached log, alone among this process's writers to the table.
    /// After an error whatever the cached log saw is suspect: the next use reads the table
    /// afresh.
    async fn with_log<T>(
        &self,
        tf: Timeframe,
        work: impl AsyncFnOnce(&mut Option<AppendLog>) -> Result<T, SinkError>,
    ) -> Result<T, SinkError> {
        let slot = self.slot(tf);
        let mut guard = slot.lock().await;
        let result = work(&mut guard).await;
        if result.is_err() {
            *guard = None;
        }
        result
    }

    async fn commit_to(
        &self,
        slot: &mut Option<AppendLog>,
        lineage: &Lineage,
        rows: &[Row],
        wanted: TimeRange,
        dlq: &[String],
    ) -> Result<Committed, SinkError> {
        let series = &lineage.series;
        let tf = series.timeframe;
        let err = self.delta_err(tf);
        let log = self
            .open_log(slot, tf, Some(lineage.partition_period))
            .await?
            .expect("open_log creates the table when given a partition period");
        let mut tries = 0;
        'fresh: while tries < COMMIT_TRIES {
            self.catch_up(log, tf).await?;
            let recorded = marks(log, series).await.map_err(&err)?;
            let coverage = match recorded {
                None => wanted,
                Some(r) if r.start <= wanted.start && wanted.end <= r.end => {
                    return Ok(Committed {
                        version: None,
                        coverage: r,
                        held_before: Some(r),
                    });
                }
                Some(r) if wanted.end < r.start || r.end < wanted.start => {
                    return Err(SinkError::CoverageMoved {
                        series: series.to_string(),
                    });
                }
                Some(r) => TimeRange {
                    start: r.start.min(wanted.start),
                    end: r.end.max(wanted.end),
                },
            };
            let covered = |row: &Row| recorded.is_some_and(|r| r.contains(row.candle.open_time));
            let fresh: Cow<[Row]> = if rows.iter().any(covered) {
                Cow::Owned(rows.iter().filter(|row| !covered(row)).cloned().collect())
            } else {
                Cow::Borrowed(rows)
            };
            let adds = log.write_files(lineage, &fresh).await.map_err(&err)?;
            drop(fresh);
            failpoint::hit("before_commit");
            while tries < COMMIT_TRIES {
                tries += 1;
                let txns = coverage_marks(series, coverage);
                if let Some(version) = log
                    .commit(&adds, txns, write_operation(), dlq, recorded)
                    .await
                    .map_err(&err)?
                {
                    failpoint::hit("after_commit");
                    return Ok(Committed {
                        version: Some(version),
                        coverage,
                        held_before: recorded,
                    });
                }
                tracing::info!(series = %series, "Another writer committed to this table first; reading its commit and trying again.");
                lost_race_pause(tries).await;
                if self.catch_up(log, tf).await?
                    || marks(log, series).await.map_err(&err)? != recorded
                {
                    continue 'fresh;
                }
            }
        }
        Err(SinkError::Busy {
            table: self.location(tf),
        })
    }

    /// Appends rows without moving coverage: rows a caller found missing in the table read at
    /// version `read_at` (replayed DLQ records, which coverage holds). Nothing is committed
    /// when another writer added candles of the series in their range since: the caller's read
    /// is stale, and writing would add one candle twice.
    pub async fn append(
        &self,
        lineage: &Lineage,
        rows: &[Row],
        read_at: Option<u64>,
    ) -> Result<u64, SinkError> {
        self.with_log(lineage.series.timeframe, async |slot| {
            self.append_to(slot, lineage, rows, read_at).await
        })
        .await
    }

    async fn append_to(
        &self,
        slot: &mut Option<AppendLog>,
        lineage: &Lineage,
        rows: &[Row],
        read_at: Option<u64>,
    ) -> Result<u64, SinkError> {
        let tf = lineage.series.timeframe;
        let err = self.delta_err(tf);
        let log = self
            .open_log(slot, tf, Some(lineage.partition_period))
            .await?
            .expect("open_log creates the table when given a partition period");
        self.catch_up(log, tf).await?;
        let series = &lineage.series;
        let times = rows.iter().map(|r| r.candle.open_time);
        let span = times
            .clone()
            .min()
            .zip(times.max())
            .map(|(first, last)| TimeRange::new(first, last + tf.duration()));
        let unread = async |log: &AppendLog| -> Result<(), SinkError> {
            let (Some(read_at), Some(span)) = (read_at, span) else {
                return Ok(());
            };
            let provider = series.provider.as_str();
            if log
                .added_since(read_at, &series.pair, provider, span)
                .await
                .map_err(&err)?
            {
                return Err(SinkError::Rewritten {
                    table: self.location(tf),
                });
            }
            Ok(())
        };
        unread(log).await?;
        let mut adds = log.write_files(lineage, rows).await.map_err(&err)?;
        for tries in 1..=COMMIT_TRIES {
            if let Some(version) = log
                .commit(&adds, Vec::new(), write_operation(), &[], None)
                .await
                .map_err(&err)?
            {
                return Ok(version);
            }
            lost_race_pause(tries).await;
            if self.catch_up(log, tf).await? {
                adds = log.write_files(lineage, rows).await.map_err(&err)?;
            }
            unread(log).await?;
        }
        Err(SinkError::Busy {
            table: self.location(tf),
        })
    }

    /// Runs `work` on the append path's log of the table of `tf`, read up to its latest version
    /// (the table created with `create_with` when missing, else `None`): how imports look up
    /// their marks and commit without loading the table's file list.
    pub(super) async fn on_log<T>(
        &self,
        tf: Timeframe,
        create_with: Option<PartitionPeriod>,
        work: impl AsyncFnOnce(&mut AppendLog) -> Result<T, SinkError>,
    ) -> Result<Option<T>, SinkError> {
        self.on_log_with(tf, create_with, LostFiles::Refused, work)
            .await
    }

    /// `on_log`, a table that lost files refused or not as `lost` says.
    pub(super) async fn on_log_with<T>(
        &self,
        tf: Timeframe,
        create_with: Option<PartitionPeriod>,
        lost: LostFiles,
        work: impl AsyncFnOnce(&mut AppendLog) -> Result<T, SinkError>,
    ) -> Result<Option<T>, SinkError> {
        self.with_log(tf, async |slot| {
            let Some(log) = self.open_log_with(slot, tf, create_with, lost).await? else {
                return Ok(None);
            };
            self.catch_up(log, tf).await?;
            work(log).await.map(Some)
        })
        .await
    }

    /// Brings the cached log up to the table's latest version; `true` when the table's
    /// metadata or protocol changed on the way.
    pub(super) async fn catch_up(
        &self,
        log: &mut AppendLog,
        tf: Timeframe,
    ) -> Result<bool, SinkError> {
        let reloaded = log.catch_up().await.map_err(self.delta_err(tf))?;
        if reloaded {
            self.check_supported(log, tf)?;
        }
        Ok(reloaded)
    }

    fn check_supported(&self, log: &AppendLog, tf: Timeframe) -> Result<(), SinkError> {
        match log.unsupported() {
            Some(reason) => Err(SinkError::Unsupported {
                table: self.location(tf),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// Refuses a table whose log references data files the store has lost: appending to it
    /// would leave a table no reader can load, with its coverage claiming the lost candles.
    async fn check_files(&self, log: &AppendLog, tf: Timeframe) -> Result<(), SinkError> {
        let lost = log.lost_files().await.map_err(self.delta_err(tf))?;
        match lost.first() {
            None => Ok(()),
            Some(first) => Err(self.lost(tf, &lost, first)),
        }
    }

    /// The error of a table that lost `files`.
    pub fn lost(&self, tf: Timeframe, files: &[String], first: &str) -> SinkError {
        SinkError::LostFiles {
            table: self.location(tf),
            count: files.len(),
            first: first.to_string(),
        }
    }

    /// The append path's handle on the table of `tf`: the cached one, else opened; when the
    /// table does not exist it is created with `create_with`, or `None` is returned.
    async fn open_log<'a>(
        &self,
        slot: &'a mut Option<AppendLog>,
        tf: Timeframe,
        create_with: Option<PartitionPeriod>,
    ) -> Result<Option<&'a mut AppendLog>, SinkError> {
        self.open_log_with(slot, tf, create_with, LostFiles::Refused)
            .await
    }

    /// `open_log`, a table that lost files refused when opened or not as `lost` says.
    async fn open_log_with<'a>(
        &self,
        slot: &'a mut Option<AppendLog>,
        tf: Timeframe,
        create_with: Option<PartitionPeriod>,
        lost: LostFiles,
    ) -> Result<Option<&'a mut AppendLog>, SinkError> {
        if slot.is_none() {
            let existing = match self.unloaded(tf)? {
                Some(table) => match AppendLog::open(table.log_store()).await {
                    Ok(log) => Some(log),
                    Err(DeltaTableError::NotATable(_)) => None,
                    Err(e) => return Err(self.explain(tf, e).await),
                },
                None => None,
            };
            if let Some(log) = &existing
                && lost == LostFiles::Refused
            {
                self.check_files(log, tf).await?;
            }
            *slot = match (existing, create_with) {
                (Some(log), _) => Some(log),
                (None, Some(period)) => Some(self.create_or_join(tf, period).await?),
                (None, None) => None,
            };
            if let Some(log) = slot.as_ref()
                && let Err(e) = self.check_supported(log, tf)
            {
                *slot = None;
                return Err(e);
            }
        }
        Ok(slot.as_mut())
    }

    /// The coverage a table records for a series, from its application transactions.
    pub async fn recorded_coverage(
        &self,
        series: &SeriesKey,
    ) -> Result<Option<TimeRange>, SinkError> {
        let tf = series.timeframe;
        let err = self.delta_err(tf);
        let slot = self.slot(tf);
        let mut guard = slot.lock().await;
        let Some(log) = self.open_log(&mut guard, tf, None).await? else {
            return Ok(None);
        };
        self.catch_up(log, tf).await?;
        marks(log, series).await.map_err(&err)
    }
}

/// Whether opening a table's log for a commit refuses a table whose log references data files
/// the store has lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LostFiles {
    /// Every commit but a repair's: it would leave a table no reader can load.
    Refused,
    /// `maintain --repair`, whose commit removes them.
    Removed,
}

/// What a commit did.
#[derive(Debug, Clone, Copy)]
pub struct Committed {
    /// The new table version; `None` when nothing needed committing.
    pub version: Option<u64>,
    /// The series' coverage as the table now records it.
    pub coverage: TimeRange,
    /// The series' coverage before this commit: rows inside it were left out, because the
    /// table already held them (another run wrote them).
    pub held_before: Option<TimeRange>,
}

pub(super) const COMMIT_TRIES: usize = 10;

/// A short pause after losing a version to another writer, growing with each loss and jittered
/// so that two writers do not collide again in step.
pub(super) async fn lost_race_pause(tries: usize) {
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 50;
    tokio::time::sleep(std::time::Duration::from_millis(20 * tries as u64 + jitter)).await;
}

fn write_operation() -> DeltaOperation {
    DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: Some(PARTITION_COLUMNS.iter().map(|c| c.to_string()).collect()),
        predicate: None,
    }
}

async fn marks(
    log: &mut AppendLog,
    series: &SeriesKey,
) -> Result<Option<TimeRange>, DeltaTableError> {
    let to = log.mark(&app_id(series, "to")).await?;
    let from = log.mark(&app_id(series, "from")).await?;
    Ok(from.zip(to).and_then(|(f, t)| coverage_of(f, t)))
}

/// The coverage two marks record.
pub(super) fn coverage_of(from: i64, to: i64) -> Option<TimeRange> {
    let at = DateTime::from_timestamp_micros;
    at(FROM_COMPLEMENT - from)
        .zip(at(to))
        .map(|(start, end)| TimeRange { start, end })
}

/// The series and the end (`from` or `to`) a coverage mark's app id names.
pub(super) fn mark_of(app_id: &str) -> Option<(SeriesKey, &str)> {
    let rest = app_id.strip_prefix("candlelake/")?;
    let (rest, end) = rest.rsplit_once('/')?;
    let (rest, tf) = rest.rsplit_once('/')?;
    let (provider, pair) = rest.split_once('/')?;
    let series = SeriesKey {
        provider: crate::providers::ProviderId::parse(provider)?,
        pair: pair.to_string(),
        timeframe: tf.parse().ok()?,
    };
    matches!(end, "from" | "to").then_some((series, end))
}

fn app_id(series: &SeriesKey, mark: &str) -> String {
    format!(
        "candlelake/{}/{}/{}/{mark}",
        series.provider.as_str(),
        series.pair,
        series.timeframe
    )
}

fn coverage_marks(series: &SeriesKey, coverage: TimeRange) -> Vec<Transaction> {
    let now = Utc::now().timestamp_millis();
    vec![
        Transaction::new_with_last_update(
            app_id(series, "to"),
            coverage.end.timestamp_micros(),
            Some(now),
        ),
        Transaction::new_with_last_update(
            app_id(series, "from"),
            FROM_COMPLEMENT - coverage.start.timestamp_micros(),
            Some(now),
        ),
    ]
}
