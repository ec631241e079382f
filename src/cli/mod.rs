//! The command line: clap definitions, and the turn from parsed arguments to an exit code.

mod args;
mod commands;
mod output;

pub use args::{Cli, LogFormat, OutputFormat as OutputFormatArg};
pub use commands::{CommandError, execute};
pub use output::print_summary;

/// Exit codes of the contract.
pub mod exit {
    pub const OK: i32 = 0;
    pub const USAGE: i32 = 1;
    pub const SERIES_FAILED: i32 = 2;
    pub const LOCKED: i32 = 3;
}
