//! Which Alpha Vantage family serves a pair: FX, crypto or equity.

use std::collections::HashMap;
use std::str::FromStr;

use super::fiat::is_fx_code;
use crate::candle::VolumeKind;

/// The asset class of a pair, which picks the Alpha Vantage functions, the time zone of the
/// intraday keys and the meaning of the volume column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssetClass {
    /// `FX_INTRADAY`, `FX_DAILY`: UTC keys, no volume.
    Fx,
    /// `CRYPTO_INTRADAY`, `DIGITAL_CURRENCY_DAILY`: UTC keys, volume in the base currency.
    Crypto,
    /// `TIME_SERIES_INTRADAY`, `TIME_SERIES_DAILY`: US/Eastern keys, volume in shares.
    Equity,
}

impl AssetClass {
    pub const ALL: [AssetClass; 3] = [AssetClass::Fx, AssetClass::Crypto, AssetClass::Equity];

    pub fn as_str(self) -> &'static str {
        match self {
            AssetClass::Fx => "fx",
            AssetClass::Crypto => "crypto",
            AssetClass::Equity => "equity",
        }
    }

    /// What the volume column of this class counts.
    pub fn volume_kind(self) -> VolumeKind {
        match self {
            AssetClass::Fx => VolumeKind::None,
            AssetClass::Crypto => VolumeKind::Base,
            AssetClass::Equity => VolumeKind::Shares,
        }
    }
}

/// Reads `fx`, `crypto` or `equity`, as written in `[alphavantage.classes]`: the one place a
/// class is read from text.
impl FromStr for AssetClass {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AssetClass::ALL
            .into_iter()
            .find(|class| class.as_str() == s)
            .ok_or_else(|| {
                format!("unknown Alpha Vantage asset class '{s}'; use fx, crypto or equity")
            })
    }
}

/// The class of a canonical pair (`BASE-QUOTE` in upper case) or ticker.
///
/// An override wins. A `BASE-QUOTE` pair whose two codes are both active ISO-4217 currencies
/// (or CNH, XAU, XAG, XPT, XPD) is FX; any other `BASE-QUOTE` pair is crypto. Anything without
/// a `-` is taken as an equity ticker; [`is_ticker`] says whether it is a well-formed one.
pub fn classify(pair: &str, overrides: &HashMap<String, AssetClass>) -> AssetClass {
    if let Some(class) = overrides.get(pair) {
        return *class;
    }
    match pair.split_once('-') {
        Some((base, quote)) if is_fx_code(base) && is_fx_code(quote) => AssetClass::Fx,
        Some(_) => AssetClass::Crypto,
        None => AssetClass::Equity,
    }
}

/// Whether `s` is an equity ticker: `^[A-Z0-9.]{1,12}$` (`.` for share classes, `BRK.B`).
pub fn is_ticker(s: &str) -> bool {
    (1..=12).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.')
}

/// The two codes of a `BASE-QUOTE` pair; a ticker has no quote.
pub(crate) fn split_pair(pair: &str) -> (&str, Option<&str>) {
    match pair.split_once('-') {
        Some((base, quote)) => (base, Some(quote)),
        None => (pair, None),
    }
}

/// The crypto market (quote currency) of a pair, as Alpha Vantage names it in the legacy
/// `DIGITAL_CURRENCY_DAILY` fields (`1a. open (EUR)`); `USD` for a ticker.
pub fn market_of(pair: &str) -> &str {
    split_pair(pair).1.unwrap_or("USD")
}
