//! Extended attributes: passthrough with the kernel's errno rules (ENODATA, size-0 queries, ERANGE), never ENOSYS, and the optional ext4-like per-file room limit.

use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::sync::PoisonError;

use fuser::{Errno, ReplyXattr};

use crate::testfs::faults::EioOp;
use crate::testfs::state::Core;
use crate::testfs::sys::{self, cvt, cvt_len, Res, Target};

/// Longest xattr name Linux accepts (XATTR_NAME_MAX).
const NAME_MAX: usize = 255;
/// Largest name list Linux returns (XATTR_LIST_MAX).
const LIST_MAX: usize = 65536;

/// An xattr name made NUL-terminated on the stack.
struct Name {
    buf: [u8; NAME_MAX + 1],
    len: usize,
}

impl Name {
    fn new(name: &OsStr) -> Res<Name> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.contains(&0) {
            return Err(Errno::EINVAL);
        }
        if bytes.len() > NAME_MAX {
            return Err(Errno::ERANGE);
        }
        let mut buf = [0; NAME_MAX + 1];
        buf[..bytes.len()].copy_from_slice(bytes);
        Ok(Name {
            buf,
            len: bytes.len(),
        })
    }

    fn as_cstr(&self) -> &CStr {
        #[allow(clippy::expect_used)] // `new` refused interior NULs and wrote the last one
        CStr::from_bytes_with_nul(&self.buf[..=self.len]).expect("checked for NUL in new")
    }
}

/// One ENOSYS from an xattr call makes the kernel give up xattrs for the whole mount, so never send
/// it.
fn no_enosys(e: Errno) -> Errno {
    if e == Errno::ENOSYS {
        Errno::ENOTSUP
    } else {
        e
    }
}

fn out_ptr(buf: &mut [u8]) -> *mut libc::c_void {
    if buf.is_empty() {
        std::ptr::null_mut()
    } else {
        buf.as_mut_ptr().cast()
    }
}

/// Size (`buf` empty) or value of one xattr.
fn get(target: Target<'_>, name: &CStr, buf: &mut [u8]) -> Res<usize> {
    let (ptr, len) = (out_ptr(buf), buf.len());
    // SAFETY: valid fd or path and name; the buffer is valid for len bytes (or null with len 0).
    cvt_len(unsafe {
        match target {
            Target::Path(p) => libc::lgetxattr(p.as_ptr(), name.as_ptr(), ptr, len),
            Target::Fd(fd) => libc::fgetxattr(fd, name.as_ptr(), ptr, len),
        }
    })
}

/// Size (`buf` empty) or contents of the name list.
fn list(target: Target<'_>, buf: &mut [u8]) -> Res<usize> {
    let (ptr, len) = (out_ptr(buf), buf.len());
    // SAFETY: valid fd or path; the buffer is valid for len bytes (or null with len 0).
    cvt_len(unsafe {
        match target {
            Target::Path(p) => libc::llistxattr(p.as_ptr(), ptr.cast(), len),
            Target::Fd(fd) => libc::flistxattr(fd, ptr.cast(), len),
        }
    })
}

/// Answers a getxattr/listxattr: a size-0 request gets the length, any other the data. The
/// backing call itself fails with ERANGE when `size` is too small. The reply is sent at most once;
/// whatever `with_target` fails with (before calling us) is sent by the caller.
fn answer(
    reply: &mut Option<ReplyXattr>,
    size: u32,
    fetch: impl FnOnce(&mut [u8]) -> Res<usize>,
) -> Res<()> {
    let Some(reply) = reply.take() else {
        return Ok(());
    };
    if size == 0 {
        match fetch(&mut []) {
            Ok(n) => reply.size(n as u32),
            Err(e) => reply.error(no_enosys(e)),
        }
    } else {
        sys::with_buf(size as usize, |buf| match fetch(buf) {
            Ok(n) => reply.data(&buf[..n]),
            Err(e) => reply.error(no_enosys(e)),
        });
    }
    Ok(())
}

fn finish(reply: Option<ReplyXattr>, result: Res<()>) {
    if let (Some(reply), Err(e)) = (reply, result) {
        reply.error(e);
    }
}

impl Core {
    pub(crate) fn getxattr(&self, ino: u64, name: &OsStr, size: u32, reply: ReplyXattr) {
        let name = match Name::new(name) {
            Ok(name) => name,
            Err(e) => return reply.error(e),
        };
        let mut reply = Some(reply);
        let result = self.table.with_target(ino, |target| {
            let is_file = || {
                target
                    .stat()
                    .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG)
            };
            if self.faults.take_estale(is_file) {
                return Err(Errno::ESTALE);
            }
            answer(&mut reply, size, |buf| get(target, name.as_cstr(), buf))
        });
        finish(reply, result);
    }

    pub(crate) fn listxattr(&self, ino: u64, size: u32, reply: ReplyXattr) {
        let mut reply = Some(reply);
        let result = self.table.with_target(ino, |target| {
            answer(&mut reply, size, |buf| list(target, buf))
        });
        finish(reply, result);
    }

    /// setxattr honouring XATTR_CREATE / XATTR_REPLACE, the `eio setxattr` fault and the room
    /// limit.
    pub(crate) fn setxattr(&self, ino: u64, name: &OsStr, value: &[u8], flags: i32) -> Res<()> {
        self.faults.check_eio(EioOp::Setxattr)?;
        let name = Name::new(name)?;
        let name = name.as_cstr();
        self.table.with_target(ino, |target| {
            let _serialised = match self.xattr_room {
                Some(room) if name.to_bytes().starts_with(b"user.") => {
                    let guard = self
                        .xattr_lock
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    check_room(target, name, value.len(), flags, room)?;
                    Some(guard)
                }
                _ => None,
            };
            let (ptr, len) = (value.as_ptr().cast(), value.len());
            // SAFETY: valid fd or path and name; the value is valid for len bytes.
            let ret = unsafe {
                match target {
                    Target::Path(p) => libc::lsetxattr(p.as_ptr(), name.as_ptr(), ptr, len, flags),
                    Target::Fd(fd) => libc::fsetxattr(fd, name.as_ptr(), ptr, len, flags),
                }
            };
            cvt(ret).map(drop).map_err(no_enosys)
        })
    }

    pub(crate) fn removexattr(&self, ino: u64, name: &OsStr) -> Res<()> {
        let name = Name::new(name)?;
        let name = name.as_cstr().as_ptr();
        self.table.with_target(ino, |target| {
            // SAFETY: valid fd or path and name.
            let ret = unsafe {
                match target {
                    Target::Path(p) => libc::lremovexattr(p.as_ptr(), name),
                    Target::Fd(fd) => libc::fremovexattr(fd, name),
                }
            };
            cvt(ret).map(drop).map_err(no_enosys)
        })
    }
}

/// Checks the room a set of `name` to a value of `value_len` bytes leaves, counting every user.*
/// xattr as `name length + 1 + value length` bytes. Fails with ENOSPC when the file would need
/// more than `room`; reports EEXIST / ENODATA first, as the real call would.
fn check_room(
    target: Target<'_>,
    name: &CStr,
    value_len: usize,
    flags: i32,
    room: usize,
) -> Res<()> {
    let (used, exists) = sys::with_buf(LIST_MAX, |buf| -> Res<(usize, bool)> {
        let n = list(target, buf)?;
        let mut rest = &buf[..n];
        let (mut used, mut exists) = (0, false);
        while let Ok(entry) = CStr::from_bytes_until_nul(rest) {
            rest = &rest[entry.to_bytes_with_nul().len()..];
            if entry == name {
                exists = true;
            } else if entry.to_bytes().starts_with(b"user.") {
                match get(target, entry, &mut []) {
                    Ok(len) => used += entry.to_bytes().len() + 1 + len,
                    Err(e) if e == Errno::ENODATA => {} // removed meanwhile
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((used, exists))
    })?;
    if exists && flags & libc::XATTR_CREATE != 0 {
        return Err(Errno::EEXIST);
    }
    if !exists && flags & libc::XATTR_REPLACE != 0 {
        return Err(Errno::ENODATA);
    }
    if used + name.to_bytes().len() + 1 + value_len > room {
        return Err(Errno::ENOSPC);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_terminated() {
        let n = Name::new(OsStr::new("user.a")).unwrap();
        assert_eq!(n.as_cstr().to_bytes(), b"user.a");
        assert_eq!(
            Name::new(OsStr::new(&"x".repeat(256))).err(),
            Some(Errno::ERANGE)
        );
        assert_eq!(no_enosys(Errno::ENOSYS), Errno::ENOTSUP);
        assert_eq!(no_enosys(Errno::ENODATA), Errno::ENODATA);
    }
}
