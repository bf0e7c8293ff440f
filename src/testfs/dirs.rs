//! Directory operations: mkdir, rmdir, fsyncdir, and opendir/readdir/releasedir over a listing taken when the directory is opened (and again on rewind).

use std::collections::HashMap;
use std::ffi::{CStr, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirEntryExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use fuser::{Errno, FileAttr, FileType, INodeNo, ReplyDirectory};

use crate::testfs::faults::EioOp;
use crate::testfs::inodes::ROOT_INO;
use crate::testfs::state::{Caller, Core};
use crate::testfs::sys::{self, cvt, Res, Target};

/// Directory handles carry this bit so they can never be taken for a file descriptor.
const DIR_FH: u64 = 1 << 62;

struct Entry {
    ino: u64,
    kind: FileType,
    name: OsString,
}

/// One open directory.
struct Listing {
    ino: u64,
    path: Arc<CStr>,
    entries: Vec<Entry>,
    /// Taken by opendir and not yet read: a readdir at offset 0 need not list again.
    fresh: bool,
}

type Shared = Arc<Mutex<Listing>>;

/// Open directory handles.
#[derive(Default)]
pub(crate) struct DirHandles {
    open: Mutex<HashMap<u64, Shared>>,
    next: AtomicU64,
}

impl DirHandles {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Shared>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, fh: u64) -> Res<Shared> {
        self.lock().get(&fh).cloned().ok_or(Errno::EBADF)
    }
}

/// Reads the backing directory: `.`, `..`, then its entries (minus `hide`, the control file name at
/// the root).
fn list(ino: u64, path: &CStr, hide: Option<&OsStr>) -> Res<Vec<Entry>> {
    let dir = Path::new(OsStr::from_bytes(path.to_bytes()));
    let mut entries = vec![
        Entry {
            ino,
            kind: FileType::Directory,
            name: ".".into(),
        },
        Entry {
            ino: ROOT_INO,
            kind: FileType::Directory,
            name: "..".into(),
        },
    ];
    for entry in std::fs::read_dir(dir).map_err(Errno::from)? {
        let entry = entry.map_err(Errno::from)?;
        let name = entry.file_name();
        if Some(name.as_os_str()) == hide {
            continue;
        }
        let kind = match entry.file_type() {
            Ok(t) => FileType::from_std(t).unwrap_or(FileType::RegularFile),
            Err(_) => continue, // vanished meanwhile
        };
        entries.push(Entry {
            ino: entry.ino(),
            kind,
            name,
        });
    }
    Ok(entries)
}

fn lock(listing: &Shared) -> MutexGuard<'_, Listing> {
    listing.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Core {
    fn hidden_name(&self, ino: u64) -> Option<&OsStr> {
        (ino == ROOT_INO).then(|| self.control.name())
    }

    pub(crate) fn mkdir(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        caller: Caller,
    ) -> Res<FileAttr> {
        let dir = self.table.path(parent)?;
        sys::with_child(&dir, name, |path| {
            // SAFETY: valid NUL-terminated path.
            cvt(unsafe { libc::mkdir(path.as_ptr(), mode & 0o7777) })?;
            if let Err(e) = self.adopt(Target::Path(path), Some(mode), caller) {
                // SAFETY: valid NUL-terminated path.
                unsafe { libc::rmdir(path.as_ptr()) };
                return Err(e);
            }
            let st = sys::lstat(path)?;
            let ino = self.table.remember(path, true);
            Ok(sys::attr(ino, &st))
        })
    }

    pub(crate) fn rmdir(&self, parent: u64, name: &OsStr) -> Res<()> {
        let dir = self.table.path(parent)?;
        sys::with_child(&dir, name, |path| {
            // SAFETY: path_call hands over a valid NUL-terminated path.
            sys::path_call(path, |p| unsafe { libc::rmdir(p) })?;
            self.table.detach(path);
            Ok(())
        })
    }

    pub(crate) fn opendir(&self, ino: u64) -> Res<u64> {
        let path = self.table.path(ino)?;
        let entries = list(ino, &path, self.hidden_name(ino))?;
        let listing = Listing {
            ino,
            path,
            entries,
            fresh: true,
        };
        let fh = DIR_FH | self.dirs.next.fetch_add(1, Ordering::Relaxed);
        self.dirs.lock().insert(fh, Arc::new(Mutex::new(listing)));
        Ok(fh)
    }

    /// Fills `reply` from entry `offset` on; each entry's offset is its index + 1.
    pub(crate) fn readdir(&self, fh: u64, offset: u64, reply: &mut ReplyDirectory) -> Res<()> {
        let shared = self.dirs.get(fh)?;
        let mut listing = lock(&shared);
        if offset == 0 && !listing.fresh {
            // rewinddir: show what the directory holds now.
            listing.entries = list(listing.ino, &listing.path, self.hidden_name(listing.ino))?;
        }
        listing.fresh = false;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, e) in listing.entries.iter().enumerate().skip(start) {
            if reply.add(INodeNo(e.ino), i as u64 + 1, e.kind, &e.name) {
                break;
            }
        }
        Ok(())
    }

    pub(crate) fn releasedir(&self, fh: u64) {
        self.dirs.lock().remove(&fh);
    }

    pub(crate) fn fsyncdir(&self, ino: u64, datasync: bool) -> Res<()> {
        self.faults.check_eio(EioOp::Fsync)?;
        let path = self.table.path(ino)?;
        let fd = sys::open(&path, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        // SAFETY: plain syscalls on the fd just opened, closed right after.
        let res = cvt(unsafe {
            if datasync {
                libc::fdatasync(fd)
            } else {
                libc::fsync(fd)
            }
        });
        sys::close(fd);
        res.map(drop)
    }
}
