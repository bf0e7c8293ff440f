//! Objects as plain files: atomic writes through a temp file in the target
//! directory, reads that take metadata from the open fd, deletes that tidy up
//! empty implicit parent directories.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::{futimens, Mode};
use nix::sys::time::TimeSpec;
use nix::unistd::{unlinkat, UnlinkatFlags};

use super::meta::{self, keys, Meta};
use super::sidecar;
use super::xattr::Target;
use super::{is_not_found, name, ContainerLoc, Error, Result, Store};

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

/// An object opened for reading: the fd and its metadata.
pub struct OpenObject {
    pub file: File,
    pub info: ObjectInfo,
}

/// True when stored metadata still describes the file as it is now.
fn is_fresh(m: &Meta, st: &std::fs::Metadata) -> bool {
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

fn mtime_timestamp(st: &std::fs::Metadata) -> String {
    meta::normalize_timestamp(st.mtime() as f64 + st.mtime_nsec() as f64 / 1e9)
}

/// Builds metadata for a file that has none (or stale metadata): MD5 of the
/// content, type from the extension, timestamp from mtime. User metadata and
/// an explicit Content-Type already there are kept.
fn derive(file: &File, st: &std::fs::Metadata, rel: &str, old: Option<Meta>) -> Result<Meta> {
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
        m.insert(keys::CONTENT_TYPE.into(), super::mime::guess(rel));
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

/// Reads (and repairs if needed) the metadata of an open regular file.
fn file_meta(
    store: &Store,
    file: &File,
    st: &std::fs::Metadata,
    path: &Path,
    rel: &str,
) -> Result<Meta> {
    let stored = sidecar::load(Target::Fd(file.as_fd()), path)?;
    let fresh = stored.as_ref().is_some_and(|m| is_fresh(m, st));
    if fresh && store.seen.unchanged(st) {
        return Ok(stored.unwrap());
    }
    let m = derive(file, st, rel, stored.clone())?;
    if fresh {
        // Only ctime moved: if the content is the same, nothing to rewrite.
        let old = stored.unwrap();
        if old.get(keys::ETAG) == m.get(keys::ETAG) {
            store.seen.record(st);
            return Ok(old);
        }
    }
    // Storing it back is an optimisation only: a read-only mount still serves.
    if let Err(e) = sidecar::save(Target::Fd(file.as_fd()), path, &m, store.opts.xattr_chunk) {
        tracing::debug!("could not store derived metadata for {rel}: {e}");
    }
    store.seen.forget(st);
    Ok(m)
}

/// Opens an object for reading. Directories are objects only when marked.
///
/// On a network filesystem another node's rename can leave this client with
/// a stale handle (ESTALE); the name is looked up afresh, a few times.
pub fn open(store: &Store, c: &ContainerLoc, rel: &str) -> Result<OpenObject> {
    let mut tries = 0;
    loop {
        match open_once(store, c, rel) {
            Err(Error::Io(e)) if e.raw_os_error() == Some(libc::ESTALE) && tries < 3 => {
                tries += 1;
            }
            other => return other,
        }
    }
}

fn open_once(store: &Store, c: &ContainerLoc, rel: &str) -> Result<OpenObject> {
    let path = name::join(&c.dir, rel);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if is_not_found(&e) => return Err(Error::NotFound),
        Err(e) => return Err(e.into()),
    };
    let st = file.metadata()?;
    if st.is_dir() {
        return match sidecar::load(Target::Fd(file.as_fd()), &path)? {
            Some(m) if meta::is_marker(&m) => Ok(OpenObject {
                file,
                info: ObjectInfo { size: 0, meta: m },
            }),
            _ => Err(Error::NotFound),
        };
    }
    if !st.is_file() {
        return Err(Error::NotFound);
    }
    let meta = file_meta(store, &file, &st, &path, rel)?;
    Ok(OpenObject {
        info: ObjectInfo {
            size: st.len(),
            meta,
        },
        file,
    })
}

/// [`open`] when it takes nothing but open, fstat and the metadata read (a
/// regular file whose stored metadata is fresh): `Ok(None)` when the slow
/// path must decide (metadata to derive from the content, a directory, a
/// stale handle). Cheap enough to run on an async worker.
pub fn open_quick(store: &Store, c: &ContainerLoc, rel: &str) -> Result<Option<OpenObject>> {
    let path = name::join(&c.dir, rel);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if is_not_found(&e) => return Err(Error::NotFound),
        Err(_) => return Ok(None),
    };
    let Ok(st) = file.metadata() else {
        return Ok(None);
    };
    if !st.is_file() {
        return Ok(None);
    }
    match sidecar::load(Target::Fd(file.as_fd()), &path) {
        Ok(Some(m)) if is_fresh(&m, &st) && store.seen.unchanged(&st) => Ok(Some(OpenObject {
            info: ObjectInfo {
                size: st.len(),
                meta: m,
            },
            file,
        })),
        _ => Ok(None),
    }
}

/// [`head`] when the stored metadata is fresh (getxattr, stat): `Ok(None)`
/// when the slow path must decide. Cheap enough to run on an async worker.
pub fn head_quick(store: &Store, c: &ContainerLoc, rel: &str) -> Result<Option<ObjectInfo>> {
    let path = name::join(&c.dir, rel);
    match sidecar::load(Target::Path(&path), &path) {
        Ok(Some(m)) => match std::fs::metadata(&path) {
            Ok(st) if st.is_file() && is_fresh(&m, &st) && store.seen.unchanged(&st) => {
                Ok(Some(ObjectInfo {
                    size: st.len(),
                    meta: m,
                }))
            }
            Err(e) if is_not_found(&e) => Err(Error::NotFound),
            _ => Ok(None),
        },
        Err(e) if is_not_found(&e) => Err(Error::NotFound),
        _ => Ok(None),
    }
}

/// Metadata of an object without opening it when the stored metadata is fresh
/// (two calls: getxattr, stat); otherwise falls back to [`open`].
pub fn head(store: &Store, c: &ContainerLoc, rel: &str) -> Result<ObjectInfo> {
    match head_quick(store, c, rel)? {
        Some(info) => Ok(info),
        // Anything else (stale, a directory, no metadata, ESTALE): the slow path decides.
        None => open(store, c, rel).map(|o| o.info),
    }
}

/// Opens a directory: for reading (and fsync), or with `O_PATH` as a mere
/// anchor for `*at` calls, which on FUSE and network mounts costs a lookup
/// but no opendir / releasedir round trips.
fn open_dir(path: &Path, anchor_only: bool) -> io::Result<OwnedFd> {
    let how = if anchor_only {
        OFlag::O_PATH
    } else {
        OFlag::O_RDONLY
    };
    let fd = nix::fcntl::open(
        path,
        how | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: `open` just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates the directories of `parent` (relative to the container), failing
/// with a conflict when a file stands where a directory must be. Returns the
/// shallowest directory it created, if any. An escaped (long) component gets
/// its full name recorded, also when it exists already (a crash may have
/// come between mkdir and that).
pub(super) fn make_parents(
    store: &Store,
    c: &ContainerLoc,
    parent: &str,
) -> Result<Option<PathBuf>> {
    let mut p = c.dir.clone();
    let mut made = None;
    let account = c.account();
    let mut end = 0;
    for comp in parent.split('/') {
        end += comp.len();
        let shown = &parent[..end];
        end += 1;
        let disk = name::disk_component(comp);
        p.push(&*disk);
        match store.make_dir(&p, account) {
            Ok(true) => {
                made.get_or_insert_with(|| p.clone());
            }
            Ok(false) => {
                if !std::fs::metadata(&p).map(|m| m.is_dir()).unwrap_or(false) {
                    return Err(clash_file_in_path(shown));
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                return Err(clash_file_in_path(shown))
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Err(Error::NotFound),
            Err(e) => return Err(e.into()),
        }
        if matches!(disk, std::borrow::Cow::Owned(_)) {
            if let Err(e) = name::record_full_name(Target::Path(&p), comp) {
                if let Some(top) = &made {
                    remove_made_dirs(&p, top);
                }
                return Err(e);
            }
        }
    }
    Ok(made)
}

/// Removes `dir` and its parents up to `top` while they are empty: the
/// directories a failed write made must not outlive it (a leftover `a/`
/// would refuse a later object `a`).
fn remove_made_dirs(dir: &Path, top: &Path) {
    let mut p = dir;
    while std::fs::remove_dir(p).is_ok() && p != top {
        match p.parent() {
            Some(parent) => p = parent,
            None => return,
        }
    }
}

/// The conflict of a write whose parent `rel` (an object name) is a file.
fn clash_file_in_path(rel: &str) -> Error {
    Error::Conflict(format!(
        "An object named {rel:?} exists where this name needs a directory"
    ))
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
/// Dropped without commit, it removes the temp file.
///
/// Holds the directory as an `O_PATH` anchor (one lookup, no opendir)
/// unless it is fsynced after the rename: each call on a network mount is a
/// round trip.
pub struct Writer {
    dir: OwnedFd,
    dir_path: PathBuf,
    /// The shallowest parent directory this write created.
    made: Option<PathBuf>,
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
    fsync_dir: bool,
    chunk: usize,
}

impl Writer {
    /// Creates a temp file in the object's directory (creating the
    /// directories as needed).
    pub fn create(store: &Store, c: &ContainerLoc, rel: &str) -> Result<Writer> {
        let (parent, leaf) = match rel.rsplit_once('/') {
            Some((p, l)) => (Some(p), l),
            None => (None, rel),
        };
        let dir_path: PathBuf = match parent {
            Some(p) => name::join(&c.dir, p),
            None => c.dir.clone(),
        };
        let mut tries = 0;
        let mut made = None;
        let dir = loop {
            match open_dir(&dir_path, !store.opts.fsync_dir) {
                Ok(fd) => break fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) && tries < 3 => {
                    tries += 1;
                    if !c.dir.is_dir() {
                        return Err(Error::NotFound);
                    }
                    if let Some(p) = parent {
                        made = made.or(make_parents(store, c, p)?);
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                    return Err(clash_file_in_path(parent.unwrap_or_default()));
                }
                Err(e) => return Err(e.into()),
            }
        };
        let disk_leaf = name::disk_component(leaf);
        let tmp = temp_name(&disk_leaf);
        let fd = match openat(
            Some(dir.as_raw_fd()),
            tmp.as_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(store.opts.file_mode),
        ) {
            Ok(fd) => fd,
            Err(e) => {
                if let Some(top) = &made {
                    remove_made_dirs(&dir_path, top);
                }
                return Err(e.into());
            }
        };
        // SAFETY: `openat` just returned this fd and nothing else owns it.
        let file = unsafe { File::from_raw_fd(fd) };
        let w = Writer {
            dir,
            dir_path,
            made,
            file,
            tmp,
            leaf: disk_leaf.into_owned(),
            name: leaf.to_string(),
            hasher: Hasher::Inline(Md5::new()),
            size: 0,
            flushed: 0,
            committed: false,
            fsync_dir: store.opts.fsync_dir,
            chunk: store.opts.xattr_chunk,
        };
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
        let target = self.dir_path.join(&self.leaf);
        sidecar::save(Target::Fd(self.file.as_fd()), &target, &meta, self.chunk)?;
        self.file.sync_all()?;
        match renameat(
            Some(self.dir.as_raw_fd()),
            self.tmp.as_str(),
            Some(self.dir.as_raw_fd()),
            self.leaf.as_str(),
        ) {
            Ok(()) => {}
            Err(nix::Error::EISDIR) | Err(nix::Error::ENOTEMPTY) | Err(nix::Error::EEXIST) => {
                return Err(Error::Conflict(format!(
                    "A directory named {:?} exists: an object cannot replace it",
                    self.name
                )))
            }
            Err(e) => return Err(e.into()),
        }
        self.committed = true;
        if self.fsync_dir {
            nix::unistd::fsync(self.dir.as_raw_fd())?;
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
            let _ = unlinkat(
                Some(self.dir.as_raw_fd()),
                self.tmp.as_str(),
                UnlinkatFlags::NoRemoveDir,
            );
            if let Some(top) = &self.made {
                remove_made_dirs(&self.dir_path, top);
            }
        }
    }
}

/// Creates or updates a directory-marker object (a directory with metadata).
pub fn put_dir_marker(
    store: &Store,
    c: &ContainerLoc,
    rel: &str,
    mut m: Meta,
) -> Result<ObjectInfo> {
    let rel = rel.trim_end_matches('/');
    if !c.dir.is_dir() {
        return Err(Error::NotFound);
    }
    let made = make_parents(store, c, rel)?;
    let path = name::join(&c.dir, rel);
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
    if let Err(e) = sidecar::save(Target::Path(&path), &path, &m, store.opts.xattr_chunk) {
        if let Some(top) = &made {
            remove_made_dirs(&path, top);
        }
        return Err(e.into());
    }
    Ok(ObjectInfo { size: 0, meta: m })
}

/// Replaces an object's metadata with `f(old)`; the data is untouched.
pub fn update_meta(
    store: &Store,
    c: &ContainerLoc,
    rel: &str,
    f: impl FnOnce(&ObjectInfo) -> Meta,
) -> Result<ObjectInfo> {
    let obj = open(store, c, rel)?;
    let m = f(&obj.info);
    let path = name::join(&c.dir, rel);
    sidecar::save(
        Target::Fd(obj.file.as_fd()),
        &path,
        &m,
        store.opts.xattr_chunk,
    )?;
    // This write moved ctime: no reason to check the content again.
    if let Ok(st) = obj.file.metadata() {
        store.seen.forget(&st);
    }
    Ok(ObjectInfo {
        size: obj.info.size,
        meta: m,
    })
}

/// Deletes an object, then the empty implicit directories above it.
pub fn delete(c: &ContainerLoc, rel: &str) -> Result<()> {
    let rel = rel.trim_end_matches('/');
    let path = name::join(&c.dir, rel);
    // One walk to the directory for both unlinks (the object's and that of
    // a sidecar it may have): a walk is a round trip per level on FUSE and
    // network mounts, where a sidecar-less object's second unlink costs
    // just the one failed lookup of its name.
    let (dir, leaf) = match (path.parent(), path.file_name()) {
        (Some(d), Some(l)) => (d, l),
        _ => return Err(Error::NotFound),
    };
    let anchor = match open_dir(dir, true) {
        Ok(fd) => fd,
        Err(e) if is_not_found(&e) => return Err(Error::NotFound),
        Err(e) => return Err(e.into()),
    };
    match unlinkat(Some(anchor.as_raw_fd()), leaf, UnlinkatFlags::NoRemoveDir) {
        Ok(()) => {
            if let Some(sc) = sidecar::sidecar_path(&path) {
                if let Some(n) = sc.file_name() {
                    let _ = unlinkat(Some(anchor.as_raw_fd()), n, UnlinkatFlags::NoRemoveDir);
                }
            }
        }
        Err(nix::Error::ENOENT) | Err(nix::Error::ENOTDIR) => return Err(Error::NotFound),
        Err(nix::Error::EISDIR) | Err(nix::Error::EPERM) => {
            let m = sidecar::load(Target::Path(&path), &path)?;
            if !m.as_ref().is_some_and(meta::is_marker) {
                return Err(Error::NotFound);
            }
            // The directory stays if it has children; it is no object any more.
            sidecar::remove(&path);
            match std::fs::remove_dir(&path) {
                Ok(()) => {}
                Err(_) => {
                    meta::clear(Target::Path(&path))?;
                    return Ok(());
                }
            }
        }
        Err(e) => return Err(e.into()),
    }
    remove_empty_parents(c, rel);
    Ok(())
}

/// Removes now-empty implicit parents of `rel`, up to (not including) the
/// container; stops at a directory marker or a directory with children.
pub fn remove_empty_parents(c: &ContainerLoc, rel: &str) {
    let mut rest = rel;
    while let Some((parent, _)) = rest.rsplit_once('/') {
        let p = name::join(&c.dir, parent);
        let marker = sidecar::load(Target::Path(&p), &p)
            .ok()
            .flatten()
            .is_some_and(|m| meta::is_marker(&m));
        if marker || std::fs::remove_dir(&p).is_err() {
            return;
        }
        rest = parent;
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
        let sc = sidecar::sidecar_path(&Path::new("/d").join(&esc)).unwrap();
        let sc = sc.file_name().unwrap().to_str().unwrap();
        assert_eq!(sc, format!(".{esc}.sgmeta"));
        assert!(sc.len() <= name::NAME_MAX && is_internal_name(sc));
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
