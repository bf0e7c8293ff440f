//! Writing objects: a new object streams into a temp file in its
//! directory (made as needed, never through a symlink), gets its metadata
//! on the fd, is fsynced and renamed into place. A reader sees the old
//! object or the new one; a failed write leaves nothing behind, not even
//! the directories it made.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};

use md5::{Digest, Md5};
use nix::sys::stat::futimens;
use nix::sys::time::TimeSpec;

use super::beneath::{is_refused, Dir, Kind};
use super::meta::{self, keys, Meta};
use super::name::{self, temp_name, ObjPath};
use super::newest::not_ours;
pub use super::newest::Condition;
use super::object::{exact_mtime, ObjectInfo};
use super::sidecar::{self, Place};
use super::xattr::Target;
use super::{is_not_found, ContainerLoc, Error, Result, Store};

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

/// How much one write of a batch takes: FUSE's usual largest request
/// (`max_write`, 128 KiB), so a FUSE or network filesystem gets as few
/// requests as it can take, while the MD5 thread still hashes beside them.
const WRITE_GROUP: usize = 128 << 10;

/// Writes all of `pieces` at the file's position, in as few `writev` calls
/// as the kernel takes them.
fn write_all_vectored(file: &File, pieces: &[bytes::Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<std::io::IoSlice<'_>> = pieces
        .iter()
        .filter(|b| !b.is_empty())
        .map(|b| std::io::IoSlice::new(b))
        .collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match (&mut &*file).write_vectored(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => std::io::IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
                // The thread only hashes; were it to panic, the panic goes on here.
                done.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
            }
        }
    }
}

/// Copies `len` bytes of `src` from `offset` to `dst` at its file position.
fn copy_file_range_all(src: &File, offset: u64, dst: &File, len: u64) -> Result<()> {
    let mut off = offset as libc::loff_t;
    let mut left = len;
    while left > 0 {
        let chunk = left.min(1 << 30) as usize;
        // SAFETY: both fds are open for the call; `off` is a valid pointer
        // and the output offset is the file's own (null).
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut off,
                dst.as_raw_fd(),
                std::ptr::null_mut(),
                chunk,
                0,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EXDEV | libc::ENOSYS | libc::EOPNOTSUPP | libc::EINVAL) => {
                    copy_by_read(src, off as u64, dst, left)
                }
                _ => Err(e.into()),
            };
        }
        if n == 0 {
            return Err(Error::Truncated);
        }
        left -= n as u64;
    }
    Ok(())
}

/// [`copy_file_range_all`] the plain way, where the kernel has no such call.
fn copy_by_read(src: &File, offset: u64, mut dst: &File, len: u64) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0;
    while done < len {
        let want = (len - done).min(buf.len() as u64) as usize;
        let n = src.read_at(&mut buf[..want], offset + done)?;
        if n == 0 {
            return Err(Error::Truncated);
        }
        dst.write_all(&buf[..n])?;
        done += n as u64;
    }
    Ok(())
}

/// Reads `len` bytes of `src` from `offset` into `hasher` (the object's
/// bytes before these: `base`).
fn hash_range(src: &File, offset: u64, len: u64, hasher: &mut Hasher, base: u64) -> Result<()> {
    use std::os::unix::fs::FileExt;
    const CHUNK: usize = 1 << 20;
    let mut done = 0;
    while done < len {
        let want = (len - done).min(CHUNK as u64) as usize;
        let mut buf = vec![0u8; want];
        let mut got = 0;
        while got < want {
            let n = src.read_at(&mut buf[got..], offset + done + got as u64)?;
            if n == 0 {
                return Err(Error::Truncated);
            }
            got += n;
        }
        done += want as u64;
        hasher.update(bytes::Bytes::from(buf), base + done);
    }
    Ok(())
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
    /// The MD5 of the data once [`Writer::etag`] has finished the hash.
    etag: Option<String>,
    size: u64,
    /// Data up to here is on its way to the disk already.
    flushed: u64,
    committed: bool,
    chunk: usize,
    /// `commit` refuses to replace what is at the name by then.
    no_replace: bool,
    /// `commit` replaces only an object older than this write.
    newest_wins: bool,
    /// Where a DELETE of the name is recorded: `commit` creates no object
    /// that one arrived after this write began.
    tomb: Option<super::tombstone::Tomb>,
    /// `commit` replaces only an object that meets this.
    only_if: Option<Condition>,
    /// The device's [`super::Policy::no_rename_noreplace`].
    no_rename_noreplace: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Writer {
    /// Creates a temp file in the object's directory (creating the
    /// directories as needed). A symlink or special file on the way to the
    /// name is a conflict, and one at the name too (here, or with
    /// newest-wins at the commit): it is left alone.
    pub fn create(store: &Store, c: &ContainerLoc, name: &ObjPath) -> Result<Writer> {
        let (dir, mut made) = parent_dir(store, c, name)?;
        let disk_leaf = name.disk_leaf().into_owned();
        let res = (|| {
            // With newest-wins the commit looks at the name under its lock
            // anyway, and leaves such a file alone then: one lookup less.
            if !store.opts.newest_wins {
                check_replaceable(&dir, &disk_leaf, name)?;
            }
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
            etag: None,
            size: 0,
            flushed: 0,
            committed: false,
            chunk: store.opts.xattr_chunk,
            no_replace: false,
            newest_wins: store.opts.newest_wins,
            tomb: super::tombstone::Tomb::of(store, c, name),
            only_if: None,
            no_rename_noreplace: store.policies[c.policy].no_rename_noreplace.clone(),
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

    /// With `on`, [`Writer::commit`] fails with [`Error::Exists`] when
    /// anything is at the name by then, instead of replacing it: one atomic
    /// step on the filesystem, so of several nodes creating one name at once
    /// exactly one succeeds (`If-None-Match: *`).
    pub fn no_replace(mut self, on: bool) -> Self {
        self.no_replace = on;
        self
    }

    /// [`Writer::commit`] puts the object in place only when what is at
    /// the name by then meets `check` (S3's `If-Match`): checked under the
    /// lock the replaced file's writers take, so of several nodes replacing
    /// one object on the same condition, each sees the object the one
    /// before it put there. Not with [`Writer::no_replace`].
    pub fn only_if(&mut self, check: Condition) {
        self.only_if = Some(check);
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
        self.write_group(vec![data])
    }

    /// Appends the pieces of a batch in writes of about [`WRITE_GROUP`]
    /// bytes (one `writev` each), hashing them on the way as
    /// [`Writer::write_bytes`]: each group's last piece is handed to the
    /// hasher after its write, the others before it, so the MD5 thread
    /// hashes while the write goes on. A network or FUSE filesystem gets
    /// one request per group instead of one per piece.
    pub fn write_batch(&mut self, batch: Vec<bytes::Bytes>) -> Result<()> {
        let (mut group, mut len) = (Vec::new(), 0);
        for data in batch {
            len += data.len();
            group.push(data);
            if len >= WRITE_GROUP {
                self.write_group(std::mem::take(&mut group))?;
                len = 0;
            }
        }
        self.write_group(group)
    }

    fn write_group(&mut self, group: Vec<bytes::Bytes>) -> Result<()> {
        debug_assert!(
            self.etag.is_none(),
            "data written after the hash was finished"
        );
        let Some((last, before)) = group.split_last() else {
            return Ok(());
        };
        for data in before {
            self.size += data.len() as u64;
            self.hasher.update(data.clone(), self.size);
        }
        write_all_vectored(&self.file, &group)?;
        self.size += last.len() as u64;
        self.hasher.update(last.clone(), self.size);
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

    /// Appends `len` bytes of `src` from `offset` with `copy_file_range(2)`:
    /// the kernel moves the data (a reflink where the filesystem shares
    /// blocks, as XFS and btrfs do; a copy in the kernel elsewhere; a read
    /// and write where it has no such call). Meanwhile this thread reads
    /// the same bytes for the MD5, so the object's ETag is its true MD5 as
    /// for any other write. A source shorter than that is [`Error::Truncated`].
    pub fn copy_range(&mut self, src: &File, offset: u64, len: u64) -> Result<()> {
        let (file, hasher, base) = (&self.file, &mut self.hasher, self.size);
        std::thread::scope(|s| {
            let copy = s.spawn(|| copy_file_range_all(src, offset, file, len));
            let hashed = hash_range(src, offset, len, hasher, base);
            let copied = copy.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            copied.and(hashed)
        })?;
        self.size += len;
        Ok(())
    }

    /// The MD5 of the data written, in hex: the hash is finished, so all
    /// data must be written first.
    pub fn etag(&mut self) -> String {
        if let Some(e) = &self.etag {
            return e.clone();
        }
        let hasher = std::mem::replace(&mut self.hasher, Hasher::Inline(Md5::new()));
        let e = hex::encode(hasher.finish().finalize());
        self.etag = Some(e.clone());
        e
    }

    /// Verifies the ETag, stores metadata on the fd, fsyncs, renames into
    /// place and (with `fsync_dir`) fsyncs the directory. `meta` gets ETag,
    /// length, type and timestamps filled in.
    pub fn commit(mut self, mut meta: Meta, expected_etag: Option<&str>) -> Result<ObjectInfo> {
        let etag = self.etag();
        if let Some(want) = expected_etag {
            if !want.eq_ignore_ascii_case(&etag) {
                return Err(Error::EtagMismatch);
            }
        }
        let ts = meta
            .get(keys::TIMESTAMP)
            .and_then(|t| meta::parse_timestamp(t))
            .unwrap_or_else(meta::now_secs);
        // Last-Modified and the file's mtime agree: set mtime to X-Timestamp.
        let ts_str = meta::normalize_timestamp(ts);
        let (secs, nanos) = meta::timestamp_parts(ts);
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
        let tomb = self.tomb.as_ref();
        let locked = (self.newest_wins || self.only_if.is_some()) && !self.no_replace;
        match locked {
            true => super::newest::put_in_place(
                &self.dir,
                (&self.leaf, &self.name),
                self.newest_wins.then_some(ts),
                tomb,
                self.only_if.as_ref(),
                self.no_replace_fn(),
            )?,
            false if super::newest::deleted_since(tomb, ts)? => return Err(Error::Superseded),
            false => self.put_in_place()?,
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

impl Writer {
    /// Renames the temp file to the object's name (see [`Writer::no_replace`]).
    fn put_in_place(&self) -> Result<()> {
        let res = if self.no_replace {
            self.rename_noreplace()
        } else {
            self.dir.rename(&self.tmp, &self.dir, &self.leaf)
        };
        self.placed(res, self.no_replace)
    }

    /// The two ways [`super::newest`] puts the temp file in place: over
    /// whatever is there, or only where nothing is ([`Error::Exists`]).
    fn no_replace_fn(&self) -> impl Fn(bool) -> Result<()> + '_ {
        move |no_replace| {
            let res = match no_replace {
                true => self.rename_noreplace(),
                false => self.dir.rename(&self.tmp, &self.dir, &self.leaf),
            };
            self.placed(res, no_replace)
        }
    }

    /// The outcome of a rename into place, in the store's terms.
    fn placed(&self, res: std::io::Result<()>, no_replace: bool) -> Result<()> {
        let Err(e) = res else { return Ok(()) };
        let dir_there = || {
            self.dir
                .stat_at(&self.leaf)
                .is_ok_and(|st| st.kind() == Kind::Dir)
        };
        match e.raw_os_error() {
            Some(libc::EEXIST) if no_replace && !dir_there() => Err(Error::Exists),
            Some(libc::EISDIR) | Some(libc::ENOTEMPTY) | Some(libc::EEXIST) => {
                Err(Error::Conflict(format!(
                    "A directory named {:?} exists: an object cannot replace it",
                    self.name
                )))
            }
            _ => Err(e.into()),
        }
    }

    /// `renameat2(RENAME_NOREPLACE)`; where the filesystem lacks it (GlusterFS
    /// 10's FUSE client answers `EINVAL`), `link(2)` to the name then unlink
    /// of the temp name: both fail with `EEXIST` when the name is taken.
    fn rename_noreplace(&self) -> std::io::Result<()> {
        use std::sync::atomic::Ordering::Relaxed;
        if !self.no_rename_noreplace.load(Relaxed) {
            match self.dir.rename_noreplace(&self.tmp, &self.dir, &self.leaf) {
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
                    ) =>
                {
                    self.no_rename_noreplace.store(true, Relaxed);
                }
                r => return r,
            }
        }
        self.dir.link(&self.tmp, &self.dir, &self.leaf)?;
        // The object is in place; a temp name left behind is only a second
        // link, which the temp sweep removes.
        let _ = self.dir.unlink(&self.tmp);
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::super::object::{is_internal_name, is_temp_name};
    use super::super::testing;
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

    fn written(s: &Store, c: &ContainerLoc, name: &str, data: &[u8], no_replace: bool) -> Writer {
        let mut w = Writer::create(s, c, &testing::obj(name))
            .unwrap()
            .no_replace(no_replace);
        w.write(data).unwrap();
        w
    }

    #[test]
    fn no_replace_commits_once_and_keeps_the_first() {
        let dev = tempfile::tempdir().unwrap();
        let s = testing::store(dev.path());
        let c = testing::container(&s, "AUTH_a", "c");
        // Both started before either commits, as on two nodes.
        let first = written(&s, &c, "d/o", b"first", true);
        let second = written(&s, &c, "d/o", b"second", true);
        first.commit(Meta::new(), None).unwrap();
        assert!(matches!(
            second.commit(Meta::new(), None),
            Err(Error::Exists)
        ));
        let dir = dev.path().join("AUTH_a/c/d");
        assert_eq!(std::fs::read(dir.join("o")).unwrap(), b"first");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["o"], "the loser's temp file is removed");
        // Without it, the last commit wins, as before.
        written(&s, &c, "d/o", b"third", false)
            .commit(Meta::new(), None)
            .unwrap();
        assert_eq!(std::fs::read(dir.join("o")).unwrap(), b"third");
        // A directory at the name is still a conflict, not "exists".
        std::fs::create_dir(dir.join("sub")).unwrap();
        let w = written(&s, &c, "d/sub", b"x", true);
        assert!(matches!(
            w.commit(Meta::new(), None),
            Err(Error::Conflict(_))
        ));
    }

    #[test]
    fn batches_are_written_and_hashed_whole_in_order() {
        let dev = tempfile::tempdir().unwrap();
        let s = testing::store(dev.path());
        let c = testing::container(&s, "AUTH_a", "c");
        let name = ObjPath::new("big", &s.opts.limits).unwrap();
        let mut w = Writer::create(&s, &c, &name).unwrap();
        // Odd piece sizes, groups that end inside a piece, an empty piece,
        // and past the first MiB, where the MD5 moves to a thread of its own.
        let mut all = Vec::new();
        for batch in 0..6u8 {
            let pieces: Vec<bytes::Bytes> = (0..9u32)
                .map(|i| {
                    let len = [65_536, 1, 40_000, 0, 99_999][(i as usize) % 5];
                    bytes::Bytes::from(vec![batch.wrapping_mul(31).wrapping_add(i as u8); len])
                })
                .collect();
            pieces.iter().for_each(|p| all.extend_from_slice(p));
            w.write_batch(pieces).unwrap();
        }
        w.write_batch(vec![bytes::Bytes::new()]).unwrap();
        w.write_bytes(bytes::Bytes::new()).unwrap();
        let info = w.commit(Meta::new(), None).unwrap();
        assert!(all.len() > 1 << 20, "{}", all.len());
        assert_eq!(info.size, all.len() as u64);
        assert_eq!(info.etag(), hex::encode(Md5::digest(&all)));
        assert_eq!(std::fs::read(dev.path().join("AUTH_a/c/big")).unwrap(), all);
    }

    /// A condition that the object at the name has ETag `etag`.
    fn etag_is(etag: &str) -> Condition {
        let etag = etag.to_string();
        Box::new(move |m: Option<&Meta>| match m {
            None => Err(Error::NotMatched { absent: true }),
            Some(m) if m.get(keys::ETAG) == Some(&etag) => Ok(()),
            Some(_) => Err(Error::NotMatched { absent: false }),
        })
    }

    #[test]
    fn only_if_checks_the_object_replaced_at_commit() {
        let dev = tempfile::tempdir().unwrap();
        let s = testing::store(dev.path());
        let c = testing::container(&s, "AUTH_a", "c");
        let mut none = written(&s, &c, "o", b"new", false);
        none.only_if(etag_is("x"));
        let absent = none.commit(Meta::new(), None);
        assert!(matches!(absent, Err(Error::NotMatched { absent: true })));
        let old = written(&s, &c, "o", b"old", false);
        let old_etag = old.commit(Meta::new(), None).unwrap().etag().to_string();
        // Both began against the old object, as on two nodes.
        let mut first = written(&s, &c, "o", b"first", false);
        let mut second = written(&s, &c, "o", b"second", false);
        first.only_if(etag_is(&old_etag));
        second.only_if(etag_is(&old_etag));
        first.commit(Meta::new(), None).unwrap();
        let lost = second.commit(Meta::new(), None);
        assert!(matches!(lost, Err(Error::NotMatched { absent: false })));
        let path = dev.path().join("AUTH_a/c/o");
        assert_eq!(std::fs::read(path).unwrap(), b"first");
    }
}
