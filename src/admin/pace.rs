//! A rate limit shared by every thread of a run: reads report their bytes
//! and sleep until the run is back under `--max-rate`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most a run may fall behind its schedule before the schedule starts
/// over: idle time (a walk through fresh files) does not buy a burst.
const SLACK: Duration = Duration::from_secs(1);

/// Bytes per second over all threads, at most.
pub struct Pace {
    rate: Option<u64>,
    /// When the schedule started, and the bytes read since.
    state: Mutex<(Instant, u64)>,
}

impl Pace {
    /// `None`: no limit.
    pub fn new(rate: Option<u64>) -> Pace {
        Pace {
            rate: rate.filter(|r| *r > 0),
            state: Mutex::new((Instant::now(), 0)),
        }
    }

    /// Counts `n` bytes read and waits until they are within the rate.
    pub fn take(&self, n: u64) {
        let Some(rate) = self.rate else {
            return;
        };
        let due = {
            let Ok(mut st) = self.state.lock() else {
                return;
            };
            let now = Instant::now();
            let on_time = st.0 + Duration::from_secs_f64(st.1 as f64 / rate as f64);
            if on_time + SLACK < now {
                *st = (now, 0);
            }
            st.1 += n;
            st.0 + Duration::from_secs_f64(st.1 as f64 / rate as f64)
        };
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_held_to_the_rate_over_threads() {
        let p = Pace::new(Some(4 << 20));
        let t = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..2 {
                        p.take(1 << 20);
                    }
                });
            }
        });
        // 4 MiB at 4 MiB/s: about a second, not at once.
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(900), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        let free = Pace::new(None);
        let t = Instant::now();
        free.take(1 << 30);
        assert!(t.elapsed() < Duration::from_millis(50));
    }
}
