//! Runs series: turns a series' request and held coverage into windows, fetches them
//! concurrently inside the provider's budget, and commits them in order.

mod budget;
mod retry;
mod series;
mod shutdown;

pub use budget::Budget;
pub use retry::{RetryPolicy, fetch_with_retry};
pub use series::{Direction, Engine, SeriesRequest};
pub use shutdown::{Shutdown, Stop};
