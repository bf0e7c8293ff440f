//! `sofgate index`: gives every file without fresh metadata its metadata
//! (true MD5, Content-Type from the extension, X-Timestamp from mtime),
//! so that a volume full of files copied in is not hashed on the request
//! path. The write is the one a read makes ([`object::refresh`]): atomic,
//! safe beside running gateways. A file that changes while it is hashed
//! (size, mtime or ctime) is left for the next run; files with fresh
//! metadata are not read, so a second run only does what the first left.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::pace::Pace;
use super::progress::Progress;
use super::{containers, pool, Job, RunOpts, Scope};
use crate::store::audit::{self, Met};
use crate::store::object::{self, Derived};
use crate::store::{Error, Store};

/// What a run did.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub containers: u64,
    /// Object files found.
    pub files: u64,
    /// Bytes in them.
    pub bytes: u64,
    /// Files whose metadata was fresh already (not read).
    pub fresh: u64,
    /// Files given fresh metadata.
    pub indexed: u64,
    /// Files that changed while they were hashed: left for the next run.
    pub changed: u64,
    /// Files with other names (hard links) or that refused the write:
    /// hashed, not written (reads derive their metadata each time).
    pub not_stored: u64,
    /// Files gone (deleted or replaced by something else) since the walk met them.
    pub gone: u64,
    /// Files that could not be read (listed on stderr).
    pub errors: u64,
    /// Bytes read to hash.
    pub bytes_hashed: u64,
    pub seconds: f64,
    /// Bytes hashed per second over the run.
    pub bytes_per_second: u64,
}

#[derive(Default)]
struct Counts {
    fresh: AtomicU64,
    indexed: AtomicU64,
    changed: AtomicU64,
    not_stored: AtomicU64,
    gone: AtomicU64,
    errors: AtomicU64,
}

/// Indexes `scope`.
pub fn run(
    store: &Store,
    scope: &Scope,
    opts: &RunOpts,
    progress: &Progress,
) -> Result<Summary, String> {
    let locs = containers(store, scope)?;
    let pace = Pace::new(opts.max_rate);
    let counts = Counts::default();
    let (mut files, mut bytes) = (0u64, 0u64);
    let produce = |send: &mut dyn FnMut(Job)| {
        for loc in &locs {
            let walked = audit::survey(loc, &mut |_, met| {
                if let Met::Object { name, size } = met {
                    files += 1;
                    bytes += size;
                    progress.found(size);
                    send(Job {
                        loc: loc.clone(),
                        name,
                        size,
                    });
                }
            });
            if let Err(e) = walked {
                counts.errors.fetch_add(1, Ordering::Relaxed);
                progress.note(&format!("{}/{}: {e}", loc.account, loc.name));
            }
        }
    };
    let work = |job: Job| {
        let mut read = 0;
        let mut on_read = |n: u64| {
            pace.take(n);
            progress.read(n);
            read += n;
        };
        let res = object::refresh(store.meta_ctx(), &job.loc, &job.name, &mut on_read);
        let c = match res {
            Ok((_, Derived::Fresh)) => &counts.fresh,
            Ok((_, Derived::Stored)) => &counts.indexed,
            Ok((_, Derived::Changed)) => &counts.changed,
            Ok((_, Derived::NotStored)) => &counts.not_stored,
            // Gone since the walk saw it: nothing to index.
            Err(Error::NotFound) => &counts.gone,
            Err(e) => {
                progress.note(&format!("{}: {e}", job.path()));
                &counts.errors
            }
        };
        c.fetch_add(1, Ordering::Relaxed);
        progress.done(job.size.saturating_sub(read));
    };
    pool(opts.jobs, produce, work);
    progress.finish();
    let seconds = progress.seconds();
    let hashed = progress.bytes_read();
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Ok(Summary {
        containers: locs.len() as u64,
        files,
        bytes,
        fresh: get(&counts.fresh),
        indexed: get(&counts.indexed),
        changed: get(&counts.changed),
        not_stored: get(&counts.not_stored),
        gone: get(&counts.gone),
        errors: get(&counts.errors),
        bytes_hashed: hashed,
        seconds,
        bytes_per_second: if seconds > 0.0 {
            (hashed as f64 / seconds) as u64
        } else {
            0
        },
    })
}

/// Prints a summary for people.
pub fn print(s: &Summary) {
    println!(
        "indexed {} of {} files in {} containers ({} fresh already, {} changed during the run, \
         {} not stored, {} errors); {} bytes hashed in {:.1} s ({} MB/s)",
        s.indexed,
        s.files,
        s.containers,
        s.fresh,
        s.changed,
        s.not_stored,
        s.errors,
        s.bytes_hashed,
        s.seconds,
        s.bytes_per_second / 1_000_000
    );
}
