//! The background hasher. A listing page hashes files without fresh
//! metadata only within its budget (`[storage] listing_hash_budget_*`);
//! the files past it are offered here, hashed by at most [`THREADS`]
//! threads, and get their metadata stored with the same write a read would
//! make, so the next listing shows their ETags without reading them.
//!
//! Bounded and deduplicated: at most [`QUEUE_CAP`] files wait (a later
//! listing offers the others again), and a file already waiting or being
//! hashed (by container and name) is not queued twice. Each job holds its
//! container's open directory and the object's checked name, and looks
//! the file up beneath it without following any symlink, like a request.

use crate::sync::lock;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use super::object::{self, Derived, MetaCtx};
use super::seen::Seen;
use super::stats::Stats;
use super::{ContainerLoc, LocKey, ObjPath};

/// Most files waiting at once.
pub const QUEUE_CAP: usize = 10_000;
/// Most threads hashing at once.
pub const THREADS: usize = 2;

/// A container and an object name: what a job is known by.
type Key = (LocKey, String);

struct Job {
    key: Key,
    loc: ContainerLoc,
    name: ObjPath,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Waiting or being hashed.
    keys: HashSet<Key>,
    threads: usize,
}

struct Shared {
    state: Mutex<State>,
    seen: Arc<Seen>,
    stats: Arc<Stats>,
    chunk: usize,
}

/// The queue and its threads (started when there is work, gone when the
/// queue is empty).
pub struct Hasher {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hasher")
    }
}

impl Hasher {
    pub fn new(seen: Arc<Seen>, stats: Arc<Stats>, chunk: usize) -> Hasher {
        Hasher {
            shared: Arc::new(Shared {
                state: Mutex::default(),
                seen,
                stats,
                chunk,
            }),
        }
    }

    /// Queues the file of `name` in `loc` to be hashed; false when it is
    /// waiting or being hashed already, or the queue is full.
    pub fn offer(&self, loc: &ContainerLoc, name: &ObjPath) -> bool {
        let sh = &self.shared;
        let key = (loc.key.clone(), name.as_str().to_string());
        let mut st = lock(&sh.state);
        if st.keys.contains(&key) {
            return false;
        }
        if st.queue.len() >= QUEUE_CAP {
            sh.stats.hash_dropped.add(1);
            return false;
        }
        st.keys.insert(key.clone());
        st.queue.push_back(Job {
            key,
            loc: loc.clone(),
            name: name.clone(),
        });
        sh.stats.hash_queued.add(1);
        sh.stats.hash_queue_len.set(st.queue.len() as u64);
        // A second thread only once one is busy and more wait.
        if st.threads == 0 || (st.threads < THREADS && st.queue.len() > 1) {
            let shared = sh.clone();
            let spawned = std::thread::Builder::new()
                .name("sofgate-hasher".into())
                .spawn(move || work(&shared));
            match spawned {
                Ok(_) => st.threads += 1,
                // The job waits for the next offer to bring a thread.
                Err(e) => tracing::warn!("no thread for the background hasher: {e}"),
            }
        }
        true
    }

    /// Is the file of `name` in `loc` waiting or being hashed? A listing
    /// leaves such a file to the hasher instead of reading it twice.
    pub fn is_pending(&self, loc: &ContainerLoc, name: &ObjPath) -> bool {
        let st = lock(&self.shared.state);
        !st.keys.is_empty()
            && st
                .keys
                .contains(&(loc.key.clone(), name.as_str().to_string()))
    }

    /// Files waiting or being hashed.
    pub fn pending(&self) -> usize {
        lock(&self.shared.state).keys.len()
    }
}

/// One thread: hashes jobs until the queue is empty.
fn work(sh: &Shared) {
    loop {
        let job = {
            let mut st = lock(&sh.state);
            match st.queue.pop_front() {
                Some(j) => {
                    sh.stats.hash_queue_len.set(st.queue.len() as u64);
                    j
                }
                None => {
                    st.threads -= 1;
                    return;
                }
            }
        };
        let ctx = MetaCtx {
            seen: &sh.seen,
            chunk: sh.chunk,
        };
        let mut bytes = 0;
        match object::refresh(ctx, &job.loc, &job.name, &mut |n| bytes += n) {
            Ok((_, Derived::Stored)) => sh.stats.hash_done.add(1),
            Ok((_, how)) => tracing::debug!("background hash of {}: {how:?}", job.name.as_str()),
            // Gone, replaced by something else, unreadable: the next
            // listing decides again.
            Err(e) => tracing::debug!("background hash of {}: {e}", job.name.as_str()),
        }
        sh.stats.hash_bytes.add(bytes);
        lock(&sh.state).keys.remove(&job.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{self, obj};

    fn wait_idle(h: &Hasher) {
        for _ in 0..500 {
            if h.pending() == 0 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the hasher did not finish");
    }

    #[test]
    fn offered_files_get_fresh_metadata_once() {
        let t = tempfile::tempdir().unwrap();
        let s = testing::store(t.path());
        let c = testing::container(&s, "AUTH_a", "c");
        let dir = t.path().join("AUTH_a/c/d");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("f.txt"), b"hello").unwrap();
        let name = obj("d/f.txt");
        assert!(s.hasher.offer(&c, &name));
        // Waiting or being hashed: not queued twice; done: found fresh.
        s.hasher.offer(&c, &name);
        wait_idle(&s.hasher);
        let raw = xattr::get(dir.join("f.txt"), "user.swift.metadata")
            .unwrap()
            .unwrap();
        let m = crate::store::meta::decode(&raw).unwrap();
        assert_eq!(m["ETag"], "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(s.stats.hash_done.get(), 1);
        assert_eq!(s.stats.hash_queue_len.get(), 0);
    }

    #[test]
    fn a_symlink_in_the_way_is_never_followed() {
        let t = tempfile::tempdir().unwrap();
        let s = testing::store(t.path());
        let c = testing::container(&s, "AUTH_a", "c");
        let outside = t.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("f"), b"secret").unwrap();
        std::os::unix::fs::symlink(&outside, t.path().join("AUTH_a/c/d")).unwrap();
        s.hasher.offer(&c, &obj("d/f"));
        wait_idle(&s.hasher);
        assert_eq!(
            xattr::get(outside.join("f"), "user.swift.metadata").unwrap(),
            None
        );
        assert_eq!(s.stats.hash_done.get(), 0);
    }
}
