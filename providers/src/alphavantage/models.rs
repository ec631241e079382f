//! Alpha Vantage wire models. Every body is a JSON object whose keys change with the function
//! and the failure, so objects are read as ordered (key, raw value) lists: wire order is kept
//! (serde_json's `Map` would sort it) and every value stays raw text until `parse` reads it.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

/// A JSON object as its entries in wire order, duplicates included.
#[derive(Debug)]
pub(crate) struct Entries<V>(pub Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<V> {
            type Value = Entries<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<String, V>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}

impl<V> Entries<V> {
    /// The first value whose key, after its `N. ` or `Na. ` prefix is stripped, is `name`.
    pub fn by_suffix(&self, name: &str) -> Option<&V> {
        self.0
            .iter()
            .find(|(k, _)| strip_prefix(k) == name)
            .map(|(_, v)| v)
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// `"6. Time Zone"` → `"Time Zone"`, `"1a. open (EUR)"` → `"open (EUR)"`; a key without such
/// a prefix is returned whole.
pub(crate) fn strip_prefix(key: &str) -> &str {
    let Some((head, rest)) = key.split_once(". ") else {
        return key;
    };
    let digits = head.trim_end_matches(|c: char| c.is_ascii_lowercase());
    let letters = head.len() - digits.len();
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && letters <= 1 {
        rest
    } else {
        key
    }
}

/// The prefix letter of a legacy field (`'a'` in `"1a. open (EUR)"`), if any.
pub(crate) fn prefix_letter(key: &str) -> Option<char> {
    let (head, _) = key.split_once(". ")?;
    head.chars().last().filter(|c| c.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_stripped() {
        // TC0 numbered, TC1 lettered, TC2 none, TC3 not a prefix
        assert_eq!(strip_prefix("6. Time Zone"), "Time Zone");
        assert_eq!(strip_prefix("1a. open (EUR)"), "open (EUR)");
        assert_eq!(strip_prefix("Meta Data"), "Meta Data");
        assert_eq!(strip_prefix("Dr. Who"), "Dr. Who");
        assert_eq!(prefix_letter("1b. open (USD)"), Some('b'));
        assert_eq!(prefix_letter("1. open"), None);
    }

    #[test]
    fn entries_keep_wire_order_and_duplicates() {
        let e: Entries<serde_json::Value> =
            serde_json::from_str(r#"{"b": 1, "a": 2, "b": 3}"#).unwrap();
        let keys: Vec<_> = e.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "b"]);
    }
}
