//! JSON wire helpers every provider shares: a record read as an object, the exact text of a
//! field, and its exact decimal.

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use crate::candle::FieldError;
use crate::decimal::parse_exact;

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
