//! Asking a provider: the rate gate every request passes (`gate`: limiter, shared cool-down,
//! halt, daily quota), the retry schedule (`retry`), and the signals that stop a run
//! (`shutdown`).

mod gate;
mod retry;
mod shutdown;

pub use gate::RateGate;
pub use retry::{RetryPolicy, Tries, fetch_with_retry};
pub use shutdown::{Shutdown, Stop};
