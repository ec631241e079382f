//! The Redis keys of one shared budget: `candlelake:{provider}:{tag}:{what}`, where the tag is
//! the first 12 hex digits of the credential's SHA-256 (`public` for a provider without one),
//! so processes with the same provider and credential share a budget and no key holds the
//! credential.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::providers::{ProviderId, Secret};

/// The keys of one provider and credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(provider: ProviderId, credential: Option<&Secret>) -> Self {
        Keys {
            prefix: format!("candlelake:{}:{}", provider.as_str(), tag(credential)),
        }
    }

    /// The GCRA theoretical arrival time of the next request, in µs of Redis's clock.
    pub fn rate(&self) -> String {
        format!("{}:gcra", self.prefix)
    }

    /// Present while a 429's cool-down runs; it expires when the cool-down ends.
    pub fn cool_down(&self) -> String {
        format!("{}:cool-down", self.prefix)
    }

    /// The requests counted on the UTC day of `now`.
    pub fn day(&self, now: DateTime<Utc>) -> String {
        format!("{}:day:{}", self.prefix, now.format("%Y-%m-%d"))
    }
}

/// A short, stable name of a credential that cannot be turned back into it.
fn tag(credential: Option<&Secret>) -> String {
    let Some(secret) = credential.filter(|s| !s.expose().is_empty()) else {
        return "public".into();
    };
    Sha256::digest(secret.expose().as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    fn all(keys: &Keys) -> Vec<String> {
        vec![keys.rate(), keys.cool_down(), keys.day(at("2025-03-04"))]
    }

    #[test]
    fn keys_name_the_provider_and_a_hash_never_the_credential() {
        let secret = Secret::new("demo-key-XYZ123");
        let keys = Keys::new(ProviderId::AlphaVantage, Some(&secret));
        // SHA-256("demo-key-XYZ123"), first 12 hex digits.
        let tag = "324ba62d43cc";
        assert_eq!(
            all(&keys),
            [
                format!("candlelake:alphavantage:{tag}:gcra"),
                format!("candlelake:alphavantage:{tag}:cool-down"),
                format!("candlelake:alphavantage:{tag}:day:2025-03-04"),
            ]
        );
        for key in all(&keys) {
            assert!(!key.contains("demo-key"), "{key}");
            assert!(!key.contains("XYZ123"), "{key}");
        }
    }

    #[test]
    fn one_budget_per_provider_and_credential() {
        let a = Secret::new("token-a");
        let b = Secret::new("token-b");
        assert_eq!(
            Keys::new(ProviderId::Oanda, Some(&a)),
            Keys::new(ProviderId::Oanda, Some(&Secret::new("token-a")))
        );
        assert_ne!(
            Keys::new(ProviderId::Oanda, Some(&a)),
            Keys::new(ProviderId::Oanda, Some(&b))
        );
        assert_ne!(
            Keys::new(ProviderId::Oanda, Some(&a)),
            Keys::new(ProviderId::AlphaVantage, Some(&a))
        );
        assert_eq!(
            Keys::new(ProviderId::Coinbase, None).rate(),
            "candlelake:coinbase:public:gcra"
        );
    }
}
