//! Container listings straight from the directory tree, in Swift's order:
//! UTF-8 byte order of full object names, so directory `a` sorts as `a/`.
//!
//! The walk reads one directory at a time, sorts it, and skips every subtree
//! whose names all fall outside prefix, marker or end_marker, so the cost
//! follows the page rather than the container. With a delimiter a directory
//! becomes a `subdir` entry without being read.

use std::ops::ControlFlow;

use super::beneath::{is_refused, Dir, Kind as FileKind};
use super::meta;
use super::name::{self, ObjPath};
use super::object::{self, is_internal_name, Listed, ObjectInfo};
use super::sidecar::{self, Place};
use super::walk::MAX_DEPTH;
use super::xattr::Target;
use super::{is_gone, is_not_found, ContainerLoc, Follow, Result, Store};

/// What to list. `prefix`, `marker`, `end_marker` and `delimiter` are only
/// compared with names, never joined to a path: the one directory a
/// listing starts in is the part of `prefix` up to its last `/`, descended
/// only when it is made of valid names (see [`name::prefix_dir`]).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub marker: String,
    pub end_marker: String,
    pub reverse: bool,
    pub limit: usize,
    /// Read each object's metadata (json/xml); plain listings need names only.
    pub with_meta: bool,
    /// Swift's `path=`: the files and markers directly inside `prefix`
    /// (which ends in `/` or is empty), nothing deeper, not `prefix` itself.
    pub path: bool,
    /// Hash files without fresh metadata only within the store's
    /// `listing_hash` budget (a client's listing page); rows past it have
    /// no ETag and go to the background hasher. Off: every row is hashed
    /// (listings sofgate reads itself, such as large-object segments).
    pub bounded: bool,
}

/// One row of a listing.
#[derive(Debug, Clone)]
pub enum Entry {
    Object {
        name: String,
        info: Option<ObjectInfo>,
    },
    Subdir(String),
}

impl Entry {
    pub fn name(&self) -> &str {
        match self {
            Entry::Object { name, .. } | Entry::Subdir(name) => name,
        }
    }
}

/// Order matters: at equal keys a marker (`a/`) comes before its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    File,
    /// A directory seen as a possible marker object, listed as `a/`.
    DirSelf,
    /// The children of a directory (`a/`).
    Subtree,
}

/// One name of a directory: its sort key (the full object name, `a/` for a
/// directory), what it is, and its disk name there.
struct Key {
    key: String,
    kind: Kind,
    disk: String,
}

struct Walk<'a> {
    store: &'a Store,
    loc: &'a ContainerLoc,
    q: &'a Query,
    /// Exclusive bounds on names, whatever the direction.
    lo: &'a str,
    hi: &'a str,
    /// Names under the last emitted subdir are folded into it.
    skip: Option<String>,
    out: Vec<Entry>,
    /// What this page may still hash inline (`None`: no limit).
    budget: Option<super::Budget>,
}

/// Lists a container.
pub fn list(store: &Store, loc: &ContainerLoc, q: &Query) -> Result<Vec<Entry>> {
    let (lo, hi) = if q.reverse {
        (q.end_marker.as_str(), q.marker.as_str())
    } else {
        (q.marker.as_str(), q.end_marker.as_str())
    };
    let mut w = Walk {
        store,
        loc,
        q,
        lo,
        hi,
        skip: None,
        out: Vec::new(),
        budget: q.bounded.then(|| store.opts.listing_hash.start()),
    };
    if q.limit == 0 {
        return Ok(w.out);
    }
    // Start in the deepest directory the prefix names in full; a prefix
    // whose directories could not hold objects (`..`, empty, ...) matches
    // nothing.
    let Some(start_dir) = name::prefix_dir(&q.prefix) else {
        return Ok(w.out);
    };
    let (start, dir, own) = if start_dir.is_empty() {
        (String::new(), loc.dir.clone(), None)
    } else {
        let Ok(start_name) = ObjPath::from_parts(format!("{start_dir}/")) else {
            return Ok(w.out);
        };
        let dir = match loc.dir.open_dir(&start_name.disk_path()) {
            Ok(d) => d,
            Err(e) if is_not_found(&e) || is_refused(&e) => return Ok(w.out),
            Err(e) => return Err(e.into()),
        };
        (start_name.to_string(), dir, Some(start_name))
    };
    // A prefix ending in `/` matches the marker of the directory it names,
    // which lives one level up: listed before its children (after, reversed).
    let own_marker = own.filter(|_| !q.path && w.in_bounds(&start));
    if let Some(n) = own_marker.as_ref().filter(|_| !q.reverse) {
        if w.own_marker(&dir, n).is_break() {
            return Ok(w.out);
        }
    }
    if w.dir(&dir, &start, 0)?.is_break() {
        return Ok(w.out);
    }
    if let Some(n) = own_marker.as_ref().filter(|_| q.reverse) {
        let _ = w.own_marker(&dir, n);
    }
    Ok(w.out)
}

impl Walk<'_> {
    /// The marker of the start directory itself, if it is one.
    fn own_marker(&mut self, dir: &Dir, n: &ObjPath) -> ControlFlow<()> {
        let (parent, leaf) = (n.disk_parent(), n.disk_leaf());
        let place = Place {
            anchor: &self.loc.dir,
            parent: &parent,
            leaf: &leaf,
        };
        match marker(dir, place) {
            Some(info) => self.push(Entry::Object {
                name: n.to_string(),
                info: Some(info),
            }),
            None => ControlFlow::Continue(()),
        }
    }

    fn in_bounds(&self, n: &str) -> bool {
        !(self.q.path && n == self.q.prefix)
            && n.starts_with(self.q.prefix.as_str())
            && (self.lo.is_empty() || n > self.lo)
            && (self.hi.is_empty() || n < self.hi)
    }

    /// Could any name under `sub` (which ends in `/`) be listed?
    fn subtree_relevant(&self, sub: &str) -> bool {
        let p = self.q.prefix.as_str();
        if !(sub.starts_with(p) || p.starts_with(sub)) {
            return false;
        }
        if !self.lo.is_empty() && self.lo > sub && !self.lo.starts_with(sub) {
            return false;
        }
        if !self.hi.is_empty() && sub >= self.hi {
            return false;
        }
        !matches!(&self.skip, Some(s) if sub.starts_with(s.as_str()))
    }

    /// The subdir a name folds into under the delimiter, if any.
    fn fold(&self, n: &str) -> Option<String> {
        let d = self.q.delimiter.as_deref().filter(|d| !d.is_empty())?;
        let plen = self.q.prefix.len();
        if n.len() < plen {
            return None;
        }
        let i = n[plen..].find(d)?;
        Some(n[..plen + i + d.len()].to_string())
    }

    fn push(&mut self, e: Entry) -> ControlFlow<()> {
        self.out.push(e);
        if self.out.len() >= self.q.limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn emit_subdir(&mut self, s: String) -> ControlFlow<()> {
        let fresh = self.skip.as_deref() != Some(s.as_str());
        self.skip = Some(s.clone());
        if fresh && self.in_bounds(&s) {
            return self.push(Entry::Subdir(s));
        }
        ControlFlow::Continue(())
    }

    fn skipped(&self, n: &str) -> bool {
        matches!(&self.skip, Some(s) if n.starts_with(s.as_str()))
    }

    /// Lists the directory `dir`, named `rel` (`""` or ending in `/`),
    /// `depth` levels below the container.
    fn dir(&mut self, dir: &Dir, rel: &str, depth: usize) -> Result<ControlFlow<()>> {
        let mut keys = match read_sorted(self.loc, dir, rel) {
            Ok(k) => k,
            Err(e) if is_gone(&e) && !rel.is_empty() => return Ok(ControlFlow::Continue(())),
            // A directory sofgate may not read (another user's, mode 0700):
            // its objects are not listed; the rest of the container is.
            Err(e) if is_denied(&e) && !rel.is_empty() => {
                tracing::debug!("not listing {rel:?}: {e}");
                return Ok(ControlFlow::Continue(()));
            }
            Err(e) => return Err(e.into()),
        };
        if self.q.reverse {
            keys.reverse();
        }
        for k in keys {
            let flow = match k.kind {
                Kind::Subtree => {
                    if self.q.path || !self.subtree_relevant(&k.key) || depth + 1 >= MAX_DEPTH {
                        continue;
                    }
                    match self.fold(&k.key) {
                        Some(s) if k.key.starts_with(&s) => self.emit_subdir(s),
                        _ => match dir.open_dir(&k.disk) {
                            Ok(sub) => self.dir(&sub, &k.key, depth + 1)?,
                            // Gone, or replaced by a symlink or a mount since read.
                            Err(e) if is_gone(&e) || is_refused(&e) => continue,
                            Err(e) => return Err(e.into()),
                        },
                    }
                }
                Kind::File | Kind::DirSelf => {
                    if !self.in_bounds(&k.key) || self.skipped(&k.key) {
                        continue;
                    }
                    if let Some(s) = self.fold(&k.key) {
                        self.emit_subdir(s)
                    } else {
                        match self.object(dir, &k)? {
                            Some(e) => self.push(e),
                            None => ControlFlow::Continue(()),
                        }
                    }
                }
            };
            if flow.is_break() {
                return Ok(flow);
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn object(&mut self, dir: &Dir, k: &Key) -> Result<Option<Entry>> {
        let place = Place {
            anchor: dir,
            parent: "",
            leaf: &k.disk,
        };
        if k.kind == Kind::DirSelf {
            let info = match dir.open_dir(&k.disk) {
                Ok(d) => marker(&d, place),
                Err(_) => None,
            };
            return Ok(info.map(|i| Entry::Object {
                name: k.key.clone(),
                info: Some(i),
            }));
        }
        if !self.q.with_meta {
            return Ok(Some(Entry::Object {
                name: k.key.clone(),
                info: None,
            }));
        }
        let Ok(name) = ObjPath::from_parts(k.key.clone()) else {
            return Ok(None);
        };
        // A file the background hasher has already is not read here too.
        let mut spent = super::Budget::spent();
        let budget = match self.budget.as_mut() {
            Some(_) if self.store.hasher.is_pending(self.loc, &name) => Some(&mut spent),
            b => b,
        };
        let listed = object::head_entry(self.store, self.loc, dir, &k.disk, &name, budget);
        match listed {
            Ok(Listed::Known(info)) => Ok(Some(Entry::Object {
                name: k.key.clone(),
                info: Some(info),
            })),
            Ok(Listed::Unhashed { info, queue }) => {
                self.store.stats.listing_unhashed_rows.add(1);
                if queue {
                    self.store.hasher.offer(self.loc, &name);
                }
                Ok(Some(Entry::Object {
                    name: k.key.clone(),
                    info: Some(info),
                }))
            }
            // Gone since the directory was read: not listed.
            Err(super::Error::NotFound) => Ok(None),
            // A file sofgate may not read: listed with what its stat says.
            Err(super::Error::Io(e)) if is_denied(&e) => {
                Ok(dir.stat_at(&k.disk).ok().map(|st| Entry::Object {
                    name: k.key.clone(),
                    info: Some(object::unreadable_info(&name, &st)),
                }))
            }
            Err(e) => Err(e),
        }
    }
}

/// EACCES or EPERM: the file is there but sofgate's user may not read it.
fn is_denied(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM))
}

/// The marker metadata of the directory `d` (at `place`), if it is one.
fn marker(d: &Dir, place: Place<'_>) -> Option<ObjectInfo> {
    let h = d.handle().ok()?;
    match sidecar::load(Target::Handle(&h), place).ok().flatten() {
        Some(m) if meta::is_marker(&m) => Some(ObjectInfo { size: 0, meta: m }),
        _ => None,
    }
}

/// Reads one directory into sort keys: files as `rel+name`, directories as
/// both `rel+name/` (a possible marker object) and `rel+name/` (its
/// children); an escaped long component by the full name in its xattr.
/// FIFOs, sockets and devices are left out; so are symlinks, unless the
/// container's link policy serves them and the link leads to a regular
/// file inside the container (listed as a file, never descended).
fn read_sorted(loc: &ContainerLoc, dir: &Dir, rel: &str) -> std::io::Result<Vec<Key>> {
    let mut keys = Vec::new();
    for (disk, kind) in dir.entries()? {
        if is_internal_name(&disk) {
            continue;
        }
        let kind = match kind {
            Some(k) => k,
            None => match dir.stat_at(&disk) {
                Ok(st) => st.kind(),
                Err(_) => continue,
            },
        };
        // A long component: listed under its full name, or not at all.
        let n = if name::is_long_name(&disk) {
            match long_name(dir, &disk) {
                Some(full) => full,
                None => {
                    tracing::debug!("skipping {disk:?} in {rel:?}: no full name");
                    continue;
                }
            }
        } else {
            disk.clone()
        };
        let full = format!("{rel}{n}");
        match kind {
            FileKind::Dir => {
                keys.push(Key {
                    key: format!("{full}/"),
                    kind: Kind::DirSelf,
                    disk: disk.clone(),
                });
                keys.push(Key {
                    key: format!("{full}/"),
                    kind: Kind::Subtree,
                    disk,
                });
            }
            FileKind::File => keys.push(Key {
                key: full,
                kind: Kind::File,
                disk,
            }),
            FileKind::Symlink if served_link(loc, &full) => keys.push(Key {
                key: full,
                kind: Kind::File,
                disk,
            }),
            _ => {}
        }
    }
    keys.sort_unstable_by(|a, b| {
        a.key
            .as_bytes()
            .cmp(b.key.as_bytes())
            .then(a.kind.cmp(&b.kind))
    });
    Ok(keys)
}

/// The full name of the escaped entry `disk` of `dir`, if it has a valid one.
fn long_name(dir: &Dir, disk: &str) -> Option<String> {
    let node = dir.node(disk, Follow::Never).ok()?;
    let h = node.handle().ok()?;
    name::full_name(Target::Handle(&h), disk).ok().flatten()
}

/// Is the symlink named `full` served as a file (by the container's policy)?
fn served_link(loc: &ContainerLoc, full: &str) -> bool {
    loc.links == Follow::Beneath
        && ObjPath::from_parts(full.to_string())
            .ok()
            .is_some_and(|n| object::find(loc, &n.disk_path()).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{self, obj};
    use std::path::{Path, PathBuf};

    fn store(dir: &Path) -> (Store, ContainerLoc) {
        let s = testing::store(dir);
        let c = testing::container(&s, "AUTH_a", "c");
        (s, c)
    }

    fn cdir(loc: &ContainerLoc) -> PathBuf {
        PathBuf::from(loc.key.to_string())
    }

    fn touch(loc: &ContainerLoc, rel: &str) {
        let p = cdir(loc).join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, rel.as_bytes()).unwrap();
    }

    fn names(s: &Store, loc: &ContainerLoc, q: Query) -> Vec<String> {
        list(s, loc, &q)
            .unwrap()
            .iter()
            .map(|e| e.name().to_string())
            .collect()
    }

    fn q() -> Query {
        Query {
            limit: 10000,
            ..Default::default()
        }
    }

    #[test]
    fn order_is_byte_order_of_full_names() {
        let d = tempfile::tempdir().unwrap();
        let (s, loc) = store(d.path());
        for n in ["a/b", "a-c", "a0", "b", "A", "é", "a/a/z"] {
            touch(&loc, n);
        }
        std::fs::write(cdir(&loc).join(".x.0123456789abcdef.sgtmp"), b"tmp").unwrap();
        assert_eq!(
            names(&s, &loc, q()),
            ["A", "a-c", "a/a/z", "a/b", "a0", "b", "é"]
        );
        let rev = names(
            &s,
            &loc,
            Query {
                reverse: true,
                ..q()
            },
        );
        assert_eq!(rev, ["é", "b", "a0", "a/b", "a/a/z", "a-c", "A"]);
    }

    #[test]
    fn marker_end_marker_prefix_and_limit() {
        let d = tempfile::tempdir().unwrap();
        let (s, loc) = store(d.path());
        for n in ["a/1", "a/2", "b/1", "b/2", "c"] {
            touch(&loc, n);
        }
        assert_eq!(
            names(
                &s,
                &loc,
                Query {
                    marker: "a/2".into(),
                    ..q()
                }
            ),
            ["b/1", "b/2", "c"]
        );
        assert_eq!(
            names(
                &s,
                &loc,
                Query {
                    end_marker: "b/2".into(),
                    ..q()
                }
            ),
            ["a/1", "a/2", "b/1"]
        );
        assert_eq!(
            names(
                &s,
                &loc,
                Query {
                    prefix: "b/".into(),
                    ..q()
                }
            ),
            ["b/1", "b/2"]
        );
        assert_eq!(names(&s, &loc, Query { limit: 2, ..q() }), ["a/1", "a/2"]);
        assert_eq!(
            names(
                &s,
                &loc,
                Query {
                    reverse: true,
                    marker: "b/2".into(),
                    end_marker: "a/1".into(),
                    ..q()
                }
            ),
            ["b/1", "a/2"]
        );
    }

    #[test]
    fn delimiter_folds_directories_into_subdirs() {
        let d = tempfile::tempdir().unwrap();
        let (s, loc) = store(d.path());
        for n in ["a/1", "a/b/2", "a-x", "b", "c/d"] {
            touch(&loc, n);
        }
        let slash = Some("/".to_string());
        assert_eq!(
            names(
                &s,
                &loc,
                Query {
                    delimiter: slash.clone(),
                    ..q()
                }
            ),
            ["a-x", "a/", "b", "c/"]
        );
        assert_eq!(
            names(
                &s,
                &loc,
                Query {
                    delimiter: slash.clone(),
                    prefix: "a/".into(),
                    ..q()
                }
            ),
            ["a/1", "a/b/"]
        );
        assert_eq!(
            names(
                &s,
                &loc,
                Query {
                    delimiter: slash.clone(),
                    marker: "a/".into(),
                    ..q()
                }
            ),
            ["b", "c/"]
        );
        assert_eq!(
            names(
                &s,
                &loc,
                Query {
                    delimiter: Some("-".into()),
                    ..q()
                }
            ),
            ["a-", "a/1", "a/b/2", "b", "c/d"]
        );
    }

    #[test]
    fn marker_directories_are_objects_and_plain_directories_are_not() {
        let d = tempfile::tempdir().unwrap();
        let (s, loc) = store(d.path());
        touch(&loc, "plain/f");
        super::super::write::put_dir_marker(&s, &loc, &obj("m/"), Default::default()).unwrap();
        touch(&loc, "m/x");
        touch(&loc, "m-");
        assert_eq!(names(&s, &loc, q()), ["m-", "m/", "m/x", "plain/f"]);
        let rev = names(
            &s,
            &loc,
            Query {
                reverse: true,
                ..q()
            },
        );
        assert_eq!(rev, ["plain/f", "m/x", "m/", "m-"]);
        let pre = names(
            &s,
            &loc,
            Query {
                prefix: "m/".into(),
                ..q()
            },
        );
        assert_eq!(pre, ["m/", "m/x"]);
    }

    #[test]
    fn path_lists_one_level_with_markers() {
        let d = tempfile::tempdir().unwrap();
        let (s, loc) = store(d.path());
        super::super::write::put_dir_marker(&s, &loc, &obj("d/"), Default::default()).unwrap();
        super::super::write::put_dir_marker(&s, &loc, &obj("d/sub/"), Default::default()).unwrap();
        touch(&loc, "d/f");
        touch(&loc, "d/sub/deep");
        touch(&loc, "d/plain/deep");
        let path = |p: &str| Query {
            prefix: p.into(),
            path: true,
            ..q()
        };
        assert_eq!(names(&s, &loc, path("d/")), ["d/f", "d/sub/"]);
        assert_eq!(names(&s, &loc, path("")), ["d/"]);
    }
}
