//! `import` and `druid-spec` from parsed arguments: every flag checked before any file is read
//! (exit 1 on a mistake), then the operation, its report and its exit code.

use super::args::{DruidSpecArgs, ImportArgs};
use crate::error::Result;
use crate::ops::import::formats::{ColumnMap, Format, ReadOptions, TimestampUnit};
use crate::ops::import::{ImportRequest, discover};
use crate::plan::{PlanError, canonical_pair};
use crate::providers::{ProviderId, Timeframe};
use crate::sink::DeltaSink;

/// The import's request, or the first mistake in its flags.
pub async fn request(args: &ImportArgs) -> Result<ImportRequest> {
    let format = Format::parse(&args.format).ok_or_else(|| {
        PlanError(format!(
            "unknown --format '{}'; use binance-klines, polygon-minute-aggs, histdata-m1, csv or parquet",
            args.format
        ))
    })?;
    let timeframe = args
        .timeframe
        .as_deref()
        .map(|t| t.trim().parse::<Timeframe>().map_err(PlanError))
        .transpose()?;
    let generic = matches!(format, Format::Csv | Format::Parquet);
    if generic && timeframe.is_none() {
        return Err(PlanError(format!(
            "--format {} needs --timeframe (1m 5m 15m 30m 1h 4h 1d): the file does not say it",
            args.format
        ))
        .into());
    }
    let source_provider = match (&args.provider_name, format.vendor()) {
        (Some(name), _) => provider_name(name)?,
        (None, Some(vendor)) => vendor.to_string(),
        (None, None) => {
            return Err(PlanError(format!(
                "--format {} needs --provider-name: the vendor the rows come from (their source_provider)",
                args.format
            ))
            .into());
        }
    };
    let pairs = args
        .pairs
        .as_deref()
        .map(|list| {
            list.split(',')
                .map(|p| canonical_pair(p, ProviderId::AlphaVantage))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let unit = args
        .timestamp_unit
        .as_deref()
        .map(|u| {
            TimestampUnit::parse(u).ok_or_else(|| {
                PlanError(format!(
                    "unknown --timestamp-unit '{u}'; use s, ms, us or ns"
                ))
            })
        })
        .transpose()?;
    let timezone = args
        .timezone
        .as_deref()
        .map(|z| {
            z.parse::<chrono_tz::Tz>().map_err(|_| {
                PlanError(format!(
                    "unknown --timezone '{z}'; use an IANA zone such as America/New_York or UTC"
                ))
            })
        })
        .transpose()?;
    let map = args
        .map
        .as_deref()
        .map(ColumnMap::parse)
        .transpose()
        .map_err(PlanError)?
        .unwrap_or_default();
    let one_pair = pairs
        .as_ref()
        .filter(|p| p.len() == 1)
        .map(|p| p[0].clone());
    Ok(ImportRequest {
        format,
        files: discover(&args.source, format).await?,
        timeframe,
        pairs,
        source_provider,
        options: ReadOptions {
            pair: one_pair,
            map,
            unit,
            timezone,
        },
    })
}

/// A `--provider-name`: lower-case letters, digits, `-` and `_`, as the DLQ's file names take.
fn provider_name(name: &str) -> Result<String, PlanError> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(name.to_string())
    } else {
        Err(PlanError(format!(
            "--provider-name '{name}' must be 1 to 32 lower-case letters, digits or '_'"
        )))
    }
}

/// The specs of the tables of `args.timeframes`.
pub async fn druid_specs(
    args: &DruidSpecArgs,
    lake: &str,
    sink: &DeltaSink,
    explicit: impl Fn(Timeframe) -> bool,
) -> Result<Vec<serde_json::Value>> {
    let mut specs = Vec::new();
    for tf in args.timeframes.split(',') {
        let tf = tf.trim().parse::<Timeframe>().map_err(PlanError)?;
        let period = sink.partition_period(tf, explicit(tf)).await?;
        let root = match &args.lake_uri {
            Some(uri) => uri.clone(),
            None if lake.contains("://") => lake.to_string(),
            None => std::path::absolute(lake)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| lake.to_string()),
        };
        specs.push(crate::ops::druid::spec(&root, tf, period));
    }
    Ok(specs)
}
