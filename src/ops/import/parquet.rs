//! Parquet files → the same header-and-lines text a CSV file is, so that one reader checks
//! both: the mapped columns only, each cast to text exactly (strings, integers, decimals,
//! timestamps). A floating-point price column is refused: its values are binary fractions, not
//! the exact decimals a vendor published. The `arrow` and `parquet` crates are the ones
//! `deltalake` re-exports: one copy in the build.

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::formats::MAP_FIELDS;
use super::formats::ReadOptions;

/// The file's mapped columns as CSV text with a header of the mapped names; a row's line is
/// its 1-based row number plus one.
pub fn text(bytes: Vec<u8>, options: &ReadOptions) -> Result<String, String> {
    let unreadable = |e: &dyn std::fmt::Display| format!("it is not a readable Parquet file ({e})");
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| unreadable(&e))?;
    let schema = builder.schema().clone();
    let columns: Vec<(usize, &str)> = MAP_FIELDS
        .iter()
        .filter_map(|field| {
            let name = options.map.column(field);
            schema.index_of(name).ok().map(|i| (i, name))
        })
        .collect();
    for (i, name) in &columns {
        if matches!(
            schema.field(*i).data_type(),
            DataType::Float16 | DataType::Float32 | DataType::Float64
        ) {
            return Err(format!(
                "its column '{name}' holds floating-point numbers, which are not exact; write prices as strings or decimals"
            ));
        }
    }
    let mut out = columns
        .iter()
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for batch in builder.build().map_err(|e| unreadable(&e))? {
        let batch: RecordBatch = batch.map_err(|e| unreadable(&e))?;
        let texts = columns
            .iter()
            .map(|(i, _)| cast(batch.column(*i), &DataType::Utf8))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unreadable(&e))?;
        for row in 0..batch.num_rows() {
            for (c, column) in texts.iter().enumerate() {
                if c > 0 {
                    out.push(',');
                }
                let strings = column.as_string::<i32>();
                if strings.is_valid(row) {
                    out.push_str(strings.value(row));
                }
            }
            out.push('\n');
        }
    }
    Ok(out)
}
