//! testfs: a FUSE passthrough test filesystem with operation counters and run-time fault injection, used to test sofgate against a "shared volume".
//!
//! [`run`] mounts a view of a backing directory at a mountpoint and serves it until it is
//! unmounted (`fusermount3 -u MOUNTPOINT` or `umount MOUNTPOINT`) or the process gets SIGTERM or
//! SIGINT, in which case it unmounts itself (lazily if the mount is busy).
//!
//! # Passthrough
//!
//! Every request is forwarded to the backing directory: lookup, getattr, setattr (chmod, chown,
//! truncate — through the open file when the kernel passes one — and utimens), mkdir, unlink,
//! rmdir, rename (also over an existing file; `RENAME_NOREPLACE` and `RENAME_EXCHANGE` are passed
//! to `renameat2`), create, open, read, write, flush, fsync, fsyncdir, release, fallocate,
//! opendir/readdir/releasedir, statfs, access, symlink/readlink, the four xattr calls, and
//! byte-range locks (getlk/setlk; see [`locks`]).
//!
//! * Open files are real descriptors on the backing files (the FUSE file handle is the fd), read
//!   and written with `pread`/`pwrite`, synced with `fsync`/`fdatasync`.
//! * Inodes are numbered by an ino ↔ path table; renaming a directory moves the paths of every
//!   inode below it, unlinked or replaced files keep working through their open handles, and
//!   entries are dropped when the kernel forgets them. Numbers are never reused.
//! * Running as root, files, directories and symlinks created through the mount are given to the
//!   calling uid/gid, and the caller's mode is applied exactly (our own umask does not interfere).
//! * xattrs follow the kernel's rules: a missing attribute is `ENODATA`, a size-0 query returns
//!   the length, a too-small buffer is `ERANGE`, `XATTR_CREATE`/`XATTR_REPLACE` are honoured,
//!   and no xattr call ever answers `ENOSYS` (one `ENOSYS` would turn xattrs off for the whole
//!   mount).
//!
//! # Several mounts of one backing directory
//!
//! Entry and attribute TTLs are 0 and nothing is cached between opens, so several testfs mounts
//! of the same backing directory behave like nodes sharing one volume: a rename, write, unlink or
//! xattr change made through one mount is seen by the next system call on any other mount. The
//! price is a lookup/getattr round trip on every path walk; that is intended. A byte-range lock
//! taken through one mount holds against every other, as a network filesystem's locks hold for
//! all its clients.
//!
//! # xattr room
//!
//! With [`Options::xattr_room`] set, a setxattr of a `user.*` attribute fails with `ENOSPC` when
//! the file's user.* attributes would then take more than that many bytes, counting
//! `name length + 1 + value length` per attribute (the name with its `user.` prefix, as
//! listxattr returns it). This mimics ext4, where all xattrs of a file must fit in one ~4 KiB
//! block; pass 4096 to get ext4-like behaviour.
//!
//! # Control file
//!
//! The mount root holds a virtual file, `.testfs-control` by default (see [`Options::control`]).
//! It does not exist in the backing directory, is not listed by readdir, and requests on it are
//! neither counted nor delayed nor failed.
//!
//! Reading it returns one `name value` line per counter, e.g. `getxattr 12`. The counters are:
//! lookup, forget, getattr, setattr, readlink, symlink, mkdir, unlink, rmdir, rename, open,
//! create, read, write, flush, release, fsync, fallocate, opendir, readdir, releasedir,
//! fsyncdir, statfs, access, getxattr, setxattr, listxattr, removexattr, and the byte totals
//! read_bytes and write_bytes. A request is counted when it arrives (a hung one too).
//!
//! Writing to it applies one command per line (a bad line fails the write with `EINVAL` and
//! nothing is applied):
//!
//! | command | effect |
//! |---|---|
//! | `reset` | zero all counters |
//! | `enospc_after BYTES` | writes succeed for BYTES more bytes (the write crossing the limit is cut short), then fail with `ENOSPC` |
//! | `enospc_now` | every write (and fallocate) fails with `ENOSPC` |
//! | `eio OP` | OP fails with `EIO`; OP is `write`, `fsync` (fsync and fsyncdir), `rename`, `setxattr` or `read`; several may be on |
//! | `latency_ms N` | every request waits N ms before it is served (`latency_ms 0` turns it off) |
//! | `hang` | every request blocks until `clear` |
//! | `clear` | all faults off; hung requests proceed; counters are kept |
//!
//! Faults stay on until `clear`. For example `echo 'eio fsync' > /mnt/.testfs-control`.
//!
//! # Threads, latency and hangs
//!
//! fuser runs a few session threads that read requests from the kernel. A request is normally
//! served right on that thread. While a latency or hang fault is on, each request (except those
//! on the control file) is instead moved — with its fuser reply object, which is `Send` — to a
//! thread of its own that waits and then serves it. So the session threads never block, the
//! control file stays usable during a hang (that is how `clear` gets in), and N slow requests
//! overlap as they would on a slow disk instead of queueing behind each other.
//!
//! # Limitations
//!
//! * No permission checks of our own (`default_permissions` is off, to avoid a getattr per path
//!   component): everything is done with the daemon's credentials, so when it runs as root every
//!   caller may do what root may, and `access` answers as for root.
//! * No hard links, device nodes, fifos, file locks beyond the kernel's local ones, or
//!   copy_file_range (the kernel falls back to read/write).
//! * The xattr room is checked then set under a lock of this mount only; two mounts setting
//!   xattrs on the same file at the same moment may together exceed it.
//! * Inode numbers are per mount: the same file has different `st_ino` on two mounts, and
//!   readdir reports the backing inode numbers in `d_ino`.
//! * Created files get the caller's gid even inside a setgid directory.
//! * `hang` blocks every request except those on the control file, including a `stat` of the
//!   mount root; check for the mount via `/proc/self/mounts` rather than `mountpoint` meanwhile.

mod control;
mod dirs;
mod dispatch;
mod faults;
mod files;
mod gate;
mod inodes;
mod locks;
mod state;
mod sys;
mod xattr;

use std::ffi::{CString, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fuser::{Config, MountOption, Session, SessionACL};

use crate::testfs::gate::TestFs;
use crate::testfs::state::Core;

/// Default name of the control file at the mount root.
pub const CONTROL_NAME: &str = ".testfs-control";

/// Session threads reading requests from the kernel.
const SESSION_THREADS: usize = 4;

/// What to mount where.
#[derive(Clone, Debug)]
pub struct Options {
    /// Directory whose contents the mount shows and changes.
    pub backing: PathBuf,
    /// Where to mount (an existing directory, not inside `backing`).
    pub mountpoint: PathBuf,
    /// Per-file byte budget for user.* xattrs (names + 1 + values); `None` for no limit.
    pub xattr_room: Option<usize>,
    /// File name of the control file at the mount root; `None` for [`CONTROL_NAME`].
    pub control: Option<PathBuf>,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn control_name(control: Option<&Path>) -> io::Result<OsString> {
    let Some(path) = control else {
        return Ok(CONTROL_NAME.into());
    };
    let mut parts = path.components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(name)), None) => Ok(name.to_owned()),
        _ => Err(invalid(format!(
            "control file name {path:?} must be a single file name"
        ))),
    }
}

/// Mounts the filesystem and serves it until it is unmounted or SIGTERM/SIGINT arrives (then it
/// unmounts it). Returns when the mount is gone.
///
/// SIGTERM and SIGINT are blocked in the calling thread (and so in the threads it starts) while
/// this runs, and taken with `sigtimedwait`; the previous signal mask is restored on return.
pub fn run(opts: Options) -> io::Result<()> {
    let backing = opts.backing.canonicalize()?;
    if !backing.is_dir() {
        return Err(invalid(format!("backing {backing:?} is not a directory")));
    }
    let mountpoint = opts.mountpoint.canonicalize()?;
    if backing.starts_with(&mountpoint) {
        return Err(invalid(format!(
            "backing {backing:?} must not be at or below the mountpoint {mountpoint:?}"
        )));
    }
    let control = control_name(opts.control.as_deref())?;
    let core = Arc::new(Core::new(&backing, control, opts.xattr_room)?);

    let signals = signals::Blocked::block()?;
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("testfs".into()),
        MountOption::Subtype("testfs".into()),
    ];
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        // Let every user in, as on a real shared volume (allow_other needs root or fuse.conf).
        config.acl = SessionACL::All;
    }
    config.n_threads = Some(SESSION_THREADS);
    config.clone_fd = true;

    let session = Session::new(TestFs::new(core.clone()), &mountpoint, &config)?;
    let background = session.spawn()?;
    tracing::info!(?backing, ?mountpoint, "testfs mounted");

    let signal = loop {
        if background.guard.is_finished() {
            break None; // unmounted from outside
        }
        if let Some(sig) = signals.wait(Duration::from_millis(100)) {
            break Some(sig);
        }
    };
    // Let hung requests go and refuse new hangs, so the session can drain.
    core.faults.stop();
    if let Some(sig) = signal {
        tracing::info!(sig, ?mountpoint, "testfs unmounting on signal");
        unmount(&mountpoint);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !background.guard.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if background.guard.is_finished() {
        background.join()
    } else {
        // Lazily detached but still in use: the kernel ends the session when the last user goes.
        tracing::warn!(
            ?mountpoint,
            "testfs session still busy after unmount; leaving it"
        );
        Ok(())
    }
}

/// Unmounts `mountpoint`: umount(2) as root (lazily if busy), else `fusermount3 -u -z`.
fn unmount(mountpoint: &Path) {
    let Ok(path) = CString::new(mountpoint.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: geteuid cannot fail; umount2 gets a valid NUL-terminated path.
    if unsafe { libc::geteuid() } == 0 {
        if unsafe { libc::umount2(path.as_ptr(), 0) } == 0 {
            return;
        }
        match io::Error::last_os_error().raw_os_error() {
            // SAFETY: as above.
            Some(libc::EBUSY) => unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) },
            _ => return, // EINVAL: already unmounted
        };
        return;
    }
    for tool in ["fusermount3", "fusermount"] {
        let status = std::process::Command::new(tool)
            .args(["-u", "-q", "-z", "--"])
            .arg(mountpoint)
            .stderr(std::process::Stdio::null())
            .status();
        if matches!(status, Ok(s) if s.success()) {
            return;
        }
    }
    tracing::warn!(?mountpoint, "testfs could not unmount");
}

/// Blocking SIGINT/SIGTERM and waiting for them.
mod signals {
    use std::io;
    use std::mem::MaybeUninit;
    use std::time::Duration;

    /// SIGINT and SIGTERM blocked in this thread until dropped.
    pub(super) struct Blocked {
        set: libc::sigset_t,
        old: libc::sigset_t,
    }

    impl Blocked {
        pub(super) fn block() -> io::Result<Blocked> {
            // SAFETY: sigset_t is initialised by sigemptyset before use.
            unsafe {
                let mut set = MaybeUninit::<libc::sigset_t>::uninit();
                libc::sigemptyset(set.as_mut_ptr());
                let mut set = set.assume_init();
                libc::sigaddset(&mut set, libc::SIGINT);
                libc::sigaddset(&mut set, libc::SIGTERM);
                let mut old = MaybeUninit::<libc::sigset_t>::uninit();
                let err = libc::pthread_sigmask(libc::SIG_BLOCK, &set, old.as_mut_ptr());
                if err != 0 {
                    return Err(io::Error::from_raw_os_error(err));
                }
                Ok(Blocked {
                    set,
                    old: old.assume_init(),
                })
            }
        }

        /// The signal taken, or `None` after `timeout`.
        pub(super) fn wait(&self, timeout: Duration) -> Option<i32> {
            // SAFETY: timespec is plain old data; all-zero is valid.
            let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
            ts.tv_sec = timeout.as_secs() as libc::time_t;
            ts.tv_nsec = libc::c_long::from(timeout.subsec_nanos());
            // SAFETY: valid signal set and timeout; we do not ask for siginfo.
            let sig = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &ts) };
            (sig > 0).then_some(sig)
        }
    }

    impl Drop for Blocked {
        fn drop(&mut self) {
            // SAFETY: restores the mask saved in `block`.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_name_must_be_one_component() {
        assert_eq!(control_name(None).unwrap(), CONTROL_NAME);
        assert_eq!(control_name(Some(Path::new("ctl"))).unwrap(), "ctl");
        assert!(control_name(Some(Path::new("a/b"))).is_err());
        assert!(control_name(Some(Path::new(".."))).is_err());
        assert!(control_name(Some(Path::new("/x"))).is_err());
    }
}
