//! Moving objects between names without copying their data, for object
//! versioning: a hard link keeps the current object under a version's name
//! before it is replaced (one call, no data copied; the replacing write
//! renames a new inode over the old name, so the version keeps the old inode
//! and its metadata to itself), and a rename brings a version back. Both
//! carry the metadata sidecar, if the object has one. Across devices (two
//! policies) neither works: the caller copies instead.
//!
//! Object versioning (the newer mode) keeps every version of a container's
//! objects in a hidden container of the account on the same device,
//! `<account>/.sofgate-versions/<container>/`, as `<object name>/<version
//! id>` (plain files, readable as such). No client can name it: a container
//! name never contains `/`, and `.sofgate-versions` itself is a reserved
//! container name that account listings leave out. The current object in
//! the container is a hard link to its newest version, so a POST to it
//! changes that version's metadata too, as in Swift, and no data is copied.

use std::io;
use std::path::Path;

use super::xattr::Target;
use super::{is_not_found, name, object, sidecar, ContainerLoc, Error, Result, Store};

/// The account's directory of hidden versions containers.
pub const HIDDEN: &str = ".sofgate-versions";

/// The internal container name (`.sofgate-versions/<container>`) of the
/// versions of `container`; unreachable by clients, resolvable as any
/// container's.
pub fn hidden_name(container: &str) -> String {
    format!("{HIDDEN}/{container}")
}

/// The hidden versions container of `c` (on its device).
pub fn hidden_loc(c: &ContainerLoc) -> ContainerLoc {
    let name = c.dir.file_name().unwrap_or_default();
    let acct = c.dir.parent().unwrap_or(&c.dir);
    ContainerLoc {
        policy: c.policy,
        dir: acct.join(HIDDEN).join(name),
    }
}

/// Makes `c` (and the account's hidden directory) exist.
pub fn ensure_dir(store: &Store, c: &ContainerLoc) -> Result<()> {
    if let Some(p) = c.dir.parent() {
        store.make_dir(p, c.account())?;
    }
    store.make_dir(&c.dir, c.account())?;
    Ok(())
}

/// Makes `dst_rel` of `dst` another name of the file `src_rel` of `src`,
/// replacing what `dst_rel` was (a link under a temp name, renamed over).
pub fn link_over(
    store: &Store,
    src: &ContainerLoc,
    src_rel: &str,
    dst: &ContainerLoc,
    dst_rel: &str,
) -> Result<()> {
    let (s, d) = (name::join(&src.dir, src_rel), name::join(&dst.dir, dst_rel));
    parents(store, dst, dst_rel)?;
    let tmp = d.with_file_name(format!(".lnk.{:016x}.sgtmp", rand::random::<u64>()));
    match std::fs::hard_link(&s, &tmp) {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => return Err(Error::NotFound),
        Err(e) => return Err(e.into()),
    }
    if let Err(e) = std::fs::rename(&tmp, &d) {
        let _ = std::fs::remove_file(&tmp);
        return Err(match e.raw_os_error() {
            Some(libc::EISDIR) | Some(libc::ENOTEMPTY) => Error::Conflict(format!(
                "A directory named {dst_rel:?} exists: an object cannot replace it"
            )),
            _ => e.into(),
        });
    }
    carry_sidecar(&s, &d, true)?;
    record_long_leaf(&d, dst_rel)
}

/// What a link or rename did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    Done,
    /// The target existed already and was left as it is.
    Existed,
    /// Source and target are on different filesystems: copy instead.
    CrossDevice,
}

/// Gives the file `d` (the object `rel`) its full name when its last
/// component is a long one: the inode came from another name, whose full
/// name it carries, if any.
fn record_long_leaf(d: &Path, rel: &str) -> Result<()> {
    let leaf = rel.rsplit('/').next().unwrap_or(rel);
    if leaf.len() > name::NAME_MAX {
        name::record_full_name(Target::Path(d), leaf)?;
    }
    Ok(())
}

/// Creates the parent directories of `rel` in `c`.
fn parents(store: &Store, c: &ContainerLoc, rel: &str) -> Result<()> {
    if let Some((parent, _)) = rel.rsplit_once('/') {
        object::make_parents(store, c, parent)?;
    }
    Ok(())
}

fn is_cross_device(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EXDEV)
}

/// Gives the sidecar of `src`, if any, to `dst` too (link) or instead
/// (rename); without one, a stale sidecar of `dst` goes.
fn carry_sidecar(src: &Path, dst: &Path, keep_src: bool) -> Result<()> {
    let (Some(s), Some(d)) = (sidecar::sidecar_path(src), sidecar::sidecar_path(dst)) else {
        return Ok(());
    };
    if !s.exists() {
        sidecar::remove(dst);
        return Ok(());
    }
    let _ = std::fs::remove_file(&d);
    if keep_src {
        std::fs::hard_link(&s, &d).or_else(|_| std::fs::copy(&s, &d).map(|_| ()))?;
    } else {
        std::fs::rename(&s, &d)?;
    }
    Ok(())
}

/// Makes the object `src_rel` of `src` also readable as `dst_rel` of `dst`
/// (its parents made as needed). `NotFound` when the source is not a file;
/// a target that exists already is left as it is.
pub fn link(
    store: &Store,
    src: &ContainerLoc,
    src_rel: &str,
    dst: &ContainerLoc,
    dst_rel: &str,
) -> Result<Moved> {
    let (s, d) = (name::join(&src.dir, src_rel), name::join(&dst.dir, dst_rel));
    parents(store, dst, dst_rel)?;
    match std::fs::hard_link(&s, &d) {
        Ok(()) => {}
        Err(e) if is_cross_device(&e) => return Ok(Moved::CrossDevice),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(Moved::Existed),
        Err(e) if is_not_found(&e) || e.raw_os_error() == Some(libc::EPERM) => {
            return Err(Error::NotFound)
        }
        Err(e) => return Err(e.into()),
    }
    carry_sidecar(&s, &d, true)?;
    record_long_leaf(&d, dst_rel)?;
    Ok(Moved::Done)
}

/// Moves the object `src_rel` of `src` to `dst_rel` of `dst`, replacing
/// what is there, and removes the empty directories it leaves.
pub fn rename(
    store: &Store,
    src: &ContainerLoc,
    src_rel: &str,
    dst: &ContainerLoc,
    dst_rel: &str,
) -> Result<Moved> {
    let (s, d) = (name::join(&src.dir, src_rel), name::join(&dst.dir, dst_rel));
    match std::fs::symlink_metadata(&s) {
        Ok(st) if st.is_file() || st.file_type().is_symlink() => {}
        Ok(_) => return Err(Error::NotFound),
        Err(e) if is_not_found(&e) => return Err(Error::NotFound),
        Err(e) => return Err(e.into()),
    }
    parents(store, dst, dst_rel)?;
    match std::fs::rename(&s, &d) {
        Ok(()) => {}
        Err(e) if is_cross_device(&e) => return Ok(Moved::CrossDevice),
        Err(e) if is_not_found(&e) => return Err(Error::NotFound),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EISDIR) | Some(libc::ENOTEMPTY)) => {
            return Err(Error::Conflict(format!(
                "A directory named {dst_rel:?} exists: an object cannot replace it"
            )))
        }
        Err(e) => return Err(e.into()),
    }
    carry_sidecar(&s, &d, false)?;
    record_long_leaf(&d, dst_rel)?;
    if store.opts.fsync_dir {
        if let Some(p) = d.parent() {
            std::fs::File::open(p)?.sync_all()?;
        }
    }
    object::remove_empty_parents(src, src_rel);
    Ok(Moved::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Limits, Options, Policy};

    fn store(dev: &Path) -> Store {
        Store::new(
            vec![Policy {
                name: "gold".into(),
                index: 0,
                device: dev.into(),
                mount_check: false,
                default: true,
            }],
            Options {
                file_mode: 0o644,
                dir_mode: 0o755,
                xattr_chunk: 65536,
                fsync_dir: false,
                quick_reads: true,
                usage_ttl: std::time::Duration::from_secs(1),
                owners: Default::default(),
                limits: Limits {
                    max_account_name_length: 256,
                    max_container_name_length: 255,
                    max_object_name_length: 1024,
                },
            },
        )
    }

    #[test]
    fn link_keeps_the_old_inode_and_rename_brings_it_back() {
        let dev = tempfile::tempdir().unwrap();
        let s = store(dev.path());
        let c = ContainerLoc {
            policy: 0,
            dir: dev.path().join("a/c"),
        };
        let v = ContainerLoc {
            policy: 0,
            dir: dev.path().join("a/v"),
        };
        std::fs::create_dir_all(c.dir.join("x")).unwrap();
        std::fs::create_dir_all(&v.dir).unwrap();
        std::fs::write(c.dir.join("x/o"), b"old").unwrap();
        assert_eq!(link(&s, &c, "x/o", &v, "003x/o/1").unwrap(), Moved::Done);
        // A write replaces the name with a new inode; the version keeps the old.
        std::fs::write(c.dir.join("x/.tmp"), b"new").unwrap();
        std::fs::rename(c.dir.join("x/.tmp"), c.dir.join("x/o")).unwrap();
        assert_eq!(std::fs::read(v.dir.join("003x/o/1")).unwrap(), b"old");
        assert!(matches!(
            link(&s, &c, "x/missing", &v, "009x/missing/1"),
            Err(Error::NotFound)
        ));
        assert_eq!(rename(&s, &v, "003x/o/1", &c, "x/o").unwrap(), Moved::Done);
        assert_eq!(std::fs::read(c.dir.join("x/o")).unwrap(), b"old");
        // The version's empty directories went with it.
        assert!(!v.dir.join("003x").exists());
    }

    #[test]
    fn a_file_moved_to_a_long_name_gets_that_full_name() {
        use crate::store::xattr::Target;
        let dev = tempfile::tempdir().unwrap();
        let s = store(dev.path());
        let c = ContainerLoc {
            policy: 0,
            dir: dev.path().join("a/c"),
        };
        std::fs::create_dir_all(&c.dir).unwrap();
        std::fs::write(c.dir.join("o"), b"data").unwrap();
        let long = "l".repeat(400);
        let deep = format!("{}/{long}", "d".repeat(300));
        assert_eq!(link(&s, &c, "o", &c, &long).unwrap(), Moved::Done);
        assert_eq!(rename(&s, &c, "o", &c, &deep).unwrap(), Moved::Done);
        for rel in [&long, &deep] {
            let p = name::join(&c.dir, rel);
            let disk = p.file_name().unwrap().to_str().unwrap();
            let full = name::full_name(Target::Path(&p), disk).unwrap();
            assert_eq!(full.as_deref(), Some(long.as_str()));
        }
        let d = name::join(&c.dir, &"d".repeat(300));
        let disk = d.file_name().unwrap().to_str().unwrap();
        let full = name::full_name(Target::Path(&d), disk).unwrap();
        assert_eq!(full, Some("d".repeat(300)));
    }
}
