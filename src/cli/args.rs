//! Clap definitions. Every setting flag is `--` + its env name without `CANDLELAKE_`, kebab-case;
//! the values are resolved against env and config file in `plan`.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "candlelake",
    version,
    about = "Backfills OHLCV candles into Delta Lake bronze tables, exactly and incrementally."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct Global {
    /// TOML config file (default: ./candlelake.toml when present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Table root: a directory or an object-store URI [env: CANDLELAKE_LAKE] [default: data/lake].
    #[arg(long, global = true)]
    pub lake: Option<String>,
    /// Holds watermarks/, dlq/ and budget/: a directory or an s3://bucket/prefix URI [env: CANDLELAKE_STATE_DIR] [default: data].
    #[arg(long, global = true)]
    pub state_dir: Option<String>,
    /// How long the lock of an s3:// state dir lasts unrenewed, in ms [env: CANDLELAKE_STATE_LEASE_MS] [default: 60000].
    #[arg(long, global = true)]
    pub state_lease_ms: Option<String>,
    /// Coinbase base URL [env: CANDLELAKE_COINBASE_URL].
    #[arg(long, global = true)]
    pub coinbase_url: Option<String>,
    /// Coinbase requests per second, decimals allowed, 0 = unlimited [env: CANDLELAKE_COINBASE_RPS] [default: 8].
    #[arg(long, global = true)]
    pub coinbase_rps: Option<String>,
    /// `live` or `practice` (selects the Oanda host) [env: CANDLELAKE_OANDA_ENV] [default: live].
    #[arg(long, global = true)]
    pub oanda_env: Option<String>,
    /// Oanda base URL, overriding the env's host [env: CANDLELAKE_OANDA_URL].
    #[arg(long, global = true)]
    pub oanda_url: Option<String>,
    /// Oanda requests per second [env: CANDLELAKE_OANDA_RPS] [default: 50].
    #[arg(long, global = true)]
    pub oanda_rps: Option<String>,
    /// Oanda account id whose instruments `instruments` and pair patterns use [env: CANDLELAKE_OANDA_ACCOUNT].
    #[arg(long, global = true)]
    pub oanda_account: Option<String>,
    /// Alpha Vantage base URL [env: CANDLELAKE_ALPHAVANTAGE_URL].
    #[arg(long, global = true)]
    pub alphavantage_url: Option<String>,
    /// Alpha Vantage requests per second [env: CANDLELAKE_ALPHAVANTAGE_RPS] [default: 0.8].
    #[arg(long, global = true)]
    pub alphavantage_rps: Option<String>,
    /// Alpha Vantage requests per UTC day, kept across runs, 0 = none [env: CANDLELAKE_ALPHAVANTAGE_DAILY_LIMIT] [default: 25].
    #[arg(long, global = true)]
    pub alphavantage_daily_limit: Option<String>,
    /// Prometheus textfile to write after each run (node_exporter's textfile collector) [env: CANDLELAKE_METRICS_FILE].
    #[arg(long, global = true)]
    pub metrics_file: Option<String>,
    /// Pushgateway base URL to push the run's metrics to [env: CANDLELAKE_PUSHGATEWAY_URL].
    #[arg(long, global = true)]
    pub pushgateway_url: Option<String>,
    /// First retry delay in ms; retries wait base, 2×base, 4×base [env: CANDLELAKE_RETRY_BASE_MS] [default: 5000].
    #[arg(long, global = true)]
    pub retry_base_ms: Option<String>,
    /// Longest Retry-After honoured, in ms [env: CANDLELAKE_MAX_RETRY_AFTER_MS] [default: 120000].
    #[arg(long, global = true)]
    pub max_retry_after_ms: Option<String>,
    /// Per-request timeout in ms [env: CANDLELAKE_HTTP_TIMEOUT_MS] [default: 30000].
    #[arg(long, global = true)]
    pub http_timeout_ms: Option<String>,
    /// Finality margin in ms [env: CANDLELAKE_SETTLE_MS] [default: 60000].
    #[arg(long, global = true)]
    pub settle_ms: Option<String>,
    /// Rows of a series gathered before a Delta commit [env: CANDLELAKE_COMMIT_ROWS] [default: 10000].
    #[arg(long, global = true)]
    pub commit_rows: Option<String>,
    /// `local` (this process's own budget) or `redis://host:port/db` (one budget per provider and credential for every process) [env: CANDLELAKE_RATE_LIMITER] [default: local].
    #[arg(long, global = true)]
    pub rate_limiter: Option<String>,
    /// Log lines on stderr as `text` or `json`.
    #[arg(long, global = true, value_enum, default_value_t)]
    pub log_format: LogFormat,
    /// `json` prints the run summary as JSON on stdout.
    #[arg(long, global = true, value_enum, default_value_t)]
    pub output: OutputFormat,
}

impl Global {
    /// The setting flags that were given, keyed by their env name.
    pub fn setting_flags(&self) -> HashMap<String, String> {
        [
            ("CANDLELAKE_LAKE", &self.lake),
            ("CANDLELAKE_STATE_DIR", &self.state_dir),
            ("CANDLELAKE_STATE_LEASE_MS", &self.state_lease_ms),
            ("CANDLELAKE_COINBASE_URL", &self.coinbase_url),
            ("CANDLELAKE_COINBASE_RPS", &self.coinbase_rps),
            ("CANDLELAKE_OANDA_ENV", &self.oanda_env),
            ("CANDLELAKE_OANDA_URL", &self.oanda_url),
            ("CANDLELAKE_OANDA_RPS", &self.oanda_rps),
            ("CANDLELAKE_OANDA_ACCOUNT", &self.oanda_account),
            ("CANDLELAKE_ALPHAVANTAGE_URL", &self.alphavantage_url),
            ("CANDLELAKE_ALPHAVANTAGE_RPS", &self.alphavantage_rps),
            (
                "CANDLELAKE_ALPHAVANTAGE_DAILY_LIMIT",
                &self.alphavantage_daily_limit,
            ),
            ("CANDLELAKE_METRICS_FILE", &self.metrics_file),
            ("CANDLELAKE_PUSHGATEWAY_URL", &self.pushgateway_url),
            ("CANDLELAKE_RETRY_BASE_MS", &self.retry_base_ms),
            ("CANDLELAKE_MAX_RETRY_AFTER_MS", &self.max_retry_after_ms),
            ("CANDLELAKE_HTTP_TIMEOUT_MS", &self.http_timeout_ms),
            ("CANDLELAKE_SETTLE_MS", &self.settle_ms),
            ("CANDLELAKE_COMMIT_ROWS", &self.commit_rows),
            ("CANDLELAKE_RATE_LIMITER", &self.rate_limiter),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
        .collect()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch what coverage lacks in a range, for several pairs and timeframes.
    Backfill(BackfillArgs),
    /// Bring series from their coverage end to the last final candle.
    Topup(TopupArgs),
    /// Show each series' coverage, rows and last run.
    Status(StatusArgs),
    /// Backfill from the bundled fixtures with no HTTP (rows marked is_mock), into data/demo.
    Demo,
    /// Report missing candles against each asset's trading calendar.
    Gaps(GapsArgs),
    /// List what a provider offers: pairs, status, listing and delisting dates, coverage held.
    Instruments(InstrumentsArgs),
    /// Fetch a covered range again and replace exactly the candles the provider changed.
    Refetch(RefetchArgs),
    /// Compact small files, vacuum files no commit references, and checkpoint every table.
    Maintain(MaintainArgs),
    /// Import vendor files (Binance, Polygon, HistData, CSV, Parquet) into the same tables.
    Import(ImportArgs),
    /// Print an Apache Druid batch ingestion spec for each table.
    DruidSpec(DruidSpecArgs),
    /// The dead-letter queue: list files, show one, replay corrected records.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// One line per DLQ file (`--json` for scripts).
    List {
        /// Print JSON on stdout (the same as `--output json`).
        #[arg(long)]
        json: bool,
    },
    /// Print one DLQ file.
    Show {
        /// The file's id, as `dlq list` shows it.
        id: String,
    },
    /// Re-read raw records with today's rules and write those that now pass (all files, or
    /// the given ids); a second replay writes nothing.
    Replay {
        /// Only these files' ids (default: every file).
        ids: Vec<String>,
    },
}

/// A provider, pairs, timeframes and a time range: what `backfill` and `refetch` act on.
#[derive(Debug, Args)]
pub struct RangeArgs {
    /// coinbase, oanda or alphavantage.
    #[arg(long)]
    pub provider: String,
    /// Comma-separated pairs: BTC-USD, btc/usd, ETH_USD, EURUSD, tickers for Alpha Vantage, or
    /// patterns ('*-USD', 'BTC-*') matched against the provider's instrument list.
    #[arg(long)]
    pub pairs: String,
    /// Comma-separated timeframes: 1m 5m 15m 30m 1h 4h 1d.
    #[arg(long)]
    pub timeframes: String,
    /// Inclusive start, UTC: YYYY-MM-DD or RFC 3339.
    #[arg(long)]
    pub start: String,
    /// Exclusive end, UTC (default: now).
    #[arg(long)]
    pub end: Option<String>,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// Print the plan and make no request.
    #[arg(long)]
    pub dry_run: bool,
    /// Ask again for history recorded as unreachable (Alpha Vantage trailing windows, the time
    /// before a pair's listing).
    #[arg(long)]
    pub retry_unreachable: bool,
    /// Run only shard I of N (e.g. 0/4): the series whose FNV-1a hash of
    /// provider/pair/timeframe is I modulo N. Also CANDLELAKE_SHARD, or JOB_COMPLETION_INDEX
    /// with CANDLELAKE_SHARDS=N under a Kubernetes Indexed Job.
    #[arg(long)]
    pub shard: Option<String>,
}

#[derive(Debug, Args)]
pub struct TopupArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Run only shard I of N (e.g. 0/4): the series whose FNV-1a hash of
    /// provider/pair/timeframe is I modulo N. Also CANDLELAKE_SHARD, or JOB_COMPLETION_INDEX
    /// with CANDLELAKE_SHARDS=N under a Kubernetes Indexed Job.
    #[arg(long)]
    pub shard: Option<String>,
}

/// Which series a command is limited to; each part left out selects everything.
#[derive(Debug, Args)]
pub struct SelectionArgs {
    /// Only this provider's series: coinbase, oanda or alphavantage.
    #[arg(long)]
    pub provider: Option<String>,
    /// Comma-separated pairs, or patterns ('*-USD', 'BTC-*') matched against the series held.
    #[arg(long)]
    pub pairs: Option<String>,
    /// Comma-separated timeframes.
    #[arg(long)]
    pub timeframes: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON on stdout (the same as `--output json`).
    #[arg(long)]
    pub json: bool,
    /// Exit 2 when any selected series' coverage lags the last final candle by more than this
    /// (e.g. 90m, 2h, 1d).
    #[arg(long)]
    pub fail_if_stale: Option<String>,
    #[command(flatten)]
    pub selection: SelectionArgs,
}

#[derive(Debug, Args)]
pub struct InstrumentsArgs {
    /// coinbase, oanda or alphavantage.
    #[arg(long)]
    pub provider: String,
    /// Print JSON on stdout (the same as `--output json`).
    #[arg(long)]
    pub json: bool,
    /// Include delisted and disabled instruments (default: online ones only).
    #[arg(long)]
    pub all: bool,
    /// Ask the provider even when the list cached in the state dir is less than a day old.
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Args)]
pub struct RefetchArgs {
    #[command(flatten)]
    pub range: RangeArgs,
}

#[derive(Debug, Args)]
pub struct MaintainArgs {
    /// Only these timeframes' tables (default: all).
    #[arg(long)]
    pub timeframes: Option<String>,
    /// Keep unreferenced files younger than this, for readers of older versions (e.g. 168h);
    /// never less than a table's delta.deletedFileRetentionDuration (7 days) without --force.
    #[arg(long, default_value = "168h")]
    pub vacuum_retention: String,
    /// Allow a --vacuum-retention shorter than a table's own: files that readers of older
    /// versions or a concurrent run's commit still need may be deleted.
    #[arg(long)]
    pub force: bool,
    /// Remove from each table the data files its log references but the store has lost, so
    /// the table reads again (their candles can then be refetched).
    #[arg(long)]
    pub repair: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// binance-klines, polygon-minute-aggs, histdata-m1, csv or parquet.
    #[arg(long)]
    pub format: String,
    /// A file, or a directory whose files of the format are all imported.
    #[arg(long)]
    pub source: String,
    /// The table to import into (required for csv and parquet; Binance file names say it).
    #[arg(long)]
    pub timeframe: Option<String>,
    /// Only these pairs; for a csv or parquet file without a pair column, its one pair.
    #[arg(long)]
    pub pairs: Option<String>,
    /// `source_provider` of the rows (default: binance, polygon or histdata; required for csv
    /// and parquet).
    #[arg(long)]
    pub provider_name: Option<String>,
    /// Columns of a csv or parquet file: timestamp=COL,open=COL,high=COL,low=COL,close=COL,volume=COL,pair=COL.
    #[arg(long)]
    pub map: Option<String>,
    /// Integer open times are in s, ms, us or ns (default: date-time text).
    #[arg(long)]
    pub timestamp_unit: Option<String>,
    /// Zone of date-times without an offset, e.g. America/New_York (default: UTC).
    #[arg(long)]
    pub timezone: Option<String>,
}

#[derive(Debug, Args)]
pub struct DruidSpecArgs {
    /// Comma-separated timeframes whose tables get a spec.
    #[arg(long)]
    pub timeframes: String,
    /// The tables' root as Druid reaches it (default: the lake).
    #[arg(long)]
    pub lake_uri: Option<String>,
}

#[derive(Debug, Args)]
pub struct GapsArgs {
    /// Print JSON on stdout (the same as `--output json`).
    #[arg(long)]
    pub json: bool,
    /// Exit 2 when any gap is found (for CI of data).
    #[arg(long)]
    pub fail_on_gaps: bool,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Inclusive start, UTC (default: each series' coverage start).
    #[arg(long)]
    pub start: Option<String>,
    /// Exclusive end, UTC (default: each series' coverage end).
    #[arg(long)]
    pub end: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every flag and argument of every command says what it is for.
    #[test]
    fn every_flag_has_help_text() {
        fn missing(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                if arg.get_help().is_none() && !matches!(arg.get_id().as_str(), "help" | "version")
                {
                    out.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                missing(sub, &format!("{path} {}", sub.get_name()), out);
            }
        }
        let mut out = Vec::new();
        missing(&super::Cli::command(), "candlelake", &mut out);
        assert!(out.is_empty(), "flags without help: {out:?}");
    }
}
