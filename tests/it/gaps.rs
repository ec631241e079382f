//! `gaps` against market calendars: planted holes of each kind are reported exactly, and
//! weekends, NYSE holidays and early closes are not gaps.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc, Weekday};

use crate::crash::{synth_server, workspace};
use crate::support::{Workspace, at, fixture};

async fn gaps(ws: &Workspace, args: &[&str]) -> (i32, serde_json::Value) {
    let out = ws.run(&[&["gaps", "--json"][..], args].concat()).await;
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), report)
}

fn ranges(series: &serde_json::Value, kind: &str) -> Vec<(String, String)> {
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
    DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn crypto_holes_outside_coverage_quiet_hours_and_rejects_are_labelled() {
    let server = synth_server().await;
    let ws = workspace(&server);
    let week = [
        "backfill",
        "--provider",
        "coinbase",
        "--pairs",
        "BTC-USD",
        "--timeframes",
        "1h",
        "--start",
        "2024-01-02",
        "--end",
        "2024-01-09",
    ];
    assert_eq!(ws.run(&week).await.status.code(), Some(0));
    let (code, report) = gaps(
        &ws,
        &[
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-10",
            "--fail-on-gaps",
        ],
    )
    .await;
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
    let quiet: Vec<_> = hours
        .clone()
        .filter(|t| (t / 3600) % 50 == 7)
        .map(|t| (hour(t), hour(t + 3600)))
        .collect();
    let rejected: Vec<_> = hours
        .filter(|t| (t / 3600) % 97 == 13 && (t / 3600) % 50 != 7)
        .map(|t| (hour(t), hour(t + 3600)))
        .collect();
    assert!(!quiet.is_empty() && !rejected.is_empty());
    assert_eq!(ranges(s, "no_trades"), quiet);
    assert_eq!(ranges(s, "dead_lettered"), rejected);

    let (code, _) = gaps(
        &ws,
        &[
            "--start",
            "2024-01-03T00:00:00Z",
            "--end",
            "2024-01-03T07:00:00Z",
            "--fail-on-gaps",
        ],
    )
    .await;
    assert_eq!(code, 0, "no gap in a complete range");
}

#[tokio::test(flavor = "multi_thread")]
async fn fx_weekends_and_nyse_holidays_and_early_closes_are_not_gaps() {
    // Oanda FX M5: the only holes are the fixture's no-tick buckets, never the weekend.
    let oanda = crate::oanda::server("oanda/EUR_USD-M5.json").await;
    let ws = crate::oanda::workspace(&oanda);
    let args = [
        "backfill",
        "--provider",
        "oanda",
        "--pairs",
        "EUR-USD",
        "--timeframes",
        "5m",
        "--start",
        "2024-03-01",
        "--end",
        "2024-03-22T21:00:00Z",
    ];
    assert_eq!(ws.run(&args).await.status.code(), Some(0));
    let (_, report) = gaps(&ws, &[]).await;
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

    // Alpha Vantage IBM 30min in November 2024: Thanksgiving (28th) closed, the 29th closes
    // early (after-hours end 17:00 New York), weekends closed.
    let av = crate::alphavantage::av_server(&[]).await;
    let ws = crate::alphavantage::workspace(&av);
    let args = [
        "backfill",
        "--provider",
        "alphavantage",
        "--pairs",
        "IBM",
        "--timeframes",
        "30m",
        "--start",
        "2024-11-01T04:00:00Z",
        "--end",
        "2024-12-01T05:00:00Z",
    ];
    assert_eq!(ws.run(&args).await.status.code(), Some(0));
    let (_, report) = gaps(&ws, &[]).await;
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
                missing.push(t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
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
            (0..(to - from).num_minutes() / 30).map(move |k| {
                (from + chrono::Duration::minutes(30 * k))
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string()
            })
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
    let av = crate::alphavantage::av_server(&[]).await;
    let ws = crate::alphavantage::workspace(&av);
    let args = [
        "backfill",
        "--provider",
        "alphavantage",
        "--pairs",
        "EUR-USD",
        "--timeframes",
        "1d",
        "--start",
        "2024-01-02",
        "--end",
        "2024-12-01",
    ];
    assert_eq!(ws.run(&args).await.status.code(), Some(0));
    let (code, report) = gaps(&ws, &["--fail-on-gaps"]).await;
    let s = &report["series"][0];
    assert_eq!(s["calendar"], "fx_weekdays");
    assert_eq!(s["expected"], 239, "{s}");
    assert_eq!(s["held"], 239, "{s}");
    assert_eq!(s["gaps"], serde_json::json!([]), "{s}");
    assert_eq!(code, 0, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_history_is_labelled() {
    let av = crate::alphavantage::av_server(&[]).await;
    let ws = crate::alphavantage::workspace(&av);
    let args = [
        "backfill",
        "--provider",
        "alphavantage",
        "--pairs",
        "EUR-USD",
        "--timeframes",
        "1d",
        "--start",
        "2023-12-01",
        "--end",
        "2024-02-01",
    ];
    assert_eq!(
        ws.run(&args).await.status.code(),
        Some(2),
        "partial: history before 2024-01-02 is unreachable"
    );
    let (_, report) = gaps(&ws, &["--start", "2023-12-01", "--end", "2024-02-01"]).await;
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
