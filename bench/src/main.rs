//! `candlelake-bench`: a synthetic Coinbase Advanced Trade server (`serve`) and the benchmark
//! driver that runs candlelake against it (`run`).

mod candles;
mod run;
mod serve;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "candlelake-bench",
    about = "Benchmarks candlelake against a synthetic Coinbase server."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Clone, Args)]
pub struct Blackout {
    /// Start a 429 blackout (Retry-After: 2) this many ms after the first request.
    #[arg(long, requires = "blackout_ms")]
    pub blackout_after_ms: Option<u64>,
    /// Length of the blackout in ms.
    #[arg(long, requires = "blackout_after_ms")]
    pub blackout_ms: Option<u64>,
}

impl Blackout {
    pub fn get(&self) -> Option<(u64, u64)> {
        self.blackout_after_ms.zip(self.blackout_ms)
    }
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Serve synthetic Coinbase Advanced Trade public candles on 127.0.0.1 (and GET /stats).
    Serve {
        /// Port to listen on; 0 picks a free one (printed as `listening 127.0.0.1:PORT`).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Enforce Coinbase's public limit: 10 requests/s, burst 15, else 429.
        #[arg(long)]
        rate_limit: bool,
        #[command(flatten)]
        blackout: Blackout,
    },
    /// Run candlelake against a fresh server and report throughput, requests, 429s and RSS.
    Run(run::RunOptions),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Serve {
            port,
            rate_limit,
            blackout,
        } => serve::serve(serve::ServeOptions {
            port,
            rate_limit,
            blackout: blackout
                .get()
                .map(|(a, l)| (Duration::from_millis(a), Duration::from_millis(l))),
        })
        .map(|()| 0),
        Cmd::Run(options) => run::run(options),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("candlelake-bench: {e}");
            ExitCode::from(2)
        }
    }
}
