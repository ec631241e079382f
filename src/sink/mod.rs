//! The Delta tables `raw_market_data_{tf}`: schema, creation, partitioning and commits with
//! application transactions. The only code that touches the Delta tables (vendor Parquet files
//! are read in `ops/import/parquet.rs` with the `arrow` and `parquet` crates `deltalake` re-exports).
//!
//! Contract: a commit is atomic; its rows and its coverage marks (`txn` actions
//! `candlelake/{provider}/{pair}/{tf}/to` and `.../from`) become visible together or not at all.
//! So do an imported file's rows and its mark (`candlelake/import/{key}`, see `import`).

mod batch;
mod datafiles;
mod deleted;
mod history;
mod holdings;
pub mod import;
mod log;
pub mod marks;
mod named;
mod partition;
pub mod read;
mod repair;
mod rewrite;
mod schema;
mod stats;
mod table;
mod view;

pub use history::Removed;
pub use partition::PartitionPeriod;
pub use read::TableRow;
pub use rewrite::Compacted;
pub use schema::{PARTITION_PERIOD_PROPERTY, table_name};
pub use table::{Committed, DeltaSink, SinkError};
pub use view::{Holding, TableView};

#[cfg(test)]
mod tests;
