//! The TOML config file: every key is checked against the settings candlelake has (an unknown
//! one is refused, with the nearest known key), and a setting is found where its env name puts
//! it: `CANDLELAKE_LAKE` is `lake`, `CANDLELAKE_COINBASE_RPS` is `rps` in `[coinbase]`. Messages
//! name the file and the key, never an env var the user did not set.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::PlanError;
use crate::providers::Timeframe;
use crate::providers::alphavantage::AssetClass;
use crate::sink::PartitionPeriod;

/// The settings the file can hold, by env name; the provider ones live in the provider's table.
pub(super) const SETTINGS: [&str; 20] = [
    "CANDLELAKE_LAKE",
    "CANDLELAKE_STATE_DIR",
    "CANDLELAKE_STATE_LEASE_MS",
    "CANDLELAKE_METRICS_FILE",
    "CANDLELAKE_PUSHGATEWAY_URL",
    "CANDLELAKE_RETRY_BASE_MS",
    "CANDLELAKE_MAX_RETRY_AFTER_MS",
    "CANDLELAKE_HTTP_TIMEOUT_MS",
    "CANDLELAKE_SETTLE_MS",
    "CANDLELAKE_COMMIT_ROWS",
    "CANDLELAKE_RATE_LIMITER",
    "CANDLELAKE_COINBASE_URL",
    "CANDLELAKE_COINBASE_RPS",
    "CANDLELAKE_OANDA_ENV",
    "CANDLELAKE_OANDA_URL",
    "CANDLELAKE_OANDA_RPS",
    "CANDLELAKE_OANDA_ACCOUNT",
    "CANDLELAKE_ALPHAVANTAGE_URL",
    "CANDLELAKE_ALPHAVANTAGE_RPS",
    "CANDLELAKE_ALPHAVANTAGE_DAILY_LIMIT",
];

const PROVIDERS: [&str; 3] = ["coinbase", "oanda", "alphavantage"];

/// The table of Alpha Vantage asset-class overrides, inside `[alphavantage]`.
const CLASSES: &str = "classes";

/// The key of `[tables.<tf>]`.
const PARTITION_PERIOD: &str = "partition_period";

/// Where a setting lives in the file: its table (`None` at the top) and its key.
fn file_key(env_name: &str) -> (Option<&'static str>, String) {
    let key = env_name
        .trim_start_matches("CANDLELAKE_")
        .to_ascii_lowercase();
    for p in PROVIDERS {
        if let Some(rest) = key.strip_prefix(p).and_then(|r| r.strip_prefix('_')) {
            return (Some(p), rest.to_string());
        }
    }
    (None, key)
}

/// The keys of one table of the file (`None` for the top level).
fn keys_of(section: Option<&str>) -> Vec<String> {
    let mut keys: Vec<String> = SETTINGS
        .iter()
        .map(|n| file_key(n))
        .filter(|(s, _)| *s == section)
        .map(|(_, k)| k)
        .collect();
    if section == Some("alphavantage") {
        keys.push(CLASSES.to_string());
    }
    keys
}

/// A setting found in the file: its value and how a message names it.
pub(super) struct FileValue<'a> {
    pub value: &'a toml::Value,
    pub label: String,
}

/// The loaded config file; empty when there is none.
pub(super) struct ConfigFile {
    path: PathBuf,
    table: toml::Table,
}

impl ConfigFile {
    /// `--config FILE`, else `./candlelake.toml` when present, with every key checked.
    pub(super) fn load(explicit: Option<&Path>) -> Result<Self, PlanError> {
        let default = Path::new("candlelake.toml");
        let path = match explicit {
            Some(p) => p,
            None if default.exists() => default,
            None => {
                return Ok(ConfigFile {
                    path: default.to_path_buf(),
                    table: toml::Table::new(),
                });
            }
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            PlanError(format!(
                "cannot read the config file {}: {e}; check the path given to --config",
                path.display()
            ))
        })?;
        let table = text.parse::<toml::Table>().map_err(|e| {
            let why = e.message().to_string();
            PlanError(format!(
                "the config file {} is not valid TOML ({why}); fix it or remove it",
                path.display()
            ))
        })?;
        let file = ConfigFile {
            path: path.to_path_buf(),
            table,
        };
        file.check_keys()?;
        Ok(file)
    }

    /// How a message names a key of this file: `[coinbase] rps in the config file ./c.toml`.
    fn label(&self, key: &str) -> String {
        format!("{key} in the config file {}", self.path.display())
    }

    /// The value of a setting, by its env name.
    pub(super) fn get(&self, env_name: &str) -> Option<FileValue<'_>> {
        debug_assert!(SETTINGS.contains(&env_name), "{env_name} has no file key");
        let (section, key) = file_key(env_name);
        let value = match section {
            Some(s) => self.table.get(s)?.as_table()?.get(&key)?,
            None => self.table.get(&key)?,
        };
        let shown = section.map_or(key.clone(), |s| format!("[{s}] {key}"));
        Some(FileValue {
            value,
            label: self.label(&shown),
        })
    }

    /// Refuses a key no setting has, naming the nearest known one, and a value where a table
    /// belongs. The values themselves are checked where they are read.
    fn check_keys(&self) -> Result<(), PlanError> {
        for (key, value) in &self.table {
            if keys_of(None).contains(key) {
                continue;
            }
            if PROVIDERS.contains(&key.as_str()) {
                let table = self.table_at(&format!("[{key}]"), value)?;
                self.check_table(key, table, &keys_of(Some(key)))?;
                if let Some(classes) = table.get(CLASSES) {
                    self.table_at(&format!("[{key}.{CLASSES}]"), classes)?;
                }
            } else if key == "tables" {
                for (tf, settings) in self.table_at("[tables]", value)? {
                    let name = format!("tables.{tf}");
                    let table = self.table_at(&format!("[{name}]"), settings)?;
                    self.check_table(&name, table, &[PARTITION_PERIOD.to_string()])?;
                }
            } else {
                return Err(self.unknown_top_level(key, value.is_table()));
            }
        }
        Ok(())
    }

    fn table_at<'a>(
        &self,
        name: &str,
        value: &'a toml::Value,
    ) -> Result<&'a toml::Table, PlanError> {
        value.as_table().ok_or_else(|| {
            PlanError(format!(
                "{} is {value}, not a table; write {name} on a line of its own with its keys below it",
                self.label(name)
            ))
        })
    }

    fn check_table(
        &self,
        name: &str,
        table: &toml::Table,
        known: &[String],
    ) -> Result<(), PlanError> {
        let Some(key) = table.keys().find(|k| !known.contains(k)) else {
            return Ok(());
        };
        let hint = match nearest(key, known.iter().map(String::as_str)) {
            Some(k) => format!("did you mean {k}?"),
            None => format!("[{name}] takes {}", known.join(", ")),
        };
        Err(PlanError(format!(
            "unknown key [{name}] {key} in the config file {}; {hint}",
            self.path.display()
        )))
    }

    fn unknown_top_level(&self, key: &str, is_table: bool) -> PlanError {
        let mut known: Vec<String> = keys_of(None);
        known.extend(PROVIDERS.iter().map(|p| format!("[{p}]")));
        known.push("[tables.<timeframe>]".to_string());
        // The provider settings' env-style names (`coinbase_rps`) point into their table.
        let provider_key = PROVIDERS.iter().find_map(|p| {
            let rest = key.strip_prefix(p)?.strip_prefix('_')?;
            keys_of(Some(p))
                .contains(&rest.to_string())
                .then(|| format!("[{p}] {rest}"))
        });
        let (what, shown) = if is_table {
            ("table", format!("[{key}]"))
        } else {
            ("key", key.to_string())
        };
        let hint = match provider_key
            .or_else(|| nearest(&shown, known.iter().map(String::as_str)).map(String::from))
        {
            Some(k) => format!("did you mean {k}?"),
            None => format!("the file takes {}", known.join(", ")),
        };
        PlanError(format!(
            "unknown {what} {shown} in the config file {}; {hint}",
            self.path.display()
        ))
    }

    /// `[alphavantage.classes]`: pair → fx, crypto or equity.
    pub(super) fn classes(&self) -> Result<HashMap<String, AssetClass>, PlanError> {
        let Some(table) = self
            .table
            .get("alphavantage")
            .and_then(|t| t.get(CLASSES))
            .and_then(|c| c.as_table())
        else {
            return Ok(HashMap::new());
        };
        table
            .iter()
            .map(
                |(pair, class)| match class.as_str().map(str::parse::<AssetClass>) {
                    Some(Ok(c)) => Ok((pair.to_ascii_uppercase(), c)),
                    _ => Err(PlanError(format!(
                        "{} is {class}; use \"fx\", \"crypto\" or \"equity\"",
                        self.label(&format!("[alphavantage.{CLASSES}] {pair}"))
                    ))),
                },
            )
            .collect()
    }

    /// `[tables.<tf>] partition_period`, for tables not created yet.
    pub(super) fn partition_periods(
        &self,
    ) -> Result<HashMap<Timeframe, PartitionPeriod>, PlanError> {
        let mut periods = HashMap::new();
        let Some(tables) = self.table.get("tables").and_then(|t| t.as_table()) else {
            return Ok(periods);
        };
        for (tf, settings) in tables {
            let timeframe = tf.parse::<Timeframe>().map_err(|_| {
                let all: Vec<&str> = Timeframe::ALL.iter().map(|t| t.as_str()).collect();
                PlanError(format!(
                    "{} names no timeframe; use one of {}",
                    self.label(&format!("[tables.{tf}]")),
                    all.join(" ")
                ))
            })?;
            if let Some(period) = settings.get(PARTITION_PERIOD) {
                let period = period
                    .as_str()
                    .and_then(|p| p.parse::<PartitionPeriod>().ok())
                    .ok_or_else(|| {
                        PlanError(format!(
                            "{} is {period}; use \"day\", \"month\" or \"year\"",
                            self.label(&format!("[tables.{tf}] {PARTITION_PERIOD}"))
                        ))
                    })?;
                periods.insert(timeframe, period);
            }
        }
        Ok(periods)
    }
}

/// The known word closest to `word`, when it is a likely typo of it (at most one edit per
/// three letters: `rsp` → `rps`, `lakee` → `lake`).
fn nearest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (edit_distance(word, k), k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // d[i][j]: edits from a[..i] to b[..j]; from or to nothing, one per letter.
    let mut d: Vec<Vec<usize>> = (0..=a.len())
        .map(|i| {
            (0..=b.len())
                .map(|j| if i == 0 || j == 0 { i + j } else { 0 })
                .collect()
        })
        .collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_key_and_strangers_do_not() {
        let known = ["lake", "state_dir", "rps", "url", "[coinbase]"];
        // TC: (word, nearest)
        let cases = [
            ("lakee", Some("lake")),
            ("rsp", Some("rps")),
            ("stat_dir", Some("state_dir")),
            ("[coinbas]", Some("[coinbase]")),
            ("zzz", None),
            ("api_key", None),
        ];
        for (word, expected) in cases {
            assert_eq!(nearest(word, known), expected, "{word}");
        }
    }

    #[test]
    fn every_setting_has_one_place_in_the_file() {
        assert_eq!(
            file_key("CANDLELAKE_COINBASE_RPS"),
            (Some("coinbase"), "rps".into())
        );
        assert_eq!(
            file_key("CANDLELAKE_ALPHAVANTAGE_DAILY_LIMIT"),
            (Some("alphavantage"), "daily_limit".into())
        );
        assert_eq!(file_key("CANDLELAKE_STATE_DIR"), (None, "state_dir".into()));
        assert_eq!(keys_of(Some("oanda")), ["env", "url", "rps", "account"]);
    }
}
