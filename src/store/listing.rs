//! Container listings straight from the directory tree, in Swift's order:
//! UTF-8 byte order of full object names, so directory `a` sorts as `a/`.
//!
//! The walk reads one directory at a time, sorts it, and skips every subtree
//! whose names all fall outside prefix, marker or end_marker, so the cost
//! follows the page rather than the container. With a delimiter a directory
//! becomes a `subdir` entry without being read.

use std::ops::ControlFlow;
use std::path::Path;

use super::meta;
use super::object::{self, is_internal_name, ObjectInfo};
use super::xattr::Target;
use super::{is_not_found, name, ContainerLoc, Result, Store};

/// What to list.
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
    };
    if q.limit == 0 {
        return Ok(w.out);
    }
    // Start in the deepest directory the prefix names in full.
    let start = match q.prefix.rfind('/') {
        Some(i) => &q.prefix[..=i],
        None => "",
    };
    // A prefix ending in `/` matches the marker of the directory it names,
    // which lives one level up: listed before its children (after, reversed).
    let own_marker = !q.path && !start.is_empty() && w.in_bounds(start);
    if own_marker && !q.reverse && w.marker_entry(start)?.is_break() {
        return Ok(w.out);
    }
    if w.dir(start)?.is_break() {
        return Ok(w.out);
    }
    if own_marker && q.reverse {
        let _ = w.marker_entry(start)?;
    }
    Ok(w.out)
}

impl Walk<'_> {
    fn marker_entry(&mut self, n: &str) -> Result<ControlFlow<()>> {
        Ok(match self.object(n, Kind::DirSelf)? {
            Some(e) => self.push(e),
            None => ControlFlow::Continue(()),
        })
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

    /// Lists directory `rel` (`""` or ending in `/`).
    fn dir(&mut self, rel: &str) -> Result<ControlFlow<()>> {
        let path = if rel.is_empty() {
            self.loc.dir.clone()
        } else {
            name::join(&self.loc.dir, rel.trim_end_matches('/'))
        };
        let mut keys = match read_sorted(&path, rel) {
            Ok(k) => k,
            Err(e) if is_not_found(&e) && !rel.is_empty() => return Ok(ControlFlow::Continue(())),
            Err(e) => return Err(e.into()),
        };
        if self.q.reverse {
            keys.reverse();
        }
        for (key, kind) in keys {
            let flow = match kind {
                Kind::Subtree => {
                    if self.q.path || !self.subtree_relevant(&key) {
                        continue;
                    }
                    match self.fold(&key) {
                        Some(s) if key.starts_with(&s) => self.emit_subdir(s),
                        _ => self.dir(&key)?,
                    }
                }
                Kind::File | Kind::DirSelf => {
                    if !self.in_bounds(&key) || self.skipped(&key) {
                        continue;
                    }
                    if let Some(s) = self.fold(&key) {
                        self.emit_subdir(s)
                    } else {
                        match self.object(&key, kind)? {
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

    fn object(&self, n: &str, kind: Kind) -> Result<Option<Entry>> {
        if kind == Kind::DirSelf {
            let p = name::join(&self.loc.dir, n);
            let m = super::sidecar::load(Target::Path(&p), &p).ok().flatten();
            return Ok(match m {
                Some(m) if meta::is_marker(&m) => Some(Entry::Object {
                    name: n.to_string(),
                    info: Some(ObjectInfo { size: 0, meta: m }),
                }),
                _ => None,
            });
        }
        if !self.q.with_meta {
            return Ok(Some(Entry::Object {
                name: n.to_string(),
                info: None,
            }));
        }
        match object::head(self.store, self.loc, n) {
            Ok(info) => Ok(Some(Entry::Object {
                name: n.to_string(),
                info: Some(info),
            })),
            // Gone since the directory was read: not listed.
            Err(super::Error::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Reads one directory into sort keys: files as `rel+name`, directories as
/// both `rel+name` (a possible marker object) and `rel+name/` (its children);
/// an escaped long component by the full name in its xattr.
fn read_sorted(path: &Path, rel: &str) -> std::io::Result<Vec<(String, Kind)>> {
    let mut keys = Vec::new();
    for ent in std::fs::read_dir(path)? {
        let ent = ent?;
        let Ok(n) = ent.file_name().into_string() else {
            tracing::debug!("skipping non-UTF-8 name in {}", path.display());
            continue;
        };
        if is_internal_name(&n) {
            continue;
        }
        // A long component: listed under its full name, or not at all.
        let n = if name::is_long_name(&n) {
            match name::full_name(Target::Path(&ent.path()), &n) {
                Ok(Some(full)) => full,
                _ => {
                    tracing::debug!("skipping {n:?} in {}: no full name", path.display());
                    continue;
                }
            }
        } else {
            n
        };
        let mut ft = ent.file_type()?;
        if ft.is_symlink() {
            match std::fs::metadata(ent.path()) {
                Ok(m) => ft = m.file_type(),
                Err(_) => continue,
            }
        }
        let full = format!("{rel}{n}");
        if ft.is_dir() {
            keys.push((format!("{full}/"), Kind::DirSelf));
            keys.push((format!("{full}/"), Kind::Subtree));
        } else if ft.is_file() {
            keys.push((full, Kind::File));
        }
    }
    keys.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Limits, Options, Policy};

    fn store(dir: &Path) -> (Store, ContainerLoc) {
        let s = Store::new(
            vec![Policy {
                name: "gold".into(),
                index: 0,
                device: dir.to_path_buf(),
                mount_check: false,
                default: true,
            }],
            Options {
                file_mode: 0o644,
                dir_mode: 0o755,
                xattr_chunk: 65536,
                fsync_dir: false,
                quick_reads: true,
                usage_ttl: std::time::Duration::from_secs(0),
                owners: Default::default(),
                limits: Limits {
                    max_account_name_length: 256,
                    max_container_name_length: 255,
                    max_object_name_length: 1024,
                },
            },
        );
        let c = dir.join("AUTH_a").join("c");
        std::fs::create_dir_all(&c).unwrap();
        (s, ContainerLoc { policy: 0, dir: c })
    }

    fn touch(loc: &ContainerLoc, rel: &str) {
        let p = name::join(&loc.dir, rel);
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
        std::fs::write(loc.dir.join(".x.0123456789abcdef.sgtmp"), b"tmp").unwrap();
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
        object::put_dir_marker(&s, &loc, "m", Default::default()).unwrap();
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
        object::put_dir_marker(&s, &loc, "d", Default::default()).unwrap();
        object::put_dir_marker(&s, &loc, "d/sub", Default::default()).unwrap();
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
