//! The real Coinbase client against a local server serving the Advanced Trade fixtures in
//! `fixtures/coinbase/`, with a fixed clock and a counting gate.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

use super::*;
use crate::candle::VolumeKind;
use crate::error::ErrorKind;
use crate::source::{CandleSource, ProviderId};
use crate::testing::{
    CountingGate, at, check_errors, error_case, fetch, fixed_clock, fixture, nothing_listens,
    window,
};
use crate::timeframe::Timeframe;

const CANDLES: &str = "/api/v3/brokerage/market/products/BTC-USD/candles";

/// The first 300 hours of 2024 (`start=1704067200`): the window of `backfill/BTC-USD-1h-page1.json`,
/// which answers it with 301 rows, newest first, one of them twice.
const JANUARY: (&str, &str) = ("2024-01-01", "2024-01-13T12:00:00Z");

fn client(base_url: &str, now: DateTime<Utc>) -> CoinbaseClient {
    let config = CoinbaseConfig {
        base_url: base_url.to_string(),
        timeout: Duration::from_secs(5),
    };
    CoinbaseClient::new(config, fixed_clock(now)).unwrap()
}

/// A server answering every candles request through `responder`.
async fn serve(responder: impl Respond + 'static) -> MockServer {
    crate::testing::serve(CANDLES, responder).await
}

fn query(req: &Request) -> BTreeMap<String, String> {
    req.url.query_pairs().into_owned().collect()
}

/// Answers with a recorded page as Advanced Trade does: at most `limit` rows (350 when none is
/// asked), the newest kept, as the candles are newest first.
struct Page(&'static str);

impl Respond for Page {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let limit = query(req).get("limit").map_or(350, |l| l.parse().unwrap());
        let body: serde_json::Value = serde_json::from_str(&fixture(self.0)).unwrap();
        let rows: Vec<_> = body["candles"]
            .as_array()
            .unwrap()
            .iter()
            .take(limit)
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({ "candles": rows }))
            .insert_header("date", "Mon, 29 Jan 2024 00:00:05 GMT")
    }
}

#[tokio::test]
async fn sends_the_documented_request_and_reads_the_page() {
    let server = serve(Page("coinbase/backfill/BTC-USD-1h-page1.json")).await;
    let now = at("2024-01-29T00:00:04Z");
    let gate = CountingGate::default();
    let request = window("BTC-USD", Timeframe::H1, JANUARY.0, JANUARY.1);
    let page = client(&server.uri(), now)
        .fetch_window(&request, &gate)
        .await
        .unwrap();

    // TC0 one admitted request: Unix seconds, the window's end excluded, no `limit`
    assert_eq!(gate.count(), 1);
    let received = server.received_requests().await.unwrap();
    let req = &received[0];
    let expected: BTreeMap<String, String> = [
        ("start", "1704067200"),
        ("end", "1705147199"),
        ("granularity", "ONE_HOUR"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .into();
    assert_eq!(query(req), expected);
    let header = |name: &str| req.headers.get(name).unwrap().to_str().unwrap().to_string();
    assert_eq!(header("accept"), "application/json");
    assert!(header("user-agent").starts_with("candlelake/"));

    // TC1 the page: every row in wire order, base volume, the Date header as response time
    assert_eq!(page.candles.len(), 301);
    assert_eq!(page.candles[0].open_time, Ok(at("2024-01-13T11:00:00Z")));
    assert_eq!(page.volume_kind, VolumeKind::Base);
    assert_eq!(page.response_time, at("2024-01-29T00:00:05Z"));
    assert_eq!(page.received_at, now);
    assert_eq!(
        page.request,
        format!("{}{CANDLES}?{}", server.uri(), req.url.query().unwrap())
    );
    assert!(page.available_from.is_none());
}

#[tokio::test]
async fn a_window_answered_with_more_rows_than_buckets_keeps_its_oldest_candle() {
    // 300 buckets answered with 301 rows: a `limit` of 300 would cut the oldest, the window's
    // first candle, and nothing would say so.
    let server = serve(Page("coinbase/backfill/BTC-USD-1h-page1.json")).await;
    let c = client(&server.uri(), at("2024-01-29"));
    let page = fetch(&c, &window("BTC-USD", Timeframe::H1, JANUARY.0, JANUARY.1))
        .await
        .unwrap();
    let oldest = page.candles.iter().filter_map(|c| c.open_time.ok()).min();
    assert_eq!(oldest, Some(at(JANUARY.0)));
}

#[test]
fn windows_hold_at_most_300_buckets() {
    let c = client("http://127.0.0.1:9", at("2024-01-29"));
    assert_eq!(c.id(), ProviderId::Coinbase);
    let caps = c.capabilities();
    assert_eq!(caps.native_timeframes, Timeframe::ALL.to_vec());
    assert_eq!(caps.max_buckets_per_request, 300);
    assert_eq!(ProviderId::Coinbase.default_rps().to_string(), "8");
    // TC0..TC6 a year of every timeframe, oldest and newest first: tiles of at most 300
    for tf in Timeframe::ALL {
        for newest_first in [false, true] {
            let (start, end) = (at("2023-01-01"), at("2024-01-01"));
            let windows = c.windows("BTC-USD", tf, start, end, newest_first);
            let mut covered = 0;
            for (s, e) in &windows {
                let buckets = (*e - *s).num_seconds() / tf.seconds();
                assert!((1..=300).contains(&buckets), "{tf}: {s}..{e}");
                covered += buckets;
            }
            assert_eq!(covered, (end - start).num_seconds() / tf.seconds(), "{tf}");
        }
    }
}

#[tokio::test]
async fn classifies_every_error() {
    use ErrorKind::*;
    let file = |rel: &str| fixture(&format!("coinbase/errors/{rel}"));
    let cases = [
        // TC0 429 with Retry-After: rate limited
        error_case(
            429,
            file("429-rate-limited.json"),
            RateLimited,
            &["coinbase rate limit hit (429: Public rate limit exceeded)"],
        )
        .retry_after(3),
        // TC1 500: transient
        error_case(
            500,
            file("500-internal.json"),
            Transient,
            &["coinbase server error 500 (internal error); retrying"],
        ),
        // TC2 404: permanent, names the pair
        error_case(
            404,
            file("404-not-found.json"),
            Permanent,
            &["coinbase does not know product BTC-USD (404: Product NOPE-USD not supported)"],
        ),
        // TC3 a window too wide: permanent, quotes Coinbase
        error_case(
            400,
            file("400-too-many-candles.json"),
            Permanent,
            &["coinbase refused the request (400: start and end argument is invalid"],
        ),
        // TC4 a body that is not JSON: its first 200 characters
        error_case(
            502,
            "<html>bad gateway</html>",
            Transient,
            &["(<html>bad gateway</html>)"],
        ),
        // TC5 a truncated 200 body: transient, retried
        error_case(
            200,
            r#"{"candles":[{"start":"17"#,
            Transient,
            &["not valid JSON", "retried"],
        ),
    ];
    let request = window("BTC-USD", Timeframe::H1, JANUARY.0, JANUARY.1);
    check_errors(&cases, CANDLES, &request, |uri| {
        client(uri, at("2024-01-29"))
    })
    .await;
}

#[tokio::test]
async fn the_gate_comes_first_and_transport_errors_carry_no_url() {
    let request = window("BTC-USD", Timeframe::H1, JANUARY.0, JANUARY.1);

    // TC0 a refusing gate: its error, and nothing sent
    let server = serve(Page("coinbase/backfill/BTC-USD-1h-page1.json")).await;
    let err = client(&server.uri(), at("2024-01-29"))
        .fetch_window(&request, &CountingGate::refusing_after(0))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Halt);
    assert!(server.received_requests().await.unwrap().is_empty());

    // TC1 nothing listens: transient, without the URL
    let err = fetch(&client(&nothing_listens(), at("2024-01-29")), &request)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(err.message.starts_with("coinbase request failed"), "{err}");
    assert!(!err.message.contains("/api/v3/"), "{err}");
}

/// Every spot product of the list, in wire order, with its status: `online` only when trading
/// is enabled; futures are left out.
#[tokio::test]
async fn lists_the_spot_products_with_their_status() {
    let body =
        ResponseTemplate::new(200).set_body_string(fixture("coinbase/instruments/products.json"));
    let server = crate::testing::serve("/api/v3/brokerage/market/products", body).await;
    let gate = CountingGate::default();
    let list = client(&server.uri(), at("2024-06-01"))
        .instruments(&gate)
        .await
        .unwrap();
    let got: Vec<(&str, &str)> = list
        .iter()
        .map(|i| (i.asset_pair.as_str(), i.status.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("BTC-USD", "online"),
            ("ETH-USD", "online"),
            ("SEI-USD", "online"),
            ("BTC-EUR", "online"),
            ("ETH-BTC", "online"),
            ("MKR-USD", "offline"),
            ("OLD-USD", "delisted"),
        ]
    );
    assert!(
        list.iter()
            .all(|i| i.listed.is_none() && i.delisted.is_none())
    );
    assert_eq!(gate.count(), 1);
    let sent = &server.received_requests().await.unwrap()[0];
    assert_eq!(
        sent.url.query(),
        Some("product_type=SPOT&get_all_products=true")
    );
}

/// A 5xx is transient, a body that is not the list says so, another refusal is permanent.
#[tokio::test]
async fn a_product_list_that_fails_says_why() {
    // TC: (status, body, kind, part of the message)
    let cases = [
        (
            500,
            "{\"error\":\"INTERNAL\"}",
            ErrorKind::Transient,
            "server error 500",
        ),
        (
            200,
            "<html>maintenance</html>",
            ErrorKind::Transient,
            "cannot read",
        ),
        (
            403,
            "{\"message\":\"forbidden\"}",
            ErrorKind::Permanent,
            "refused its product list",
        ),
    ];
    for (i, (status, body, kind, says)) in cases.into_iter().enumerate() {
        let answer = ResponseTemplate::new(status).set_body_string(body);
        let server = crate::testing::serve("/api/v3/brokerage/market/products", answer).await;
        let err = client(&server.uri(), at("2024-06-01"))
            .instruments(&CountingGate::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind, kind, "TC{i}: {err}");
        assert!(err.message.contains(says), "TC{i}: {err}");
    }
}
