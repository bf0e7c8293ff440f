//! Counters of the work a node does in the background: temp files swept,
//! files hashed for listings, scrubs. Plain atomics, kept by the store so
//! that logs and a metrics endpoint can read them without locks; nothing
//! here decides anything.

use std::sync::atomic::{AtomicU64, Ordering};

/// One counter or gauge.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn sub(&self, n: u64) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }
    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Everything counted since the process started.
#[derive(Debug, Default)]
pub struct Stats {
    /// Temp files of cut uploads removed (at start and by the sweep).
    pub temp_reaped: Counter,
    /// Temp sweeps run.
    pub temp_sweeps: Counter,
    /// Files handed to the background hasher by listings.
    pub hash_queued: Counter,
    /// Files not queued because the queue was full (a later listing
    /// offers them again).
    pub hash_dropped: Counter,
    /// Files the background hasher gave fresh metadata.
    pub hash_done: Counter,
    /// Bytes it read doing so.
    pub hash_bytes: Counter,
    /// Files waiting in its queue now (a gauge).
    pub hash_queue_len: Counter,
    /// Rows of listings shown with an empty hash (over the page's budget).
    pub listing_unhashed_rows: Counter,
    /// The background scrub: runs finished, and what they met.
    pub scrub: ScrubStats,
}

/// What background scrubs found, summed over every run.
#[derive(Debug, Default)]
pub struct ScrubStats {
    pub runs: Counter,
    pub objects: Counter,
    pub bytes: Counter,
    /// Content whose MD5 or length does not match metadata that claims
    /// to be current.
    pub mismatches: Counter,
    pub unreadable_metadata: Counter,
    pub orphan_temp: Counter,
    pub orphan_sidecars: Counter,
    pub bad_long_names: Counter,
    /// Files changed on the mount since their metadata was written.
    pub stale: Counter,
    /// Problems quarantined or re-derived (with `[scrub] fix`).
    pub fixed: Counter,
    pub errors: Counter,
    /// Unix time the last run finished (0: none yet).
    pub last_finished: Counter,
    /// Seconds the last run took.
    pub last_seconds: Counter,
}
