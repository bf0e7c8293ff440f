//! Results of one timed phase: operations, errors, wall time and latency
//! percentiles, merged over the threads that ran it.

use std::time::Duration;

use serde_json::{json, Value};

/// What one thread (or all of them, merged) did in a phase.
#[derive(Default)]
pub struct Tally {
    pub ops: u64,
    pub errors: u64,
    pub bytes: u64,
    pub first_error: Option<String>,
    /// Latency of each successful operation, in microseconds.
    pub lat_us: Vec<u32>,
}

impl Tally {
    pub fn ok(&mut self, took: Duration, bytes: u64) {
        self.ops += 1;
        self.bytes += bytes;
        self.lat_us
            .push(took.as_micros().min(u128::from(u32::MAX)) as u32);
    }

    pub fn err(&mut self, what: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what());
        }
    }

    pub fn merge(&mut self, o: Tally) {
        self.ops += o.ops;
        self.errors += o.errors;
        self.bytes += o.bytes;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
        self.lat_us.extend(o.lat_us);
    }

    /// The phase as JSON, given its wall time.
    pub fn summary(mut self, wall: Duration) -> Value {
        self.lat_us.sort_unstable();
        let secs = wall.as_secs_f64();
        let pct = |p: f64| -> Option<f64> {
            if self.lat_us.is_empty() {
                return None;
            }
            let i = ((p * self.lat_us.len() as f64).ceil() as usize).clamp(1, self.lat_us.len());
            Some(f64::from(self.lat_us[i - 1]) / 1000.0)
        };
        json!({
            "ops": self.ops,
            "errors": self.errors,
            "bytes": self.bytes,
            "secs": secs,
            "ops_per_s": if secs > 0.0 { self.ops as f64 / secs } else { 0.0 },
            "mb_per_s": if secs > 0.0 { self.bytes as f64 / secs / 1e6 } else { 0.0 },
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": pct(1.0),
            "first_error": self.first_error,
        })
    }
}
