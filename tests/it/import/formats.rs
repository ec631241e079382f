//! Each format read into the table cell for cell, its rejects in the DLQ with file and line.

use candlelake::providers::Timeframe;

use super::{binance_statuses, dlq_records, fixture_dir, import, row, statuses, table};
use crate::support::{Workspace, read_json};

fn s(items: &[&str]) -> Vec<String> {
    items.iter().map(|x| x.to_string()).collect()
}

#[tokio::test]
async fn binance_archives_land_exactly_and_bad_archives_fail_alone() {
    let ws = Workspace::offline();
    let dir = fixture_dir(&ws, "binance");
    let report = ws
        .run_json_expect(import("binance-klines", &dir, &[]), 2)
        .await;
    assert_eq!(report["status"], "partial");
    assert_eq!(statuses(&report), binance_statuses());
    let errors: Vec<String> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["error"].as_str().map(String::from))
        .collect();
    assert!(errors[0].contains("its .CHECKSUM says"), "{errors:?}");
    assert!(
        errors[1].contains("not a readable zip archive"),
        "{errors:?}"
    );
    let b = |time: &str, ohlcv: [&str; 5]| {
        row(
            "binance",
            "BTC-USDT",
            time,
            "1m",
            ohlcv,
            "base",
            "2024-01-01",
        )
    };
    let e = |time: &str, ohlcv: [&str; 5]| {
        row(
            "binance",
            "ETH-USDT",
            time,
            "1m",
            ohlcv,
            "base",
            "2025-01-01",
        )
    };
    assert_eq!(
        table(&ws, Timeframe::M1).await,
        [
            // The later copy of 00:00 wins; 00:03 (high below low) is dead-lettered.
            b(
                "2024-01-01T00:00:00Z",
                ["42283.58", "42299", "42283.57", "42298.99", "36"]
            ),
            b(
                "2024-01-01T00:01:00Z",
                ["42298.62", "42320", "42298.61", "42318.98", "48.70858"]
            ),
            b(
                "2024-01-01T00:02:00Z",
                ["42318.99", "42331.9", "42301.15", "42328.5", "51.151"]
            ),
            // Microsecond open times of 2025.
            e(
                "2025-01-01T00:00:00Z",
                ["3337.78", "3343.3", "3334.11", "3338.91", "1032.8567"]
            ),
            e(
                "2025-01-01T00:02:00Z",
                ["3339.55", "3341.2", "3337.51", "3340.01", "402.0113"]
            ),
        ]
    );
    let dlq = dlq_records(&ws);
    let lines: Vec<_> = dlq
        .iter()
        .map(|(f, l, r, _)| (f.as_str(), *l, r.clone()))
        .collect();
    assert_eq!(
        lines,
        [
            (
                "BTCUSDT-1m-2024-01-01.zip",
                5,
                s(&["high_below_low", "open_out_of_range", "close_out_of_range"])
            ),
            ("ETHUSDT-1m-2025-01-01.zip", 2, s(&["precision_overflow"])),
            ("ETHUSDT-1m-2025-01-01.zip", 4, s(&["misaligned_timestamp"])),
        ]
    );
    assert!(
        dlq[0]
            .3
            .starts_with("1704067380000,42328.50000000,42300.00000000")
    );
    let state = ws.state().join("imports");
    let failed: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| read_json(&p))
        .filter(|s| s["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 2);
    for s in &failed {
        assert_eq!(s["attempts"], 1, "{s}");
        assert!(s["error"].as_str().unwrap().len() > 10, "{s}");
        assert!(s["size"].as_u64().unwrap() > 0, "{s}");
    }
}

#[tokio::test]
async fn polygon_day_files_hold_every_ticker_in_nanoseconds() {
    let ws = Workspace::offline();
    let dir = fixture_dir(&ws, "polygon");
    let report = ws
        .run_json_expect(import("polygon-minute-aggs", &dir, &[]), 0)
        .await;
    assert_eq!(
        statuses(&report),
        [("2024-01-02.csv.gz".into(), "success".into(), 4, 2, 1)]
    );
    let p = |pair: &str, time: &str, ohlcv: [&str; 5], kind: &str| {
        row("polygon", pair, time, "1m", ohlcv, kind, "2024-01-02")
    };
    assert_eq!(
        table(&ws, Timeframe::M1).await,
        [
            p(
                "AAPL",
                "2024-01-02T09:00:00Z",
                ["185.33", "185.34", "185.3", "185.31", "4931"],
                "shares"
            ),
            p(
                "AAPL",
                "2024-01-02T09:01:00Z",
                ["185.33", "185.33", "185.2", "185.2", "1582"],
                "shares"
            ),
            p(
                "BTC-USD",
                "2024-01-02T09:00:00Z",
                ["44950.1", "44961", "44949.5", "44960.25", "0.52"],
                "base"
            ),
            p(
                "MSFT",
                "2024-01-02T09:00:00Z",
                ["370.87", "370.87", "370.6", "370.6", "712"],
                "shares"
            ),
        ]
    );
    let lines: Vec<_> = dlq_records(&ws)
        .into_iter()
        .map(|(f, l, r, _)| (f, l, r))
        .collect();
    assert_eq!(
        lines,
        [
            ("2024-01-02.csv.gz".into(), 6, s(&["negative_volume"])),
            ("2024-01-02.csv.gz".into(), 7, s(&["missing_field"])),
        ]
    );
    // --pairs selects tickers of the day file; a second import of the same file commits nothing.
    let only = Workspace::offline();
    let dir = fixture_dir(&only, "polygon");
    let report = only
        .run_json_expect(import("polygon-minute-aggs", &dir, &["--pairs", "MSFT"]), 0)
        .await;
    assert_eq!(report["files"][0]["skipped"], 4);
    let pairs: Vec<_> = table(&only, Timeframe::M1)
        .await
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(pairs, ["MSFT"]);
}

#[tokio::test]
async fn histdata_is_eastern_standard_time_all_year() {
    let ws = Workspace::offline();
    let dir = fixture_dir(&ws, "histdata");
    let report = ws
        .run_json_expect(import("histdata-m1", &dir, &[]), 0)
        .await;
    assert_eq!(
        statuses(&report),
        [(
            "DAT_ASCII_EURUSD_M1_2023.csv".into(),
            "success".into(),
            3,
            1,
            1
        )]
    );
    let h = |time: &str, ohlcv: [&str; 5], date: &str| {
        row("histdata", "EUR-USD", time, "1m", ohlcv, "none", date)
    };
    assert_eq!(
        table(&ws, Timeframe::M1).await,
        [
            h(
                "2023-01-02T22:00:00Z",
                ["1.0701", "1.07025", "1.07", "1.07015", "0"],
                "2023-01-02"
            ),
            h(
                "2023-01-02T22:01:00Z",
                ["1.0701", "1.0703", "1.0701", "1.07025", "0"],
                "2023-01-02"
            ),
            // July: still UTC-5, HistData keeps no daylight saving.
            h(
                "2023-07-03T22:00:00Z",
                ["1.091", "1.0911", "1.0909", "1.091", "0"],
                "2023-07-03"
            ),
        ]
    );
    let lines = dlq_records(&ws);
    assert_eq!(
        lines,
        [(
            "DAT_ASCII_EURUSD_M1_2023.csv".into(),
            4,
            s(&["unparseable"]),
            "20230102 170200;1,0703;1.070300;1.070100;1.070250;0".into()
        )]
    );
}

#[tokio::test]
async fn csv_and_parquet_take_a_column_map() {
    let ws = Workspace::offline();
    let csv = fixture_dir(&ws, "csv");
    let args = import(
        "csv",
        &csv,
        &[
            "--timeframe",
            "1h",
            "--provider-name",
            "desk",
            "--timestamp-unit",
            "s",
            "--map",
            "timestamp=ts,open=o,high=h,low=l,close=c,volume=vol,pair=symbol",
        ],
    );
    let report = ws.run_json_expect(args, 0).await;
    assert_eq!(
        statuses(&report),
        [("custom-1h.csv".into(), "success".into(), 3, 1, 0)]
    );
    let parquet = fixture_dir(&ws, "parquet");
    let args = import(
        "parquet",
        &parquet,
        &[
            "--timeframe",
            "1m",
            "--provider-name",
            "desk",
            "--timestamp-unit",
            "ms",
            "--map",
            "timestamp=open_time",
        ],
    );
    let report = ws.run_json_expect(args, 0).await;
    assert_eq!(
        statuses(&report),
        [("link-1m.parquet".into(), "success".into(), 2, 1, 0)]
    );
    let d = |pair: &str, time: &str, tf: &str, ohlcv: [&str; 5], date: &str| {
        row("desk", pair, time, tf, ohlcv, "base", date)
    };
    assert_eq!(
        table(&ws, Timeframe::H1).await,
        [
            d(
                "ETH-USD",
                "2024-01-01T00:00:00Z",
                "1h",
                ["2281.5", "2283.25", "2280.75", "2282.5", "12.5"],
                "2024-01-01"
            ),
            d(
                "ETH-USD",
                "2024-01-01T01:00:00Z",
                "1h",
                ["2282.5", "2290", "2282", "2289.75", "40.125"],
                "2024-01-01"
            ),
            d(
                "SOL-USD",
                "2024-01-01T00:00:00Z",
                "1h",
                ["101.5", "102", "101.25", "101.75", "300"],
                "2024-01-01"
            ),
        ]
    );
    assert_eq!(
        table(&ws, Timeframe::M1).await,
        [
            // The decimal(20,8) open column reads exactly, like the string columns.
            d(
                "LINK-USD",
                "2024-01-01T00:00:00Z",
                "1m",
                ["14.85", "14.9", "14.84", "14.87", "1520.5"],
                "2024-01-01"
            ),
            d(
                "LINK-USD",
                "2024-01-01T00:01:00Z",
                "1m",
                ["14.87", "14.91", "14.86", "14.9", "980.25"],
                "2024-01-01"
            ),
        ]
    );
    let lines: Vec<_> = dlq_records(&ws)
        .into_iter()
        .map(|(f, l, r, _)| (f, l, r))
        .collect();
    assert_eq!(
        lines,
        [
            (
                "custom-1h.csv".into(),
                5,
                s(&["high_below_low", "open_out_of_range", "close_out_of_range"])
            ),
            (
                "link-1m.parquet".into(),
                4,
                s(&["high_below_low", "open_out_of_range", "close_out_of_range"])
            ),
        ]
    );
    // Floating-point prices are refused, not rounded.
    let floats = fixture_dir(&ws, "parquet-float");
    let args = import(
        "parquet",
        &floats,
        &[
            "--timeframe",
            "1m",
            "--provider-name",
            "desk",
            "--timestamp-unit",
            "ms",
            "--map",
            "timestamp=open_time",
        ],
    );
    let report = ws.run_json_expect(args, 2).await;
    let error = report["files"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("column 'open' holds floating-point numbers"),
        "{error}"
    );
}

#[tokio::test]
async fn flag_mistakes_are_usage_errors_before_any_work() {
    let ws = Workspace::offline();
    let csv = fixture_dir(&ws, "csv");
    // TC: (arguments, what the message names)
    let cases: [(Vec<String>, &str); 5] = [
        (
            import("csv", &csv, &["--provider-name", "desk"]),
            "--timeframe",
        ),
        (
            import("csv", &csv, &["--timeframe", "1h"]),
            "--provider-name",
        ),
        (import("xlsx", &csv, &[]), "unknown --format"),
        (
            import(
                "csv",
                &csv.join("missing"),
                &["--timeframe", "1h", "--provider-name", "d"],
            ),
            "cannot be read",
        ),
        (
            import(
                "csv",
                &csv,
                &[
                    "--timeframe",
                    "1h",
                    "--provider-name",
                    "d",
                    "--timezone",
                    "Mars/Base",
                ],
            ),
            "--timezone",
        ),
    ];
    for (args, named) in cases {
        let out = ws.run_expect(&args, 1).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
    assert!(!ws.table_dir("1h").exists());
    assert!(!ws.state().join("imports").exists());
}

#[tokio::test]
async fn druid_spec_names_each_table_field_by_field() {
    let ws = Workspace::offline();
    let out = ws
        .run_expect(
            [
                "druid-spec",
                "--timeframes",
                "1m,4h",
                "--lake-uri",
                "s3://bucket/lake",
            ],
            0,
        )
        .await;
    let specs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let specs = specs.as_array().unwrap();
    assert_eq!(specs.len(), 2);
    for (spec, (table, segment)) in specs.iter().zip([
        ("raw_market_data_1m", "DAY"),
        ("raw_market_data_4h", "YEAR"),
    ]) {
        assert_eq!(spec["type"], "index_parallel");
        let schema = &spec["spec"]["dataSchema"];
        assert_eq!(schema["dataSource"], table);
        assert_eq!(
            schema["timestampSpec"],
            serde_json::json!({"column": "timestamp", "format": "auto"})
        );
        let dimensions: Vec<serde_json::Value> = [
            "asset_pair",
            "timeframe",
            "volume_kind",
            "source_provider",
            "_ingestion_id",
            "partition_asset_pair",
        ]
        .iter()
        .map(|c| serde_json::json!({"type": "string", "name": c}))
        .collect();
        assert_eq!(
            schema["dimensionsSpec"]["dimensions"],
            serde_json::Value::from(dimensions)
        );
        let metrics: Vec<serde_json::Value> = ["open", "high", "low", "close", "volume"]
            .iter()
            .map(|c| serde_json::json!({"type": "doubleSum", "name": c, "fieldName": c}))
            .collect();
        assert_eq!(schema["metricsSpec"], serde_json::Value::from(metrics));
        let granularity = &schema["granularitySpec"];
        assert_eq!(granularity["rollup"], false);
        assert_eq!(granularity["segmentGranularity"], segment);
        assert_eq!(granularity["queryGranularity"], "NONE");
        let io = &spec["spec"]["ioConfig"];
        assert_eq!(io["type"], "index_parallel");
        assert_eq!(io["inputSource"]["type"], "delta");
        assert_eq!(
            io["inputSource"]["tablePath"],
            format!("s3://bucket/lake/{table}")
        );
        assert_eq!(spec["spec"]["tuningConfig"]["type"], "index_parallel");
    }
    // Without --lake-uri the spec points at the lake, as an absolute path.
    let out = ws.run_expect(["druid-spec", "--timeframes", "1h"], 0).await;
    let specs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let path = specs[0]["spec"]["ioConfig"]["inputSource"]["tablePath"]
        .as_str()
        .unwrap();
    assert_eq!(path, format!("{}/raw_market_data_1h", ws.lake()));
    assert_eq!(
        specs[0]["spec"]["dataSchema"]["granularitySpec"]["segmentGranularity"],
        "MONTH"
    );
}
