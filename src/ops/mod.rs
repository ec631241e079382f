//! One file per user operation. Each returns a typed report; the CLI only prints it.

pub mod backfill;
pub mod demo;
pub mod druid;
pub mod gaps;
pub mod import;
pub mod instruments;
pub mod lake;
pub mod maintain;
pub mod refetch;
pub mod replay;
pub mod status;
pub mod topup;
pub mod universe;

use std::sync::Arc;

use crate::fetch::Shutdown;
use crate::model::new_ingestion_id;
use crate::plan::{PlanError, Settings, connect};
use crate::providers::{Clock, ProviderId};
use crate::report::progress::Progress;
use crate::series::Runner;

/// What the series runners of one run share: its id, clock, signals and progress display.
pub struct RunContext {
    pub clock: Clock,
    pub ingestion_id: String,
    pub shutdown: Shutdown,
    pub progress: Arc<Progress>,
}

impl RunContext {
    /// A new run with no signal handling and no progress bars (tests, the demo).
    pub fn quiet(clock: Clock) -> Self {
        RunContext {
            clock,
            ingestion_id: new_ingestion_id(),
            shutdown: Shutdown::never(),
            progress: Arc::new(Progress::none()),
        }
    }

    /// The runner of `provider`: its client and rate gate, checked before any request.
    pub async fn runner(
        &self,
        settings: &Settings,
        provider: ProviderId,
    ) -> Result<Runner, PlanError> {
        let source = connect(settings, provider, self.clock.clone()).await?;
        Ok(
            Runner::builder(settings, source, self.clock.clone(), &self.ingestion_id)
                .shutdown(self.shutdown.clone())
                .progress(self.progress.clone())
                .build(),
        )
    }
}
