//! The change time (ctime) each object had when this node last found its
//! metadata valid.
//!
//! ctime cannot live in the file's own xattrs (setting them changes it), so
//! it is kept here, per node and in memory. An edit that keeps size and mtime
//! (e.g. `touch -r`, `rsync -t`) still moves ctime: the next request sees the
//! difference and checks the content again. A node that has not seen a file
//! yet trusts size and mtime.

use crate::sync::lock;
use std::collections::HashMap;
use std::sync::Mutex;

use super::beneath::Stat;

/// Most files remembered; past it the memory starts over.
const MAX_ENTRIES: usize = 500_000;

type Key = (u64, u64);

/// Size, mtime and ctime (ns) of a file as validated.
type Stamp = (u64, i128, i128);

/// `(dev, ino)` → the stamp it had when last found valid.
#[derive(Debug, Default)]
pub struct Seen {
    map: Mutex<HashMap<Key, Stamp>>,
}

fn key(st: &Stat) -> Key {
    (st.dev(), st.ino())
}

fn stamp(st: &Stat) -> Stamp {
    let ns = |s: i64, n: i64| s as i128 * 1_000_000_000 + n as i128;
    (
        st.len(),
        ns(st.mtime(), st.mtime_nsec()),
        ns(st.ctime(), st.ctime_nsec()),
    )
}

impl Seen {
    /// Called once size and mtime match the metadata. False when this node
    /// knows the file with the same size and mtime but another ctime (an
    /// edit that hid itself); otherwise remembers the file and answers true.
    /// A different size or mtime means another version (or a reused inode),
    /// which the metadata itself has vouched for.
    pub fn unchanged(&self, st: &Stat) -> bool {
        let mut map = lock(&self.map);
        let now = stamp(st);
        match map.get(&key(st)) {
            Some(&(size, mtime, ctime)) if size == now.0 && mtime == now.1 => ctime == now.2,
            _ => {
                if map.len() >= MAX_ENTRIES {
                    map.clear();
                }
                map.insert(key(st), now);
                true
            }
        }
    }

    /// Records the file as it is now as valid.
    pub fn record(&self, st: &Stat) {
        lock(&self.map).insert(key(st), stamp(st));
    }

    /// Forgets a file whose ctime this node just changed itself.
    pub fn forget(&self, st: &Stat) {
        lock(&self.map).remove(&key(st));
    }
}
