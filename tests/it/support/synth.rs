//! A synthetic Coinbase candles endpoint for wiremock: deterministic candles in the real wire
//! format for any window, newest first, with a gap every 50th bucket and an invalid candle
//! (high below low) every 97th; `SynthListed`, the same candles only while each pair was
//! listed, beside the recorded product list; and `SynthHeld`, which stops answering on a switch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use wiremock::{MockServer, Request, Respond, ResponseTemplate};

use super::fixture;
use super::servers::{query, serve};

/// The responder; its `Duration` delays every answer (to hold a run open for signals).
pub struct SynthCoinbase(pub Duration);

/// The same candles, except those opening at the given Unix seconds, which the provider has
/// since revised (close moved to the open, one more unit of volume).
pub struct SynthRevised(pub Vec<i64>);

fn revise(body: String) -> String {
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut c = v.as_object().unwrap().clone();
    c["close"] = c["open"].clone();
    let volume = c["volume"].as_str().unwrap().to_string();
    let (int, frac) = volume.split_once('.').unwrap();
    c["volume"] = serde_json::Value::String(format!("{}.{frac}", int.parse::<u64>().unwrap() + 1));
    serde_json::Value::Object(c).to_string()
}

/// A small deterministic mix of (pair, open time) into 64 bits.
fn mix(pair: &str, t: i64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in pair.bytes().chain(t.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^ (h >> 29)
}

/// No trades in the bucket at `t` (Unix seconds): every 50th bucket is a gap.
pub fn is_gap(t: i64, granularity: i64) -> bool {
    (t / granularity) % 50 == 7
}

/// The candle at `t` has high below low (dead-lettered): every 97th bucket.
pub fn is_invalid(t: i64, granularity: i64) -> bool {
    (t / granularity) % 97 == 13
}

/// A valid candle is served at `t`.
pub fn is_valid(t: i64, granularity: i64) -> bool {
    !is_gap(t, granularity) && !is_invalid(t, granularity)
}

/// The candle body of `pair` at open time `t` (Unix seconds), or `None` for a gap.
pub fn candle(pair: &str, t: i64, granularity: i64) -> Option<String> {
    if is_gap(t, granularity) {
        return None;
    }
    let h = mix(pair, t);
    let base = 10_000 + (h % 5_000) as i64; // cents
    let open = base;
    let close = base + (h >> 16) as i64 % 200 - 100;
    let mut high = open.max(close) + (h >> 24) as i64 % 50;
    let mut low = open.min(close) - (h >> 32) as i64 % 50;
    if is_invalid(t, granularity) {
        std::mem::swap(&mut high, &mut low);
    }
    let cents = |c: i64| format!("{}.{:02}", c / 100, c % 100);
    let volume = format!("{}.{:08}", (h >> 40) % 1000, h % 100_000_000);
    Some(format!(
        r#"{{"start":"{t}","low":"{}","high":"{}","open":"{}","close":"{}","volume":"{volume}"}}"#,
        cents(low),
        cents(high),
        cents(open),
        cents(close)
    ))
}

fn granularity_seconds(name: &str) -> i64 {
    match name {
        "ONE_MINUTE" => 60,
        "FIVE_MINUTE" => 300,
        "FIFTEEN_MINUTE" => 900,
        "THIRTY_MINUTE" => 1800,
        "ONE_HOUR" => 3600,
        "FOUR_HOUR" => 14_400,
        _ => 86_400,
    }
}

impl Respond for SynthRevised {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        page(request, |pair, t, g| {
            candle(pair, t, g).map(|c| if self.0.contains(&t) { revise(c) } else { c })
        })
    }
}

impl Respond for SynthCoinbase {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        page(request, candle).set_delay(self.0)
    }
}

/// The page of a candles request, each bucket's candle from `make`.
fn page(request: &Request, make: impl Fn(&str, i64, i64) -> Option<String>) -> ResponseTemplate {
    let q = |k: &str| query(request, k).unwrap_or_default();
    let pair = request
        .url
        .path()
        .split('/')
        .rev()
        .nth(1)
        .unwrap_or_default();
    let g = granularity_seconds(&q("granularity"));
    let (start, end): (i64, i64) = (
        q("start").parse().unwrap_or(0),
        q("end").parse().unwrap_or(0),
    );
    let first = start.div_euclid(g) * g + if start.rem_euclid(g) == 0 { 0 } else { g };
    let candles: Vec<String> = (0..)
        .map(|k| first + k * g)
        .take_while(|t| *t <= end)
        .filter_map(|t| make(pair, t, g))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    ResponseTemplate::new(200).set_body_string(format!(r#"{{"candles":[{}]}}"#, candles.join(",")))
}

/// The synthetic Coinbase, answering at once.
pub async fn synth_server() -> MockServer {
    serve(SynthCoinbase(Duration::ZERO)).await
}

/// The synthetic Coinbase, slow enough (300 ms an answer) to keep a run open for a few seconds.
pub async fn slow_server() -> MockServer {
    serve(SynthCoinbase(Duration::from_millis(300))).await
}

/// The synthetic Coinbase answering after 300 ms until `hold` is set; from then on it counts
/// the requests that arrive (`held`) and keeps each answer 10 s, far longer than a run needs
/// to notice anything that stops it.
pub struct SynthHeld {
    pub hold: Arc<AtomicBool>,
    pub held: Arc<AtomicUsize>,
}

impl Respond for SynthHeld {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if self.hold.load(Ordering::SeqCst) {
            self.held.fetch_add(1, Ordering::SeqCst);
            return page(request, candle).set_delay(Duration::from_secs(10));
        }
        page(request, candle).set_delay(Duration::from_millis(300))
    }
}

/// `SynthHeld`'s server, its switch and its count of requests that came once held.
pub async fn held_server() -> (MockServer, Arc<AtomicBool>, Arc<AtomicUsize>) {
    let (hold, held) = (Arc::default(), Arc::default());
    let server = serve(SynthHeld {
        hold: Arc::clone(&hold),
        held: Arc::clone(&held),
    })
    .await;
    (server, hold, held)
}

/// The path of Coinbase's public product list.
pub const PRODUCTS: &str = "/api/v3/brokerage/market/products";

/// The synthetic candles of each pair only from its listing to its delisting (Unix seconds,
/// `[from, to)`), nothing for any other pair, and `fixtures/coinbase/instruments/products.json`
/// for the product list.
pub struct SynthListed(pub Vec<(&'static str, i64, i64)>);

impl Respond for SynthListed {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request.url.path() == PRODUCTS {
            return ResponseTemplate::new(200)
                .set_body_string(fixture("coinbase/instruments/products.json"));
        }
        page(request, |pair, t, g| {
            let listed = self
                .0
                .iter()
                .any(|(p, from, to)| *p == pair && *from <= t && t < *to);
            candle(pair, t, g).filter(|_| listed)
        })
    }
}

/// The synthetic Coinbase with these pairs' lives and the recorded product list.
pub async fn listed_server(lives: Vec<(&'static str, i64, i64)>) -> MockServer {
    serve(SynthListed(lives)).await
}

/// What the rate-limited synthetic Coinbase saw: when each request came and what it asked
/// (pair, granularity, start), and how many it refused with a 429.
#[derive(Debug, Default)]
pub struct Seen {
    pub arrivals: Vec<std::time::Instant>,
    pub windows: Vec<(String, String, String)>,
    pub refused: usize,
    /// The indices (into `arrivals`) of the requests refused on purpose.
    pub refused_at: Vec<usize>,
    /// GCRA's theoretical arrival time of the next request.
    next: Option<std::time::Instant>,
}

/// The synthetic Coinbase that enforces a rate as a provider does: GCRA at `rps` with a burst
/// of `burst`, a 429 (with `Retry-After: 1`) for a request above it; and, when `refuse` is
/// `(n, s)`, a 429 with `Retry-After: s` for its n-th request (from 0) whatever the rate.
pub struct SynthLimited {
    pub seen: std::sync::Arc<std::sync::Mutex<Seen>>,
    pub rps: u32,
    pub burst: u32,
    pub refuse: Option<(usize, u64)>,
}

impl Respond for SynthLimited {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let now = std::time::Instant::now();
        let interval = Duration::from_secs(1) / self.rps;
        let mut seen = self.seen.lock().unwrap();
        seen.arrivals.push(now);
        let q = |k: &str| query(request, k).unwrap_or_default();
        let pair = request.url.path().split('/').rev().nth(1).unwrap_or("");
        seen.windows
            .push((pair.to_string(), q("granularity"), q("start")));
        if let Some((n, wait)) = self.refuse.filter(|(n, _)| *n + 1 == seen.arrivals.len()) {
            seen.refused += 1;
            seen.refused_at.push(n);
            return ResponseTemplate::new(429).insert_header("Retry-After", wait.to_string());
        }
        let next = seen.next.map_or(now, |t| t.max(now));
        if next.duration_since(now) > interval * (self.burst - 1) {
            seen.refused += 1;
            return ResponseTemplate::new(429).insert_header("Retry-After", "1");
        }
        seen.next = Some(next + interval);
        drop(seen);
        page(request, candle)
    }
}

/// The synthetic Coinbase answering 429 above `rps` requests a second (burst `burst`), and
/// what it saw.
pub async fn limited_server(
    rps: u32,
    burst: u32,
) -> (MockServer, std::sync::Arc<std::sync::Mutex<Seen>>) {
    refusing_server(rps, burst, None).await
}

/// `limited_server`, whose n-th request also gets a 429 with `Retry-After: s` (`refuse`).
pub async fn refusing_server(
    rps: u32,
    burst: u32,
    refuse: Option<(usize, u64)>,
) -> (MockServer, std::sync::Arc<std::sync::Mutex<Seen>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Seen::default()));
    let limited = SynthLimited {
        seen: seen.clone(),
        rps,
        burst,
        refuse,
    };
    (serve(limited).await, seen)
}
