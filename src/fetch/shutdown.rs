//! Why a run stops early: SIGINT / SIGTERM (it stops fetching, commits what it has processed
//! or drops the window in flight, writes its watermarks and exits 130 or 143), or the loss of
//! its lease on an object-store state dir (it stops fetching and commits and writes nothing
//! more: another run holds the state dir now).

use std::sync::Arc;

use tokio::sync::watch;

/// What stopped the run (its exit code is `crate::error`'s to say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Interrupt,
    Terminate,
    /// Another run took the lease of the state dir; the sentence says which and what to do.
    LeaseLost(Arc<str>),
}

impl Stop {
    /// A signal's stop commits what was processed; a lost lease commits nothing more.
    pub fn commits(&self) -> bool {
        !matches!(self, Stop::LeaseLost(_))
    }

    /// What a series cut short by this stop reports.
    pub fn message(&self) -> &str {
        match self {
            Stop::Interrupt | Stop::Terminate => {
                "interrupted; the next run continues from the last commit"
            }
            Stop::LeaseLost(why) => why,
        }
    }
}

/// Whether, and why, the run was asked to stop. Cheap to clone into every series.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<Option<Stop>>>,
    rx: watch::Receiver<Option<Stop>>,
}

/// Stops a run from any thread (the lease's renewer); the first stop is the one kept.
#[derive(Debug, Clone)]
pub struct Stopper(Arc<watch::Sender<Option<Stop>>>);

impl Stopper {
    pub fn stop(&self, stop: Stop) {
        self.0.send_if_modified(|now| {
            let first = now.is_none();
            if first {
                *now = Some(stop);
            }
            first
        });
    }
}

impl Shutdown {
    /// Fires only through its `Stopper` (tests, commands that do not listen for signals).
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(None);
        Shutdown {
            tx: Arc::new(tx),
            rx,
        }
    }

    /// Fires on SIGINT or SIGTERM, or through its `Stopper`.
    pub fn on_signals() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let shutdown = Shutdown::never();
        let stopper = shutdown.stopper();
        tokio::spawn(async move {
            let stop = tokio::select! {
                _ = interrupt.recv() => Stop::Interrupt,
                _ = terminate.recv() => Stop::Terminate,
            };
            tracing::warn!("Stopping: committing what is processed, then exiting.");
            stopper.stop(stop);
        });
        Ok(shutdown)
    }

    /// The handle that stops this run from elsewhere.
    pub fn stopper(&self) -> Stopper {
        Stopper(Arc::clone(&self.tx))
    }

    pub fn requested(&self) -> Option<Stop> {
        self.rx.borrow().clone()
    }

    /// The lost lease's stop, when the run may no longer commit or write its state.
    pub fn lease_lost(&self) -> Option<Stop> {
        self.requested().filter(|s| !s.commits())
    }

    /// Whether this run may still commit and write its state: an error (the lost lease's
    /// sentence) once it lost its lease.
    pub fn still_held(&self) -> crate::error::Result<()> {
        self.lease_lost()
            .map_or(Ok(()), |stop| Err(crate::error::Error::Interrupted(stop)))
    }

    /// Resolves once a stop is requested.
    pub async fn wait(&mut self) {
        let _ = self.rx.wait_for(Option::is_some).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_stop_is_kept_and_only_a_lost_lease_forbids_commits() {
        let shutdown = Shutdown::never();
        assert_eq!(shutdown.requested(), None);
        let lost = Stop::LeaseLost("taken".into());
        shutdown.stopper().stop(lost.clone());
        shutdown.stopper().stop(Stop::Interrupt);
        assert_eq!(shutdown.requested(), Some(lost.clone()));
        assert_eq!(shutdown.lease_lost(), Some(lost));
        let signalled = Shutdown::never();
        signalled.stopper().stop(Stop::Terminate);
        assert_eq!(signalled.lease_lost(), None);
        assert!(Stop::Terminate.commits());
    }
}
