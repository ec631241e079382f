//! The engine's one error type, and the only mapping from how a command ended to its exit code
//! (the contract's: 0 success, 1 usage before any request, 2 a failure while working, 3
//! locked, including a lease another run took over mid-run, 130/143 interrupted).

use crate::fetch::Stop;
use crate::plan::PlanError;
use crate::providers::FetchError;
use crate::sink::SinkError;
use crate::state::lock::LockError;
use crate::state::watermark::WatermarkError;

/// Exit codes of the contract.
pub mod exit {
    pub const OK: i32 = 0;
    pub const USAGE: i32 = 1;
    pub const FAILED: i32 = 2;
    pub const LOCKED: i32 = 3;
    pub const INTERRUPTED: i32 = 130;
    pub const TERMINATED: i32 = 143;
}

/// Why a command, or one series of it, could not do its work. Every message says what
/// happened and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Found before any request: nothing was written.
    #[error(transparent)]
    Usage(#[from] PlanError),
    #[error(transparent)]
    Locked(#[from] LockError),
    /// Boxed: a Delta error is large, and errors travel through every fetch loop.
    #[error(transparent)]
    Sink(Box<SinkError>),
    #[error(transparent)]
    Watermark(#[from] WatermarkError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("could not write {path}: {source}; check that the directory is writable")]
    Write {
        path: String,
        source: std::io::Error,
    },
    /// A failure while working, already phrased for the user.
    #[error("{0}")]
    Failed(String),
    /// Stopped early: by a signal, or because another run took the lease.
    #[error("{}", .0.message())]
    Interrupted(Stop),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<SinkError> for Error {
    fn from(e: SinkError) -> Self {
        Error::Sink(Box::new(e))
    }
}

impl Error {
    /// A failure to write `path` (a file or object of the state dir, as its store shows it).
    pub fn write(path: &str, source: std::io::Error) -> Self {
        Error::Write {
            path: path.to_string(),
            source,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Locked(LockError::Held { .. }) => exit::LOCKED,
            Error::Interrupted(stop) => stop_code(stop),
            Error::Locked(LockError::Io { .. })
            | Error::Sink(_)
            | Error::Watermark(_)
            | Error::Fetch(_)
            | Error::Write { .. }
            | Error::Failed(_) => exit::FAILED,
        }
    }
}

/// The exit code of a command that ran to its end: a signal's code when one stopped it, 3
/// when it lost its lease, else 0 when everything succeeded (and no `--fail-*` check fired),
/// else 2.
pub fn finished(succeeded: bool, stop: Option<Stop>) -> i32 {
    match stop {
        Some(stop) => stop_code(&stop),
        None if succeeded => exit::OK,
        None => exit::FAILED,
    }
}

/// A lost lease is the contract's "another run holds the lock on this state dir": it exits 3
/// as a run refused at its start does, with the sentence naming the run that took it.
fn stop_code(stop: &Stop) -> i32 {
    match stop {
        Stop::Interrupt => exit::INTERRUPTED,
        Stop::Terminate => exit::TERMINATED,
        Stop::LeaseLost(_) => exit::LOCKED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_failures_are_never_usage_errors() {
        let table = Error::Failed("the table raw_market_data_1h could not be read".into());
        assert_eq!(table.exit_code(), exit::FAILED);
        let io = Error::Locked(LockError::Io {
            dir: "data".into(),
            source: std::io::Error::other("disk"),
        });
        assert_eq!(io.exit_code(), exit::FAILED);
        assert_eq!(Error::Usage(PlanError("x".into())).exit_code(), exit::USAGE);
        assert_eq!(
            Error::Locked(LockError::Held {
                holder: "pid 1".into(),
                dir: "data".into()
            })
            .exit_code(),
            exit::LOCKED
        );
        assert_eq!(Error::Interrupted(Stop::Terminate).exit_code(), 143);
        assert_eq!(finished(true, Some(Stop::Interrupt)), 130);
        let lost = Stop::LeaseLost("another run took the lease".into());
        assert_eq!(finished(false, Some(lost.clone())), exit::LOCKED);
        assert_eq!(Error::Interrupted(lost).exit_code(), exit::LOCKED);
        assert_eq!(finished(false, None), exit::FAILED);
        assert_eq!(finished(true, None), exit::OK);
    }
}
