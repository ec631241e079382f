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
    if let Some(d) = in_one_pass(text) {
        return Ok(d);
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int_part, frac_part) = match digits.split_once('.') {
        Some((i, f)) => (i, f),
        None => (digits, ""),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || (digits.len() > int_part.len() && !all_digits(frac_part)) {
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

/// The common case in one pass over the text: well-formed, within decimal(38,18), at most
/// `EXACT_DIGITS` significant digits. The significant digits become one integer at the scale
/// of the fraction without its trailing zeros: what `from_str_exact` and `normalize` give,
/// without their general parsing and division. `None` for any other text, which `parse_exact`
/// then reads and judges the general way.
fn in_one_pass(text: &str) -> Option<Decimal> {
    let bytes = text.as_bytes();
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    let (mut mantissa, mut significant, mut scale) = (0i128, 0usize, 0usize);
    // Digits before the point and after it; zeros after it not yet in the mantissa.
    let (mut whole, mut fraction, mut point, mut zeros) = (0usize, 0usize, false, 0usize);
    for &b in digits {
        match (b, point) {
            (b'0'..=b'9', false) => {
                whole += 1;
                let d = i128::from(b - b'0');
                if significant > 0 || d != 0 {
                    significant += 1;
                    if significant > MAX_INTEGER_DIGITS {
                        return None;
                    }
                    mantissa = mantissa * 10 + d;
                }
            }
            (b'0', true) => {
                fraction += 1;
                zeros += 1;
            }
            (b'1'..=b'9', true) => {
                fraction += 1;
                scale += zeros + 1;
                significant += zeros + 1;
                if significant > EXACT_DIGITS || scale > MAX_FRACTION_DIGITS {
                    return None;
                }
                mantissa = mantissa * POW10[zeros + 1] + i128::from(b - b'0');
                zeros = 0;
            }
            (b'.', false) if whole > 0 => point = true,
            _ => return None,
        }
    }
    if whole == 0 || (point && fraction == 0) {
        return None;
    }
    let signed = if negative { -mantissa } else { mantissa };
    Some(Decimal::from_i128_with_scale(signed, scale as u32))
}

/// Significant digits any `Decimal` holds (its 96-bit mantissa holds every 28-digit integer).
const EXACT_DIGITS: usize = 28;

/// 10^0 to 10^28.
const POW10: [i128; 29] = {
    let mut powers = [1i128; 29];
    let mut i = 1;
    while i < powers.len() {
        powers[i] = powers[i - 1] * 10;
        i += 1;
    }
    powers
};

/// The unscaled value of `d` at scale 18, as stored in a decimal(38,18) column.
///
/// Exact for every value `parse_exact` returns: at most 18 fractional digits, fewer than 10^20.
pub fn to_scale_18(d: Decimal) -> i128 {
    // Trailing zeros beyond 18 places are all a larger scale can hold here: drop only those.
    let d = if d.scale() as usize > MAX_FRACTION_DIGITS {
        d.normalize()
    } else {
        d
    };
    let scale = d.scale();
    debug_assert!(scale as usize <= MAX_FRACTION_DIGITS);
    d.mantissa() * POW10[MAX_FRACTION_DIGITS - scale as usize]
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

    /// The one-pass path takes every well-formed text of up to 28 significant digits and agrees
    /// with `from_str_exact` and `normalize` (value, scale and sign); longer ones go the general
    /// way.
    #[test]
    fn digits_agree_with_the_general_parser() {
        let ints = [
            "0",
            "00",
            "7",
            "10",
            "100",
            "0012",
            "9999999999",
            "12345678901234567890",
        ];
        let fracs = [
            "",
            "0",
            "000",
            "5",
            "50",
            "05",
            "00000001",
            "12345678",
            "99999999",
            "000000000000000001",
            "123456789012345678",
            "10000000",
        ];
        for sign in ["", "-"] {
            for int in ints {
                for frac in fracs {
                    let text = if frac.is_empty() {
                        format!("{sign}{int}")
                    } else {
                        format!("{sign}{int}.{frac}")
                    };
                    let general = Decimal::from_str_exact(&text).map(|d| d.normalize());
                    let short =
                        int.trim_start_matches('0').len() + frac.trim_end_matches('0').len();
                    assert_eq!(
                        in_one_pass(&text).is_some(),
                        short <= EXACT_DIGITS,
                        "{text}"
                    );
                    match parse_exact(&text) {
                        Ok(d) => {
                            let g = general.unwrap();
                            assert_eq!(
                                (d.mantissa(), d.scale()),
                                (g.mantissa(), g.scale()),
                                "{text}"
                            );
                            assert_eq!(d.is_sign_negative(), g.is_sign_negative(), "{text}");
                            assert_eq!(d.to_string(), g.to_string(), "{text}");
                        }
                        Err(e) => assert_eq!(e, FieldError::PrecisionOverflow, "{text}"),
                    }
                }
            }
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
        assert_eq!(
            to_scale_18(Decimal::new(1_500, 3)),
            1_500_000_000_000_000_000
        );
        let beyond = Decimal::from_i128_with_scale(25 * 10i128.pow(19), 20);
        assert_eq!(to_scale_18(beyond), 2_500_000_000_000_000_000);
    }
}
