//! Data files written straight to a table's store: each batch (rows of one partition, in the
//! table's full schema) encoded as one Parquet file on the blocking pool, a few at a time so
//! both cores encode and memory stays bounded, then written once (a local table's file by the
//! same thread, straight to its place; an object store's as one put), and described by the
//! `add` action a commit needs (partition values and the statistics of the stats columns).
//! A file is referenced only once its commit lands: one left by a failed or killed write is an
//! orphan that `maintain` vacuums, whether complete or not.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::DateTime;
use chrono::format::{Item, StrftimeItems};
use delta_kernel::expressions::Scalar;
use deltalake::DeltaTableError;
use deltalake::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use deltalake::arrow::compute::{max, max_string, min, min_string};
use deltalake::arrow::datatypes::{DataType, Date32Type, SchemaRef, TimestampMicrosecondType};
use deltalake::arrow::error::ArrowError;
use deltalake::kernel::Add;
use deltalake::kernel::scalars::ScalarExt as _;
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::{ColumnCountStat, ColumnValueStat, Stats};
use futures::{StreamExt, TryStreamExt, stream};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _};

use super::schema::{PARTITION_COLUMNS, STATS_COLUMNS, arrow_schema};

/// Files being encoded or put at once: enough for both cores, few enough that only a handful
/// of files are held in memory.
const IN_FLIGHT: usize = 4;

/// The columns a data file holds: the table's, without the partition columns.
static FILE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let schema = arrow_schema();
    Arc::new(
        schema
            .project(&(0..schema.fields().len() - PARTITION_COLUMNS.len()).collect::<Vec<_>>())
            .expect("the data columns are the first ones"),
    )
});

/// How the files are encoded: no dictionary for the prices and times (nearly every value
/// differs), one for the label columns (one value per file); Parquet statistics for the open
/// time only (the log's statistics are what Delta readers skip files by, written here).
static PROPERTIES: LazyLock<WriterProperties> = LazyLock::new(|| {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_column_statistics_enabled(ColumnPath::from("timestamp"), EnabledStatistics::Chunk);
    for field in FILE_SCHEMA.fields() {
        if field.data_type() == &DataType::Utf8 {
            let column = ColumnPath::from(field.name().as_str());
            builder = builder.set_column_dictionary_enabled(column, true);
        }
    }
    builder.build()
});

/// Where a table's data files go.
#[derive(Clone)]
pub(super) enum Store {
    /// A table on the local file system, at this directory.
    Local(Arc<LocalFileSystem>),
    Objects(Arc<dyn ObjectStore>),
}

impl Store {
    /// The store of the table at `url` whose object store is `objects`.
    pub(super) fn of(
        url: &url::Url,
        objects: Arc<dyn ObjectStore>,
    ) -> Result<Self, DeltaTableError> {
        if url.scheme() != "file" {
            return Ok(Store::Objects(objects));
        }
        let root = url
            .to_file_path()
            .map_err(|()| DeltaTableError::Generic(format!("{url} is not a local directory")))?;
        Ok(Store::Local(Arc::new(LocalFileSystem::new_with_prefix(
            root,
        )?)))
    }
}

/// Writes one data file for each batch `build` makes, each batch all of one partition; returns
/// their `add` actions in the order of the batches. A file's batch is built on the blocking
/// pool too, just before it is encoded.
pub(super) async fn write<F>(
    store: &Store,
    builds: impl IntoIterator<Item = F>,
) -> Result<Vec<Add>, DeltaTableError>
where
    F: FnOnce() -> Result<RecordBatch, ArrowError> + Send + 'static,
{
    let writer = uuid::Uuid::new_v4();
    stream::iter(builds.into_iter().enumerate())
        .map(|(i, build)| {
            let store = store.clone();
            async move {
                let name = format!("part-{i:05}-{writer}-c000.snappy.parquet");
                let local = match &store {
                    Store::Local(files) => Some(files.clone()),
                    Store::Objects(_) => None,
                };
                let (path, bytes, add) = tokio::task::spawn_blocking(move || {
                    let (path, bytes, add) = encode(build()?, &name)?;
                    if let Some(files) = local {
                        write_local(&files, &path, &bytes)?;
                    }
                    Ok::<_, DeltaTableError>((path, bytes, add))
                })
                .await
                .map_err(|e| {
                    DeltaTableError::Generic(format!("a Parquet encoder stopped: {e}"))
                })??;
                if let Store::Objects(objects) = &store {
                    objects.put(&path, bytes.into()).await?;
                }
                Ok((i, add))
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<_>>()
        .await
        .map(|mut adds| {
            adds.sort_unstable_by_key(|(i, _)| *i);
            adds.into_iter().map(|(_, add)| add).collect()
        })
}

/// Writes a local data file in place, creating its partition's directories.
fn write_local(files: &LocalFileSystem, path: &Path, bytes: &[u8]) -> Result<(), DeltaTableError> {
    let file = files.path_to_filesystem(path)?;
    let failed = |e: std::io::Error| {
        DeltaTableError::Generic(format!(
            "the data file {} could not be written: {e}",
            file.display()
        ))
    };
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    std::fs::write(&file, bytes).map_err(failed)
}

/// One partition's batch as a Parquet file named `name` in its partition's directory: its path,
/// its bytes and its `add` action.
fn encode(batch: RecordBatch, name: &str) -> Result<(Path, Vec<u8>, Add), DeltaTableError> {
    let n = batch.num_rows();
    let data = batch.project(&(0..FILE_SCHEMA.fields().len()).collect::<Vec<_>>())?;
    let data = RecordBatch::try_new(FILE_SCHEMA.clone(), data.columns().to_vec())?;
    let partition = |i: usize| batch.column(FILE_SCHEMA.fields().len() + i);
    let date = Scalar::Date(partition(0).as_primitive::<Date32Type>().value(0));
    let pair = Scalar::String(partition(1).as_string::<i32>().value(0).to_string());
    let dir = format!(
        "{}={}/{}={}",
        PARTITION_COLUMNS[0],
        date.serialize_encoded(),
        PARTITION_COLUMNS[1],
        pair.serialize_encoded()
    );
    let path = Path::parse(dir)?.join(name);
    let mut writer = ArrowWriter::try_new(
        Vec::with_capacity(n * 64),
        FILE_SCHEMA.clone(),
        Some(PROPERTIES.clone()),
    )?;
    writer.write(&data)?;
    let bytes = writer.into_inner()?;
    let modification_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let add = Add {
        path: path.to_string(),
        size: bytes.len() as i64,
        partition_values: HashMap::from([
            (PARTITION_COLUMNS[0].to_string(), Some(date.serialize())),
            (PARTITION_COLUMNS[1].to_string(), Some(pair.serialize())),
        ]),
        modification_time,
        data_change: true,
        stats: Some(serde_json::to_string(&stats(&data)?)?),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    };
    Ok((path, bytes, add))
}

/// The statistics of the stats columns, as delta-rs writes them: row count, minimum, maximum
/// and null count; times in UTC to the millisecond, without a fraction when it is zero.
fn stats(data: &RecordBatch) -> Result<Stats, DeltaTableError> {
    let mut stats = Stats {
        num_records: data.num_rows() as i64,
        ..Stats::default()
    };
    for name in STATS_COLUMNS.split(',') {
        let column = data.column_by_name(name).ok_or_else(|| {
            DeltaTableError::Generic(format!("the stats column {name} is not a column"))
        })?;
        let Some((low, high)) = bounds(column) else {
            continue;
        };
        stats
            .min_values
            .insert(name.to_string(), ColumnValueStat::Value(low));
        stats
            .max_values
            .insert(name.to_string(), ColumnValueStat::Value(high));
        stats.null_count.insert(
            name.to_string(),
            ColumnCountStat::Value(column.null_count() as i64),
        );
    }
    Ok(stats)
}

/// A string or time column's least and greatest values; `None` when it has no value.
fn bounds(column: &ArrayRef) -> Option<(serde_json::Value, serde_json::Value)> {
    match column.data_type() {
        DataType::Utf8 => {
            let strings = column.as_string::<i32>();
            Some((min_string(strings)?.into(), max_string(strings)?.into()))
        }
        DataType::Timestamp(_, _) => {
            let times = column.as_primitive::<TimestampMicrosecondType>();
            Some((time(min(times)?)?, time(max(times)?)?))
        }
        _ => None,
    }
}

fn time(micros: i64) -> Option<serde_json::Value> {
    let t = DateTime::from_timestamp_micros(micros)?;
    let format = if t.timestamp_subsec_nanos() == 0 {
        &*WHOLE_SECONDS
    } else {
        &*MILLISECONDS
    };
    Some(t.format_with_items(format.iter()).to_string().into())
}

/// The two shapes of a time in the statistics, parsed once.
static WHOLE_SECONDS: LazyLock<Vec<Item<'static>>> = LazyLock::new(|| {
    StrftimeItems::new("%Y-%m-%dT%H:%M:%SZ")
        .parse_to_owned()
        .expect("a valid format")
});
static MILLISECONDS: LazyLock<Vec<Item<'static>>> = LazyLock::new(|| {
    StrftimeItems::new("%Y-%m-%dT%H:%M:%S%.3fZ")
        .parse_to_owned()
        .expect("a valid format")
});
