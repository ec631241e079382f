//! One integration-test binary: every module below links into it once.

mod alphavantage;
mod cli;
mod coinbase;
mod config;
mod crash;
mod demo;
mod dlq;
mod exactly_once;
mod gaps;
mod health;
mod oanda;
mod platform;
mod python_readers;
mod s3;
mod secrets;
mod support;
mod synth;
