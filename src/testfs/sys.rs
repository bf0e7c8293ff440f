//! Thin wrappers over the libc calls the passthrough needs, plus the reusable per-thread buffers that keep the hot paths free of allocations.

use std::cell::RefCell;
use std::ffi::{CStr, CString, OsStr};
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{Errno, FileAttr, FileType, INodeNo, TimeOrNow};

/// Result type of every passthrough step: the error is what the kernel gets.
pub(crate) type Res<T> = Result<T, Errno>;

thread_local! {
    /// Scratch space for building `parent/name` paths.
    static PATH_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Scratch space for read, readlink and xattr replies.
    static DATA_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The calling thread's errno as a FUSE error.
pub(crate) fn last_errno() -> Errno {
    let code = std::io::Error::last_os_error().raw_os_error();
    Errno::from_i32(code.unwrap_or(libc::EIO))
}

/// Turns a `-1 means errno` return value into a `Res`.
pub(crate) fn cvt(ret: libc::c_int) -> Res<libc::c_int> {
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(ret)
    }
}

/// Like [`cvt`] for calls that return a byte count.
pub(crate) fn cvt_len(ret: libc::ssize_t) -> Res<usize> {
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(ret as usize)
    }
}

/// Rejects names the kernel never sends (empty, with `/` or NUL) so they cannot escape the parent.
fn check_name(name: &[u8]) -> Res<()> {
    if name.is_empty() || name.contains(&0) || name.contains(&b'/') {
        return Err(Errno::EINVAL);
    }
    if name.len() > 255 {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(())
}

fn join_into(buf: &mut Vec<u8>, parent: &CStr, name: &[u8]) {
    let parent = parent.to_bytes();
    buf.clear();
    buf.extend_from_slice(parent);
    if parent.last() != Some(&b'/') {
        buf.push(b'/');
    }
    buf.extend_from_slice(name);
    buf.push(0);
}

/// Calls `f` with the path `parent/name`, built in a per-thread buffer (no allocation once warm).
pub(crate) fn with_child<R>(
    parent: &CStr,
    name: &OsStr,
    f: impl FnOnce(&CStr) -> Res<R>,
) -> Res<R> {
    let name = name.as_bytes();
    check_name(name)?;
    PATH_BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            join_into(&mut buf, parent, name);
            f(CStr::from_bytes_with_nul(&buf).map_err(|_| Errno::EINVAL)?)
        }
        // Only reached if a caller nests `with_child`; fall back to a fresh buffer.
        Err(_) => {
            let mut buf = Vec::new();
            join_into(&mut buf, parent, name);
            f(CStr::from_bytes_with_nul(&buf).map_err(|_| Errno::EINVAL)?)
        }
    })
}

/// The path `parent/name` as an owned string, for the rare calls that need two paths at once.
pub(crate) fn child_path(parent: &CStr, name: &OsStr) -> Res<CString> {
    let name = name.as_bytes();
    check_name(name)?;
    let mut buf = Vec::with_capacity(parent.to_bytes().len() + name.len() + 2);
    join_into(&mut buf, parent, name);
    CString::from_vec_with_nul(buf).map_err(|_| Errno::EINVAL)
}

/// Calls `f` with a per-thread scratch buffer of exactly `size` bytes.
pub(crate) fn with_buf<R>(size: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    DATA_BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < size {
                buf.resize(size, 0);
            }
            f(&mut buf[..size])
        }
        Err(_) => f(&mut vec![0; size]),
    })
}

pub(crate) fn lstat(path: &CStr) -> Res<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid NUL-terminated path and a properly sized out-buffer.
    cvt(unsafe { libc::lstat(path.as_ptr(), st.as_mut_ptr()) })?;
    // SAFETY: lstat succeeded, so it filled the struct.
    Ok(unsafe { st.assume_init() })
}

pub(crate) fn fstat(fd: RawFd) -> Res<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: properly sized out-buffer; a bad fd only yields EBADF.
    cvt(unsafe { libc::fstat(fd, st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so it filled the struct.
    Ok(unsafe { st.assume_init() })
}

pub(crate) fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

pub(crate) fn kind(mode: libc::mode_t) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFSOCK => FileType::Socket,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

fn system_time(sec: i64, nsec: i64) -> SystemTime {
    let nanos = Duration::from_nanos(nsec.clamp(0, 999_999_999) as u64);
    if sec >= 0 {
        UNIX_EPOCH + Duration::from_secs(sec as u64) + nanos
    } else {
        UNIX_EPOCH - Duration::from_secs(sec.unsigned_abs()) + nanos
    }
}

/// The FUSE view of a backing file's `stat`, reported under our inode number `ino`.
pub(crate) fn attr(ino: u64, st: &libc::stat) -> FileAttr {
    FileAttr {
        ino: INodeNo(ino),
        size: st.st_size.max(0) as u64,
        blocks: st.st_blocks.max(0) as u64,
        atime: system_time(st.st_atime, st.st_atime_nsec),
        mtime: system_time(st.st_mtime, st.st_mtime_nsec),
        ctime: system_time(st.st_ctime, st.st_ctime_nsec),
        crtime: UNIX_EPOCH,
        kind: kind(st.st_mode),
        perm: (st.st_mode & 0o7777) as u16,
        nlink: st.st_nlink as u32,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev as u32,
        blksize: st.st_blksize as u32,
        flags: 0,
    }
}

/// A `timespec` for `utimensat`: `None` leaves the time alone.
pub(crate) fn timespec(t: Option<TimeOrNow>) -> libc::timespec {
    // SAFETY: timespec is plain old data; all-zero is a valid value.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    match t {
        None => ts.tv_nsec = libc::UTIME_OMIT,
        Some(TimeOrNow::Now) => ts.tv_nsec = libc::UTIME_NOW,
        Some(TimeOrNow::SpecificTime(t)) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => {
                ts.tv_sec = d.as_secs() as libc::time_t;
                ts.tv_nsec = libc::c_long::from(d.subsec_nanos());
            }
            Err(before) => {
                let d = before.duration();
                ts.tv_sec = -(d.as_secs() as libc::time_t);
                if d.subsec_nanos() > 0 {
                    ts.tv_sec -= 1;
                    ts.tv_nsec = libc::c_long::from(1_000_000_000 - d.subsec_nanos());
                }
            }
        },
    }
    ts
}

pub(crate) fn open(path: &CStr, flags: libc::c_int, mode: libc::mode_t) -> Res<RawFd> {
    // SAFETY: valid NUL-terminated path.
    cvt(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) })
}

pub(crate) fn close(fd: RawFd) {
    // SAFETY: the fd was opened by us and is closed exactly once (on release).
    unsafe { libc::close(fd) };
}

fn offset(off: u64) -> Res<libc::off_t> {
    libc::off_t::try_from(off).map_err(|_| Errno::EINVAL)
}

pub(crate) fn pread(fd: RawFd, buf: &mut [u8], off: u64) -> Res<usize> {
    let off = offset(off)?;
    // SAFETY: the buffer is valid for buf.len() bytes.
    cvt_len(unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), off) })
}

pub(crate) fn pwrite(fd: RawFd, data: &[u8], off: u64) -> Res<usize> {
    let off = offset(off)?;
    // SAFETY: the buffer is valid for data.len() bytes.
    cvt_len(unsafe { libc::pwrite(fd, data.as_ptr().cast(), data.len(), off) })
}

/// Runs a path-taking libc call that returns `int`, e.g. `path_call(p, |p| unsafe { libc::rmdir(p)
/// })`.
pub(crate) fn path_call(
    path: &CStr,
    f: impl FnOnce(*const libc::c_char) -> libc::c_int,
) -> Res<()> {
    cvt(f(path.as_ptr())).map(drop)
}

/// A backing file reached through an open descriptor or by path (without following a final
/// symlink).
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    Fd(RawFd),
    Path(&'a CStr),
}

impl Target<'_> {
    pub(crate) fn stat(self) -> Res<libc::stat> {
        match self {
            Target::Fd(fd) => fstat(fd),
            Target::Path(p) => lstat(p),
        }
    }

    pub(crate) fn chmod(self, mode: u32) -> Res<()> {
        let mode = mode & 0o7777;
        // SAFETY: plain syscalls on a valid fd / NUL-terminated path.
        cvt(unsafe {
            match self {
                Target::Fd(fd) => libc::fchmod(fd, mode),
                Target::Path(p) => libc::chmod(p.as_ptr(), mode),
            }
        })
        .map(drop)
    }

    /// `None` leaves the id unchanged (passed as -1).
    pub(crate) fn chown(self, uid: Option<u32>, gid: Option<u32>) -> Res<()> {
        let (uid, gid) = (uid.unwrap_or(u32::MAX), gid.unwrap_or(u32::MAX));
        // SAFETY: plain syscalls on a valid fd / NUL-terminated path.
        cvt(unsafe {
            match self {
                Target::Fd(fd) => libc::fchown(fd, uid, gid),
                Target::Path(p) => libc::lchown(p.as_ptr(), uid, gid),
            }
        })
        .map(drop)
    }

    pub(crate) fn truncate(self, size: u64) -> Res<()> {
        let size = libc::off_t::try_from(size).map_err(|_| Errno::EFBIG)?;
        // SAFETY: plain syscalls on a valid fd / NUL-terminated path.
        cvt(unsafe {
            match self {
                Target::Fd(fd) => libc::ftruncate(fd, size),
                Target::Path(p) => libc::truncate(p.as_ptr(), size),
            }
        })
        .map(drop)
    }

    pub(crate) fn utimens(self, atime: Option<TimeOrNow>, mtime: Option<TimeOrNow>) -> Res<()> {
        let times = [timespec(atime), timespec(mtime)];
        // SAFETY: `times` holds the two timespecs utimensat expects.
        cvt(unsafe {
            match self {
                Target::Fd(fd) => libc::futimens(fd, times.as_ptr()),
                Target::Path(p) => libc::utimensat(
                    libc::AT_FDCWD,
                    p.as_ptr(),
                    times.as_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                ),
            }
        })
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_paths() {
        let root = CString::new("/b").unwrap();
        let got = with_child(&root, OsStr::new("x"), |p| Ok(p.to_owned())).unwrap();
        assert_eq!(got.as_bytes(), b"/b/x");
        let slash = CString::new("/").unwrap();
        assert_eq!(
            child_path(&slash, OsStr::new("y")).unwrap().as_bytes(),
            b"/y"
        );
        assert!(with_child(&root, OsStr::new("a/b"), |_| Ok(())).is_err());
        assert!(with_child(&root, OsStr::new(""), |_| Ok(())).is_err());
    }

    #[test]
    fn timespec_handles_omit_now_and_negative() {
        assert_eq!(timespec(None).tv_nsec, libc::UTIME_OMIT);
        assert_eq!(timespec(Some(TimeOrNow::Now)).tv_nsec, libc::UTIME_NOW);
        let t = UNIX_EPOCH - Duration::from_millis(1500);
        let ts = timespec(Some(TimeOrNow::SpecificTime(t)));
        assert_eq!((ts.tv_sec, ts.tv_nsec), (-2, 500_000_000));
        assert_eq!(system_time(-2, 500_000_000), t);
    }
}
