//! Background work of a running server, each on a thread of its own
//! (their calls may wait on the filesystem, never on an async worker):
//!
//! - the temp sweep: every `[storage] reap_temp_after_secs`, temp files of
//!   cut uploads left alone that long (by mtime and ctime) are removed on
//!   every mounted device, so a node that never restarts does not keep
//!   them; an upload in progress, on this node or another, writes to its
//!   temp file and is never that idle; multipart uploads of the S3 door
//!   with no part stored for `[s3] upload_reap_after_secs` go too, and
//!   DELETEs' tombstones older than `[storage] tombstone_secs`;
//! - the scrub, every `[scrub] interval_secs` when set (off by default),
//!   at `[scrub] max_rate`, fixing only with `[scrub] fix`; its findings go
//!   to the log and to the store's counters ([`crate::store::stats`]).

use std::sync::Arc;
use std::time::Duration;

use super::progress::Progress;
use super::scrub::{self, ScrubOpts};
use super::{RunOpts, Scope};
use crate::swift::App;

/// Starts the sweep and, when configured, the scrub.
pub fn spawn(app: Arc<App>) {
    let age = Duration::from_secs(app.cfg.storage.reap_temp_after_secs.max(1));
    let upload_age = Duration::from_secs(app.cfg.s3.upload_reap_after_secs.max(1));
    let sweeper = app.clone();
    start("sofgate-temp-sweep", move || loop {
        std::thread::sleep(age);
        let n = sweeper.store.reap_temp(age);
        if n > 0 {
            tracing::info!("removed {n} stale temp files");
        }
        let n = sweeper.store.reap_uploads(upload_age);
        if n > 0 {
            tracing::info!("removed {n} abandoned multipart uploads");
        }
        let life = sweeper.store.opts.tombstone_life;
        if !life.is_zero() {
            let n = sweeper.store.reap_tombstones(life);
            if n > 0 {
                tracing::info!("removed {n} expired tombstones");
            }
        }
    });
    let every = app.cfg.scrub.interval_secs;
    if every == 0 {
        return;
    }
    start("sofgate-scrub", move || {
        let every = Duration::from_secs(every);
        // A scrub longer than the interval is followed by a pause as long
        // as the interval, not by another at once.
        loop {
            std::thread::sleep(every);
            scrub_once(&app);
        }
    });
}

fn start(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        tracing::error!("could not start {name}: {e}");
    }
}

/// One scrub of every device, logged and counted.
pub fn scrub_once(app: &App) {
    let run = RunOpts {
        jobs: 1,
        max_rate: Some(app.cfg.scrub.max_rate),
    };
    let opts = ScrubOpts {
        fix: app.cfg.scrub.fix,
        reap_after: Duration::from_secs(app.cfg.storage.reap_temp_after_secs.max(1)),
    };
    let progress = Progress::new("scrub", false);
    match scrub::run(&app.store, &Scope::All, &run, opts, &progress) {
        Ok(s) => {
            scrub::record(&app.store, &s);
            let left = s.problems_left();
            let line = format!(
                "scrub: {} objects, {} mismatches, {} unreadable metadata, {} orphan temp, \
                 {} orphan sidecars, {} bad long names, {} fixed, {} errors in {:.0} s",
                s.objects,
                s.mismatches,
                s.unreadable_metadata,
                s.orphan_temp,
                s.orphan_sidecars,
                s.bad_long_names,
                s.fixed,
                s.errors,
                s.seconds
            );
            if left > 0 || s.errors > 0 {
                tracing::warn!("{line}");
            } else {
                tracing::info!("{line}");
            }
        }
        Err(e) => {
            app.store.stats.scrub.errors.add(1);
            tracing::warn!("scrub: {e}");
        }
    }
}
