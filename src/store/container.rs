//! Accounts and containers as directories, their metadata in the directory
//! xattrs (gluster-swift layout: `[value, timestamp]` pairs), object counts.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::meta::{self, keys, Meta};
use super::object::{is_internal_name, is_temp_name};
use super::sidecar;
use super::xattr::Target;
use super::{is_not_found, ContainerLoc, Error, Policy, Result, Store};

/// Objects and bytes in a container or account.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub objects: u64,
    pub bytes: u64,
}

fn read_dir_meta(p: &Path) -> Result<Meta> {
    match sidecar::load(Target::Path(p), p) {
        Ok(m) => Ok(m.unwrap_or_default()),
        Err(e) if is_not_found(&e) => Err(Error::NotFound),
        Err(e) => Err(e.into()),
    }
}

fn write_dir_meta(store: &Store, p: &Path, m: &Meta) -> Result<()> {
    sidecar::store(
        Target::Path(p),
        p,
        &meta::encode_pairs(m),
        store.opts.xattr_chunk,
    )?;
    Ok(())
}

/// Makes sure the account directory exists on a policy's device.
pub fn ensure_account(store: &Store, p: &Policy, account: &str) -> Result<()> {
    store.check_mounted(p)?;
    let dir = store.account_dir(p, account);
    if store.make_dir(&dir, account)? {
        let mut m = Meta::new();
        let ts = meta::now_timestamp();
        m.insert(keys::TYPE.into(), "Account".into());
        m.insert(keys::TIMESTAMP.into(), ts.clone());
        m.insert(keys::PUT_TIMESTAMP.into(), ts);
        write_dir_meta(store, &dir, &m)?;
    }
    Ok(())
}

/// Account metadata (kept on the default policy's device).
pub fn account_meta(store: &Store, account: &str) -> Result<Meta> {
    let p = store.default_policy();
    store.check_mounted(p)?;
    read_dir_meta(&store.account_dir(p, account))
}

/// Replaces account metadata with `f(old)`.
pub fn update_account_meta(store: &Store, account: &str, f: impl FnOnce(&mut Meta)) -> Result<()> {
    let p = store.default_policy();
    ensure_account(store, p, account)?;
    let dir = store.account_dir(p, account);
    let mut m = read_dir_meta(&dir)?;
    f(&mut m);
    write_dir_meta(store, &dir, &m)
}

/// Container names of an account on every device, sorted, without duplicates.
pub fn list_containers(store: &Store, account: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for p in &store.policies {
        store.check_mounted(p)?;
        let rd = match std::fs::read_dir(store.account_dir(p, account)) {
            Ok(rd) => rd,
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(e.into()),
        };
        for ent in rd {
            let ent = ent?;
            if !ent.file_type()?.is_dir() || ent.file_name() == super::versions::HIDDEN {
                continue;
            }
            if let Ok(n) = ent.file_name().into_string() {
                names.push(n);
            }
        }
    }
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    names.dedup();
    Ok(names)
}

/// Creates a container on `policy`'s device. Returns false when it existed
/// already (its metadata then gets `meta` merged in).
pub fn create(
    store: &Store,
    account: &str,
    container: &str,
    policy: &Policy,
    user: Meta,
) -> Result<bool> {
    ensure_account(store, policy, account)?;
    let dir = store.account_dir(policy, account).join(container);
    let created = store.make_dir(&dir, account)?;
    let mut m = if created {
        Meta::new()
    } else {
        read_dir_meta(&dir)?
    };
    if created {
        let ts = meta::now_timestamp();
        m.insert(keys::TYPE.into(), "container".into());
        m.insert(keys::TIMESTAMP.into(), ts.clone());
        m.insert(keys::PUT_TIMESTAMP.into(), ts);
        m.insert(keys::STORAGE_POLICY.into(), policy.name.clone());
    } else {
        // A repeated PUT counts as a change, as in Swift (Last-Modified moves).
        m.insert(keys::PUT_TIMESTAMP.into(), meta::now_timestamp());
    }
    apply_user_meta(&mut m, user);
    write_dir_meta(store, &dir, &m)?;
    Ok(created)
}

/// Merges metadata updates; an empty value removes the key (Swift semantics).
pub fn apply_user_meta(m: &mut Meta, user: Meta) {
    for (k, v) in user {
        if v.is_empty() {
            m.remove(&k);
        } else {
            m.insert(k, v);
        }
    }
}

/// Container metadata.
pub fn container_meta(loc: &ContainerLoc) -> Result<Meta> {
    read_dir_meta(&loc.dir)
}

/// Merges metadata into a container's.
pub fn update_container_meta(store: &Store, loc: &ContainerLoc, user: Meta) -> Result<Meta> {
    let mut m = read_dir_meta(&loc.dir)?;
    apply_user_meta(&mut m, user);
    m.insert(keys::PUT_TIMESTAMP.into(), meta::now_timestamp());
    write_dir_meta(store, &loc.dir, &m)?;
    Ok(m)
}

/// Per-container usage, reused for a while instead of walking the tree on
/// every HEAD. A small container (counted in under [`SYNC_RECOUNT`]) is
/// recounted on the spot when its entry is older than the TTL or a write
/// through this node marked it; a large one keeps answering with the last
/// count while a background thread recounts, so no request waits for a walk
/// of a big tree after the first.
#[derive(Debug)]
pub struct UsageCache {
    ttl: Duration,
    map: Arc<Mutex<HashMap<PathBuf, Counted>>>,
}

/// Walks faster than this are redone inline; slower ones in the background.
pub const SYNC_RECOUNT: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy)]
struct Counted {
    at: Instant,
    usage: Usage,
    cost: Duration,
    dirty: bool,
    refreshing: bool,
}

impl UsageCache {
    pub fn new(ttl: Duration) -> Self {
        UsageCache {
            ttl,
            map: Default::default(),
        }
    }

    fn count(map: &Mutex<HashMap<PathBuf, Counted>>, loc: &ContainerLoc) -> Result<Usage> {
        let t = Instant::now();
        let usage = usage(loc)?;
        let mut m = map.lock().expect("lock");
        if m.len() > 100_000 {
            m.clear();
        }
        m.insert(
            loc.dir.clone(),
            Counted {
                at: Instant::now(),
                usage,
                cost: t.elapsed(),
                dirty: false,
                refreshing: false,
            },
        );
        Ok(usage)
    }

    /// The usage of `loc`: cached, recounted inline, or (large containers)
    /// the last count while a recount runs in the background.
    pub fn get(&self, loc: &ContainerLoc) -> Result<Usage> {
        {
            let mut m = self.map.lock().expect("lock");
            if let Some(e) = m.get_mut(&loc.dir) {
                // A walk may not take more than a tenth of the time: a big
                // tree is recounted less often than the TTL says.
                if !e.dirty && e.at.elapsed() < self.ttl.max(e.cost * 10) {
                    return Ok(e.usage);
                }
                if e.cost >= SYNC_RECOUNT {
                    if !e.refreshing {
                        e.refreshing = true;
                        let (map, loc) = (self.map.clone(), loc.clone());
                        std::thread::spawn(move || {
                            if Self::count(&map, &loc).is_err() {
                                map.lock().expect("lock").remove(&loc.dir);
                            }
                        });
                    }
                    return Ok(e.usage);
                }
            }
        }
        Self::count(&self.map, loc)
    }

    /// Marks `loc`'s count as out of date after a change through this node.
    pub fn invalidate(&self, loc: &ContainerLoc) {
        if let Some(e) = self.map.lock().expect("lock").get_mut(&loc.dir) {
            e.dirty = true;
        }
    }

    /// Forgets `loc` (a container deleted or made anew).
    pub fn forget(&self, loc: &ContainerLoc) {
        self.map.lock().expect("lock").remove(&loc.dir);
    }
}

/// Objects and bytes in a container, by walking it.
pub fn usage(loc: &ContainerLoc) -> Result<Usage> {
    let mut u = Usage::default();
    let walker = walkdir::WalkDir::new(&loc.dir).min_depth(1).into_iter();
    for ent in walker.filter_entry(|e| !e.file_name().to_str().is_some_and(is_internal_name)) {
        let ent = match ent {
            Ok(e) => e,
            Err(e) if e.io_error().is_some_and(is_not_found) => continue,
            Err(e) => return Err(io::Error::from(e).into()),
        };
        let ft = ent.file_type();
        if ft.is_file() {
            u.objects += 1;
            u.bytes += ent.metadata().map(|m| m.len()).unwrap_or(0);
        } else if ft.is_dir() {
            let m = sidecar::load(Target::Path(ent.path()), ent.path())
                .ok()
                .flatten();
            if m.as_ref().is_some_and(meta::is_marker) {
                u.objects += 1;
            }
        }
    }
    Ok(u)
}

/// Deletes an empty container: `NotEmpty` if it holds any object. Empty
/// directories left inside (made on the mount) go with it.
pub fn delete(loc: &ContainerLoc) -> Result<()> {
    if usage(loc)?.objects > 0 {
        return Err(Error::NotEmpty);
    }
    let dirs: Vec<_> = walkdir::WalkDir::new(&loc.dir)
        .min_depth(1)
        .contents_first(true)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_dir())
        .map(|e| e.into_path())
        .collect();
    for d in dirs {
        match std::fs::remove_dir(&d) {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(_) => return Err(Error::NotEmpty),
        }
    }
    match std::fs::remove_dir(&loc.dir) {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Err(Error::NotFound),
        Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => Err(Error::NotEmpty),
        Err(e) => Err(e.into()),
    }
}

/// Removes temp files older than `age` left by crashed uploads.
pub fn reap_temp_files(dev: &Path, age: std::time::Duration) -> usize {
    let mut n = 0;
    let now = std::time::SystemTime::now();
    for ent in walkdir::WalkDir::new(dev)
        .min_depth(3)
        .into_iter()
        .filter_map(|e| e.ok())
    {
        if !ent.file_type().is_file() || !ent.file_name().to_str().is_some_and(is_temp_name) {
            continue;
        }
        let old = ent
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|d| d > age);
        if old && std::fs::remove_file(ent.path()).is_ok() {
            n += 1;
        }
    }
    n
}
