//! Committing one imported file: its rows (one batch per pair), the removal of the rows an
//! earlier version of the same file brought and of any row at a key the file now holds, and the
//! file's mark (a `txn` action `candlelake/import/{file key}` at the file's version), all in one
//! commit. A file's rows and its mark become visible together or not at all.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::arrow::array::{AsArray, BooleanArray, RecordBatch};
use deltalake::arrow::compute::filter_record_batch;
use deltalake::arrow::datatypes::TimestampMicrosecondType;
use deltalake::arrow::error::ArrowError;
use deltalake::kernel::{Action, LogicalFileView, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableError};
use serde::{Deserialize, Serialize};

use super::PartitionPeriod;
use super::batch::{Labels, build_labelled};
use super::datafiles;
use super::holdings::{Holdings, footprints};
use super::log::AppendLog;
use super::rewrite::{file_batch, group_of, overlaps, pair_of};
use super::table::{COMMIT_TRIES, DeltaSink, SinkError, lost_race_pause};
use crate::failpoint;
use crate::model::{Row, TimeRange};
use crate::providers::{Timeframe, VolumeKind};

/// The rows of one pair read from a file, validated and free of duplicates.
#[derive(Debug, Clone)]
pub struct PairRows {
    pub pair: String,
    pub volume_kind: VolumeKind,
    /// In time order.
    pub rows: Vec<Row>,
}

/// The open times of one pair's rows a file brought: what a changed file replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footprint {
    pub pair: String,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

impl PairRows {
    /// The span of open times these rows cover; `None` when there are none.
    pub fn footprint(&self) -> Option<Footprint> {
        Some(Footprint {
            pair: self.pair.clone(),
            first: self.rows.first()?.candle.open_time,
            last: self.rows.last()?.candle.open_time,
        })
    }
}

/// One file's commit.
pub struct FileCommit<'a> {
    pub timeframe: Timeframe,
    pub period: PartitionPeriod,
    /// `source_provider` of every row: the vendor or `--provider-name`.
    pub source_provider: &'a str,
    pub ingestion_id: &'a str,
    pub groups: Arc<[PairRows]>,
    /// What the previous version of the file brought, when it was imported before.
    pub replaced: &'a [Footprint],
    /// The file's mark and the version this commit records.
    pub app_id: &'a str,
    pub version: i64,
}

/// Rows of one data file at most: a month of minutes in one file, a year of minutes in a few.
const FILE_ROWS: usize = 131_072;

/// Loaded tables of one import run, kept up to date between files instead of re-read.
#[derive(Default)]
pub struct ImportTables {
    tables: HashMap<Timeframe, DeltaTable>,
    /// What each table holds as far as this run knows, kept across its commits.
    holdings: HashMap<Timeframe, Holdings>,
}

impl ImportTables {
    /// The table of `tf`, read up to its latest version; `None` when it does not exist yet.
    async fn current(
        &mut self,
        sink: &DeltaSink,
        tf: Timeframe,
    ) -> Result<Option<&mut DeltaTable>, SinkError> {
        if let Some(table) = self.tables.get_mut(&tf) {
            table
                .update_incremental(None)
                .await
                .map_err(sink.delta_err(tf))?;
        } else if let Some(table) = sink.load(tf).await? {
            self.tables.insert(tf, table);
        }
        Ok(self.tables.get_mut(&tf))
    }

    /// The version a file's mark records in the table of `tf`.
    pub async fn mark(
        &mut self,
        sink: &DeltaSink,
        tf: Timeframe,
        app_id: &str,
    ) -> Result<Option<i64>, SinkError> {
        let err = sink.delta_err(tf);
        let found = sink
            .on_log(tf, None, async |log| log.mark(app_id).await.map_err(&err))
            .await?;
        Ok(found.flatten())
    }

    /// The store of the table of `tf`, the table loaded (created first when it does not exist).
    async fn store(
        &mut self,
        sink: &DeltaSink,
        file: &FileCommit<'_>,
    ) -> Result<datafiles::Store, SinkError> {
        let tf = file.timeframe;
        let err = sink.delta_err(tf);
        if !self.tables.contains_key(&tf) && self.current(sink, tf).await?.is_none() {
            sink.on_log(tf, Some(file.period), async |_| Ok(())).await?;
            self.current(sink, tf).await?;
        }
        let table = self
            .tables
            .get(&tf)
            .ok_or_else(|| err(DeltaTableError::NotATable(sink.location(tf))))?;
        datafiles::Store::of(table.log_store().root_url(), table.object_store()).map_err(err)
    }

    /// Writes the file's rows and commits them with its mark and the removals, creating the
    /// table when it does not exist. Returns the new table version.
    ///
    /// The file's rows are written once. When the run's holdings say they meet no stored file
    /// of their pairs and no other writer added one since, nothing is replaced and the table's
    /// file list is not read. Otherwise the loaded table is brought up to date (while the rows
    /// are written) and the rows the file replaces are found in its file list. The commit
    /// itself goes through the append path's log. When another writer takes the version first,
    /// an append is committed again at the next one, and a replacement is worked out again.
    pub async fn commit(
        &mut self,
        sink: &DeltaSink,
        file: &FileCommit<'_>,
    ) -> Result<u64, SinkError> {
        let tf = file.timeframe;
        let err = sink.delta_err(tf);
        let store = self.store(sink, file).await?;
        let mut written: Option<Vec<Action>> = None;
        let mut tries = 0;
        while tries < COMMIT_TRIES {
            // The version the holdings are true at, when they say the file meets nothing.
            let guard = self
                .holdings
                .get(&tf)
                .filter(|held| !held.may_meet(file))
                .map(|held| held.version);
            let clear = guard.is_some();
            let added = match (written.take(), clear) {
                (Some(added), true) => added,
                (None, true) => write_rows(&store, file).await.map_err(&err)?,
                (Some(added), false) => {
                    self.current(sink, tf).await?;
                    added
                }
                (None, false) => {
                    let (current, added) =
                        tokio::join!(self.current(sink, tf), write_rows(&store, file));
                    current?;
                    added.map_err(&err)?
                }
            };
            let mut actions = Vec::new();
            if !clear {
                let Some(table) = self.tables.get_mut(&tf) else {
                    return Err(err(DeltaTableError::NotATable(sink.location(tf))));
                };
                let (removes, kept) = replaced_rows(table, file).await.map_err(&err)?;
                self.holdings.insert(tf, Holdings::of(table).map_err(&err)?);
                actions = removes;
                actions.extend(write_kept(&store, kept).await.map_err(&err)?);
            }
            let replacing = !actions.is_empty();
            actions.extend(added.iter().cloned());
            written = Some(added);
            failpoint::hit("before_commit");
            let operation = DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: None,
                predicate: Some(format!("import of {}", file.app_id)),
            };
            while tries < COMMIT_TRIES {
                tries += 1;
                let mark = Transaction::new_with_last_update(
                    file.app_id,
                    file.version,
                    Some(Utc::now().timestamp_millis()),
                );
                let landed = sink
                    .on_log(tf, None, async |log| {
                        // Checked on the log as caught up for this commit: another writer's
                        // rows can only come after the commit, never between.
                        if let Some(since) = guard
                            && added_since(log, file, since).await.map_err(&err)?
                        {
                            return Ok(Landed::Met);
                        }
                        let committed = log
                            .commit_actions(
                                actions.clone(),
                                vec![mark],
                                operation.clone(),
                                HashMap::new(),
                            )
                            .await
                            .map_err(&err)?;
                        Ok(committed.map_or(Landed::Lost, Landed::At))
                    })
                    .await?
                    .unwrap_or(Landed::Lost);
                match landed {
                    Landed::At(version) => {
                        failpoint::hit("after_commit");
                        if let Some(held) = self.holdings.get_mut(&tf)
                            && !held.add(file, version)
                        {
                            self.holdings.remove(&tf);
                        }
                        return Ok(version);
                    }
                    // Another writer added rows the file may hold: find them in the file list.
                    Landed::Met => {
                        self.holdings.remove(&tf);
                        break;
                    }
                    Landed::Lost => {
                        lost_race_pause(tries).await;
                        if replacing {
                            break;
                        }
                    }
                }
            }
        }
        Err(SinkError::Busy {
            table: sink.location(tf),
        })
    }
}

/// How a try at an import commit ended.
enum Landed {
    At(u64),
    /// Another writer took the version first.
    Lost,
    /// Another writer added, since the holdings' version, a file that may hold rows of the file.
    Met,
}

/// Whether a commit after `version`, up to the one `log` has caught up with, added a data file
/// that may hold the file's rows (its pairs, its `source_provider`, their spans).
async fn added_since(
    log: &AppendLog,
    file: &FileCommit<'_>,
    version: u64,
) -> Result<bool, DeltaTableError> {
    for f in footprints(file) {
        let span = TimeRange::new(f.first, f.last + chrono::TimeDelta::microseconds(1));
        if log
            .added_since(version, &f.pair, file.source_provider, span)
            .await?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Writes the file's rows as data files of the table; returns their `add` actions. Each pair's
/// rows of one partition are one file (a partition of more than `FILE_ROWS` rows several).
async fn write_rows(
    store: &datafiles::Store,
    file: &FileCommit<'_>,
) -> Result<Vec<Action>, DeltaTableError> {
    let shared = Arc::new(Shared {
        timeframe: file.timeframe,
        period: file.period,
        source_provider: file.source_provider.to_string(),
        ingestion_id: file.ingestion_id.to_string(),
    });
    let mut builds: Vec<Build> = Vec::new();
    for (g, group) in file.groups.iter().enumerate() {
        for rows in partitions(&group.rows, file.period) {
            let (groups, shared) = (file.groups.clone(), shared.clone());
            builds.push(Box::new(move || {
                let group = &groups[g];
                let labels = Labels {
                    pair: &group.pair,
                    timeframe: shared.timeframe,
                    volume_kind: group.volume_kind,
                    source_provider: &shared.source_provider,
                    ingestion_id: &shared.ingestion_id,
                    is_mock: false,
                    period: shared.period,
                };
                build_labelled(&labels, &group.rows[rows])
            }));
        }
    }
    adds(store, builds).await
}

/// Writes the kept rows of the files a commit replaces, each file's as one data file.
async fn write_kept(
    store: &datafiles::Store,
    kept: Vec<RecordBatch>,
) -> Result<Vec<Action>, DeltaTableError> {
    let builds: Vec<Build> = kept
        .into_iter()
        .filter(|b| b.num_rows() > 0)
        .map(|batch| Box::new(move || Ok(batch)) as Build)
        .collect();
    adds(store, builds).await
}

/// A data file's batch, made on the encoder's thread.
type Build = Box<dyn FnOnce() -> Result<RecordBatch, ArrowError> + Send>;

async fn adds(
    store: &datafiles::Store,
    builds: Vec<Build>,
) -> Result<Vec<Action>, DeltaTableError> {
    let adds = datafiles::write(store, builds).await?;
    Ok(adds.into_iter().map(Action::Add).collect())
}

/// What every row of one file shares besides its pair.
struct Shared {
    timeframe: Timeframe,
    period: PartitionPeriod,
    source_provider: String,
    ingestion_id: String,
}

/// The spans of `rows` (in time order) that are each one data file: rows of one partition date,
/// at most `FILE_ROWS` of them.
fn partitions(rows: &[Row], period: PartitionPeriod) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let date = period.partition_date(rows[start].candle.open_time);
        let mut end = start + 1;
        while end < rows.len()
            && end - start < FILE_ROWS
            && period.partition_date(rows[end].candle.open_time) == date
        {
            end += 1;
        }
        spans.push(start..end);
        start = end;
    }
    spans
}

/// The files of the table holding rows this file replaces, as `remove` actions, and each such
/// file's other rows, to be written again.
async fn replaced_rows(
    table: &DeltaTable,
    file: &FileCommit<'_>,
) -> Result<(Vec<Action>, Vec<RecordBatch>), DeltaTableError> {
    let old: HashMap<&str, (DateTime<Utc>, DateTime<Utc>)> = file
        .replaced
        .iter()
        .map(|f| (f.pair.as_str(), (f.first, f.last)))
        .collect();
    let spans: HashMap<&str, (DateTime<Utc>, DateTime<Utc>)> = file
        .groups
        .iter()
        .filter_map(|g| {
            g.footprint()
                .map(|fp| (g.pair.as_str(), (fp.first, fp.last)))
        })
        .collect();
    // The pair is a partition value, read without parsing the file's statistics: most files of
    // a large table hold other pairs.
    let files: Vec<LogicalFileView> = table
        .snapshot()?
        .log_data()
        .iter()
        .filter(|f| {
            pair_of(f)
                .is_some_and(|p| old.contains_key(p.as_str()) || spans.contains_key(p.as_str()))
        })
        .collect();
    let (mut removes, mut kept) = (Vec::new(), Vec::new());
    let mut keys: HashMap<String, HashSet<i64>> = HashMap::new();
    for f in files {
        let group = group_of(&f);
        if group.provider != file.source_provider {
            continue;
        }
        let pair = group.asset_pair.as_str();
        let old_span = old.get(pair).copied();
        let new_span = spans.get(pair).copied();
        let touches = |span: Option<(DateTime<Utc>, DateTime<Utc>)>| {
            span.is_some_and(|(first, last)| {
                overlaps(&f, first, last + chrono::TimeDelta::microseconds(1))
            })
        };
        if !touches(old_span) && !touches(new_span) {
            continue;
        }
        let batch = file_batch(table, &f).await?;
        let times = batch.column(0).as_primitive::<TimestampMicrosecondType>();
        // The open times of the file's rows of this pair, gathered only for a pair whose stored
        // rows the file overlaps (a first import of new history overlaps none).
        let new_keys = keys.entry(pair.to_string()).or_insert_with(|| {
            file.groups
                .iter()
                .filter(|g| g.pair == pair)
                .flat_map(|g| g.rows.iter().map(|r| r.candle.open_time.timestamp_micros()))
                .collect()
        });
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|i| {
                let t = times.value(i);
                let in_old = old_span.is_some_and(|(first, last)| {
                    first.timestamp_micros() <= t && t <= last.timestamp_micros()
                });
                let in_new = new_keys.contains(&t);
                Some(!(in_old || in_new))
            })
            .collect();
        if keep.true_count() == batch.num_rows() {
            continue;
        }
        kept.push(filter_record_batch(&batch, &keep)?);
        removes.push(Action::Remove(f.remove_action(true)));
    }
    Ok((removes, kept))
}
