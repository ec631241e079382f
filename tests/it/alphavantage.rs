//! The real Alpha Vantage client against a local server answering with fixture bodies (HTTP
//! 200 for every outcome, as Alpha Vantage does), end to end through the binary.

use std::collections::BTreeMap;
use std::sync::Mutex;

use candlelake::providers::Timeframe;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::{Workspace, at, fixture, normalized, series};

pub const KEY: &str = "TESTKEY123";

/// Answers by `function` (and `month`): queued answers first, then the fixture of the function.
pub struct AvServer {
    queued: Mutex<BTreeMap<String, Vec<String>>>,
}

impl AvServer {
    pub fn new(queued: &[(&str, &[&str])]) -> Self {
        let queued = queued
            .iter()
            .map(|(f, bodies)| {
                (
                    f.to_string(),
                    bodies
                        .iter()
                        .map(|b| fixture(&format!("alphavantage/{b}")))
                        .collect(),
                )
            })
            .collect();
        AvServer {
            queued: Mutex::new(queued),
        }
    }
}

fn default_body(q: &dyn Fn(&str) -> String) -> String {
    let file = match q("function").as_str() {
        "TIME_SERIES_INTRADAY" => match q("month").as_str() {
            "2024-03" => "TIME_SERIES_INTRADAY-IBM-30min-2024-03.json".to_string(),
            "2024-11" => "TIME_SERIES_INTRADAY-IBM-30min-2024-11.json".to_string(),
            month => {
                let symbol = q("symbol");
                return format!(
                    r#"{{"Meta Data": {{"1. Information": "Intraday (30min) open, high, low, close prices and volume", "2. Symbol": "{symbol}", "3. Last Refreshed": "{month}-28 19:30:00", "4. Interval": "30min", "5. Output Size": "Full size", "6. Time Zone": "US/Eastern"}}, "Time Series (30min)": {{}}}}"#
                );
            }
        },
        "FX_DAILY" => "FX_DAILY-EUR-USD.json".to_string(),
        "DIGITAL_CURRENCY_DAILY" => "DIGITAL_CURRENCY_DAILY-BTC-EUR.json".to_string(),
        "TIME_SERIES_DAILY" => "TIME_SERIES_DAILY-IBM-compact.json".to_string(),
        "CRYPTO_INTRADAY" => "errors/premium-endpoint.json".to_string(),
        _ => "errors/empty.json".to_string(),
    };
    fixture(&format!("alphavantage/{file}"))
}

impl Respond for AvServer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let q = |k: &str| {
            request
                .url
                .query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        };
        let key = format!(
            "{}/{}",
            q("function"),
            q("symbol").to_string() + &q("from_symbol")
        );
        let queued = {
            let mut all = self.queued.lock().unwrap();
            [q("function"), key].iter().find_map(|k| {
                all.get_mut(k)
                    .filter(|v| !v.is_empty())
                    .map(|v| v.remove(0))
            })
        };
        let body = queued.unwrap_or_else(|| default_body(&q));
        ResponseTemplate::new(200)
            .set_body_string(body)
            .insert_header("content-type", "application/json")
    }
}

pub async fn av_server(queued: &[(&str, &[&str])]) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(AvServer::new(queued))
        .mount(&server)
        .await;
    server
}

pub fn workspace(server: &MockServer) -> Workspace {
    let mut ws = Workspace::new("http://127.0.0.1:9");
    ws.env
        .insert("CANDLELAKE_ALPHAVANTAGE_URL".into(), server.uri());
    ws.env
        .insert("CANDLELAKE_ALPHAVANTAGE_RPS".into(), "0".into());
    ws.env.insert("ALPHAVANTAGE_API_KEY".into(), KEY.into());
    ws
}

async fn functions(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "function")
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        })
        .collect()
}

fn cells(r: &candlelake::sink::TableRow) -> [String; 5] {
    [
        r.open.clone(),
        r.high.clone(),
        r.low.clone(),
        r.close.clone(),
        r.volume.clone(),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn equity_intraday_across_dst_and_4h_built_from_30min() {
    let server = av_server(&[]).await;
    let ws = workspace(&server);
    let (code, summary) = ws
        .run_json(&[
            "backfill",
            "--provider",
            "alphavantage",
            "--pairs",
            "IBM",
            "--timeframes",
            "30m,4h",
            "--start",
            "2024-03-01T05:00:00Z",
            "--end",
            "2024-04-01T04:00:00Z",
        ])
        .await;
    assert_eq!(code, 0, "{summary}");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "one month request per series");
    for r in &requests {
        let q = r.url.query().unwrap();
        for part in [
            "function=TIME_SERIES_INTRADAY",
            "symbol=IBM",
            "interval=30min",
            "month=2024-03",
            "outputsize=full",
            "adjusted=false",
            "extended_hours=true",
        ] {
            assert!(q.contains(part), "{q}");
        }
    }

    let rows = ws.rows(Timeframe::M30).await;
    assert_eq!(rows.len(), 620);
    assert!(rows.iter().all(|r| r.volume_kind == "shares"
        && r.asset_pair == "IBM"
        && r.source_provider == "alphavantage"));
    // 09:30 New York is 14:30Z before the 10 March change and 13:30Z after it.
    let at_time = |t: &str| rows.iter().find(|r| r.timestamp == at(t)).map(cells);
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
            cells(got),
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
    let ws = workspace(&server);
    let (code, summary) = ws
        .run_json(&[
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
        ])
        .await;
    assert_eq!(code, 0, "{summary}");
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
async fn fx_daily_and_both_crypto_daily_formats() {
    let server = av_server(&[]).await;
    let ws = workspace(&server);
    let (code, summary) = ws
        .run_json(&[
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
        ])
        .await;
    assert_eq!(code, 0, "{summary}");
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

    for (rel, start, end, first_day) in [
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
    ] {
        let server = av_server(&[("DIGITAL_CURRENCY_DAILY", &[rel])]).await;
        let ws = workspace(&server);
        let (code, summary) = ws
            .run_json(&[
                "backfill",
                "--provider",
                "alphavantage",
                "--pairs",
                "BTC-EUR",
                "--timeframes",
                "1d",
                "--start",
                start,
                "--end",
                end,
            ])
            .await;
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
            cells(row),
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
async fn throttle_notes_quota_premium_and_empty_answers() {
    // The per-second note is retried, then the data comes.
    let server = av_server(&[("FX_DAILY", &["errors/burst-note.json"])]).await;
    let ws = workspace(&server);
    let (code, summary) = ws
        .run_json(&[
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
        ])
        .await;
    assert_eq!(code, 0, "{summary}");
    assert_eq!(functions(&server).await, ["FX_DAILY", "FX_DAILY"]);
    assert_eq!(series(&summary, "EUR-USD", "1d")["records"], 239);

    // The daily quota stops the provider for the run: no series is retried or continued.
    let server = av_server(&[(
        "FX_DAILY",
        &["errors/daily-quota.json", "errors/daily-quota-note.json"],
    )])
    .await;
    let mut ws = workspace(&server);
    ws.env
        .insert("CANDLELAKE_ALPHAVANTAGE_RPS".into(), "2".into());
    let (code, summary) = ws
        .run_json(&[
            "backfill",
            "--provider",
            "alphavantage",
            "--pairs",
            "EUR-USD,GBP-USD,USD-JPY",
            "--timeframes",
            "1d",
            "--start",
            "2024-01-02",
            "--end",
            "2024-12-01",
        ])
        .await;
    assert_eq!(code, 2, "{summary}");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "the provider stops after the quota note: {summary}"
    );
    for r in summary["results"].as_array().unwrap() {
        let e = r["error"].as_str().unwrap();
        assert_eq!(r["status"], "error");
        assert!(e.contains("quota") && !e.contains(KEY), "{e}");
    }

    // A premium-only function fails its series saying so; `{}` is an error, never "no data".
    let server = av_server(&[("DIGITAL_CURRENCY_DAILY", &["errors/empty.json"])]).await;
    let ws = workspace(&server);
    let (code, summary) = ws
        .run_json(&[
            "backfill",
            "--provider",
            "alphavantage",
            "--pairs",
            "ETH-USD",
            "--timeframes",
            "5m,1d",
            "--start",
            "2023-10-13",
            "--end",
            "2023-10-14",
        ])
        .await;
    assert_eq!(code, 2, "{summary}");
    let premium = series(&summary, "ETH-USD", "5m");
    assert!(
        premium["error"].as_str().unwrap().contains("premium key"),
        "{premium}"
    );
    let empty = series(&summary, "ETH-USD", "1d");
    assert_eq!(empty["status"], "error", "{empty}");
    assert!(empty["error"].as_str().unwrap().contains("{}"), "{empty}");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "neither is retried"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_history_is_recorded_and_not_asked_again() {
    let server = av_server(&[]).await;
    let ws = workspace(&server);
    let args = [
        "backfill",
        "--provider",
        "alphavantage",
        "--pairs",
        "EUR-USD",
        "--timeframes",
        "1d",
        "--start",
        "2023-06-01",
        "--end",
        "2024-12-01",
    ];
    let (code, summary) = ws.run_json(&args).await;
    assert_eq!(code, 2, "{summary}");
    let eur = series(&summary, "EUR-USD", "1d");
    assert_eq!(
        (eur["status"].as_str(), eur["records"].as_u64()),
        (Some("partial"), Some(239))
    );
    assert!(
        eur["error"]
            .as_str()
            .unwrap()
            .contains("only from 2024-01-02"),
        "{eur}"
    );
    let mark: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.state().join("watermarks/alphavantage/EUR-USD/1d.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(mark["unreachable"][0]["from"], "2023-06-01T00:00:00Z");
    assert_eq!(mark["unreachable"][0]["to"], "2024-01-02T00:00:00Z");
    assert_eq!(mark["coverage"]["from"], "2024-01-02T00:00:00Z");

    let (code, again) = ws.run_json(&args).await;
    assert_eq!(code, 0, "{again}");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "the unreachable part is not asked again"
    );
    let mut retry = args.to_vec();
    retry.push("--retry-unreachable");
    ws.run_json(&retry).await;
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "unless --retry-unreachable"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_26th_request_of_a_day_is_refused_unsent() {
    let server = av_server(&[]).await;
    let mut ws = workspace(&server);
    ws.env
        .insert("CANDLELAKE_ALPHAVANTAGE_DAILY_LIMIT".into(), "25".into());
    // Thirteen New York months each: thirteen requests per run.
    let months = |ticker: &'static str| {
        [
            "backfill",
            "--provider",
            "alphavantage",
            "--pairs",
            ticker,
            "--timeframes",
            "30m",
            "--start",
            "2023-01-01T05:00:00Z",
            "--end",
            "2024-02-01T05:00:00Z",
        ]
    };
    let (code, first) = ws.run_json(&months("IBM")).await;
    assert_eq!(code, 0, "{first}");
    assert_eq!(server.received_requests().await.unwrap().len(), 13);

    let (code, second) = ws.run_json(&months("MSFT")).await;
    assert_eq!(code, 2, "{second}");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        25,
        "the 26th request is never sent"
    );
    let msft = series(&second, "MSFT", "30m");
    let error = msft["error"].as_str().unwrap();
    assert!(
        error.contains("daily budget of 25 requests") && error.contains("not sent"),
        "{error}"
    );

    let mut dry = months("AAPL").to_vec();
    dry.push("--dry-run");
    let (_, plan) = ws.run_json(&dry).await;
    assert_eq!(
        (plan["requests"].as_u64(), plan["quota_days"].as_u64()),
        (Some(13), Some(1)),
        "{plan}"
    );
}
