//! Dagster Pipes from the binary: when an orchestrator started this process as a Pipes
//! subprocess (`DAGSTER_PIPES_CONTEXT` and `DAGSTER_PIPES_MESSAGES` in the environment), a
//! `backfill` or `topup` reports its run summary back through the Pipes message channel.
//!
//! The protocol (version 0.1, as the `dagster-pipes` package speaks it): each bootstrap variable
//! is base64 of zlib-compressed JSON params. The context params hold the run's context either
//! inline (`data`) or in a JSON file (`path`); the messages params name the channel: a file to
//! append to (`path`), or `stdio`/`buffered_stdio` with `stderr` or `stdout`. Every message is
//! one JSON line `{"__dagster_pipes_version": "0.1", "method": ..., "params": ...}`: `opened`
//! first, then `report_asset_materialization` (or `report_custom_message` when the context
//! does not name exactly one asset), then `closed` (with an `exception` when an error ended the
//! run before its summary). Without both variables nothing changes.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};

use base64::Engine;
use serde_json::{Value, json};

use crate::report::summary::RunSummary;

const CONTEXT_VAR: &str = "DAGSTER_PIPES_CONTEXT";
const MESSAGES_VAR: &str = "DAGSTER_PIPES_MESSAGES";
const VERSION: &str = "0.1";

/// Where the messages go.
#[derive(Debug)]
enum Channel {
    File(File),
    Stderr,
    Stdout,
}

/// An open Pipes session: `opened` is written; `report` and `close` write the rest.
#[derive(Debug)]
pub struct Session {
    channel: Channel,
    /// The asset this run materialises, when the context names exactly one.
    asset_key: Option<String>,
}

/// A bootstrap variable's params: base64, then zlib, then a JSON object.
fn decode_params(name: &str, text: &str) -> Result<serde_json::Map<String, Value>, String> {
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("{name} is not base64: {e}"))?;
    let mut json = String::new();
    flate2::read::ZlibDecoder::new(compressed.as_slice())
        .read_to_string(&mut json)
        .map_err(|e| format!("{name} is not zlib-compressed UTF-8: {e}"))?;
    match serde_json::from_str(&json) {
        Ok(Value::Object(params)) => Ok(params),
        _ => Err(format!("{name} does not hold a JSON object")),
    }
}

/// The run's context from its params: inline under `data`, or in the file at `path`.
fn load_context(params: &serde_json::Map<String, Value>) -> Result<Value, String> {
    if let Some(data) = params.get("data") {
        return Ok(data.clone());
    }
    let Some(Value::String(path)) = params.get("path") else {
        return Err(format!("{CONTEXT_VAR} names neither \"path\" nor \"data\""));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("the Pipes context file {path} could not be read: {e}"))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("the Pipes context file {path} is not JSON: {e}"))
}

fn open_channel(params: &serde_json::Map<String, Value>) -> Result<Channel, String> {
    if let Some(Value::String(path)) = params.get("path") {
        return OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(Channel::File)
            .map_err(|e| format!("the Pipes message file {path} could not be opened: {e}"));
    }
    let stream = params
        .get("stdio")
        .or_else(|| params.get("buffered_stdio"))
        .and_then(Value::as_str);
    match stream {
        Some("stderr") => Ok(Channel::Stderr),
        Some("stdout") => Ok(Channel::Stdout),
        _ => Err(format!(
            "{MESSAGES_VAR} names no channel this binary writes (\"path\", or \"stdio\" with \"stderr\" or \"stdout\")"
        )),
    }
}

impl Session {
    /// Opens the session when the environment bootstraps one, writing `opened`; `Ok(None)` when
    /// the process was not started through Pipes.
    pub fn open(env: &HashMap<String, String>) -> Result<Option<Session>, String> {
        let (Some(context), Some(messages)) = (env.get(CONTEXT_VAR), env.get(MESSAGES_VAR)) else {
            return Ok(None);
        };
        let context = load_context(&decode_params(CONTEXT_VAR, context)?)?;
        let channel = open_channel(&decode_params(MESSAGES_VAR, messages)?)?;
        let asset_key = match context.get("asset_keys").and_then(Value::as_array) {
            Some(keys) if keys.len() == 1 => keys[0].as_str().map(str::to_string),
            _ => None,
        };
        let session = Session { channel, asset_key };
        session.write("opened", json!({"extras": {}}));
        Ok(Some(session))
    }

    /// One message line. A channel that cannot be written is logged, not fatal: the data is
    /// committed either way, and Dagster sees the exit code.
    fn write(&self, method: &str, params: Value) {
        let line = json!({"__dagster_pipes_version": VERSION, "method": method, "params": params})
            .to_string()
            + "\n";
        let written = match &self.channel {
            Channel::File(file) => {
                let mut file: &File = file;
                file.write_all(line.as_bytes())
            }
            Channel::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
            Channel::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
        };
        if let Err(e) = written {
            tracing::error!("Could not write the Dagster Pipes message {method}: {e}");
        }
    }

    /// Reports the run: a materialization of the context's asset with the summary as
    /// metadata, or the same metadata as a custom message when no single asset is in scope.
    pub fn report(&self, summary: &RunSummary) {
        let metadata = metadata(summary);
        match &self.asset_key {
            Some(key) => self.write(
                "report_asset_materialization",
                json!({"asset_key": key, "data_version": null, "metadata": metadata}),
            ),
            None => self.write("report_custom_message", json!({"payload": metadata})),
        }
    }

    /// Writes `closed`, with the error that ended the run before it had a summary (Dagster
    /// shows it as the external process's exception); the exit code tells whether the run
    /// succeeded.
    pub fn close(self, error: Option<&str>) {
        let params = match error {
            Some(message) => json!({"exception": {
                "message": message, "stack": [], "name": "candlelake", "cause": null, "context": null,
            }}),
            None => json!({}),
        };
        self.write("closed", params);
    }
}

fn typed(raw_value: Value, kind: &str) -> Value {
    json!({"raw_value": raw_value, "type": kind})
}

/// The materialization metadata of a run: its totals, the earliest coverage end of its series
/// (every series is covered at least that far), and one entry per series.
fn metadata(summary: &RunSummary) -> Value {
    let series: Vec<Value> = summary
        .results
        .iter()
        .map(|r| {
            json!({
                "provider": r.provider,
                "asset_pair": r.asset_pair,
                "timeframe": r.timeframe,
                "status": r.status,
                "records": r.records,
                "dead_lettered": r.dead_lettered,
                "coverage_end": r.coverage.to,
            })
        })
        .collect();
    let ends: Vec<&String> = summary
        .results
        .iter()
        .map(|r| r.coverage.to.as_ref())
        .collect::<Option<_>>()
        .unwrap_or_default();
    let coverage_end = match ends.iter().min() {
        Some(end) => typed(json!(end), "text"),
        None => typed(Value::Null, "null"),
    };
    json!({
        "status": typed(json!(summary.status), "text"),
        "ingestion_id": typed(json!(summary.ingestion_id), "text"),
        "series_count": typed(json!(summary.results.len()), "int"),
        "records": typed(json!(summary.total_records), "int"),
        "dead_lettered": typed(json!(summary.total_failed), "int"),
        "coverage_end": coverage_end,
        "series": typed(Value::Array(series), "json"),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::report::summary::{CoverageLine, RunStatus, SeriesLine, SeriesStatus};

    fn encode(value: &Value) -> String {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(value.to_string().as_bytes()).unwrap();
        base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap())
    }

    fn line(pair: &str, records: u64, dlq: u64, to: Option<&str>) -> SeriesLine {
        SeriesLine {
            provider: "coinbase",
            asset_pair: pair.into(),
            timeframe: "1h",
            status: SeriesStatus::Success,
            records,
            fetched: records + dlq,
            duplicates: 0,
            skipped: 0,
            dead_lettered: dlq,
            coverage: CoverageLine {
                from: to.map(|_| "2024-01-01T00:00:00Z".into()),
                to: to.map(str::to_string),
            },
            error: None,
        }
    }

    fn summary() -> RunSummary {
        RunSummary {
            status: RunStatus::Success,
            ingestion_id: "run-1".into(),
            total_records: 30,
            total_failed: 3,
            results: vec![
                line("BTC-USD", 10, 1, Some("2024-01-08T00:00:00Z")),
                line("ETH-USD", 20, 2, Some("2024-01-05T00:00:00Z")),
            ],
        }
    }

    fn messages(path: &std::path::Path) -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn without_the_variables_there_is_no_session() {
        let env = HashMap::from([(CONTEXT_VAR.to_string(), encode(&json!({"data": {}})))]);
        assert!(Session::open(&env).unwrap().is_none());
    }

    #[test]
    fn a_run_writes_opened_its_materialization_and_closed_to_the_message_file() {
        let dir = tempfile::tempdir().unwrap();
        let context = dir.path().join("context.json");
        let out = dir.path().join("messages");
        std::fs::write(
            &context,
            json!({"asset_keys": ["candles"], "partition_key": "2"}).to_string(),
        )
        .unwrap();
        let env = HashMap::from([
            (CONTEXT_VAR.into(), encode(&json!({"path": context}))),
            (MESSAGES_VAR.into(), encode(&json!({"path": out}))),
        ]);
        let session = Session::open(&env).unwrap().unwrap();
        session.report(&summary());
        session.close(None);

        let m = messages(&out);
        let methods: Vec<&str> = m.iter().map(|m| m["method"].as_str().unwrap()).collect();
        assert_eq!(
            methods,
            ["opened", "report_asset_materialization", "closed"]
        );
        assert!(m.iter().all(|m| m["__dagster_pipes_version"] == "0.1"));
        let params = &m[1]["params"];
        assert_eq!(params["asset_key"], "candles");
        let md = &params["metadata"];
        assert_eq!(md["records"], json!({"raw_value": 30, "type": "int"}));
        assert_eq!(md["dead_lettered"], json!({"raw_value": 3, "type": "int"}));
        assert_eq!(md["coverage_end"]["raw_value"], "2024-01-05T00:00:00Z");
        assert_eq!(md["series"]["type"], "json");
        assert_eq!(
            md["series"]["raw_value"][1],
            json!({"provider": "coinbase", "asset_pair": "ETH-USD", "timeframe": "1h",
                   "status": "success", "records": 20, "dead_lettered": 2,
                   "coverage_end": "2024-01-05T00:00:00Z"})
        );
    }

    #[test]
    fn without_a_single_asset_the_summary_goes_as_a_custom_message() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("messages");
        let env = HashMap::from([
            (
                CONTEXT_VAR.into(),
                encode(&json!({"data": {"asset_keys": null}})),
            ),
            (MESSAGES_VAR.into(), encode(&json!({"path": out}))),
        ]);
        let session = Session::open(&env).unwrap().unwrap();
        let mut s = summary();
        s.results.push(line("SOL-USD", 0, 0, None));
        session.report(&s);
        session.close(Some("the table raw_market_data_1h could not be read"));
        let m = messages(&out);
        assert_eq!(m[1]["method"], "report_custom_message");
        let payload = &m[1]["params"]["payload"];
        assert_eq!(
            payload["coverage_end"],
            json!({"raw_value": null, "type": "null"})
        );
        assert_eq!(payload["series_count"]["raw_value"], 3);
        assert_eq!(
            m[2]["params"]["exception"]["message"],
            "the table raw_market_data_1h could not be read"
        );
    }

    #[test]
    fn bad_bootstrap_params_are_an_error_naming_the_variable() {
        let env = HashMap::from([
            (CONTEXT_VAR.into(), "not base64!".into()),
            (MESSAGES_VAR.into(), encode(&json!({"path": "/tmp/x"}))),
        ]);
        assert!(Session::open(&env).unwrap_err().contains(CONTEXT_VAR));
        let env = HashMap::from([
            (CONTEXT_VAR.into(), encode(&json!({"data": {}}))),
            (MESSAGES_VAR.into(), encode(&json!({"s3": "bucket"}))),
        ]);
        assert!(Session::open(&env).unwrap_err().contains(MESSAGES_VAR));
    }
}
