//! Thin wrappers over the xattr system calls, tuned for round trips.
//!
//! On a FUSE or network mount every call is a round trip, so a read first tries
//! a buffer large enough for ordinary metadata and only asks the size when that
//! buffer is too small (ERANGE): one call in the common case instead of two.
//!
//! There is no path variant: xattrs are read and written through an open fd
//! or the [`Handle`] of an anchored `O_PATH` lookup, never by a name that
//! could lead somewhere else.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::beneath::Handle;

/// First guess for a value's size: big enough for typical object metadata.
const FIRST_TRY: usize = 4096;

fn cstr(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Where an xattr call applies: an open file, or a file or directory held
/// with `O_PATH` (see [`Handle`]).
#[derive(Clone, Copy)]
pub enum Target<'a> {
    Fd(BorrowedFd<'a>),
    Handle(&'a Handle<'a>),
}

/// What the system call takes: an fd or the `/proc/self/fd/N` path.
enum Raw<'a> {
    Fd(i32),
    Path(&'a CString),
}

fn raw(t: Target<'_>) -> Raw<'_> {
    match t {
        Target::Fd(fd) => Raw::Fd(fd.as_raw_fd()),
        Target::Handle(Handle::Proc(p, _)) => Raw::Path(p),
        Target::Handle(Handle::Open(fd)) => Raw::Fd(fd.as_raw_fd()),
    }
}

fn raw_get(t: Target<'_>, name: &CString, buf: &mut [u8]) -> isize {
    let (ptr, len) = if buf.is_empty() {
        (std::ptr::null_mut(), 0)
    } else {
        (buf.as_mut_ptr().cast(), buf.len())
    };
    // SAFETY: `name` and the path are NUL-terminated, `ptr`/`len` describe a
    // writable buffer (or null with length 0 for a size query).
    unsafe {
        match raw(t) {
            Raw::Fd(fd) => libc::fgetxattr(fd, name.as_ptr(), ptr, len),
            Raw::Path(p) => libc::getxattr(p.as_ptr(), name.as_ptr(), ptr, len),
        }
    }
}

/// Reads one attribute; `Ok(None)` when it does not exist (ENODATA).
pub fn get(t: Target<'_>, name: &str) -> io::Result<Option<Vec<u8>>> {
    let cname = cstr(name.as_bytes())?;
    let mut buf = vec![0u8; FIRST_TRY];
    loop {
        let n = raw_get(t, &cname, &mut buf);
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(Some(buf));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENODATA) => return Ok(None),
            Some(libc::ERANGE) => {
                let size = raw_get(t, &cname, &mut []);
                if size < 0 {
                    let e = io::Error::last_os_error();
                    return match e.raw_os_error() {
                        Some(libc::ENODATA) => Ok(None),
                        _ => Err(e),
                    };
                }
                buf = vec![0u8; size as usize + 1];
            }
            _ => return Err(err),
        }
    }
}

/// Writes one attribute, replacing any previous value.
pub fn set(t: Target<'_>, name: &str, value: &[u8]) -> io::Result<()> {
    let cname = cstr(name.as_bytes())?;
    let (v, n) = (value.as_ptr().cast(), value.len());
    // SAFETY: all pointers are valid for the given lengths and NUL-terminated.
    let rc = unsafe {
        match raw(t) {
            Raw::Fd(fd) => libc::fsetxattr(fd, cname.as_ptr(), v, n, 0),
            Raw::Path(p) => libc::setxattr(p.as_ptr(), cname.as_ptr(), v, n, 0),
        }
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Removes one attribute; a missing attribute is not an error.
pub fn remove(t: Target<'_>, name: &str) -> io::Result<()> {
    let cname = cstr(name.as_bytes())?;
    // SAFETY: pointers are NUL-terminated strings.
    let rc = unsafe {
        match raw(t) {
            Raw::Fd(fd) => libc::fremovexattr(fd, cname.as_ptr()),
            Raw::Path(p) => libc::removexattr(p.as_ptr(), cname.as_ptr()),
        }
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENODATA) {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}
