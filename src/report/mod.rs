//! What a run tells its user and its platform: the run summary, metrics, progress.

pub mod import_progress;
pub mod metrics;
pub mod pipes;
pub mod progress;
pub mod summary;
