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

use md5::{Digest, Md5};

use super::xattr::{self, Target};
use super::Error;

/// Longest single path component the filesystem accepts (NAME_MAX).
pub const NAME_MAX: usize = 255;

// Names sofgate keeps for itself, all here: none can be a client's
// account, container or object name component.

/// The device's own state (expiry queue, tombstones, quarantine, health
/// probes, the token secret): never an account.
pub const STATE_DIR: &str = ".sofgate";
/// An account's hidden versions containers: never a container.
pub const VERSIONS_DIR: &str = ".sofgate-versions";
/// An account's multipart uploads: never a container.
pub const UPLOADS_DIR: &str = ".sofgate-uploads";
/// Suffix that marks sofgate's temp files: `.<stem>.<16 hex>.sgtmp`.
pub const TEMP_SUFFIX: &str = ".sgtmp";
/// Length of `.<16 hex>.sgtmp`.
const TEMP_TAIL: usize = 1 + 16 + TEMP_SUFFIX.len();
/// Suffix of metadata sidecar files (`.<leaf>.sgmeta`).
pub const SIDECAR_SUFFIX: &str = ".sgmeta";

/// A fresh temp name for `stem` (cut so that it fits in NAME_MAX).
pub fn temp_name(stem: &str) -> String {
    let room = NAME_MAX - 1 - TEMP_TAIL;
    let mut end = stem.len().min(room);
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        ".{}.{:016x}{TEMP_SUFFIX}",
        &stem[..end],
        rand::random::<u64>()
    )
}

/// True for the name of a temp file (never listed, served or counted).
pub fn is_temp_name(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() > TEMP_TAIL
        && b[0] == b'.'
        && n.ends_with(TEMP_SUFFIX)
        && b[b.len() - TEMP_TAIL] == b'.'
        && b[b.len() - TEMP_TAIL + 1..b.len() - TEMP_SUFFIX.len()]
            .iter()
            .all(u8::is_ascii_hexdigit)
}

/// True for the name of a sidecar file.
pub fn is_sidecar_name(n: &str) -> bool {
    n.len() > 1 + SIDECAR_SUFFIX.len() && n.starts_with('.') && n.ends_with(SIDECAR_SUFFIX)
}

/// True for names sofgate uses itself (temp files, metadata sidecars).
pub fn is_internal_name(n: &str) -> bool {
    is_temp_name(n) || is_sidecar_name(n)
}

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
    // The stored name is as untrusted as the disk: it must be one valid
    // component that really escapes to this disk name.
    Ok(String::from_utf8(v).ok().filter(|full| {
        full.len() > NAME_MAX
            && check_object_component(full).is_ok()
            && disk_component(full) == disk
    }))
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
    if name == STATE_DIR {
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
    if name == VERSIONS_DIR || name == UPLOADS_DIR {
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
    check_components(name)?;
    Ok(())
}

/// Checks each `/`-separated component of an object name (a trailing `/`
/// names a directory marker): not empty, `.` or `..`, no NUL, no internal
/// or escaped disk name.
fn check_components(name: &str) -> Result<(), Error> {
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
        check_object_component(c)?;
    }
    Ok(())
}

/// Checks one component of an object name.
pub fn check_object_component(c: &str) -> Result<(), Error> {
    check_component("Object", c)?;
    if c.contains('/') {
        return Err(bad("Object name component cannot contain /"));
    }
    if is_internal_name(c) {
        return Err(bad("Object name component is reserved for temporary files"));
    }
    if is_long_name(c) {
        return Err(bad("Object name component is reserved for long names"));
    }
    Ok(())
}

/// A valid object name: the only way a name reaches the store's object,
/// listing and versions functions. It cannot be built from a string with an
/// empty, `.` or `..` component, a NUL, or a component in one of sofgate's
/// own disk forms (temp files, sidecars, escaped long names), so no object
/// name can climb out of its container or alias an internal file. A
/// trailing `/` names a directory marker.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ObjPath(String);

impl ObjPath {
    /// Checks a client's object name (with the configured length limit).
    pub fn new(name: &str, l: &Limits) -> Result<ObjPath, Error> {
        check_object(name, l)?;
        Ok(ObjPath(name.to_string()))
    }

    /// A name made of components read from disk or composed by sofgate
    /// (checked the same way, but with no overall length limit: a tree
    /// made on the mount may be deeper than a client may name).
    pub fn from_parts(name: String) -> Result<ObjPath, Error> {
        check_components(&name)?;
        Ok(ObjPath(name))
    }

    /// `self/<comp>` (a version file under an object's name, say).
    pub fn child(&self, comp: &str) -> Result<ObjPath, Error> {
        check_object_component(comp)?;
        Ok(ObjPath(format!("{}/{comp}", self.trimmed())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for a name ending in `/` (a directory marker).
    pub fn is_dir_name(&self) -> bool {
        self.0.ends_with('/')
    }

    /// The name without a trailing `/`.
    pub fn trimmed(&self) -> &str {
        self.0.trim_end_matches('/')
    }

    /// The parent's name (`a/b` of `a/b/c`), if any.
    pub fn parent(&self) -> Option<&str> {
        self.trimmed().rsplit_once('/').map(|(p, _)| p)
    }

    /// The last component.
    pub fn leaf(&self) -> &str {
        let t = self.trimmed();
        t.rsplit_once('/').map_or(t, |(_, l)| l)
    }

    /// The disk path of the whole name, relative to its container.
    pub fn disk_path(&self) -> String {
        disk_path(self.trimmed())
    }

    /// The disk path of the parent directory (`""`: the container itself).
    pub fn disk_parent(&self) -> String {
        self.parent().map(disk_path).unwrap_or_default()
    }

    /// The disk name of the last component.
    pub fn disk_leaf(&self) -> Cow<'_, str> {
        disk_component(self.leaf())
    }
}

impl std::ops::Deref for ObjPath {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ObjPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for ObjPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// The disk path of valid components joined by `/` (each by its disk name).
fn disk_path(name: &str) -> String {
    let mut p = String::with_capacity(name.len());
    for c in name.split('/') {
        if !p.is_empty() {
            p.push('/');
        }
        p.push_str(&disk_component(c));
    }
    p
}

/// The directories a listing `prefix` names in full (the part up to its
/// last `/`), as a name to descend into: `Some("")` for none, `None` when
/// one of them could not be an object's directory (empty, `.`, `..`, NUL,
/// an internal or escaped disk name): such a prefix matches nothing.
pub fn prefix_dir(prefix: &str) -> Option<&str> {
    let Some(i) = prefix.rfind('/') else {
        return Some("");
    };
    let dir = &prefix[..i];
    if dir.split('/').all(|c| check_object_component(c).is_ok()) {
        Some(dir)
    } else {
        None
    }
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
    fn object_paths_cannot_hold_bad_names() {
        let l = limits();
        let p = ObjPath::new("a/b/c", &l).unwrap();
        assert_eq!((p.parent(), p.leaf()), (Some("a/b"), "c"));
        assert_eq!(
            (p.disk_parent(), p.disk_path()),
            ("a/b".into(), "a/b/c".into())
        );
        let m = ObjPath::new("a/b/", &l).unwrap();
        assert!(m.is_dir_name());
        assert_eq!(
            (m.parent(), m.leaf(), m.disk_path()),
            (Some("a"), "b", "a/b".into())
        );
        let long = "x".repeat(300);
        let deep = ObjPath::new(&format!("{long}/o"), &l).unwrap();
        assert_eq!(deep.disk_parent(), disk_component(&long));
        for bad in [
            "a/../b",
            "..",
            "a/./b",
            "",
            "a//b",
            "/a",
            "a\0b",
            ".x.0123456789abcdef.sgtmp",
        ] {
            assert!(ObjPath::new(bad, &l).is_err(), "{bad:?}");
            assert!(ObjPath::from_parts(bad.to_string()).is_err(), "{bad:?}");
        }
        assert!(p.child("..").is_err() && p.child("v/w").is_err());
        assert_eq!(p.child("0001.00000").unwrap().as_str(), "a/b/c/0001.00000");
    }

    #[test]
    fn a_prefix_is_descended_only_through_valid_directories() {
        assert_eq!(prefix_dir("abc"), Some(""));
        assert_eq!(prefix_dir("a/b/c"), Some("a/b"));
        assert_eq!(prefix_dir("a/b/"), Some("a/b"));
        for bad in [
            "../x",
            "../../AUTH_test/priv/",
            "a/../../b",
            "/etc/host",
            "a//b",
            "./a",
        ] {
            assert_eq!(prefix_dir(bad), None, "{bad}");
        }
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
        use crate::store::beneath::{Dir, Follow};
        let dir = tempfile::tempdir().unwrap();
        let long = "z".repeat(600);
        let d = disk_component(&long).into_owned();
        std::fs::write(dir.path().join(&d), b"x").unwrap();
        let root = Dir::open_root(dir.path()).unwrap();
        let node = root.node(&d, Follow::Never).unwrap();
        let h = node.handle().unwrap();
        let t = Target::Handle(&h);
        assert_eq!(full_name(t, &d).unwrap(), None);
        record_full_name(t, &long).unwrap();
        assert_eq!(full_name(t, &d).unwrap(), Some(long));
        // A name that does not map to this disk name is not believed.
        record_full_name(t, &"q".repeat(600)).unwrap();
        assert_eq!(full_name(t, &d).unwrap(), None);
        // Nor one that would be a path, though it hashes to the disk name.
        let sneaky = format!("{}/../../x", "z".repeat(300));
        let d2 = disk_component(&sneaky).into_owned();
        std::fs::write(dir.path().join(&d2), b"x").unwrap();
        let node = root.node(&d2, Follow::Never).unwrap();
        let h = node.handle().unwrap();
        record_full_name(Target::Handle(&h), &sneaky).unwrap();
        assert_eq!(full_name(Target::Handle(&h), &d2).unwrap(), None);
    }
}
