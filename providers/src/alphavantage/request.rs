//! Which Alpha Vantage call answers a window, and how a range is cut into calls.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use chrono_tz::America::New_York;

use super::classify::{AssetClass, split_pair};
use crate::error::{ErrorKind, FetchError};
use crate::timeframe::Timeframe;

/// The `interval` value of an intraday timeframe Alpha Vantage serves natively.
///
/// `60min` exists on the wire but is not used: its keys sit at :30 past the hour for equities,
/// so 1h and 4h are built from 30min.
pub fn interval(tf: Timeframe) -> Option<&'static str> {
    match tf {
        Timeframe::M1 => Some("1min"),
        Timeframe::M5 => Some("5min"),
        Timeframe::M15 => Some("15min"),
        Timeframe::M30 => Some("30min"),
        Timeframe::H1 | Timeframe::H4 | Timeframe::D1 => None,
    }
}

/// One call: the function and its parameters, in the order they are sent (the key is added
/// last by the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub function: &'static str,
    pub params: Vec<(&'static str, String)>,
}

impl Call {
    pub(super) fn new(function: &'static str) -> Self {
        Call {
            function,
            params: vec![("function", function.to_string())],
        }
    }

    pub(super) fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.params.push((name, value.into()));
        self
    }

    /// Whether this is `TIME_SERIES_DAILY` with `outputsize=full`, which free keys may be
    /// refused and then ask again with `compact`.
    pub fn may_fall_back(&self) -> bool {
        self.function == "TIME_SERIES_DAILY"
            && self
                .params
                .iter()
                .any(|(k, v)| *k == "outputsize" && v == "full")
    }

    /// The same call with `outputsize=compact` (the latest 100 points).
    pub fn compact(mut self) -> Self {
        for (k, v) in &mut self.params {
            if *k == "outputsize" {
                *v = "compact".to_string();
            }
        }
        self
    }

    /// Whether the answer is the whole month asked for (equity intraday with `month=`), not a
    /// fixed trailing window.
    pub fn is_monthly(&self) -> bool {
        self.params.iter().any(|(k, _)| *k == "month")
    }
}

/// The call answering `pair` (of `class`) at `tf` for the window starting at `start`.
pub(crate) fn call_for(
    pair: &str,
    class: AssetClass,
    tf: Timeframe,
    start: DateTime<Utc>,
) -> Result<Call, FetchError> {
    let unsupported = || {
        FetchError::new(
            ErrorKind::Permanent,
            format!(
                "alphavantage serves no native {tf} candles for {pair}; candlelake builds {tf} from 30m"
            ),
        )
    };
    let (base, quote) = split_pair(pair);
    let call = match (class, tf) {
        (_, Timeframe::H1 | Timeframe::H4) => return Err(unsupported()),
        (AssetClass::Equity, Timeframe::D1) => Call::new("TIME_SERIES_DAILY")
            .with("symbol", pair)
            .with("outputsize", "full"),
        (AssetClass::Equity, _) => Call::new("TIME_SERIES_INTRADAY")
            .with("symbol", pair)
            .with("interval", interval(tf).ok_or_else(unsupported)?)
            .with("month", et_month(start))
            .with("outputsize", "full")
            .with("adjusted", "false")
            .with("extended_hours", "true"),
        (AssetClass::Fx | AssetClass::Crypto, _) if quote.is_none() => {
            return Err(FetchError::new(
                ErrorKind::Permanent,
                format!(
                    "alphavantage {} needs a BASE-QUOTE pair, not '{pair}'",
                    if class == AssetClass::Fx {
                        "FX"
                    } else {
                        "crypto"
                    }
                ),
            ));
        }
        (AssetClass::Fx, Timeframe::D1) => Call::new("FX_DAILY")
            .with("from_symbol", base)
            .with("to_symbol", quote.unwrap_or_default())
            .with("outputsize", "full"),
        (AssetClass::Fx, _) => Call::new("FX_INTRADAY")
            .with("from_symbol", base)
            .with("to_symbol", quote.unwrap_or_default())
            .with("interval", interval(tf).ok_or_else(unsupported)?)
            .with("outputsize", "full"),
        (AssetClass::Crypto, Timeframe::D1) => Call::new("DIGITAL_CURRENCY_DAILY")
            .with("symbol", base)
            .with("market", quote.unwrap_or_default()),
        (AssetClass::Crypto, _) => Call::new("CRYPTO_INTRADAY")
            .with("symbol", base)
            .with("market", quote.unwrap_or_default())
            .with("interval", interval(tf).ok_or_else(unsupported)?)
            .with("outputsize", "full"),
    };
    Ok(call)
}

/// The calendar month (`YYYY-MM`) holding `t` in America/New_York.
pub fn et_month(t: DateTime<Utc>) -> String {
    let local = t.with_timezone(&New_York);
    format!("{:04}-{:02}", local.year(), local.month())
}

/// 00:00 on the 1st of a month in America/New_York, in UTC (midnight is never skipped or
/// repeated there: the DST changes happen at 02:00).
fn month_start(year: i32, month: u32) -> DateTime<Utc> {
    New_York
        .with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .earliest()
        .expect("midnight exists in America/New_York")
        .to_utc()
}

/// `[start, end)` cut at America/New_York month boundaries: one window per calendar month,
/// clipped to the range, oldest first or newest first.
pub fn month_windows(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    newest_first: bool,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    if start >= end {
        return out;
    }
    let local = start.with_timezone(&New_York);
    let (mut year, mut month) = (local.year(), local.month());
    loop {
        let from = month_start(year, month);
        if from >= end {
            break;
        }
        (year, month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        let to = month_start(year, month);
        out.push((from.max(start), to.min(end)));
    }
    if newest_first {
        out.reverse();
    }
    out
}
