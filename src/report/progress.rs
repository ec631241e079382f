//! A run's progress: one bar per series when stderr is a terminal and logs are text; otherwise
//! log lines (cron, systemd, Kubernetes): one when a series starts, one when it ends, and one
//! every `LOG_EVERY` per running series, at info level.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::model::SeriesKey;

/// How often a running series logs a progress line when there are no bars.
const LOG_EVERY: Duration = Duration::from_secs(30);

/// Where a run reports its progress.
pub struct Progress {
    mode: Mode,
}

enum Mode {
    /// Tests and the demo: nothing.
    Silent,
    Bars(MultiProgress, Mutex<HashMap<SeriesKey, ProgressBar>>),
    Lines(Mutex<HashMap<SeriesKey, Line>>),
}

/// What a series has done, for its log lines.
struct Line {
    windows: u64,
    done: u64,
    last_logged: Instant,
}

impl Progress {
    /// Bars on stderr when it is a terminal and logs are text (bars never mix into JSON
    /// logs), else log lines.
    pub fn for_stderr(json_logs: bool) -> Self {
        let mode = if std::io::stderr().is_terminal() && !json_logs {
            Mode::Bars(
                MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                Mutex::new(HashMap::new()),
            )
        } else {
            Mode::Lines(Mutex::new(HashMap::new()))
        };
        Progress { mode }
    }

    pub fn none() -> Self {
        Progress { mode: Mode::Silent }
    }

    /// A series starts with `windows` requests to make.
    pub fn start(&self, series: &SeriesKey, windows: u64) {
        match &self.mode {
            Mode::Silent => {}
            Mode::Bars(multi, bars) => {
                let style = ProgressStyle::with_template(
                    "{prefix:28} [{bar:30}] {pos}/{len} windows, {msg}",
                )
                .expect("valid template")
                .progress_chars("=> ");
                let bar = multi.add(
                    ProgressBar::new(windows)
                        .with_style(style)
                        .with_prefix(series.to_string()),
                );
                bar.set_message("0 candles");
                bars.lock()
                    .expect("progress lock")
                    .insert(series.clone(), bar);
            }
            Mode::Lines(lines) => {
                tracing::info!(series = %series, windows, "Series started.");
                lines.lock().expect("progress lock").insert(
                    series.clone(),
                    Line {
                        windows,
                        done: 0,
                        last_logged: Instant::now(),
                    },
                );
            }
        }
    }

    /// One more window done; `candles` written so far.
    pub fn window_done(&self, series: &SeriesKey, candles: u64) {
        match &self.mode {
            Mode::Silent => {}
            Mode::Bars(_, bars) => {
                if let Some(bar) = bars.lock().expect("progress lock").get(series) {
                    bar.inc(1);
                    bar.set_message(format!("{candles} candles"));
                }
            }
            Mode::Lines(lines) => {
                let mut lines = lines.lock().expect("progress lock");
                if let Some(line) = lines.get_mut(series) {
                    line.done += 1;
                    if line.last_logged.elapsed() >= LOG_EVERY {
                        line.last_logged = Instant::now();
                        tracing::info!(series = %series, windows_done = line.done, windows = line.windows, candles, "Series in progress.");
                    }
                }
            }
        }
    }

    pub fn finish(&self, series: &SeriesKey, status: &str, candles: u64) {
        match &self.mode {
            Mode::Silent => {}
            Mode::Bars(_, bars) => {
                if let Some(bar) = bars.lock().expect("progress lock").get(series) {
                    bar.finish_with_message(status.to_string());
                }
            }
            Mode::Lines(lines) => {
                let line = lines.lock().expect("progress lock").remove(series);
                let done = line.map_or(0, |l| l.done);
                tracing::info!(series = %series, status, windows_done = done, candles, "Series finished.");
            }
        }
    }
}
