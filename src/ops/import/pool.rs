//! Buffers handed from one file to the next: a file's bytes, its text and its first pair's rows
//! are each tens of megabytes, and memory that size, freshly allocated, costs the kernel a page
//! fault for every 4 KB the first time it is written (over a second of system time for 10
//! million candles). A few are kept, none past [`KEEP_BYTES`], so one huge file does not hold
//! its memory for the rest of the run.

use std::sync::Mutex;

use crate::model::Row;

/// The largest buffer kept.
const KEEP_BYTES: usize = 256 << 20;

/// Emptied vectors waiting to be filled again.
pub struct Pool<T> {
    kept: Mutex<Vec<Vec<T>>>,
    most: usize,
}

impl<T> Pool<T> {
    /// A pool keeping at most `most` vectors.
    pub fn new(most: usize) -> Self {
        Pool {
            kept: Mutex::new(Vec::with_capacity(most)),
            most,
        }
    }

    /// An empty vector: the largest one given back before, else a new one.
    pub fn take(&self) -> Vec<T> {
        let mut kept = self.lock();
        let largest = (0..kept.len()).max_by_key(|i| kept[*i].capacity());
        largest.map(|i| kept.swap_remove(i)).unwrap_or_default()
    }

    /// Empties `buffer` and keeps it for a later `take`, unless it is too large to keep. A full
    /// pool keeps its largest vectors.
    pub fn give(&self, mut buffer: Vec<T>) {
        if buffer.capacity().saturating_mul(size_of::<T>()) > KEEP_BYTES {
            return;
        }
        buffer.clear();
        let mut kept = self.lock();
        if kept.len() < self.most {
            kept.push(buffer);
        } else if let Some(smallest) = kept.iter_mut().min_by_key(|v| v.capacity())
            && smallest.capacity() < buffer.capacity()
        {
            *smallest = buffer;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<T>>> {
        // A panic while the lock was held left only whole vectors behind.
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The buffers of one import run.
pub struct Buffers {
    /// A file's bytes, and the text of an archive's entry.
    pub bytes: Pool<u8>,
    /// The rows of a file's first pair.
    pub rows: Pool<Row>,
}

impl Buffers {
    /// Buffers for `files` files in hand at once.
    pub fn new(files: usize) -> Self {
        Buffers {
            bytes: Pool::new(2 * files),
            rows: Pool::new(files),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_buffers_given_back_are_taken_again_empty_up_to_the_limits() {
        let pool: Pool<u8> = Pool::new(2);
        let mut first = pool.take();
        first.extend_from_slice(b"candles");
        pool.give(first);
        pool.give(Vec::with_capacity(64));
        pool.give(Vec::with_capacity(32));
        let again = pool.take();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), 64, "the largest first");
        assert_eq!(
            pool.take().capacity(),
            32,
            "the smallest left out of a full pool"
        );
        assert_eq!(pool.take().capacity(), 0, "the pool kept two buffers");
        pool.give(Vec::with_capacity(KEEP_BYTES + 1));
        assert_eq!(pool.take().capacity(), 0, "too large to keep");
    }
}
