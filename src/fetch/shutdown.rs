//! SIGINT / SIGTERM: a run stops fetching, commits what it has processed (or drops the window
//! in flight), writes its watermarks and exits 130 or 143.

use tokio::sync::watch;

/// A signal that asked the run to stop (its exit code is `crate::error`'s to say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Interrupt,
    Terminate,
}

/// Whether, and why, the run was asked to stop. Cheap to clone into every series.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<Option<Stop>>);

impl Shutdown {
    /// Never fires (tests, the demo).
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(None);
        // The sender must outlive every receiver: a closed channel would read as a stop.
        std::mem::forget(tx);
        Shutdown(rx)
    }

    /// Fires on SIGINT or SIGTERM.
    pub fn on_signals() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let stop = tokio::select! {
                _ = interrupt.recv() => Stop::Interrupt,
                _ = terminate.recv() => Stop::Terminate,
            };
            tracing::warn!("Stopping: committing what is processed, then exiting.");
            let _ = tx.send(Some(stop));
            std::future::pending::<()>().await;
        });
        Ok(Shutdown(rx))
    }

    pub fn requested(&self) -> Option<Stop> {
        *self.0.borrow()
    }

    /// Resolves once a stop is requested.
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(Option::is_some).await;
    }
}
