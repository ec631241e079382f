//! One integration-test binary: every module below links into it once.

mod cli;
mod coinbase;
mod demo;
mod dlq;
mod python_readers;
mod support;
