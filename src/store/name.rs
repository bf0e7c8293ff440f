//! Account, container and object names: validation and mapping onto paths.
//!
//! A name that passes here can never reach outside its container: no empty,
//! `.` or `..` component, no NUL, every component within NAME_MAX.

use std::path::{Path, PathBuf};

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
    if c.len() > NAME_MAX {
        return Err(bad(format!(
            "{kind} name component is longer than {NAME_MAX} bytes"
        )));
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
    }
    Ok(())
}

/// Joins an already-validated relative object name under `base` (a
/// trailing slash is dropped: `dir/` is the directory `dir`).
pub fn join(base: &Path, rel: &str) -> PathBuf {
    let mut p = base.to_path_buf();
    for c in rel.trim_end_matches('/').split('/') {
        p.push(c);
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
        assert!(check_object(&"a".repeat(256), &l).is_err());
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
    }
}
