//! The benchmark driver: starts the synthetic server and candlelake as child processes, times
//! the backfill, and reports throughput, requests, 429s, commits, files and peak RSS.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Every range ends here, long past, so every candle is final.
const END_UNIX: i64 = 1_704_067_200; // 2024-01-01T00:00:00Z
/// Buckets per candlelake request.
const PAGE: i64 = 300;
/// Requests per second assumed when sizing a `--duration-s` run with no client limit.
const UNLIMITED_RPS_GUESS: i64 = 3_000;

/// What to run: the `run` subcommand's arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOptions {
    /// Total candles to backfill (pairs x buckets).
    #[arg(long, required_unless_present = "duration_s")]
    pub candles: Option<u64>,
    /// Number of synthetic pairs (B00-USD, B01-USD, ...).
    #[arg(long, default_value_t = 20)]
    pub pairs: u32,
    /// Timeframe: 1m 5m 15m 30m 1h 4h 1d.
    #[arg(long, default_value = "1m")]
    pub timeframe: String,
    /// candlelake's Coinbase requests per second (CANDLELAKE_COINBASE_RPS); 0 = unlimited.
    #[arg(long, default_value = "0")]
    pub rps: String,
    /// Make the server enforce 10 requests/s, burst 15.
    #[arg(long)]
    pub rate_limit: bool,
    /// Stop candlelake with SIGTERM after this many seconds (the range is sized to outlast it).
    #[arg(long)]
    pub duration_s: Option<u64>,
    #[command(flatten)]
    pub blackout: crate::Blackout,
    /// candlelake processes, each running one shard (`--shard I/N`) of the pairs at once.
    #[arg(long, default_value_t = 1)]
    pub processes: u32,
    /// Start Debian's redis-server on a free port and give every process one shared budget
    /// (`CANDLELAKE_RATE_LIMITER=redis://...`).
    #[arg(long)]
    pub shared_budget: bool,
    /// The candlelake binary [default: next to this binary, else target/release/candlelake].
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Keep the temp dir (lake, state, candlelake's stderr) instead of removing it.
    #[arg(long)]
    pub keep: bool,
}

pub fn timeframe_seconds(tf: &str) -> Option<i64> {
    Some(match tf {
        "1m" => 60,
        "5m" => 300,
        "15m" => 900,
        "30m" => 1_800,
        "1h" => 3_600,
        "4h" => 14_400,
        "1d" => 86_400,
        _ => return None,
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (proleptic Gregorian, days-from-civil inverse).
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

/// `B00-USD`, `B01-USD`, ...
pub fn pair_names(n: u32) -> Vec<String> {
    let width = n.saturating_sub(1).to_string().len().max(2);
    (0..n).map(|i| format!("B{i:0width$}-USD")).collect()
}

/// `1234567` → `1,234,567`.
pub fn thousands(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Buckets per pair: enough for `candles` in total, or to outlast `duration_s` at `rps`.
fn buckets_per_pair(options: &RunOptions) -> Result<i64, String> {
    let pairs = i64::from(options.pairs);
    if let Some(candles) = options.candles {
        let candles = i64::try_from(candles).map_err(|_| "--candles is too large".to_string())?;
        return Ok((candles + pairs - 1) / pairs);
    }
    let Some(duration) = options.duration_s else {
        return Err("give --candles N or --duration-s S".into());
    };
    let rps = parse_rps(&options.rps)?;
    let per_s = if rps == 0 {
        UNLIMITED_RPS_GUESS
    } else {
        (rps + 999) / 1_000
    };
    // Twice the requests the run can make, plus two per pair, so it never runs out.
    let requests = 2 * per_s * duration as i64 + 2 * pairs;
    Ok((requests + pairs - 1) / pairs * PAGE)
}

/// `--rps` in thousandths (decimals allowed, as candlelake takes them).
fn parse_rps(rps: &str) -> Result<i64, String> {
    let bad = || format!("--rps must be a non-negative number, not {rps:?}");
    let (int, frac) = rps.split_once('.').unwrap_or((rps, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > 3 {
        return Err(bad());
    }
    let int: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let frac_milli: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}").parse().map_err(|_| bad())?
    };
    if int < 0 {
        return Err(bad());
    }
    Ok(int * 1_000 + frac_milli)
}

/// Kills the server child when the driver leaves, however it leaves.
struct ServerGuard(Child);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `redis-server` on a free loopback port, keeping nothing on disk; its URL.
fn start_redis(dir: &Path) -> Result<(ServerGuard, String), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port for redis-server: {e}"))?
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start redis-server ({e}); apt-get install redis-server"))?;
    let guard = ServerGuard(child);
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok((guard, format!("redis://127.0.0.1:{port}/0")));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err("redis-server did not start".into())
}

fn start_server(options: &RunOptions) -> Result<(ServerGuard, u16), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(["serve", "--port", "0"]);
    if options.rate_limit {
        cmd.arg("--rate-limit");
    }
    if let Some((after, length)) = options.blackout.get() {
        cmd.args([
            "--blackout-after-ms",
            &after.to_string(),
            "--blackout-ms",
            &length.to_string(),
        ]);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let stdout = child.stdout.take().ok_or("no server stdout")?;
    let guard = ServerGuard(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("server did not start: {e}"))?;
    let port = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|addr| addr.rsplit(':').next())
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or_else(|| format!("server did not start (said {line:?})"))?;
    Ok((guard, port))
}

/// `GET /stats` over a plain socket.
fn server_stats(port: u16) -> Result<Value, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .map_err(|e| format!("cannot reach the server for /stats: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    stream
        .write_all(b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("/stats: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("/stats: {e}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .ok_or("/stats: no body")?;
    serde_json::from_str(body).map_err(|e| format!("/stats: bad JSON ({e}): {body}"))
}

/// The candlelake binary: `--binary`, else next to this one, else `target/release/candlelake`.
fn candlelake_binary(options: &RunOptions) -> Result<PathBuf, String> {
    let path = match &options.binary {
        Some(p) => p.clone(),
        None => {
            let sibling = std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(|d| d.join("candlelake")))
                .filter(|p| p.is_file());
            sibling.unwrap_or_else(|| PathBuf::from("target/release/candlelake"))
        }
    };
    std::fs::canonicalize(&path).map_err(|e| {
        format!(
            "candlelake binary {} not found ({e}); build it with `cargo build --release -p candlelake` or pass --binary",
            path.display()
        )
    })
}

#[derive(Debug, Default)]
struct LakeCounts {
    commits: u64,
    data_files: u64,
    data_bytes: u64,
}

fn count_lake(dir: &Path, in_log: bool, counts: &mut LakeCounts) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if kind.is_dir() {
            count_lake(&path, in_log || name == "_delta_log", counts);
        } else if in_log {
            if name.ends_with(".json") {
                counts.commits += 1;
            }
        } else if name.ends_with(".parquet") {
            counts.data_files += 1;
            counts.data_bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
}

/// How the candlelake child ended, and its peak RSS in KiB.
struct Exit {
    code: Option<i32>,
    signal: Option<i32>,
    max_rss_kib: i64,
}

/// Reaps `pid` with `wait4`, which also reports the child's own resource usage.
fn wait4(pid: i32) -> Result<Exit, String> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals; pid is our own unreaped child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("wait4 failed: {err}"));
        }
    }
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    Ok(Exit {
        code,
        signal,
        max_rss_kib: usage.ru_maxrss,
    })
}

/// The temp dir of one run, removed afterwards unless `--keep`.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn temp_dir(keep: bool) -> Result<TempDir, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let path = std::env::temp_dir().join(format!(
        "candlelake-bench-{}-{nanos:09}",
        std::process::id()
    ));
    std::fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    Ok(TempDir { path, keep })
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Where candlelake process `i` of `n` writes its stderr.
fn stderr_path(dir: &Path, i: u32, n: u32) -> PathBuf {
    match n {
        1 => dir.join("candlelake.stderr"),
        _ => dir.join(format!("candlelake-{i}.stderr")),
    }
}

/// The JSON summary candlelake prints on stdout (`--output json`).
fn parse_summary(stdout: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(stdout.trim()) {
        return Some(v);
    }
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter(Value::is_object)
}

/// Runs one benchmark condition; returns the process exit code.
pub fn run(options: RunOptions) -> Result<i32, String> {
    let tf_s = timeframe_seconds(&options.timeframe).ok_or_else(|| {
        format!(
            "--timeframe must be one of 1m 5m 15m 30m 1h 4h 1d, not {}",
            options.timeframe
        )
    })?;
    if options.pairs == 0 {
        return Err("--pairs must be at least 1".into());
    }
    if options.processes == 0 {
        return Err("--processes must be at least 1".into());
    }
    parse_rps(&options.rps)?;
    let binary = candlelake_binary(&options)?;
    let per_pair = buckets_per_pair(&options)?;
    let expected = per_pair as u64 * u64::from(options.pairs);
    let start = END_UNIX - per_pair * tf_s;
    let pairs = pair_names(options.pairs);
    let tmp = temp_dir(options.keep)?;
    let lake = tmp.path.join("lake");
    let state = tmp.path.join("state");

    let (_server, port) = start_server(&options)?;

    println!(
        "== candlelake-bench: {} pairs x {} ({} buckets each, {} candles), {} .. {}",
        options.pairs,
        options.timeframe,
        thousands(per_pair as u64),
        thousands(expected),
        rfc3339(start),
        rfc3339(END_UNIX)
    );
    println!(
        "   client rps {}{}, server rate limit {}{}{}",
        options.rps,
        if options.rps == "0" {
            " (unlimited)"
        } else {
            ""
        },
        if options.rate_limit {
            "10/s burst 15"
        } else {
            "off"
        },
        options
            .blackout
            .get()
            .map(|(a, l)| format!(", blackout {l} ms after {a} ms"))
            .unwrap_or_default(),
        options
            .duration_s
            .map(|s| format!(", stopped after {s} s"))
            .unwrap_or_default(),
    );
    if options.processes > 1 {
        println!(
            "   {} processes (--shard I/{}), {}",
            options.processes,
            options.processes,
            if options.shared_budget {
                "one budget shared through redis-server"
            } else {
                "each with its own budget"
            }
        );
    }
    let _ = std::io::stdout().flush();

    let redis = options
        .shared_budget
        .then(|| start_redis(&tmp.path))
        .transpose()?;
    let processes = options.processes;
    let mut children = Vec::new();
    let started = Instant::now();
    for i in 0..processes {
        let stderr_file = std::fs::File::create(stderr_path(&tmp.path, i, processes))
            .map_err(|e| format!("cannot create a stderr file in {}: {e}", tmp.path.display()))?;
        let mut cmd = Command::new(&binary);
        cmd.current_dir(&tmp.path)
            .args([
                "--output",
                "json",
                "backfill",
                "--provider",
                "coinbase",
                "--pairs",
                &pairs.join(","),
                "--timeframes",
                &options.timeframe,
                "--start",
                &rfc3339(start),
                "--end",
                &rfc3339(END_UNIX),
            ])
            .env(
                "CANDLELAKE_COINBASE_URL",
                format!("http://127.0.0.1:{port}"),
            )
            .env("CANDLELAKE_LAKE", &lake)
            .env("CANDLELAKE_STATE_DIR", &state)
            .env("CANDLELAKE_COINBASE_RPS", &options.rps)
            .env("CANDLELAKE_RETRY_BASE_MS", "1000")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr_file));
        if processes > 1 {
            cmd.args(["--shard", &format!("{i}/{processes}")]);
        }
        if let Some((_, url)) = &redis {
            cmd.env("CANDLELAKE_RATE_LIMITER", url);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut stdout = child.stdout.take().ok_or("no candlelake stdout")?;
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        children.push((child, reader));
    }
    let pids: Vec<i32> = children.iter().map(|(c, _)| c.id() as i32).collect();
    // Sends SIGTERM after `--duration-s` unless the children have exited by then.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let stopper = options.duration_s.map(|s| {
        let pids = pids.clone();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) =
                done_rx.recv_timeout(Duration::from_secs(s))
            {
                for pid in pids {
                    // SAFETY: pid is our child, not yet reaped (the main thread signals first).
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                }
                Some(Instant::now())
            } else {
                None
            }
        })
    });
    let exits = pids
        .iter()
        .map(|pid| wait4(*pid))
        .collect::<Result<Vec<_>, _>>()?;
    let wall = started.elapsed();
    let _ = done_tx.send(());
    let term_sent = stopper.and_then(|h| h.join().ok()).flatten();
    let summaries: Vec<Option<Value>> = children
        .into_iter()
        .map(|(child, reader)| {
            drop(child);
            parse_summary(&reader.join().unwrap_or_default())
        })
        .collect();
    drop(redis);

    let stats = server_stats(port)?;
    let mut counts = LakeCounts::default();
    count_lake(&lake, false, &mut counts);

    let written = summaries
        .iter()
        .map(|s| s.as_ref()?.get("total_records")?.as_u64())
        .sum::<Option<u64>>();
    let status = summaries
        .iter()
        .map(|s| {
            s.as_ref()
                .and_then(|s| s.get("status"))
                .and_then(Value::as_str)
                .unwrap_or("none")
        })
        .collect::<Vec<_>>()
        .join(",");
    let stat = |k: &str| stats.get(k).and_then(Value::as_u64).unwrap_or(0);
    let requests = stat("requests");
    let secs = wall.as_secs_f64();
    let candles = written.unwrap_or(0);
    let candles_per_s = if secs > 0.0 {
        candles as f64 / secs
    } else {
        0.0
    };
    let requests_per_s = if secs > 0.0 {
        requests as f64 / secs
    } else {
        0.0
    };
    // The largest process's peak.
    let max_rss_kib = exits.iter().map(|e| e.max_rss_kib).max().unwrap_or(0);
    let rss_mb = max_rss_kib as f64 / 1024.0;
    // Requests per second between the server's first and last request: the rate while the
    // processes were asking, without start-up and shutdown.
    let busy_ms = stat("last_request_ms").saturating_sub(stat("first_request_ms"));
    let busy_per_s = if busy_ms > 0 {
        requests.saturating_sub(1) as f64 * 1000.0 / busy_ms as f64
    } else {
        0.0
    };
    let stop_s = term_sent.map(|t| wall.saturating_sub(t - started).as_secs_f64());

    // candlelake exits 143 after our SIGTERM; that is the expected end of a timed run.
    let stopped_by_us = term_sent.is_some();
    let ok_exit = exits
        .iter()
        .all(|e| matches!((e.code, stopped_by_us), (Some(0), _) | (Some(143), true)));
    let complete_run = options.duration_s.is_none();
    let count_ok = !complete_run || written == Some(expected);

    println!(
        "candles {}  wall {:.2} s  candles/s {}  requests {} ({:.0}/s)  429s {}  commits {}  files {}  peak RSS {:.0} MB",
        candles,
        secs,
        thousands(candles_per_s.round() as u64),
        requests,
        requests_per_s,
        stat("rate_limited"),
        counts.commits,
        counts.data_files,
        rss_mb
    );
    println!("requests/s from the first request to the last: {busy_per_s:.2}");
    if let Some(stop) = stop_s {
        println!(
            "stopped with SIGTERM after {s} s; exit took {stop:.2} s",
            s = options.duration_s.unwrap_or(0)
        );
    }
    if options.blackout.get().is_some() {
        println!(
            "requests during cool-down: {}",
            stat("requests_during_blackout")
        );
    }
    let line = json!({
        "candles": candles,
        "expected_candles": if complete_run { Some(expected) } else { None },
        "pairs": options.pairs,
        "timeframe": options.timeframe,
        "start": rfc3339(start),
        "end": rfc3339(END_UNIX),
        "rps": options.rps,
        "server_rate_limit": options.rate_limit,
        "duration_s": options.duration_s,
        "blackout_after_ms": options.blackout.get().map(|b| b.0),
        "blackout_ms": options.blackout.get().map(|b| b.1),
        "wall_s": (secs * 1000.0).round() / 1000.0,
        "stop_s": stop_s.map(|s| (s * 1000.0).round() / 1000.0),
        "candles_per_s": candles_per_s.round(),
        "requests": requests,
        "requests_per_s": (requests_per_s * 10.0).round() / 10.0,
        "busy_requests_per_s": (busy_per_s * 100.0).round() / 100.0,
        "ok": stat("ok"),
        "rate_limited": stat("rate_limited"),
        "server_errors": stat("errors"),
        "candles_served": stat("candles"),
        "requests_during_blackout": options.blackout.get().map(|_| stat("requests_during_blackout")),
        "commits": counts.commits,
        "data_files": counts.data_files,
        "data_bytes": counts.data_bytes,
        "processes": processes,
        "shared_budget": options.shared_budget,
        "peak_rss_kib": max_rss_kib,
        "exit_codes": exits.iter().map(|e| e.code).collect::<Vec<_>>(),
        "exit_signals": exits.iter().map(|e| e.signal).collect::<Vec<_>>(),
        "status": status,
    });
    println!("{line}");

    if options.keep {
        println!("kept {}", tmp.path.display());
    }
    if !ok_exit {
        for (i, exit) in exits.iter().enumerate() {
            eprintln!(
                "candlelake {i} ended with exit {:?}, signal {:?}; last stderr lines:\n{}",
                exit.code,
                exit.signal,
                tail(&stderr_path(&tmp.path, i as u32, processes), 20)
            );
        }
        eprintln!("summary statuses: {status}");
        return Ok(1);
    }
    if !count_ok {
        eprintln!(
            "candlelake wrote {} candles, expected {expected}; last stderr lines:\n{}",
            written.map_or("no summary".to_string(), |w| w.to_string()),
            tail(&stderr_path(&tmp.path, 0, processes), 20)
        );
        return Ok(1);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(END_UNIX), "2024-01-01T00:00:00Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(END_UNIX - 50_000 * 60), "2023-11-27T06:40:00Z");
        assert_eq!(rfc3339(951_782_400 + 3_661), "2000-02-29T01:01:01Z");
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(pair_names(20)[19], "B19-USD");
        assert_eq!(pair_names(101)[100], "B100-USD");
        assert_eq!(thousands(343_000), "343,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(12), "12");
        assert_eq!(parse_rps("10").unwrap(), 10_000);
        assert_eq!(parse_rps("0.5").unwrap(), 500);
        assert!(parse_rps("-1").is_err());
        assert!(parse_rps("x").is_err());
    }

    #[test]
    fn sizing() {
        let mut o = RunOptions {
            candles: Some(1_000_000),
            pairs: 20,
            timeframe: "1m".into(),
            rps: "0".into(),
            rate_limit: false,
            duration_s: None,
            blackout: crate::Blackout {
                blackout_after_ms: None,
                blackout_ms: None,
            },
            processes: 1,
            shared_budget: false,
            binary: None,
            keep: false,
        };
        assert_eq!(buckets_per_pair(&o).unwrap(), 50_000);
        o.candles = None;
        o.duration_s = Some(120);
        o.rps = "10".into();
        // 2 × 10 × 120 + 40 = 2440 requests → 122 per pair → 36,600 buckets.
        assert_eq!(buckets_per_pair(&o).unwrap(), 36_600);
    }
}
