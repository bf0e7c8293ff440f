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

use super::beneath::{Dir, Kind};
use super::object;
use super::xattr::Target;
use super::{is_not_found, name, sidecar, ContainerLoc, Error, ObjPath, Result, Store};

use super::name::VERSIONS_DIR as HIDDEN;

pub use super::meta::keys::VERSION_ID as VERSION_ID_KEY;

/// The internal container name (`.sofgate-versions/<container>`) of the
/// versions of `container`; unreachable by clients, resolvable as any
/// container's.
pub fn hidden_name(container: &str) -> String {
    format!("{HIDDEN}/{container}")
}

/// The hidden versions container of `c`, if it exists.
pub fn hidden(store: &Store, c: &ContainerLoc) -> Result<Option<ContainerLoc>> {
    if c.is_hidden() {
        return Ok(None);
    }
    match store.open_container(&store.policies[c.policy], &c.account, &hidden_name(&c.name)) {
        Ok(h) => Ok(Some(h)),
        Err(Error::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The hidden versions container of `c`, made (with the account's hidden
/// directory) when missing.
pub fn ensure_hidden(store: &Store, c: &ContainerLoc) -> Result<ContainerLoc> {
    if let Some(h) = hidden(store, c)? {
        return Ok(h);
    }
    let acct = c.root.open_dir(&c.account)?;
    store.make_dir_in(&acct, HIDDEN, &c.account)?;
    let all = acct.open_dir(HIDDEN)?;
    store.make_dir_in(&all, &c.name, &c.account)?;
    hidden(store, c)?.ok_or(Error::NotFound)
}

/// The directory of the existing object `name` of `c` and its disk leaf,
/// when that is a regular file.
fn source(c: &ContainerLoc, name: &ObjPath) -> Result<(Dir, String)> {
    let dir = if name.parent().is_none() {
        c.dir.clone()
    } else {
        c.dir.open_dir(&name.disk_parent())?
    };
    let leaf = name.disk_leaf().into_owned();
    match dir.stat_at(&leaf) {
        Ok(st) if st.is_file() => Ok((dir, leaf)),
        Ok(_) => Err(Error::NotFound),
        Err(e) if is_not_found(&e) => Err(Error::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// The directory `name` of `c` goes in (made as needed, never through a
/// symlink) and its disk leaf.
fn target(store: &Store, c: &ContainerLoc, name: &ObjPath) -> Result<(Dir, String)> {
    let dir = match name.parent() {
        Some(p) => super::write::make_parents(store, c, p)?.0,
        None => c.dir.clone(),
    };
    Ok((dir, name.disk_leaf().into_owned()))
}

fn dir_conflict(name: &str) -> Error {
    Error::Conflict(format!(
        "A directory named {name:?} exists: an object cannot replace it"
    ))
}

/// Makes `dst_name` of `dst` another name of the file `src_name` of `src`.
/// With `replace`, what `dst_name` was goes (a link under a temp name,
/// renamed over); without, the link is made straight to `dst_name`, which
/// link(2) refuses atomically when the name is taken: `Exists` then, even
/// if an object appeared there a moment before (another node's write).
pub fn link_over(
    store: &Store,
    src: &ContainerLoc,
    src_name: &ObjPath,
    dst: &ContainerLoc,
    dst_name: &ObjPath,
    replace: bool,
) -> Result<()> {
    let (sd, sl) = source(src, src_name)?;
    let (dd, dl) = target(store, dst, dst_name)?;
    let tmp = if replace {
        name::temp_name("lnk")
    } else {
        dl.clone()
    };
    match sd.link(&sl, &dd, &tmp) {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => return Err(Error::NotFound),
        Err(e) if !replace && e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(match dd.stat_at(&dl) {
                Ok(st) if st.is_dir() => dir_conflict(dst_name),
                _ => Error::Exists,
            });
        }
        Err(e) => return Err(e.into()),
    }
    if replace {
        if let Err(e) = dd.rename(&tmp, &dd, &dl) {
            let _ = dd.unlink(&tmp);
            return Err(match e.raw_os_error() {
                Some(libc::EISDIR) | Some(libc::ENOTEMPTY) => dir_conflict(dst_name),
                _ => e.into(),
            });
        }
    }
    carry_sidecar(&sd, &sl, &dd, &dl, true)?;
    record_long_leaf(&dd, &dl, dst_name)
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

/// Gives the file `leaf` of `dir` (the object `name`) its full name when
/// its last component is a long one: the inode came from another name,
/// whose full name it carries, if any.
fn record_long_leaf(dir: &Dir, leaf: &str, name: &ObjPath) -> Result<()> {
    if name.leaf().len() > name::NAME_MAX {
        let node = dir.node(leaf, super::Follow::Never)?;
        let h = node.handle()?;
        name::record_full_name(Target::Handle(&h), name.leaf())?;
    }
    Ok(())
}

fn is_cross_device(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EXDEV)
}

/// Gives the sidecar of `sl` in `sd`, if any, to `dl` in `dd` too (link) or
/// instead (rename); without one, a stale sidecar of the target goes.
fn carry_sidecar(sd: &Dir, sl: &str, dd: &Dir, dl: &str, keep_src: bool) -> Result<()> {
    let (s, d) = (sidecar::sidecar_name(sl), sidecar::sidecar_name(dl));
    match sd.stat_at(&s) {
        Ok(st) if st.is_file() => {}
        _ => {
            sidecar::remove(dd, dl);
            return Ok(());
        }
    }
    let _ = dd.unlink(&d);
    if keep_src {
        if sd.link(&s, dd, &d).is_err() {
            let bytes = sd
                .read_small_file(&s, sidecar::MAX_SIZE)?
                .unwrap_or_default();
            let mut f = dd.create_file(&d, 0o644)?;
            io::Write::write_all(&mut f, &bytes)?;
        }
    } else {
        sd.rename(&s, dd, &d)?;
    }
    Ok(())
}

/// Makes the object `src_name` of `src` also readable as `dst_name` of
/// `dst` (its parents made as needed). `NotFound` when the source is not a
/// regular file; a target that exists already is left as it is.
pub fn link(
    store: &Store,
    src: &ContainerLoc,
    src_name: &ObjPath,
    dst: &ContainerLoc,
    dst_name: &ObjPath,
) -> Result<Moved> {
    let (sd, sl) = source(src, src_name)?;
    let (dd, dl) = target(store, dst, dst_name)?;
    match sd.link(&sl, &dd, &dl) {
        Ok(()) => {}
        Err(e) if is_cross_device(&e) => return Ok(Moved::CrossDevice),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(Moved::Existed),
        Err(e) if is_not_found(&e) || e.raw_os_error() == Some(libc::EPERM) => {
            return Err(Error::NotFound)
        }
        Err(e) => return Err(e.into()),
    }
    carry_sidecar(&sd, &sl, &dd, &dl, true)?;
    record_long_leaf(&dd, &dl, dst_name)?;
    Ok(Moved::Done)
}

/// Moves the object `src_name` of `src` to `dst_name` of `dst`, replacing
/// what is there, and removes the empty directories it leaves.
pub fn rename(
    store: &Store,
    src: &ContainerLoc,
    src_name: &ObjPath,
    dst: &ContainerLoc,
    dst_name: &ObjPath,
) -> Result<Moved> {
    let (sd, sl) = source(src, src_name)?;
    let (dd, dl) = target(store, dst, dst_name)?;
    if let Ok(st) = dd.stat_at(&dl) {
        if matches!(st.kind(), Kind::Symlink | Kind::Other) {
            return Err(super::newest::not_ours(dst_name.as_str()));
        }
    }
    match sd.rename(&sl, &dd, &dl) {
        Ok(()) => {}
        Err(e) if is_cross_device(&e) => return Ok(Moved::CrossDevice),
        Err(e) if is_not_found(&e) => return Err(Error::NotFound),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EISDIR) | Some(libc::ENOTEMPTY)) => {
            return Err(dir_conflict(dst_name))
        }
        Err(e) => return Err(e.into()),
    }
    carry_sidecar(&sd, &sl, &dd, &dl, false)?;
    record_long_leaf(&dd, &dl, dst_name)?;
    if store.opts.fsync_dir {
        dd.open_read()?.sync_all()?;
    }
    object::remove_empty_parents(src, src_name);
    Ok(Moved::Done)
}

/// Does a file stand on the way to `<h>/<name>/` (a kept version of another
/// object, `a`'s versions when writing `a/<id>`)? Such a write could not
/// link its version after the write.
pub fn path_blocked(h: &ContainerLoc, name: &ObjPath) -> bool {
    let mut cur = h.dir.clone();
    for comp in name.trimmed().split('/') {
        let disk = name::disk_component(comp);
        match cur.stat_at(&disk) {
            Ok(st) if st.is_dir() => match cur.open_dir(&disk) {
                Ok(d) => cur = d,
                Err(_) => return true,
            },
            Ok(_) => return true,
            Err(_) => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{self, obj};
    use std::path::PathBuf;

    fn cdir(c: &ContainerLoc) -> PathBuf {
        PathBuf::from(c.key.to_string())
    }

    #[test]
    fn link_keeps_the_old_inode_and_rename_brings_it_back() {
        let dev = tempfile::tempdir().unwrap();
        let s = testing::store(dev.path());
        let c = testing::container(&s, "a", "c");
        let v = testing::container(&s, "a", "v");
        std::fs::create_dir_all(cdir(&c).join("x")).unwrap();
        std::fs::write(cdir(&c).join("x/o"), b"old").unwrap();
        assert_eq!(
            link(&s, &c, &obj("x/o"), &v, &obj("003x/o/1")).unwrap(),
            Moved::Done
        );
        // A write replaces the name with a new inode; the version keeps the old.
        std::fs::write(cdir(&c).join("x/.tmp"), b"new").unwrap();
        std::fs::rename(cdir(&c).join("x/.tmp"), cdir(&c).join("x/o")).unwrap();
        assert_eq!(std::fs::read(cdir(&v).join("003x/o/1")).unwrap(), b"old");
        assert!(matches!(
            link(&s, &c, &obj("x/missing"), &v, &obj("009x/missing/1")),
            Err(Error::NotFound)
        ));
        assert_eq!(
            rename(&s, &v, &obj("003x/o/1"), &c, &obj("x/o")).unwrap(),
            Moved::Done
        );
        assert_eq!(std::fs::read(cdir(&c).join("x/o")).unwrap(), b"old");
        // The version's empty directories went with it.
        assert!(!cdir(&v).join("003x").exists());
    }

    #[test]
    fn a_link_that_may_not_replace_leaves_a_taken_name_alone() {
        let dev = tempfile::tempdir().unwrap();
        let s = testing::store(dev.path());
        let c = testing::container(&s, "a", "c");
        let v = testing::container(&s, "a", "v");
        std::fs::create_dir_all(cdir(&v).join("o")).unwrap();
        std::fs::write(cdir(&v).join("o/1"), b"old").unwrap();
        std::fs::write(cdir(&c).join("o"), b"newer").unwrap();
        assert!(matches!(
            link_over(&s, &v, &obj("o/1"), &c, &obj("o"), false),
            Err(Error::Exists)
        ));
        assert_eq!(std::fs::read(cdir(&c).join("o")).unwrap(), b"newer");
        std::fs::create_dir(cdir(&c).join("d")).unwrap();
        assert!(matches!(
            link_over(&s, &v, &obj("o/1"), &c, &obj("d"), false),
            Err(Error::Conflict(_))
        ));
        std::fs::remove_file(cdir(&c).join("o")).unwrap();
        link_over(&s, &v, &obj("o/1"), &c, &obj("o"), false).unwrap();
        assert_eq!(std::fs::read(cdir(&c).join("o")).unwrap(), b"old");
        // Replacing, it goes over what is there.
        std::fs::write(cdir(&v).join("o/2"), b"two").unwrap();
        link_over(&s, &v, &obj("o/2"), &c, &obj("o"), true).unwrap();
        assert_eq!(std::fs::read(cdir(&c).join("o")).unwrap(), b"two");
    }

    #[test]
    fn a_symlink_is_never_linked_or_moved() {
        let dev = tempfile::tempdir().unwrap();
        let s = testing::store(dev.path());
        let c = testing::container(&s, "a", "c");
        let v = testing::container(&s, "a", "v");
        let outside = dev.path().join("outside");
        std::fs::write(&outside, b"secret").unwrap();
        std::os::unix::fs::symlink(&outside, cdir(&c).join("l")).unwrap();
        assert!(matches!(
            link(&s, &c, &obj("l"), &v, &obj("001l/1")),
            Err(Error::NotFound)
        ));
        assert!(matches!(
            rename(&s, &c, &obj("l"), &v, &obj("001l/1")),
            Err(Error::NotFound)
        ));
        assert!(cdir(&c).join("l").is_symlink());
        assert!(!cdir(&v).join("001l").exists());
    }

    #[test]
    fn a_file_moved_to_a_long_name_gets_that_full_name() {
        let dev = tempfile::tempdir().unwrap();
        let s = testing::store(dev.path());
        let c = testing::container(&s, "a", "c");
        std::fs::write(cdir(&c).join("o"), b"data").unwrap();
        let long = "l".repeat(400);
        let deep = format!("{}/{long}", "d".repeat(300));
        assert_eq!(
            link(&s, &c, &obj("o"), &c, &obj(&long)).unwrap(),
            Moved::Done
        );
        assert_eq!(
            rename(&s, &c, &obj("o"), &c, &obj(&deep)).unwrap(),
            Moved::Done
        );
        for rel in [&long, &deep] {
            let n = obj(rel);
            let node = c
                .dir
                .node(&n.disk_path(), crate::store::Follow::Never)
                .unwrap();
            let h = node.handle().unwrap();
            let full = name::full_name(Target::Handle(&h), &n.disk_leaf()).unwrap();
            assert_eq!(full.as_deref(), Some(long.as_str()));
        }
        let d = obj(&"d".repeat(300));
        let node = c
            .dir
            .node(&d.disk_path(), crate::store::Follow::Never)
            .unwrap();
        let h = node.handle().unwrap();
        let full = name::full_name(Target::Handle(&h), &d.disk_leaf()).unwrap();
        assert_eq!(full, Some("d".repeat(300)));
    }
}
