//! Metadata that does not fit in xattrs goes to a sidecar file.
//!
//! ext4 gives a file about 4 KiB of xattrs in all, and some NFS mounts have no
//! user xattrs. When setting `user.swift.metadata` fails for lack of room
//! (ENOSPC, E2BIG, ERANGE) or support (ENOTSUP), the JSON is written to
//! `.<name>.sgmeta` in the same directory as the object (`.<md5>.sgmeta` when
//! that would pass NAME_MAX), and the xattr, where it can be set, holds only
//! `{"X-Sofgate-Sidecar":"1"}`. Readers take the xattr first and follow the
//! pointer, or look for a sidecar when there is no xattr at all. Sidecars are
//! internal names: never listed, served or counted.

use std::io::{self, Write};

use md5::{Digest, Md5};

use super::beneath::Dir;
use super::meta::{self, Meta};
pub use super::name::is_sidecar_name;
use super::name::{temp_name, NAME_MAX, SIDECAR_SUFFIX as SUFFIX};
use super::xattr::Target;

/// The key of the pointer left in the xattr.
const POINTER_KEY: &str = "X-Sofgate-Sidecar";
/// A sidecar larger than this is not read (treated as no metadata): the
/// metadata sofgate writes is far smaller, and a planted huge one must not
/// cost memory or end up in a response header.
pub const MAX_SIZE: u64 = 1 << 20;

/// Where an object's (or directory's) sidecar is: beside the disk name
/// `leaf`, in the directory `parent` beneath `anchor` (`""`: `anchor`
/// itself).
#[derive(Clone, Copy)]
pub struct Place<'a> {
    pub anchor: &'a Dir,
    pub parent: &'a str,
    pub leaf: &'a str,
}

impl Place<'_> {
    /// The directory holding the leaf (and its sidecar).
    pub fn dir(&self) -> io::Result<Dir> {
        if self.parent.is_empty() {
            Ok(self.anchor.clone())
        } else {
            self.anchor.open_dir(self.parent)
        }
    }

    /// The sidecar's path beneath the anchor.
    fn sidecar_rel(&self) -> String {
        let n = sidecar_name(self.leaf);
        if self.parent.is_empty() {
            n
        } else {
            format!("{}/{n}", self.parent)
        }
    }
}

/// The sidecar file name of the disk name `leaf`.
pub fn sidecar_name(leaf: &str) -> String {
    if 1 + leaf.len() + SUFFIX.len() <= NAME_MAX {
        format!(".{leaf}{SUFFIX}")
    } else {
        format!(".{}{SUFFIX}", hex::encode(Md5::digest(leaf.as_bytes())))
    }
}

fn no_room(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::E2BIG) | Some(libc::ERANGE) | Some(libc::ENOTSUP)
    )
}

fn read_sidecar(place: Place<'_>) -> io::Result<Option<Meta>> {
    Ok(place
        .anchor
        .read_small_file(&place.sidecar_rel(), MAX_SIZE)?
        .and_then(|b| meta::decode(&b)))
}

/// Reads the metadata of the leaf of `place` (through `t`, its fd or
/// handle): the xattr, else the sidecar. `Ok(None)` when there is none.
pub fn load(t: Target<'_>, place: Place<'_>) -> io::Result<Option<Meta>> {
    match meta::read(t) {
        Ok(Some(m)) if !m.contains_key(POINTER_KEY) => Ok(Some(m)),
        Ok(_) => read_sidecar(place),
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => read_sidecar(place),
        Err(e) => Err(e),
    }
}

/// Stores encoded metadata for the leaf of `place`, in xattrs when they
/// have room, else in the sidecar (written to a temp file and renamed, so
/// never half-written).
pub fn store(t: Target<'_>, place: Place<'_>, bytes: &[u8], chunk: usize) -> io::Result<()> {
    match meta::write_raw(t, bytes, chunk) {
        Ok(()) => Ok(()),
        Err(e) if no_room(&e) => {
            let dir = place.dir()?;
            let sc = sidecar_name(place.leaf);
            let tmp = temp_name("sc");
            let res = (|| {
                let mut f = dir.create_file(&tmp, 0o644)?;
                f.write_all(bytes)?;
                f.sync_all()?;
                dir.rename(&tmp, &dir, &sc)
            })();
            if res.is_err() {
                let _ = dir.unlink(&tmp);
            }
            res?;
            let pointer = format!("{{\"{POINTER_KEY}\":\"1\"}}");
            // Without xattr support the reader finds the sidecar anyway.
            let _ = meta::write_raw(t, pointer.as_bytes(), chunk);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Stores object metadata (plain JSON) for `place`; see [`store`].
pub fn save(t: Target<'_>, place: Place<'_>, m: &Meta, chunk: usize) -> io::Result<()> {
    store(t, place, &meta::encode(m), chunk)
}

/// Removes the sidecar of the disk name `leaf` in `dir`, if any.
pub fn remove(dir: &Dir, leaf: &str) {
    let _ = dir.unlink(&sidecar_name(leaf));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::beneath::Follow;

    #[test]
    fn names_are_bounded_and_recognised() {
        assert_eq!(sidecar_name("photo.jpg"), ".photo.jpg.sgmeta");
        let long = sidecar_name(&"x".repeat(250));
        assert!(long.len() <= NAME_MAX && is_sidecar_name(&long));
        assert!(!is_sidecar_name(".sgmeta") && !is_sidecar_name("a.sgmeta"));
    }

    #[test]
    fn metadata_too_big_for_xattrs_goes_to_the_sidecar_and_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/obj"), b"data").unwrap();
        let root = Dir::open_root(dir.path()).unwrap();
        let node = root.node("d/obj", Follow::Never).unwrap();
        let h = node.handle().unwrap();
        let (t, place) = (
            Target::Handle(&h),
            Place {
                anchor: &root,
                parent: "d",
                leaf: "obj",
            },
        );
        let mut m = Meta::new();
        // Far more than ext4's ~4 KiB (and than one 64 KiB value on others).
        m.insert("X-Object-Meta-Big".into(), "v".repeat(70_000));
        store(t, place, &meta::encode(&m), 65536).unwrap();
        assert!(dir.path().join("d/.obj.sgmeta").is_file());
        assert_eq!(load(t, place).unwrap().unwrap(), m);
        let small: Meta = [("a".to_string(), "b".to_string())].into();
        store(t, place, &meta::encode(&small), 65536).unwrap();
        assert_eq!(load(t, place).unwrap().unwrap(), small);
    }

    #[test]
    fn a_huge_or_odd_sidecar_is_no_metadata() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("obj"), b"data").unwrap();
        let root = Dir::open_root(dir.path()).unwrap();
        let node = root.node("obj", Follow::Never).unwrap();
        let h = node.handle().unwrap();
        let place = Place {
            anchor: &root,
            parent: "",
            leaf: "obj",
        };
        let t = Target::Handle(&h);
        crate::store::xattr::set(t, meta::KEY, b"{\"X-Sofgate-Sidecar\":\"1\"}").unwrap();
        let mut big = b"{\"a\":\"".to_vec();
        big.resize(MAX_SIZE as usize + 10, b'x');
        big.extend_from_slice(b"\"}");
        std::fs::write(dir.path().join(".obj.sgmeta"), &big).unwrap();
        assert_eq!(load(t, place).unwrap(), None);
        std::fs::remove_file(dir.path().join(".obj.sgmeta")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join(".obj.sgmeta")).unwrap();
        assert_eq!(load(t, place).unwrap(), None);
    }
}
