//! The Delta tables `raw_market_data_{tf}`: schema, creation, partitioning and commits with
//! application transactions. The only code that touches `deltalake`.
//!
//! Contract: a commit is atomic; its rows and its coverage marks (`txn` actions
//! `candlelake/{provider}/{pair}/{tf}/to` and `.../from`) become visible together or not at all.

mod batch;
mod log;
mod partition;
pub mod read;
mod rewrite;
mod schema;
mod table;

pub use partition::PartitionPeriod;
pub use read::TableRow;
pub use rewrite::Compacted;
pub use schema::{PARTITION_PERIOD_PROPERTY, table_name};
pub use table::{Committed, DeltaSink, SinkError};

#[cfg(test)]
mod tests;
