//! The real Oanda client against a local server serving the fixtures in `fixtures/oanda/`,
//! with a fixed clock and a counting gate.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::client::{LIVE_HOST, PRACTICE_HOST, candles_url, classify, instrument};
use super::parse::parse_body;
use super::*;
use crate::candle::VolumeKind;
use crate::error::ErrorKind;
use crate::http::Sent;
use crate::secret::Secret;
use crate::source::{CandleSource, ProviderId, WindowRequest};
use crate::testing::{
    CountingGate, at, check_errors, error_case, fetch, fixed_clock, fixture, nothing_listens,
    window,
};
use crate::timeframe::Timeframe;

const TOKEN: &str = "0123456789abcdef-SECRET-TOKEN-fedcba9876543210";

fn config(base_url: &str, token: &str) -> OandaConfig {
    OandaConfig {
        base_url: base_url.to_string(),
        token: Secret::new(token),
        timeout: Duration::from_secs(5),
        account: Some("101-004-1234567-001".to_string()),
    }
}

fn client(base_url: &str, now: DateTime<Utc>) -> OandaClient {
    OandaClient::new(config(base_url, TOKEN), fixed_clock(now)).unwrap()
}

/// A window that continues the previous one of its range.
fn continuing(pair: &str, tf: Timeframe, start: &str, end: &str) -> WindowRequest {
    WindowRequest {
        continues: true,
        ..window(pair, tf, start, end)
    }
}

/// A server answering every candles request through `responder`.
async fn serve(responder: impl Respond + 'static) -> MockServer {
    crate::testing::serve(CANDLES, responder).await
}

fn query(req: &Request) -> BTreeMap<String, String> {
    req.url.query_pairs().into_owned().collect()
}

const CANDLES: &str = "/v3/instruments/EUR_USD/candles";

#[test]
fn hosts_and_capabilities() {
    // TC0..TC3 (env, host)
    let cases = [
        ("live", Some("https://api-fxtrade.oanda.com")),
        ("practice", Some("https://api-fxpractice.oanda.com")),
        ("fxtrade", None),
        ("", None),
    ];
    for (env, host) in cases {
        assert_eq!(host_for(env), host, "{env}");
    }
    let c = client(LIVE_HOST, at("2024-03-04"));
    assert_eq!(c.id(), ProviderId::Oanda);
    let caps = c.capabilities();
    assert_eq!(caps.native_timeframes, Timeframe::ALL.to_vec());
    assert_eq!(caps.max_buckets_per_request, 4999);
    assert_eq!(ProviderId::Oanda.default_rps().to_string(), "50");
    assert_eq!(instrument("EUR-USD"), "EUR_USD");
}

#[test]
fn url_building() {
    use Timeframe::*;
    let base = "https://api-fxtrade.oanda.com/";
    let fixed_part = "https://api-fxtrade.oanda.com/v3/instruments/EUR_USD/candles?price=M&smooth=false&dailyAlignment=0&alignmentTimezone=UTC";
    let later = "2024-04-01";
    // (request, now, expected query after the fixed part)
    let cases = [
        // TC0 a first window: from = start, includeFirst=true
        (
            window("EUR-USD", M5, "2024-03-04", "2024-03-05"),
            later,
            "&granularity=M5&from=2024-03-04T00:00:00Z&to=2024-03-05T00:00:00Z&includeFirst=true",
        ),
        // TC1 a continuing window: from one bucket earlier, includeFirst=false
        (
            continuing("EUR-USD", M5, "2024-03-04", "2024-03-05"),
            later,
            "&granularity=M5&from=2024-03-03T23:55:00Z&to=2024-03-05T00:00:00Z&includeFirst=false",
        ),
        // TC2 `to` clamped to now, in whole seconds (never in the future)
        (
            window("EUR-USD", H1, "2024-03-04", "2024-03-05"),
            "2024-03-04T13:27:41.900Z",
            "&granularity=H1&from=2024-03-04T00:00:00Z&to=2024-03-04T13:27:41Z&includeFirst=true",
        ),
        // TC3 1d is `D`, continuing from the previous UTC midnight; 4h is `H4`
        (
            continuing("EUR-USD", D1, "2024-03-04", "2024-03-09"),
            later,
            "&granularity=D&from=2024-03-03T00:00:00Z&to=2024-03-09T00:00:00Z&includeFirst=false",
        ),
        (
            window("EUR-USD", H4, "2024-03-04", "2024-03-09"),
            later,
            "&granularity=H4&from=2024-03-04T00:00:00Z&to=2024-03-09T00:00:00Z&includeFirst=true",
        ),
        // TC4 every other timeframe's granularity
        (
            window("EUR-USD", M1, "2024-03-04", "2024-03-04T01:00:00Z"),
            later,
            "&granularity=M1&from=2024-03-04T00:00:00Z&to=2024-03-04T01:00:00Z&includeFirst=true",
        ),
        (
            continuing("EUR-USD", M15, "2024-03-04", "2024-03-04T01:00:00Z"),
            later,
            "&granularity=M15&from=2024-03-03T23:45:00Z&to=2024-03-04T01:00:00Z&includeFirst=false",
        ),
        (
            window("EUR-USD", M30, "2024-03-04", "2024-03-04T01:00:00Z"),
            later,
            "&granularity=M30&from=2024-03-04T00:00:00Z&to=2024-03-04T01:00:00Z&includeFirst=true",
        ),
    ];
    for (i, (request, now, expected)) in cases.iter().enumerate() {
        let url = candles_url(base, request, at(now));
        assert_eq!(url, format!("{fixed_part}{expected}"), "case {i}");
        assert!(!url.contains("count"), "case {i}");
    }
}

#[tokio::test]
async fn sends_the_documented_request_and_reads_the_page() {
    let server = serve(
        ResponseTemplate::new(200)
            .set_body_string(fixture("oanda/EUR_USD-M5-forming.json"))
            .insert_header("content-type", "application/json")
            .insert_header("RequestID", "24990132746514736")
            .insert_header("date", "Thu, 21 Mar 2024 10:57:30 GMT"),
    )
    .await;
    let now = at("2024-03-21T10:57:31.250Z");
    let c = client(&server.uri(), now);
    let gate = CountingGate::default();
    let request = window(
        "EUR-USD",
        Timeframe::M5,
        "2024-03-21T10:00:00Z",
        "2024-03-21T12:00:00Z",
    );
    let page = c.fetch_window(&request, &gate).await.unwrap();

    // TC0 one admitted request with the documented query and headers, no `count`
    assert_eq!(gate.count(), 1);
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let req = &received[0];
    assert_eq!(req.url.path(), CANDLES);
    let expected: BTreeMap<String, String> = [
        ("price", "M"),
        ("smooth", "false"),
        ("dailyAlignment", "0"),
        ("alignmentTimezone", "UTC"),
        ("granularity", "M5"),
        ("from", "2024-03-21T10:00:00Z"),
        ("to", "2024-03-21T10:57:31Z"),
        ("includeFirst", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(query(req), expected);
    let header = |name: &str| req.headers.get(name).unwrap().to_str().unwrap().to_string();
    assert_eq!(header("authorization"), format!("Bearer {TOKEN}"));
    assert_eq!(header("accept-datetime-format"), "RFC3339");
    assert_eq!(header("accept"), "application/json");
    assert!(header("user-agent").starts_with("candlelake/"));

    // TC1 the page: wire order, ticks, Date header as response time, clock as received
    assert_eq!(page.candles.len(), 12);
    assert!(!page.candles[11].complete);
    assert_eq!(page.volume_kind, VolumeKind::Ticks);
    assert_eq!(page.response_time, at("2024-03-21T10:57:30Z"));
    assert_eq!(page.received_at, now);
    let sent = format!(
        "{}{}?{}",
        server.uri(),
        req.url.path(),
        req.url.query().unwrap()
    );
    assert_eq!(page.request, sent);
    assert!(page.available_from.is_none());
}

/// Serves the M5 fixture as v20 would: `from`/`to`/`includeFirst` filter it, a span over
/// 5000 buckets or a `to` after the server's now is refused.
struct Filtered {
    candles: Vec<(DateTime<Utc>, String)>,
    now: DateTime<Utc>,
}

impl Respond for Filtered {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let q = query(req);
        assert!(!q.contains_key("count"), "count sent with from and to");
        let (from, to) = (at(&q["from"]), at(&q["to"]));
        if to > self.now {
            return ResponseTemplate::new(400)
                .set_body_string(fixture("oanda/errors/400-to-in-future.json"));
        }
        if (to - from).num_seconds() / 300 > 5000 {
            return ResponseTemplate::new(400)
                .set_body_string(fixture("oanda/errors/400-count-exceeded.json"));
        }
        let include_first = q["includeFirst"] == "true";
        let picked: Vec<&str> = self
            .candles
            .iter()
            .filter(|(t, _)| (*t > from || (include_first && *t == from)) && *t < to)
            .map(|(_, raw)| raw.as_str())
            .collect();
        ResponseTemplate::new(200).set_body_string(format!(
            r#"{{"instrument":"EUR_USD","granularity":"M5","candles":[{}]}}"#,
            picked.join(",")
        ))
    }
}

#[tokio::test]
async fn pages_forward_without_gaps_or_repeats() {
    let all: Vec<(DateTime<Utc>, String)> = parse_body(&fixture("oanda/EUR_USD-M5.json"))
        .unwrap()
        .into_iter()
        .map(|c| (c.open_time.unwrap(), c.raw.get().to_string()))
        .collect();
    // (now, range start, range end, windows expected, candles expected)
    let cases = [
        // TC0 the whole fixture, long after: every candle exactly once, two windows
        (
            "2024-04-01T00:00:00Z",
            "2024-03-01T00:00:00Z",
            "2024-03-22T21:00:00Z",
            2,
            all.len(),
        ),
        // TC1 now inside the second window: `to` clamped, nothing after now
        (
            "2024-03-20T12:00:00.500Z",
            "2024-03-01T00:00:00Z",
            "2024-03-22T21:00:00Z",
            2,
            all.iter()
                .filter(|(t, _)| *t < at("2024-03-20T12:00:00Z"))
                .count(),
        ),
        // TC2 three windows: a full continuing one asks exactly 5000 buckets, accepted
        (
            "2024-04-01T00:00:00Z",
            "2024-02-01T00:00:00Z",
            "2024-03-22T21:00:00Z",
            3,
            all.len(),
        ),
    ];
    for (i, (now, start, end, windows, expected)) in cases.into_iter().enumerate() {
        let now = at(now);
        let server = serve(Filtered {
            candles: all.clone(),
            now,
        })
        .await;
        let c = client(&server.uri(), now);
        let gate = CountingGate::default();
        let spans = c.windows("EUR-USD", Timeframe::M5, at(start), at(end), false);
        assert_eq!(spans.len(), windows, "case {i}");
        let mut seen = Vec::new();
        for (k, (s, e)) in spans.iter().enumerate() {
            let request = WindowRequest {
                pair: "EUR-USD".into(),
                timeframe: Timeframe::M5,
                start: *s,
                end: *e,
                continues: k > 0,
            };
            let page = c.fetch_window(&request, &gate).await.unwrap();
            for candle in page.candles {
                let t = candle.open_time.unwrap();
                assert!(*s <= t && t < *e, "case {i}: {t} outside window {k}");
                seen.push(t);
            }
        }
        assert_eq!(gate.count(), windows, "case {i}");
        let want: Vec<_> = all.iter().map(|(t, _)| *t).take(expected).collect();
        assert_eq!(seen, want, "case {i}");
    }
}

#[tokio::test]
async fn classifies_every_error() {
    use ErrorKind::*;
    let file = |rel: &str| fixture(&format!("oanda/errors/{rel}"));
    let cases = [
        // TC0 bad instrument: permanent, quotes the message and the instrument
        error_case(
            400,
            file("400-bad-instrument.json"),
            Permanent,
            &[
                "oanda refused EUR_USD (400: Invalid value specified for 'instrument'); check the pair",
            ],
        ),
        // TC1 too many candles: permanent
        error_case(
            400,
            file("400-count-exceeded.json"),
            Permanent,
            &["(400: Maximum value for 'count' exceeded)", "5000"],
        ),
        // TC2 `to` in the future: permanent, hints at the clock
        error_case(
            400,
            file("400-to-in-future.json"),
            Permanent,
            &["Time is in the future", "clock"],
        ),
        // TC3 401: halts the provider, names the host, practice vs live
        error_case(
            401,
            file("401-unauthorized.json"),
            Halt,
            &[
                "rejected the token at 127.0.0.1:",
                "(401: Insufficient authorization to perform request.)",
                "CANDLELAKE_OANDA_ENV=practice",
                "live",
            ],
        ),
        // TC4 403 halts as well
        error_case(
            403,
            r#"{"errorMessage":"The provided request was forbidden."}"#,
            Halt,
            &["(403: The provided request was forbidden.)", "practice"],
        ),
        // TC5 404 and 405 are permanent; an errorCode is quoted too
        error_case(
            404,
            r#"{"errorCode":"NOT_FOUND","errorMessage":"Unknown instrument"}"#,
            Permanent,
            &["oanda refused EUR_USD (404: Unknown instrument [NOT_FOUND]); check the pair"],
        ),
        error_case(
            405,
            r#"{"errorCode":405,"errorMessage":"Method not allowed"}"#,
            Permanent,
            &["(405: Method not allowed [405])"],
        ),
        // TC6 429: rate limited, with and without Retry-After, body unknown
        error_case(429, "", RateLimited, &["429: Too Many Requests"]).retry_after(7),
        error_case(
            429,
            r#"{"errorMessage":"Rate limit violation"}"#,
            RateLimited,
            &["Rate limit violation"],
        ),
        // TC7 5xx: transient, Retry-After kept
        error_case(
            503,
            "<html>unavailable</html>",
            Transient,
            &["server error 503"],
        )
        .retry_after(3),
        error_case(
            500,
            r#"{"errorMessage":"Internal server error"}"#,
            Transient,
            &["Internal server error"],
        ),
        // TC8 any other status: permanent
        error_case(
            416,
            r#"{"errorMessage":"Range not satisfiable"}"#,
            Permanent,
            &["(416: Range not satisfiable)"],
        ),
        // TC9 a broken 200 body: transient, will be retried
        error_case(
            200,
            r#"{"instrument":"EUR_USD","candles":[{"#,
            Transient,
            &["will be retried"],
        ),
    ];
    let request = window("EUR-USD", Timeframe::M5, "2024-03-04", "2024-03-05");
    let errors = check_errors(&cases, CANDLES, &request, |uri| {
        client(uri, at("2024-04-01"))
    });
    for (i, err) in errors.await.iter().enumerate() {
        assert!(!err.message.contains(TOKEN), "case {i}");
    }
}

#[test]
fn credential_errors_name_the_real_host() {
    // (status, body, host, message)
    let cases = [
        // TC0 live
        (
            401,
            fixture("oanda/errors/401-unauthorized.json"),
            "api-fxtrade.oanda.com",
            "oanda rejected the token at api-fxtrade.oanda.com (401: Insufficient authorization to perform request.); a practice token works only with CANDLELAKE_OANDA_ENV=practice, a live token only with live",
        ),
        // TC1 practice
        (
            401,
            fixture("oanda/errors/401-unauthorized.json"),
            "api-fxpractice.oanda.com",
            "oanda rejected the token at api-fxpractice.oanda.com (401: Insufficient authorization to perform request.); a practice token works only with CANDLELAKE_OANDA_ENV=practice, a live token only with live",
        ),
        // TC2 a bad instrument, as in the contract's example
        (
            400,
            fixture("oanda/errors/400-bad-instrument.json"),
            "api-fxtrade.oanda.com",
            "oanda refused EUR_XXX (400: Invalid value specified for 'instrument'); check the pair",
        ),
    ];
    for (status, body, host, message) in cases {
        let answer = Sent {
            status: reqwest::StatusCode::from_u16(status).unwrap(),
            headers: reqwest::header::HeaderMap::new(),
            body,
            received_at: at("2024-03-04"),
            request: String::new(),
        };
        assert_eq!(classify(&answer, "EUR_XXX", host).message, message);
    }
    // TC3 the host comes from the base URL
    for (base, host) in [
        (LIVE_HOST, "api-fxtrade.oanda.com"),
        (PRACTICE_HOST, "api-fxpractice.oanda.com"),
    ] {
        assert_eq!(client(base, at("2024-03-04")).host, host);
    }
}

#[tokio::test]
async fn the_token_never_leaks() {
    // TC0 Debug of the config and the client
    let c = client(LIVE_HOST, at("2024-03-04"));
    let debug = format!("{:?} {:#?} {c:?}", config(LIVE_HOST, TOKEN), c);
    assert!(
        !debug.contains(TOKEN) && debug.contains("[redacted]"),
        "{debug}"
    );

    // TC1 a body that echoes the token is scrubbed, whatever the status
    let request = window("EUR-USD", Timeframe::M5, "2024-03-04", "2024-03-05");
    for status in [200, 400, 401, 403, 404, 429, 500, 502] {
        let echo = format!(r#"{{"errorMessage":"bad token {TOKEN}"}}"#);
        let server = serve(ResponseTemplate::new(status).set_body_string(echo)).await;
        let err = fetch(&client(&server.uri(), at("2024-04-01")), &request)
            .await
            .unwrap_err();
        assert!(!err.message.contains(TOKEN), "{status}: {}", err.message);
        assert!(!format!("{err:?}").contains(TOKEN), "{status}");
    }

    // TC2 a transport error (nothing listens) is transient and carries neither token nor URL
    let err = fetch(&client(&nothing_listens(), at("2024-04-01")), &request)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(
        !err.message.contains(TOKEN) && !err.message.contains("/v3/"),
        "{}",
        err.message
    );

    // TC3 a token a header cannot carry, and an empty one, fail without quoting it
    for token in ["bad\ntoken-SECRET", "  "] {
        let err =
            OandaClient::new(config(LIVE_HOST, token), fixed_clock(at("2024-03-04"))).unwrap_err();
        assert!(!err.message.contains("SECRET"), "{}", err.message);
        assert!(err.message.contains("OANDA_API_TOKEN"), "{}", err.message);
    }
}

#[tokio::test]
async fn the_gate_comes_first() {
    let server =
        serve(ResponseTemplate::new(200).set_body_string(fixture("oanda/EUR_USD-D.json"))).await;
    let c = client(&server.uri(), at("2024-03-10"));

    // TC0 a refusing gate: its error, and nothing sent
    let request = window("EUR-USD", Timeframe::D1, "2024-03-03", "2024-03-09");
    let err = c
        .fetch_window(&request, &CountingGate::refusing_after(0))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Halt);
    assert!(server.received_requests().await.unwrap().is_empty());

    // TC1 a window that starts at or after now: an empty page, nothing admitted or sent
    let gate = CountingGate::default();
    let future = continuing("EUR-USD", Timeframe::D1, "2024-03-10", "2024-03-12");
    let page = c.fetch_window(&future, &gate).await.unwrap();
    assert!(page.candles.is_empty());
    assert_eq!(page.response_time, at("2024-03-10"));
    assert_eq!(gate.count(), 0);
    assert!(server.received_requests().await.unwrap().is_empty());

    // TC2 a pair that is not BASE-QUOTE: permanent, nothing sent
    let odd = window("EUR/USD?x=1", Timeframe::D1, "2024-03-03", "2024-03-09");
    let err = c.fetch_window(&odd, &gate).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert_eq!(gate.count(), 0);

    // TC3 an admitted request: the six daily candles, one admission
    let page = c.fetch_window(&request, &gate).await.unwrap();
    assert_eq!(page.candles.len(), 6);
    assert_eq!(gate.count(), 1);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

/// The account's instruments as canonical pairs, all online, with the token sent.
#[tokio::test]
async fn lists_the_account_instruments() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3/accounts/101-004-1234567-001/instruments"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(fixture("oanda/instruments/account-instruments.json")),
        )
        .mount(&server)
        .await;
    let list = client(&server.uri(), at("2024-03-08T12:00:00Z"))
        .instruments(&CountingGate::default())
        .await
        .unwrap();
    let got: Vec<(&str, &str, &str)> = list
        .iter()
        .map(|i| (i.asset_pair.as_str(), i.kind.as_str(), i.status.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("EUR-USD", "currency", "online"),
            ("USD-JPY", "currency", "online"),
            ("EUR-GBP", "currency", "online"),
            ("XAU-USD", "metal", "online"),
            ("SPX500-USD", "cfd", "online"),
        ]
    );
    assert_eq!(list[3].name.as_deref(), Some("Gold"));
}

/// No account, an account Oanda does not know, and a refused token each say what to fix; the
/// token never shows.
#[tokio::test]
async fn an_instrument_list_that_fails_says_what_to_fix() {
    let no_account = OandaClient::new(
        OandaConfig {
            account: None,
            ..config(&nothing_listens(), TOKEN)
        },
        fixed_clock(at("2024-03-08")),
    )
    .unwrap();
    let err = no_account
        .instruments(&CountingGate::default())
        .await
        .unwrap_err();
    assert!(err.message.contains("CANDLELAKE_OANDA_ACCOUNT"), "{err}");
    // TC: (status, body file, kind, part of the message)
    let cases = [
        (
            404,
            "errors/400-bad-instrument.json",
            ErrorKind::Permanent,
            "does not know account",
        ),
        (
            401,
            "errors/401-unauthorized.json",
            ErrorKind::Halt,
            "rejected the token",
        ),
    ];
    for (i, (status, body, kind, says)) in cases.into_iter().enumerate() {
        let answer =
            ResponseTemplate::new(status).set_body_string(fixture(&format!("oanda/{body}")));
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(answer)
            .mount(&server)
            .await;
        let err = client(&server.uri(), at("2024-03-08"))
            .instruments(&CountingGate::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind, kind, "TC{i}: {err}");
        assert!(err.message.contains(says), "TC{i}: {err}");
        assert!(!err.message.contains(TOKEN), "TC{i}: {err}");
    }
}
