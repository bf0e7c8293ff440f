//! Objects as plain files: atomic writes through a temp file in the target
//! directory, reads that take metadata from the open fd, deletes that tidy up
//! empty implicit parent directories.
//!
//! Every lookup is made beneath the container's open directory (see
//! [`super::beneath`]). Only regular files and directory markers are
//! objects: a FIFO, socket or device node is never opened (404), and a
//! POSIX symlink is no object unless `[storage] posix_symlinks =
//! "within_container"` makes it a read-only alias of a file in its own
//! container. Writes never go through a symlink: a PUT over one, or through
//! a symlinked directory, is a conflict that leaves it alone.
//!
//! Hard links: a write always renames a new inode into place, so it never
//! changes another name's file. Metadata (POST, and metadata derived for
//! files made on the mount) is kept on the inode, so it is written only to
//! a file with no other name, or to the current object of object
//! versioning and its own newest version (see
//! [`super::versions::is_own_version_link`]); a POST to any other file with
//! several names is refused (409) and derived metadata of such a file is
//! computed per request instead of stored.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::FileExt;

use md5::{Digest, Md5};
use nix::sys::stat::futimens;
use nix::sys::time::TimeSpec;

use super::beneath::{is_refused, Dir, Follow, Kind, Node, Stat};
use super::meta::{self, keys, Meta};
use super::name::{self, ObjPath};
use super::sidecar::{self, Place};
use super::xattr::Target;
use super::{is_not_found, ContainerLoc, Error, Result, Store};

/// Suffix that marks sofgate's temp files: `.<name>.<16 hex>.sgtmp`.
const TEMP_SUFFIX: &str = ".sgtmp";
/// Length of `.<16 hex>.sgtmp`.
const TEMP_TAIL: usize = 1 + 16 + TEMP_SUFFIX.len();

/// True for the name of a temp file (never listed, served or counted).
pub fn is_temp_name(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() > TEMP_TAIL
        && b[0] == b'.'
        && n.ends_with(TEMP_SUFFIX)
        && b[b.len() - TEMP_TAIL] == b'.'
        && b[b.len() - TEMP_TAIL + 1..b.len() - TEMP_SUFFIX.len()]
            .iter()
            .all(u8::is_ascii_hexdigit)
}

/// True for names sofgate uses itself (temp files, metadata sidecars).
pub fn is_internal_name(n: &str) -> bool {
    is_temp_name(n) || sidecar::is_sidecar_name(n)
}

/// A temp name for `leaf`, cut so that it fits in NAME_MAX.
fn temp_name(leaf: &str) -> String {
    let room = name::NAME_MAX - 1 - TEMP_TAIL;
    let mut end = leaf.len().min(room);
    while !leaf.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        ".{}.{:016x}{TEMP_SUFFIX}",
        &leaf[..end],
        rand::random::<u64>()
    )
}

/// What is known of a stored object.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub size: u64,
    pub meta: Meta,
}

impl ObjectInfo {
    pub fn etag(&self) -> &str {
        self.meta.get(keys::ETAG).map(String::as_str).unwrap_or("")
    }
    /// The Content-Type, without the `;swift_bytes=N` Swift adds to
    /// large-object manifests.
    pub fn content_type(&self) -> &str {
        let ct = self
            .meta
            .get(keys::CONTENT_TYPE)
            .map(String::as_str)
            .unwrap_or("application/octet-stream");
        match ct.rfind(";swift_bytes=") {
            Some(i) if ct[i + 13..].bytes().all(|b| b.is_ascii_digit()) => ct[..i].trim_end(),
            _ => ct,
        }
    }
    /// X-Timestamp as seconds.
    pub fn timestamp(&self) -> f64 {
        self.meta
            .get(keys::TIMESTAMP)
            .and_then(|t| meta::parse_timestamp(t))
            .unwrap_or(0.0)
    }
    pub fn is_dir_marker(&self) -> bool {
        meta::is_marker(&self.meta)
    }
}

/// An object opened for reading: the fd and its metadata. A directory
/// marker has no content: its `file` is the directory's `O_PATH` fd, never
/// read (its size is 0).
pub struct OpenObject {
    pub file: File,
    pub info: ObjectInfo,
}

/// True when stored metadata still describes the file as it is now.
fn is_fresh(m: &Meta, st: &Stat) -> bool {
    let (Some(len), Some(_), Some(_)) = (
        m.get(keys::CONTENT_LENGTH),
        m.get(keys::ETAG),
        m.get(keys::TIMESTAMP),
    ) else {
        return false;
    };
    if len.parse::<u64>().ok() != Some(st.len()) {
        return false;
    }
    match m
        .get(keys::PUT_MTIME)
        .and_then(|t| meta::parse_timestamp(t))
    {
        Some(t) => meta::normalize_timestamp(t) == mtime_timestamp(st),
        None => true,
    }
}

/// The exact mtime as stored in `X-Object-PUT-Mtime`: seconds and all nine
/// decimals. (Were it the same 16 characters as `X-Timestamp`, ext4's xattr
/// hash would cancel the two out, and every object with the same content and
/// type would land in one hash bucket: PUTs and listings 5-8x slower.)
fn exact_mtime(secs: i64, nanos: i64) -> String {
    format!("{secs}.{nanos:09}")
}

fn mtime_timestamp(st: &Stat) -> String {
    meta::normalize_timestamp(st.mtime() as f64 + st.mtime_nsec() as f64 / 1e9)
}

/// Builds metadata for a file that has none (or stale metadata): MD5 of the
/// content, type from the extension, timestamp from mtime. User metadata and
/// an explicit Content-Type already there are kept.
fn derive(file: &File, st: &Stat, name: &str, old: Option<Meta>) -> Result<Meta> {
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0u64;
    loop {
        let n = file.read_at(&mut buf, off)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        off += n as u64;
    }
    let mut m = old.unwrap_or_default();
    let ts = mtime_timestamp(st);
    if !m.contains_key(keys::CONTENT_TYPE) {
        m.insert(keys::CONTENT_TYPE.into(), super::mime::guess(name));
    }
    m.insert(keys::ETAG.into(), hex::encode(md5.finalize()));
    m.insert(keys::CONTENT_LENGTH.into(), off.to_string());
    m.insert(keys::TIMESTAMP.into(), ts);
    m.insert(
        keys::PUT_MTIME.into(),
        exact_mtime(st.mtime(), st.mtime_nsec()),
    );
    m.insert(keys::TYPE.into(), "Object".into());
    m.insert(keys::OBJECT_TYPE.into(), meta::OBJ_FILE.into());
    Ok(m)
}

/// What a listing shows of a file sofgate may not read: its size, type by
/// extension and time from its stat, and no ETag (unknown).
pub(super) fn unreadable_info(name: &str, st: &Stat) -> ObjectInfo {
    let mut m = Meta::new();
    m.insert(keys::CONTENT_TYPE.into(), super::mime::guess(name));
    m.insert(keys::TIMESTAMP.into(), mtime_timestamp(st));
    ObjectInfo {
        size: st.len(),
        meta: m,
    }
}

/// An object's file or directory, found beneath its container and held
/// with `O_PATH` (nothing opened for real yet).
pub(super) struct Found {
    pub node: Node,
    /// Reached through a POSIX symlink: read only, nothing stored on it.
    pub linked: bool,
}

impl Found {
    /// May metadata derived for this file be stored on it? Not through a
    /// symlink, and not on a file that has other names (it would change
    /// what those names show).
    fn may_store(&self) -> bool {
        !self.linked && self.node.st.nlink() <= 1
    }
}

/// Where an object's file sits in its container: its parent's disk path
/// and its disk name.
pub(super) struct Loc {
    parent: String,
    leaf: String,
}

impl Loc {
    pub fn of(name: &ObjPath) -> Loc {
        Loc {
            parent: name.disk_parent(),
            leaf: name.disk_leaf().into_owned(),
        }
    }
    pub fn place<'a>(&'a self, c: &'a ContainerLoc) -> Place<'a> {
        Place {
            anchor: &c.dir,
            parent: &self.parent,
            leaf: &self.leaf,
        }
    }
    fn rel(&self) -> String {
        if self.parent.is_empty() {
            self.leaf.clone()
        } else {
            format!("{}/{}", self.parent, self.leaf)
        }
    }
}

/// A failed lookup as the store answers it: a name that is missing, or
/// that the anchor refused (a symlink, a mount, an escape), is not found.
fn lookup_error(e: io::Error) -> Error {
    if is_not_found(&e) || is_refused(&e) {
        Error::NotFound
    } else {
        e.into()
    }
}

/// Looks an object up beneath its container. A symlink (at the name or on
/// the way) is followed only as the container's link policy says, and then
/// only to a regular file inside the container.
pub(super) fn find(c: &ContainerLoc, rel: &str) -> Result<Found> {
    let through_link = match c.dir.node(rel, Follow::Never) {
        Ok(n) if n.kind() != Kind::Symlink => {
            return Ok(Found {
                node: n,
                linked: false,
            })
        }
        Ok(_) => true,
        Err(e) => {
            if e.raw_os_error() != Some(libc::ELOOP) {
                return Err(lookup_error(e));
            }
            true
        }
    };
    if !through_link || c.links != Follow::Beneath {
        return Err(Error::NotFound);
    }
    match c.dir.node(rel, Follow::Beneath) {
        Ok(n) if n.st.is_file() => Ok(Found {
            node: n,
            linked: true,
        }),
        Ok(_) => Err(Error::NotFound),
        Err(e) => Err(lookup_error(e)),
    }
}

/// The metadata of a directory if it is a marker object; `NotFound` else.
fn marker_info(node: &Node, place: Place<'_>) -> Result<ObjectInfo> {
    let h = node.handle()?;
    match sidecar::load(Target::Handle(&h), place)? {
        Some(m) if meta::is_marker(&m) => Ok(ObjectInfo { size: 0, meta: m }),
        _ => Err(Error::NotFound),
    }
}

/// Stored metadata of a file when it is fresh (no read of the content).
fn fresh_meta(store: &Store, t: Target<'_>, st: &Stat, place: Place<'_>) -> Option<Meta> {
    match sidecar::load(t, place) {
        Ok(Some(m)) if is_fresh(&m, st) && store.seen.unchanged(st) => Some(m),
        _ => None,
    }
}

/// Reads (and repairs if needed) the metadata of an open regular file.
fn file_meta(
    store: &Store,
    file: &File,
    found: &Found,
    place: Place<'_>,
    name: &str,
) -> Result<Meta> {
    let st = &found.node.st;
    let stored = sidecar::load(Target::Fd(file.as_fd()), place)?;
    let fresh = stored.as_ref().is_some_and(|m| is_fresh(m, st));
    if fresh && store.seen.unchanged(st) {
        if let Some(m) = stored {
            return Ok(m);
        }
    }
    let m = derive(file, st, name, stored.clone())?;
    if fresh {
        // Only ctime moved: if the content is the same, nothing to rewrite.
        if let Some(old) = stored.filter(|o| o.get(keys::ETAG) == m.get(keys::ETAG)) {
            store.seen.record(st);
            return Ok(old);
        }
    }
    if !found.may_store() {
        return Ok(m);
    }
    // Storing it back is an optimisation only: a read-only mount still serves.
    if let Err(e) = sidecar::save(Target::Fd(file.as_fd()), place, &m, store.opts.xattr_chunk) {
        tracing::debug!("could not store derived metadata for {name}: {e}");
    }
    store.seen.forget(st);
    Ok(m)
}

/// Opens what `find` found: a regular file for reading, or a marker.
fn open_found(store: &Store, found: Found, place: Place<'_>, name: &str) -> Result<OpenObject> {
    match found.node.kind() {
        Kind::Dir => {
            let info = marker_info(&found.node, place)?;
            Ok(OpenObject {
                file: File::from(found.node.into_fd()),
                info,
            })
        }
        Kind::File => {
            let file = found.node.open_read()?;
            let meta = file_meta(store, &file, &found, place, name)?;
            Ok(OpenObject {
                info: ObjectInfo {
                    size: found.node.st.len(),
                    meta,
                },
                file,
            })
        }
        _ => Err(Error::NotFound),
    }
}

/// Runs `f` again when a network filesystem answers ESTALE (another node's
/// rename left this client a stale handle): the name is looked up afresh,
/// a few times.
fn retry_stale<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let mut tries = 0;
    loop {
        match f() {
            Err(Error::Io(e)) if e.raw_os_error() == Some(libc::ESTALE) && tries < 3 => {
                tries += 1;
            }
            other => return other,
        }
    }
}

/// Opens an object for reading. Directories are objects only when marked.
pub fn open(store: &Store, c: &ContainerLoc, name: &ObjPath) -> Result<OpenObject> {
    let loc = Loc::of(name);
    retry_stale(|| {
        let found = find(c, &loc.rel())?;
        open_found(store, found, loc.place(c), name)
    })
}

/// The data of an object's regular file, opened for reading (no metadata:
/// for the segments of a large object, which were checked when listed).
pub fn open_data(c: &ContainerLoc, name: &ObjPath) -> Result<File> {
    let found = find(c, &name.disk_path())?;
    found.node.open_read().map_err(lookup_error)
}

/// [`open`] when it takes nothing but lookup, open, fstat and the metadata
/// read (a regular file whose stored metadata is fresh): `Ok(None)` when the
/// slow path must decide (metadata to derive from the content, a directory,
/// a stale handle). Cheap enough to run on an async worker: nothing here can
/// block on a FIFO or device.
pub fn open_quick(store: &Store, c: &ContainerLoc, name: &ObjPath) -> Result<Option<OpenObject>> {
    let loc = Loc::of(name);
    let found = match find(c, &loc.rel()) {
        Ok(f) => f,
        Err(Error::NotFound) => return Err(Error::NotFound),
        Err(_) => return Ok(None),
    };
    match found.node.kind() {
        Kind::File => {}
        Kind::Dir => return Ok(None),
        _ => return Err(Error::NotFound),
    }
    let Ok(file) = found.node.open_read() else {
        return Ok(None);
    };
    let st = &found.node.st;
    Ok(
        fresh_meta(store, Target::Fd(file.as_fd()), st, loc.place(c)).map(|m| OpenObject {
            info: ObjectInfo {
                size: st.len(),
                meta: m,
            },
            file,
        }),
    )
}

/// [`head`] when the stored metadata is fresh (lookup, getxattr):
/// `Ok(None)` when the slow path must decide. Cheap enough to run on an
/// async worker.
pub fn head_quick(store: &Store, c: &ContainerLoc, name: &ObjPath) -> Result<Option<ObjectInfo>> {
    let loc = Loc::of(name);
    let found = match find(c, &loc.rel()) {
        Ok(f) => f,
        Err(Error::NotFound) => return Err(Error::NotFound),
        Err(_) => return Ok(None),
    };
    Ok(quick_info(store, &found, loc.place(c)))
}

/// The metadata of what `find` found without reading content: a marker's,
/// or a file's fresh metadata; `None` when that does not answer.
fn quick_info(store: &Store, found: &Found, place: Place<'_>) -> Option<ObjectInfo> {
    match found.node.kind() {
        Kind::Dir => marker_info(&found.node, place).ok(),
        Kind::File => {
            let h = found.node.handle().ok()?;
            let st = &found.node.st;
            fresh_meta(store, Target::Handle(&h), st, place).map(|m| ObjectInfo {
                size: st.len(),
                meta: m,
            })
        }
        _ => None,
    }
}

/// What `find` found, described: the quick way when the metadata is fresh,
/// else by opening it (and deriving what is stale).
fn info_of(store: &Store, found: Found, place: Place<'_>, name: &str) -> Result<ObjectInfo> {
    match found.node.kind() {
        Kind::File | Kind::Dir => {}
        _ => return Err(Error::NotFound),
    }
    match quick_info(store, &found, place) {
        Some(info) => Ok(info),
        None if found.node.kind() == Kind::Dir => Err(Error::NotFound),
        None => Ok(open_found(store, found, place, name)?.info),
    }
}

/// Metadata of an object without opening it when the stored metadata is
/// fresh (lookup, fstat, getxattr); otherwise it is opened and checked.
pub fn head(store: &Store, c: &ContainerLoc, name: &ObjPath) -> Result<ObjectInfo> {
    let loc = Loc::of(name);
    retry_stale(|| {
        let found = find(c, &loc.rel())?;
        info_of(store, found, loc.place(c), name)
    })
}

/// [`head`] of the entry `leaf` (a disk name) of `dir`, a directory of the
/// container met by a listing, named `name`. A symlink is looked up again
/// from the container, whose link policy decides.
pub(super) fn head_entry(
    store: &Store,
    c: &ContainerLoc,
    dir: &Dir,
    leaf: &str,
    name: &ObjPath,
) -> Result<ObjectInfo> {
    let place = Place {
        anchor: dir,
        parent: "",
        leaf,
    };
    let found = match dir.node(leaf, Follow::Never) {
        Ok(n) if n.kind() == Kind::Symlink => find(c, &name.disk_path())?,
        Ok(node) => Found {
            node,
            linked: false,
        },
        Err(e) => return Err(lookup_error(e)),
    };
    info_of(store, found, place, name)
}

/// The directories one write made, in order, with the directory each is
/// in: removed again (while empty) when the write fails, so a failed write
/// leaves no directory behind (a leftover `a/` would refuse an object `a`).
#[derive(Default)]
pub(super) struct Made(Vec<(Dir, String)>);

impl Made {
    pub fn undo(&mut self) {
        while let Some((parent, name)) = self.0.pop() {
            if parent.rmdir(&name).is_err() {
                self.0.clear();
            }
        }
    }
}

/// The conflict of a write whose parent `rel` (an object name) is a file.
fn clash_file_in_path(rel: &str) -> Error {
    Error::Conflict(format!(
        "An object named {rel:?} exists where this name needs a directory"
    ))
}

/// The conflict of a write that would go through, or over, something that
/// is not sofgate's to replace (a POSIX symlink, a mount, a FIFO, ...).
fn not_ours(rel: &str) -> Error {
    Error::Conflict(format!(
        "{rel:?} is a symlink or special file on the filesystem: it is left as it is"
    ))
}

/// Opens (creating as needed) the directories of `parent` (an object name)
/// beneath the container, never through a symlink: returns the last one
/// and what was made. An escaped (long) component gets its full name
/// recorded, also when it exists already (a crash may have come between
/// mkdir and that).
pub(super) fn make_parents(store: &Store, c: &ContainerLoc, parent: &str) -> Result<(Dir, Made)> {
    let mut cur = c.dir.clone();
    let mut made = Made::default();
    let mut end = 0;
    for comp in parent.split('/') {
        end += comp.len();
        let shown = &parent[..end];
        end += 1;
        let disk = name::disk_component(comp);
        let step = make_one(store, c, &cur, &disk, shown);
        let (dir, created) = match step {
            Ok(d) => d,
            Err(e) => {
                made.undo();
                return Err(e);
            }
        };
        if created {
            made.0.push((cur.clone(), disk.to_string()));
        }
        if disk.len() != comp.len() {
            let recorded = dir
                .handle()
                .map_err(Error::from)
                .and_then(|h| name::record_full_name(Target::Handle(&h), comp));
            if let Err(e) = recorded {
                made.undo();
                return Err(e);
            }
        }
        cur = dir;
    }
    Ok((cur, made))
}

/// Makes (if needed) and opens the directory `disk` in `cur`.
fn make_one(
    store: &Store,
    c: &ContainerLoc,
    cur: &Dir,
    disk: &str,
    shown: &str,
) -> Result<(Dir, bool)> {
    let mut tries = 0;
    loop {
        let created = match store.make_dir_in(cur, disk, &c.account) {
            Ok(b) => b,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Err(Error::NotFound),
            Err(e) => return Err(e.into()),
        };
        match cur.open_dir(disk) {
            Ok(d) => return Ok((d, created)),
            // Removed by a delete tidying up in between: make it again.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && tries < 3 => tries += 1,
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                return Err(match cur.stat_at(disk) {
                    Ok(st) if st.is_file() => clash_file_in_path(shown),
                    _ => not_ours(shown),
                })
            }
            Err(e) if is_refused(&e) => return Err(not_ours(shown)),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The directory an object's file goes in: opened (never through a
/// symlink), or made with its parents.
fn parent_dir(store: &Store, c: &ContainerLoc, name: &ObjPath) -> Result<(Dir, Made)> {
    let Some(parent) = name.parent() else {
        return Ok((c.dir.clone(), Made::default()));
    };
    match c.dir.open_dir(&name.disk_parent()) {
        Ok(d) => Ok((d, Made::default())),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => make_parents(store, c, parent),
        // A file, a symlink or a mount on the way: make_parents says which.
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) || is_refused(&e) => {
            make_parents(store, c, parent)
        }
        Err(e) => Err(e.into()),
    }
}

/// Refuses a write over what is at `leaf` in `dir` unless it is missing, a
/// regular file or a directory (a directory is refused by the rename).
fn check_replaceable(dir: &Dir, leaf: &str, name: &str) -> Result<()> {
    match dir.stat_at(leaf) {
        Ok(st) if matches!(st.kind(), Kind::Symlink | Kind::Other) => Err(not_ours(name)),
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Data hashed in the writing thread before MD5 moves to a thread of its
/// own: a thread costs more than hashing this much, and small objects never
/// need one.
const HASH_INLINE: u64 = 1 << 20;

/// Written data is handed to the disk in pieces this large as the upload
/// goes (`sync_file_range`), not all at the final fsync: writeback then
/// overlaps the transfer instead of following it.
const WRITEBACK_EVERY: u64 = 8 << 20;

/// The MD5 of what was written: computed in line, or by a thread of its own
/// that hashes one chunk while the writer writes the next (MD5 is about as
/// slow as a disk write here, so in turn the two took twice as long).
enum Hasher {
    Inline(Md5),
    Thread {
        /// Rendezvous: the hasher holds at most the chunk it is hashing.
        tx: std::sync::mpsc::SyncSender<bytes::Bytes>,
        done: std::thread::JoinHandle<Md5>,
    },
}

impl Hasher {
    fn update(&mut self, data: bytes::Bytes, total: u64) {
        if let Hasher::Inline(md5) = self {
            if total <= HASH_INLINE {
                md5.update(&data);
                return;
            }
            let mut state = md5.clone();
            let (tx, rx) = std::sync::mpsc::sync_channel::<bytes::Bytes>(0);
            let spawned = std::thread::Builder::new()
                .name("sofgate-md5".into())
                .spawn(move || {
                    for b in rx {
                        state.update(&b);
                    }
                    state
                });
            match spawned {
                Ok(done) => *self = Hasher::Thread { tx, done },
                // No thread to be had: hash in line after all.
                Err(_) => {
                    md5.update(&data);
                    return;
                }
            }
        }
        if let Hasher::Thread { tx, .. } = self {
            // The hasher only stops when `tx` is dropped.
            let _ = tx.send(data);
        }
    }

    fn finish(self) -> Md5 {
        match self {
            Hasher::Inline(md5) => md5,
            Hasher::Thread { tx, done } => {
                drop(tx);
                done.join().expect("MD5 thread does not panic")
            }
        }
    }
}

/// Streams a new object into a temp file; `commit` makes it visible at once.
/// Dropped without commit, it removes the temp file (and the directories
/// it made).
///
/// Holds the object's directory as an `O_PATH` anchor (no opendir) and,
/// when the directory is fsynced after the rename, that directory opened
/// for reading: each call on a network mount is a round trip.
pub struct Writer {
    dir: Dir,
    /// The directory opened for fsync (`fsync_dir`).
    sync: Option<File>,
    /// The directories this write created.
    made: Made,
    file: File,
    tmp: String,
    /// The disk name of the object's last component.
    leaf: String,
    /// The last component of the object's name.
    name: String,
    hasher: Hasher,
    size: u64,
    /// Data up to here is on its way to the disk already.
    flushed: u64,
    committed: bool,
    chunk: usize,
}

impl Writer {
    /// Creates a temp file in the object's directory (creating the
    /// directories as needed). A symlink or special file at the name, or on
    /// the way to it, is a conflict: it is left alone.
    pub fn create(store: &Store, c: &ContainerLoc, name: &ObjPath) -> Result<Writer> {
        let (dir, mut made) = parent_dir(store, c, name)?;
        let disk_leaf = name.disk_leaf().into_owned();
        let res = (|| {
            check_replaceable(&dir, &disk_leaf, name)?;
            let tmp = temp_name(&disk_leaf);
            let file = dir.create_file(&tmp, store.opts.file_mode)?;
            Ok((tmp, file))
        })();
        let (tmp, file) = match res {
            Ok(r) => r,
            Err(e) => {
                made.undo();
                return Err(e);
            }
        };
        let mut w = Writer {
            sync: None,
            dir,
            made,
            file,
            tmp,
            name: name.leaf().to_string(),
            leaf: disk_leaf,
            hasher: Hasher::Inline(Md5::new()),
            size: 0,
            flushed: 0,
            committed: false,
            chunk: store.opts.xattr_chunk,
        };
        if store.opts.fsync_dir {
            w.sync = Some(w.dir.open_read()?);
        }
        if let Some((uid, gid)) = store.owner_of(c.account()) {
            std::os::unix::fs::fchown(&w.file, Some(uid), Some(gid))?;
        }
        if w.leaf != w.name {
            // Before the metadata, which can move to a sidecar when the
            // xattrs run out of room; this cannot.
            name::record_full_name(Target::Fd(w.file.as_fd()), &w.name)?;
        }
        Ok(w)
    }

    /// Appends data, hashing it on the way.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.write_bytes(bytes::Bytes::copy_from_slice(data))
    }

    /// Appends data, hashing it on the way (past the first MiB, in parallel
    /// with the writes: the MD5 thread keeps its own reference to `data`).
    /// Returns once that thread has taken `data`, so it is done with every
    /// chunk handed over before.
    pub fn write_bytes(&mut self, data: bytes::Bytes) -> Result<()> {
        self.size += data.len() as u64;
        self.file.write_all(&data)?;
        self.hasher.update(data, self.size);
        if self.size - self.flushed >= WRITEBACK_EVERY {
            // Only a hint: where the filesystem has no such call, the final
            // fsync writes everything as before.
            // SAFETY: a plain system call on an fd this writer owns.
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    self.flushed as i64,
                    (self.size - self.flushed) as i64,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            self.flushed = self.size;
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Copies everything from `src` into the object.
    pub fn copy_from(&mut self, src: &mut impl Read) -> Result<()> {
        const BUF: u64 = 1 << 20;
        loop {
            let mut buf = Vec::with_capacity(BUF as usize);
            let n = src.take(BUF).read_to_end(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            self.write_bytes(bytes::Bytes::from(buf))?;
        }
    }

    /// Verifies the ETag, stores metadata on the fd, fsyncs, renames into
    /// place and (with `fsync_dir`) fsyncs the directory. `meta` gets ETag,
    /// length, type and timestamps filled in.
    pub fn commit(mut self, mut meta: Meta, expected_etag: Option<&str>) -> Result<ObjectInfo> {
        let hasher = std::mem::replace(&mut self.hasher, Hasher::Inline(Md5::new()));
        let etag = hex::encode(hasher.finish().finalize());
        if let Some(want) = expected_etag {
            if !want.eq_ignore_ascii_case(&etag) {
                return Err(Error::EtagMismatch);
            }
        }
        let ts = meta
            .get(keys::TIMESTAMP)
            .and_then(|t| meta::parse_timestamp(t))
            .unwrap_or_else(|| meta::parse_timestamp(&meta::now_timestamp()).unwrap_or(0.0));
        // Last-Modified and the file's mtime agree: set mtime to X-Timestamp.
        let ts_str = meta::normalize_timestamp(ts);
        let hundred_k = (ts * 100_000.0).round() as i64;
        let (secs, nanos) = (hundred_k / 100_000, (hundred_k % 100_000) * 10_000);
        let when = TimeSpec::new(secs, nanos);
        futimens(self.file.as_raw_fd(), &when, &when)?;
        meta.insert(keys::TIMESTAMP.into(), ts_str);
        meta.insert(keys::PUT_MTIME.into(), exact_mtime(secs, nanos));
        meta.insert(keys::ETAG.into(), etag);
        meta.insert(keys::CONTENT_LENGTH.into(), self.size.to_string());
        meta.insert(keys::TYPE.into(), "Object".into());
        meta.insert(keys::OBJECT_TYPE.into(), meta::OBJ_FILE.into());
        let place = Place {
            anchor: &self.dir,
            parent: "",
            leaf: &self.leaf,
        };
        sidecar::save(Target::Fd(self.file.as_fd()), place, &meta, self.chunk)?;
        self.file.sync_all()?;
        match self.dir.rename(&self.tmp, &self.dir, &self.leaf) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EISDIR) | Some(libc::ENOTEMPTY) | Some(libc::EEXIST)
                ) =>
            {
                return Err(Error::Conflict(format!(
                    "A directory named {:?} exists: an object cannot replace it",
                    self.name
                )))
            }
            Err(e) => return Err(e.into()),
        }
        self.committed = true;
        if let Some(d) = &self.sync {
            d.sync_all()?;
        }
        Ok(ObjectInfo {
            size: self.size,
            meta,
        })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.committed {
            let _ = self.dir.unlink(&self.tmp);
            self.made.undo();
        }
    }
}

/// Creates or updates a directory-marker object (a directory with metadata).
pub fn put_dir_marker(
    store: &Store,
    c: &ContainerLoc,
    name: &ObjPath,
    mut m: Meta,
) -> Result<ObjectInfo> {
    let (parent, mut made) = parent_dir(store, c, name)?;
    let leaf = name.disk_leaf();
    let res = (|| {
        let (dir, created) = make_one(store, c, &parent, &leaf, name.trimmed())?;
        if created {
            made.0.push((parent.clone(), leaf.to_string()));
        }
        let h = dir.handle()?;
        if leaf.len() != name.leaf().len() {
            name::record_full_name(Target::Handle(&h), name.leaf())?;
        }
        let ts = m
            .get(keys::TIMESTAMP)
            .cloned()
            .unwrap_or_else(meta::now_timestamp);
        m.insert(keys::TIMESTAMP.into(), ts);
        m.insert(keys::CONTENT_TYPE.into(), meta::DIR_CONTENT_TYPE.into());
        m.insert(keys::ETAG.into(), hex::encode(Md5::digest(b"")));
        m.insert(keys::CONTENT_LENGTH.into(), "0".into());
        m.insert(keys::TYPE.into(), "Object".into());
        m.insert(keys::OBJECT_TYPE.into(), meta::OBJ_MARKER_DIR.into());
        let place = Place {
            anchor: &parent,
            parent: "",
            leaf: &leaf,
        };
        sidecar::save(Target::Handle(&h), place, &m, store.opts.xattr_chunk)?;
        Ok(())
    })();
    if let Err(e) = res {
        made.undo();
        return Err(e);
    }
    Ok(ObjectInfo { size: 0, meta: m })
}

/// Looks an object up for a change: never through a symlink. A name that
/// is (or goes through) a POSIX symlink is not found, or, where the link
/// policy serves it, a read-only conflict.
fn find_for_write(c: &ContainerLoc, name: &ObjPath) -> Result<Found> {
    let rel = name.disk_path();
    let refused = match c.dir.node(&rel, Follow::Never) {
        Ok(n) if n.kind() == Kind::Symlink => true,
        Ok(n) if matches!(n.kind(), Kind::File | Kind::Dir) => {
            return Ok(Found {
                node: n,
                linked: false,
            })
        }
        Ok(_) => return Err(Error::NotFound),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => true,
        Err(e) => return Err(lookup_error(e)),
    };
    if refused && find(c, &rel).is_ok() {
        return Err(Error::Conflict(format!(
            "{:?} is a POSIX symlink: it is served read only",
            name.as_str()
        )));
    }
    Err(Error::NotFound)
}

/// Replaces an object's metadata with `f(old)`; the data is untouched. A
/// file with other names (a hard link) is refused unless it is object
/// versioning's own link of the current object and its version.
pub fn update_meta(
    store: &Store,
    c: &ContainerLoc,
    name: &ObjPath,
    f: impl FnOnce(&ObjectInfo) -> Meta,
) -> Result<ObjectInfo> {
    let loc = Loc::of(name);
    let place = loc.place(c);
    let found = find_for_write(c, name)?;
    if found.node.kind() == Kind::Dir {
        let info = marker_info(&found.node, place)?;
        let m = f(&info);
        let h = found.node.handle()?;
        sidecar::save(Target::Handle(&h), place, &m, store.opts.xattr_chunk)?;
        return Ok(ObjectInfo { size: 0, meta: m });
    }
    let file = found.node.open_read()?;
    let info = ObjectInfo {
        size: found.node.st.len(),
        meta: file_meta(store, &file, &found, place, name)?,
    };
    let st = found.node.st;
    if st.nlink() > 1 && !super::versions::is_own_version_link(c, name, &info, &st) {
        return Err(Error::Conflict(
            "The object's file has other names (hard links): its metadata cannot be changed".into(),
        ));
    }
    let m = f(&info);
    sidecar::save(Target::Fd(file.as_fd()), place, &m, store.opts.xattr_chunk)?;
    // This write moved ctime: no reason to check the content again.
    store.seen.forget(&st);
    Ok(ObjectInfo {
        size: info.size,
        meta: m,
    })
}

/// The directory an existing object is in, opened without following a
/// symlink; `NotFound` when there is none.
fn existing_parent(c: &ContainerLoc, name: &ObjPath) -> Result<Dir> {
    if name.parent().is_none() {
        return Ok(c.dir.clone());
    }
    c.dir.open_dir(&name.disk_parent()).map_err(lookup_error)
}

/// Deletes an object, then the empty implicit directories above it. Only
/// a regular file or a marker directory is removed: a symlink, FIFO,
/// socket or device at the name is no object (`NotFound`), left alone.
pub fn delete(c: &ContainerLoc, name: &ObjPath) -> Result<()> {
    let dir = existing_parent(c, name)?;
    let leaf = name.disk_leaf();
    let st = dir.stat_at(&leaf).map_err(lookup_error)?;
    match st.kind() {
        Kind::File => {
            dir.unlink(&leaf).map_err(lookup_error)?;
            sidecar::remove(&dir, &leaf);
        }
        Kind::Dir => {
            let d = dir.open_dir(&leaf).map_err(lookup_error)?;
            let place = Place {
                anchor: &dir,
                parent: "",
                leaf: &leaf,
            };
            let h = d.handle()?;
            let m = sidecar::load(Target::Handle(&h), place)?;
            if !m.as_ref().is_some_and(meta::is_marker) {
                return Err(Error::NotFound);
            }
            // The directory stays if it has children; it is no object any more.
            sidecar::remove(&dir, &leaf);
            if dir.rmdir(&leaf).is_err() {
                meta::clear(Target::Handle(&h))?;
                return Ok(());
            }
        }
        _ => return Err(Error::NotFound),
    }
    remove_empty_parents(c, name);
    Ok(())
}

/// Removes now-empty implicit parents of `name`, up to (not including) the
/// container; stops at a directory marker or a directory with children.
pub fn remove_empty_parents(c: &ContainerLoc, name: &ObjPath) {
    let Some(parent) = name.parent() else {
        return;
    };
    // The chain of directories down to the parent, each opened beneath the
    // one before.
    let mut chain = vec![(c.dir.clone(), String::new())];
    for comp in parent.split('/') {
        let disk = name::disk_component(comp).into_owned();
        let Some((last, _)) = chain.last() else {
            return;
        };
        match last.open_dir(&disk) {
            Ok(d) => chain.push((d, disk)),
            Err(_) => return,
        }
    }
    while chain.len() > 1 {
        let Some((d, disk)) = chain.pop() else {
            return;
        };
        let Some((up, _)) = chain.last() else {
            return;
        };
        let place = Place {
            anchor: up,
            parent: "",
            leaf: &disk,
        };
        let marker = d
            .handle()
            .ok()
            .and_then(|h| sidecar::load(Target::Handle(&h), place).ok().flatten())
            .is_some_and(|m| meta::is_marker(&m));
        if marker || up.rmdir(&disk).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_and_bounded() {
        let t = temp_name("photo.jpg");
        assert!(is_temp_name(&t), "{t}");
        assert!(t.starts_with(".photo.jpg."));
        let long = temp_name(&"é".repeat(127));
        assert!(long.len() <= name::NAME_MAX, "{}", long.len());
        assert!(is_temp_name(&long));
        // An escaped leaf keeps its whole disk name in its temp and sidecar
        // names, within NAME_MAX.
        let esc = name::disk_component(&"é".repeat(512)).into_owned();
        let t = temp_name(&esc);
        assert!(t.starts_with(&format!(".{esc}.")), "{t}");
        assert!(t.len() <= name::NAME_MAX && is_temp_name(&t), "{}", t.len());
        let sc = sidecar::sidecar_name(&esc);
        assert_eq!(sc, format!(".{esc}.sgmeta"));
        assert!(sc.len() <= name::NAME_MAX && is_internal_name(&sc));
        for n in [
            "photo.jpg",
            ".hidden",
            ".a.sgtmp",
            ".a.0123456789abcdeg.sgtmp",
        ] {
            assert!(!is_temp_name(n), "{n}");
        }
    }
}
