//! An import's progress: on a terminal with text logs, one bar for the run (files done of all)
//! and one line per file in flight; otherwise a log line per file at its end.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where an import reports its progress.
pub struct ImportProgress {
    mode: Mode,
}

enum Mode {
    Silent,
    Bars {
        multi: MultiProgress,
        overall: ProgressBar,
        files: Mutex<HashMap<String, ProgressBar>>,
        candles: AtomicU64,
    },
    Lines,
}

impl ImportProgress {
    /// Bars on stderr when it is a terminal and logs are text, else log lines.
    pub fn for_stderr(json_logs: bool, files: u64) -> Self {
        if !std::io::stderr().is_terminal() || json_logs {
            return ImportProgress { mode: Mode::Lines };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{prefix:24} [{bar:30}] {pos}/{len} files, {msg}")
            .expect("valid template")
            .progress_chars("=> ");
        let overall = multi.add(
            ProgressBar::new(files)
                .with_style(style)
                .with_prefix("import"),
        );
        overall.set_message("0 candles");
        ImportProgress {
            mode: Mode::Bars {
                multi,
                overall,
                files: Mutex::new(HashMap::new()),
                candles: AtomicU64::new(0),
            },
        }
    }

    pub fn none() -> Self {
        ImportProgress { mode: Mode::Silent }
    }

    /// A file of `size` bytes is being read.
    pub fn file_started(&self, file: &str, size: u64) {
        if let Mode::Bars { multi, files, .. } = &self.mode {
            let style = ProgressStyle::with_template("  {prefix:40!} {spinner} {msg}")
                .expect("valid template");
            let bar = multi.add(
                ProgressBar::new_spinner()
                    .with_style(style)
                    .with_prefix(short(file).to_string()),
            );
            bar.set_message(format!("{} KiB", size / 1024));
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            files
                .lock()
                .expect("progress lock")
                .insert(file.to_string(), bar);
        }
    }

    /// A file ended with `status` after writing `rows`.
    pub fn file_done(&self, file: &str, status: &str, rows: u64) {
        match &self.mode {
            Mode::Silent => {}
            Mode::Bars {
                overall,
                files,
                candles,
                ..
            } => {
                if let Some(bar) = files.lock().expect("progress lock").remove(file) {
                    bar.finish_and_clear();
                }
                overall.inc(1);
                let total = candles.fetch_add(rows, Ordering::Relaxed) + rows;
                overall.set_message(format!("{total} candles"));
            }
            Mode::Lines => tracing::info!(file, status, rows, "File imported."),
        }
    }

    /// The run ended.
    pub fn finish(&self) {
        if let Mode::Bars { overall, .. } = &self.mode {
            overall.finish();
        }
    }
}

/// A file's name without its directories.
fn short(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file)
}
