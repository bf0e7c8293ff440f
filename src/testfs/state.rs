//! The filesystem state shared by all request threads, and the attribute-level operations (lookup, getattr, setattr, statfs, access).

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;

use fuser::{FileAttr, TimeOrNow};

use crate::testfs::control::ControlFile;
use crate::testfs::dirs::DirHandles;
use crate::testfs::faults::{Counters, Faults};
use crate::testfs::files::file_fd;
use crate::testfs::inodes::InodeTable;
use crate::testfs::sys::{self, cvt, Res, Target};

/// Who issued a request that creates a file (its owner when we run as root).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caller {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// The changes one setattr request asks for.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SetAttr {
    pub(crate) mode: Option<u32>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) size: Option<u64>,
    pub(crate) atime: Option<TimeOrNow>,
    pub(crate) mtime: Option<TimeOrNow>,
    pub(crate) fh: Option<u64>,
}

/// Everything a request needs: inode table, counters, faults, open directory listings.
pub(crate) struct Core {
    pub(crate) table: InodeTable,
    pub(crate) counters: Counters,
    pub(crate) faults: Faults,
    pub(crate) control: ControlFile,
    pub(crate) dirs: DirHandles,
    /// Per-file budget for user.* xattrs, see [`crate::testfs::Options::xattr_room`].
    pub(crate) xattr_room: Option<usize>,
    /// Serialises room-checked setxattr calls so check and set are atomic within this mount.
    pub(crate) xattr_lock: Mutex<()>,
    root: CString,
    /// Our process umask, which `open`/`mkdir` would apply on top of the caller's.
    umask: u32,
    euid: u32,
    egid: u32,
}

impl Core {
    /// `backing` must be an absolute, canonical directory path.
    pub(crate) fn new(
        backing: &Path,
        control_name: OsString,
        xattr_room: Option<usize>,
    ) -> io::Result<Core> {
        let root = CString::new(backing.as_os_str().as_bytes())?;
        // SAFETY: umask cannot fail; it is read once at startup and restored at once.
        let umask = unsafe {
            let old = libc::umask(0o022);
            libc::umask(old);
            old
        };
        // SAFETY: geteuid/getegid cannot fail.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        Ok(Core {
            table: InodeTable::new(&root),
            counters: Counters::new(),
            faults: Faults::new(),
            control: ControlFile::new(control_name),
            dirs: DirHandles::default(),
            xattr_room,
            xattr_lock: Mutex::new(()),
            root,
            umask,
            euid,
            egid,
        })
    }

    /// Gives a file this request just created the mode and owner the caller asked for:
    /// our own umask may have stripped bits, and as root we create everything as root.
    pub(crate) fn adopt(&self, target: Target<'_>, mode: Option<u32>, caller: Caller) -> Res<()> {
        if let Some(mode) = mode.filter(|m| m & 0o7777 & self.umask != 0) {
            target.chmod(mode)?;
        }
        if self.euid == 0 && (caller.uid != self.euid || caller.gid != self.egid) {
            target.chown(Some(caller.uid), Some(caller.gid))?;
        }
        Ok(())
    }

    pub(crate) fn lookup(&self, parent: u64, name: &OsStr) -> Res<FileAttr> {
        let dir = self.table.path(parent)?;
        sys::with_child(&dir, name, |path| {
            let st = sys::lstat(path)?;
            let ino = self.table.remember(path, sys::is_dir(&st));
            Ok(sys::attr(ino, &st))
        })
    }

    pub(crate) fn getattr(&self, ino: u64, fh: Option<u64>) -> Res<FileAttr> {
        let st = match fh.and_then(file_fd) {
            Some(fd) => sys::fstat(fd)?,
            None => self.table.with_target(ino, |t| t.stat())?,
        };
        Ok(sys::attr(ino, &st))
    }

    /// chmod, chown, truncate and utimens, through the open file when the kernel passes one.
    pub(crate) fn setattr(&self, ino: u64, change: SetAttr) -> Res<FileAttr> {
        let apply = |target: Target<'_>| -> Res<libc::stat> {
            if let Some(mode) = change.mode {
                target.chmod(mode)?;
            }
            if change.uid.is_some() || change.gid.is_some() {
                target.chown(change.uid, change.gid)?;
            }
            if let Some(size) = change.size {
                target.truncate(size)?;
            }
            if change.atime.is_some() || change.mtime.is_some() {
                target.utimens(change.atime, change.mtime)?;
            }
            target.stat()
        };
        let st = match change.fh.and_then(file_fd) {
            Some(fd) => apply(Target::Fd(fd))?,
            None => self.table.with_target(ino, apply)?,
        };
        Ok(sys::attr(ino, &st))
    }

    pub(crate) fn statfs(&self) -> Res<libc::statvfs> {
        let mut st = MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: valid path and a properly sized out-buffer.
        cvt(unsafe { libc::statvfs(self.root.as_ptr(), st.as_mut_ptr()) })?;
        // SAFETY: statvfs succeeded, so it filled the struct.
        Ok(unsafe { st.assume_init() })
    }

    pub(crate) fn access(&self, ino: u64, mask: i32) -> Res<()> {
        self.table.with_target(ino, |target| match target {
            Target::Path(p) => sys::path_call(p, |p| unsafe { libc::access(p, mask) }),
            Target::Fd(_) => Ok(()), // unlinked but open: it was accessible when opened
        })
    }
}
