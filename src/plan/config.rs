//! Settings from flags, then environment, then the TOML config file, then defaults.
//! File keys are the env name without `CANDLELAKE_`, lower-snake, with provider settings in the
//! provider's table (`[coinbase] rps`) and table settings in `[tables.<tf>]`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rust_decimal::Decimal;

use super::PlanError;
use super::credentials::Credentials;
use crate::providers::alphavantage::AssetClass;
use crate::providers::{ProviderId, Timeframe};
use crate::sink::PartitionPeriod;

const PROVIDER_SECTIONS: [&str; 3] = ["coinbase", "oanda", "alphavantage"];

/// Everything a run needs besides the request itself.
#[derive(Debug, Clone)]
pub struct Settings {
    pub lake: String,
    pub state_dir: PathBuf,
    pub coinbase: Endpoint,
    pub oanda: Endpoint,
    pub alphavantage: Endpoint,
    /// Alpha Vantage requests per UTC day, kept across runs; zero means no limit.
    pub alphavantage_daily_limit: u64,
    /// Asset classes set in `[alphavantage.classes]` (pair → fx, crypto or equity).
    pub alphavantage_classes: HashMap<String, AssetClass>,
    /// Credentials, read only from the environment or the files it names.
    pub credentials: Credentials,
    /// Prometheus textfile written after each run.
    pub metrics_file: Option<PathBuf>,
    /// Pushgateway to push each run's metrics to.
    pub pushgateway_url: Option<String>,
    pub retry_base: Duration,
    pub max_retry_after: Duration,
    pub http_timeout: Duration,
    pub settle: Duration,
    /// Partition periods set in the config file, for tables not created yet.
    pub partition_periods: HashMap<Timeframe, PartitionPeriod>,
    /// Rows gathered before a commit: large enough for healthy Parquet files.
    pub commit_rows: usize,
    /// Windows of one series in flight at once.
    pub window_concurrency: usize,
}

/// Where a provider is and how fast it may be asked.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    /// Requests per second, decimals allowed; zero means unlimited.
    pub rps: Decimal,
}

/// The raw sources of settings. `flags` are keyed by env name (`CANDLELAKE_LAKE`).
#[derive(Debug, Clone, Default)]
pub struct SettingsInput {
    pub flags: HashMap<String, String>,
    pub env: HashMap<String, String>,
    /// `--config FILE`; else `./candlelake.toml` when present.
    pub config_file: Option<PathBuf>,
}

impl SettingsInput {
    /// The process environment, read once here.
    pub fn from_process(flags: HashMap<String, String>, config_file: Option<PathBuf>) -> Self {
        SettingsInput {
            flags,
            env: std::env::vars().collect(),
            config_file,
        }
    }
}

struct Sources {
    flags: HashMap<String, String>,
    env: HashMap<String, String>,
    file: toml::Table,
}

impl Sources {
    fn get(&self, name: &str) -> Option<String> {
        if let Some(v) = self.flags.get(name).or_else(|| self.env.get(name)) {
            return Some(v.clone());
        }
        let key = name.trim_start_matches("CANDLELAKE_").to_ascii_lowercase();
        let value = PROVIDER_SECTIONS
            .iter()
            .find_map(|p| {
                let rest = key.strip_prefix(p)?.strip_prefix('_')?;
                self.file.get(*p)?.as_table()?.get(rest)
            })
            .or_else(|| self.file.get(&key))?;
        Some(match value {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    fn string(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_string())
    }

    fn millis(&self, name: &str, default: u64) -> Result<Duration, PlanError> {
        match self.get(name) {
            None => Ok(Duration::from_millis(default)),
            Some(v) => v.trim().parse::<u64>().map(Duration::from_millis).map_err(|_| {
                PlanError(format!("{name} is '{v}', not a whole number of milliseconds; set it to e.g. {default}"))
            }),
        }
    }

    fn whole(&self, name: &str, default: u64) -> Result<u64, PlanError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.trim().parse::<u64>().map_err(|_| {
                PlanError(format!(
                    "{name} is '{v}', not a whole number; set it to e.g. {default} (0 = no limit)"
                ))
            }),
        }
    }

    fn count(&self, name: &str, default: usize) -> Result<usize, PlanError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    PlanError(format!(
                        "{name} is '{v}', not a positive whole number; set it to e.g. {default}"
                    ))
                }),
        }
    }

    fn rate(&self, name: &str, default: Decimal) -> Result<Decimal, PlanError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => crate::providers::decimal::parse_exact(v.trim())
                .ok()
                .filter(|d| !d.is_sign_negative())
                .ok_or_else(|| PlanError(format!("{name} is '{v}', not a rate in requests per second; set it to e.g. {default} (0 = unlimited)"))),
        }
    }
}

impl Settings {
    pub fn resolve(input: SettingsInput) -> Result<Self, PlanError> {
        let file = load_file(input.config_file.as_deref())?;
        let sources = Sources {
            flags: input.flags,
            env: input.env,
            file,
        };
        Ok(Settings {
            lake: sources.string("CANDLELAKE_LAKE", "data/lake"),
            state_dir: PathBuf::from(sources.string("CANDLELAKE_STATE_DIR", "data")),
            coinbase: Endpoint {
                url: sources.string("CANDLELAKE_COINBASE_URL", "https://api.coinbase.com"),
                rps: sources.rate(
                    "CANDLELAKE_COINBASE_RPS",
                    ProviderId::Coinbase.default_rps(),
                )?,
            },
            oanda: Endpoint {
                url: oanda_url(&sources)?,
                rps: sources.rate("CANDLELAKE_OANDA_RPS", ProviderId::Oanda.default_rps())?,
            },
            alphavantage: Endpoint {
                url: sources.string("CANDLELAKE_ALPHAVANTAGE_URL", "https://www.alphavantage.co"),
                rps: sources.rate(
                    "CANDLELAKE_ALPHAVANTAGE_RPS",
                    ProviderId::AlphaVantage.default_rps(),
                )?,
            },
            alphavantage_daily_limit: sources.whole("CANDLELAKE_ALPHAVANTAGE_DAILY_LIMIT", 25)?,
            alphavantage_classes: classes(&sources.file)?,
            credentials: Credentials::from_env(&sources.env),
            metrics_file: sources.get("CANDLELAKE_METRICS_FILE").map(PathBuf::from),
            pushgateway_url: sources.get("CANDLELAKE_PUSHGATEWAY_URL"),
            retry_base: sources.millis("CANDLELAKE_RETRY_BASE_MS", 5000)?,
            max_retry_after: sources.millis("CANDLELAKE_MAX_RETRY_AFTER_MS", 120_000)?,
            http_timeout: sources.millis("CANDLELAKE_HTTP_TIMEOUT_MS", 30_000)?,
            settle: sources.millis("CANDLELAKE_SETTLE_MS", 60_000)?,
            partition_periods: partition_periods(&sources.file)?,
            commit_rows: sources.count("CANDLELAKE_COMMIT_ROWS", 10_000)?,
            window_concurrency: 4,
        })
    }
}

fn load_file(explicit: Option<&Path>) -> Result<toml::Table, PlanError> {
    let default = Path::new("candlelake.toml");
    let path = match explicit {
        Some(p) => p,
        None if default.exists() => default,
        None => return Ok(toml::Table::new()),
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        PlanError(format!(
            "cannot read the config file {}: {e}; check the path given to --config",
            path.display()
        ))
    })?;
    text.parse::<toml::Table>().map_err(|e| {
        let why = e.message().to_string();
        PlanError(format!(
            "the config file {} is not valid TOML ({why}); fix it or remove it",
            path.display()
        ))
    })
}

/// `CANDLELAKE_OANDA_URL`, else the host of `CANDLELAKE_OANDA_ENV` (live or practice).
fn oanda_url(sources: &Sources) -> Result<String, PlanError> {
    if let Some(url) = sources.get("CANDLELAKE_OANDA_URL") {
        return Ok(url);
    }
    let env = sources.string("CANDLELAKE_OANDA_ENV", "live");
    crate::providers::oanda::host_for(&env)
        .map(str::to_string)
        .ok_or_else(|| {
            PlanError(format!(
                "CANDLELAKE_OANDA_ENV is '{env}'; set it to live or practice"
            ))
        })
}

fn classes(file: &toml::Table) -> Result<HashMap<String, AssetClass>, PlanError> {
    let Some(table) = file
        .get("alphavantage")
        .and_then(|t| t.get("classes"))
        .and_then(|c| c.as_table())
    else {
        return Ok(HashMap::new());
    };
    table
        .iter()
        .map(|(pair, class)| match class.as_str().map(str::parse::<AssetClass>) {
            Some(Ok(c)) => Ok((pair.to_ascii_uppercase(), c)),
            _ => Err(PlanError(format!(
                "config [alphavantage.classes] {pair} = {class}; use \"fx\", \"crypto\" or \"equity\""
            ))),
        })
        .collect()
}

fn partition_periods(file: &toml::Table) -> Result<HashMap<Timeframe, PartitionPeriod>, PlanError> {
    let mut periods = HashMap::new();
    let Some(tables) = file.get("tables").and_then(|t| t.as_table()) else {
        return Ok(periods);
    };
    for (tf, settings) in tables {
        let timeframe = tf
            .parse::<Timeframe>()
            .map_err(|e| PlanError(format!("config [tables.{tf}]: {e}")))?;
        if let Some(period) = settings.get("partition_period") {
            let period = period
                .as_str()
                .unwrap_or_default()
                .parse::<PartitionPeriod>()
                .map_err(|e| PlanError(format!("config [tables.{tf}] partition_period: {e}")))?;
            periods.insert(timeframe, period);
        }
    }
    Ok(periods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_env_beat_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "lake = \"file-lake\"\nstate_dir = \"file-state\"\nretry_base_ms = 7\n[coinbase]\nrps = 0.8\nurl = \"http://file\"\n[tables.1h]\npartition_period = \"day\"\n").unwrap();
        let input = SettingsInput {
            flags: HashMap::from([("CANDLELAKE_LAKE".into(), "flag-lake".into())]),
            env: HashMap::from([
                ("CANDLELAKE_LAKE".into(), "env-lake".into()),
                ("CANDLELAKE_STATE_DIR".into(), "env-state".into()),
            ]),
            config_file: Some(file),
        };
        let s = Settings::resolve(input).unwrap();
        assert_eq!(s.lake, "flag-lake");
        assert_eq!(s.state_dir, PathBuf::from("env-state"));
        assert_eq!(s.coinbase.url, "http://file");
        assert_eq!(s.coinbase.rps.to_string(), "0.8");
        assert_eq!(s.oanda.url, "https://api-fxtrade.oanda.com");
        assert_eq!(s.alphavantage.rps.to_string(), "0.8");
        assert_eq!(s.alphavantage_daily_limit, 25);
        assert_eq!(s.retry_base, Duration::from_millis(7));
        assert_eq!(s.partition_periods[&Timeframe::H1], PartitionPeriod::Day);
        assert_eq!(s.settle, Duration::from_secs(60));
    }

    #[test]
    fn bad_values_are_usage_errors() {
        let input = |k: &str, v: &str| SettingsInput {
            env: HashMap::from([(k.to_string(), v.to_string())]),
            ..Default::default()
        };
        assert!(Settings::resolve(input("CANDLELAKE_COINBASE_RPS", "fast")).is_err());
        assert!(Settings::resolve(input("CANDLELAKE_RETRY_BASE_MS", "-1")).is_err());
    }
}
