//! Pair patterns in `--pairs`: `*` matches any run of characters, `?` exactly one. A pattern
//! is written like a pair (`*-usd`, `btc/*`) and read in the canonical spelling; it is matched
//! against a provider's list (`backfill`) or the series held (`topup`, `status`, `gaps`).

use std::collections::HashSet;

use super::PlanError;
use crate::providers::alphavantage::is_ticker;
use crate::providers::{Instrument, InstrumentStatus, PHYSICAL_CURRENCY, ProviderId};

/// Whether a `--pairs` item is a pattern rather than one pair.
pub fn is_pattern(item: &str) -> bool {
    item.contains(['*', '?'])
}

/// A pattern in the canonical spelling: upper case, `/` and `_` read as `-`.
pub fn canonical_pattern(item: &str) -> String {
    item.trim().to_ascii_uppercase().replace(['/', '_'], "-")
}

/// Whether `text` matches `pattern` in full.
pub fn matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // The classic two-pointer match: on a mismatch, retry from just after the last `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        match p.get(i) {
            Some('*') => {
                star = Some((i, j));
                i += 1;
            }
            Some(c) if *c == '?' || *c == t[j] => {
                i += 1;
                j += 1;
            }
            _ => match star {
                Some((si, sj)) => {
                    i = si + 1;
                    j = sj + 1;
                    star = Some((si, sj + 1));
                }
                None => return false,
            },
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// The pairs of `list` that `pattern` names, in list order: the instruments `instruments`
/// shows by default (online). For Alpha Vantage a pattern with a `-` is read as BASE-QUOTE
/// over its currencies (any listed currency against a physical one); one without, over its
/// tickers.
pub fn expand(pattern: &str, provider: ProviderId, list: &[Instrument]) -> Vec<String> {
    let online = list.iter().filter(|i| i.status == InstrumentStatus::Online);
    if provider != ProviderId::AlphaVantage {
        return online
            .filter(|i| matches(pattern, &i.asset_pair))
            .map(|i| i.asset_pair.clone())
            .collect();
    }
    let Some((base, quote)) = pattern.split_once('-') else {
        return online
            .filter(|i| !i.is_currency() && is_ticker(&i.asset_pair))
            .filter(|i| matches(pattern, &i.asset_pair))
            .map(|i| i.asset_pair.clone())
            .collect();
    };
    let currencies: Vec<&Instrument> = online.filter(|i| i.is_currency()).collect();
    let mut out: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for b in currencies.iter().filter(|b| matches(base, &b.asset_pair)) {
        for q in currencies
            .iter()
            .filter(|q| q.kind == PHYSICAL_CURRENCY && matches(quote, &q.asset_pair))
        {
            let pair = format!("{}-{}", b.asset_pair, q.asset_pair);
            // A code in both lists (physical and digital) names its pairs once.
            if b.asset_pair != q.asset_pair && seen.insert(pair.clone()) {
                out.push(pair);
            }
        }
    }
    out
}

/// The error for a pattern that names nothing.
pub fn matched_nothing(pattern: &str, among: &str) -> PlanError {
    PlanError(format!(
        "--pairs pattern '{pattern}' matches no {among}; `candlelake instruments --provider ...` lists what there is"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_question_marks_match_whole_pairs() {
        // TC: (pattern, text, matches)
        let cases = [
            ("*-USD", "BTC-USD", true),
            ("*-USD", "BTC-USDC", false),
            ("BTC-*", "BTC-EUR", true),
            ("BTC-*", "ETH-BTC", false),
            ("*", "IBM", true),
            ("?TC-USD", "BTC-USD", true),
            ("?TC-USD", "BBTC-USD", false),
            ("*T*-*", "ETH-BTC", true),
            ("B*C-U*D", "BTC-USD", true),
            ("B*C-U*D", "BTC-USDT", false),
            ("", "", true),
        ];
        for (i, (pattern, text, expected)) in cases.into_iter().enumerate() {
            assert_eq!(matches(pattern, text), expected, "TC{i}: {pattern} {text}");
        }
        assert!(is_pattern("*-usd") && !is_pattern("BTC-USD"));
        assert_eq!(canonical_pattern(" btc/* "), "BTC-*");
    }

    #[test]
    fn patterns_expand_over_online_instruments_and_alpha_vantage_currencies() {
        let with = |pair: &str, kind: &str, status| Instrument {
            status,
            ..Instrument::online(pair.into(), kind, None)
        };
        let coinbase = [
            with("BTC-USD", "spot", InstrumentStatus::Online),
            with("OLD-USD", "spot", InstrumentStatus::Delisted),
            with("ETH-USD", "spot", InstrumentStatus::Online),
            with("ETH-BTC", "spot", InstrumentStatus::Online),
        ];
        assert_eq!(
            expand("*-USD", ProviderId::Coinbase, &coinbase),
            ["BTC-USD", "ETH-USD"]
        );
        let av = [
            with("IBM", "stock", InstrumentStatus::Online),
            with("AAI", "stock", InstrumentStatus::Delisted),
            with("EUR", "physical_currency", InstrumentStatus::Online),
            with("USD", "physical_currency", InstrumentStatus::Online),
            with("BTC", "digital_currency", InstrumentStatus::Online),
        ];
        assert_eq!(
            expand("*-USD", ProviderId::AlphaVantage, &av),
            ["EUR-USD", "BTC-USD"]
        );
        assert_eq!(
            expand("BTC-*", ProviderId::AlphaVantage, &av),
            ["BTC-EUR", "BTC-USD"]
        );
        assert_eq!(expand("*", ProviderId::AlphaVantage, &av), ["IBM"]);
    }
}
