//! The queue of objects that expire (`X-Delete-At`), kept on the device
//! itself so that it needs no database and every node sees it:
//! `<device>/.sofgate/expiring/<delete_at>/<md5 of account/container/object>`,
//! a small JSON file naming the object, written atomically. [`reap`] removes
//! the objects whose time has come, once it has checked that the object
//! still carries that very `X-Delete-At` (a later PUT or POST may have moved
//! or removed it: then only the entry goes).
//!
//! Several nodes may reap one device at once: each step tolerates another
//! node having done it first (a missing object or entry is no error).

use std::io::Write;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::beneath::{is_refused, Dir, Kind};
use super::{is_not_found, object, Error, ObjPath, Result, Store};

use super::name::{temp_name, STATE_DIR};

/// An entry file larger than this is no entry of ours.
const MAX_ENTRY: u64 = 64 * 1024;

/// One queued object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub account: String,
    pub container: String,
    pub object: String,
    pub delete_at: u64,
}

fn entry_name(e: &Entry) -> String {
    let key = format!("{}/{}/{}", e.account, e.container, e.object);
    hex::encode(Md5::digest(key.as_bytes()))
}

/// Queues `e` on the device whose root is `root` (the device of the
/// object's container).
pub fn record(store: &Store, root: &Dir, e: &Entry) -> Result<()> {
    let dir = store.state_dir(root, ["expiring", e.delete_at.to_string().as_str()])?;
    let name = entry_name(e);
    // Named like an upload's temp file, so a crash leaves nothing that the
    // start-up sweep of stale temp files would not remove.
    let tmp = temp_name(&name);
    let body = serde_json::to_vec(e).map_err(|e| Error::Io(std::io::Error::other(e)))?;
    let res = (|| -> std::io::Result<()> {
        let mut f = dir.create_file(&tmp, 0o644)?;
        f.write_all(&body)?;
        dir.rename(&tmp, &dir, &name)
    })();
    if res.is_err() {
        let _ = dir.unlink(&tmp);
    }
    Ok(res?)
}

/// Removes every due object on every device: those whose queued time is at
/// or before `now` and that still expire then. Returns how many went.
pub fn reap(store: &Store, now: u64) -> usize {
    let mut done: Vec<&std::path::Path> = Vec::new();
    let mut n = 0;
    for p in &store.policies {
        if done.contains(&p.device.as_path()) {
            continue;
        }
        let Ok(root) = store.root(p) else {
            continue;
        };
        done.push(&p.device);
        n += reap_device(store, &root, now);
    }
    n
}

fn reap_device(store: &Store, root: &Dir, now: u64) -> usize {
    let Ok(queue) = root.open_dir(&format!("{STATE_DIR}/expiring")) else {
        return 0;
    };
    let Ok(names) = queue.entries() else {
        return 0;
    };
    let mut due: Vec<(u64, String)> = names
        .into_iter()
        .filter_map(|(n, _)| {
            let at = n.parse::<u64>().ok()?;
            (at <= now).then_some((at, n))
        })
        .collect();
    due.sort();
    let mut count = 0;
    for (at, dname) in due {
        let Ok(dir) = queue.open_dir(&dname) else {
            continue;
        };
        let Ok(entries) = dir.entries() else {
            continue;
        };
        for (name, kind) in entries {
            if object::is_temp_name(&name) || kind.is_some_and(|k| k != Kind::File) {
                continue;
            }
            match reap_one(store, &dir, &name, at) {
                Ok(true) => count += 1,
                Ok(false) => {}
                Err(e) => {
                    // Left for the next round (a device error, say).
                    tracing::warn!("expiring {dname}/{name}: {e}");
                    continue;
                }
            }
            if let Err(e) = dir.unlink(&name) {
                if !is_not_found(&e) {
                    tracing::warn!("removing {dname}/{name}: {e}");
                }
            }
        }
        // Gone once empty; still there if another node is adding to it.
        let _ = queue.rmdir(&dname);
    }
    count
}

/// Deletes the object of the entry `name` of `dir` if it still expires at
/// `at`; `Ok(true)` when this call removed it. The entry names the object
/// by account, container and object name: all checked as a client's names
/// would be before anything is looked up.
fn reap_one(store: &Store, dir: &Dir, name: &str, at: u64) -> Result<bool> {
    let bytes = match dir.read_small_file(name, MAX_ENTRY) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(false),
        Err(e) if is_not_found(&e) || is_refused(&e) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let Ok(e) = serde_json::from_slice::<Entry>(&bytes) else {
        return Ok(false); // not ours to understand: dropped
    };
    if e.delete_at != at {
        return Ok(false);
    }
    let Ok(object) = ObjPath::new(&e.object, &store.opts.limits) else {
        return Ok(false);
    };
    let loc = match store.locate(&e.account, &e.container) {
        Ok(l) => l,
        Err(Error::NotFound) | Err(Error::BadName(_)) => return Ok(false),
        Err(err) => return Err(err),
    };
    let info = match object::head(store, &loc, &object) {
        Ok(i) => i,
        Err(Error::NotFound) => return Ok(false),
        Err(err) => return Err(err),
    };
    let current = info
        .meta
        .get("X-Delete-At")
        .and_then(|v| v.parse::<u64>().ok());
    if current != Some(at) {
        return Ok(false);
    }
    // As Swift's expirer: the DELETE is as of the expiry time, so a write
    // that began after it stays (just after the object's own write, for one
    // written at that very second).
    let ts = (at as f64).max(info.timestamp() + 0.000_01);
    match object::delete_as_of(store, &loc, &object, ts) {
        Ok(()) => {
            store.usage.invalidate(&loc);
            Ok(true)
        }
        // Gone, or written again since it was looked at: left alone.
        Err(Error::NotFound) | Err(Error::Newer) => Ok(false),
        Err(err) => Err(err),
    }
}
