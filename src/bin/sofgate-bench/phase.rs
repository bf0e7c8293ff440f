//! Runs one timed phase: a thread per connection (or per filesystem worker)
//! claims operation numbers from a shared counter until the count limit or
//! the deadline is reached, whichever comes first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::stats::Tally;

/// What a phase did: its JSON summary and how many operation numbers were
/// handed out (successful or not), i.e. `0..attempted` were tried.
pub struct Done {
    pub summary: Value,
    pub attempted: u64,
}

/// Runs `op(state, k)` for k = 0, 1, … over all `states` in parallel until
/// `limit` numbers are claimed or `secs` have passed. `op` returns the bytes
/// it moved, or an error text.
pub fn run<S, F>(states: &mut [S], secs: f64, limit: u64, op: F) -> Done
where
    S: Send,
    F: Fn(&mut S, u64) -> Result<u64, String> + Sync,
{
    let next = AtomicU64::new(0);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut total = Tally::default();
    std::thread::scope(|sc| {
        let next = &next;
        let op = &op;
        let handles: Vec<_> = states
            .iter_mut()
            .map(|s| {
                sc.spawn(move || {
                    let mut t = Tally::default();
                    while Instant::now() < deadline {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= limit {
                            break;
                        }
                        let t0 = Instant::now();
                        match op(s, k) {
                            Ok(bytes) => t.ok(t0.elapsed(), bytes),
                            Err(e) => t.err(|| e),
                        }
                    }
                    t
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(t) => total.merge(t),
                Err(_) => total.err(|| "a worker thread panicked".into()),
            }
        }
    });
    let wall = start.elapsed();
    Done {
        summary: total.summary(wall),
        attempted: next.load(Ordering::Relaxed).min(limit),
    }
}

/// Runs `op(state)` exactly once on every state, all in parallel; the
/// summary's time is the wall time until the last one finished.
pub fn each<S, F>(states: &mut [S], op: F) -> Done
where
    S: Send,
    F: Fn(&mut S) -> Result<u64, String> + Sync,
{
    let n = states.len() as u64;
    let start = Instant::now();
    let mut total = Tally::default();
    std::thread::scope(|sc| {
        let op = &op;
        let handles: Vec<_> = states
            .iter_mut()
            .map(|s| {
                sc.spawn(move || {
                    let mut t = Tally::default();
                    let t0 = Instant::now();
                    match op(s) {
                        Ok(bytes) => t.ok(t0.elapsed(), bytes),
                        Err(e) => t.err(|| e),
                    }
                    t
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(t) => total.merge(t),
                Err(_) => total.err(|| "a worker thread panicked".into()),
            }
        }
    });
    Done {
        summary: total.summary(start.elapsed()),
        attempted: n,
    }
}
