//! Alpha Vantage time series (being written).
