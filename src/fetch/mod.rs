//! Asking a provider: the rate gate every request passes (`gate`: limiter, shared cool-down,
//! halt, daily quota), the budget it shares with other processes through Redis (`shared`), the
//! retry schedule (`retry`), and the signals that stop a run (`shutdown`).

mod gate;
mod retry;
pub mod shared;
mod shutdown;

pub use gate::RateGate;
pub use retry::{RetryPolicy, Tries, fetch_with_retry};
pub use shutdown::{Shutdown, Stop, Stopper};
