//! Files beside the tables: watermarks, the dead-letter queue, and the one atomic-write helper
//! they share.

pub mod atomic;
pub mod budget;
pub mod dlq;
pub mod lock;
pub mod watermark;
