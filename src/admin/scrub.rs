//! `sofgate scrub`: checks every object's content against its stored
//! ETag and length, and finds what no request would: leftovers of cut
//! uploads and escaped long names that lost their full name.
//!
//! What it finds, and what `--fix` does with it:
//!
//! | found | `--fix` |
//! | --- | --- |
//! | mismatch: same mtime as recorded, other length or MD5 (bit rot, a bad disk, a write that kept the mtime) | quarantined: the file (and its sidecar) moves to `<device>/.sofgate/quarantine/<account>/<container>/` with a JSON note; the object answers 404 until an operator puts it back |
//! | unreadable metadata (not JSON, cut short, a sidecar pointer without its sidecar, no ETag or length) | re-derived from the content (MD5, type, time), as a read would |
//! | temp file idle longer than `reap_temp_after_secs` | removed, as the sweep would |
//! | sidecar without its object, idle as long | quarantined |
//! | escaped long name without a valid `user.sofgate.name` | a file is quarantined; a directory is only reported (its objects are still reached by name) |
//!
//! Files without metadata, or changed on the mount since it was written
//! (stale), are counted, not problems: reads derive their metadata, and
//! `sofgate index` stores it. A file that changes while it is read is
//! skipped. Nothing is ever followed through a symlink.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::pace::Pace;
use super::progress::Progress;
use super::{containers, pool, Job, RunOpts, Scope};
use crate::store::audit::{self, Met, Verdict};
use crate::store::beneath::Dir;
use crate::store::object::{self, Derived};
use crate::store::{ContainerLoc, Store};

/// Most problems kept for the summary (all are counted).
const MAX_LISTED: usize = 1000;

/// What a scrub does besides reporting.
#[derive(Debug, Clone, Copy)]
pub struct ScrubOpts {
    /// Quarantine or re-derive what it finds.
    pub fix: bool,
    /// Temp files and orphan sidecars idle longer than this are leftovers.
    pub reap_after: Duration,
}

/// One problem found.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// `mismatch`, `unreadable_metadata`, `orphan_temp`, `orphan_sidecar`,
    /// `bad_long_name`.
    pub kind: &'static str,
    /// `account/container/<disk path>`.
    pub path: String,
    pub detail: String,
    /// What `--fix` did (empty without it).
    pub action: String,
}

/// What a run found.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub containers: u64,
    pub objects: u64,
    pub bytes: u64,
    pub bytes_read: u64,
    pub good: u64,
    pub no_metadata: u64,
    pub stale: u64,
    pub changed: u64,
    pub mismatches: u64,
    pub unreadable_metadata: u64,
    pub orphan_temp: u64,
    /// Temp files of uploads that may still be running (not problems).
    pub live_temp: u64,
    pub orphan_sidecars: u64,
    pub bad_long_names: u64,
    /// Problems quarantined, removed or re-derived.
    pub fixed: u64,
    pub errors: u64,
    pub seconds: f64,
    pub problems: Vec<Problem>,
    /// Problems counted but not listed (past the first 1000).
    pub problems_not_listed: u64,
}

impl Summary {
    /// Problems found and not fixed.
    pub fn problems_left(&self) -> u64 {
        (self.mismatches
            + self.unreadable_metadata
            + self.orphan_temp
            + self.orphan_sidecars
            + self.bad_long_names)
            .saturating_sub(self.fixed)
    }
}

#[derive(Default)]
struct Counts {
    objects: AtomicU64,
    bytes: AtomicU64,
    good: AtomicU64,
    no_metadata: AtomicU64,
    stale: AtomicU64,
    changed: AtomicU64,
    mismatches: AtomicU64,
    unreadable: AtomicU64,
    orphan_temp: AtomicU64,
    live_temp: AtomicU64,
    orphan_sidecars: AtomicU64,
    bad_long_names: AtomicU64,
    fixed: AtomicU64,
    errors: AtomicU64,
}

/// A run's shared state.
struct Scrub<'a> {
    store: &'a Store,
    opts: ScrubOpts,
    progress: &'a Progress,
    counts: Counts,
    problems: Mutex<(Vec<Problem>, u64)>,
}

fn add(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Scrub<'_> {
    /// Records a problem (and says it to the operator).
    fn problem(&self, kind: &'static str, path: String, detail: String, action: String) {
        let line = format!("{kind}: {path}: {detail}{}", fixed_note(&action));
        self.progress.note(&line);
        if let Ok(mut p) = self.problems.lock() {
            if p.0.len() < MAX_LISTED {
                p.0.push(Problem {
                    kind,
                    path,
                    detail,
                    action,
                });
            } else {
                p.1 += 1;
            }
        }
    }

    /// The outcome of a fix: its description, counted when it worked.
    fn fixed(&self, what: Result<String, String>) -> String {
        match what {
            Ok(a) => {
                add(&self.counts.fixed);
                a
            }
            Err(e) => {
                add(&self.counts.errors);
                format!("not fixed: {e}")
            }
        }
    }

    /// A leftover met by the walk.
    fn leftover(&self, loc: &ContainerLoc, rel: &str, met: Met<'_>) {
        let path = format!("{}/{}/{rel}", loc.account, loc.name);
        let fix = self.opts.fix;
        let quarantine = |dir: &Dir, leaf: &str, reason: &str| {
            let note = json!({ "reason": reason });
            audit::quarantine(self.store, loc, dir, leaf, rel, None, note)
                .map(|q| format!("quarantined as {q}"))
                .map_err(|e| e.to_string())
        };
        match met {
            Met::Object { .. } => {}
            Met::Temp { idle, .. } if idle <= self.opts.reap_after => add(&self.counts.live_temp),
            Met::Temp { dir, leaf, idle } => {
                add(&self.counts.orphan_temp);
                let action = if fix {
                    // Checked again just before, as the sweep does.
                    let still = dir.stat_at(leaf).ok().and_then(|st| st.idle());
                    self.fixed(match still {
                        Some(i) if i > self.opts.reap_after => dir
                            .unlink(leaf)
                            .map(|_| "removed".to_string())
                            .map_err(|e| e.to_string()),
                        _ => Err("written to again".into()),
                    })
                } else {
                    String::new()
                };
                let detail = format!("temp file idle for {} s", idle.as_secs());
                self.problem("orphan_temp", path, detail, action);
            }
            Met::OrphanSidecar { idle, .. } if idle <= self.opts.reap_after => {}
            Met::OrphanSidecar { dir, leaf, idle } => {
                add(&self.counts.orphan_sidecars);
                let action = if fix {
                    self.fixed(quarantine(dir, leaf, "orphan sidecar"))
                } else {
                    String::new()
                };
                let detail = format!(
                    "metadata sidecar without its object, {} s old",
                    idle.as_secs()
                );
                self.problem("orphan_sidecar", path, detail, action);
            }
            Met::BadLongName { dir, leaf, is_dir } => {
                add(&self.counts.bad_long_names);
                let action = match (fix, is_dir) {
                    (true, false) => self.fixed(quarantine(dir, leaf, "bad long name")),
                    (true, true) => "directory left in place".into(),
                    _ => String::new(),
                };
                let what = if is_dir { "directory" } else { "file" };
                let detail = format!(
                    "{what} in the escaped long-name form without a valid user.sofgate.name"
                );
                self.problem("bad_long_name", path, detail, action);
            }
        }
    }

    /// Checks one object (on a pool thread).
    fn object(&self, job: Job, pace: &Pace) {
        let mut read = 0;
        let mut on_read = |n: u64| {
            pace.take(n);
            self.progress.read(n);
            read += n;
        };
        let checked = audit::check(&job.loc, &job.name, &mut on_read);
        self.progress.done(job.size.saturating_sub(read));
        add(&self.counts.objects);
        self.counts.bytes.fetch_add(job.size, Ordering::Relaxed);
        let c = match checked {
            Ok(c) => c,
            Err(crate::store::Error::NotFound) => return,
            Err(e) => {
                add(&self.counts.errors);
                self.progress.note(&format!("{}: {e}", job.path()));
                return;
            }
        };
        match c.verdict {
            Verdict::Good => add(&self.counts.good),
            Verdict::NoMetadata => add(&self.counts.no_metadata),
            Verdict::Stale => add(&self.counts.stale),
            Verdict::Changed => add(&self.counts.changed),
            Verdict::Unreadable => {
                add(&self.counts.unreadable);
                let action = if self.opts.fix {
                    self.fixed(self.rederive(&job))
                } else {
                    String::new()
                };
                let detail = "stored metadata cannot be read".to_string();
                self.problem("unreadable_metadata", job.path(), detail, action);
            }
            Verdict::Mismatch(why) => {
                add(&self.counts.mismatches);
                let action = if self.opts.fix {
                    let key = Some((c.st.dev(), c.st.ino()));
                    let note = json!({ "reason": why, "metadata": c.meta });
                    self.fixed(
                        audit::object_dir(&job.loc, &job.name)
                            .and_then(|dir| {
                                let (leaf, rel) = (job.name.disk_leaf(), job.name.disk_path());
                                audit::quarantine(
                                    self.store, &job.loc, &dir, &leaf, &rel, key, note,
                                )
                            })
                            .map(|q| {
                                object::remove_empty_parents(&job.loc, &job.name);
                                format!("quarantined as {q}")
                            })
                            .map_err(|e| e.to_string()),
                    )
                } else {
                    String::new()
                };
                self.problem("mismatch", job.path(), why, action);
            }
        }
    }

    /// New metadata from the content, stored as a read would.
    fn rederive(&self, job: &Job) -> Result<String, String> {
        match object::refresh(self.store.meta_ctx(), &job.loc, &job.name, &mut |_| {}) {
            Ok((_, Derived::Stored)) => Ok("re-derived from the content".into()),
            Ok((_, how)) => Err(format!("{how:?}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// " (what was done)" when something was.
fn fixed_note(action: &str) -> String {
    if action.is_empty() {
        String::new()
    } else {
        format!(" ({action})")
    }
}

/// Scrubs `scope`.
pub fn run(
    store: &Store,
    scope: &Scope,
    run: &RunOpts,
    opts: ScrubOpts,
    progress: &Progress,
) -> Result<Summary, String> {
    let locs = containers(store, scope)?;
    let s = Scrub {
        store,
        opts,
        progress,
        counts: Counts::default(),
        problems: Mutex::new((Vec::new(), 0)),
    };
    let pace = Pace::new(run.max_rate);
    let produce = |send: &mut dyn FnMut(Job)| {
        for loc in &locs {
            let walked = audit::survey(loc, &mut |rel, met| match met {
                Met::Object { name, size } => {
                    progress.found(size);
                    send(Job {
                        loc: loc.clone(),
                        name,
                        size,
                    });
                }
                other => s.leftover(loc, rel, other),
            });
            if let Err(e) = walked {
                add(&s.counts.errors);
                progress.note(&format!("{}/{}: {e}", loc.account, loc.name));
            }
        }
    };
    pool(run.jobs, produce, |job| s.object(job, &pace));
    progress.finish();
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let c = &s.counts;
    let (problems, not_listed) = s.problems.into_inner().unwrap_or_default();
    Ok(Summary {
        containers: locs.len() as u64,
        objects: get(&c.objects),
        bytes: get(&c.bytes),
        bytes_read: progress.bytes_read(),
        good: get(&c.good),
        no_metadata: get(&c.no_metadata),
        stale: get(&c.stale),
        changed: get(&c.changed),
        mismatches: get(&c.mismatches),
        unreadable_metadata: get(&c.unreadable),
        orphan_temp: get(&c.orphan_temp),
        live_temp: get(&c.live_temp),
        orphan_sidecars: get(&c.orphan_sidecars),
        bad_long_names: get(&c.bad_long_names),
        fixed: get(&c.fixed),
        errors: get(&c.errors),
        seconds: progress.seconds(),
        problems,
        problems_not_listed: not_listed,
    })
}

/// Adds a finished run to the server's counters.
pub fn record(store: &Store, s: &Summary) {
    let c = &store.stats.scrub;
    c.runs.add(1);
    c.objects.add(s.objects);
    c.bytes.add(s.bytes_read);
    c.mismatches.add(s.mismatches);
    c.unreadable_metadata.add(s.unreadable_metadata);
    c.orphan_temp.add(s.orphan_temp);
    c.orphan_sidecars.add(s.orphan_sidecars);
    c.bad_long_names.add(s.bad_long_names);
    c.stale.add(s.stale);
    c.fixed.add(s.fixed);
    c.errors.add(s.errors);
    c.last_seconds.set(s.seconds as u64);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    c.last_finished.set(now);
}

/// Prints a summary for people.
pub fn print(s: &Summary) {
    println!(
        "scrubbed {} objects in {} containers ({} bytes read in {:.1} s): {} good, \
         {} mismatches, {} unreadable metadata, {} orphan temp files, {} orphan sidecars, \
         {} bad long names; {} fixed, {} errors; {} without metadata and {} stale \
         (sofgate index stores theirs)",
        s.objects,
        s.containers,
        s.bytes_read,
        s.seconds,
        s.good,
        s.mismatches,
        s.unreadable_metadata,
        s.orphan_temp,
        s.orphan_sidecars,
        s.bad_long_names,
        s.fixed,
        s.errors,
        s.no_metadata,
        s.stale
    );
}
