//! Accounts and containers as directories, their metadata in the directory
//! xattrs (gluster-swift layout: `[value, timestamp]` pairs), object counts.

use crate::sync::lock;
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::beneath::{is_refused, Dir, Follow, Kind};
use super::meta::{self, keys, Meta};
use super::object::{is_internal_name, is_temp_name};
use super::sidecar::{self, Place};
use super::walk::{self, Item, Visitor};
use super::xattr::Target;
use super::{is_not_found, name, ContainerLoc, Error, LocKey, Policy, Result, Store};

/// Objects and bytes in a container or account.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub objects: u64,
    pub bytes: u64,
}

/// The metadata of the directory `d`, found at `place`.
fn read_dir_meta(d: &Dir, place: Place<'_>) -> Result<Meta> {
    let h = d.handle()?;
    match sidecar::load(Target::Handle(&h), place) {
        Ok(m) => Ok(m.unwrap_or_default()),
        Err(e) if is_not_found(&e) => Err(Error::NotFound),
        Err(e) => Err(e.into()),
    }
}

fn write_dir_meta(store: &Store, d: &Dir, place: Place<'_>, m: &Meta) -> Result<()> {
    let h = d.handle()?;
    sidecar::store(
        Target::Handle(&h),
        place,
        &meta::encode_pairs(m),
        store.opts.xattr_chunk,
    )?;
    Ok(())
}

/// The account directory `account` beneath `root` (`NotFound` if missing).
fn open_account(store: &Store, root: &Dir, account: &str) -> Result<Dir> {
    name::check_account(account, &store.opts.limits)?;
    root.open_dir(account).map_err(|e| {
        if is_not_found(&e) || is_refused(&e) {
            Error::NotFound
        } else {
            e.into()
        }
    })
}

/// A directory that must exist at `name` in `parent`: a symlink or file
/// there is a conflict (sofgate does not replace what it did not make).
fn open_made(parent: &Dir, name: &str) -> Result<Dir> {
    parent.open_dir(name).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOTDIR) || is_refused(&e) {
            Error::Conflict(format!(
                "{name:?} on the filesystem is not a directory sofgate can use"
            ))
        } else {
            e.into()
        }
    })
}

/// Makes sure the account directory exists on a policy's device.
pub fn ensure_account(store: &Store, p: &Policy, account: &str) -> Result<()> {
    name::check_account(account, &store.opts.limits)?;
    let root = store.root(p)?;
    if store.make_dir_in(&root, account, account)? {
        let d = open_made(&root, account)?;
        let mut m = Meta::new();
        let ts = meta::now_timestamp();
        m.insert(keys::TYPE.into(), "Account".into());
        m.insert(keys::TIMESTAMP.into(), ts.clone());
        m.insert(keys::PUT_TIMESTAMP.into(), ts);
        write_dir_meta(store, &d, account_place(&root, account), &m)?;
    }
    Ok(())
}

fn account_place<'a>(root: &'a Dir, account: &'a str) -> Place<'a> {
    Place {
        anchor: root,
        parent: "",
        leaf: account,
    }
}

/// Account metadata (kept on the default policy's device).
pub fn account_meta(store: &Store, account: &str) -> Result<Meta> {
    let root = store.root(store.default_policy())?;
    let d = open_account(store, &root, account)?;
    read_dir_meta(&d, account_place(&root, account))
}

/// Replaces account metadata with `f(old)`.
pub fn update_account_meta(store: &Store, account: &str, f: impl FnOnce(&mut Meta)) -> Result<()> {
    let p = store.default_policy();
    ensure_account(store, p, account)?;
    let root = store.root(p)?;
    let d = open_made(&root, account)?;
    let place = account_place(&root, account);
    let mut m = read_dir_meta(&d, place)?;
    f(&mut m);
    write_dir_meta(store, &d, place, &m)
}

/// Container names of an account on every device, sorted, without
/// duplicates: directories with valid container names (no symlinks).
pub fn list_containers(store: &Store, account: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for p in &store.policies {
        let root = store.root(p)?;
        let d = match open_account(store, &root, account) {
            Ok(d) => d,
            Err(Error::NotFound) => continue,
            Err(e) => return Err(e),
        };
        subdirs(
            &d,
            |n| name::check_container(n, &store.opts.limits).is_ok(),
            &mut names,
        )?;
    }
    Ok(sorted(names))
}

/// Account names on every device, sorted, without duplicates:
/// directories with valid account names (no symlinks).
pub fn list_accounts(store: &Store) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for p in &store.policies {
        let root = store.root(p)?;
        subdirs(
            &root,
            |n| name::check_account(n, &store.opts.limits).is_ok(),
            &mut names,
        )?;
    }
    Ok(sorted(names))
}

/// Adds the names of `d`'s subdirectories that pass `valid` to `names`.
fn subdirs(d: &Dir, valid: impl Fn(&str) -> bool, names: &mut Vec<String>) -> Result<()> {
    for (n, kind) in d.entries()? {
        let kind = match kind {
            Some(k) => k,
            None => match d.stat_at(&n) {
                Ok(st) => st.kind(),
                Err(_) => continue,
            },
        };
        if kind == Kind::Dir && valid(&n) {
            names.push(n);
        }
    }
    Ok(())
}

/// Names in byte order, without duplicates.
fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    names.dedup();
    names
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
    name::check_container(container, &store.opts.limits)?;
    ensure_account(store, policy, account)?;
    let root = store.root(policy)?;
    let acct = open_made(&root, account)?;
    let created = store.make_dir_in(&acct, container, account)?;
    let dir = open_made(&acct, container)?;
    let place = Place {
        anchor: &acct,
        parent: "",
        leaf: container,
    };
    let mut m = if created {
        Meta::new()
    } else {
        read_dir_meta(&dir, place)?
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
    write_dir_meta(store, &dir, place, &m)?;
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
    let (parent, leaf) = loc.place();
    let place = Place {
        anchor: &loc.root,
        parent: &parent,
        leaf,
    };
    read_dir_meta(&loc.dir, place)
}

/// Merges metadata into a container's.
pub fn update_container_meta(store: &Store, loc: &ContainerLoc, user: Meta) -> Result<Meta> {
    let (parent, leaf) = loc.place();
    let place = Place {
        anchor: &loc.root,
        parent: &parent,
        leaf,
    };
    let mut m = read_dir_meta(&loc.dir, place)?;
    apply_user_meta(&mut m, user);
    m.insert(keys::PUT_TIMESTAMP.into(), meta::now_timestamp());
    write_dir_meta(store, &loc.dir, place, &m)?;
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
    map: Arc<Mutex<HashMap<LocKey, Counted>>>,
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

    fn count(map: &Mutex<HashMap<LocKey, Counted>>, loc: &ContainerLoc) -> Result<Usage> {
        let t = Instant::now();
        let usage = usage(loc)?;
        crate::metrics::usage_walked(t.elapsed());
        let mut m = lock(map);
        if m.len() > 100_000 {
            m.clear();
        }
        m.insert(
            loc.key.clone(),
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
            let mut m = lock(&self.map);
            if let Some(e) = m.get_mut(&loc.key) {
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
                                lock(&map).remove(&loc.key);
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
        if let Some(e) = lock(&self.map).get_mut(&loc.key) {
            e.dirty = true;
        }
    }

    /// Forgets `loc` (a container deleted or made anew).
    pub fn forget(&self, loc: &ContainerLoc) {
        lock(&self.map).remove(&loc.key);
    }
}

/// Counts what a container's walk meets: regular files and marker
/// directories (and, with the container's link policy, symlinks served as
/// files); internal names, FIFOs, sockets and devices are not objects.
struct Counter<'a> {
    loc: &'a ContainerLoc,
    usage: Usage,
    /// The disk path of the directory being walked, for symlinks (their
    /// resolution is checked from the container).
    path: Vec<String>,
}

impl Visitor for Counter<'_> {
    fn visit(&mut self, item: &Item<'_>) -> io::Result<bool> {
        if is_internal_name(item.name) {
            return Ok(false);
        }
        self.path.truncate(item.depth - 1);
        match item.kind {
            Kind::File => match item.parent.stat_at(item.name) {
                Ok(st) if st.is_file() => {
                    self.usage.objects += 1;
                    self.usage.bytes += st.len();
                }
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            },
            Kind::Dir => {
                let Some(d) = item.dir else {
                    return Ok(false);
                };
                let place = Place {
                    anchor: item.parent,
                    parent: "",
                    leaf: item.name,
                };
                let h = d.handle()?;
                let m = sidecar::load(Target::Handle(&h), place).ok().flatten();
                if m.as_ref().is_some_and(meta::is_marker) {
                    self.usage.objects += 1;
                }
                self.path.push(item.name.to_string());
                return Ok(true);
            }
            Kind::Symlink if self.loc.links == Follow::Beneath => {
                let mut rel = self.path.join("/");
                if !rel.is_empty() {
                    rel.push('/');
                }
                rel.push_str(item.name);
                if let Ok(n) = self.loc.dir.node(&rel, Follow::Beneath) {
                    if n.st.is_file() {
                        self.usage.objects += 1;
                        self.usage.bytes += n.st.len();
                    }
                }
            }
            _ => {}
        }
        Ok(false)
    }
}

/// Objects and bytes in a container, by walking it (by fds: never through
/// a symlink or across a mount).
pub fn usage(loc: &ContainerLoc) -> Result<Usage> {
    let mut c = Counter {
        loc,
        usage: Usage::default(),
        path: Vec::new(),
    };
    walk::walk(&loc.dir, &mut c)?;
    Ok(c.usage)
}

/// Bytes of the regular files of `loc` that have no other name (versions
/// that are not also current objects).
pub fn unshared_bytes(loc: &ContainerLoc) -> u64 {
    struct Sum(u64);
    impl Visitor for Sum {
        fn visit(&mut self, item: &Item<'_>) -> io::Result<bool> {
            if is_internal_name(item.name) {
                return Ok(false);
            }
            if item.kind == Kind::File {
                if let Ok(st) = item.parent.stat_at(item.name) {
                    if st.is_file() && st.nlink() == 1 {
                        self.0 += st.len();
                    }
                }
            }
            Ok(item.kind == Kind::Dir)
        }
    }
    let mut s = Sum(0);
    let _ = walk::walk(&loc.dir, &mut s);
    s.0
}

/// Removes the empty directories of a walk, deepest first.
struct Rmdirs {
    failed: bool,
}

impl Visitor for Rmdirs {
    fn visit(&mut self, item: &Item<'_>) -> io::Result<bool> {
        if item.kind != Kind::Dir || item.dir.is_none() {
            // Anything but a directory left in a container without objects
            // (a symlink, a FIFO, an upload's temp file) keeps it.
            self.failed = true;
            return Ok(false);
        }
        Ok(true)
    }
    fn leave(&mut self, item: &Item<'_>) -> io::Result<()> {
        super::sidecar::remove(item.parent, item.name);
        match item.parent.rmdir(item.name) {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(_) => self.failed = true,
        }
        Ok(())
    }
}

/// Deletes an empty container: `NotEmpty` if it holds any object. Empty
/// directories left inside (made on the mount) go with it; anything else
/// (a symlink, a FIFO) keeps it (`NotEmpty`).
pub fn delete(loc: &ContainerLoc) -> Result<()> {
    if usage(loc)?.objects > 0 {
        return Err(Error::NotEmpty);
    }
    let mut r = Rmdirs { failed: false };
    walk::walk(&loc.dir, &mut r)?;
    if r.failed {
        return Err(Error::NotEmpty);
    }
    let (parent, leaf) = loc.place();
    let up = loc.root.open_dir(&parent).map_err(|e| {
        if is_not_found(&e) || is_refused(&e) {
            Error::NotFound
        } else {
            e.into()
        }
    })?;
    match up.rmdir(leaf) {
        Ok(()) => {
            super::sidecar::remove(&up, leaf);
            Ok(())
        }
        Err(e) if is_not_found(&e) => Err(Error::NotFound),
        Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => Err(Error::NotEmpty),
        Err(e) => Err(e.into()),
    }
}

/// Removes temp files left alone for longer than `age` (by mtime and
/// ctime: see [`super::beneath::Stat::idle`]), left by cut uploads,
/// anywhere beneath the device root `dev` (walked by fds: never through a
/// symlink or across a mount). For the sweep at start.
pub fn reap_temp_files(dev: &std::path::Path, age: Duration) -> usize {
    match Dir::open_root(dev) {
        Ok(root) => reap_temp_beneath(&root, age),
        Err(_) => 0,
    }
}

/// [`reap_temp_files`] beneath an open device root. A temp file still
/// being written (by this node or another) changes with every write and
/// is never that idle; each is checked again just before it goes.
pub fn reap_temp_beneath(root: &Dir, age: Duration) -> usize {
    struct Reaper {
        age: Duration,
        n: usize,
    }
    impl Visitor for Reaper {
        fn visit(&mut self, item: &Item<'_>) -> io::Result<bool> {
            if item.kind == Kind::File && item.depth >= 3 && is_temp_name(item.name) {
                let idle = item
                    .parent
                    .stat_at(item.name)
                    .ok()
                    .filter(|st| st.is_file())
                    .and_then(|st| st.idle())
                    .is_some_and(|d| d > self.age);
                if idle && item.parent.unlink(item.name).is_ok() {
                    self.n += 1;
                }
            }
            Ok(item.kind == Kind::Dir)
        }
    }
    let mut r = Reaper { age, n: 0 };
    if let Err(e) = walk::walk(root, &mut r) {
        tracing::warn!("reaping temp files: {e}");
    }
    r.n
}

impl Store {
    /// `f` of the root of every mounted device, summed: a device is
    /// visited once, however many policies name it; one not mounted is
    /// skipped (`what` names the sweep in the log).
    pub(super) fn sum_over_devices(&self, what: &str, mut f: impl FnMut(&Dir) -> usize) -> usize {
        let mut done: Vec<&std::path::Path> = Vec::new();
        let mut n = 0;
        for p in &self.policies {
            if done.contains(&p.device.as_path()) {
                continue;
            }
            done.push(&p.device);
            match self.root(p) {
                Ok(root) => n += f(&root),
                Err(e) => tracing::debug!("{what} skips policy {}: {e}", p.name),
            }
        }
        n
    }

    /// The periodic sweep: [`reap_temp_beneath`] on every device that is
    /// mounted (a device is walked once, however many policies name it).
    pub fn reap_temp(&self, age: Duration) -> usize {
        let n = self.sum_over_devices("temp sweep", |root| reap_temp_beneath(root, age));
        self.stats.temp_sweeps.add(1);
        self.stats.temp_reaped.add(n as u64);
        n
    }
}
