//! `gaps` against market calendars: planted holes of each kind are reported exactly, and
//! weekends, NYSE holidays and early closes are not gaps.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc, Weekday};
use serde_json::Value;

use crate::support::servers::{av_server, oanda_server};
use crate::support::synth::{is_gap, is_invalid, synth_server};
use crate::support::{Args, Workspace, at, backfill, fixture, rfc3339};

/// `gaps --json`, to which options are added.
fn gaps_json() -> Args {
    Args::of(&["gaps", "--json"])
}

/// Runs `backfill` (asserting its exit code), then `gaps`.
async fn gaps_after(ws: &Workspace, backfill: Args, code: i32, args: Args) -> (i32, Value) {
    ws.run_expect(backfill, code).await;
    gaps(ws, args).await
}

async fn gaps(ws: &Workspace, args: Args) -> (i32, Value) {
    let out = ws.run(args).await;
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), report)
}

fn ranges(series: &Value, kind: &str) -> Vec<(String, String)> {
    series["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["kind"] == kind)
        .map(|g| {
            (
                g["from"].as_str().unwrap().to_string(),
                g["to"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn hour(t: i64) -> String {
    rfc3339(DateTime::from_timestamp(t, 0).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn crypto_holes_outside_coverage_quiet_hours_and_rejects_are_labelled() {
    let server = synth_server().await;
    let ws = Workspace::synth(&server);
    let week = backfill("coinbase", "BTC-USD", "1h").range("2024-01-02", "2024-01-09");
    let wider = gaps_json()
        .range("2024-01-01", "2024-01-10")
        .arg("--fail-on-gaps");
    let (code, report) = gaps_after(&ws, week, 0, wider).await;
    assert_eq!(code, 2, "gaps found: {report}");
    let s = &report["series"][0];
    assert_eq!(s["calendar"], "crypto");
    // Outside coverage: the day before and the day after.
    assert_eq!(
        ranges(s, "not_fetched"),
        [
            ("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"),
            ("2024-01-09T00:00:00Z", "2024-01-10T00:00:00Z")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // The synthetic provider has no trades in every 50th hour and an invalid candle in every 97th.
    let hours = (at("2024-01-02T00:00:00Z").timestamp()..at("2024-01-09T00:00:00Z").timestamp())
        .step_by(3600);
    let bucket = |t: i64| (hour(t), hour(t + 3600));
    let quiet: Vec<_> = hours
        .clone()
        .filter(|t| is_gap(*t, 3600))
        .map(bucket)
        .collect();
    let rejected: Vec<_> = hours
        .filter(|t| is_invalid(*t, 3600) && !is_gap(*t, 3600))
        .map(bucket)
        .collect();
    assert!(!quiet.is_empty() && !rejected.is_empty());
    assert_eq!(ranges(s, "no_trades"), quiet);
    assert_eq!(ranges(s, "dead_lettered"), rejected);

    let complete = gaps_json()
        .range("2024-01-03T00:00:00Z", "2024-01-03T07:00:00Z")
        .arg("--fail-on-gaps");
    let (code, _) = gaps(&ws, complete).await;
    assert_eq!(code, 0, "no gap in a complete range");
}

#[tokio::test(flavor = "multi_thread")]
async fn oanda_fx_weekends_are_not_gaps() {
    // Oanda FX M5: the only holes are the fixture's no-tick buckets, never the weekend.
    let oanda = oanda_server("oanda/EUR_USD-M5.json").await;
    let ws = Workspace::oanda(&oanda);
    let weeks = backfill("oanda", "EUR-USD", "5m").range("2024-03-01", "2024-03-22T21:00:00Z");
    let (_, report) = gaps_after(&ws, weeks, 0, gaps_json()).await;
    let s = &report["series"][0];
    assert_eq!(s["calendar"], "fx");
    let quiet: BTreeSet<String> = ranges(s, "no_trades")
        .into_iter()
        .map(|(from, _)| from)
        .collect();
    let listed = [
        "2024-03-04T22:00:00Z",
        "2024-03-05T22:05:00Z",
        "2024-03-06T21:55:00Z",
        "2024-03-12T21:00:00Z",
        "2024-03-13T21:05:00Z",
        "2024-03-17T21:05:00Z",
        "2024-03-19T20:55:00Z",
        "2024-03-21T21:00:00Z",
    ];
    assert_eq!(quiet, listed.iter().map(|s| s.to_string()).collect(), "{s}");
    assert_eq!(
        s["gaps"].as_array().unwrap().len(),
        8,
        "no weekend range: {s}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nyse_weekends_holidays_and_early_closes_are_not_gaps() {
    // Alpha Vantage IBM 30min in November 2024: Thanksgiving (28th) closed, the 29th closes
    // early (after-hours end 17:00 New York), weekends closed.
    let av = av_server(&[]).await;
    let ws = Workspace::alphavantage(&av);
    let november = backfill("alphavantage", "IBM", "30m")
        .range("2024-11-01T04:00:00Z", "2024-12-01T05:00:00Z");
    let (_, report) = gaps_after(&ws, november, 0, gaps_json()).await;
    let s = &report["series"][0];
    assert_eq!(s["calendar"], "us_equity");
    // The expected bars, written out here from the NYSE rules for November 2024.
    let ny = chrono_tz::America::New_York;
    let body: serde_json::Value = serde_json::from_str(&fixture(
        "alphavantage/TIME_SERIES_INTRADAY-IBM-30min-2024-11.json",
    ))
    .unwrap();
    let mut missing = Vec::new();
    for day in 1..=29 {
        let date = NaiveDate::from_ymd_opt(2024, 11, day).unwrap();
        if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) || day == 28 {
            continue;
        }
        let last = if day == 29 { (16, 30) } else { (19, 30) };
        for slot in 0.. {
            let (h, m) = (4 + slot / 2, (slot % 2) * 30);
            if (h, m) > last {
                break;
            }
            let key = format!("2024-11-{day:02} {h:02}:{m:02}:00");
            if body["Time Series (30min)"].get(&key).is_none() {
                let t = ny
                    .from_local_datetime(&date.and_hms_opt(h, m, 0).unwrap())
                    .unwrap()
                    .with_timezone(&Utc);
                missing.push(rfc3339(t));
            }
        }
    }
    let reported: Vec<String> = s["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| {
            let (from, to) = (
                at(g["from"].as_str().unwrap()),
                at(g["to"].as_str().unwrap()),
            );
            (0..(to - from).num_minutes() / 30)
                .map(move |k| rfc3339(from + chrono::Duration::minutes(30 * k)))
        })
        .collect();
    assert_eq!(reported, missing, "only the fixture's no-trade bars: {s}");
    assert!(
        s["gaps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["kind"] == "no_trades")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn alpha_vantage_fx_daily_expects_weekdays_only() {
    // FX_DAILY serves a bar per UTC weekday; Sunday evening's trading has none of its own, so
    // eleven months of it hold every expected bar and no Sunday is a gap.
    let av = av_server(&[]).await;
    let ws = Workspace::alphavantage(&av);
    let eleven_months = backfill("alphavantage", "EUR-USD", "1d").range("2024-01-02", "2024-12-01");
    let (code, report) = gaps_after(&ws, eleven_months, 0, gaps_json().arg("--fail-on-gaps")).await;
    let s = &report["series"][0];
    assert_eq!(s["calendar"], "fx_weekdays");
    assert_eq!(s["expected"], 239, "{s}");
    assert_eq!(s["held"], 239, "{s}");
    assert_eq!(s["gaps"], serde_json::json!([]), "{s}");
    assert_eq!(code, 0, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_history_is_labelled() {
    let av = av_server(&[]).await;
    let ws = Workspace::alphavantage(&av);
    let (start, end) = ("2023-12-01", "2024-02-01");
    let two_months = backfill("alphavantage", "EUR-USD", "1d").range(start, end);
    // Exit 2, partial: history before 2024-01-02 is unreachable.
    let (_, report) = gaps_after(&ws, two_months, 2, gaps_json().range(start, end)).await;
    let s = &report["series"][0];
    let unreachable = ranges(s, "unreachable");
    assert_eq!(
        unreachable.first().map(|r| r.0.as_str()),
        Some("2023-12-01T00:00:00Z"),
        "{s}"
    );
    assert!(
        unreachable
            .iter()
            .all(|r| r.1.as_str() <= "2024-01-02T00:00:00Z"),
        "{s}"
    );
    assert!(ranges(s, "not_fetched").is_empty(), "{s}");
}
