//! One integration-test binary: every module below links into it once. Test modules take
//! shared code only from `support`, never from each other.

mod alphavantage;
mod answers;
mod budget;
mod cli;
mod coinbase;
mod config;
mod crash;
mod dagster;
mod damage;
mod demo;
mod dlq;
mod exactly_once;
mod gaps;
mod health;
mod import;
mod instruments;
mod listing;
mod oanda;
mod platform;
mod python_readers;
mod s3;
mod secrets;
mod shards;
mod state_s3;
mod support;
mod writers;
