//! One rate budget for every process (`CANDLELAKE_RATE_LIMITER=redis://...`), against Debian's
//! redis-server: the scripts' answers (GCRA slots, the shared cool-down, the daily count), four
//! shards sharing 10 req/s against a server that answers 429 above it, one shard's 429 pausing
//! the others, Alpha Vantage's daily limit across state dirs, and what happens when Redis is
//! gone at the start or dies mid-run.

use std::collections::BTreeSet;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use candlelake::fetch::shared::{RedisUrl, SharedBudget, Turn};
use candlelake::providers::{Clock, ProviderId, Secret, Timeframe};
use rust_decimal::Decimal;

use crate::support::args::{Args, backfill};
use crate::support::servers::{Redis, av_server};
use crate::support::synth::{Seen, limited_server, refusing_server, synth_server};
use crate::support::{Workspace, at, cells, series};

const PAIRS: &str = "BTC-USD,ETH-USD,SOL-USD,LTC-USD,ADA-USD,XRP-USD,DOT-USD,AVAX-USD";

/// 8 pairs × (1m, 1h) over three days: 15 windows of 1m and one of 1h a pair, 128 requests.
fn three_days() -> Args {
    backfill("coinbase", PAIRS, "1m,1h")
        .range("2024-01-01", "2024-01-04")
        .global(&["--output", "json"])
}

fn clock(day: &str) -> Clock {
    let t = at(day);
    Arc::new(move || t)
}

async fn budget(redis: &Redis, credential: &str, rps: u32, daily: Option<u64>) -> SharedBudget {
    let secret = Secret::new(credential);
    SharedBudget::connect(
        &RedisUrl::parse(&redis.url()).unwrap(),
        ProviderId::AlphaVantage,
        Some(&secret),
        Decimal::from(rps),
        daily,
        clock("2025-03-04T12:00:00Z"),
    )
    .await
    .unwrap()
}

/// Redis's clock in µs.
async fn redis_time(redis: &Redis) -> i64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let (s, us): (i64, i64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
    s * 1_000_000 + us
}

fn reserved(turn: Turn) -> Duration {
    match turn {
        Turn::Reserved(wait) => wait,
        Turn::Cooling(left) => panic!("cooling for {left:?}, expected a slot"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gcra_script_hands_out_slots_one_interval_apart_across_processes() {
    let redis = Redis::start().await;
    // Two "processes" with one credential share the slots; another credential has its own.
    let (a, b) = (
        budget(&redis, "key-one", 10, None).await,
        budget(&redis, "key-one", 10, None).await,
    );
    let other = budget(&redis, "key-two", 10, None).await;
    let before = redis_time(&redis).await;
    let mut waits = Vec::new();
    for k in 0..6 {
        let process = if k % 2 == 0 { &a } else { &b };
        waits.push(reserved(process.turn().await.unwrap()));
    }
    let spent = Duration::from_micros((redis_time(&redis).await - before).unsigned_abs());
    // Slot k is k × 100 ms after the first, which came between `before` and now.
    for (k, wait) in waits.iter().enumerate() {
        let slot = Duration::from_millis(100) * k as u32;
        assert!(*wait <= slot, "slot {k}: {wait:?}");
        assert!(*wait + spent >= slot, "slot {k}: {wait:?} (+{spent:?})");
    }
    assert_eq!(reserved(other.turn().await.unwrap()), Duration::ZERO);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cool_down_pauses_every_process_of_the_credential_and_a_longer_one_stays() {
    let redis = Redis::start().await;
    let (a, b) = (
        budget(&redis, "key-one", 10, None).await,
        budget(&redis, "key-one", 10, None).await,
    );
    let other = budget(&redis, "key-two", 10, None).await;
    let left = a.cool_down(Duration::from_secs(60)).await.unwrap();
    assert_eq!(left, Duration::from_secs(60));
    // A shorter cool-down asked later does not cut the running one short.
    let left = b.cool_down(Duration::from_secs(1)).await.unwrap();
    assert!(left > Duration::from_secs(1), "{left:?}");
    match b.turn().await.unwrap() {
        Turn::Cooling(left) => assert!(left > Duration::from_secs(1), "{left:?}"),
        turn => panic!("{turn:?}"),
    }
    assert!(a.cooling().await.unwrap().is_some());
    assert!(other.cooling().await.unwrap().is_none());
    assert_eq!(reserved(other.turn().await.unwrap()), Duration::ZERO);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daily_limit_counts_every_process_of_the_credential() {
    let redis = Redis::start().await;
    let (a, b) = (
        budget(&redis, "key-one", 0, Some(3)).await,
        budget(&redis, "key-one", 0, Some(3)).await,
    );
    a.spend_daily().await.unwrap();
    b.spend_daily().await.unwrap();
    a.spend_daily().await.unwrap();
    let refused = b.spend_daily().await.unwrap_err();
    assert!(
        refused
            .message
            .contains("alphavantage daily budget of 3 requests for 2025-03-04"),
        "{refused}"
    );
    assert!(a.spend_daily().await.is_err());
    budget(&redis, "key-two", 0, Some(3))
        .await
        .spend_daily()
        .await
        .unwrap();
    // Another UTC day has its own count.
    let next_day = SharedBudget::connect(
        &RedisUrl::parse(&redis.url()).unwrap(),
        ProviderId::AlphaVantage,
        Some(&Secret::new("key-one")),
        Decimal::ZERO,
        Some(3),
        clock("2025-03-05T12:00:00Z"),
    )
    .await
    .unwrap();
    next_day.spend_daily().await.unwrap();
}

/// Starts the four shards of `args` at once.
fn four_shards(ws: &Workspace, args: &Args) -> Vec<std::process::Child> {
    (0..4)
        .map(|i| {
            let mut command = ws.command(args.clone().flag("--shard", &format!("{i}/4")));
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            command.spawn().unwrap()
        })
        .collect()
}

/// Waits for every child at once (each one's pipes drained while the others run).
async fn wait_all(children: Vec<std::process::Child>) -> Vec<Output> {
    let waits: Vec<_> = children
        .into_iter()
        .map(|child| tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()))
        .collect();
    let mut outputs = Vec::new();
    for wait in waits {
        outputs.push(wait.await.unwrap());
    }
    outputs
}

/// The most requests that arrived within any `span`.
fn busiest(arrivals: &[Instant], span: Duration) -> usize {
    let mut sorted = arrivals.to_vec();
    sorted.sort();
    (0..sorted.len())
        .map(|i| {
            sorted[i..]
                .iter()
                .take_while(|t| **t - sorted[i] < span)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn four_shards_share_one_budget_and_write_what_one_run_writes() {
    let redis = Redis::start().await;
    let (server, seen) = limited_server(10, 15).await;
    let ws = Workspace::synth(&server)
        .with("CANDLELAKE_COINBASE_RPS", "10")
        .with("CANDLELAKE_COMMIT_ROWS", "10000")
        .with("CANDLELAKE_RATE_LIMITER", &redis.url());
    let outputs = wait_all(four_shards(&ws, &three_days())).await;
    let mut ran = BTreeSet::new();
    for out in &outputs {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for s in summary["results"].as_array().unwrap() {
            let key = (s["asset_pair"].to_string(), s["timeframe"].to_string());
            assert!(ran.insert(key), "two shards ran one series");
        }
    }
    assert_eq!(ran.len(), 16, "every series ran once");

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let Seen {
        arrivals,
        windows,
        refused,
        ..
    } = seen;
    assert_eq!(refused, 0, "the server answered 429");
    let asked: BTreeSet<_> = windows.iter().cloned().collect();
    assert_eq!(asked.len(), windows.len(), "a window was asked twice");
    assert_eq!(windows.len(), 128);
    // The budget caps the rate from above (no 429); from below, while all four were busy, the
    // busiest 3 s held at least 80% of the budget (24 of 30 slots).
    let most = busiest(&arrivals, Duration::from_secs(3));
    let span = arrivals
        .iter()
        .max()
        .unwrap()
        .duration_since(*arrivals.iter().min().unwrap());
    println!(
        "{} requests in {span:?} ({:.2}/s from the first to the last); busiest 3 s: {most}",
        arrivals.len(),
        (arrivals.len() - 1) as f64 / span.as_secs_f64()
    );
    assert!(most >= 24, "only {most} requests in the busiest 3 s");

    let reference_server = synth_server().await;
    let reference = Workspace::synth(&reference_server);
    reference.run_expect(three_days(), 0).await;
    for tf in [Timeframe::M1, Timeframe::H1] {
        assert_eq!(
            cells(ws.rows(tf).await),
            cells(reference.rows(tf).await),
            "{tf}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_dying_mid_run_fails_the_runs_and_nothing_is_sent_after() {
    let redis = Redis::start().await;
    let url = redis.url();
    let (server, seen) = limited_server(10, 15).await;
    let ws = Workspace::synth(&server)
        .with("CANDLELAKE_COINBASE_RPS", "4")
        .with("CANDLELAKE_RATE_LIMITER", &url);
    let children = four_shards(&ws, &three_days());
    // Redis dies once the runs are under way (a bound only so a broken build cannot hang).
    for _ in 0..3000 {
        if seen.lock().unwrap().arrivals.len() >= 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        seen.lock().unwrap().arrivals.len() >= 8,
        "the runs never got going"
    );
    drop(redis);
    let died = Instant::now();
    let outputs = wait_all(children).await;
    for out in &outputs {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let errors: Vec<&str> = summary["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["error"].as_str())
            .collect();
        assert!(
            errors.iter().any(|e| e.contains(&format!(
                "the shared rate limiter at {url} stopped answering"
            )) && e.contains("no more coinbase requests were sent")),
            "{errors:?}"
        );
    }
    let seen = seen.lock().unwrap();
    assert!(seen.arrivals.len() < 128, "the runs went on without Redis");
    // A request goes out only after Redis answered for it; those answered before it died may
    // still have been on the wire.
    let late: Vec<Duration> = seen
        .arrivals
        .iter()
        .filter(|t| **t > died)
        .map(|t| *t - died)
        .collect();
    println!(
        "{} requests before Redis died, {} after it: {late:?}",
        seen.arrivals.len() - late.len(),
        late.len()
    );
    assert!(
        late.iter().all(|d| *d < Duration::from_secs(1)),
        "requests after Redis died: {late:?}"
    );
    assert_eq!(seen.refused, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_unreachable_at_the_start_is_exit_1_before_any_request() {
    let (server, seen) = limited_server(10, 15).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ws = Workspace::synth(&server).with(
        "CANDLELAKE_RATE_LIMITER",
        &format!("redis://:pw-Secret-9f2@127.0.0.1:{port}/0"),
    );
    let out = ws.run_expect(three_days(), 1).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "the shared rate limiter at redis://127.0.0.1:{port}/0 (CANDLELAKE_RATE_LIMITER) cannot be reached"
        )) && stderr.contains("CANDLELAKE_RATE_LIMITER=local"),
        "{stderr}"
    );
    assert!(!stderr.contains("pw-Secret-9f2"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(seen.lock().unwrap().arrivals.is_empty());

    let bad = Workspace::synth(&server)
        .with("CANDLELAKE_RATE_LIMITER", "redis:/nohost")
        .run_expect(three_days(), 1)
        .await;
    assert!(String::from_utf8_lossy(&bad.stderr).contains("neither local nor a redis://"));
}

#[tokio::test(flavor = "multi_thread")]
async fn alpha_vantages_daily_limit_counts_the_requests_of_every_state_dir() {
    let redis = Redis::start().await;
    let server = av_server(&[]).await;
    let shared = |ws: Workspace| {
        ws.with("CANDLELAKE_ALPHAVANTAGE_DAILY_LIMIT", "25")
            .with("CANDLELAKE_RATE_LIMITER", &redis.url())
    };
    // Two state dirs, one key: thirteen New York months each, thirteen requests a run.
    let (first, second) = (
        shared(Workspace::alphavantage(&server)),
        shared(Workspace::alphavantage(&server)),
    );
    let months = |ticker| {
        backfill("alphavantage", ticker, "30m")
            .range("2023-01-01T05:00:00Z", "2024-02-01T05:00:00Z")
    };
    first.run_ok(months("IBM")).await;
    let summary = second.run_json_expect(months("MSFT"), 2).await;
    let sent = server.received_requests().await.unwrap().len();
    assert_eq!(sent, 25, "the 26th request of the day is never sent");
    let error = series(&summary, "MSFT", "30m")["error"].as_str().unwrap();
    assert!(
        error.contains("daily budget of 25 requests") && error.contains("not sent"),
        "{error}"
    );
    // Nothing was counted in either state dir: the count is Redis's.
    assert!(!first.state().join("budget").exists());
    assert!(!second.state().join("budget").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn one_shards_429_pauses_every_shard_for_its_retry_after() {
    let redis = Redis::start().await;
    // The 30th request (3 s in at 10/s) gets a 429 with Retry-After: 4.
    let (server, seen) = refusing_server(100, 100, Some((29, 4))).await;
    let ws = Workspace::synth(&server)
        .with("CANDLELAKE_COINBASE_RPS", "10")
        .with("CANDLELAKE_COMMIT_ROWS", "10000")
        .with("CANDLELAKE_RATE_LIMITER", &redis.url());
    let outputs = wait_all(four_shards(&ws, &three_days())).await;
    // Which shard ran which series, by the pair and granularity its requests name.
    let mut shard_of = std::collections::BTreeMap::new();
    for (i, out) in outputs.iter().enumerate() {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for s in summary["results"].as_array().unwrap() {
            let granularity = match s["timeframe"].as_str().unwrap() {
                "1m" => "ONE_MINUTE",
                _ => "ONE_HOUR",
            };
            let pair = s["asset_pair"].as_str().unwrap().to_string();
            shard_of.insert((pair, granularity.to_string()), i);
        }
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.refused_at, [29]);
    let refused = seen.arrivals[29];
    let shard = |k: usize| {
        let (pair, granularity, _) = &seen.windows[k];
        shard_of[&(pair.clone(), granularity.clone())]
    };
    let asking = |keep: &dyn Fn(Instant) -> bool| -> BTreeSet<usize> {
        (0..seen.arrivals.len())
            .filter(|k| keep(seen.arrivals[*k]))
            .map(shard)
            .collect()
    };
    let before = asking(&|t| t < refused);
    // Through the cool-down no shard asks (the first second excepted: requests cleared before
    // it began may still be on the wire) ...
    let during = asking(&|t| {
        t > refused + Duration::from_secs(1) && t < refused + Duration::from_millis(3900)
    });
    assert!(
        during.is_empty(),
        "shards {during:?} asked during the cool-down"
    );
    // ... and another shard than the refused one, asking before and after, was paused by it.
    let after = asking(&|t| t > refused + Duration::from_secs(4));
    let paused: BTreeSet<usize> = before
        .intersection(&after)
        .copied()
        .filter(|s| *s != shard(29))
        .collect();
    assert!(!paused.is_empty(), "before {before:?}, after {after:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shard_killed_mid_run_and_rerun_leaves_the_table_exact() {
    let redis = Redis::start().await;
    let (server, seen) = limited_server(10, 15).await;
    let ws = Workspace::synth(&server)
        .with("CANDLELAKE_COINBASE_RPS", "10")
        .with("CANDLELAKE_RATE_LIMITER", &redis.url());
    let mut children = four_shards(&ws, &three_days());
    // Shard 0 is SIGKILLed once the four are under way.
    for _ in 0..3000 {
        if seen.lock().unwrap().arrivals.len() >= 12 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut killed = children.remove(0);
    killed.kill().unwrap();
    killed.wait().unwrap();
    for out in wait_all(children).await {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    ws.run_expect(three_days().flag("--shard", "0/4"), 0).await;
    assert_eq!(seen.lock().unwrap().refused, 0, "the server answered 429");

    let reference_server = synth_server().await;
    let reference = Workspace::synth(&reference_server);
    reference.run_expect(three_days(), 0).await;
    for tf in [Timeframe::M1, Timeframe::H1] {
        assert_eq!(
            cells(ws.rows(tf).await),
            cells(reference.rows(tf).await),
            "{tf}"
        );
    }
}
