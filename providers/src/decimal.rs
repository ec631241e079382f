//! Exact decimals from wire text: the contract's grammar, the decimal(38,18) fit rule, then
//! `Decimal::from_str_exact`. No binary floating point is ever involved.

use rust_decimal::Decimal;

use crate::candle::FieldError;

/// Largest number of integer digits a decimal(38,18) cell holds.
pub const MAX_INTEGER_DIGITS: usize = 20;
/// Largest number of fractional digits a decimal(38,18) cell holds.
pub const MAX_FRACTION_DIGITS: usize = 18;

/// Parses wire text matching `^-?[0-9]+(\.[0-9]+)?$` into an exact decimal.
///
/// Text outside the grammar (exponents, `_`, `+`, blanks, `.5`) is `Unparseable`; a value with
/// more than 18 fractional digits (after dropping trailing zeros) or 20 integer digits, or more
/// significant digits than `rust_decimal` holds exactly, is `PrecisionOverflow`.
pub fn parse_exact(text: &str) -> Result<Decimal, FieldError> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int_part, frac_part) = match digits.split_once('.') {
        Some((i, f)) => (i, f),
        None => (digits, ""),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || (digits.contains('.') && !all_digits(frac_part)) {
        return Err(FieldError::Unparseable);
    }
    let frac_significant = frac_part.trim_end_matches('0');
    let int_significant = int_part.trim_start_matches('0');
    if frac_significant.len() > MAX_FRACTION_DIGITS || int_significant.len() > MAX_INTEGER_DIGITS {
        return Err(FieldError::PrecisionOverflow);
    }
    Decimal::from_str_exact(text)
        .map(|d| d.normalize())
        .map_err(|_| FieldError::PrecisionOverflow)
}

/// The unscaled value of `d` at scale 18, as stored in a decimal(38,18) column.
///
/// Exact for every value `parse_exact` returns: at most 18 fractional digits, fewer than 10^20.
pub fn to_scale_18(d: Decimal) -> i128 {
    let d = d.normalize();
    let scale = d.scale();
    debug_assert!(scale as usize <= MAX_FRACTION_DIGITS);
    d.mantissa() * 10i128.pow(MAX_FRACTION_DIGITS as u32 - scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_and_fit() {
        // TC: (input, expected)
        let cases: &[(&str, Result<&str, FieldError>)] = &[
            ("37012.34", Ok("37012.34")),
            ("0.000000000000000001", Ok("0.000000000000000001")),
            ("1.50000000000000000000000", Ok("1.5")),
            ("-3", Ok("-3")),
            ("00012", Ok("12")),
            ("12345678901234567890", Ok("12345678901234567890")),
            ("123456789012345678901", Err(FieldError::PrecisionOverflow)),
            ("0.0000000000000000001", Err(FieldError::PrecisionOverflow)),
            ("1e-5", Err(FieldError::Unparseable)),
            ("1_000", Err(FieldError::Unparseable)),
            ("+1", Err(FieldError::Unparseable)),
            (".5", Err(FieldError::Unparseable)),
            ("5.", Err(FieldError::Unparseable)),
            ("", Err(FieldError::Unparseable)),
            (" 1", Err(FieldError::Unparseable)),
            ("NaN", Err(FieldError::Unparseable)),
            ("1.2.3", Err(FieldError::Unparseable)),
        ];
        for (input, expected) in cases {
            let got = parse_exact(input).map(|d| d.to_string());
            assert_eq!(got, expected.map(str::to_string), "input {input:?}");
        }
    }

    #[test]
    fn scale_18_is_exact() {
        let d = parse_exact("37012.340000000000000001").unwrap();
        assert_eq!(to_scale_18(d), 37_012_340_000_000_000_000_001);
        assert_eq!(
            to_scale_18(parse_exact("-2").unwrap()),
            -2_000_000_000_000_000_000
        );
    }
}
