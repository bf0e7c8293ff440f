//! Byte-range locks shared by every mount of one backing directory, as a
//! network filesystem shares them between its clients: a lock taken
//! through the FUSE handle is an open-file-description lock on the handle's
//! backing fd, so two handles (through one mount or two) conflict exactly
//! as two opens of one file do, and a lock goes when its handle is released.
//!
//! sofgate takes open-file-description locks, which this is exact for.
//! Classic POSIX locks are approximated: they are owned by the handle, not
//! the process (one process locking one file through two opens conflicts
//! with itself, and two processes sharing an open through `fork` share its
//! locks), they last until the handle's release rather than the owner's
//! first close, and the holder's pid reads 0. A waiting lock (`F_SETLKW`)
//! cannot be interrupted by a signal (fuser answers FUSE_INTERRUPT with
//! ENOSYS).

use fuser::{Errno, ReplyEmpty, ReplyLock};

use crate::testfs::files::file_fd;
use crate::testfs::gate::empty;
use crate::testfs::sys::{cvt, Res};

/// FUSE's "to the end of the file".
const OFFSET_MAX: u64 = i64::MAX as u64;

/// The `flock` of the range `start..=end` (FUSE's form) and lock type `typ`.
fn flock_of(start: u64, end: u64, typ: i32) -> Res<libc::flock> {
    let len = match end {
        OFFSET_MAX => 0,
        e if e >= start => e - start + 1,
        _ => return Err(Errno::EINVAL),
    };
    // SAFETY: a zeroed flock is a valid value; every field used is set below.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::c_short::try_from(typ).map_err(|_| Errno::EINVAL)?;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = i64::try_from(start).map_err(|_| Errno::EINVAL)?;
    fl.l_len = i64::try_from(len).map_err(|_| Errno::EINVAL)?;
    Ok(fl)
}

fn fcntl_lock(fh: u64, cmd: libc::c_int, fl: &mut libc::flock) -> Res<()> {
    let fd = file_fd(fh).ok_or(Errno::EBADF)?;
    // SAFETY: fcntl with a lock command on a descriptor this handle owns and a valid flock.
    cvt(unsafe { libc::fcntl(fd, cmd, fl as *mut libc::flock) }).map(drop)
}

/// Takes, changes or drops the lock of handle `fh`; with `sleep` it waits
/// for a conflicting lock to go, on a thread of its own, so that a session
/// thread never waits on another client.
pub(crate) fn setlk(fh: u64, start: u64, end: u64, typ: i32, sleep: bool, reply: ReplyEmpty) {
    let mut fl = match flock_of(start, end, typ) {
        Ok(fl) => fl,
        Err(e) => return reply.error(e),
    };
    if !sleep {
        return empty(reply, fcntl_lock(fh, libc::F_OFD_SETLK, &mut fl));
    }
    let spawned = std::thread::Builder::new()
        .name("testfs-setlkw".into())
        .stack_size(64 * 1024)
        .spawn(move || empty(reply, fcntl_lock(fh, libc::F_OFD_SETLKW, &mut fl)));
    if let Err(err) = spawned {
        // The reply, dropped with the closure, answers EIO.
        tracing::error!(%err, "testfs: no thread for a waiting lock; it fails with EIO");
    }
}

/// The lock that would stop handle `fh` from taking this one (type
/// `F_UNLCK` when none would).
pub(crate) fn getlk(fh: u64, start: u64, end: u64, typ: i32, reply: ReplyLock) {
    let found = flock_of(start, end, typ).and_then(|mut fl| {
        fcntl_lock(fh, libc::F_OFD_GETLK, &mut fl)?;
        Ok(fl)
    });
    match found {
        Ok(fl) => {
            let start = fl.l_start.max(0) as u64;
            let end = match fl.l_len {
                0 => OFFSET_MAX,
                len => start.saturating_add(len.max(1) as u64 - 1),
            };
            reply.locked(start, end, i32::from(fl.l_type), fl.l_pid.max(0) as u32);
        }
        Err(e) => reply.error(e),
    }
}
