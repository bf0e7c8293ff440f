//! What `sofgate index` and `sofgate scrub` see of a container: a walk
//! that names every regular file by its object name and reports what is
//! left over (temp files, sidecars whose object is gone, escaped long
//! names without a valid full name); a check of one object's content
//! against its metadata; and quarantine, which moves a file out of its
//! container into `<device>/.sofgate/quarantine/` with a note beside it.
//!
//! Everything is beneath the container's open directory, by fds, never
//! through a symlink or across a mount (see [`super::walk`]).

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::time::Duration;

use super::beneath::{Dir, Follow, Kind, Stat};
use super::meta::{self, keys, Meta};
use super::name::{self, ObjPath};
use super::object::{self, is_temp_name};
use super::sidecar::{self, is_sidecar_name, Place};
use super::walk::{self, Item, Visitor};
use super::xattr::Target;
use super::{is_not_found, ContainerLoc, Error, Result, Store};

/// Where quarantined files go, beneath the device's state directory.
pub const QUARANTINE: &str = "quarantine";

/// One thing a [`survey`] meets.
pub enum Met<'a> {
    /// A regular file that is an object, and its size.
    Object { name: ObjPath, size: u64 },
    /// An upload's temp file, left alone this long.
    Temp {
        dir: &'a Dir,
        leaf: &'a str,
        idle: Duration,
    },
    /// A metadata sidecar whose object is not there, left alone this long
    /// (an upload writes its sidecar just before the rename).
    OrphanSidecar {
        dir: &'a Dir,
        leaf: &'a str,
        idle: Duration,
    },
    /// An entry in the escaped form of a long name whose
    /// `user.sofgate.name` is missing or does not hash to it: never
    /// listed. Directories are not entered.
    BadLongName {
        dir: &'a Dir,
        leaf: &'a str,
        is_dir: bool,
    },
}

/// Walks a container and tells `f` of each object file and leftover;
/// `rel` given to `f` is the entry's disk path in the container.
pub fn survey(loc: &ContainerLoc, f: &mut dyn FnMut(&str, Met<'_>)) -> io::Result<()> {
    let mut s = Survey {
        f,
        path: Vec::new(),
    };
    walk::walk(&loc.dir, &mut s)
}

struct Survey<'f> {
    f: &'f mut dyn FnMut(&str, Met<'_>),
    /// (disk name, full name) of the directories down to the current one.
    path: Vec<(String, String)>,
}

impl Survey<'_> {
    fn rel(&self, leaf: &str) -> String {
        let mut r: Vec<&str> = self.path.iter().map(|(d, _)| d.as_str()).collect();
        r.push(leaf);
        r.join("/")
    }

    fn object_name(&self, full: &str) -> Option<ObjPath> {
        let mut n: Vec<&str> = self.path.iter().map(|(_, f)| f.as_str()).collect();
        n.push(full);
        ObjPath::from_parts(n.join("/")).ok()
    }
}

impl Visitor for Survey<'_> {
    fn visit(&mut self, item: &Item<'_>) -> io::Result<bool> {
        self.path.truncate(item.depth - 1);
        let (dir, leaf) = (item.parent, item.name);
        let rel = self.rel(leaf);
        if is_temp_name(leaf) || is_sidecar_name(leaf) {
            let st = match dir.stat_at(leaf) {
                Ok(st) if st.is_file() => st,
                _ => return Ok(false),
            };
            let idle = st.idle().unwrap_or_default();
            if is_temp_name(leaf) {
                (self.f)(&rel, Met::Temp { dir, leaf, idle });
            } else if is_orphan_sidecar(dir, leaf) {
                (self.f)(&rel, Met::OrphanSidecar { dir, leaf, idle });
            }
            return Ok(false);
        }
        match item.kind {
            Kind::Dir => {
                let Some(d) = item.dir else {
                    return Ok(false);
                };
                let full = full_name_of(leaf, || d.handle());
                match full {
                    Some(full) => {
                        self.path.push((leaf.to_string(), full));
                        Ok(true)
                    }
                    None => {
                        let is_dir = true;
                        (self.f)(&rel, Met::BadLongName { dir, leaf, is_dir });
                        Ok(false)
                    }
                }
            }
            Kind::File => {
                let node = dir.node(leaf, Follow::Never);
                let Ok(node) = node else {
                    return Ok(false);
                };
                let Some(full) = full_name_of(leaf, || node.handle()) else {
                    let is_dir = false;
                    (self.f)(&rel, Met::BadLongName { dir, leaf, is_dir });
                    return Ok(false);
                };
                if let Some(name) = self.object_name(&full) {
                    let size = node.st.len();
                    (self.f)(&rel, Met::Object { name, size });
                }
                Ok(false)
            }
            // Symlinks, FIFOs, sockets, devices: no objects of their own.
            _ => Ok(false),
        }
    }
}

/// The full name of the entry `leaf` (itself, unless it is an escaped long
/// name: then its recorded name, if valid).
fn full_name_of<'h>(
    leaf: &str,
    handle: impl FnOnce() -> io::Result<super::beneath::Handle<'h>>,
) -> Option<String> {
    if !name::is_long_name(leaf) {
        return Some(leaf.to_string());
    }
    let h = handle().ok()?;
    name::full_name(Target::Handle(&h), leaf).ok().flatten()
}

/// Is the sidecar `leaf` of `dir` without its object?
fn is_orphan_sidecar(dir: &Dir, leaf: &str) -> bool {
    let Some(of) = leaf
        .strip_prefix('.')
        .and_then(|l| l.strip_suffix(".sgmeta"))
    else {
        return false;
    };
    if dir.stat_at(of).is_ok() {
        return false;
    }
    // `.<md5 of the name>.sgmeta`, for names too long for the plain form.
    if of.len() == 32 && of.bytes().all(|b| b.is_ascii_hexdigit()) {
        if let Ok(entries) = dir.entries() {
            return !entries
                .iter()
                .any(|(n, _)| sidecar::sidecar_name(n) == leaf);
        }
        return false;
    }
    true
}

/// What a check found of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Content, length and ETag agree.
    Good,
    /// No metadata at all (a file made on the mount, not indexed yet).
    NoMetadata,
    /// Metadata is there but cannot be used (not JSON, cut short, a
    /// sidecar pointer without its sidecar, no ETag or length).
    Unreadable,
    /// The file was changed on the mount since its metadata was written
    /// (its mtime, or its size where no mtime was recorded, moved): the
    /// next read derives it again.
    Stale,
    /// The metadata says the file is as written (same mtime), but its
    /// length or MD5 is not what it records: the content changed under
    /// it (bit rot, a bad disk, a write that kept the mtime).
    Mismatch(String),
    /// The file changed while it was read: nothing can be said yet.
    Changed,
}

/// One object's check.
pub struct Checked {
    pub verdict: Verdict,
    /// Its stat when found.
    pub st: Stat,
    /// Its metadata, when readable.
    pub meta: Option<Meta>,
}

/// Checks the file of `name` against its metadata, reading its content
/// (`pace` told of each piece) unless the metadata is missing, unusable or
/// stale.
pub fn check(loc: &ContainerLoc, name: &ObjPath, pace: &mut dyn FnMut(u64)) -> Result<Checked> {
    let node = loc
        .dir
        .node(&name.disk_path(), Follow::Never)
        .map_err(object::lookup_error)?;
    let st = node.st;
    if !st.is_file() {
        return Err(Error::NotFound);
    }
    let file = node.open_read().map_err(object::lookup_error)?;
    let (parent, leaf) = (name.disk_parent(), name.disk_leaf());
    let place = Place {
        anchor: &loc.dir,
        parent: &parent,
        leaf: &leaf,
    };
    let t = Target::Fd(file.as_fd());
    let raw = super::xattr::get(t, meta::KEY)?;
    let stored = sidecar::load(t, place)?;
    let done = |verdict, meta| Ok(Checked { verdict, st, meta });
    let m = match stored {
        None if raw.is_none() => return done(Verdict::NoMetadata, None),
        None => return done(Verdict::Unreadable, None),
        Some(m) => m,
    };
    let (Some(etag), Some(len)) = (
        m.get(keys::ETAG).cloned(),
        m.get(keys::CONTENT_LENGTH)
            .and_then(|l| l.parse::<u64>().ok()),
    ) else {
        return done(Verdict::Unreadable, Some(m));
    };
    let mtime = object::exact_mtime(st.mtime(), st.mtime_nsec());
    let same_mtime = match m.get(keys::PUT_MTIME) {
        Some(t) => {
            meta::parse_timestamp(t).map(meta::normalize_timestamp)
                == meta::parse_timestamp(&mtime).map(meta::normalize_timestamp)
        }
        None => len == st.len(),
    };
    if !same_mtime {
        return done(Verdict::Stale, Some(m));
    }
    if len != st.len() {
        let why = format!("length {} where the metadata says {len}", st.len());
        return done(Verdict::Mismatch(why), Some(m));
    }
    let (md5, _) = object::md5_of(&file, pace)?;
    if object::changed_since(&file, &st)? {
        return done(Verdict::Changed, Some(m));
    }
    let want = etag.trim_matches('"');
    if !md5.eq_ignore_ascii_case(want) {
        let why = format!("MD5 {md5} where the metadata says {want}");
        return done(Verdict::Mismatch(why), Some(m));
    }
    done(Verdict::Good, Some(m))
}

/// The directory an object's file is in (never through a symlink).
pub fn object_dir(loc: &ContainerLoc, name: &ObjPath) -> Result<Dir> {
    if name.parent().is_none() {
        return Ok(loc.dir.clone());
    }
    loc.dir
        .open_dir(&name.disk_parent())
        .map_err(object::lookup_error)
}

/// Makes (as needed) and opens `<device>/.sofgate/quarantine/<account>/<container>`.
fn quarantine_dir(store: &Store, loc: &ContainerLoc) -> Result<Dir> {
    let parts = [QUARANTINE, loc.account.as_str()];
    Ok(store.state_dir(&loc.root, parts.into_iter().chain(loc.name.split('/')))?)
}

/// Moves the entry `leaf` of `dir` (in `loc`; `rel` its disk path there)
/// to the quarantine as `<unix time>-<16 hex>.data` with its sidecar (if
/// any) as `….sgmeta` and a note `….json` (`note`, plus where it was).
/// With `expect` (a file's dev and inode when it was checked), a file
/// that was replaced meanwhile is put back, untouched, and this is a
/// conflict. Returns the quarantine name.
pub fn quarantine(
    store: &Store,
    loc: &ContainerLoc,
    dir: &Dir,
    leaf: &str,
    rel: &str,
    expect: Option<(u64, u64)>,
    mut note: serde_json::Value,
) -> Result<String> {
    let q = quarantine_dir(store, loc)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let base = format!("{now}-{:016x}", rand::random::<u64>());
    let data = format!("{base}.data");
    dir.rename(leaf, &q, &data).map_err(object::lookup_error)?;
    if let Some(want) = expect {
        let st = q.stat_at(&data)?;
        if (st.dev(), st.ino()) != want {
            // A write replaced it after the check: that one is not ours.
            if let Err(e) = q.rename_noreplace(&data, dir, leaf) {
                // A later write took the name again: this one was
                // superseded, as an overwrite would have.
                if e.raw_os_error() != Some(libc::EEXIST) {
                    return Err(e.into());
                }
                q.unlink(&data)?;
            }
            return Err(Error::Conflict(format!(
                "{rel:?} was replaced while it was checked: left alone"
            )));
        }
    }
    let sc = sidecar::sidecar_name(leaf);
    match dir.rename(&sc, &q, &format!("{base}.sgmeta")) {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => tracing::warn!("quarantine of {rel}: its sidecar stays: {e}"),
    }
    if let Some(o) = note.as_object_mut() {
        o.insert("account".into(), loc.account.clone().into());
        o.insert("container".into(), loc.name.clone().into());
        o.insert("path".into(), rel.into());
        o.insert("quarantined_at".into(), now.into());
    }
    let mut f = q.create_file(&format!("{base}.json"), 0o600)?;
    f.write_all(note.to_string().as_bytes())?;
    f.write_all(b"\n")?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{self, obj};

    fn met(loc: &ContainerLoc) -> Vec<String> {
        let mut out = Vec::new();
        survey(loc, &mut |rel, m| {
            out.push(match m {
                Met::Object { name, size } => format!("object {} {size}", name.as_str()),
                Met::Temp { .. } => format!("temp {rel}"),
                Met::OrphanSidecar { .. } => format!("orphan {rel}"),
                Met::BadLongName { is_dir, .. } => format!("badlong {rel} {is_dir}"),
            })
        })
        .unwrap();
        out.sort();
        out
    }

    #[test]
    fn a_survey_names_objects_and_leftovers() {
        let t = tempfile::tempdir().unwrap();
        let s = testing::store(t.path());
        let c = testing::container(&s, "AUTH_a", "c");
        let d = t.path().join("AUTH_a/c");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/f"), b"abc").unwrap();
        std::fs::write(d.join(".f.sgmeta"), b"{}").unwrap();
        std::fs::write(d.join("sub/.f.sgmeta"), b"{}").unwrap();
        std::fs::write(d.join(".x.0123456789abcdef.sgtmp"), b"").unwrap();
        let long = name::disk_component(&"é".repeat(200)).into_owned();
        std::fs::write(d.join(&long), b"").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join("link")).unwrap();
        let rel_tmp = ".x.0123456789abcdef.sgtmp".to_string();
        assert_eq!(
            met(&c),
            [
                format!("badlong {long} false"),
                "object sub/f 3".to_string(),
                "orphan .f.sgmeta".to_string(),
                format!("temp {rel_tmp}"),
            ]
        );
    }

    #[test]
    fn checks_tell_mismatch_from_stale_and_quarantine_moves_the_file() {
        let t = tempfile::tempdir().unwrap();
        let s = testing::store(t.path());
        let c = testing::container(&s, "AUTH_a", "c");
        let p = t.path().join("AUTH_a/c/o");
        std::fs::write(&p, b"hello").unwrap();
        let n = obj("o");
        assert_eq!(
            check(&c, &n, &mut |_| {}).unwrap().verdict,
            Verdict::NoMetadata
        );
        object::refresh(s.meta_ctx(), &c, &n, &mut |_| {}).unwrap();
        assert_eq!(check(&c, &n, &mut |_| {}).unwrap().verdict, Verdict::Good);
        // A flipped byte, mtime kept: a mismatch.
        let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
        std::fs::write(&p, b"hellO").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let ck = check(&c, &n, &mut |_| {}).unwrap();
        assert!(
            matches!(ck.verdict, Verdict::Mismatch(_)),
            "{:?}",
            ck.verdict
        );
        // An edit on the mount (new mtime): stale, not corrupt.
        std::fs::write(&p, b"edited").unwrap();
        let ck = check(&c, &n, &mut |_| {}).unwrap();
        assert_eq!(ck.verdict, Verdict::Stale);
        let key = Some((ck.st.dev(), ck.st.ino()));
        let q = quarantine(&s, &c, &c.dir, "o", "o", key, serde_json::json!({})).unwrap();
        assert!(!p.exists());
        let qd = t.path().join(".sofgate/quarantine/AUTH_a/c");
        assert_eq!(std::fs::read(qd.join(&q)).unwrap(), b"edited");
        // A file replaced since it was checked is put back.
        std::fs::write(&p, b"new").unwrap();
        let e = quarantine(&s, &c, &c.dir, "o", "o", key, serde_json::json!({}));
        assert!(matches!(e, Err(Error::Conflict(_))));
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
    }
}
