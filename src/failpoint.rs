//! Crash points for the crash tests. Built only with the `failpoints` feature: the binary then
//! aborts at the `n`-th hit of the point named by `CANDLELAKE_CRASH_AT=<point>[:n]` (n = 1 by
//! default). Points: `after_fetch`, `before_commit` (data files written, not committed),
//! `after_commit`, `after_dlq_write`, `mid_watermark` (temporary file half written).
//! Without the feature every call compiles to nothing.

#[cfg(feature = "failpoints")]
mod active {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Target {
        point: String,
        nth: u64,
        hits: AtomicU64,
    }

    fn target() -> Option<&'static Target> {
        static TARGET: OnceLock<Option<Target>> = OnceLock::new();
        TARGET
            .get_or_init(|| {
                let spec = std::env::var("CANDLELAKE_CRASH_AT").ok()?;
                let (point, nth) = match spec.split_once(':') {
                    Some((p, n)) => (p.to_string(), n.parse().ok()?),
                    None => (spec, 1),
                };
                Some(Target {
                    point,
                    nth,
                    hits: AtomicU64::new(0),
                })
            })
            .as_ref()
    }

    pub fn hit(point: &str) {
        if let Some(t) = target().filter(|t| t.point == point)
            && t.hits.fetch_add(1, Ordering::SeqCst) + 1 == t.nth
        {
            eprintln!("failpoint {point}: aborting");
            std::process::abort();
        }
    }
}

/// Aborts the process here when the crash test asks for it.
#[inline(always)]
pub fn hit(point: &str) {
    #[cfg(feature = "failpoints")]
    active::hit(point);
    #[cfg(not(feature = "failpoints"))]
    let _ = point;
}
