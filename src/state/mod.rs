//! Files beside the tables: watermarks, the dead-letter queue, the cached instrument lists, and
//! the one atomic-write helper they share.

pub mod atomic;
pub mod dlq;
pub mod instruments;
pub mod lock;
pub mod quota;
pub mod watermark;
