//! Every reason code: bad candles sent through the real client and pipeline land in the DLQ
//! with that reason, and the counters add up.

use std::collections::BTreeSet;

use candlelake::providers::Timeframe;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    Workspace, assert_conservation, backfill, fields, fixture, read_json, series,
};

#[tokio::test(flavor = "multi_thread")]
async fn every_reason_code_reaches_the_dlq() {
    let server = MockServer::start().await;
    let body = fixture("coinbase/invalid/SOL-USD-1h.json");
    Mock::given(method("GET"))
        .and(path("/api/v3/brokerage/market/products/SOL-USD/candles"))
        .respond_with(ResponseTemplate::new(200).set_body_string(body))
        .mount(&server)
        .await;
    let ws = Workspace::new(&server.uri());
    let half_day =
        backfill("coinbase", "SOL-USD", "1h").range("2024-03-01", "2024-03-01T12:00:00Z");
    let (code, summary) = ws.run_json(half_day).await;
    assert_eq!(
        code, 0,
        "dead-lettered candles do not fail the series: {summary}"
    );
    assert_conservation(&summary);
    let sol = series(&summary, "SOL-USD", "1h");
    assert_eq!(
        fields(sol, &["fetched", "records", "dead_lettered"]),
        json!([12, 3, 9]),
        "{sol}"
    );
    assert_eq!(summary["total_failed"], 9);

    let files = ws.dlq_files();
    assert_eq!(files.len(), 1, "one file per response with rejects");
    let name = files[0].file_stem().unwrap().to_str().unwrap().to_string();
    let ingestion_id = summary["ingestion_id"].as_str().unwrap();
    assert_eq!(name, format!("{ingestion_id}-coinbase-SOL-USD-1h-1"));
    let dlq = read_json(&files[0]);
    assert_eq!(dlq["error"], "validation_failed");
    let ctx = &dlq["context"];
    assert_eq!(
        fields(
            ctx,
            &["provider", "asset_pair", "timeframe", "source_timeframe"]
        ),
        json!(["coinbase", "SOL-USD", "1h", "1h"]),
        "{ctx}"
    );
    assert_eq!(ctx["ingestion_id"], ingestion_id);
    assert!(
        ctx["request"]
            .as_str()
            .unwrap()
            .contains("/SOL-USD/candles?start=1709251200")
    );

    let records = dlq["records"].as_array().unwrap();
    let by_time = |t: &str| {
        records
            .iter()
            .find(|r| r["timestamp"] == t)
            .unwrap_or_else(|| panic!("no record at {t}"))
    };
    // TC: (open time, reasons)
    let cases: [(&str, &[&str]); 9] = [
        ("2024-03-01T01:00:00Z", &["missing_field"]),
        ("2024-03-01T02:00:00Z", &["unparseable"]),
        ("2024-03-01T03:00:00Z", &["non_positive_price"]),
        // [low, high] is empty, so open and close lie outside it too.
        (
            "2024-03-01T04:00:00Z",
            &["high_below_low", "open_out_of_range", "close_out_of_range"],
        ),
        ("2024-03-01T05:00:00Z", &["open_out_of_range"]),
        ("2024-03-01T06:00:00Z", &["close_out_of_range"]),
        ("2024-03-01T07:00:00Z", &["negative_volume"]),
        ("2024-03-01T08:30:00Z", &["misaligned_timestamp"]),
        ("2024-03-01T09:00:00Z", &["precision_overflow"]),
    ];
    let mut seen = BTreeSet::new();
    for (t, reasons) in cases {
        let record = by_time(t);
        let got: Vec<&str> = record["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_eq!(got, reasons, "{t}");
        seen.extend(got);
    }
    assert_eq!(seen.len(), 9, "all nine reason codes");
    // The raw record is kept exactly as received, floats and all.
    let raw = &by_time("2024-03-01T02:00:00Z")["raw"];
    assert_eq!(raw["open"], "1e2");
    assert!(
        std::fs::read_to_string(&files[0])
            .unwrap()
            .contains(r#""volume":1.5"#)
    );

    let rows = ws.rows(Timeframe::H1).await;
    let times: Vec<String> = rows
        .iter()
        .map(|r| r.timestamp.format("%H:%M").to_string())
        .collect();
    assert_eq!(times, ["00:00", "10:00", "11:00"]);
}
