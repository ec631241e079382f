//! The real Alpha Vantage client against a local server answering with fixture bodies (HTTP
//! 200 for every outcome, as Alpha Vantage does), end to end through the binary.

use candlelake::providers::Timeframe;
use serde_json::json;
use wiremock::MockServer;

use crate::support::servers::{AV_KEY, assert_query_has, av_server, query};
use crate::support::{
    Args, Workspace, at, backfill, fields, fixture, normalized, ohlcv, read_json, series,
};

fn av(pairs: &str, timeframes: &str) -> Args {
    backfill("alphavantage", pairs, timeframes)
}

/// EUR-USD daily over the 239 weekdays the FX_DAILY fixture holds.
fn eur_usd_daily() -> Args {
    av("EUR-USD", "1d").range("2024-01-02", "2024-12-01")
}

async fn functions(server: &MockServer) -> Vec<String> {
    let requests = server.received_requests().await.unwrap();
    let function = |r| query(r, "function").unwrap_or_default();
    requests.iter().map(function).collect()
}

async fn request_count(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn equity_intraday_across_dst_and_4h_built_from_30min() {
    let server = av_server(&[]).await;
    let ws = Workspace::alphavantage(&server);
    let march = av("IBM", "30m,4h").range("2024-03-01T05:00:00Z", "2024-04-01T04:00:00Z");
    let summary = ws.run_ok(march).await;
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "one month request per series");
    for r in &requests {
        assert_query_has(
            r,
            &[
                "function=TIME_SERIES_INTRADAY",
                "symbol=IBM",
                "interval=30min",
                "month=2024-03",
                "outputsize=full",
                "adjusted=false",
                "extended_hours=true",
            ],
        );
    }

    let rows = ws.rows(Timeframe::M30).await;
    assert_eq!(rows.len(), 620);
    assert!(rows.iter().all(|r| r.volume_kind == "shares"
        && r.asset_pair == "IBM"
        && r.source_provider == "alphavantage"));
    // 09:30 New York is 14:30Z before the 10 March change and 13:30Z after it.
    let at_time = |t: &str| rows.iter().find(|r| r.timestamp == at(t)).map(ohlcv);
    assert_eq!(
        at_time("2024-03-08T14:30:00Z"),
        Some(["189.45", "189.8", "188.54", "188.88", "831898"].map(String::from))
    );
    assert_eq!(
        at_time("2024-03-11T13:30:00Z"),
        Some(["189.97", "190.17", "189.57", "189.76", "684021"].map(String::from))
    );
    assert_eq!(
        at_time("2024-03-08T09:00:00Z").map(|c| c[4].clone()),
        Some("77".into()),
        "04:00 New York, pre-market"
    );

    // 4h rows against the hand-written fixture.
    let want: serde_json::Value =
        serde_json::from_str(&fixture("alphavantage/expected/IBM-4h-2024-03-08..11.json")).unwrap();
    let h4 = ws.rows(Timeframe::H4).await;
    for w in want["rows"].as_array().unwrap() {
        let t = at(w["timestamp"].as_str().unwrap());
        let got = h4
            .iter()
            .find(|r| r.timestamp == t)
            .unwrap_or_else(|| panic!("no 4h row at {t}"));
        let s = |k: &str| w[k].as_str().unwrap().to_string();
        assert_eq!(
            ohlcv(got),
            [s("open"), s("high"), s("low"), s("close"), s("volume")],
            "{t}"
        );
        assert_eq!(got.timeframe, "4h");
    }
    assert!(h4.iter().all(|r| r.timestamp.timestamp() % 14_400 == 0));
    let four = series(&summary, "IBM", "4h");
    assert_eq!(four["coverage"]["from"], "2024-03-01T08:00:00Z");
}

#[tokio::test(flavor = "multi_thread")]
async fn equity_intraday_across_the_november_change() {
    let server = av_server(&[]).await;
    let ws = Workspace::alphavantage(&server);
    let november = av("IBM", "30m").range("2024-11-01T04:00:00Z", "2024-12-01T05:00:00Z");
    ws.run_ok(november).await;
    let rows = ws.rows(Timeframe::M30).await;
    assert_eq!(rows.len(), 608);
    let body: serde_json::Value = serde_json::from_str(&fixture(
        "alphavantage/TIME_SERIES_INTRADAY-IBM-30min-2024-11.json",
    ))
    .unwrap();
    let bars = &body["Time Series (30min)"];
    // 04:00 New York: 08:00Z on Friday 1 November (EDT), 09:00Z on Monday 4 November (EST).
    for (key, utc) in [
        ("2024-11-01 04:00:00", "2024-11-01T08:00:00Z"),
        ("2024-11-04 04:00:00", "2024-11-04T09:00:00Z"),
        ("2024-11-29 16:30:00", "2024-11-29T21:30:00Z"),
    ] {
        let row = rows
            .iter()
            .find(|r| r.timestamp == at(utc))
            .unwrap_or_else(|| panic!("no row at {utc}"));
        assert_eq!(
            row.close,
            normalized(bars[key]["4. close"].as_str().unwrap()),
            "{key}"
        );
        assert_eq!(
            row.volume,
            bars[key]["5. volume"].as_str().unwrap(),
            "{key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fx_daily_is_stamped_at_midnight_with_no_volume() {
    let server = av_server(&[]).await;
    let ws = Workspace::alphavantage(&server);
    ws.run_ok(eur_usd_daily()).await;
    let rows = ws.rows(Timeframe::D1).await;
    assert_eq!(rows.len(), 239);
    assert!(rows.iter().all(|r| r.timestamp.timestamp() % 86_400 == 0
        && r.volume == "0"
        && r.volume_kind == "none"));
    assert!(
        server.received_requests().await.unwrap()[0]
            .url
            .query()
            .unwrap()
            .contains("function=FX_DAILY&from_symbol=EUR&to_symbol=USD&outputsize=full")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn crypto_daily_in_both_formats_keeps_the_market_currency() {
    // TC: (fixture, start, end, newest day)
    let cases = [
        (
            "DIGITAL_CURRENCY_DAILY-BTC-EUR.json",
            "2024-04-04",
            "2024-06-03",
            "2024-06-02",
        ),
        (
            "DIGITAL_CURRENCY_DAILY-BTC-EUR-legacy.json",
            "2023-08-16",
            "2023-10-15",
            "2023-10-14",
        ),
    ];
    for (rel, start, end, first_day) in cases {
        let server = av_server(&[("DIGITAL_CURRENCY_DAILY", &[rel])]).await;
        let ws = Workspace::alphavantage(&server);
        let (code, summary) = ws.run_json(av("BTC-EUR", "1d").range(start, end)).await;
        assert_eq!(code, 0, "{rel}: {summary}");
        let rows = ws.rows(Timeframe::D1).await;
        assert_eq!(rows.len(), 60, "{rel}");
        let body: serde_json::Value =
            serde_json::from_str(&fixture(&format!("alphavantage/{rel}"))).unwrap();
        let bar = &body["Time Series (Digital Currency Daily)"][first_day];
        let field = |current: &str, legacy: &str| {
            normalized(bar[current].as_str().or(bar[legacy].as_str()).unwrap())
        };
        let row = rows
            .iter()
            .find(|r| r.timestamp == at(&format!("{first_day}T00:00:00Z")))
            .unwrap();
        assert_eq!(
            ohlcv(row),
            [
                field("1. open", "1a. open (EUR)"),
                field("2. high", "2a. high (EUR)"),
                field("3. low", "3a. low (EUR)"),
                field("4. close", "4a. close (EUR)"),
                field("5. volume", "5. volume"),
            ],
            "{rel}: EUR prices, not USD"
        );
        assert_eq!(row.volume_kind, "base");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_per_second_note_is_retried_then_the_data_comes() {
    let server = av_server(&[("FX_DAILY", &["errors/burst-note.json"])]).await;
    let ws = Workspace::alphavantage(&server);
    let summary = ws.run_ok(eur_usd_daily()).await;
    assert_eq!(functions(&server).await, ["FX_DAILY", "FX_DAILY"]);
    assert_eq!(series(&summary, "EUR-USD", "1d")["records"], 239);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daily_quota_note_stops_the_provider_for_the_run() {
    // No series is retried or continued.
    let quota = ["errors/daily-quota.json", "errors/daily-quota-note.json"];
    let server = av_server(&[("FX_DAILY", &quota)]).await;
    let ws = Workspace::alphavantage(&server).with("CANDLELAKE_ALPHAVANTAGE_RPS", "2");
    let three = av("EUR-USD,GBP-USD,USD-JPY", "1d").range("2024-01-02", "2024-12-01");
    let summary = ws.run_json_expect(three, 2).await;
    assert_eq!(
        request_count(&server).await,
        1,
        "the provider stops after the quota note: {summary}"
    );
    for r in summary["results"].as_array().unwrap() {
        let e = r["error"].as_str().unwrap();
        assert_eq!(r["status"], "error");
        assert!(e.contains("quota") && !e.contains(AV_KEY), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn premium_only_and_empty_answers_fail_their_series_unretried() {
    // A premium-only function fails its series saying so; `{}` is an error, never "no data".
    let server = av_server(&[("DIGITAL_CURRENCY_DAILY", &["errors/empty.json"])]).await;
    let ws = Workspace::alphavantage(&server);
    let day = av("ETH-USD", "5m,1d").range("2023-10-13", "2023-10-14");
    let summary = ws.run_json_expect(day, 2).await;
    let premium = series(&summary, "ETH-USD", "5m");
    assert!(
        premium["error"].as_str().unwrap().contains("premium key"),
        "{premium}"
    );
    let empty = series(&summary, "ETH-USD", "1d");
    assert_eq!(empty["status"], "error", "{empty}");
    assert!(empty["error"].as_str().unwrap().contains("{}"), "{empty}");
    assert_eq!(request_count(&server).await, 2, "neither is retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_history_is_recorded_and_not_asked_again() {
    let server = av_server(&[]).await;
    let ws = Workspace::alphavantage(&server);
    let args = av("EUR-USD", "1d").range("2023-06-01", "2024-12-01");
    let summary = ws.run_json_expect(&args, 2).await;
    let eur = series(&summary, "EUR-USD", "1d");
    assert_eq!(
        fields(eur, &["status", "records"]),
        json!(["partial", 239]),
        "{eur}"
    );
    assert!(
        eur["error"]
            .as_str()
            .unwrap()
            .contains("only from 2024-01-02"),
        "{eur}"
    );
    let mark = read_json(&ws.watermark("alphavantage", "EUR-USD", "1d"));
    assert_eq!(mark["unreachable"][0]["from"], "2023-06-01T00:00:00Z");
    assert_eq!(mark["unreachable"][0]["to"], "2024-01-02T00:00:00Z");
    assert_eq!(mark["coverage"]["from"], "2024-01-02T00:00:00Z");

    ws.run_ok(&args).await;
    assert_eq!(
        request_count(&server).await,
        1,
        "the unreachable part is not asked again"
    );
    ws.run_json(args.arg("--retry-unreachable")).await;
    assert_eq!(
        request_count(&server).await,
        2,
        "unless --retry-unreachable"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_26th_request_of_a_day_is_refused_unsent() {
    let server = av_server(&[]).await;
    let ws = Workspace::alphavantage(&server).with("CANDLELAKE_ALPHAVANTAGE_DAILY_LIMIT", "25");
    // Thirteen New York months each: thirteen requests per run.
    let months = |ticker| av(ticker, "30m").range("2023-01-01T05:00:00Z", "2024-02-01T05:00:00Z");
    ws.run_ok(months("IBM")).await;
    assert_eq!(request_count(&server).await, 13);

    let second = ws.run_json_expect(months("MSFT"), 2).await;
    assert_eq!(
        request_count(&server).await,
        25,
        "the 26th request is never sent"
    );
    let msft = series(&second, "MSFT", "30m");
    let error = msft["error"].as_str().unwrap();
    assert!(
        error.contains("daily budget of 25 requests") && error.contains("not sent"),
        "{error}"
    );

    let (_, plan) = ws.run_json(months("AAPL").arg("--dry-run")).await;
    assert_eq!(
        fields(&plan, &["requests", "quota_days"]),
        json!([13, 1]),
        "{plan}"
    );
}
