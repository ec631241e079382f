//! JSON wire helpers every provider shares: the `{"candles": [...]}` body, record structs whose
//! fields stay raw text, a record read as an object, the exact text of a field, and its exact
//! decimal.

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::candle::{FieldError, WireCandle};
use crate::decimal::parse_exact;
use crate::error::{ErrorKind, FetchError};
use crate::source::ProviderId;

/// A wire record whose named fields stay raw JSON text until a parser reads them exactly; an
/// absent field is `None`.
macro_rules! raw_record {
    ($(#[$doc:meta])* $name:ident { $($field:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, serde::Deserialize)]
        pub(crate) struct $name<'a> {
            $(
                #[serde(borrow, default)]
                pub $field: Option<&'a serde_json::value::RawValue>,
            )+
        }
    };
}
pub(crate) use raw_record;

/// A 200 body `{"candles": [...]}` (Coinbase, Oanda), each record read by `parse`, in wire
/// order. A body of another shape is a transient error: the provider's edge has served
/// truncated bodies under load, and the next try usually gets a whole one.
pub(crate) fn candles(
    body: &str,
    provider: ProviderId,
    parse: fn(Box<RawValue>) -> WireCandle,
) -> Result<Vec<WireCandle>, FetchError> {
    #[derive(Deserialize)]
    struct CandlesBody {
        candles: Vec<Box<RawValue>>,
    }
    let parsed: CandlesBody = serde_json::from_str(body).map_err(|e| {
        FetchError::new(
            ErrorKind::Transient,
            format!(
                "{} sent a candles body that is not valid JSON ({e}); it will be retried",
                provider.as_str()
            ),
        )
    })?;
    Ok(parsed.candles.into_iter().map(parse).collect())
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
