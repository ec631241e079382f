//! Credentials: `Secret` holds an API key or token and never prints it, and `redact` takes it
//! out of any text quoted back to the user (error bodies that echo it, messages), as written
//! and URL-encoded. `[redacted]` is spelled here and nowhere else.

use std::fmt;

/// What a secret prints as, and what replaces it in quoted text.
pub(crate) const REDACTED: &str = "[redacted]";

/// A credential. `Debug` and `Display` print `[redacted]`; only [`Secret::expose`] gives the
/// value, for the one place that sends it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// `text` with every occurrence of the secret, as written and as a URL query encodes it,
/// replaced by `[redacted]`. An empty secret leaves the text as it is.
pub(crate) fn redact(text: &str, secret: &Secret) -> String {
    let value = secret.expose();
    if value.is_empty() {
        return text.to_string();
    }
    let mut out = text.replace(value, REDACTED);
    let encoded: String = reqwest::Url::parse_with_params("x:", [("k", value)])
        .ok()
        .and_then(|u| u.query().map(|q| q.trim_start_matches("k=").to_string()))
        .unwrap_or_default();
    if !encoded.is_empty() && encoded != value {
        out = out.replace(&encoded, REDACTED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed_and_redacted_both_ways() {
        let secret = Secret::new("k+y/1");
        assert_eq!(
            format!("{secret} {secret:?} {secret:#?}"),
            "[redacted] [redacted] [redacted]"
        );
        assert_eq!(secret.expose(), "k+y/1");
        // TC0 as written, TC1 URL-encoded, TC2 an empty secret redacts nothing
        assert_eq!(redact("bad key k+y/1", &secret), "bad key [redacted]");
        assert_eq!(
            redact("apikey=k%2By%2F1&x=1", &secret),
            "apikey=[redacted]&x=1"
        );
        assert_eq!(redact("no key here", &Secret::default()), "no key here");
    }
}
