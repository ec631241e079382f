//! Progress bars, one per series, when stderr is a terminal; nothing at all when it is piped
//! or redirected (cron, systemd, Kubernetes logs stay clean).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::model::SeriesKey;

/// Where a run reports its progress.
pub struct Progress {
    bars: Option<(MultiProgress, Mutex<HashMap<SeriesKey, ProgressBar>>)>,
}

impl Progress {
    /// Bars on stderr when it is a terminal, else none.
    pub fn for_stderr() -> Self {
        if std::io::stderr().is_terminal() {
            Self::bars()
        } else {
            Self::none()
        }
    }

    pub fn none() -> Self {
        Progress { bars: None }
    }

    fn bars() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        Progress {
            bars: Some((multi, Mutex::new(HashMap::new()))),
        }
    }

    /// A series starts with `windows` requests to make.
    pub fn start(&self, series: &SeriesKey, windows: u64) {
        let Some((multi, bars)) = &self.bars else {
            return;
        };
        let style =
            ProgressStyle::with_template("{prefix:28} [{bar:30}] {pos}/{len} windows, {msg}")
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

    /// One more window done; `candles` written so far.
    pub fn window_done(&self, series: &SeriesKey, candles: u64) {
        let Some((_, bars)) = &self.bars else { return };
        if let Some(bar) = bars.lock().expect("progress lock").get(series) {
            bar.inc(1);
            bar.set_message(format!("{candles} candles"));
        }
    }

    pub fn finish(&self, series: &SeriesKey, status: &str) {
        let Some((_, bars)) = &self.bars else { return };
        if let Some(bar) = bars.lock().expect("progress lock").get(series) {
            bar.finish_with_message(status.to_string());
        }
    }
}
