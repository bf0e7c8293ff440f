//! The inode table: maps FUSE inode numbers to backing paths and back, follows renames (whole subtrees for directories), remembers open descriptors so unlinked files stay usable, and drops entries when the kernel forgets them.

use std::collections::HashMap;
use std::ffi::CStr;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use fuser::Errno;

use crate::testfs::sys::{Res, Target};

/// Inode number of the mount root (fixed by FUSE).
pub(crate) const ROOT_INO: u64 = 1;
/// Inode number of the virtual control file.
pub(crate) const CONTROL_INO: u64 = 2;
/// First number handed out to backing files; numbers are never reused.
const FIRST_INO: u64 = 3;

struct Node {
    /// Absolute backing path; `None` once the file was unlinked or replaced through this mount.
    path: Option<Arc<CStr>>,
    /// How many times the kernel was handed this inode (by lookup, create, mkdir, symlink).
    lookups: u64,
    is_dir: bool,
    /// Backing fds of the open file handles, to reach the file once it has no path.
    handles: Vec<RawFd>,
}

#[derive(Default)]
struct Inner {
    nodes: HashMap<u64, Node>,
    by_path: HashMap<Arc<CStr>, u64>,
    next_ino: u64,
}

/// Thread-safe ino ↔ path table of one mount.
pub(crate) struct InodeTable {
    inner: Mutex<Inner>,
}

impl InodeTable {
    pub(crate) fn new(root: &CStr) -> InodeTable {
        let mut inner = Inner {
            next_ino: FIRST_INO,
            ..Inner::default()
        };
        let root: Arc<CStr> = Arc::from(root);
        inner.by_path.insert(root.clone(), ROOT_INO);
        let node = Node {
            path: Some(root),
            lookups: 1,
            is_dir: true,
            handles: Vec::new(),
        };
        inner.nodes.insert(ROOT_INO, node);
        InodeTable {
            inner: Mutex::new(inner),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The backing path of `ino`; ENOENT if the kernel forgot it or it was unlinked here.
    pub(crate) fn path(&self, ino: u64) -> Res<Arc<CStr>> {
        let inner = self.lock();
        match inner.nodes.get(&ino) {
            Some(Node { path: Some(p), .. }) => Ok(p.clone()),
            _ => Err(Errno::ENOENT),
        }
    }

    /// Calls `f` with the file behind `ino`: its path, or — once it was unlinked or replaced —
    /// one of its open descriptors (the table stays locked meanwhile, so the fd cannot be closed
    /// under `f`; `f` must not use the table). ENOENT if neither is left.
    pub(crate) fn with_target<R>(&self, ino: u64, f: impl FnOnce(Target<'_>) -> Res<R>) -> Res<R> {
        let inner = self.lock();
        let node = inner.nodes.get(&ino).ok_or(Errno::ENOENT)?;
        if let Some(path) = node.path.clone() {
            drop(inner);
            return f(Target::Path(&path));
        }
        match node.handles.first() {
            Some(&fd) => f(Target::Fd(fd)),
            None => Err(Errno::ENOENT),
        }
    }

    /// A file handle with backing descriptor `fd` was opened on `ino`.
    pub(crate) fn opened(&self, ino: u64, fd: RawFd) {
        if let Some(node) = self.lock().nodes.get_mut(&ino) {
            node.handles.push(fd);
        }
    }

    /// The handle with backing descriptor `fd` is about to be closed.
    pub(crate) fn released(&self, ino: u64, fd: RawFd) {
        if let Some(node) = self.lock().nodes.get_mut(&ino) {
            node.handles.retain(|h| *h != fd);
        }
    }

    /// Records that the kernel now holds one more reference to the file at `path`; returns its ino.
    pub(crate) fn remember(&self, path: &CStr, is_dir: bool) -> u64 {
        let mut inner = self.lock();
        if let Some(ino) = inner.by_path.get(path).copied() {
            if let Some(node) = inner.nodes.get_mut(&ino) {
                node.lookups += 1;
                node.is_dir = is_dir;
                return ino;
            }
        }
        let ino = inner.next_ino;
        inner.next_ino += 1;
        let path: Arc<CStr> = Arc::from(path);
        inner.by_path.insert(path.clone(), ino);
        let node = Node {
            path: Some(path),
            lookups: 1,
            is_dir,
            handles: Vec::new(),
        };
        inner.nodes.insert(ino, node);
        ino
    }

    /// The kernel dropped `n` references to `ino`; the entry goes when none are left.
    pub(crate) fn forget(&self, ino: u64, n: u64) {
        if ino < FIRST_INO {
            return;
        }
        let mut inner = self.lock();
        let Some(node) = inner.nodes.get_mut(&ino) else {
            return;
        };
        node.lookups = node.lookups.saturating_sub(n);
        if node.lookups > 0 {
            return;
        }
        let path = inner.nodes.remove(&ino).and_then(|node| node.path);
        if let Some(path) = path.filter(|p| inner.by_path.get(p) == Some(&ino)) {
            inner.by_path.remove(&path);
        }
    }

    /// The file (or directory tree) at `path` is gone; its inodes stay valid only through open
    /// handles.
    pub(crate) fn detach(&self, path: &CStr) {
        let mut inner = self.lock();
        let gone = inner.take_tree(path);
        for (ino, _) in gone {
            if let Some(node) = inner.nodes.get_mut(&ino) {
                node.path = None;
            }
        }
    }

    /// `from` was renamed to `to` (swapped with it when `exchange`): move the inodes along.
    pub(crate) fn renamed(&self, from: &CStr, to: &CStr, exchange: bool) {
        let mut inner = self.lock();
        let moving = inner.take_tree(from);
        let displaced = inner.take_tree(to);
        inner.place(moving, to.to_bytes());
        if exchange {
            inner.place(displaced, from.to_bytes());
        } else {
            for (ino, _) in displaced {
                if let Some(node) = inner.nodes.get_mut(&ino) {
                    node.path = None;
                }
            }
        }
    }

    #[cfg(test)]
    fn ino_of(&self, path: &str) -> Option<u64> {
        let key = std::ffi::CString::new(path).unwrap();
        self.lock().by_path.get(key.as_c_str()).copied()
    }
}

impl Inner {
    /// Unregisters `root` and, if it may be a directory, everything below it.
    /// Returns each inode with the rest of its path after `root` (empty for `root` itself).
    fn take_tree(&mut self, root_path: &CStr) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let own = self.by_path.get(root_path).copied();
        let root = root_path.to_bytes();
        // Only directories have children; an unknown root might be one we never looked up.
        let scan = match own.and_then(|ino| self.nodes.get(&ino)) {
            Some(node) => node.is_dir,
            None => true,
        };
        if let Some(ino) = own {
            self.by_path.remove(root_path);
            out.push((ino, Vec::new()));
        }
        if scan {
            let below: Vec<Arc<CStr>> = self
                .by_path
                .keys()
                .filter(|p| {
                    let p = p.to_bytes();
                    p.len() > root.len() && p.starts_with(root) && p[root.len()] == b'/'
                })
                .cloned()
                .collect();
            for path in below {
                if let Some(ino) = self.by_path.remove(&path) {
                    out.push((ino, path.to_bytes()[root.len()..].to_vec()));
                }
            }
        }
        out
    }

    /// Re-registers inodes taken by [`Inner::take_tree`] under the new root path.
    fn place(&mut self, moved: Vec<(u64, Vec<u8>)>, root: &[u8]) {
        for (ino, rest) in moved {
            let mut bytes = Vec::with_capacity(root.len() + rest.len() + 1);
            bytes.extend_from_slice(root);
            bytes.extend_from_slice(&rest);
            bytes.push(0);
            let Ok(path) = CStr::from_bytes_with_nul(&bytes) else {
                continue;
            };
            let path: Arc<CStr> = Arc::from(path);
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.path = Some(path.clone());
                self.by_path.insert(path, ino);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn c(s: &str) -> CString {
        CString::new(s).unwrap()
    }

    #[test]
    fn remember_and_forget() {
        let t = InodeTable::new(&c("/b"));
        let a = t.remember(&c("/b/a"), false);
        assert_eq!(t.remember(&c("/b/a"), false), a);
        t.forget(a, 1);
        assert_eq!(t.path(a).unwrap().to_bytes(), b"/b/a");
        t.forget(a, 1);
        assert!(t.path(a).is_err());
        assert_ne!(t.remember(&c("/b/a"), false), a, "numbers are never reused");
        t.forget(ROOT_INO, 99);
        assert!(t.path(ROOT_INO).is_ok());
    }

    #[test]
    fn rename_directory_moves_children_and_replaces_target() {
        let t = InodeTable::new(&c("/b"));
        let d = t.remember(&c("/b/d"), true);
        let f = t.remember(&c("/b/d/sub/f"), false);
        let other = t.remember(&c("/b/dd"), false);
        let old = t.remember(&c("/b/e"), true);
        t.renamed(&c("/b/d"), &c("/b/e"), false);
        assert_eq!(t.path(d).unwrap().to_bytes(), b"/b/e");
        assert_eq!(t.path(f).unwrap().to_bytes(), b"/b/e/sub/f");
        assert_eq!(
            t.path(other).unwrap().to_bytes(),
            b"/b/dd",
            "prefix is not a parent"
        );
        assert!(t.path(old).is_err(), "replaced target is detached");
        assert_eq!(t.ino_of("/b/e/sub/f"), Some(f));
        assert_eq!(t.ino_of("/b/d"), None);
    }

    #[test]
    fn exchange_and_detach() {
        let t = InodeTable::new(&c("/b"));
        let x = t.remember(&c("/b/x"), false);
        let y = t.remember(&c("/b/y"), false);
        t.renamed(&c("/b/x"), &c("/b/y"), true);
        assert_eq!(t.ino_of("/b/y"), Some(x));
        assert_eq!(t.ino_of("/b/x"), Some(y));
        t.opened(y, 0);
        t.detach(&c("/b/x"));
        assert!(t.path(y).is_err());
        let fd = t.with_target(y, |target| match target {
            Target::Fd(fd) => Ok(fd),
            Target::Path(_) => Err(Errno::EIO),
        });
        assert_eq!(fd, Ok(0), "an unlinked file is reached through its open fd");
        t.released(y, 0);
        assert_eq!(t.with_target(y, |_| Ok(())), Err(Errno::ENOENT));
        assert_eq!(t.ino_of("/b/x"), None);
    }
}
