//! Asset pair spellings → the canonical `BASE-QUOTE` (or an equity ticker).

use super::PlanError;
use crate::providers::ProviderId;
use crate::providers::alphavantage::is_ticker;

/// Reads `BTC-USD`, `BTC/USD`, `BTC_USD`, `btc-usd` or six letters (`EURUSD`, 3 + 3).
pub fn canonical_pair(input: &str, provider: ProviderId) -> Result<String, PlanError> {
    let upper = input.trim().to_ascii_uppercase();
    // A share-class ticker keeps its dot; only pair separators split.
    let parts: Vec<&str> = upper.split(['-', '/', '_']).collect();
    let symbol =
        |s: &str| (2..=10).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric());
    match parts.as_slice() {
        [base, quote] if symbol(base) && symbol(quote) => Ok(format!("{base}-{quote}")),
        [six] if six.len() == 6 && six.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Ok(format!("{}-{}", &six[..3], &six[3..]))
        }
        [ticker] if provider == ProviderId::AlphaVantage && is_ticker(ticker) => {
            Ok(ticker.to_string())
        }
        [ticker] if !ticker.is_empty() && ticker.len() <= 12 => Err(PlanError(format!(
            "'{input}' is a ticker, but {} takes only pairs; write it as BASE-QUOTE, e.g. BTC-USD",
            provider.as_str()
        ))),
        _ => Err(PlanError(format!(
            "'{input}' is not an asset pair; write it as BASE-QUOTE, e.g. BTC-USD"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        let ok = [
            ("BTC-USD", "BTC-USD"),
            ("btc/usd", "BTC-USD"),
            ("eth_usdc", "ETH-USDC"),
            ("EURUSD", "EUR-USD"),
        ];
        for (input, expected) in ok {
            assert_eq!(
                canonical_pair(input, ProviderId::Coinbase).unwrap(),
                expected
            );
        }
        for bad in ["IBM", "BTC-", "BTC-USD-X", "B$C-USD", ""] {
            assert!(canonical_pair(bad, ProviderId::Coinbase).is_err(), "{bad}");
        }
        assert!(canonical_pair("IBM", ProviderId::Oanda).is_err());
        assert_eq!(
            canonical_pair("brk.b", ProviderId::AlphaVantage).unwrap(),
            "BRK.B"
        );
        assert_eq!(
            canonical_pair("IBM", ProviderId::AlphaVantage).unwrap(),
            "IBM"
        );
        assert_eq!(
            canonical_pair("EURUSD", ProviderId::AlphaVantage).unwrap(),
            "EUR-USD"
        );
    }
}
