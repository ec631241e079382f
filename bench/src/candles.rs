//! Deterministic synthetic candles and their Coinbase Advanced Trade JSON, written by hand.
//!
//! Every value is an integer (prices in cents, volumes in 1e-8 units) turned into decimal text
//! with integer formatting: no floating point touches the data.

/// Coinbase Advanced Trade `granularity` names and their length in seconds.
pub const GRANULARITIES: [(&str, i64); 9] = [
    ("ONE_MINUTE", 60),
    ("FIVE_MINUTE", 300),
    ("FIFTEEN_MINUTE", 900),
    ("THIRTY_MINUTE", 1_800),
    ("ONE_HOUR", 3_600),
    ("TWO_HOUR", 7_200),
    ("FOUR_HOUR", 14_400),
    ("SIX_HOUR", 21_600),
    ("ONE_DAY", 86_400),
];

/// The length in seconds of a Coinbase `granularity` value.
pub fn granularity_seconds(name: &str) -> Option<i64> {
    GRANULARITIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
}

/// splitmix64's finaliser: a cheap, well-mixed 64-bit hash step.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// FNV-1a of the pair name, mixed.
pub fn pair_seed(pair: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in pair.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix(h)
}

/// One candle: prices in cents, volume in units of 1e-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candle {
    pub start: i64,
    pub open: u64,
    pub high: u64,
    pub low: u64,
    pub close: u64,
    pub volume: u64,
}

/// Price swings follow a one-week triangle wave of ±8 % around the pair's base price.
const WAVE_PERIOD: u64 = 7 * 86_400;

/// The candle of a pair (by its seed) at bucket start `t`: a pure function of both.
pub fn candle(seed: u64, t: i64) -> Candle {
    // Base price 100.00 ..= 50000.00, fixed per pair.
    let base = 10_000 + mix(seed) % 4_990_001;
    let phase = (t as u64).wrapping_add(seed % WAVE_PERIOD) % WAVE_PERIOD;
    let half = WAVE_PERIOD / 2;
    let tri = if phase < half {
        phase
    } else {
        WAVE_PERIOD - phase
    };
    // -800 ..= +800 basis points.
    let dev_bp = tri * 1_600 / half;
    let mid = base * (9_200 + dev_bp) / 10_000;
    let h = mix(seed ^ (t as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93));
    // Open and close within ±0.5 % of mid; wicks up to 0.5 % further out.
    let around = |bits: u64| (mid * (25_600 + bits) / 25_600).saturating_sub(mid / 200);
    let open = around(h & 0xFF).max(1);
    let close = around((h >> 8) & 0xFF).max(1);
    let up = mid * ((h >> 16) & 0x7F) / 25_600;
    let down = mid * ((h >> 24) & 0x7F) / 25_600;
    let high = open.max(close) + up;
    let low = open.min(close).saturating_sub(down).max(1);
    // 0.00000001 ..= 1000.00000000
    let volume = 1 + (h >> 32) % 100_000_000_000;
    Candle {
        start: t,
        open,
        high,
        low,
        close,
        volume,
    }
}

/// Appends the decimal digits of `v`.
pub fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

/// Appends `v / 10^scale` with exactly `scale` decimals.
pub fn push_scaled(out: &mut String, v: u64, scale: u32) {
    let unit = 10u64.pow(scale);
    push_u64(out, v / unit);
    out.push('.');
    let mut frac = v % unit;
    let mut digits = [b'0'; 20];
    for d in digits[..scale as usize].iter_mut().rev() {
        *d = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    for &b in &digits[..scale as usize] {
        out.push(char::from(b));
    }
}

/// Bytes one candle takes at most in the body, for pre-sizing.
const CANDLE_JSON_MAX: usize = 150;

/// The bucket starts `t` with `start ≤ t ≤ end`, aligned to `g`: (first, count).
pub fn buckets(start: i64, end: i64, g: i64) -> (i64, i64) {
    let first = start.div_euclid(g) * g + if start.rem_euclid(g) == 0 { 0 } else { g };
    let last = end.div_euclid(g) * g;
    if last < first {
        (first, 0)
    } else {
        (first, (last - first) / g + 1)
    }
}

/// The `{"candles":[...]}` body for `count` buckets from `first`, newest first.
pub fn candles_body(pair: &str, first: i64, count: i64, g: i64) -> String {
    let seed = pair_seed(pair);
    let mut out = String::with_capacity(16 + count.max(0) as usize * CANDLE_JSON_MAX);
    out.push_str("{\"candles\":[");
    for i in (0..count).rev() {
        let c = candle(seed, first + i * g);
        if i != count - 1 {
            out.push(',');
        }
        out.push_str("{\"start\":\"");
        push_u64(&mut out, c.start as u64);
        out.push_str("\",\"low\":\"");
        push_scaled(&mut out, c.low, 2);
        out.push_str("\",\"high\":\"");
        push_scaled(&mut out, c.high, 2);
        out.push_str("\",\"open\":\"");
        push_scaled(&mut out, c.open, 2);
        out.push_str("\",\"close\":\"");
        push_scaled(&mut out, c.close, 2);
        out.push_str("\",\"volume\":\"");
        push_scaled(&mut out, c.volume, 8);
        out.push_str("\"}");
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_formatting() {
        let mut s = String::new();
        push_scaled(&mut s, 12_345, 2);
        s.push(' ');
        push_scaled(&mut s, 5, 2);
        s.push(' ');
        push_scaled(&mut s, 1, 8);
        s.push(' ');
        push_scaled(&mut s, 100_000_000_000, 8);
        s.push(' ');
        push_u64(&mut s, 0);
        s.push(' ');
        push_u64(&mut s, u64::MAX);
        assert_eq!(
            s,
            "123.45 0.05 0.00000001 1000.00000000 0 18446744073709551615"
        );
    }

    #[test]
    fn candles_are_valid_and_deterministic() {
        for p in 0..50 {
            let pair = format!("B{p:02}-USD");
            let seed = pair_seed(&pair);
            for k in 0..20_000i64 {
                let t = 1_700_000_000 + k * 60;
                let c = candle(seed, t);
                assert_eq!(c, candle(seed, t));
                assert!(c.low > 0 && c.low <= c.open && c.low <= c.close);
                assert!(c.high >= c.open && c.high >= c.close);
                assert!(c.low >= 8_000 && c.high <= 5_500_000, "{pair} {c:?}");
                assert!(c.volume > 0);
            }
        }
    }

    #[test]
    fn bucket_ranges_are_inclusive_and_aligned() {
        // candlelake sends end = window end - 1 s: 300 buckets exactly.
        assert_eq!(buckets(1_200, 1_200 + 300 * 60 - 1, 60), (1_200, 300));
        assert_eq!(buckets(1_200, 1_200 + 300 * 60, 60), (1_200, 301));
        assert_eq!(buckets(1_201, 1_259, 60), (1_260, 0));
        assert_eq!(buckets(1_201, 1_260, 60), (1_260, 1));
    }

    #[test]
    fn body_is_json_newest_first() {
        let body = candles_body("B00-USD", 1_200, 3, 60);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let candles = v["candles"].as_array().unwrap();
        assert_eq!(candles.len(), 3);
        assert_eq!(candles[0]["start"], "1320");
        assert_eq!(candles[2]["start"], "1200");
        for c in candles {
            for f in ["low", "high", "open", "close", "volume"] {
                assert!(c[f].is_string());
            }
        }
        assert_eq!(candles_body("X", 0, 0, 60), "{\"candles\":[]}");
    }
}
