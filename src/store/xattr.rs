//! Thin wrappers over the xattr system calls, tuned for round trips.
//!
//! On a FUSE or network mount every call is a round trip, so a read first tries
//! a buffer large enough for ordinary metadata and only asks the size when that
//! buffer is too small (ERANGE): one call in the common case instead of two.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// First guess for a value's size: big enough for typical object metadata.
const FIRST_TRY: usize = 4096;

fn cstr(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Where an xattr call applies: an open file or a path (symlinks not followed).
#[derive(Clone, Copy)]
pub enum Target<'a> {
    Fd(BorrowedFd<'a>),
    Path(&'a Path),
}

fn raw_get(t: Target<'_>, name: &CString, buf: &mut [u8]) -> isize {
    let (ptr, len) = if buf.is_empty() {
        (std::ptr::null_mut(), 0)
    } else {
        (buf.as_mut_ptr().cast(), buf.len())
    };
    // SAFETY: `name` is NUL-terminated, `ptr`/`len` describe a writable buffer
    // (or null with length 0 for a size query), and the path is NUL-terminated.
    unsafe {
        match t {
            Target::Fd(fd) => libc::fgetxattr(fd.as_raw_fd(), name.as_ptr(), ptr, len),
            Target::Path(p) => match cstr(p.as_os_str().as_bytes()) {
                Ok(p) => libc::lgetxattr(p.as_ptr(), name.as_ptr(), ptr, len),
                Err(_) => {
                    *libc::__errno_location() = libc::EINVAL;
                    -1
                }
            },
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
    // SAFETY: all pointers are valid for the given lengths and NUL-terminated.
    let rc = unsafe {
        match t {
            Target::Fd(fd) => libc::fsetxattr(
                fd.as_raw_fd(),
                cname.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            ),
            Target::Path(p) => {
                let p = cstr(p.as_os_str().as_bytes())?;
                libc::lsetxattr(
                    p.as_ptr(),
                    cname.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            }
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
        match t {
            Target::Fd(fd) => libc::fremovexattr(fd.as_raw_fd(), cname.as_ptr()),
            Target::Path(p) => {
                let p = cstr(p.as_os_str().as_bytes())?;
                libc::lremovexattr(p.as_ptr(), cname.as_ptr())
            }
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
