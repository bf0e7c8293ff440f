//! Newest write wins, across nodes and without a central lock
//! ([`super::Options::newest_wins`]), as in Swift, whose object servers
//! refuse a PUT older than the object they hold.
//!
//! A write knows when it began (its X-Timestamp). Just before its temp
//! file is renamed over an object, the object's file is locked (an
//! open-file-description write lock: GlusterFS, CephFS and NFS hold it for
//! every client of the volume), found still at the name, and its
//! X-Timestamp (its mtime when it has no metadata: a file put there
//! without sofgate) compared: a write that began at or before it is dropped
//! ([`Error::Superseded`]). A writer that waited for the lock then finds the
//! name moved to the new file, and starts again on that one. Where nothing
//! is at the name, the rename refuses to replace what another node may
//! have put there meanwhile, and that is compared in turn.
//!
//! DELETE takes the same lock on the file it removes and removes it only
//! when the object began before the DELETE arrived (else
//! [`Error::Newer`]: Swift's 409), after recording the DELETE in a
//! tombstone ([`super::tombstone`]); a write that finds no file at its name
//! reads that tombstone and is dropped when the DELETE arrived at or after
//! it began. Not covered: a write that reads no tombstone, then a second
//! write and a DELETE of the name both complete, then the first write's
//! rename (all within the few calls between that read and the rename):
//! the first write's object is kept.
//!
//! A conditional write (S3's `If-Match`, [`super::write::Writer::only_if`])
//! takes the same lock, newest-wins on or off, and checks its condition on
//! the metadata of the object found under it, before the timestamps: of
//! two nodes replacing one object on the condition that it is unchanged,
//! the second to get the lock finds the first one's object, and fails.
//!
//! Filesystem calls: a new name costs one more (the open that finds
//! nothing) and the tombstone's lookup; a replaced object open, lock,
//! fstat, stat of the name and one getxattr, then the close that releases
//! the lock after the rename.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use super::beneath::{fstat, is_refused, Dir, Follow, Kind, Stat};
use super::meta::{self, keys, Meta};
use super::sidecar::{self, Place};
use super::tombstone::Tomb;
use super::xattr::Target;
use super::{is_not_found, Error, Result, Store};

/// What a conditional write requires of the object it replaces, checked
/// under the lock of this module's (`None`: nothing at the name); its
/// error fails the commit.
pub type Condition = Box<dyn Fn(Option<&Meta>) -> Result<()> + Send + Sync>;

/// Times a writer starts again on a name that other writers keep replacing.
const MAX_TRIES: usize = 16;
/// The longest a writer waits for the lock of the object it replaces.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// What is at an object's name, for a change that must know its time.
enum Current {
    /// Nothing.
    Missing,
    /// A symlink or special file: never replaced.
    Foreign,
    /// A directory.
    Special,
    /// A regular file sofgate may not open for writing: not locked.
    Unopenable,
    /// Replaced or removed while this writer waited for the lock.
    Moved,
    /// The file, locked until it is dropped, its metadata, and when its
    /// object began.
    Held(File, Meta, f64),
}

/// Looks up what is at `leaf` of `dir` and, when it is a regular file,
/// locks it and reads when its object began. `seen_file`: the caller has
/// just found a regular file there without opening it.
fn current(dir: &Dir, leaf: &str, seen_file: bool) -> Result<Current> {
    // Looked up without opening (O_PATH): only a regular file is then
    // opened, so a FIFO or device planted at the name never is.
    if !seen_file {
        match dir.node(leaf, Follow::Never) {
            Ok(n) if n.kind() == Kind::File => {}
            Ok(n) => return Ok(not_a_file(n.kind())),
            Err(e) if is_not_found(&e) => return Ok(Current::Missing),
            Err(e) if is_stale(&e) => return Ok(stale(dir, leaf)),
            // A mount point or a symlink the lookup refused to cross.
            Err(e) if is_refused(&e) => return Ok(Current::Foreign),
            // Nothing known about the name: no blind replace.
            Err(e) => return Err(Error::Io(e)),
        }
    }
    // Opened by its name, not through /proc: GlusterFS's FUSE client
    // refused a read-write reopen of the O_PATH handle; the type is
    // checked again on the opened file.
    let flags = libc::O_RDWR | libc::O_NONBLOCK | libc::O_NOCTTY;
    let fd = match dir.resolve(leaf, flags, Follow::Never) {
        Ok(fd) => fd,
        // The open is the word of the filesystem: a network mount's
        // lookup may still find a name another node has just removed
        // (GlusterFS did, with entry-timeout 0), and a write must then
        // read the tombstone as for any missing name.
        Err(e) if is_not_found(&e) => return Ok(Current::Missing),
        Err(e) if is_stale(&e) => return Ok(stale(dir, leaf)),
        // Swapped for a symlink (or a mount) since the lookup.
        Err(e) if is_refused(&e) => return Ok(Current::Foreign),
        Err(_) => return Ok(Current::Unopenable),
    };
    let file = File::from(fd);
    lock(&file)?;
    let st = fstat(file.as_fd())?;
    if !st.is_file() {
        // Swapped since the lookup (a FIFO or device is opened without
        // blocking, never read).
        return Ok(not_a_file(st.kind()));
    }
    match dir.stat_at(leaf) {
        Ok(now) if (now.dev(), now.ino()) == (st.dev(), st.ino()) => {}
        _ => return Ok(Current::Moved),
    }
    let meta = stored_meta(&file, dir, leaf);
    let began = began(&meta, &st);
    Ok(Current::Held(file, meta, began))
}

/// What is at a name that holds no regular file: a directory, or something
/// never replaced.
fn not_a_file(kind: Kind) -> Current {
    match kind {
        Kind::Dir => Current::Special,
        _ => Current::Foreign,
    }
}

/// A network filesystem's answer for a name whose cached entry another
/// node has replaced or removed: the `O_PATH` lookup found the entry this
/// client still held, and only the stat on it asked the server.
fn is_stale(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ESTALE)
}

/// The name's entry went stale: it is looked up afresh and the caller
/// starts again, never taking the name for free or for something special
/// (that would replace a newer object unseen).
fn stale(dir: &Dir, leaf: &str) -> Current {
    dir.revalidate(leaf);
    // Where the revalidation cannot help, the tries are not spent at once.
    std::thread::sleep(Duration::from_millis(2));
    Current::Moved
}

/// Puts the temp file at `leaf` of `dir` through `rename` (with `true`:
/// only where nothing is) unless the object there began at or after `ts`
/// (with `Some`), or, where nothing is, a DELETE recorded in `tomb`
/// arrived at or after it; and only when what is there meets `only_if`
/// (its error otherwise). A symlink or special file at the name (the
/// object's last component: `name`) is left alone, a conflict.
pub(super) fn put_in_place(
    dir: &Dir,
    (leaf, name): (&str, &str),
    ts: Option<f64>,
    tomb: Option<&Tomb>,
    only_if: Option<&Condition>,
    rename: impl Fn(bool) -> Result<()>,
) -> Result<()> {
    let meets = |m: Option<&Meta>| only_if.map_or(Ok(()), |c| c(m));
    for _ in 0..MAX_TRIES {
        match current(dir, leaf, false)? {
            Current::Missing => {
                meets(None)?;
                if let Some(ts) = ts {
                    if deleted_since(tomb, ts)? {
                        return Err(Error::Superseded);
                    }
                }
                match rename(true) {
                    Err(Error::Exists) => continue,
                    done => return done,
                }
            }
            // Nothing sofgate may lock: the plain rename answers as it
            // always does, and a condition sees no object.
            Current::Special | Current::Unopenable => {
                meets(None)?;
                return rename(false);
            }
            Current::Foreign => return Err(not_ours(name)),
            Current::Moved => continue,
            Current::Held(file, meta, began) => {
                meets(Some(&meta))?;
                if ts.is_some_and(|ts| began >= ts) {
                    return Err(Error::Superseded);
                }
                let done = rename(false);
                // The lock goes with the file, after the rename.
                drop(file);
                return done;
            }
        }
    }
    Err(busy())
}

/// True when `tomb` records a DELETE that arrived at or after `ts`: a
/// write that began then must not bring the object back.
pub(super) fn deleted_since(tomb: Option<&Tomb>, ts: f64) -> Result<bool> {
    match tomb {
        Some(t) => Ok(t.time()?.is_some_and(|d| d >= ts)),
        None => Ok(false),
    }
}

/// Removes the object's file at `leaf` of `dir` through `remove`, for a
/// DELETE that arrived at `ts`, unless the object began at or after that
/// ([`Error::Newer`]); the DELETE is recorded in `tomb` first. Under the
/// same lock as a write's, so the file removed is the one compared. The
/// caller has just seen a regular file at the name (without opening it).
pub(super) fn delete_in_place(
    store: &Store,
    dir: &Dir,
    leaf: &str,
    ts: f64,
    tomb: &Tomb,
    remove: impl Fn() -> Result<()>,
) -> Result<()> {
    let record = || tomb.record(store, ts);
    for tries in 0..MAX_TRIES {
        // The caller found a regular file at the name; after a move, it
        // is looked up again.
        match current(dir, leaf, tries == 0)? {
            Current::Missing | Current::Foreign | Current::Special => return Err(Error::NotFound),
            Current::Unopenable => {
                record()?;
                return remove();
            }
            Current::Moved => continue,
            Current::Held(_, _, began) if began >= ts => return Err(Error::Newer),
            Current::Held(file, _, _) => {
                record()?;
                let done = remove();
                drop(file);
                return done;
            }
        }
    }
    Err(busy())
}

/// The conflict of a write that would go through, or over, something that
/// is not sofgate's to replace (a POSIX symlink, a mount, a FIFO, ...).
pub(super) fn not_ours(rel: &str) -> Error {
    Error::Conflict(format!(
        "{rel:?} is a symlink or special file on the filesystem: it is left as it is"
    ))
}

fn busy() -> Error {
    Error::Conflict("Other writers keep replacing this object; try again.".into())
}

/// The metadata stored on the object in `file` (none: empty).
fn stored_meta(file: &File, dir: &Dir, leaf: &str) -> Meta {
    let place = Place {
        anchor: dir,
        parent: "",
        leaf,
    };
    sidecar::load(Target::Fd(file.as_fd()), place)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// When the object began: its X-Timestamp, else its file's mtime.
fn began(meta: &Meta, st: &Stat) -> f64 {
    meta.get(keys::TIMESTAMP)
        .and_then(|t| meta::parse_timestamp(t))
        .unwrap_or(st.mtime_secs())
}

/// Takes an OFD write lock on the whole of `file`, waiting (in short
/// sleeps, so a holder that hangs cannot hold this thread for ever) up to
/// [`LOCK_WAIT`]. A filesystem without locks is written without one.
fn lock(file: &File) -> Result<()> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        // SAFETY: a zeroed flock is a valid value; every field used is set.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        // SAFETY: a plain fcntl on an fd `file` owns, with a valid flock.
        let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Some(libc::EINVAL) | Some(libc::ENOLCK) | Some(libc::EOPNOTSUPP) => {
                tracing::debug!("no lock on this filesystem ({e}): newest-wins unlocked");
                return Ok(());
            }
            _ => return Err(e.into()),
        }
    }
}
