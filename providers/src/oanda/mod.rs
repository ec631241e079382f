//! Oanda v20 candles (being written).
