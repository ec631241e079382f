//! The command line: clap definitions (`args`), the turn from parsed arguments to an operation
//! and its exit code (`commands`), and printing reports (`output`).

mod args;
mod commands;
mod import;
mod output;

pub use args::{Cli, LogFormat, OutputFormat};
pub use commands::execute;
