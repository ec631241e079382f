//! Files beside the tables: watermarks, the dead-letter queue, the cached instrument lists, and
//! the state dir they are kept in (a directory or object storage, `store`) with its lock.

pub mod atomic;
pub mod dlq;
pub mod instruments;
pub mod lease;
pub mod lock;
pub mod quota;
pub mod store;
pub mod watermark;
