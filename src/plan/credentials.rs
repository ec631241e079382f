//! Provider credentials: only from the environment (`ALPHAVANTAGE_API_KEY`, `OANDA_API_TOKEN`)
//! or the file an `..._FILE` variable names, never from flags or the config file. A credential
//! is a providers `Secret`, which never prints its value.

use std::collections::HashMap;
use std::fmt;

use super::PlanError;
use crate::providers::{ProviderId, Secret};

/// The credential variables as found in the environment, resolved when a provider is used.
#[derive(Clone, Default)]
pub struct Credentials {
    vars: HashMap<&'static str, String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

const NAMES: [&str; 4] = [
    "ALPHAVANTAGE_API_KEY",
    "ALPHAVANTAGE_API_KEY_FILE",
    "OANDA_API_TOKEN",
    "OANDA_API_TOKEN_FILE",
];

impl Credentials {
    pub fn from_env(env: &HashMap<String, String>) -> Self {
        let vars = NAMES
            .iter()
            .filter_map(|n| env.get(*n).map(|v| (*n, v.clone())))
            .collect();
        Credentials { vars }
    }

    /// The credential a provider needs, or a usage error saying how to provide it. Coinbase's
    /// public endpoint needs none.
    pub fn for_provider(&self, provider: ProviderId) -> Result<Option<Secret>, PlanError> {
        let Some(name) = provider.credential_var() else {
            return Ok(None);
        };
        let value = match (self.vars.get(name), self.vars.get(format!("{name}_FILE").as_str())) {
            (Some(v), _) => v.clone(),
            (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
                PlanError(format!("{name}_FILE names {path}, which cannot be read ({e}); point it at the file holding the credential"))
            })?,
            (None, None) => {
                return Err(PlanError(format!(
                    "{name} is not set; export it (or {name}_FILE naming a file that holds it) to use {}",
                    provider.as_str()
                )));
            }
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(PlanError(format!(
                "{name} is empty; set it to your {} credential",
                provider.as_str()
            )));
        }
        Ok(Some(Secret::new(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_env_or_file_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "tok-123\n").unwrap();
        let env = HashMap::from([
            ("ALPHAVANTAGE_API_KEY".to_string(), "KEY-1".to_string()),
            (
                "OANDA_API_TOKEN_FILE".to_string(),
                file.display().to_string(),
            ),
        ]);
        let creds = Credentials::from_env(&env);
        let key = creds
            .for_provider(ProviderId::AlphaVantage)
            .unwrap()
            .unwrap();
        assert_eq!(key.expose(), "KEY-1");
        assert!(!format!("{key:?} {creds:?}").contains("KEY-1"));
        assert_eq!(
            creds
                .for_provider(ProviderId::Oanda)
                .unwrap()
                .unwrap()
                .expose(),
            "tok-123"
        );
        let missing = Credentials::default()
            .for_provider(ProviderId::Oanda)
            .unwrap_err()
            .0;
        assert!(missing.contains("OANDA_API_TOKEN is not set"), "{missing}");
        assert!(
            Credentials::default()
                .for_provider(ProviderId::Coinbase)
                .unwrap()
                .is_none()
        );
    }
}
