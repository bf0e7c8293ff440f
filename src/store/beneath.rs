//! Anchored directories: every filesystem call sofgate makes for a request
//! is relative to a directory fd, and no lookup can leave that directory.
//!
//! The tree is shared with people who use it as files, so anything they can
//! make there (a symlink to `/etc`, one into another account, a FIFO, a
//! mount) must not lead sofgate anywhere else. Only a policy's device root
//! is opened by its path (it comes from the operator's config); accounts,
//! containers and objects are looked up beneath it with `openat2(2)` and
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
//! RESOLVE_NO_XDEV`: the kernel itself refuses `..`, symlinks, `/proc`
//! magic links and mount crossings. Where `openat2` is missing (`ENOSYS`,
//! kernels before 5.6; or `[storage] openat2 = false`) the same lookups
//! walk one component at a time with `openat(O_NOFOLLOW)` and compare the
//! device of what they reach with the anchor's.
//!
//! Names handed to these functions are checked again here (no empty, `.`
//! or `..` component, no NUL; single-name calls take no `/`), so even a
//! caller's bug cannot turn into a path that climbs out.
//!
//! A lookup opens with `O_PATH`: nothing is opened for real (no FIFO can
//! block, no device node sees an open) until [`Node::open_read`] reopens a
//! regular file through `/proc/self/fd/N`. xattrs of `O_PATH` fds go
//! through the same path ([`Handle`]), since `fgetxattr` refuses them.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

/// How a lookup treats symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Never: a symlink on the way fails the lookup (`ELOOP`); one as the
    /// last component is returned as itself ([`Kind::Symlink`]).
    Never,
    /// Followed while the whole resolution stays beneath the anchor
    /// (`RESOLVE_BENEATH` without `RESOLVE_NO_SYMLINKS`); an escape fails
    /// with `EXDEV`. Needs `openat2`: without it, as [`Follow::Never`].
    Beneath,
}

/// What a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device node: never an object.
    Other,
}

/// `stat(2)` of a file, directory or link.
#[derive(Clone, Copy)]
pub struct Stat(libc::stat);

impl std::fmt::Debug for Stat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stat({:?}, {} bytes)", self.kind(), self.len())
    }
}

impl Stat {
    pub fn kind(&self) -> Kind {
        match self.0.st_mode & libc::S_IFMT {
            libc::S_IFREG => Kind::File,
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFLNK => Kind::Symlink,
            _ => Kind::Other,
        }
    }
    pub fn is_file(&self) -> bool {
        self.kind() == Kind::File
    }
    pub fn is_dir(&self) -> bool {
        self.kind() == Kind::Dir
    }
    pub fn len(&self) -> u64 {
        self.0.st_size.max(0) as u64
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn dev(&self) -> u64 {
        self.0.st_dev
    }
    pub fn ino(&self) -> u64 {
        self.0.st_ino
    }
    pub fn nlink(&self) -> u64 {
        self.0.st_nlink
    }
    pub fn mtime(&self) -> i64 {
        self.0.st_mtime
    }
    pub fn mtime_nsec(&self) -> i64 {
        self.0.st_mtime_nsec
    }
    /// The mtime in seconds, with its fraction.
    pub fn mtime_secs(&self) -> f64 {
        self.mtime() as f64 + self.mtime_nsec() as f64 / 1e9
    }
    pub fn ctime(&self) -> i64 {
        self.0.st_ctime
    }
    pub fn ctime_nsec(&self) -> i64 {
        self.0.st_ctime_nsec
    }
    /// Seconds since the last change of the data.
    pub fn age(&self) -> Option<std::time::Duration> {
        let m = std::time::UNIX_EPOCH
            + std::time::Duration::new(self.mtime().max(0) as u64, self.mtime_nsec() as u32);
        std::time::SystemTime::now().duration_since(m).ok()
    }
    /// Time since the last change of the data or the inode (mtime or ctime,
    /// whichever is later). An upload's temp file moves with every write,
    /// and the `futimens` that finally sets its mtime to the past moves
    /// its ctime, so this is how long the file has been left alone.
    pub fn idle(&self) -> Option<std::time::Duration> {
        let at = |s: i64, n: i64| {
            std::time::UNIX_EPOCH + std::time::Duration::new(s.max(0) as u64, n as u32)
        };
        let last = at(self.mtime(), self.mtime_nsec()).max(at(self.ctime(), self.ctime_nsec()));
        std::time::SystemTime::now().duration_since(last).ok()
    }
}

/// `fstat(2)`.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<Stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is a valid buffer for one `struct stat`; the fd is open.
    let rc = unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstat succeeded, so it filled the buffer.
    Ok(Stat(unsafe { st.assume_init() }))
}

// ---------------------------------------------------------------------------
// openat2 or the component walk

const MODE_UNKNOWN: u8 = 0;
const MODE_OPENAT2: u8 = 1;
const MODE_WALK: u8 = 2;
static MODE: AtomicU8 = AtomicU8::new(MODE_UNKNOWN);

/// `false` forces the component walk even where `openat2` exists (config
/// `[storage] openat2`; for tests of the fallback and for kernels whose
/// `openat2` misbehaves).
pub fn set_openat2(enabled: bool) {
    MODE.store(
        if enabled { MODE_UNKNOWN } else { MODE_WALK },
        Ordering::Relaxed,
    );
}

/// True while lookups use `openat2` (not yet known counts as yes).
pub fn uses_openat2() -> bool {
    MODE.load(Ordering::Relaxed) != MODE_WALK
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(dir, path, flags, resolve)`; `ENOSYS` where the kernel has none.
fn openat2(dir: RawFd, path: &CString, flags: i32, resolve: u64) -> io::Result<OwnedFd> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve,
    };
    // The kernel answers EAGAIN when a rename raced a RESOLVE_BENEATH
    // lookup; it asks to be retried.
    for _ in 0..16 {
        // SAFETY: `path` is NUL-terminated, `how` is a valid open_how of the
        // size passed; the kernel returns a new fd or -1.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if rc >= 0 {
            // SAFETY: the kernel just returned this fd; nothing else owns it.
            return Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EAGAIN) {
            return Err(e);
        }
    }
    Err(io::Error::from_raw_os_error(libc::EAGAIN))
}

/// `openat(dir, name, flags)` of one name.
fn openat(dir: RawFd, name: &CString, flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated; the kernel returns a new fd or -1.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn einval() -> io::Error {
    io::Error::from_raw_os_error(libc::EINVAL)
}

/// Checks one name: no empty, `.` or `..`, no `/`, no NUL.
fn one_name(n: &str) -> io::Result<CString> {
    if n.is_empty() || n == "." || n == ".." || n.contains('/') {
        return Err(einval());
    }
    CString::new(n).map_err(|_| einval())
}

/// Checks a relative path of plain names (`a/b/c`).
fn rel_path(rel: &str) -> io::Result<CString> {
    for c in rel.split('/') {
        one_name(c)?;
    }
    CString::new(rel).map_err(|_| einval())
}

// ---------------------------------------------------------------------------
// Dir

/// A directory opened with `O_PATH`, the anchor of `*at` calls; cheap to
/// clone.
#[derive(Clone)]
pub struct Dir {
    fd: Arc<OwnedFd>,
    /// Its device, for the component walk's mount check (only known there).
    dev: Option<u64>,
}

impl std::fmt::Debug for Dir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dir(fd {})", self.fd.as_raw_fd())
    }
}

impl Dir {
    /// Opens a device root by its path: the one path the operator gives.
    pub fn open_root(path: &Path) -> io::Result<Dir> {
        let p = CString::new(path.as_os_str().as_bytes()).map_err(|_| einval())?;
        // SAFETY: `p` is NUL-terminated; the kernel returns a new fd or -1.
        let fd = unsafe {
            libc::open(
                p.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this fd; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Dir {
            fd: Arc::new(fd),
            dev: None,
        })
    }

    /// Records the directory's device (known from a stat the caller made
    /// anyway), which the component walk checks lookups against.
    pub fn with_dev(mut self, dev: u64) -> Dir {
        self.dev = Some(dev);
        self
    }

    /// Its device, where a stat made it known ([`Dir::with_dev`]).
    pub fn known_dev(&self) -> Option<u64> {
        self.dev
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Looks `rel` (plain names joined by `/`) up beneath this directory
    /// and opens it with `flags` (plus `O_NOFOLLOW` unless `follow`).
    pub fn resolve(&self, rel: &str, flags: i32, follow: Follow) -> io::Result<OwnedFd> {
        Ok(self.resolve_stat(rel, flags, follow)?.0)
    }

    /// [`Dir::resolve`], with the stat of what it found when the lookup
    /// made one (the component walk does, for its device check).
    fn resolve_stat(
        &self,
        rel: &str,
        flags: i32,
        follow: Follow,
    ) -> io::Result<(OwnedFd, Option<Stat>)> {
        let path = rel_path(rel)?;
        if uses_openat2() {
            let mut resolve =
                libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_NO_XDEV;
            let mut flags = flags;
            if follow == Follow::Never {
                resolve |= libc::RESOLVE_NO_SYMLINKS;
                flags |= libc::O_NOFOLLOW;
            }
            match openat2(self.fd.as_raw_fd(), &path, flags, resolve) {
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                    tracing::warn!("openat2 is missing: lookups walk one name at a time");
                    let _ = MODE.compare_exchange(
                        MODE_UNKNOWN,
                        MODE_WALK,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                }
                other => {
                    let _ = MODE.compare_exchange(
                        MODE_UNKNOWN,
                        MODE_OPENAT2,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                    return other.map(|fd| (fd, None));
                }
            }
        }
        self.walk(rel, flags).map(|(fd, st)| (fd, Some(st)))
    }

    /// The component walk: each directory with `O_PATH | O_NOFOLLOW`, the
    /// last name with `O_NOFOLLOW`; what it reaches must be on the
    /// anchor's device.
    fn walk(&self, rel: &str, flags: i32) -> io::Result<(OwnedFd, Stat)> {
        let dev = match self.dev {
            Some(d) => d,
            None => fstat(self.fd())?.dev(),
        };
        let mut names = rel.split('/').peekable();
        let mut held: Option<OwnedFd> = None;
        while let Some(n) = names.next() {
            let c = one_name(n)?;
            let at = held.as_ref().map_or(self.fd.as_raw_fd(), |f| f.as_raw_fd());
            let last = names.peek().is_none();
            let fl = if last {
                flags | libc::O_NOFOLLOW
            } else {
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW
            };
            let fd = match openat(at, &c, fl) {
                Ok(fd) => fd,
                // A symlink where a directory is needed: as openat2 says it.
                Err(e) if !last && e.raw_os_error() == Some(libc::ENOTDIR) => {
                    return Err(match stat_at_raw(at, &c) {
                        Ok(st) if st.kind() == Kind::Symlink => {
                            io::Error::from_raw_os_error(libc::ELOOP)
                        }
                        _ => e,
                    });
                }
                Err(e) => return Err(e),
            };
            if last {
                let st = fstat(fd.as_fd())?;
                if st.dev() != dev {
                    return Err(io::Error::from_raw_os_error(libc::EXDEV));
                }
                return Ok((fd, st));
            }
            held = Some(fd);
        }
        Err(einval())
    }

    /// The directory `rel` beneath this one (never through a symlink).
    pub fn open_dir(&self, rel: &str) -> io::Result<Dir> {
        let (fd, st) = self.resolve_stat(rel, libc::O_PATH | libc::O_DIRECTORY, Follow::Never)?;
        Ok(Dir {
            fd: Arc::new(fd),
            dev: st.map(|s| s.dev()).or(self.dev),
        })
    }

    /// Looks `rel` up with `O_PATH` (no side effects, whatever it is) and
    /// stats it.
    pub fn node(&self, rel: &str, follow: Follow) -> io::Result<Node> {
        let (fd, st) = self.resolve_stat(rel, libc::O_PATH, follow)?;
        let st = match st {
            Some(st) => st,
            None => fstat(fd.as_fd())?,
        };
        Ok(Node {
            fd,
            st,
            anchor: self.clone(),
            rel: rel.to_string(),
            follow,
        })
    }

    /// Makes the kernel look the last name of `rel` up afresh after a
    /// network filesystem answered ESTALE (another node replaced or removed
    /// the file this client still had cached under that name).
    ///
    /// `O_PATH` lookups never ask the server, so they keep finding the stale
    /// entry; a path-based call that does ask it fails with ESTALE, and the
    /// kernel then walks that path again revalidating every entry. An xattr
    /// query of the name (relative to its parent, which is looked up beneath
    /// this directory as ever; the name itself is not followed) is such a
    /// call, with no effect of its own.
    pub fn revalidate(&self, rel: &str) {
        let (parent, leaf) = match rel.rsplit_once('/') {
            Some((p, l)) => (Some(p), l),
            None => (None, rel),
        };
        let Ok(leaf) = one_name(leaf) else { return };
        let held;
        let dir = match parent {
            Some(p) => match self.open_dir(p) {
                Ok(d) => {
                    held = d;
                    &held
                }
                Err(_) => return,
            },
            None => self,
        };
        let Some(base) = proc_path(dir.fd()) else {
            return;
        };
        let mut path = base.into_bytes();
        path.push(b'/');
        path.extend_from_slice(leaf.as_bytes());
        let (Ok(path), Ok(attr)) = (CString::new(path), CString::new("user.sofgate.revalidate"))
        else {
            return;
        };
        // SAFETY: both strings are NUL-terminated; a size query (null
        // buffer, length 0) writes nothing.
        unsafe {
            libc::lgetxattr(path.as_ptr(), attr.as_ptr(), std::ptr::null_mut(), 0);
        }
    }

    /// This directory as a node (for its xattrs and stat).
    pub fn stat(&self) -> io::Result<Stat> {
        fstat(self.fd())
    }

    /// A handle on this directory's xattrs.
    pub fn handle(&self) -> io::Result<Handle<'_>> {
        Handle::of_dir(self.fd())
    }

    /// The directory opened for reading (entries, fsync).
    pub fn open_read(&self) -> io::Result<File> {
        let fd = openat(
            self.fd.as_raw_fd(),
            &CString::from(c"."),
            libc::O_RDONLY | libc::O_DIRECTORY,
        )?;
        Ok(File::from(fd))
    }

    /// `fstatat(name, AT_SYMLINK_NOFOLLOW)` of one name.
    pub fn stat_at(&self, name: &str) -> io::Result<Stat> {
        stat_at_raw(self.fd.as_raw_fd(), &one_name(name)?)
    }

    /// Creates a new file (`O_EXCL`, never through a symlink), for writing.
    pub fn create_file(&self, name: &str, mode: u32) -> io::Result<File> {
        let c = one_name(name)?;
        // SAFETY: `c` is NUL-terminated; the kernel returns a new fd or -1.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                mode as libc::c_uint,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this fd; nothing else owns it.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// Opens one name for reading if it is a regular file of at most
    /// `max` bytes: `Ok(None)` when it is missing, anything else, or larger.
    pub fn read_small_file(&self, rel: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
        let node = match self.node(rel, Follow::Never) {
            Ok(n) => n,
            Err(e) if super::is_not_found(&e) || is_refused(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        if !node.st.is_file() || node.st.len() > max {
            return Ok(None);
        }
        let f = node.open_read()?;
        let mut buf = Vec::with_capacity(node.st.len() as usize);
        std::io::Read::read_to_end(&mut std::io::Read::take(&f, max + 1), &mut buf)?;
        if buf.len() as u64 > max {
            return Ok(None);
        }
        Ok(Some(buf))
    }

    /// `mkdirat`; `Ok(false)` when the name exists already.
    pub fn mkdir(&self, name: &str, mode: u32) -> io::Result<bool> {
        let c = one_name(name)?;
        // SAFETY: `c` is NUL-terminated.
        let rc = unsafe { libc::mkdirat(self.fd.as_raw_fd(), c.as_ptr(), mode as libc::mode_t) };
        if rc == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EEXIST) => Ok(false),
            _ => Err(e),
        }
    }

    /// `fchownat(name, AT_SYMLINK_NOFOLLOW)`.
    pub fn chown_at(&self, name: &str, uid: u32, gid: u32) -> io::Result<()> {
        let c = one_name(name)?;
        // SAFETY: `c` is NUL-terminated.
        let rc = unsafe {
            libc::fchownat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                uid,
                gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        check(rc)
    }

    /// Removes a file, symlink or other non-directory.
    pub fn unlink(&self, name: &str) -> io::Result<()> {
        let c = one_name(name)?;
        // SAFETY: `c` is NUL-terminated.
        check(unsafe { libc::unlinkat(self.fd.as_raw_fd(), c.as_ptr(), 0) })
    }

    /// Removes an empty directory.
    pub fn rmdir(&self, name: &str) -> io::Result<()> {
        let c = one_name(name)?;
        // SAFETY: `c` is NUL-terminated.
        check(unsafe { libc::unlinkat(self.fd.as_raw_fd(), c.as_ptr(), libc::AT_REMOVEDIR) })
    }

    /// `renameat(name, to/to_name)`: replaces what `to_name` was (never
    /// following it).
    pub fn rename(&self, name: &str, to: &Dir, to_name: &str) -> io::Result<()> {
        let (a, b) = (one_name(name)?, one_name(to_name)?);
        // SAFETY: both names are NUL-terminated.
        check(unsafe {
            libc::renameat(
                self.fd.as_raw_fd(),
                a.as_ptr(),
                to.fd.as_raw_fd(),
                b.as_ptr(),
            )
        })
    }

    /// [`Dir::rename`] that fails with `EEXIST` instead of replacing
    /// what `to_name` is (`renameat2(RENAME_NOREPLACE)`).
    pub fn rename_noreplace(&self, name: &str, to: &Dir, to_name: &str) -> io::Result<()> {
        let (a, b) = (one_name(name)?, one_name(to_name)?);
        // SAFETY: both names are NUL-terminated.
        check(unsafe {
            libc::renameat2(
                self.fd.as_raw_fd(),
                a.as_ptr(),
                to.fd.as_raw_fd(),
                b.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        })
    }

    /// `linkat(name, to/to_name)`, never following a symlink.
    pub fn link(&self, name: &str, to: &Dir, to_name: &str) -> io::Result<()> {
        let (a, b) = (one_name(name)?, one_name(to_name)?);
        // SAFETY: both names are NUL-terminated.
        check(unsafe {
            libc::linkat(
                self.fd.as_raw_fd(),
                a.as_ptr(),
                to.fd.as_raw_fd(),
                b.as_ptr(),
                0,
            )
        })
    }

    /// The names in this directory, with their kind when the filesystem
    /// says (`d_type`; `None`: ask [`Dir::stat_at`]). `.` and `..` are left
    /// out; names that are not UTF-8 are too (no object can have them).
    pub fn entries(&self) -> io::Result<Vec<(String, Option<Kind>)>> {
        let fd = openat(
            self.fd.as_raw_fd(),
            &CString::from(c"."),
            libc::O_RDONLY | libc::O_DIRECTORY,
        )?;
        let mut d = nix::dir::Dir::from(fd).map_err(io::Error::from)?;
        let mut out = Vec::new();
        for ent in d.iter() {
            let ent = ent.map_err(io::Error::from)?;
            let bytes = ent.file_name().to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let Ok(name) = std::str::from_utf8(bytes).map(str::to_string) else {
                tracing::debug!("skipping a name that is not UTF-8");
                continue;
            };
            use nix::dir::Type;
            let kind = ent.file_type().map(|t| match t {
                Type::File => Kind::File,
                Type::Directory => Kind::Dir,
                Type::Symlink => Kind::Symlink,
                _ => Kind::Other,
            });
            out.push((name, kind));
        }
        Ok(out)
    }
}

/// True for the errors of a lookup the anchor refused: a symlink on the
/// way (`ELOOP`), a mount crossing or an escape (`EXDEV`).
pub fn is_refused(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::EXDEV))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn stat_at_raw(dir: RawFd, name: &CString) -> io::Result<Stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated, `st` a buffer for one stat.
    let rc = unsafe {
        libc::fstatat(
            dir,
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstatat succeeded, so it filled the buffer.
    Ok(Stat(unsafe { st.assume_init() }))
}

// ---------------------------------------------------------------------------
// Node

/// Something found beneath a [`Dir`], held with `O_PATH`, and its stat.
pub struct Node {
    fd: OwnedFd,
    pub st: Stat,
    /// How it was found, to find it again where `/proc` is missing.
    anchor: Dir,
    rel: String,
    follow: Follow,
}

impl Node {
    pub fn kind(&self) -> Kind {
        self.st.kind()
    }

    /// Opens a regular file for reading. Anything else is refused
    /// (`ENOENT`): a FIFO, socket or device is never opened at all.
    pub fn open_read(&self) -> io::Result<File> {
        self.reopen(libc::O_RDONLY)
    }

    /// This very regular file opened with `access` (`O_RDONLY`/`O_RDWR`).
    fn reopen(&self, access: i32) -> io::Result<File> {
        if !self.st.is_file() {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        let flags = access | libc::O_NONBLOCK | libc::O_NOCTTY;
        let fd = match proc_path(self.fd.as_fd()) {
            // The magic link leads to this very inode, whatever its name is now.
            Some(p) => {
                // SAFETY: `p` is NUL-terminated; the kernel returns a new fd or -1.
                let fd = unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC) };
                if fd < 0 {
                    return Err(io::Error::last_os_error());
                }
                // SAFETY: the kernel just returned this fd; nothing else owns it.
                unsafe { OwnedFd::from_raw_fd(fd) }
            }
            None => {
                // No /proc: look the name up again, and make sure it is
                // still the same file.
                let fd = self.anchor.resolve(&self.rel, flags, self.follow)?;
                let st = fstat(fd.as_fd())?;
                if (st.dev(), st.ino()) != (self.st.dev(), self.st.ino()) || !st.is_file() {
                    return Err(io::Error::from_raw_os_error(libc::ESTALE));
                }
                fd
            }
        };
        Ok(File::from(fd))
    }

    /// A handle on the node's xattrs (files and directories only).
    pub fn handle(&self) -> io::Result<Handle<'_>> {
        match self.kind() {
            Kind::Dir => Handle::of_dir(self.fd.as_fd()),
            Kind::File => match proc_path(self.fd.as_fd()) {
                Some(p) => Ok(Handle::Proc(p, PhantomData)),
                None => Ok(Handle::Open(self.open_read()?.into())),
            },
            _ => Err(io::Error::from_raw_os_error(libc::ENOENT)),
        }
    }

    /// The `O_PATH` fd itself.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// The node as a directory anchor (it must be one).
    pub fn into_dir(self) -> io::Result<Dir> {
        if !self.st.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        Ok(Dir {
            fd: Arc::new(self.fd),
            dev: self.anchor.dev,
        })
    }
}

// ---------------------------------------------------------------------------
// xattrs of O_PATH fds

/// How the xattr calls reach a file or directory held with `O_PATH`: the
/// `/proc/self/fd/N` path of that fd (followed: it is a magic link to the
/// inode itself), or where `/proc` is missing a real fd opened for it.
pub enum Handle<'a> {
    Proc(CString, PhantomData<BorrowedFd<'a>>),
    Open(OwnedFd),
}

impl<'a> Handle<'a> {
    fn of_dir(fd: BorrowedFd<'a>) -> io::Result<Handle<'a>> {
        match proc_path(fd) {
            Some(p) => Ok(Handle::Proc(p, PhantomData)),
            None => Ok(Handle::Open(openat(
                fd.as_raw_fd(),
                &CString::from(c"."),
                libc::O_RDONLY | libc::O_DIRECTORY,
            )?)),
        }
    }
}

/// `/proc/self/fd/N` of `fd`, when `/proc` is mounted.
fn proc_path(fd: BorrowedFd<'_>) -> Option<CString> {
    static PROC: OnceLock<bool> = OnceLock::new();
    let ok = *PROC.get_or_init(|| Path::new("/proc/self/fd").is_dir());
    ok.then(|| CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, Dir) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("dev");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), b"data").unwrap();
        std::fs::write(t.path().join("outside"), b"secret").unwrap();
        symlink(t.path().join("outside"), root.join("a/abs")).unwrap();
        symlink("b/f", root.join("a/rel")).unwrap();
        symlink("../../outside", root.join("a/up")).unwrap();
        symlink(t.path(), root.join("a/dirlink")).unwrap();
        symlink("b", root.join("a/inner")).unwrap();
        let d = Dir::open_root(&root).unwrap();
        (t, d)
    }

    fn errno(r: io::Result<impl Sized>) -> Option<i32> {
        r.err().and_then(|e| e.raw_os_error())
    }

    /// Runs `f` once with openat2 and once with the component walk.
    fn both(f: impl Fn(&Dir, &dyn Fn(&Dir, &str, Follow) -> io::Result<OwnedFd>)) {
        let (_t, d) = tree();
        f(&d, &|d: &Dir, rel: &str, follow| {
            d.resolve(rel, libc::O_PATH, follow)
        });
        let walk_dir = Dir {
            fd: d.fd.clone(),
            dev: Some(d.stat().unwrap().dev()),
        };
        f(&walk_dir, &|d: &Dir, rel: &str, _| {
            d.walk(rel, libc::O_PATH).map(|r| r.0)
        });
    }

    #[test]
    fn plain_names_resolve_and_bad_ones_are_refused_before_any_lookup() {
        both(|d, open| {
            assert!(open(d, "a/b/f", Follow::Never).is_ok());
            for bad in [
                "",
                "..",
                "a/../a/b/f",
                "a/./b",
                "a//b",
                "/a",
                "a/b/",
                "a\0b",
            ] {
                assert_eq!(
                    errno(open(d, bad, Follow::Never)),
                    Some(libc::EINVAL),
                    "{bad:?}"
                );
            }
            assert_eq!(
                errno(open(d, "a/missing", Follow::Never)),
                Some(libc::ENOENT)
            );
        });
    }

    #[test]
    fn symlinks_are_never_followed_on_the_way_and_returned_as_themselves_at_the_end() {
        both(|d, open| {
            for way in ["a/dirlink/outside", "a/inner/f"] {
                assert_eq!(
                    errno(open(d, way, Follow::Never)),
                    Some(libc::ELOOP),
                    "{way}"
                );
            }
            for leaf in ["a/abs", "a/rel", "a/up", "a/dirlink"] {
                let fd = open(d, leaf, Follow::Never).unwrap();
                assert_eq!(fstat(fd.as_fd()).unwrap().kind(), Kind::Symlink, "{leaf}");
            }
        });
    }

    #[test]
    fn following_beneath_stays_beneath() {
        if !uses_openat2() {
            return;
        }
        let (_t, d) = tree();
        let a = d.open_dir("a").unwrap();
        let n = a.node("rel", Follow::Beneath).unwrap();
        assert!(n.st.is_file());
        assert_eq!(
            std::io::read_to_string(n.open_read().unwrap()).unwrap(),
            "data"
        );
        assert!(a.node("inner/f", Follow::Beneath).is_ok());
        for out in ["abs", "up", "dirlink"] {
            let e = a.node(out, Follow::Beneath).err().unwrap();
            assert!(is_refused(&e), "{out}: {e}");
        }
    }

    #[test]
    fn only_regular_files_are_opened_for_reading() {
        let (t, d) = tree();
        let fifo = t.path().join("dev/a/fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let n = d.node("a/fifo", Follow::Never).unwrap();
        assert_eq!(n.kind(), Kind::Other);
        assert_eq!(errno(n.open_read()), Some(libc::ENOENT));
        let f = d.node("a/b/f", Follow::Never).unwrap();
        assert_eq!(
            std::io::read_to_string(f.open_read().unwrap()).unwrap(),
            "data"
        );
    }

    #[test]
    fn single_name_calls_take_no_paths() {
        let (_t, d) = tree();
        for bad in ["a/b", "..", ".", ""] {
            assert_eq!(errno(d.mkdir(bad, 0o755)), Some(libc::EINVAL));
            assert_eq!(errno(d.unlink(bad)), Some(libc::EINVAL));
            assert_eq!(errno(d.stat_at(bad)), Some(libc::EINVAL));
            assert_eq!(errno(d.create_file(bad, 0o644)), Some(libc::EINVAL));
        }
        let a = d.open_dir("a").unwrap();
        assert!(a.mkdir("new", 0o755).unwrap());
        assert!(!a.mkdir("new", 0o755).unwrap());
        // O_EXCL | O_NOFOLLOW: a symlink at the name is not written through.
        assert_eq!(errno(a.create_file("abs", 0o644)), Some(libc::EEXIST));
        let names: Vec<_> = a.entries().unwrap().into_iter().map(|e| e.0).collect();
        assert!(names.contains(&"new".to_string()) && names.contains(&"abs".to_string()));
    }

    #[test]
    fn xattrs_of_path_handles() {
        let (_t, d) = tree();
        let n = d.node("a/b/f", Follow::Never).unwrap();
        let h = n.handle().unwrap();
        let t = super::super::xattr::Target::Handle(&h);
        super::super::xattr::set(t, "user.test", b"v").unwrap();
        assert_eq!(
            super::super::xattr::get(t, "user.test").unwrap().unwrap(),
            b"v"
        );
        let dir = d.open_dir("a/b").unwrap();
        let h = dir.handle().unwrap();
        let t = super::super::xattr::Target::Handle(&h);
        super::super::xattr::set(t, "user.test", b"d").unwrap();
        assert_eq!(
            super::super::xattr::get(t, "user.test").unwrap().unwrap(),
            b"d"
        );
    }
}
