//! File operations: open/create with real backing descriptors (the FUSE file handle *is* the fd), pread/pwrite, fsync, unlink, rename, symlinks.

use std::ffi::{CString, OsStr};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use fuser::{Errno, FileAttr, ReplyData};

use crate::testfs::faults::{EioOp, Op};
use crate::testfs::state::{Caller, Core};
use crate::testfs::sys::{self, cvt, Res, Target};

/// The backing fd behind a file handle. Regular files use the fd number as handle; directory and
/// control-file handles have high bits set and so are never mistaken for one.
#[inline]
pub(crate) fn file_fd(fh: u64) -> Option<RawFd> {
    RawFd::try_from(fh).ok().filter(|fd| *fd >= 0)
}

/// Open flags for the backing file: creation is handled separately, O_DIRECT is not supported by
/// every backing filesystem (and the kernel already honours it on the FUSE side).
fn backing_flags(flags: i32) -> i32 {
    flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY | libc::O_DIRECT)
}

impl Core {
    pub(crate) fn open(&self, ino: u64, flags: i32) -> Res<u64> {
        let flags = backing_flags(flags);
        let fd = self.table.with_target(ino, |target| match target {
            Target::Path(path) => sys::open(path, flags, 0),
            // Unlinked but still open (e.g. reopened via /proc/PID/fd): reopen that descriptor.
            Target::Fd(fd) => {
                let path = CString::new(format!("/proc/self/fd/{fd}")).map_err(|_| Errno::EIO)?;
                sys::open(&path, flags, 0)
            }
        })?;
        self.table.opened(ino, fd);
        Ok(fd as u64)
    }

    /// Creates (or, without O_EXCL, opens an existing) `parent/name`; returns its attributes and
    /// handle.
    pub(crate) fn create(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
        caller: Caller,
    ) -> Res<(FileAttr, u64)> {
        let dir = self.table.path(parent)?;
        let exclusive = flags & libc::O_EXCL != 0;
        let flags = backing_flags(flags);
        sys::with_child(&dir, name, |path| {
            let excl = flags | libc::O_CREAT | libc::O_EXCL;
            let (fd, fresh) = match sys::open(path, excl, mode & 0o7777) {
                Ok(fd) => (fd, true),
                // Another mount created it since the kernel's lookup: open it like O_CREAT would.
                Err(e) if e == Errno::EEXIST && !exclusive => (sys::open(path, flags, 0)?, false),
                Err(e) => return Err(e),
            };
            let finish = || -> Res<libc::stat> {
                if fresh {
                    self.adopt(Target::Fd(fd), Some(mode), caller)?;
                }
                sys::fstat(fd)
            };
            match finish() {
                Ok(st) => {
                    let ino = self.table.remember(path, false);
                    self.table.opened(ino, fd);
                    Ok((sys::attr(ino, &st), fd as u64))
                }
                Err(e) => {
                    sys::close(fd);
                    if fresh {
                        // SAFETY: valid NUL-terminated path.
                        unsafe { libc::unlink(path.as_ptr()) };
                    }
                    Err(e)
                }
            }
        })
    }

    pub(crate) fn read(&self, fh: u64, offset: u64, size: u32, reply: ReplyData) {
        if let Err(e) = self.faults.check_eio(EioOp::Read) {
            return reply.error(e);
        }
        let Some(fd) = file_fd(fh) else {
            return reply.error(Errno::EBADF);
        };
        sys::with_buf(size as usize, |buf| match sys::pread(fd, buf, offset) {
            Ok(n) => {
                self.counters.add(Op::ReadBytes, n as u64);
                reply.data(&buf[..n]);
            }
            Err(e) => reply.error(e),
        });
    }

    /// pwrite, subject to the EIO and ENOSPC faults (a write crossing the ENOSPC budget is cut
    /// short).
    pub(crate) fn write(&self, fh: u64, offset: u64, data: &[u8]) -> Res<u32> {
        self.faults.check_eio(EioOp::Write)?;
        let fd = file_fd(fh).ok_or(Errno::EBADF)?;
        let allowed = self.faults.take_space(data.len())?;
        let result = sys::pwrite(fd, &data[..allowed], offset);
        self.faults
            .refund_space(allowed - result.as_ref().copied().unwrap_or(0));
        let n = result?;
        self.counters.add(Op::WriteBytes, n as u64);
        Ok(n as u32)
    }

    pub(crate) fn release(&self, ino: u64, fh: u64) {
        if let Some(fd) = file_fd(fh) {
            self.table.released(ino, fd);
            sys::close(fd);
        }
    }

    pub(crate) fn fsync(&self, fh: u64, datasync: bool) -> Res<()> {
        self.faults.check_eio(EioOp::Fsync)?;
        let fd = file_fd(fh).ok_or(Errno::EBADF)?;
        // SAFETY: plain syscalls on an fd we own.
        cvt(unsafe {
            if datasync {
                libc::fdatasync(fd)
            } else {
                libc::fsync(fd)
            }
        })
        .map(drop)
    }

    /// fallocate; under an ENOSPC fault it needs the whole length from the budget.
    pub(crate) fn fallocate(&self, fh: u64, offset: u64, length: u64, mode: i32) -> Res<()> {
        let fd = file_fd(fh).ok_or(Errno::EBADF)?;
        let off = libc::off_t::try_from(offset).map_err(|_| Errno::EINVAL)?;
        let len = libc::off_t::try_from(length).map_err(|_| Errno::EINVAL)?;
        let want = usize::try_from(length).map_err(|_| Errno::EINVAL)?;
        let granted = self.faults.take_space(want)?;
        if granted < want {
            self.faults.refund_space(granted);
            return Err(Errno::ENOSPC);
        }
        // SAFETY: plain syscall on an fd we own.
        cvt(unsafe { libc::fallocate(fd, mode, off, len) }).map(drop)
    }

    pub(crate) fn unlink(&self, parent: u64, name: &OsStr) -> Res<()> {
        let dir = self.table.path(parent)?;
        sys::with_child(&dir, name, |path| {
            // SAFETY: path_call hands over a valid NUL-terminated path.
            sys::path_call(path, |p| unsafe { libc::unlink(p) })?;
            self.table.detach(path);
            Ok(())
        })
    }

    /// rename / renameat2 (RENAME_NOREPLACE, RENAME_EXCHANGE); inodes follow, including directory
    /// subtrees.
    pub(crate) fn rename(
        &self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        flags: u32,
    ) -> Res<()> {
        self.faults.check_eio(EioOp::Rename)?;
        let from = sys::child_path(&self.table.path(parent)?, name)?;
        let to = sys::child_path(&self.table.path(new_parent)?, new_name)?;
        // SAFETY: valid NUL-terminated paths.
        cvt(unsafe {
            if flags == 0 {
                libc::rename(from.as_ptr(), to.as_ptr())
            } else {
                libc::renameat2(
                    libc::AT_FDCWD,
                    from.as_ptr(),
                    libc::AT_FDCWD,
                    to.as_ptr(),
                    flags,
                )
            }
        })?;
        let exchange = flags & libc::RENAME_EXCHANGE != 0;
        self.table.renamed(&from, &to, exchange);
        Ok(())
    }

    pub(crate) fn readlink(&self, ino: u64, reply: ReplyData) {
        let path = match self.table.path(ino) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        sys::with_buf(libc::PATH_MAX as usize, |buf| {
            // SAFETY: the buffer is valid for buf.len() bytes.
            let n = unsafe { libc::readlink(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
            match sys::cvt_len(n) {
                Ok(n) => reply.data(&buf[..n]),
                Err(e) => reply.error(e),
            }
        });
    }

    pub(crate) fn symlink(
        &self,
        parent: u64,
        name: &OsStr,
        target: &Path,
        caller: Caller,
    ) -> Res<FileAttr> {
        let dir = self.table.path(parent)?;
        let target = CString::new(target.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
        sys::with_child(&dir, name, |path| {
            // SAFETY: valid NUL-terminated paths.
            cvt(unsafe { libc::symlink(target.as_ptr(), path.as_ptr()) })?;
            if let Err(e) = self.adopt(Target::Path(path), None, caller) {
                // SAFETY: valid NUL-terminated path.
                unsafe { libc::unlink(path.as_ptr()) };
                return Err(e);
            }
            let st = sys::lstat(path)?;
            let ino = self.table.remember(path, false);
            Ok(sys::attr(ino, &st))
        })
    }
}
