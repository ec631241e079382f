//! Settings from flags, then environment, then the TOML config file (`config_file`), then
//! defaults. A bad value is named by its env name when it came from a flag or the environment,
//! and by the file and key when it came from the file.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use rust_decimal::Decimal;

use super::PlanError;
use super::aws::AwsEnv;
use super::config_file::ConfigFile;
use super::credentials::Credentials;
use crate::fetch::shared::RedisUrl;
use crate::providers::alphavantage::AssetClass;
use crate::providers::{ProviderId, Timeframe};
use crate::sink::PartitionPeriod;
use crate::state::store::StateStore;

/// Everything a run needs besides the request itself.
#[derive(Debug, Clone)]
pub struct Settings {
    pub lake: String,
    /// The state dir: a directory, or a prefix on object storage.
    pub state_dir: StateStore,
    /// How long a lease on an object-storage state dir lasts unrenewed
    /// (`CANDLELAKE_STATE_LEASE_MS`); it is renewed every third of that.
    pub state_lease: Duration,
    pub coinbase: Endpoint,
    pub oanda: Endpoint,
    /// The Oanda account whose instruments are listed (`CANDLELAKE_OANDA_ACCOUNT`).
    pub oanda_account: Option<String>,
    pub alphavantage: Endpoint,
    /// Alpha Vantage requests per UTC day, kept across runs; zero means no limit.
    pub alphavantage_daily_limit: u64,
    /// Asset classes set in `[alphavantage.classes]` (pair → fx, crypto or equity).
    pub alphavantage_classes: HashMap<String, AssetClass>,
    /// Credentials, read only from the environment or the files it names.
    pub credentials: Credentials,
    /// Where AWS credentials for an `s3://` lake may come from.
    pub aws: AwsEnv,
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
    /// Whose rate budget requests count against (`CANDLELAKE_RATE_LIMITER`).
    pub rate_limiter: Limiter,
}

/// `local`: this process's own budget; `redis://host:port/db`: one budget per provider and
/// credential shared by every process that uses that Redis.
#[derive(Debug, Clone)]
pub enum Limiter {
    Local,
    Redis(RedisUrl),
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
    file: ConfigFile,
}

/// What a setting holds in the file: text must be quoted; a number may be either.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Number,
}

/// A setting's value and how a message names its source: the env name for a flag or variable
/// (flags are keyed by it), the file and key for the config file.
struct Found {
    text: String,
    label: String,
}

impl Sources {
    fn get(&self, name: &str, kind: Kind) -> Result<Option<Found>, PlanError> {
        if let Some(v) = self.flags.get(name).or_else(|| self.env.get(name)) {
            return Ok(Some(Found {
                text: v.clone(),
                label: name.to_string(),
            }));
        }
        let Some(found) = self.file.get(name) else {
            return Ok(None);
        };
        let text = match (found.value, kind) {
            (toml::Value::String(s), _) => s.clone(),
            (v @ (toml::Value::Integer(_) | toml::Value::Float(_)), Kind::Number) => v.to_string(),
            (v, Kind::Text) => {
                return Err(PlanError(format!(
                    "{} is {v}, not text; put the value in quotes",
                    found.label
                )));
            }
            (v, Kind::Number) => {
                return Err(PlanError(format!("{} is {v}, not a number", found.label)));
            }
        };
        Ok(Some(Found {
            text,
            label: found.label,
        }))
    }

    fn string(&self, name: &str, default: &str) -> Result<String, PlanError> {
        Ok(self
            .get(name, Kind::Text)?
            .map_or_else(|| default.to_string(), |f| f.text))
    }

    fn optional(&self, name: &str) -> Result<Option<String>, PlanError> {
        Ok(self.get(name, Kind::Text)?.map(|f| f.text))
    }

    /// A directory or URI that must not be empty: an empty one would mean `/` or `.`.
    fn location(&self, name: &str, default: &str, what: &str) -> Result<String, PlanError> {
        match self.get(name, Kind::Text)? {
            None => Ok(default.to_string()),
            Some(f) if f.text.trim().is_empty() => Err(PlanError(format!(
                "{} is empty; set it to {what}, or leave it unset for the default {default}",
                f.label
            ))),
            Some(f) => Ok(f.text),
        }
    }

    /// The state dir: a directory, or an `s3://` URI opened with the `AWS_*` settings.
    fn state(&self, name: &str, default: &str) -> Result<StateStore, PlanError> {
        let location = self.location(name, default, "a directory or an s3:// URI")?;
        StateStore::open(&location, &self.env).map_err(|problem| {
            let label = self
                .get(name, Kind::Text)
                .ok()
                .flatten()
                .map_or(name.to_string(), |f| f.label);
            PlanError(format!("{label} {problem}"))
        })
    }

    fn millis(&self, name: &str, default: u64) -> Result<Duration, PlanError> {
        match self.get(name, Kind::Number)? {
            None => Ok(Duration::from_millis(default)),
            Some(Found { text: v, label }) => v.trim().parse::<u64>().map(Duration::from_millis).map_err(|_| {
                PlanError(format!("{label} is '{v}', not a whole number of milliseconds; set it to e.g. {default}"))
            }),
        }
    }

    fn whole(&self, name: &str, default: u64) -> Result<u64, PlanError> {
        match self.get(name, Kind::Number)? {
            None => Ok(default),
            Some(Found { text: v, label }) => v.trim().parse::<u64>().map_err(|_| {
                PlanError(format!(
                    "{label} is '{v}', not a whole number; set it to e.g. {default} (0 = no limit)"
                ))
            }),
        }
    }

    fn count(&self, name: &str, default: usize) -> Result<usize, PlanError> {
        match self.get(name, Kind::Number)? {
            None => Ok(default),
            Some(Found { text: v, label }) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    PlanError(format!(
                        "{label} is '{v}', not a positive whole number; set it to e.g. {default}"
                    ))
                }),
        }
    }

    /// `CANDLELAKE_RATE_LIMITER`; a refused value is not repeated (a URL may hold a password).
    fn limiter(&self) -> Result<Limiter, PlanError> {
        let Some(Found { text, label }) = self.get("CANDLELAKE_RATE_LIMITER", Kind::Text)? else {
            return Ok(Limiter::Local);
        };
        match text.trim() {
            "local" => Ok(Limiter::Local),
            url => RedisUrl::parse(url).map(Limiter::Redis).ok_or_else(|| {
                PlanError(format!(
                    "{label} is neither local nor a redis://host:port/db URL; set it to one of them"
                ))
            }),
        }
    }

    fn rate(&self, name: &str, default: Decimal) -> Result<Decimal, PlanError> {
        match self.get(name, Kind::Number)? {
            None => Ok(default),
            Some(Found { text: v, label }) => crate::providers::decimal::parse_exact(v.trim())
                .ok()
                .filter(|d| !d.is_sign_negative())
                .ok_or_else(|| PlanError(format!("{label} is '{v}', not a rate in requests per second; set it to e.g. {default} (0 = unlimited)"))),
        }
    }
}

impl Settings {
    pub fn resolve(input: SettingsInput) -> Result<Self, PlanError> {
        let file = ConfigFile::load(input.config_file.as_deref())?;
        let sources = Sources {
            flags: input.flags,
            env: input.env,
            file,
        };
        Ok(Settings {
            lake: sources.location(
                "CANDLELAKE_LAKE",
                "data/lake",
                "a directory or an s3:// URI",
            )?,
            state_dir: sources.state("CANDLELAKE_STATE_DIR", "data")?,
            state_lease: sources.millis("CANDLELAKE_STATE_LEASE_MS", 60_000)?,
            coinbase: Endpoint {
                url: sources.string("CANDLELAKE_COINBASE_URL", "https://api.coinbase.com")?,
                rps: sources.rate(
                    "CANDLELAKE_COINBASE_RPS",
                    ProviderId::Coinbase.default_rps(),
                )?,
            },
            oanda: Endpoint {
                url: oanda_url(&sources)?,
                rps: sources.rate("CANDLELAKE_OANDA_RPS", ProviderId::Oanda.default_rps())?,
            },
            oanda_account: sources.optional("CANDLELAKE_OANDA_ACCOUNT")?,
            alphavantage: Endpoint {
                url: sources
                    .string("CANDLELAKE_ALPHAVANTAGE_URL", "https://www.alphavantage.co")?,
                rps: sources.rate(
                    "CANDLELAKE_ALPHAVANTAGE_RPS",
                    ProviderId::AlphaVantage.default_rps(),
                )?,
            },
            alphavantage_daily_limit: sources.whole("CANDLELAKE_ALPHAVANTAGE_DAILY_LIMIT", 25)?,
            alphavantage_classes: sources.file.classes()?,
            credentials: Credentials::from_env(&sources.env),
            aws: AwsEnv::from_env(&sources.env),
            metrics_file: sources
                .optional("CANDLELAKE_METRICS_FILE")?
                .map(PathBuf::from),
            pushgateway_url: sources.optional("CANDLELAKE_PUSHGATEWAY_URL")?,
            retry_base: sources.millis("CANDLELAKE_RETRY_BASE_MS", 5000)?,
            max_retry_after: sources.millis("CANDLELAKE_MAX_RETRY_AFTER_MS", 120_000)?,
            http_timeout: sources.millis("CANDLELAKE_HTTP_TIMEOUT_MS", 30_000)?,
            settle: sources.millis("CANDLELAKE_SETTLE_MS", 60_000)?,
            partition_periods: sources.file.partition_periods()?,
            commit_rows: sources.count("CANDLELAKE_COMMIT_ROWS", 10_000)?,
            window_concurrency: 4,
            rate_limiter: sources.limiter()?,
        })
    }
}

/// `CANDLELAKE_OANDA_URL`, else the host of `CANDLELAKE_OANDA_ENV` (live or practice).
fn oanda_url(sources: &Sources) -> Result<String, PlanError> {
    if let Some(url) = sources.optional("CANDLELAKE_OANDA_URL")? {
        return Ok(url);
    }
    let Found { text: env, label } = sources
        .get("CANDLELAKE_OANDA_ENV", Kind::Text)?
        .unwrap_or_else(|| Found {
            text: "live".into(),
            label: "CANDLELAKE_OANDA_ENV".into(),
        });
    crate::providers::oanda::host_for(&env)
        .map(str::to_string)
        .ok_or_else(|| PlanError(format!("{label} is '{env}'; set it to live or practice")))
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
        assert_eq!(
            s.state_dir.local_dir(),
            Some(std::path::Path::new("env-state"))
        );
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
    fn bad_values_are_usage_errors_named_by_their_env_name() {
        let input = |k: &str, v: &str| SettingsInput {
            env: HashMap::from([(k.to_string(), v.to_string())]),
            ..Default::default()
        };
        // TC: (env name, value)
        let cases = [
            ("CANDLELAKE_COINBASE_RPS", "fast"),
            ("CANDLELAKE_RETRY_BASE_MS", "-1"),
            ("CANDLELAKE_COMMIT_ROWS", "0"),
        ];
        for (name, value) in cases {
            let err = Settings::resolve(input(name, value)).unwrap_err().0;
            assert!(err.starts_with(&format!("{name} is '{value}'")), "{err}");
        }
    }

    #[test]
    fn the_rate_limiter_is_local_or_a_redis_url_never_repeated_in_a_message() {
        let limiter = |v: Option<&str>| {
            Settings::resolve(SettingsInput {
                env: v
                    .map(|v| HashMap::from([("CANDLELAKE_RATE_LIMITER".into(), v.into())]))
                    .unwrap_or_default(),
                ..Default::default()
            })
            .map(|s| s.rate_limiter)
        };
        assert!(matches!(limiter(None), Ok(Limiter::Local)));
        assert!(matches!(limiter(Some("local")), Ok(Limiter::Local)));
        match limiter(Some("redis://:pw-7Hq@cache:6379/1")) {
            Ok(Limiter::Redis(url)) => assert_eq!(url.shown(), "redis://cache:6379/1"),
            other => panic!("{other:?}"),
        }
        let err = limiter(Some("memcached://:pw-7Hq@cache:11211"))
            .unwrap_err()
            .0;
        assert!(err.starts_with("CANDLELAKE_RATE_LIMITER is neither local nor a redis://"));
        assert!(!err.contains("pw-7Hq"), "{err}");
        let (_, err) = file_error("rate_limiter = \"local\"\n");
        assert_eq!(err, None);
    }

    /// Resolves with only a config file holding `text`; the error message, if any.
    fn file_error(text: &str) -> (String, Option<String>) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("candlelake.toml");
        std::fs::write(&file, text).unwrap();
        let input = SettingsInput {
            config_file: Some(file.clone()),
            ..Default::default()
        };
        let err = Settings::resolve(input).err().map(|e| e.0);
        (file.display().to_string(), err)
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused_with_the_nearest_key() {
        // TC: (file text, words the message must hold)
        let cases: [(&str, &[&str]); 8] = [
            (
                "lakee = \"x\"\n",
                &["unknown key lakee", "did you mean lake?"],
            ),
            (
                "[coinbase]\nrsp = 5\n",
                &["unknown key [coinbase] rsp", "did you mean rps?"],
            ),
            (
                "[coinbas]\nrps = 5\n",
                &["unknown table [coinbas]", "did you mean [coinbase]?"],
            ),
            (
                "coinbase_rps = 5\n",
                &["unknown key coinbase_rps", "did you mean [coinbase] rps?"],
            ),
            (
                "[tables.1h]\npartition_perod = \"day\"\n",
                &[
                    "unknown key [tables.1h] partition_perod",
                    "did you mean partition_period?",
                ],
            ),
            (
                "[oanda]\napi_token = \"x\"\n",
                &["unknown key [oanda] api_token", "env, url, rps"],
            ),
            (
                "[nothing.like.it]\n",
                &["unknown table [nothing]", "lake, state_dir"],
            ),
            ("zzz = 1\n", &["unknown key zzz", "lake, state_dir"]),
        ];
        for (text, words) in cases {
            let (path, err) = file_error(text);
            let err = err.unwrap_or_else(|| panic!("{text:?} was accepted"));
            assert!(err.contains(&path), "{err}");
            for w in words {
                assert!(err.contains(w), "{text:?}: {err} should hold {w}");
            }
            assert!(!err.contains('\n') && !err.contains("CANDLELAKE_"), "{err}");
        }
    }

    #[test]
    fn wrong_types_in_the_file_name_the_file_and_key() {
        // TC: (file text, the key as the message names it)
        let cases = [
            ("[coinbase]\nrps = \"fast\"\n", "[coinbase] rps"),
            ("commit_rows = \"x\"\n", "commit_rows"),
            ("retry_base_ms = 1.5\n", "retry_base_ms"),
            ("lake = 5\n", "lake"),
            ("[oanda]\nenv = \"test\"\n", "[oanda] env"),
            ("coinbase = 5\n", "[coinbase]"),
            (
                "[tables.1h]\npartition_period = 5\n",
                "[tables.1h] partition_period",
            ),
            ("[tables.2h]\n", "[tables.2h]"),
            (
                "[alphavantage.classes]\nXYZ = \"bond\"\n",
                "[alphavantage.classes] XYZ",
            ),
        ];
        for (text, key) in cases {
            let (path, err) = file_error(text);
            let err = err.unwrap_or_else(|| panic!("{text:?} was accepted"));
            assert!(
                err.starts_with(&format!("{key} in the config file {path} ")),
                "{text:?}: {err}"
            );
            assert!(!err.contains('\n') && !err.contains("CANDLELAKE_"), "{err}");
        }
    }

    #[test]
    fn a_state_dir_on_s3_is_opened_and_other_uris_are_refused() {
        let input = |dir: &str| SettingsInput {
            env: HashMap::from([
                ("CANDLELAKE_STATE_DIR".to_string(), dir.to_string()),
                ("AWS_REGION".to_string(), "us-east-1".to_string()),
            ]),
            ..Default::default()
        };
        let s3 = Settings::resolve(input("s3://bucket/state")).unwrap();
        assert_eq!(s3.state_dir.to_string(), "s3://bucket/state");
        assert!(s3.state_dir.local_dir().is_none());
        let err = Settings::resolve(input("gs://bucket/state")).unwrap_err().0;
        assert!(
            err.starts_with("CANDLELAKE_STATE_DIR is 'gs://bucket/state', a gs:// URI"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_lake_or_state_dir_is_refused() {
        // TC: (source, env name, message start)
        let cases = [
            ("flag", "CANDLELAKE_LAKE", "CANDLELAKE_LAKE is empty"),
            ("env", "CANDLELAKE_LAKE", "CANDLELAKE_LAKE is empty"),
            (
                "env",
                "CANDLELAKE_STATE_DIR",
                "CANDLELAKE_STATE_DIR is empty",
            ),
            (
                "flag",
                "CANDLELAKE_STATE_DIR",
                "CANDLELAKE_STATE_DIR is empty",
            ),
        ];
        for (source, name, start) in cases {
            let vars = HashMap::from([(name.to_string(), " ".to_string())]);
            let input = match source {
                "flag" => SettingsInput {
                    flags: vars,
                    ..Default::default()
                },
                _ => SettingsInput {
                    env: vars,
                    ..Default::default()
                },
            };
            let err = Settings::resolve(input).unwrap_err().0;
            assert!(err.starts_with(start), "{source} {name}: {err}");
        }
        let (path, err) = file_error("state_dir = \"\"\n");
        assert!(
            err.unwrap()
                .starts_with(&format!("state_dir in the config file {path} is empty")),
        );
    }
}
