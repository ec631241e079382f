//! What the engine knows of a provider without asking it: how a raw record it stored reads
//! back (DLQ replay), what a pair's volume counts, and which trading hours a series' bars
//! follow (gap reports). A new provider is taught here once; the engine never matches on a
//! provider.

use std::collections::HashMap;

use serde_json::value::RawValue;

use crate::alphavantage::{self, AssetClass};
use crate::candle::{VolumeKind, WireCandle};
use crate::source::ProviderId;
use crate::timeframe::Timeframe;
use crate::{coinbase, oanda};

/// The trading hours a series' bars follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hours {
    /// Every hour of every day (crypto).
    AlwaysOpen,
    /// The FX week: Sunday 17:00 to Friday 17:00 New York time.
    FxWeek,
    /// The FX week with daily bars on UTC weekdays only (Alpha Vantage's FX_DAILY).
    FxWeekdays,
    /// NYSE sessions with extended hours.
    UsEquity,
}

/// Provider facts, with the asset classes a user set for Alpha Vantage pairs.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    alphavantage_classes: &'a HashMap<String, AssetClass>,
}

impl<'a> Facts<'a> {
    pub fn new(alphavantage_classes: &'a HashMap<String, AssetClass>) -> Self {
        Facts {
            alphavantage_classes,
        }
    }

    fn class(&self, pair: &str) -> AssetClass {
        alphavantage::classify(pair, self.alphavantage_classes)
    }

    /// What the volume of `pair`'s candles counts.
    pub fn volume_kind(&self, provider: ProviderId, pair: &str) -> VolumeKind {
        match provider {
            ProviderId::Coinbase => coinbase::VOLUME_KIND,
            ProviderId::Oanda => oanda::VOLUME_KIND,
            ProviderId::AlphaVantage => self.class(pair).volume_kind(),
        }
    }

    /// A raw record as the provider sent it, read with today's rules.
    pub fn read_record(&self, provider: ProviderId, pair: &str, raw: Box<RawValue>) -> WireCandle {
        match provider {
            ProviderId::Coinbase => coinbase::parse_record(raw),
            ProviderId::Oanda => oanda::parse_record(raw),
            ProviderId::AlphaVantage => alphavantage::replay_record(raw, pair, self.class(pair)),
        }
    }

    /// The trading hours `pair`'s bars at `tf` follow.
    pub fn hours(&self, provider: ProviderId, pair: &str, tf: Timeframe) -> Hours {
        match provider {
            ProviderId::Coinbase => Hours::AlwaysOpen,
            ProviderId::Oanda => Hours::FxWeek,
            ProviderId::AlphaVantage => match self.class(pair) {
                // FX_DAILY has no weekend points: a bar per UTC weekday.
                AssetClass::Fx if tf == Timeframe::D1 => Hours::FxWeekdays,
                AssetClass::Fx => Hours::FxWeek,
                AssetClass::Crypto => Hours::AlwaysOpen,
                AssetClass::Equity => Hours::UsEquity,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_follow_the_provider_and_the_alpha_vantage_class() {
        let overrides = HashMap::from([("XYZ-USD".to_string(), AssetClass::Fx)]);
        let facts = Facts::new(&overrides);
        let av = ProviderId::AlphaVantage;
        assert_eq!(
            facts.volume_kind(ProviderId::Oanda, "EUR-USD"),
            VolumeKind::Ticks
        );
        assert_eq!(facts.volume_kind(av, "IBM"), VolumeKind::Shares);
        assert_eq!(facts.volume_kind(av, "XYZ-USD"), VolumeKind::None);
        assert_eq!(facts.hours(av, "EUR-USD", Timeframe::D1), Hours::FxWeekdays);
        assert_eq!(facts.hours(av, "EUR-USD", Timeframe::H1), Hours::FxWeek);
        assert_eq!(facts.hours(av, "BTC-USD", Timeframe::H1), Hours::AlwaysOpen);
        assert_eq!(
            facts.hours(ProviderId::Oanda, "EUR-USD", Timeframe::D1),
            Hours::FxWeek
        );
    }
}
