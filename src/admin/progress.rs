//! The progress of a run: a bar on stderr when it is a terminal (files,
//! bytes, rate, ETA), nothing otherwise; the counts behind it either way.
//!
//! The bar's length is the bytes of the files found so far (the walk runs
//! ahead of the hashing and adds to it), its position the bytes done:
//! read, or passed over because a file needed no reading.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Counts and the bar.
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    found: AtomicU64,
    done: AtomicU64,
    read: AtomicU64,
}

impl Progress {
    /// A bar on stderr when `show` and stderr is a terminal.
    pub fn new(verb: &str, show: bool) -> Progress {
        let target = if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(0), target);
        let template = format!(
            "{verb} {{spinner}} [{{elapsed_precise}}] [{{wide_bar}}] {{bytes}}/{{total_bytes}} \
             ETA {{eta}}  {{msg}}"
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar,
            started: Instant::now(),
            found: AtomicU64::new(0),
            done: AtomicU64::new(0),
            read: AtomicU64::new(0),
        }
    }

    /// A file of `size` bytes was found.
    pub fn found(&self, size: u64) {
        self.found.fetch_add(1, Ordering::Relaxed);
        self.bar.inc_length(size);
    }

    /// `n` bytes were read.
    pub fn read(&self, n: u64) {
        self.read.fetch_add(n, Ordering::Relaxed);
        self.bar.inc(n);
    }

    /// A file is done; `unread` of its bytes were passed over.
    pub fn done(&self, unread: u64) {
        self.bar.inc(unread);
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let found = self.found.load(Ordering::Relaxed);
        let read = self.read.load(Ordering::Relaxed);
        self.bar.set_message(format!(
            "{done}/{found} files, {} read at {}/s",
            HumanBytes(read),
            HumanBytes(self.rate(read))
        ));
    }

    /// Bytes read per second since the start.
    fn rate(&self, read: u64) -> u64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs > 0.0 {
            (read as f64 / secs) as u64
        } else {
            0
        }
    }

    /// A line for the operator, above the bar (or on stderr).
    pub fn note(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Seconds since the start.
    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Leaves the bar as it ended.
    pub fn finish(&self) {
        self.bar.finish();
    }
}
