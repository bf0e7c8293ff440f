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
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use super::meta::{self, Meta};
use super::name::NAME_MAX;
use super::xattr::Target;

/// Suffix of sidecar files.
const SUFFIX: &str = ".sgmeta";
/// The key of the pointer left in the xattr.
const POINTER_KEY: &str = "X-Sofgate-Sidecar";

/// True for the name of a sidecar file.
pub fn is_sidecar_name(n: &str) -> bool {
    n.len() > 1 + SUFFIX.len() && n.starts_with('.') && n.ends_with(SUFFIX)
}

/// Where the sidecar of `path` (an object file or directory) lives.
pub fn sidecar_path(path: &Path) -> Option<PathBuf> {
    let leaf = path.file_name()?.to_str()?;
    let name = if 1 + leaf.len() + SUFFIX.len() <= NAME_MAX {
        format!(".{leaf}{SUFFIX}")
    } else {
        format!(".{}{SUFFIX}", hex::encode(Md5::digest(leaf.as_bytes())))
    };
    Some(path.with_file_name(name))
}

fn no_room(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::E2BIG) | Some(libc::ERANGE) | Some(libc::ENOTSUP)
    )
}

fn read_sidecar(path: &Path) -> io::Result<Option<Meta>> {
    let Some(sc) = sidecar_path(path) else {
        return Ok(None);
    };
    match meta::read_file_bounded(&sc) {
        Ok(bytes) => Ok(meta::decode(&bytes)),
        Err(e) if super::is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the metadata of `path` (through `t`, its fd or path): the xattr,
/// else the sidecar. `Ok(None)` when there is none.
pub fn load(t: Target<'_>, path: &Path) -> io::Result<Option<Meta>> {
    match meta::read(t) {
        Ok(Some(m)) if !m.contains_key(POINTER_KEY) => Ok(Some(m)),
        Ok(_) => read_sidecar(path),
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => read_sidecar(path),
        Err(e) => Err(e),
    }
}

/// Stores encoded metadata for `path`, in xattrs when they have room, else
/// in the sidecar (written to a temp file and renamed, so never half-written).
pub fn store(t: Target<'_>, path: &Path, bytes: &[u8], chunk: usize) -> io::Result<()> {
    match meta::write_raw(t, bytes, chunk) {
        Ok(()) => Ok(()),
        Err(e) if no_room(&e) => {
            let sc = sidecar_path(path).ok_or(e)?;
            let tmp = sc.with_file_name(format!(".sc.{:016x}.sgtmp", rand::random::<u64>()));
            let res = (|| {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .open(&tmp)?;
                f.write_all(bytes)?;
                f.sync_all()?;
                std::fs::rename(&tmp, &sc)
            })();
            if res.is_err() {
                let _ = std::fs::remove_file(&tmp);
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

/// Stores object metadata (plain JSON) for `path`; see [`store`].
pub fn save(t: Target<'_>, path: &Path, m: &Meta, chunk: usize) -> io::Result<()> {
    store(t, path, &meta::encode(m), chunk)
}

/// Removes the sidecar of `path`, if any.
pub fn remove(path: &Path) {
    if let Some(sc) = sidecar_path(path) {
        let _ = std::fs::remove_file(sc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_recognised() {
        let p = sidecar_path(Path::new("/d/photo.jpg")).unwrap();
        assert_eq!(p, Path::new("/d/.photo.jpg.sgmeta"));
        let long = sidecar_path(&Path::new("/d").join("x".repeat(250))).unwrap();
        let n = long.file_name().unwrap().to_str().unwrap();
        assert!(n.len() <= NAME_MAX && is_sidecar_name(n));
        assert!(!is_sidecar_name(".sgmeta") && !is_sidecar_name("a.sgmeta"));
    }

    #[test]
    fn metadata_too_big_for_xattrs_goes_to_the_sidecar_and_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("obj");
        std::fs::write(&p, b"data").unwrap();
        let mut m = Meta::new();
        // Far more than ext4's ~4 KiB (and than one 64 KiB value on others).
        m.insert("X-Object-Meta-Big".into(), "v".repeat(70_000));
        store(Target::Path(&p), &p, &meta::encode(&m), 65536).unwrap();
        assert_eq!(load(Target::Path(&p), &p).unwrap().unwrap(), m);
        let small: Meta = [("a".to_string(), "b".to_string())].into();
        store(Target::Path(&p), &p, &meta::encode(&small), 65536).unwrap();
        assert_eq!(load(Target::Path(&p), &p).unwrap().unwrap(), small);
    }
}
