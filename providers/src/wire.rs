//! Wire helpers every provider shares: a response body as text, the exact text of a JSON field,
//! its exact decimal, and the HTTP headers that matter for retries (`Retry-After`) and finality
//! (`Date`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{DATE, HeaderMap, RETRY_AFTER};
use rust_decimal::Decimal;
use serde_json::value::RawValue;

use crate::candle::FieldError;
use crate::decimal::parse_exact;

/// The body of a response as text. Valid UTF-8 (what every provider sends) is checked in one
/// pass; reqwest's `text()` decodes chunk by chunk, 3% of a backfill's CPU in the profile.
pub async fn body_text(response: reqwest::Response) -> Result<String, reqwest::Error> {
    let bytes = response.bytes().await?;
    Ok(match std::str::from_utf8(&bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// A JSON object read into `T`, or `None`. serde's derived structs also accept a JSON array,
/// field by field, which no provider sends for a record: that is refused here.
pub fn object<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Option<T> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// The text of a field: the content of a JSON string, or the literal of a JSON integer when
/// `integer_ok`. `null` or absent is missing; floats, booleans and objects are unparseable.
pub(crate) fn field_text(value: Option<&RawValue>, integer_ok: bool) -> Result<String, FieldError> {
    let raw = value.ok_or(FieldError::Missing)?.get();
    match raw.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(raw).map_err(|_| FieldError::Unparseable),
        Some(b'n') if raw == "null" => Err(FieldError::Missing),
        Some(b'-' | b'0'..=b'9')
            if integer_ok && raw.bytes().skip(1).all(|b| b.is_ascii_digit()) =>
        {
            Ok(raw.to_string())
        }
        _ => Err(FieldError::Unparseable),
    }
}

/// A field's exact decimal, by the contract's grammar.
pub(crate) fn decimal(value: Option<&RawValue>, integer_ok: bool) -> Result<Decimal, FieldError> {
    parse_exact(&field_text(value, integer_ok)?)
}

/// `Retry-After` in seconds (the HTTP-date form is not used by these APIs).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    value.parse::<u64>().ok().map(Duration::from_secs)
}

/// The response's `Date` header (RFC 2822).
pub(crate) fn date_header(headers: &HeaderMap) -> Option<DateTime<Utc>> {
    let value = headers.get(DATE)?.to_str().ok()?;
    DateTime::parse_from_rfc2822(value).ok().map(|d| d.to_utc())
}
