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
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::{is_not_found, object, Error, Result, Store};

/// Directory at the device root that holds sofgate's own state; it is no
/// account (see [`super::name::check_account`]).
pub const STATE_DIR: &str = ".sofgate";

/// One queued object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub account: String,
    pub container: String,
    pub object: String,
    pub delete_at: u64,
}

fn queue_dir(device: &Path) -> PathBuf {
    device.join(STATE_DIR).join("expiring")
}

fn entry_name(e: &Entry) -> String {
    let key = format!("{}/{}/{}", e.account, e.container, e.object);
    hex::encode(Md5::digest(key.as_bytes()))
}

/// Queues `e` on `device` (the device of the object's container).
pub fn record(store: &Store, device: &Path, e: &Entry) -> Result<()> {
    let dir = queue_dir(device).join(e.delete_at.to_string());
    let mut b = std::fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(&mut b, store.opts.dir_mode);
    b.recursive(true).create(&dir)?;
    let name = entry_name(e);
    // Named like an upload's temp file, so a crash leaves nothing that the
    // start-up sweep of stale temp files would not remove.
    let tmp = dir.join(format!(".{name}.{:016x}.sgtmp", rand::random::<u64>()));
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(e).expect("serializable"))?;
        std::fs::rename(&tmp, dir.join(&name))
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(res?)
}

/// Removes every due object on every device: those whose queued time is at
/// or before `now` and that still expire then. Returns how many went.
pub fn reap(store: &Store, now: u64) -> usize {
    let mut done: Vec<&Path> = Vec::new();
    let mut n = 0;
    for p in &store.policies {
        if done.contains(&p.device.as_path()) || store.check_mounted(p).is_err() {
            continue;
        }
        done.push(&p.device);
        n += reap_device(store, &p.device, now);
    }
    n
}

fn reap_device(store: &Store, device: &Path, now: u64) -> usize {
    let Ok(rd) = std::fs::read_dir(queue_dir(device)) else {
        return 0;
    };
    let mut due: Vec<(u64, PathBuf)> = rd
        .filter_map(|d| d.ok())
        .filter_map(|d| {
            let at = d.file_name().to_str()?.parse::<u64>().ok()?;
            (at <= now).then(|| (at, d.path()))
        })
        .collect();
    due.sort();
    let mut n = 0;
    for (at, dir) in due {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for ent in rd.filter_map(|d| d.ok()) {
            let name = ent.file_name();
            if name.to_str().is_none_or(object::is_temp_name) {
                continue;
            }
            let path = ent.path();
            match reap_one(store, &path, at) {
                Ok(true) => n += 1,
                Ok(false) => {}
                Err(e) => {
                    // Left for the next round (a device error, say).
                    tracing::warn!("expiring {}: {e}", path.display());
                    continue;
                }
            }
            if let Err(e) = std::fs::remove_file(&path) {
                if !is_not_found(&e) {
                    tracing::warn!("removing {}: {e}", path.display());
                }
            }
        }
        // Gone once empty; still there if another node is adding to it.
        let _ = std::fs::remove_dir(&dir);
    }
    n
}

/// Deletes the entry's object if it still expires at `at`; `Ok(true)` when
/// this call removed it.
fn reap_one(store: &Store, path: &Path, at: u64) -> Result<bool> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if is_not_found(&e) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let Ok(e) = serde_json::from_slice::<Entry>(&bytes) else {
        return Ok(false); // not ours to understand: dropped
    };
    if e.delete_at != at {
        return Ok(false);
    }
    let loc = match store.find_container(&e.account, &e.container) {
        Ok(l) => l,
        Err(Error::NotFound) => return Ok(false),
        Err(err) => return Err(err),
    };
    let info = match object::head(store, &loc, &e.object) {
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
    match object::delete(&loc, &e.object) {
        Ok(()) => {
            store.usage.invalidate(&loc);
            Ok(true)
        }
        Err(Error::NotFound) => Ok(false),
        Err(err) => Err(err),
    }
}
