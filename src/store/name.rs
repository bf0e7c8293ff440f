//! Account, container and object names: validation and mapping onto paths.
//!
//! A name that passes here can never reach outside its container: no empty,
//! `.` or `..` component, no NUL. Accounts and containers are single
//! directories, so their names stay within NAME_MAX.
//!
//! An object name may be 1024 bytes in one component, which no filesystem
//! takes: a component longer than NAME_MAX is stored under a bounded disk
//! name, `<its first 180 bytes, cut back to a char boundary>~<32 hex of the
//! MD5 of the whole component>.sglong` (at most 220 bytes), derived from the
//! name alone, so every request finds it without a lookup. The full
//! component is kept in the xattr `user.sofgate.name` of that file or
//! directory, which is where listings read it from. Client names in that
//! form are refused, so the two kinds can never meet on disk.

use std::borrow::Cow;
use std::io;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use super::xattr::{self, Target};
use super::Error;

/// Longest single path component the filesystem accepts (NAME_MAX).
pub const NAME_MAX: usize = 255;

/// Name length limits, from config.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_account_name_length: usize,
    pub max_container_name_length: usize,
    pub max_object_name_length: usize,
}

/// Bytes of a long component kept, for people, at the start of its disk name.
const LONG_KEEP: usize = 180;
/// Suffix of the disk names of long components.
const LONG_SUFFIX: &str = ".sglong";
/// Length of `~<32 hex>.sglong`.
const LONG_TAIL: usize = 1 + 32 + LONG_SUFFIX.len();
/// The xattr holding the full component of an escaped file or directory.
pub const FULL_NAME_XATTR: &str = "user.sofgate.name";

/// True for a name in the escaped form of a long component.
pub fn is_long_name(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() >= LONG_TAIL
        && n.ends_with(LONG_SUFFIX)
        && b[b.len() - LONG_TAIL] == b'~'
        && b[b.len() - LONG_TAIL + 1..b.len() - LONG_SUFFIX.len()]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// The on-disk name of one (valid) object name component: itself when it
/// fits in NAME_MAX, else its escaped form.
pub fn disk_component(c: &str) -> Cow<'_, str> {
    if c.len() <= NAME_MAX {
        return Cow::Borrowed(c);
    }
    let mut end = LONG_KEEP;
    while !c.is_char_boundary(end) {
        end -= 1;
    }
    let hash = hex::encode(Md5::digest(c.as_bytes()));
    Cow::Owned(format!("{}~{hash}{LONG_SUFFIX}", &c[..end]))
}

/// Records `full` as the name of the escaped file or directory `t`. A
/// filesystem without user xattrs cannot hold such a name: 400.
pub fn record_full_name(t: Target<'_>, full: &str) -> super::Result<()> {
    match xattr::set(t, FULL_NAME_XATTR, full.as_bytes()) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => Err(bad(format!(
            "Object name component is longer than {NAME_MAX} bytes"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The full component stored under the escaped disk name `disk` (read from
/// `t`); `None` when it is missing or does not belong to that disk name.
pub fn full_name(t: Target<'_>, disk: &str) -> io::Result<Option<String>> {
    let Some(v) = xattr::get(t, FULL_NAME_XATTR)? else {
        return Ok(None);
    };
    Ok(String::from_utf8(v)
        .ok()
        .filter(|full| disk_component(full) == disk))
}

fn bad(msg: impl Into<String>) -> Error {
    Error::BadName(msg.into())
}

fn check_component(kind: &str, c: &str) -> Result<(), Error> {
    if c.is_empty() {
        return Err(bad(format!("{kind} name cannot be empty")));
    }
    if c == "." || c == ".." {
        return Err(bad(format!("{kind} name cannot be . or ..")));
    }
    if c.contains('\0') {
        return Err(bad(format!("{kind} name contains NUL")));
    }
    Ok(())
}

fn check_fits(kind: &str, c: &str) -> Result<(), Error> {
    if c.len() > NAME_MAX {
        return Err(bad(format!("{kind} name is longer than {NAME_MAX} bytes")));
    }
    Ok(())
}

/// Checks an account name.
pub fn check_account(name: &str, l: &Limits) -> Result<(), Error> {
    if name.len() > l.max_account_name_length {
        return Err(bad(format!(
            "Account name length of {} longer than {}",
            name.len(),
            l.max_account_name_length
        )));
    }
    if name.contains('/') {
        return Err(bad("Account name cannot contain /"));
    }
    if name == super::expiry::STATE_DIR {
        return Err(bad("Account name is reserved"));
    }
    check_fits("Account", name)?;
    check_component("Account", name)
}

/// Checks a container name.
pub fn check_container(name: &str, l: &Limits) -> Result<(), Error> {
    if name.len() > l.max_container_name_length {
        return Err(bad(format!(
            "Container name length of {} longer than {}",
            name.len(),
            l.max_container_name_length
        )));
    }
    if name.contains('/') {
        return Err(bad("Container name cannot contain /"));
    }
    if name == super::versions::HIDDEN {
        return Err(bad("Container name is reserved"));
    }
    check_fits("Container", name)?;
    check_component("Container", name)
}

/// Checks an object name: total length, then each `/`-separated component.
pub fn check_object(name: &str, l: &Limits) -> Result<(), Error> {
    if name.len() > l.max_object_name_length {
        return Err(bad(format!(
            "Object name length of {} longer than {}",
            name.len(),
            l.max_object_name_length
        )));
    }
    if name.is_empty() {
        return Err(bad("Object name cannot be empty"));
    }
    // A trailing slash names a directory marker; other empty components are
    // normalized away before this point and cannot be stored.
    let body = name.strip_suffix('/').unwrap_or(name);
    if body.is_empty() || body.starts_with('/') || body.contains("//") {
        return Err(bad(
            "Object name cannot begin with or have contiguous slashes",
        ));
    }
    for c in body.split('/') {
        check_component("Object", c)?;
        if super::object::is_internal_name(c) {
            return Err(bad("Object name component is reserved for temporary files"));
        }
        if is_long_name(c) {
            return Err(bad("Object name component is reserved for long names"));
        }
    }
    Ok(())
}

/// Joins an already-validated relative object name under `base` (a
/// trailing slash is dropped: `dir/` is the directory `dir`), each component
/// by its disk name.
pub fn join(base: &Path, rel: &str) -> PathBuf {
    let mut p = base.to_path_buf();
    for c in rel.trim_end_matches('/').split('/') {
        p.push(&*disk_component(c));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_account_name_length: 256,
            max_container_name_length: 255,
            max_object_name_length: 1024,
        }
    }

    #[test]
    fn object_names_that_escape_or_break_paths_are_rejected() {
        let l = limits();
        for n in [
            "", "..", ".", "a/../b", "a/./b", "a//b", "/a", "/", "a//", "a\0b",
        ] {
            assert!(check_object(n, &l).is_err(), "{n:?} accepted");
        }
        for n in ["a", "a/b/c.jpg", ".hidden", "a..b", "é/ü", "dir/"] {
            assert!(check_object(n, &l).is_ok(), "{n:?} rejected");
        }
    }

    #[test]
    fn lengths_are_bounded() {
        let l = limits();
        assert!(check_object(&"a".repeat(255), &l).is_ok());
        assert!(check_object(&"a".repeat(1024), &l).is_ok());
        assert!(check_object(&"a".repeat(1025), &l).is_err());
        assert!(check_account(&"a".repeat(256), &l).is_err());
        let deep = vec!["b".repeat(200); 5].join("/");
        assert_eq!(deep.len(), 1004);
        assert!(check_object(&deep, &l).is_ok());
        let too_deep = vec!["b".repeat(200); 6].join("/");
        assert!(check_object(&too_deep, &l).is_err());
        assert!(check_container(&"c".repeat(255), &l).is_ok());
        assert!(check_container(&"c".repeat(256), &l).is_err());
        assert!(check_container("a/b", &l).is_err());
    }

    #[test]
    fn join_builds_nested_paths() {
        assert_eq!(join(Path::new("/d"), "a/b/c"), PathBuf::from("/d/a/b/c"));
        assert_eq!(join(Path::new("/d"), "a/b/"), PathBuf::from("/d/a/b"));
    }

    #[test]
    fn long_components_get_bounded_deterministic_disk_names() {
        assert_eq!(disk_component(&"a".repeat(255)), "a".repeat(255));
        let long = "x".repeat(1024);
        let d = disk_component(&long);
        assert_eq!(
            d,
            format!(
                "{}~{}.sglong",
                "x".repeat(180),
                hex::encode(Md5::digest(long.as_bytes()))
            )
        );
        assert_eq!(d.len(), 220);
        assert!(is_long_name(&d));
        assert_eq!(disk_component(&long), d);
        // Same first 180 bytes, different names: different disk names.
        let other = format!("{}y", "x".repeat(1023));
        assert_ne!(disk_component(&other), d);
        // Cut back to a char boundary: after "a", 3-byte chars end at 178.
        let e = disk_component(&"é".repeat(200)).into_owned();
        assert!(e.starts_with(&"é".repeat(90)) && is_long_name(&e), "{e}");
        let k = disk_component(&format!("a{}", "中".repeat(100))).into_owned();
        assert!(k.starts_with(&format!("a{}~", "中".repeat(59))), "{k}");
        assert_eq!(k.len(), 178 + 40);
        assert!(k.len() <= NAME_MAX);
    }

    #[test]
    fn components_in_the_escaped_form_are_refused() {
        let l = limits();
        let d = disk_component(&"x".repeat(300)).into_owned();
        assert!(check_object(&d, &l).is_err());
        assert!(check_object(&format!("a/{d}/b"), &l).is_err());
        let short = format!("a~{}.sglong", "0".repeat(32));
        assert!(is_long_name(&short));
        assert!(check_object(&short, &l).is_err());
        for ok in [
            "a.sglong",
            &format!("a~{}.sglong", "0".repeat(31)),
            &format!("a~{}.sglong", "G".repeat(32)),
            &format!("a-{}.sglong", "0".repeat(32)),
        ] {
            assert!(!is_long_name(ok), "{ok}");
            assert!(check_object(ok, &l).is_ok(), "{ok}");
        }
    }

    #[test]
    fn the_full_name_is_kept_in_an_xattr_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let long = "z".repeat(600);
        let d = disk_component(&long).into_owned();
        let p = dir.path().join(&d);
        std::fs::write(&p, b"x").unwrap();
        assert_eq!(full_name(Target::Path(&p), &d).unwrap(), None);
        record_full_name(Target::Path(&p), &long).unwrap();
        assert_eq!(full_name(Target::Path(&p), &d).unwrap(), Some(long));
        // A name that does not map to this disk name is not believed.
        record_full_name(Target::Path(&p), &"q".repeat(600)).unwrap();
        assert_eq!(full_name(Target::Path(&p), &d).unwrap(), None);
    }
}
