//! Tombstones: what a DELETE leaves behind so that a write which began
//! before it and finishes after it does not bring the object back
//! ([`super::newest`]; Swift's object servers keep a `.ts` file for this).
//!
//! A tombstone is an empty file `<device>/.sofgate/tombstones/<md5>` on the
//! container's device, the MD5 (hex) of `<account>/<container>/<object>`,
//! whose mtime is the time the DELETE arrived. `.sofgate` is no account
//! (a reserved name) and is never listed or counted, so a tombstone is
//! never an object; its name is made here from checked names alone, and it
//! is reached beneath the device root like everything else, never through
//! a symlink. Only a write that finds no file at its name reads it: one
//! lookup (three names) that usually finds nothing.
//!
//! Tombstones are kept for `[storage] tombstone_secs` and then removed by
//! the periodic sweep of every node (nodes sweeping at once only repeat each
//! other's work). A write that began longer ago than that and finds its
//! tombstone gone creates the object, as Swift does past its
//! `reclaim_age`. A sweep that removes a tombstone just as a DELETE of the
//! same name renews it loses that DELETE's record: a write that began before
//! it and completes later would then create the object.
//!
//! The tombstone directory of each device stays open a short while
//! ([`Area`]), so a tombstone costs one lookup instead of three: on a
//! network mount each is a round trip.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nix::sys::stat::{futimens, utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use std::time::Duration;

use md5::{Digest, Md5};

use super::beneath::{is_refused, Dir, Follow, Kind};
use super::meta;
use super::name::STATE_DIR;
use super::{is_gone, is_not_found, ContainerLoc, Error, ObjPath, Result, Store};
use crate::sync::lock;

/// The directory of tombstones in [`STATE_DIR`].
const AREA: &str = "tombstones";

/// How long an open tombstone directory is used before it is looked up
/// again: a directory removed and made anew by hand is found within this,
/// and the volume is no longer held busy (an unmount waits) this long after
/// the last tombstone.
const AREA_REUSE: Duration = Duration::from_secs(1);

/// A device's tombstone directory, kept open for [`AREA_REUSE`] while the
/// device root keeps its device number (a volume mounted anew is looked up
/// again; without `mount_check` the number is not known, and time alone
/// decides). A small thread closes it once unused, and ends.
#[derive(Default)]
pub struct Area(Mutex<Slot>);

#[derive(Default)]
struct Slot {
    open: Option<(Dir, Instant, Option<u64>)>,
    /// The closing thread runs.
    closer: bool,
}

impl std::fmt::Debug for Area {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Area")
    }
}

impl Area {
    /// The directory, opened within [`AREA_REUSE`] under `root`'s device.
    fn cached(&self, root: &Dir) -> Option<Dir> {
        match &lock(&self.0).open {
            Some((d, at, dev)) if at.elapsed() < AREA_REUSE && *dev == root.known_dev() => {
                Some(d.clone())
            }
            _ => None,
        }
    }

    /// Keeps `d`, opened under `root`, for the next tombstones.
    fn keep(self: &Arc<Self>, root: &Dir, d: &Dir) {
        let mut slot = lock(&self.0);
        if !slot.closer {
            let area = Arc::downgrade(self);
            let spawned = std::thread::Builder::new()
                .name("sofgate-tombdir".into())
                .spawn(move || close_when_unused(area));
            if spawned.is_err() {
                return;
            }
            slot.closer = true;
        }
        slot.open = Some((d.clone(), Instant::now(), root.known_dev()));
    }

    fn forget(&self) {
        lock(&self.0).open = None;
    }
}

/// Closes the area's directory once it is older than [`AREA_REUSE`].
fn close_when_unused(area: std::sync::Weak<Area>) {
    let mut wait = AREA_REUSE;
    loop {
        std::thread::sleep(wait);
        let Some(area) = area.upgrade() else {
            return;
        };
        let mut slot = lock(&area.0);
        match slot.open.as_ref().map(|o| o.1.elapsed()) {
            Some(age) if age < AREA_REUSE => wait = AREA_REUSE - age,
            _ => {
                slot.open = None;
                slot.closer = false;
                return;
            }
        }
    }
}

/// Where a DELETE of one object is recorded.
pub(super) struct Tomb {
    root: Dir,
    area: Arc<Area>,
    /// The file's name: 32 hex digits.
    key: String,
}

impl Tomb {
    /// The tombstone of `name` in `c`: `None` when DELETE-vs-PUT ordering
    /// is off, and for the hidden containers (versions, upload areas),
    /// whose files sofgate alone writes and removes.
    pub fn of(store: &Store, c: &ContainerLoc, name: &ObjPath) -> Option<Tomb> {
        let on = store.opts.newest_wins && !store.opts.tombstone_life.is_zero();
        if !on || c.is_hidden() {
            return None;
        }
        let full = format!("{}/{}/{}", c.account, c.name, name.as_str());
        Some(Tomb {
            root: c.root.clone(),
            area: store.policies[c.policy].tomb_area.clone(),
            key: hex::encode(Md5::digest(full.as_bytes())),
        })
    }

    /// When the last recorded DELETE of the object arrived; `None` when
    /// there is no tombstone (or something other than a file is there).
    pub fn time(&self) -> Result<Option<f64>> {
        let open = || match self.root.open_dir(&format!("{STATE_DIR}/{AREA}")) {
            Ok(d) => Ok(Some(d)),
            Err(e) if is_not_found(&e) || is_refused(&e) => Ok(None),
            Err(e) => Err(e.into()),
        };
        let found = self.in_area(open, |dir| Ok(time_in(dir, &self.key)?))?;
        Ok(found.flatten())
    }

    /// Records a DELETE that arrived at `ts`; a later one recorded already
    /// is kept.
    pub fn record(&self, store: &Store, ts: f64) -> Result<()> {
        let open = || open_area(store, &self.root).map(Some);
        self.in_area(open, |dir| record_in(dir, &self.key, store, ts))?;
        Ok(())
    }

    /// Runs `f` in the directory kept open, or, when none is or it went
    /// away (ENOENT, ESTALE), in the one `open` gives (`None`: no area),
    /// kept from then on.
    fn in_area<T>(
        &self,
        open: impl FnOnce() -> Result<Option<Dir>>,
        f: impl Fn(&Dir) -> Result<T>,
    ) -> Result<Option<T>> {
        if let Some(dir) = self.area.cached(&self.root) {
            match f(&dir) {
                Err(Error::Io(e)) if is_gone(&e) => self.area.forget(),
                done => return done.map(Some),
            }
        }
        let Some(dir) = open()? else {
            return Ok(None);
        };
        self.area.keep(&self.root, &dir);
        f(&dir).map(Some)
    }
}

/// The time of the tombstone `key` in `dir`; ESTALE (`dir` removed on
/// another node) is the caller's.
fn time_in(dir: &Dir, key: &str) -> std::io::Result<Option<f64>> {
    match dir.node(key, Follow::Never) {
        Ok(n) if n.st.is_file() => Ok(Some(n.st.mtime_secs())),
        Ok(_) => Ok(None),
        Err(e) if is_not_found(&e) || is_refused(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Records in `dir` a DELETE of the object whose tombstone is `key`,
/// arrived at `ts`.
fn record_in(dir: &Dir, key: &str, store: &Store, ts: f64) -> Result<()> {
    // Tries: the name may come and go between the calls (another DELETE,
    // the sweep).
    for _ in 0..4 {
        let e = match dir.create_file(key, store.opts.file_mode) {
            Ok(file) => return set_mtime(&file, ts),
            Err(e) => e,
        };
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(e.into());
        }
        match dir.stat_at(key) {
            Ok(st) if st.is_file() && st.mtime_secs() >= ts => return Ok(()),
            Ok(st) if st.is_file() => return Ok(set_mtime_at(dir, key, ts)?),
            // Something planted at the name is no tombstone: replaced.
            Ok(_) => dir.unlink(key)?,
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict(
        "Other requests keep changing this object; try again.".into(),
    ))
}

/// The tombstone directory of the device `root`, made when missing.
fn open_area(store: &Store, root: &Dir) -> Result<Dir> {
    match root.open_dir(&format!("{STATE_DIR}/{AREA}")) {
        Ok(d) => Ok(d),
        Err(_) => Ok(store.state_dir(root, [AREA])?),
    }
}

/// `ts` as a timespec, to the 10 µs of a Swift timestamp.
fn timespec(ts: f64) -> TimeSpec {
    let (secs, nanos) = meta::timestamp_parts(ts);
    TimeSpec::new(secs, nanos)
}

fn set_mtime(file: &File, ts: f64) -> Result<()> {
    let t = timespec(ts);
    futimens(file.as_raw_fd(), &t, &t).map_err(std::io::Error::from)?;
    Ok(())
}

/// Sets the times of the name `key` (32 hex digits) of `dir`, never
/// following a symlink.
fn set_mtime_at(dir: &Dir, key: &str, ts: f64) -> std::io::Result<()> {
    let t = timespec(ts);
    utimensat(
        Some(dir.fd().as_raw_fd()),
        key,
        &t,
        &t,
        UtimensatFlags::NoFollowSymlink,
    )?;
    Ok(())
}

/// True for a tombstone's name: 32 lowercase hex digits.
fn is_key(n: &str) -> bool {
    n.len() == 32 && n.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Store {
    /// Removes the tombstones older than `life` (or that far in the
    /// future: no DELETE made them) on every mounted device. Returns how
    /// many went.
    pub fn reap_tombstones(&self, life: Duration) -> usize {
        self.sum_over_devices("tombstone sweep", |root| reap_device(root, life))
    }
}

/// [`Store::reap_tombstones`] on one device root.
fn reap_device(root: &Dir, life: Duration) -> usize {
    let Ok(dir) = root.open_dir(&format!("{STATE_DIR}/{AREA}")) else {
        return 0;
    };
    let now = meta::now_secs();
    let mut n = 0;
    for (name, kind) in dir.entries().unwrap_or_default() {
        if !is_key(&name) || !matches!(kind, Some(Kind::File) | None) {
            continue;
        }
        let stale = dir
            .stat_at(&name)
            .ok()
            .filter(|st| st.is_file())
            .is_some_and(|st| (now - st.mtime_secs()).abs() > life.as_secs_f64());
        if stale && dir.unlink(&name).is_ok() {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn a_tombstone_keeps_the_latest_time_and_goes_when_old() {
        let dev = tempfile::tempdir().unwrap();
        let mut s = testing::store(dev.path());
        s.opts.tombstone_life = Duration::from_secs(60);
        let c = testing::container(&s, "AUTH_a", "c");
        let t = Tomb::of(&s, &c, &testing::obj("d/o")).unwrap();
        assert_eq!(t.time().unwrap(), None);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        t.record(&s, now - 10.0).unwrap();
        let got = t.time().unwrap().unwrap();
        assert!((got - (now - 10.0)).abs() < 1e-4, "{got} {now}");
        // An older DELETE recorded later does not move it back.
        t.record(&s, now - 20.0).unwrap();
        assert!((t.time().unwrap().unwrap() - got).abs() < 1e-9);
        // Another object's tombstone is another file.
        let other = Tomb::of(&s, &c, &testing::obj("d/p")).unwrap();
        assert_eq!(other.time().unwrap(), None);
        other.record(&s, now - 120.0).unwrap();
        assert_eq!(s.reap_tombstones(Duration::from_secs(60)), 1);
        assert_eq!(other.time().unwrap(), None);
        assert!(t.time().unwrap().is_some(), "a fresh one is kept");
        // Off: no tombstones at all.
        s.opts.tombstone_life = Duration::ZERO;
        assert!(Tomb::of(&s, &c, &testing::obj("d/o")).is_none());
    }

    #[test]
    fn the_directory_kept_open_is_looked_up_again_once_gone() {
        let dev = tempfile::tempdir().unwrap();
        let s = testing::store(dev.path());
        let c = testing::container(&s, "AUTH_a", "c");
        let t = Tomb::of(&s, &c, &testing::obj("o")).unwrap();
        t.record(&s, 1_000.0).unwrap();
        let area = dev.path().join(STATE_DIR).join(AREA);
        std::fs::remove_dir_all(&area).unwrap();
        // Kept open, the removed directory refuses new names: the record
        // goes to the one made anew.
        t.record(&s, 2_000.0).unwrap();
        assert_eq!(std::fs::read_dir(&area).unwrap().count(), 1);
        assert_eq!(t.time().unwrap(), Some(2_000.0));
        // Another Tomb of the device shares the open directory.
        let u = Tomb::of(&s, &c, &testing::obj("p")).unwrap();
        u.record(&s, 3_000.0).unwrap();
        assert_eq!(u.time().unwrap(), Some(3_000.0));
        assert_eq!(std::fs::read_dir(&area).unwrap().count(), 2);
        // Unused, it is closed (the volume is not held busy).
        let kept = || lock(&s.policies[0].tomb_area.0).open.is_some();
        assert!(kept());
        let t0 = Instant::now();
        while kept() && t0.elapsed() < AREA_REUSE * 4 {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!kept(), "still open after {:?}", t0.elapsed());
    }
}
