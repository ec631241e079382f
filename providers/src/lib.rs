//! The provider side of candlelake: the candle types, the async candle-fetch trait, exact
//! decimal parsing of wire text, what a provider lists (`instrument`), the one HTTP exchange and credential type every client uses,
//! and one module per provider with its wire models, parser and error classification. Knows
//! HTTP and wire formats; never knows Delta, watermarks, the DLQ layout or the CLI.

pub mod alphavantage;
pub mod candle;
pub mod coinbase;
pub mod decimal;
pub mod error;
pub mod facts;
mod http;
pub mod instrument;
pub mod oanda;
mod secret;
pub mod source;
#[cfg(test)]
mod testing;
pub mod timeframe;
mod wire;

pub use candle::{FieldError, Page, VolumeKind, WireCandle};
pub use error::{ErrorKind, FetchError};
pub use facts::{Facts, Hours};
pub use instrument::{DIGITAL_CURRENCY, Instrument, InstrumentStatus, PHYSICAL_CURRENCY};
pub use secret::Secret;
pub use source::{
    CandleSource, Capabilities, Clock, Gate, Paging, ProviderId, Span, WindowRequest, chunk,
    system_clock,
};
pub use timeframe::Timeframe;
