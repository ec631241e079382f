//! What one series is asked to do: its key, the native timeframe it is fetched at, the range
//! asked for, what the provider publishes of the pair's listing, and which way a range extends
//! coverage.

use chrono::{DateTime, NaiveDate, Utc};

use crate::model::{SeriesKey, TimeRange};
use crate::providers::{Instrument, InstrumentStatus, Timeframe};
use crate::sink::PartitionPeriod;

/// Which way a range extends coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Forward: windows oldest first.
    Forward,
    /// Backward (a prepend): windows newest first.
    Backward,
}

impl Direction {
    pub fn newest_first(self) -> bool {
        self == Direction::Backward
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Backward => "prepend",
        }
    }
}

/// One series and the range asked for it.
#[derive(Debug, Clone)]
pub struct SeriesRequest {
    pub series: SeriesKey,
    /// The native timeframe fetched: the series' own, or the finer one it is built from.
    pub source: Timeframe,
    /// `[start, end)` as asked; the run aligns it and cuts it at the last final bucket.
    pub range: TimeRange,
    pub partition_period: PartitionPeriod,
    /// Ask again for history recorded as unreachable.
    pub retry_unreachable: bool,
    pub listing: Listing,
}

/// What the provider's list says of a pair's life; all unknown by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Listing {
    /// Its published listing date (00:00Z).
    pub listed: Option<DateTime<Utc>>,
    /// Listed as delisted.
    pub delisted: bool,
    /// Its published delisting date (00:00Z): the provider has nothing from then on.
    pub delisted_at: Option<DateTime<Utc>>,
}

impl Listing {
    pub fn of(instrument: &Instrument) -> Self {
        let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        Listing {
            listed: instrument.listed.and_then(midnight),
            delisted: instrument.status == InstrumentStatus::Delisted,
            delisted_at: instrument.delisted.and_then(midnight),
        }
    }
}

impl SeriesRequest {
    /// True when the series is built from a finer native timeframe.
    pub fn aggregated(&self) -> bool {
        self.source != self.series.timeframe
    }

    /// The request cut to the pair's life at the provider: from its published listing date
    /// (unless unreachable history is asked for again) to its published delisting date.
    pub fn within_listing(&self) -> SeriesRequest {
        let mut range = self.range;
        if let Some(listed) = self.listing.listed.filter(|_| !self.retry_unreachable) {
            range.start = range.start.max(listed);
        }
        if let Some(delisted) = self.listing.delisted_at {
            range.end = range.end.min(delisted);
        }
        range.start = range.start.min(range.end);
        SeriesRequest {
            range,
            ..self.clone()
        }
    }

    /// The part of the request before the published listing date, aligned to the timeframe:
    /// recorded as unreachable (`before_listing`) and never asked for.
    pub fn before_listing(&self) -> Option<TimeRange> {
        let listed = self.listing.listed.filter(|_| !self.retry_unreachable)?;
        let tf = self.series.timeframe;
        let gap = TimeRange::new(
            tf.ceil(self.range.start),
            tf.ceil(listed.min(self.range.end)),
        );
        (!gap.is_empty()).then_some(gap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ProviderId;
    use crate::testing::at;

    fn request(start: &str, end: &str, listing: Listing, retry: bool) -> SeriesRequest {
        SeriesRequest {
            series: SeriesKey {
                provider: ProviderId::AlphaVantage,
                pair: "AAAP".into(),
                timeframe: Timeframe::D1,
            },
            source: Timeframe::D1,
            range: TimeRange::new(at(start), at(end)),
            partition_period: PartitionPeriod::Year,
            retry_unreachable: retry,
            listing,
        }
    }

    #[test]
    fn a_request_is_cut_to_the_published_listing_and_delisting() {
        let instrument = Instrument {
            status: InstrumentStatus::Delisted,
            listed: NaiveDate::from_ymd_opt(2015, 11, 11),
            delisted: NaiveDate::from_ymd_opt(2018, 2, 19),
            ..Instrument::online("AAAP".into(), "stock", None)
        };
        let listing = Listing::of(&instrument);
        assert_eq!(
            listing,
            Listing {
                listed: Some(at("2015-11-11T00:00:00Z")),
                delisted: true,
                delisted_at: Some(at("2018-02-19T00:00:00Z")),
            }
        );
        let r = request(
            "2010-01-01T00:00:00Z",
            "2020-01-01T00:00:00Z",
            listing,
            false,
        );
        let cut = r.within_listing().range;
        assert_eq!(
            (cut.start, cut.end),
            (at("2015-11-11T00:00:00Z"), at("2018-02-19T00:00:00Z"))
        );
        assert_eq!(
            r.before_listing(),
            Some(TimeRange::new(
                at("2010-01-01T00:00:00Z"),
                at("2015-11-11T00:00:00Z")
            ))
        );
        // --retry-unreachable asks for the time before the listing again; a range after the
        // delisting is empty; a range after the listing has nothing before it.
        let retry = request(
            "2010-01-01T00:00:00Z",
            "2020-01-01T00:00:00Z",
            listing,
            true,
        );
        assert_eq!(
            retry.within_listing().range.start,
            at("2010-01-01T00:00:00Z")
        );
        assert_eq!(retry.before_listing(), None);
        let late = request(
            "2019-01-01T00:00:00Z",
            "2020-01-01T00:00:00Z",
            listing,
            false,
        );
        assert!(late.within_listing().range.is_empty());
        let inside = request(
            "2016-01-01T00:00:00Z",
            "2017-01-01T00:00:00Z",
            listing,
            false,
        );
        assert_eq!(inside.before_listing(), None);
        assert_eq!(inside.within_listing().range, inside.range);
    }
}
