//! The currency codes that make a `BASE-QUOTE` pair foreign exchange for Alpha Vantage.

/// Active ISO-4217 currency codes (list one, circulating currencies), 2025 edition.
///
/// Fund codes and units of account (`BOV`, `CHE`, `CHW`, `CLF`, `COU`, `MXV`, `USN`, `UYI`,
/// `UYW`, `XBA`..`XBD`, `XDR`, `XSU`, `XUA`), the test code `XTS` and `XXX` are left out: they
/// are not traded as FX pairs. Codes in the middle of a replacement keep both the old and the
/// new code (`ANG`/`XCG`, `SLL`/`SLE`, `ZWL`/`ZWG`, `CUC`), so a pair written either way is FX.
pub const ISO_4217_FIAT: [&str; 160] = [
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", // A
    "BAM", "BBD", "BDT", "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", // B
    "BSD", "BTN", "BWP", "BYN", "BZD", // B
    "CAD", "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUC", "CUP", "CVE", // C
    "CZK", // C
    "DJF", "DKK", "DOP", "DZD", // D
    "EGP", "ERN", "ETB", "EUR", // E
    "FJD", "FKP", // F
    "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", // G
    "HKD", "HNL", "HTG", "HUF", // H
    "IDR", "ILS", "INR", "IQD", "IRR", "ISK", // I
    "JMD", "JOD", "JPY", // J
    "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", // K
    "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", // L
    "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", // M
    "MWK", "MXN", "MYR", "MZN", // M
    "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", // N
    "OMR", // O
    "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", // P
    "QAR", // Q
    "RON", "RSD", "RUB", "RWF", // R
    "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS", // S
    "SRD", "SSP", "STN", "SVC", "SYP", "SZL", // S
    "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", // T
    "UAH", "UGX", "USD", "UYU", "UZS", // U
    "VED", "VES", "VND", "VUV", // V
    "WST", // W
    "XAF", "XCD", "XCG", "XOF", "XPF", // X
    "YER", // Y
    "ZAR", "ZMW", "ZWG", "ZWL", // Z
];

/// Codes Alpha Vantage quotes as FX besides list one: the offshore yuan and the four metals.
pub const EXTRA_FX: [&str; 5] = ["CNH", "XAU", "XAG", "XPT", "XPD"];

/// Whether `code` is a currency of an FX pair: an active ISO-4217 code, `CNH` or a metal.
pub fn is_fx_code(code: &str) -> bool {
    ISO_4217_FIAT.contains(&code) || EXTRA_FX.contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_unique_and_three_letters() {
        assert!(ISO_4217_FIAT.windows(2).all(|w| w[0] < w[1]));
        assert!(
            ISO_4217_FIAT
                .iter()
                .all(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
        assert!(is_fx_code("XAU") && is_fx_code("CNH") && is_fx_code("EUR"));
        assert!(!is_fx_code("BTC") && !is_fx_code("USDT") && !is_fx_code("XDR"));
    }
}
