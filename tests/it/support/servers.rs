//! What the binary talks to in tests: mock provider servers answering with fixture bodies
//! (Alpha Vantage, Oanda v20), and the external servers (moto's S3, Debian's Pushgateway and
//! redis-server) started as processes behind one guard.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use wiremock::matchers::{header, method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{at, fixture, python};

/// The Alpha Vantage key the workspaces send.
pub const AV_KEY: &str = "TESTKEY123";
/// The Oanda token the workspaces send and the v20 server requires.
pub const OANDA_TOKEN: &str = "oanda-test-token-7f3a";

/// One query parameter of a request.
pub fn query(request: &Request, key: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(n, _)| n == key)
        .map(|(_, v)| v.to_string())
}

/// Asserts that a request's query string holds every `key=value` of `parts`.
pub fn assert_query_has(request: &Request, parts: &[&str]) {
    let q = request.url.query().unwrap_or_default();
    for part in parts {
        assert!(q.contains(part), "{part} missing: {q}");
    }
}

/// A local server answering every GET with `responder`.
pub async fn serve(responder: impl Respond + 'static) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(responder)
        .mount(&server)
        .await;
    server
}

/// A local server answering every GET with `status` and the fixture `rel`.
pub async fn serve_fixture(status: u16, rel: &str) -> MockServer {
    serve(ResponseTemplate::new(status).set_body_string(fixture(rel))).await
}

/// Alpha Vantage: answers by `function` (and `month`): queued answers first, then the fixture of
/// the function. Always HTTP 200, as Alpha Vantage does.
pub struct AvServer {
    queued: Mutex<BTreeMap<String, Vec<String>>>,
}

impl AvServer {
    /// `queued`: (function, or function/symbol, fixture files under `alphavantage/`).
    pub fn new(queued: &[(&str, &[&str])]) -> Self {
        let queued = queued
            .iter()
            .map(|(f, bodies)| {
                let bodies = bodies.iter().map(|b| fixture(&format!("alphavantage/{b}")));
                (f.to_string(), bodies.collect())
            })
            .collect();
        AvServer {
            queued: Mutex::new(queued),
        }
    }
}

fn av_default_body(request: &Request) -> String {
    let q = |k: &str| query(request, k).unwrap_or_default();
    let file = match q("function").as_str() {
        "TIME_SERIES_INTRADAY" => match q("month").as_str() {
            "2024-03" => "TIME_SERIES_INTRADAY-IBM-30min-2024-03.json",
            "2024-11" => "TIME_SERIES_INTRADAY-IBM-30min-2024-11.json",
            month => {
                let symbol = q("symbol");
                return format!(
                    r#"{{"Meta Data": {{"1. Information": "Intraday (30min) open, high, low, close prices and volume", "2. Symbol": "{symbol}", "3. Last Refreshed": "{month}-28 19:30:00", "4. Interval": "30min", "5. Output Size": "Full size", "6. Time Zone": "US/Eastern"}}, "Time Series (30min)": {{}}}}"#
                );
            }
        },
        "FX_DAILY" => "FX_DAILY-EUR-USD.json",
        "DIGITAL_CURRENCY_DAILY" => "DIGITAL_CURRENCY_DAILY-BTC-EUR.json",
        "TIME_SERIES_DAILY" => "TIME_SERIES_DAILY-IBM-compact.json",
        "CRYPTO_INTRADAY" => "errors/premium-endpoint.json",
        _ => "errors/empty.json",
    };
    fixture(&format!("alphavantage/{file}"))
}

impl Respond for AvServer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let q = |k: &str| query(request, k).unwrap_or_default();
        let key = format!("{}/{}{}", q("function"), q("symbol"), q("from_symbol"));
        let queued = {
            let mut all = self.queued.lock().unwrap();
            [q("function"), key].iter().find_map(|k| {
                all.get_mut(k)
                    .filter(|v| !v.is_empty())
                    .map(|v| v.remove(0))
            })
        };
        let body = queued.unwrap_or_else(|| av_default_body(request));
        ResponseTemplate::new(200)
            .set_body_string(body)
            .insert_header("content-type", "application/json")
    }
}

/// A local Alpha Vantage; see `AvServer::new` for `queued`.
pub async fn av_server(queued: &[(&str, &[&str])]) -> MockServer {
    serve(AvServer::new(queued)).await
}

/// Oanda v20: serves `fixtures/oanda/EUR_USD-{granularity}.json` (M5 from `m5`), filtered like
/// v20: candles from `from` (or after it with includeFirst=false) and before `to`; refuses more
/// than 5000 buckets.
struct V20Fixtures {
    m5: &'static str,
}

impl Respond for V20Fixtures {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let q = |k: &str| query(request, k);
        let granularity = q("granularity").unwrap_or_default();
        let rel = match granularity.as_str() {
            "M5" => self.m5.to_string(),
            g => format!("oanda/EUR_USD-{g}.json"),
        };
        let body: serde_json::Value = serde_json::from_str(&fixture(&rel)).unwrap();
        let from = at(&q("from").unwrap());
        let to = at(&q("to").unwrap());
        let include_first = q("includeFirst").as_deref() != Some("false");
        let step = match granularity.as_str() {
            "M5" => 300,
            "H4" => 14_400,
            _ => 86_400,
        };
        if (to - from).num_seconds() / step > 5000 {
            return ResponseTemplate::new(400)
                .set_body_string(fixture("oanda/errors/400-count-exceeded.json"));
        }
        let candles: Vec<&serde_json::Value> = body["candles"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                let t = at(c["time"].as_str().unwrap());
                (if include_first { t >= from } else { t > from }) && t < to
            })
            .collect();
        let out = serde_json::json!({"instrument": "EUR_USD", "granularity": granularity, "candles": candles});
        ResponseTemplate::new(200)
            .set_body_string(out.to_string())
            .insert_header("RequestID", "42")
    }
}

/// A local Oanda serving EUR_USD from the fixtures (`m5`: the M5 fixture), only to the token.
pub async fn oanda_server(m5: &'static str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("^/v3/instruments/EUR_USD/candles$"))
        .and(header(
            "authorization",
            format!("Bearer {OANDA_TOKEN}").as_str(),
        ))
        .respond_with(V20Fixtures { m5 })
        .mount(&server)
        .await;
    server
}

/// A server process on a loopback port; dropping the guard kills and waits for it, on every
/// path.
pub struct Process {
    child: Child,
    pub port: u16,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Starts `program` on a free port (`args` gets the port) and waits until it accepts
    /// connections; `hint` says how to install it.
    pub async fn start(program: &str, args: impl Fn(u16) -> Vec<String>, hint: &str) -> Process {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(program)
            .args(args(port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} runs ({e}; {hint})"));
        let process = Process { child, port };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{program} did not start");
    }

    /// `http://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

const SETUP: &str = "tests/setup.sh installs it";

/// Debian's Pushgateway.
pub async fn pushgateway() -> Process {
    let listen = |port| vec![format!("--web.listen-address=127.0.0.1:{port}")];
    Process::start("prometheus-pushgateway", listen, SETUP).await
}

/// moto's S3 server, with a bucket `lake`.
pub async fn moto() -> Process {
    let moto = Process::start(
        "moto_server",
        |port| vec!["-p".into(), port.to_string()],
        SETUP,
    )
    .await;
    let made = python(&format!(
        "import urllib.request as u; u.urlopen(u.Request('{}/lake', method='PUT')); print('ok')",
        moto.url()
    ));
    assert!(made.contains("ok"), "could not create the bucket: {made}");
    moto
}

/// The object-store options of the S3 lake at `endpoint`, for the binary and Python alike.
pub fn s3_options(endpoint: &str) -> [(&'static str, String); 5] {
    [
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ]
}

/// Debian's redis-server on a free loopback port, keeping nothing on disk (its dir is a temp
/// dir that goes with the guard).
pub struct Redis {
    pub process: Process,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub async fn start() -> Redis {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().display().to_string();
        let args = |port: u16| {
            [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--dir",
                &path,
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            .map(String::from)
            .to_vec()
        };
        let process = Process::start("redis-server", args, SETUP).await;
        Redis { process, _dir: dir }
    }

    /// `redis://127.0.0.1:{port}/0`, what `CANDLELAKE_RATE_LIMITER` takes.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.process.port)
    }
}

/// Returns once `server` has received its first request.
pub async fn first_request(server: &MockServer) {
    while server
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
