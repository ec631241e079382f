//! Opening, creating and appending to one Delta table per timeframe, with the series' coverage
//! recorded as application transactions in the same commit as its rows.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use tokio::sync::Mutex;
use url::Url;

use super::batch;
use super::schema::{
    PARTITION_COLUMNS, PARTITION_PERIOD_PROPERTY, STATS_COLUMNS, delta_columns, table_name,
};
use crate::enrich::{Lineage, PartitionPeriod, Row, SeriesKey};
use crate::failpoint;
use crate::providers::Timeframe;

/// A series' covered range `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

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
        "the table {table} records partition period '{recorded}', but the config asks for '{wanted}'; remove [tables.{tf}] partition_period or set it to '{recorded}'"
    )]
    PeriodConflict {
        table: String,
        tf: Timeframe,
        recorded: String,
        wanted: &'static str,
    },
    #[error(
        "the lake location '{0}' is not a valid path or URL; set CANDLELAKE_LAKE to a directory or s3:// URI"
    )]
    BadLocation(String),
}

type TableSlot = Arc<Mutex<Option<DeltaTable>>>;

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

    fn location(&self, tf: Timeframe) -> String {
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

    /// Loads the table if it exists; `None` when nothing has been written yet.
    pub(super) async fn load(&self, tf: Timeframe) -> Result<Option<DeltaTable>, SinkError> {
        let url = self.url(tf)?;
        if url.scheme() == "file"
            && !url
                .to_file_path()
                .is_ok_and(|p| p.join("_delta_log").exists())
        {
            return Ok(None);
        }
        let mut table = DeltaTableBuilder::from_url(url)
            .and_then(|b| b.build())
            .map_err(self.delta_err(tf))?;
        match table.load().await {
            Ok(()) => Ok(Some(table)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(self.delta_err(tf)(e)),
        }
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
        if guard.is_none() {
            *guard = self.load(tf).await?;
        }
        let Some(table) = guard.as_ref() else {
            return Ok(wanted);
        };
        let recorded = table
            .snapshot()
            .map_err(self.delta_err(tf))?
            .metadata()
            .configuration()
            .get(PARTITION_PERIOD_PROPERTY)
            .cloned();
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
                ("delta.dataSkippingStatsColumns", Some(STATS_COLUMNS)),
            ])
            .with_raise_if_key_not_exists(false)
            .with_save_mode(SaveMode::Ignore)
            .await
            .map_err(self.delta_err(tf))
    }

    /// Appends `rows` of one series and widens its coverage to `wanted`, in one commit.
    ///
    /// The table is the source of truth: before each try the latest snapshot's coverage marks
    /// are read, rows they already cover are dropped, and an empty commit is skipped. Two
    /// commits of one series conflict (same `txn` app ids); the loser reloads and tries again.
    pub async fn commit(
        &self,
        lineage: &Lineage,
        rows: &[Row],
        wanted: Coverage,
    ) -> Result<Committed, SinkError> {
        let series = &lineage.series;
        let tf = series.timeframe;
        let err = self.delta_err(tf);
        let slot = self.slot(tf);
        let mut guard = slot.lock().await;
        for _ in 0..COMMIT_TRIES {
            let table = self.open_for_write(&mut guard, lineage).await?;
            let recorded = marks(table, series).await.map_err(&err)?;
            let coverage = match recorded {
                None => wanted,
                Some(r) if r.from <= wanted.from && wanted.to <= r.to => {
                    return Ok(Committed {
                        version: None,
                        coverage: r,
                        dropped: rows.len(),
                    });
                }
                Some(r) if wanted.to < r.from || r.to < wanted.from => {
                    return Err(SinkError::CoverageMoved {
                        series: series.to_string(),
                    });
                }
                Some(r) => Coverage {
                    from: r.from.min(wanted.from),
                    to: r.to.max(wanted.to),
                },
            };
            let fresh: Vec<Row> = match recorded {
                Some(r) => rows
                    .iter()
                    .filter(|row| !r.contains(row.candle.open_time))
                    .cloned()
                    .collect(),
                None => rows.to_vec(),
            };
            let dropped = rows.len() - fresh.len();
            match self.try_commit(table, lineage, &fresh, coverage).await {
                Ok(version) => {
                    return Ok(Committed {
                        version: Some(version),
                        coverage,
                        dropped,
                    });
                }
                Err(e) if is_conflict(&e) => {
                    tracing::info!(series = %series, "Another writer committed this series first; reloading and trying again.");
                    *guard = None;
                }
                Err(e) => return Err(err(e)),
            }
        }
        Err(SinkError::CoverageMoved {
            series: series.to_string(),
        })
    }

    /// Appends rows without moving coverage (replayed DLQ records, which coverage holds).
    pub async fn append(&self, lineage: &Lineage, rows: &[Row]) -> Result<u64, SinkError> {
        let tf = lineage.series.timeframe;
        let err = self.delta_err(tf);
        let slot = self.slot(tf);
        let mut guard = slot.lock().await;
        let table = self.open_for_write(&mut guard, lineage).await?;
        let batch = batch::build(lineage, rows).map_err(|e| err(e.into()))?;
        let mut writer = RecordBatchWriter::for_table(table).map_err(&err)?;
        writer.write(batch).await.map_err(&err)?;
        let adds = writer
            .flush()
            .await
            .map_err(&err)?
            .into_iter()
            .map(Action::Add)
            .collect();
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: None,
            predicate: None,
        };
        let finalized = CommitBuilder::default()
            .with_actions(adds)
            .build(
                Some(table.snapshot().map_err(&err)?),
                table.log_store(),
                operation,
            )
            .await
            .map_err(&err)?;
        let version = finalized.version();
        table.state = Some(finalized.snapshot());
        Ok(version)
    }

    /// The table of `lineage`'s timeframe at its latest version: the cached one brought up to
    /// date, else loaded, else created with the lineage's partition period.
    async fn open_for_write<'a>(
        &self,
        slot: &'a mut Option<DeltaTable>,
        lineage: &Lineage,
    ) -> Result<&'a mut DeltaTable, SinkError> {
        let tf = lineage.series.timeframe;
        let table = match slot.take() {
            Some(mut t) => {
                t.update_incremental(None)
                    .await
                    .map_err(self.delta_err(tf))?;
                t
            }
            None => match self.load(tf).await? {
                Some(t) => t,
                None => self.create(tf, lineage.partition_period).await?,
            },
        };
        Ok(slot.insert(table))
    }

    async fn try_commit(
        &self,
        table: &mut DeltaTable,
        lineage: &Lineage,
        rows: &[Row],
        coverage: Coverage,
    ) -> Result<u64, DeltaTableError> {
        let mut actions = Vec::new();
        if !rows.is_empty() {
            let batch = batch::build(lineage, rows)?;
            let mut writer = RecordBatchWriter::for_table(table)?;
            writer.write(batch).await?;
            actions.extend(writer.flush().await?.into_iter().map(Action::Add));
        }
        failpoint::hit("before_commit");
        let txns = coverage_marks(&lineage.series, coverage);
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(PARTITION_COLUMNS.iter().map(|c| c.to_string()).collect()),
            predicate: None,
        };
        let finalized =
            CommitBuilder::from(CommitProperties::default().with_application_transactions(txns))
                .with_actions(actions)
                .build(Some(table.snapshot()?), table.log_store(), operation)
                .await?;
        let version = finalized.version();
        table.state = Some(finalized.snapshot());
        failpoint::hit("after_commit");
        Ok(version)
    }

    /// The coverage a table records for a series, from its application transactions.
    pub async fn recorded_coverage(
        &self,
        series: &SeriesKey,
    ) -> Result<Option<Coverage>, SinkError> {
        let tf = series.timeframe;
        let Some(table) = self.load(tf).await? else {
            return Ok(None);
        };
        marks(&table, series).await.map_err(self.delta_err(tf))
    }
}

/// What a commit did.
#[derive(Debug, Clone, Copy)]
pub struct Committed {
    /// The new table version; `None` when nothing needed committing.
    pub version: Option<u64>,
    /// The series' coverage as the table now records it.
    pub coverage: Coverage,
    /// Rows left out because the table already covered them (another run wrote them).
    pub dropped: usize,
}

const COMMIT_TRIES: usize = 10;

fn is_conflict(e: &DeltaTableError) -> bool {
    matches!(
        e,
        DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(_) | TransactionError::MaxCommitAttempts(_)
        } | DeltaTableError::VersionAlreadyExists(_)
    )
}

async fn marks(
    table: &DeltaTable,
    series: &SeriesKey,
) -> Result<Option<Coverage>, DeltaTableError> {
    let state = table.snapshot()?;
    let store = table.log_store();
    let to = state
        .transaction_version(store.as_ref(), app_id(series, "to"))
        .await?;
    let from = state
        .transaction_version(store.as_ref(), app_id(series, "from"))
        .await?;
    let at = DateTime::from_timestamp_micros;
    Ok(match (from, to) {
        (Some(f), Some(t)) => at(FROM_COMPLEMENT - f)
            .zip(at(t))
            .map(|(from, to)| Coverage { from, to }),
        _ => None,
    })
}

impl Coverage {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }
}

fn app_id(series: &SeriesKey, mark: &str) -> String {
    format!(
        "candlelake/{}/{}/{}/{mark}",
        series.provider.as_str(),
        series.pair,
        series.timeframe
    )
}

fn coverage_marks(series: &SeriesKey, coverage: Coverage) -> Vec<Transaction> {
    let now = Utc::now().timestamp_millis();
    vec![
        Transaction::new_with_last_update(
            app_id(series, "to"),
            coverage.to.timestamp_micros(),
            Some(now),
        ),
        Transaction::new_with_last_update(
            app_id(series, "from"),
            FROM_COMPLEMENT - coverage.from.timestamp_micros(),
            Some(now),
        ),
    ]
}
