//! Objects as plain files: reads that take metadata from the open fd,
//! metadata updates, deletes that tidy up empty implicit parent
//! directories. Writes are in [`super::write`].
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
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use md5::{Digest, Md5};

use super::beneath::{is_refused, Dir, Follow, Kind, Node, Stat};
use super::meta::{self, keys, Meta};
use super::name::{self, ObjPath};
use super::sidecar::{self, Place};
use super::tombstone::Tomb;
use super::xattr::Target;
use super::{is_not_found, ContainerLoc, Error, Result, Store};

pub use super::name::{is_internal_name, is_temp_name};

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

/// True when stored metadata still describes the file as it is now (by
/// size and mtime; this node's memory of ctimes is [`super::seen`]).
pub fn is_fresh(m: &Meta, st: &Stat) -> bool {
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
pub(crate) fn exact_mtime(secs: i64, nanos: i64) -> String {
    format!("{secs}.{nanos:09}")
}

fn mtime_timestamp(st: &Stat) -> String {
    meta::normalize_timestamp(st.mtime_secs())
}

/// The MD5 (hex) and length of everything in `file`, read in 1 MiB pieces;
/// `pace` is told the size of each piece once it is read (rate limits,
/// progress).
pub fn md5_of(file: &File, pace: &mut dyn FnMut(u64)) -> io::Result<(String, u64)> {
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
        pace(n as u64);
    }
    Ok((hex::encode(md5.finalize()), off))
}

/// Builds metadata for a file that has none (or stale metadata): MD5 of the
/// content, type from the extension, timestamp from mtime. User metadata and
/// an explicit Content-Type already there are kept.
fn derive(
    file: &File,
    st: &Stat,
    name: &str,
    old: Option<Meta>,
    pace: &mut dyn FnMut(u64),
) -> Result<Meta> {
    let (etag, len) = md5_of(file, pace)?;
    let mut m = old.unwrap_or_default();
    let ts = mtime_timestamp(st);
    if !m.contains_key(keys::CONTENT_TYPE) {
        m.insert(keys::CONTENT_TYPE.into(), super::mime::guess(name));
    }
    m.insert(keys::ETAG.into(), etag);
    m.insert(keys::CONTENT_LENGTH.into(), len.to_string());
    m.insert(keys::TIMESTAMP.into(), ts);
    m.insert(
        keys::PUT_MTIME.into(),
        exact_mtime(st.mtime(), st.mtime_nsec()),
    );
    m.insert(keys::TYPE.into(), "Object".into());
    m.insert(keys::OBJECT_TYPE.into(), meta::OBJ_FILE.into());
    Ok(m)
}

/// Has the open file changed (size, mtime or ctime) since `st` was taken?
/// Metadata derived from a read that raced a change may not describe the
/// file, and is not stored.
pub fn changed_since(file: &File, st: &Stat) -> io::Result<bool> {
    let now = super::beneath::fstat(file.as_fd())?;
    Ok((
        now.len(),
        now.mtime(),
        now.mtime_nsec(),
        now.ctime(),
        now.ctime_nsec(),
    ) != (
        st.len(),
        st.mtime(),
        st.mtime_nsec(),
        st.ctime(),
        st.ctime_nsec(),
    ))
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
pub(crate) fn lookup_error(e: io::Error) -> Error {
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
    match c.dir.node(rel, Follow::Never) {
        Ok(n) if n.kind() != Kind::Symlink => {
            return Ok(Found {
                node: n,
                linked: false,
            })
        }
        // A symlink at the name (`Ok`) or on the way (`ELOOP`).
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {}
        Err(e) => return Err(lookup_error(e)),
    }
    if c.links != Follow::Beneath {
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

/// How the metadata of a file was had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    /// The stored metadata was fresh: the content was not read (or read
    /// and found the same).
    Fresh,
    /// Derived from the content and stored on the file.
    Stored,
    /// Derived but not stored: the file has other names, was reached
    /// through a symlink, or the filesystem refused the write.
    NotStored,
    /// The file changed while it was read: what was derived is not stored
    /// (and may not describe it).
    Changed,
}

/// What deriving metadata needs of the store: this node's memory of
/// ctimes and the xattr chunk size (a background thread holds these, not
/// the store).
#[derive(Clone, Copy)]
pub struct MetaCtx<'a> {
    pub seen: &'a super::seen::Seen,
    pub chunk: usize,
}

impl Store {
    pub fn meta_ctx(&self) -> MetaCtx<'_> {
        MetaCtx {
            seen: &self.seen,
            chunk: self.opts.xattr_chunk,
        }
    }
}

/// The metadata of the open regular file `file` (`st`: its stat when it
/// was found): the stored metadata when fresh, else derived from the
/// content (`pace` told of each piece read) and, when `may_store` and the
/// file did not change meanwhile, stored back with the same write as an
/// upload's metadata. User metadata already there is kept.
pub fn settle(
    ctx: MetaCtx<'_>,
    file: &File,
    st: &Stat,
    place: Place<'_>,
    name: &str,
    may_store: bool,
    pace: &mut dyn FnMut(u64),
) -> Result<(Meta, Derived)> {
    let stored = sidecar::load(Target::Fd(file.as_fd()), place)?;
    let fresh = stored.as_ref().is_some_and(|m| is_fresh(m, st));
    if fresh && ctx.seen.unchanged(st) {
        if let Some(m) = stored {
            return Ok((m, Derived::Fresh));
        }
    }
    let m = derive(file, st, name, stored.clone(), pace)?;
    if changed_since(file, st)? {
        return Ok((m, Derived::Changed));
    }
    if fresh {
        // Only ctime moved: if the content is the same, nothing to rewrite.
        if let Some(old) = stored.filter(|o| o.get(keys::ETAG) == m.get(keys::ETAG)) {
            ctx.seen.record(st);
            return Ok((old, Derived::Fresh));
        }
    }
    if !may_store {
        return Ok((m, Derived::NotStored));
    }
    // Storing it back is an optimisation only: a read-only mount still serves.
    if let Err(e) = sidecar::save(Target::Fd(file.as_fd()), place, &m, ctx.chunk) {
        tracing::debug!("could not store derived metadata for {name}: {e}");
        return Ok((m, Derived::NotStored));
    }
    ctx.seen.forget(st);
    Ok((m, Derived::Stored))
}

/// Reads (and repairs if needed) the metadata of an open regular file.
fn file_meta(
    store: &Store,
    file: &File,
    found: &Found,
    place: Place<'_>,
    name: &str,
) -> Result<Meta> {
    let may_store = found.may_store();
    let st = &found.node.st;
    let (m, _) = settle(
        store.meta_ctx(),
        file,
        st,
        place,
        name,
        may_store,
        &mut |_| {},
    )?;
    Ok(m)
}

/// For tools that go through a whole container (index, scrub, the
/// background hasher): makes the metadata of the regular file of `name`
/// fresh as a read would, and says how. Never through a symlink; a file
/// with other names (a hard link) is hashed but not written to.
pub fn refresh(
    ctx: MetaCtx<'_>,
    c: &ContainerLoc,
    name: &ObjPath,
    pace: &mut dyn FnMut(u64),
) -> Result<(ObjectInfo, Derived)> {
    let loc = Loc::of(name);
    let node = c
        .dir
        .node(&loc.rel(), Follow::Never)
        .map_err(lookup_error)?;
    if !node.st.is_file() {
        return Err(Error::NotFound);
    }
    let file = node.open_read().map_err(lookup_error)?;
    let may_store = node.st.nlink() <= 1;
    let (meta, how) = settle(ctx, &file, &node.st, loc.place(c), name, may_store, pace)?;
    let size = match how {
        Derived::Changed => super::beneath::fstat(file.as_fd())?.len(),
        _ => node.st.len(),
    };
    Ok((ObjectInfo { size, meta }, how))
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
/// rename left this client a stale handle): the name `rel` of `c` is
/// revalidated and looked up afresh, a few times.
fn retry_stale<T>(c: &ContainerLoc, rel: &str, mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let mut tries = 0;
    loop {
        match f() {
            Err(Error::Io(e)) if e.raw_os_error() == Some(libc::ESTALE) && tries < 3 => {
                tries += 1;
                c.dir.revalidate(rel);
            }
            other => return other,
        }
    }
}

/// Opens an object for reading. Directories are objects only when marked.
pub fn open(store: &Store, c: &ContainerLoc, name: &ObjPath) -> Result<OpenObject> {
    let loc = Loc::of(name);
    let rel = loc.rel();
    retry_stale(c, &rel, || {
        let found = find(c, &rel)?;
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
    let rel = loc.rel();
    retry_stale(c, &rel, || {
        let found = find(c, &rel)?;
        info_of(store, found, loc.place(c), name)
    })
}

/// What a listing shows of one file.
pub(super) enum Listed {
    Known(ObjectInfo),
    /// Not hashed: over the page's budget. Its size and time from its
    /// stat, no ETag; `queue` when the background hasher may store
    /// metadata on it (not a hard link, not through a symlink).
    Unhashed {
        info: ObjectInfo,
        queue: bool,
    },
}

/// [`head`] of the entry `leaf` (a disk name) of `dir`, a directory of the
/// container met by a listing, named `name`. A symlink is looked up again
/// from the container, whose link policy decides. A file whose metadata
/// must be derived is hashed only while `budget` allows.
pub(super) fn head_entry(
    store: &Store,
    c: &ContainerLoc,
    dir: &Dir,
    leaf: &str,
    name: &ObjPath,
    mut budget: Option<&mut super::Budget>,
) -> Result<Listed> {
    let mut tries = 0;
    loop {
        match entry_once(store, c, dir, leaf, name, budget.as_deref_mut()) {
            Err(Error::Io(e)) if e.raw_os_error() == Some(libc::ESTALE) && tries < 3 => {
                tries += 1;
                dir.revalidate(leaf);
            }
            other => return other,
        }
    }
}

/// One try of [`head_entry`]; ESTALE means a handle went stale on the way
/// (another node replaced the file), and the entry is to be looked up again.
fn entry_once(
    store: &Store,
    c: &ContainerLoc,
    dir: &Dir,
    leaf: &str,
    name: &ObjPath,
    budget: Option<&mut super::Budget>,
) -> Result<Listed> {
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
    match found.node.kind() {
        Kind::File | Kind::Dir => {}
        _ => return Err(Error::NotFound),
    }
    if let Some(info) = quick_info(store, &found, place) {
        return Ok(Listed::Known(info));
    }
    if found.node.kind() == Kind::Dir {
        return Err(Error::NotFound);
    }
    let st = found.node.st;
    if let Some(b) = budget {
        if !b.take(st.len()) {
            // The Content-Type a client gave survives until it is hashed. A
            // stale handle may have hidden fresh metadata: looked up again.
            let stored = match found.node.handle() {
                Ok(h) => match sidecar::load(Target::Handle(&h), place) {
                    Err(e) if e.raw_os_error() == Some(libc::ESTALE) => return Err(e.into()),
                    r => r.ok().flatten(),
                },
                Err(_) => None,
            };
            let mut info = unreadable_info(name, &st);
            if let Some(ct) = stored.and_then(|mut m| m.remove(keys::CONTENT_TYPE)) {
                info.meta.insert(keys::CONTENT_TYPE.into(), ct);
            }
            return Ok(Listed::Unhashed {
                info,
                queue: found.may_store(),
            });
        }
    }
    Ok(Listed::Known(open_found(store, found, place, name)?.info))
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
    if st.nlink() > 1 && !is_own_version_link(c, name, &info, &st) {
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

/// Is the file `st` (the object `name` of `c`, with `info`) object
/// versioning's own pair: the current object and its newest version, and
/// nothing else? Only then may metadata be written to a file with two names.
fn is_own_version_link(c: &ContainerLoc, name: &ObjPath, info: &ObjectInfo, st: &Stat) -> bool {
    let Some(vid) = info.meta.get(keys::VERSION_ID) else {
        return false;
    };
    if st.nlink() != 2 || c.is_hidden() {
        return false;
    }
    let rel = match name.child(vid) {
        Ok(v) => v.disk_path(),
        Err(_) => return false,
    };
    let Ok(acct) = c
        .root
        .open_dir(&format!("{}/{}", c.account, name::VERSIONS_DIR))
    else {
        return false;
    };
    let Ok(h) = acct.open_dir(&c.name) else {
        return false;
    };
    h.node(&rel, Follow::Never)
        .is_ok_and(|v| v.st.is_file() && (v.st.dev(), v.st.ino()) == (st.dev(), st.ino()))
}

/// Deletes an object, then the empty implicit directories above it. Only
/// a regular file or a marker directory is removed: a symlink, FIFO,
/// socket or device at the name is no object (`NotFound`), left alone.
/// Nothing is compared or recorded: for sofgate's own moves and undos; a
/// client's DELETE is [`delete_as_of`].
pub fn delete(c: &ContainerLoc, name: &ObjPath) -> Result<()> {
    delete_with(c, name, None)
}

/// [`delete`] for a DELETE that arrived at `ts` (seconds): with
/// `[storage] newest_wins` and tombstones on, a file whose object began at
/// or after `ts` stays ([`Error::Newer`]), and the DELETE is recorded so
/// that a write begun before it does not bring the object back (see
/// [`super::newest`]).
pub fn delete_as_of(store: &Store, c: &ContainerLoc, name: &ObjPath, ts: f64) -> Result<()> {
    delete_with(c, name, Some((store, ts)))
}

fn delete_with(c: &ContainerLoc, name: &ObjPath, as_of: Option<(&Store, f64)>) -> Result<()> {
    let dir = existing_parent(c, name)?;
    let leaf = name.disk_leaf();
    let st = dir.stat_at(&leaf).map_err(lookup_error)?;
    match st.kind() {
        Kind::File => {
            let remove = || -> Result<()> {
                dir.unlink(&leaf).map_err(lookup_error)?;
                sidecar::remove(&dir, &leaf);
                Ok(())
            };
            let tomb = as_of.and_then(|(store, ts)| Some((store, ts, Tomb::of(store, c, name)?)));
            match tomb {
                Some((store, ts, tomb)) => {
                    super::newest::delete_in_place(store, &dir, &leaf, ts, &tomb, remove)?
                }
                None => remove()?,
            }
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
