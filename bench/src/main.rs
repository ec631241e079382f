//! `candlelake-bench`: a synthetic Coinbase Advanced Trade server (`serve`) and the benchmark
//! driver that runs candlelake against it (`run`).

mod candles;
mod run;
mod serve;

use std::path::PathBuf;
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

#[derive(Debug, Args)]
struct Blackout {
    /// Start a 429 blackout (Retry-After: 2) this many ms after the first request.
    #[arg(long, requires = "blackout_ms")]
    blackout_after_ms: Option<u64>,
    /// Length of the blackout in ms.
    #[arg(long, requires = "blackout_after_ms")]
    blackout_ms: Option<u64>,
}

impl Blackout {
    fn get(&self) -> Option<(u64, u64)> {
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
    Run {
        /// Total candles to backfill (pairs x buckets).
        #[arg(long, required_unless_present = "duration_s")]
        candles: Option<u64>,
        /// Number of synthetic pairs (B00-USD, B01-USD, ...).
        #[arg(long, default_value_t = 20)]
        pairs: u32,
        /// Timeframe: 1m 5m 15m 30m 1h 4h 1d.
        #[arg(long, default_value = "1m")]
        timeframe: String,
        /// candlelake's Coinbase requests per second (CANDLELAKE_COINBASE_RPS); 0 = unlimited.
        #[arg(long, default_value = "0")]
        rps: String,
        /// Make the server enforce 10 requests/s, burst 15.
        #[arg(long)]
        rate_limit: bool,
        /// Stop candlelake with SIGTERM after this many seconds (the range is sized to outlast it).
        #[arg(long)]
        duration_s: Option<u64>,
        #[command(flatten)]
        blackout: Blackout,
        /// The candlelake binary [default: next to this binary, else target/release/candlelake].
        #[arg(long)]
        binary: Option<PathBuf>,
        /// Keep the temp dir (lake, state, candlelake's stderr) instead of removing it.
        #[arg(long)]
        keep: bool,
    },
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
        Cmd::Run {
            candles,
            pairs,
            timeframe,
            rps,
            rate_limit,
            duration_s,
            blackout,
            binary,
            keep,
        } => run::run(run::RunOptions {
            candles,
            pairs,
            timeframe,
            rps,
            rate_limit,
            duration_s,
            blackout: blackout.get(),
            binary,
            keep,
        }),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("candlelake-bench: {e}");
            ExitCode::from(2)
        }
    }
}
