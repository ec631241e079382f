//! The per-series counters of the contract's conservation equation, and the one way a count
//! is corrected when rows counted as written turn out not to be.

/// The conservation counters of the contract: fetched = written + dead-lettered + duplicates
/// + skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub fetched: u64,
    pub written: u64,
    pub dead_lettered: u64,
    pub duplicates: u64,
    pub skipped: u64,
    /// Table rows written: `written` for a native series; fewer for an aggregated one, whose
    /// `written` counts the source candles folded into them.
    pub rows: u64,
    /// HTTP requests sent (retries included), retries, and rate-limit answers.
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
}

impl Counters {
    pub fn add(&mut self, other: Counters) {
        self.fetched += other.fetched;
        self.written += other.written;
        self.dead_lettered += other.dead_lettered;
        self.duplicates += other.duplicates;
        self.skipped += other.skipped;
        self.rows += other.rows;
        self.requests += other.requests;
        self.retries += other.retries;
        self.rate_limited += other.rate_limited;
    }

    /// Source candles counted as written that were not: `candles` of them, in `rows` table
    /// rows (an aggregate's members, a commit that failed, rows another run wrote first).
    /// They count as skipped instead, so the conservation equation still holds.
    pub fn unwrite(&mut self, candles: u64, rows: u64) {
        self.written -= candles;
        self.rows -= rows;
        self.skipped += candles;
    }

    /// Rejects counted as dead-lettered whose DLQ file could not be written: skipped instead.
    pub fn unrecord(&mut self, rejects: u64) {
        self.dead_lettered -= rejects;
        self.skipped += rejects;
    }

    pub fn balanced(&self) -> bool {
        self.fetched == self.written + self.dead_lettered + self.duplicates + self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwritten_candles_become_skipped() {
        let mut c = Counters {
            fetched: 10,
            written: 8,
            rows: 2,
            duplicates: 2,
            ..Counters::default()
        };
        c.unwrite(4, 1);
        assert_eq!((c.written, c.rows, c.skipped), (4, 1, 4));
        assert!(c.balanced());
    }
}
