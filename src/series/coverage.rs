//! A series' coverage: what the table holds (the table wins over the watermark file), what a
//! request still has to fetch, how a fetched window extends it, and the one place a watermark
//! file moves.

use chrono::{DateTime, Utc};

use super::request::{Direction, SeriesRequest};
use crate::error::{Error, Result};
use crate::model::{SeriesKey, TimeRange};
use crate::providers::Timeframe;
use crate::report::summary::SeriesStatus;
use crate::sink::{Committed, DeltaSink, Holding};
use crate::state::watermark::{Loaded, Unreachable, UnreachableReason, Watermark, WatermarkStore};

/// A series' coverage as the table records it, and its watermark repaired to match.
#[derive(Debug, Clone)]
pub struct Held {
    pub coverage: Option<TimeRange>,
    pub watermark: Watermark,
}

/// Reads the series' coverage marks from the table and repairs the watermark file from them.
pub async fn held(
    sink: &DeltaSink,
    watermarks: &WatermarkStore,
    series: &SeriesKey,
    now: DateTime<Utc>,
) -> Result<Held> {
    let recorded = sink.recorded_coverage(series).await?;
    let file = watermarks.load(series)?;
    let path = watermarks.path(series);
    match (recorded, file) {
        (Some(c), Loaded::Valid(w)) if w.coverage == c => Ok(Held {
            coverage: Some(c),
            watermark: *w,
        }),
        (Some(c), loaded) => {
            tracing::warn!(path = %path, "The watermark file disagreed with the table; repaired it from the table.");
            let mut w = match loaded {
                Loaded::Valid(w) => *w,
                _ => Watermark::new(series, c, now),
            };
            w.coverage = c;
            w.updated_at = now;
            describe(&mut w, &sink.holding_of(series).await?);
            watermarks.save(&w, series)?;
            Ok(Held {
                coverage: Some(c),
                watermark: w,
            })
        }
        (None, Loaded::Valid(w)) => Err(Error::Failed(format!(
            "the watermark {} records coverage {} .. {} but the table holds none for this series; if the table was removed on purpose, delete the watermark file and rerun",
            path,
            w.coverage.start.to_rfc3339(),
            w.coverage.end.to_rfc3339()
        ))),
        (None, _) => Ok(Held {
            coverage: None,
            watermark: Watermark::new(series, TimeRange::new(now, now), now),
        }),
    }
}

/// The ranges a request must fetch: the request aligned to the timeframe and cut at
/// `horizon` (the last final bucket), less what coverage holds, widened to touch the
/// coverage. History recorded as unreachable just below the coverage is not asked for again
/// unless the request says so.
pub fn plan_ranges(
    request: &SeriesRequest,
    held: Option<TimeRange>,
    unreachable: &[TimeRange],
    horizon: DateTime<Utc>,
) -> Vec<(TimeRange, Direction)> {
    let tf = request.series.timeframe;
    let wanted = TimeRange::new(
        tf.ceil(request.range.start),
        tf.ceil(request.range.end).min(horizon),
    );
    if wanted.is_empty() {
        return Vec::new();
    }
    let Some(held) = held else {
        return vec![(wanted, Direction::Forward)];
    };
    let mut ranges = Vec::new();
    let known_unreachable = !request.retry_unreachable
        && unreachable
            .iter()
            .any(|u| u.end >= held.start && u.start <= wanted.start);
    if wanted.start < held.start && !known_unreachable {
        ranges.push((
            TimeRange::new(wanted.start, held.start),
            Direction::Backward,
        ));
    }
    if wanted.end > held.end {
        ranges.push((TimeRange::new(held.end, wanted.end), Direction::Forward));
    }
    ranges
}

/// The coverage after a fetched window: `lower` is the first bucket the provider can serve
/// in it, `upper` the end of its final candles. Forward ranges grow `end`, prepends `start`.
pub fn extend(
    coverage: Option<TimeRange>,
    direction: Direction,
    lower: DateTime<Utc>,
    upper: DateTime<Utc>,
) -> Option<TimeRange> {
    match (direction, coverage) {
        (Direction::Forward, None) => (lower < upper).then_some(TimeRange::new(lower, upper)),
        (Direction::Forward, Some(c)) => Some(TimeRange::new(c.start, c.end.max(upper))),
        (Direction::Backward, Some(c)) if lower < c.start => Some(TimeRange::new(lower, c.end)),
        (Direction::Backward, held) => held,
    }
}

/// The first bucket of `window` the provider can serve, and the part before it that it
/// cannot, from what it said of its history (`available_from`). A provider that said nothing
/// serves the whole window: a window that does not start on a bucket of the series' timeframe
/// (a 4h series fetched in 1h windows) is not missing anything.
pub fn unserved(
    window: TimeRange,
    tf: Timeframe,
    available_from: Option<DateTime<Utc>>,
) -> (DateTime<Utc>, Option<TimeRange>) {
    let first = tf.ceil(window.start);
    let Some(available) = available_from
        .map(|a| tf.ceil(a))
        .filter(|a| *a > window.start)
    else {
        return (first, None);
    };
    let lower = available.max(first);
    (
        lower,
        Some(TimeRange::new(window.start, lower.min(window.end))),
    )
}

/// The watermark after a commit: the table's coverage, and the candles it now holds.
pub fn after_commit(
    w: &mut Watermark,
    committed: &Committed,
    first_last: Option<(DateTime<Utc>, DateTime<Utc>)>,
    now: DateTime<Utc>,
) {
    w.coverage = committed.coverage;
    if let Some((first, last)) = first_last {
        w.hold(first, last);
    }
    if let Some(version) = committed.version {
        w.table_version = version;
    }
    w.updated_at = now;
}

/// The watermark's first and last candle as the table holds them, whoever wrote them.
pub fn describe(w: &mut Watermark, held: &Holding) {
    w.first_candle = held.first;
    w.last_candle = held.last;
}

/// The watermark at the end of a run: history found unreachable (the provider's trailing
/// window in `unreachable`, the time before the pair's listing in `before_listing`), and how
/// the run ended.
pub fn after_run(
    w: &mut Watermark,
    unreachable: &[TimeRange],
    before_listing: Option<TimeRange>,
    status: SeriesStatus,
    now: DateTime<Utc>,
) {
    let found = unreachable
        .iter()
        .map(|r| Unreachable::new(*r, None))
        .chain(before_listing.map(|r| Unreachable::new(r, Some(UnreachableReason::BeforeListing))));
    for u in found {
        if !w.unreachable.contains(&u) {
            w.unreachable.push(u);
        }
    }
    w.last_run = Some(now);
    w.last_status = Some(status.as_str().to_string());
    if status == SeriesStatus::Success {
        w.last_success = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ProviderId;
    use crate::sink::PartitionPeriod;
    use crate::testing::at;

    fn range(a: &str, b: &str) -> TimeRange {
        TimeRange::new(at(a), at(b))
    }

    fn request(start: &str, end: &str, retry_unreachable: bool) -> SeriesRequest {
        SeriesRequest {
            series: SeriesKey {
                provider: ProviderId::Coinbase,
                pair: "BTC-USD".into(),
                timeframe: Timeframe::H1,
            },
            source: Timeframe::H1,
            range: range(start, end),
            partition_period: PartitionPeriod::Month,
            retry_unreachable,
            listing: Default::default(),
        }
    }

    const HORIZON: &str = "2024-06-01T00:00:00Z";

    #[test]
    fn a_new_series_fetches_the_aligned_request_up_to_the_horizon() {
        let r = request("2024-05-31T10:30:00Z", "2024-07-01T00:00:00Z", false);
        assert_eq!(
            plan_ranges(&r, None, &[], at(HORIZON)),
            vec![(range("2024-05-31T11:00:00Z", HORIZON), Direction::Forward)]
        );
        let future = request("2024-06-02T00:00:00Z", "2024-07-01T00:00:00Z", false);
        assert!(plan_ranges(&future, None, &[], at(HORIZON)).is_empty());
    }

    #[test]
    fn held_coverage_is_prepended_and_appended_never_refetched() {
        let held = range("2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z");
        let r = request("2024-02-01T00:00:00Z", "2024-05-01T00:00:00Z", false);
        assert_eq!(
            plan_ranges(&r, Some(held), &[], at(HORIZON)),
            vec![
                (
                    range("2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"),
                    Direction::Backward
                ),
                (
                    range("2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z"),
                    Direction::Forward
                ),
            ]
        );
        // A request inside coverage fetches nothing; one after it is widened to touch it.
        let inside = request("2024-03-05T00:00:00Z", "2024-03-06T00:00:00Z", false);
        assert!(plan_ranges(&inside, Some(held), &[], at(HORIZON)).is_empty());
        let later = request("2024-04-10T00:00:00Z", "2024-04-11T00:00:00Z", false);
        assert_eq!(
            plan_ranges(&later, Some(held), &[], at(HORIZON)),
            vec![(
                range("2024-04-01T00:00:00Z", "2024-04-11T00:00:00Z"),
                Direction::Forward
            )]
        );
    }

    #[test]
    fn unreachable_history_is_asked_again_only_when_told() {
        let held = range("2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z");
        let unreachable = [range("2024-01-01T00:00:00Z", "2024-03-01T00:00:00Z")];
        let r = request("2024-02-01T00:00:00Z", "2024-04-01T00:00:00Z", false);
        assert!(plan_ranges(&r, Some(held), &unreachable, at(HORIZON)).is_empty());
        let again = request("2024-02-01T00:00:00Z", "2024-04-01T00:00:00Z", true);
        assert_eq!(
            plan_ranges(&again, Some(held), &unreachable, at(HORIZON)),
            vec![(
                range("2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"),
                Direction::Backward
            )]
        );
    }

    #[test]
    fn windows_extend_coverage_in_their_direction_only() {
        let c = range("2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z");
        let t = at;
        assert_eq!(
            extend(
                None,
                Direction::Forward,
                t("2024-01-01T00:00:00Z"),
                t("2024-01-02T00:00:00Z")
            ),
            Some(range("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"))
        );
        assert_eq!(
            extend(
                None,
                Direction::Forward,
                t("2024-01-02T00:00:00Z"),
                t("2024-01-02T00:00:00Z")
            ),
            None
        );
        assert_eq!(
            extend(
                Some(c),
                Direction::Forward,
                t("2024-04-01T00:00:00Z"),
                t("2024-04-02T00:00:00Z")
            ),
            Some(range("2024-03-01T00:00:00Z", "2024-04-02T00:00:00Z"))
        );
        assert_eq!(
            extend(
                Some(c),
                Direction::Backward,
                t("2024-02-01T00:00:00Z"),
                t("2024-03-01T00:00:00Z")
            ),
            Some(range("2024-02-01T00:00:00Z", "2024-04-01T00:00:00Z"))
        );
        assert_eq!(
            extend(
                Some(c),
                Direction::Backward,
                t("2024-03-05T00:00:00Z"),
                t("2024-03-06T00:00:00Z")
            ),
            Some(c)
        );
    }

    #[test]
    fn history_before_what_the_provider_serves_is_unserved() {
        let w = range("2024-01-01T00:00:00Z", "2024-01-10T00:00:00Z");
        let (lower, gap) = unserved(w, Timeframe::H1, Some(at("2024-01-05T00:30:00Z")));
        assert_eq!(lower, at("2024-01-05T01:00:00Z"));
        assert_eq!(
            gap,
            Some(range("2024-01-01T00:00:00Z", "2024-01-05T01:00:00Z"))
        );
        assert_eq!(unserved(w, Timeframe::H1, None), (w.start, None));
        // A 4h series fetched in 1h windows: a window starting at 14:00 misses nothing.
        let mid = range("2024-01-01T14:00:00Z", "2024-01-02T00:00:00Z");
        assert_eq!(
            unserved(mid, Timeframe::H4, None),
            (at("2024-01-01T16:00:00Z"), None)
        );
    }
}
