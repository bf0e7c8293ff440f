//! The shared tree is hostile: things planted on the device with ordinary
//! system calls (symlinks absolute, relative, chained, into another account,
//! to directories and mount points; FIFOs, sockets, device nodes; hard
//! links; unreadable files) and names with `..` in listings and manifests
//! must never lead sofgate outside the container they are in, block it, or
//! let one account change another's objects. Every test fingerprints the
//! trees outside the container before and after.

use crate::common;

use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

const OUTSIDE: &[u8] = b"root:x:0:0:outside the device\n";
const OUTSIDE_SECRET: &[u8] = b"a secret file outside the device\n";
const PRIVATE: &[u8] = b"AUTH_test2's private object\n";

/// A server with container `c` (AUTH_test) holding the object `real`,
/// AUTH_test2's private object `private/secret`, and a tree outside the
/// device: `passwd`, `dir/secret`.
struct Fixture {
    s: Server,
    out: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with(Builder::new())
    }

    fn with(b: Builder) -> Fixture {
        let s = b.start();
        s.put_container("c");
        s.put_object("c/real", b"the real object");
        let t2 = s.token("test2:tester2", "testing2");
        let put2 = |p: &str, data: &[u8]| {
            let r = s
                .anon("PUT", &format!("/v1/AUTH_test2/{p}"))
                .header("X-Auth-Token", &t2)
                .body(data)
                .send();
            assert_eq!(r.status, 201, "PUT {p}: {r:?}");
        };
        put2("private", b"");
        put2("private/secret", PRIVATE);
        let out = tempfile::tempdir().unwrap();
        std::fs::write(out.path().join("passwd"), OUTSIDE).unwrap();
        std::fs::create_dir(out.path().join("dir")).unwrap();
        std::fs::write(out.path().join("dir/secret"), OUTSIDE_SECRET).unwrap();
        Fixture { s, out }
    }

    fn c(&self) -> PathBuf {
        self.s.cont_dir("c")
    }

    fn test2(&self) -> PathBuf {
        self.s.device().join("AUTH_test2")
    }

    /// Everything outside container `c` that a request must never change.
    fn outside(&self) -> Vec<String> {
        let mut v = fingerprint(self.out.path());
        v.extend(fingerprint(&self.test2()));
        v
    }

    fn status(&self, method: &str, path: &str) -> u16 {
        self.s.req(method, &v1(path)).send().status
    }
}

/// Names, kinds, sizes, inodes, link counts, mtimes, contents and every
/// xattr of a tree (symlinks not followed, FIFOs never opened).
fn fingerprint(root: &Path) -> Vec<String> {
    walk(root)
        .into_iter()
        .filter_map(|rel| {
            let p = root.join(&rel);
            let st = std::fs::symlink_metadata(&p).ok()?;
            let content = if st.is_file() {
                md5_hex(&std::fs::read(&p).ok()?)
            } else if st.file_type().is_symlink() {
                std::fs::read_link(&p).ok()?.display().to_string()
            } else {
                "-".into()
            };
            Some(format!(
                "{} mode={:o} ino={} nlink={} len={} mtime={}.{} {content} {:?}",
                rel.display(),
                st.mode(),
                st.ino(),
                st.nlink(),
                st.len(),
                st.mtime(),
                st.mtime_nsec(),
                xattrs(&p)
            ))
        })
        .collect()
}

/// All xattrs of a path (not following a symlink).
fn xattrs(p: &Path) -> BTreeMap<String, Vec<u8>> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let mut buf = vec![0u8; 65536];
    // SAFETY: NUL-terminated path; `buf` is writable for its length.
    let n = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return BTreeMap::new();
    }
    buf[..n as usize]
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| {
            let name = String::from_utf8_lossy(n).into_owned();
            let v = xattr(p, &name).unwrap_or_default();
            (name, v)
        })
        .collect()
}

fn plain_names(s: &Server, query: &str) -> Vec<String> {
    let r = s.get(&format!("c{query}"));
    assert!(r.status == 200 || r.status == 204, "{r:?}");
    r.lines()
}

fn json_names(s: &Server, query: &str) -> Vec<String> {
    let sep = if query.is_empty() { "?" } else { "&" };
    let r = s.get(&format!("c{query}{sep}format=json"));
    assert_eq!(r.status, 200, "{r:?}");
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e.get("name")
                .or_else(|| e.get("subdir"))
                .and_then(|n| n.as_str())
                .unwrap()
                .to_string()
        })
        .collect()
}

fn object_count(s: &Server) -> u64 {
    let r = s.req("HEAD", &v1("c")).send();
    r.header("x-container-object-count")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{r:?}"))
}

/// No response body may carry bytes from outside the container.
fn assert_no_leak(r: &Resp) {
    for secret in [OUTSIDE, OUTSIDE_SECRET, PRIVATE] {
        assert!(
            !r.body.windows(secret.len()).any(|w| w == secret),
            "leaked outside data: {r:?}"
        );
    }
}

/// Every verb on `name` answers as for an object that does not exist (PUT:
/// 409, nothing replaced), and the link itself stays as it was.
fn assert_no_object(f: &Fixture, name: &str) {
    let s = &f.s;
    let link = f.c().join(name);
    let before = std::fs::symlink_metadata(&link).map(|m| (m.ino(), m.file_type()));
    for (m, want) in [("GET", 404), ("HEAD", 404), ("POST", 404), ("DELETE", 404)] {
        let r = s.req(m, &v1(&format!("c/{name}"))).send();
        assert_eq!(r.status, want, "{m} {name}: {r:?}");
        assert_no_leak(&r);
    }
    let r = s
        .req("COPY", &v1(&format!("c/{name}")))
        .header("Destination", "c/copied")
        .send();
    assert_eq!(r.status, 404, "COPY from {name}: {r:?}");
    let r = s
        .req("PUT", &v1("c/copied"))
        .header("X-Copy-From", &format!("c/{name}"))
        .send();
    assert_eq!(r.status, 404, "X-Copy-From {name}: {r:?}");
    let r = s
        .req("PUT", &v1(&format!("c/{name}")))
        .body(b"over it")
        .send();
    assert_eq!(r.status, 409, "PUT over {name}: {r:?}");
    let after = std::fs::symlink_metadata(&link).map(|m| (m.ino(), m.file_type()));
    assert_eq!(before.ok(), after.ok(), "{name} was replaced or removed");
    assert_eq!(s.get("c/copied").status, 404);
}

#[test]
fn symlinks_to_files_anywhere_are_no_objects() {
    let f = Fixture::new();
    let c = f.c();
    symlink(f.out.path().join("passwd"), c.join("abs")).unwrap();
    symlink("../../AUTH_test2/private/secret", c.join("cross")).unwrap();
    symlink("abs", c.join("chain")).unwrap();
    symlink("real", c.join("inner")).unwrap();
    symlink("nowhere", c.join("dangling")).unwrap();
    let before = f.outside();
    for name in ["abs", "cross", "chain", "inner", "dangling"] {
        assert_no_object(&f, name);
        let r = f.s.get(&format!("c/{name}?symlink=get"));
        assert_eq!(r.status, 404, "{r:?}");
    }
    assert_eq!(plain_names(&f.s, ""), ["real"]);
    assert_eq!(json_names(&f.s, ""), ["real"]);
    assert_eq!(json_names(&f.s, "?prefix=a"), Vec::<String>::new());
    assert_eq!(object_count(&f.s), 1);
    assert_eq!(f.s.get("c/real").body, b"the real object");
    assert_eq!(f.outside(), before);
}

#[test]
fn symlinked_directories_are_never_entered_read_or_written() {
    let f = Fixture::new();
    let (s, c) = (&f.s, f.c());
    symlink(f.out.path().join("dir"), c.join("d")).unwrap();
    symlink("../../AUTH_test2/private", c.join("x")).unwrap();
    let before = f.outside();
    for name in ["d/secret", "x/secret"] {
        for m in ["GET", "HEAD", "POST", "DELETE"] {
            let r = s.req(m, &v1(&format!("c/{name}"))).send();
            assert_eq!(r.status, 404, "{m} {name}: {r:?}");
            assert_no_leak(&r);
        }
    }
    for name in ["d/new", "x/new", "d/sub/new", "x/secret"] {
        let r = s.req("PUT", &v1(&format!("c/{name}"))).body(b"x").send();
        assert_eq!(r.status, 409, "PUT {name}: {r:?}");
        let r = s
            .req("COPY", &v1("c/real"))
            .header("Destination", &format!("c/{name}"))
            .send();
        assert_eq!(r.status, 409, "COPY to {name}: {r:?}");
        let r = s
            .req("PUT", &v1(&format!("c/{name}/")))
            .header("Content-Type", "application/directory")
            .send();
        assert_eq!(r.status, 409, "marker {name}/: {r:?}");
    }
    for q in [
        "?prefix=d/",
        "?prefix=x/",
        "?path=d",
        "?path=x",
        "?prefix=d/s",
    ] {
        assert_eq!(json_names(s, q), Vec::<String>::new(), "{q}");
        assert_eq!(plain_names(s, q), Vec::<String>::new(), "{q}");
    }
    assert_eq!(json_names(s, "?delimiter=/"), ["real"]);
    assert_eq!(object_count(s), 1);

    // Bulk delete and archive extraction go through the same lookups.
    let r = s
        .req("POST", &format!("{}?bulk-delete", v1("")))
        .header("Accept", "application/json")
        .body(b"c/d/secret\nc/x/secret\n")
        .send_expect(200);
    let v: serde_json::Value = serde_json::from_str(r.text().trim_start()).unwrap();
    assert_eq!(v["Number Deleted"], 0, "{v}");
    let mut b = tar::Builder::new(Vec::new());
    for name in ["d/evil", "x/evil", "ok"] {
        let mut h = tar::Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, &b"evil"[..]).unwrap();
    }
    let r = s
        .req("PUT", &format!("{}?extract-archive=tar", v1("c")))
        .header("Accept", "application/json")
        .body(&b.into_inner().unwrap())
        .send_expect(200);
    let v: serde_json::Value = serde_json::from_str(r.text().trim_start()).unwrap();
    assert_eq!(v["Number Files Created"], 1, "{v}");
    assert_eq!(v["Errors"].as_array().unwrap().len(), 2, "{v}");

    // Large objects and Swift symlinks reach their targets by name too.
    s.req("PUT", &v1("c/dlo"))
        .header("X-Object-Manifest", "c/d/")
        .send_expect(201);
    let r = s.get("c/dlo");
    assert_eq!((r.status, r.body.len()), (200, 0), "{r:?}");
    let manifest = br#"[{"path": "c/d/secret"}]"#;
    let r = s
        .req("PUT", &format!("{}?multipart-manifest=put", v1("c/slo")))
        .body(manifest)
        .send_expect(400);
    assert_no_leak(&r);
    s.req("PUT", &v1("c/link"))
        .header("X-Symlink-Target", "c/x/secret")
        .send_expect(201);
    let r = s.get("c/link");
    assert_eq!(r.status, 404, "{r:?}");
    assert_no_leak(&r);

    assert_eq!(f.outside(), before);
    assert!(!f.out.path().join("dir/new").exists());
}

#[test]
fn a_fifo_never_holds_a_worker() {
    let f = Fixture::new();
    let s = &f.s;
    let fifo = f.c().join("f");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    std::fs::create_dir(f.c().join("sub")).unwrap();
    nix::unistd::mkfifo(
        &f.c().join("sub/g"),
        nix::sys::stat::Mode::from_bits_truncate(0o666),
    )
    .unwrap();
    let addr = s.addr();
    let token = s.admin_token().to_string();
    let gets: Vec<_> = (0..16)
        .map(|i| {
            let (t, path) = (token.clone(), if i % 2 == 0 { "c/f" } else { "c/sub/g" });
            std::thread::spawn(move || {
                Req::new(addr, "GET", &v1(path))
                    .header("X-Auth-Token", &t)
                    .send()
                    .status
            })
        })
        .collect();
    // While those run, the server answers at once.
    for _ in 0..5 {
        let t = Instant::now();
        s.anon("GET", "/healthcheck").send_expect(200);
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "healthcheck took {:?}",
            t.elapsed()
        );
    }
    for g in gets {
        assert_eq!(g.join().unwrap(), 404);
    }
    for m in ["HEAD", "POST", "DELETE"] {
        assert_eq!(f.status(m, "c/f"), 404, "{m}");
    }
    s.req("COPY", &v1("c/f"))
        .header("Destination", "c/copied")
        .send_expect(404);
    s.req("PUT", &v1("c/f")).body(b"x").send_expect(409);
    assert_eq!(plain_names(s, ""), ["real"]);
    assert_eq!(json_names(s, "?prefix=sub/"), Vec::<String>::new());
    assert_eq!(object_count(s), 1);
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    // The container cannot be deleted while the FIFO is in it.
    s.req("DELETE", &v1("c/real")).send_expect(204);
    s.req("DELETE", &v1("c")).send_expect(409);
}

#[test]
fn sockets_and_device_nodes_are_no_objects() {
    let f = Fixture::new();
    let s = &f.s;
    let _sock = std::os::unix::net::UnixListener::bind(f.c().join("sock")).unwrap();
    let node = f.c().join("null");
    let made = nix::sys::stat::mknod(
        &node,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    );
    let mut names = vec!["sock"];
    if made.is_ok() {
        names.push("null");
    } else {
        eprintln!("mknod refused ({made:?}): device node not tested");
    }
    for name in names {
        for m in ["GET", "HEAD", "POST", "DELETE"] {
            assert_eq!(f.status(m, &format!("c/{name}")), 404, "{m} {name}");
        }
        let r = s.req("PUT", &v1(&format!("c/{name}"))).body(b"x").send();
        assert_eq!(r.status, 409, "PUT {name}: {r:?}");
        assert!(std::fs::symlink_metadata(f.c().join(name)).is_ok());
    }
    assert_eq!(plain_names(s, ""), ["real"]);
    assert_eq!(object_count(s), 1);
}

/// Unmounts on drop.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn a_mount_point_in_a_container_is_never_crossed() {
    let f = Fixture::new();
    let s = &f.s;
    let m = f.c().join("m");
    std::fs::create_dir(&m).unwrap();
    let bound = nix::mount::mount(
        Some(f.out.path()),
        &m,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    );
    if let Err(e) = bound {
        eprintln!("bind mount refused ({e}): mount crossing not tested");
        return;
    }
    let _guard = Mounted(m.clone());
    let before = fingerprint(f.out.path());
    for name in ["m/passwd", "m/dir/secret"] {
        for meth in ["GET", "HEAD", "POST", "DELETE"] {
            let r = s.req(meth, &v1(&format!("c/{name}"))).send();
            assert_eq!(r.status, 404, "{meth} {name}: {r:?}");
            assert_no_leak(&r);
        }
    }
    s.req("PUT", &v1("c/m/new")).body(b"x").send_expect(409);
    assert_eq!(json_names(s, "?prefix=m/"), Vec::<String>::new());
    assert_eq!(plain_names(s, ""), ["real"]);
    assert_eq!(object_count(s), 1);
    assert_eq!(fingerprint(f.out.path()), before);
}

#[test]
fn hard_links_never_change_another_accounts_object() {
    let f = Fixture::new();
    let s = &f.s;
    let secret = f.test2().join("private/secret");
    std::fs::hard_link(&secret, f.c().join("hl")).unwrap();
    // A file made on the mount (no metadata yet), linked into AUTH_test too.
    let raw = f.test2().join("private/raw");
    std::fs::write(&raw, b"raw data of test2").unwrap();
    std::fs::hard_link(&raw, f.c().join("hlraw")).unwrap();
    let before = f.outside();
    // Reading is what whoever made the link on the mount chose.
    let r = s.get("c/hl");
    assert_eq!((r.status, r.body.as_slice()), (200, PRIVATE), "{r:?}");
    let r = s.get("c/hlraw");
    assert_eq!(r.status, 200, "{r:?}");
    // Metadata derived for it is not stored on the shared inode.
    assert_eq!(xattr(&raw, "user.swift.metadata"), None);
    s.req("POST", &v1("c/hl"))
        .header("X-Object-Meta-Owned", "yes")
        .send_expect(409);
    assert_eq!(f.outside(), before);
    // Writes replace the name with a new file; deletes remove the name.
    s.put_object("c/hl", b"new data of test");
    assert_eq!(s.get("c/hl").body, b"new data of test");
    assert_eq!(f.status("DELETE", "c/hlraw"), 204);
    assert_eq!(std::fs::read(&secret).unwrap(), PRIVATE);
    assert_eq!(std::fs::read(&raw).unwrap(), b"raw data of test2");
    let after: Vec<String> = f
        .outside()
        .into_iter()
        .map(|l| l.replace("nlink=2", "nlink=1"))
        .collect();
    let before: Vec<String> = before
        .into_iter()
        .map(|l| l.replace("nlink=2", "nlink=1"))
        .collect();
    assert_eq!(after, before);
}

#[test]
fn a_file_of_mode_000_is_served_only_to_a_root_sofgate() {
    let f = Fixture::new();
    s_put_and_lock(&f);
    let r = f.s.get("c/locked");
    // sofgate runs as the test's user: root reads any file (CAP_DAC_OVERRIDE).
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, &b"locked data"[..]),
            "{r:?}"
        );
    } else {
        assert_eq!(r.status, 403, "{r:?}");
    }
    assert!(f.s.is_alive());
}

fn s_put_and_lock(f: &Fixture) {
    f.s.put_object("c/locked", b"locked data");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(f.c().join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
}

#[test]
fn dot_dot_in_a_listing_prefix_or_path_matches_nothing() {
    let f = Fixture::new();
    let s = &f.s;
    s.put_container("priv");
    s.put_object("priv/secret", PRIVATE);
    let t2 = s.token("test2:tester2", "testing2");
    let as2 = |m: &str, p: &str| {
        s.anon(m, &format!("/v1/AUTH_test2/{p}"))
            .header("X-Auth-Token", &t2)
    };
    as2("PUT", "b").send_expect(201);
    as2("PUT", "bv")
        .header("X-Versions-Enabled", "true")
        .send_expect(201);
    as2("PUT", "pub")
        .header("X-Container-Read", ".r:*,.rlistings")
        .send_expect(201);
    // A file outside the device, without metadata: a listing must not
    // derive and store any for it.
    let outside = s.device().parent().unwrap().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let host = outside.join("host");
    std::fs::write(&host, b"outside host file").unwrap();
    let before = fingerprint(&outside);
    let queries = [
        "prefix=../../AUTH_test/priv/",
        "prefix=../../AUTH_test/priv/s",
        "path=../../AUTH_test/priv",
        "prefix=../../../outside/ho",
        "prefix=../../../../../../etc/host",
        "prefix=./priv/",
        "prefix=a//b",
    ];
    for q in queries {
        for c in ["b", "bv", "pub"] {
            let r = as2("GET", &format!("{c}?{q}&format=json")).send();
            assert_eq!(r.status, 200, "{c}?{q}: {r:?}");
            assert_eq!(r.json(), serde_json::json!([]), "{c}?{q}");
        }
        let r = as2("GET", &format!("bv?versions&{q}")).send();
        assert_eq!(r.status, 200, "versions {q}: {r:?}");
        assert_eq!(r.json(), serde_json::json!([]), "versions {q}");
        let r = s
            .anon("GET", &format!("/v1/AUTH_test2/pub?{q}&format=json"))
            .send();
        assert_eq!(
            (r.status, r.json()),
            (200, serde_json::json!([])),
            "anon {q}"
        );
        let r = s.anon("GET", &format!("/v1/AUTH_test2/pub?{q}")).send();
        assert!(r.body.is_empty(), "anon plain {q}: {r:?}");
    }
    assert_eq!(xattr(&host, "user.swift.metadata"), None);
    assert_eq!(fingerprint(&outside), before);
}

#[test]
fn dlo_manifests_naming_dot_dot_are_refused_at_put_and_when_planted() {
    let f = Fixture::new();
    let s = &f.s;
    s.put_container("priv");
    s.put_object("priv/secret", PRIVATE);
    let t2 = s.token("test2:tester2", "testing2");
    let as2 = |m: &str, p: &str| {
        s.anon(m, &format!("/v1/AUTH_test2/{p}"))
            .header("X-Auth-Token", &t2)
    };
    as2("PUT", "b").send_expect(201);
    for bad in [
        "b/../../AUTH_test/priv/secret",
        "b/../../../../../../etc/hostname",
        "../AUTH_test/priv",
        "b/x/./y",
    ] {
        let r = as2("PUT", "b/steal")
            .header("X-Object-Manifest", bad)
            .send();
        assert_eq!(r.status, 400, "PUT {bad}: {r:?}");
    }
    as2("PUT", "b/steal")
        .header("X-Object-Manifest", "b/seg")
        .send_expect(201);
    as2("POST", "b/steal")
        .header("X-Object-Manifest", "b/../../AUTH_test/priv/secret")
        .send_expect(400);
    // Planted on disk: the stored manifest is not followed.
    let file = s.device().join("AUTH_test2/b/steal");
    let mut m = swift_meta(&file).unwrap();
    m.insert(
        "X-Object-Manifest".into(),
        "b/../../AUTH_test/priv/secret".into(),
    );
    let json = serde_json::to_vec(&m).unwrap();
    set_xattr(&file, "user.swift.metadata", &json);
    let r = as2("GET", "b/steal").send_expect(409);
    assert_no_leak(&r);
    as2("COPY", "b/steal")
        .header("Destination", "b/copy")
        .send_expect(409);
    as2("GET", "b/copy").send_expect(404);
}

fn set_xattr(p: &Path, name: &str, v: &[u8]) {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    // SAFETY: NUL-terminated strings; `v` is readable for its length.
    let rc = unsafe { libc::lsetxattr(c.as_ptr(), n.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
    assert_eq!(rc, 0, "setxattr {}", p.display());
}

#[test]
fn versioning_never_acts_through_posix_symlinks() {
    let f = Fixture::new();
    let s = &f.s;
    // Object versioning: a link where an object would go, one planted
    // among the kept versions.
    s.req("PUT", &v1("v"))
        .header("X-Versions-Enabled", "true")
        .send_expect(201);
    s.put_object("v/o", b"version one");
    // The current object and its version share one file, on purpose: a
    // POST still applies to it (and so to that version, as in Swift).
    s.req("POST", &v1("v/o"))
        .header("X-Object-Meta-Color", "blue")
        .send_expect(202);
    let r = s.req("HEAD", &v1("v/o")).send();
    assert_eq!(r.header("x-object-meta-color"), Some("blue"), "{r:?}");
    let v = s.cont_dir("v");
    symlink(f.out.path().join("passwd"), v.join("abs")).unwrap();
    let hidden = s.device().join("AUTH_test/.sofgate-versions/v");
    std::fs::create_dir_all(hidden.join("o")).unwrap();
    symlink(
        f.out.path().join("passwd"),
        hidden.join("o/0000000001.00000"),
    )
    .unwrap();
    let before = f.outside();
    s.req("PUT", &v1("v/abs")).body(b"x").send_expect(409);
    assert!(!hidden.join("abs").exists());
    let r = s.get("v/o?version-id=0000000001.00000");
    assert_eq!(r.status, 404, "{r:?}");
    assert_no_leak(&r);
    let r = s.get("v?versions");
    assert_eq!(r.status, 200, "{r:?}");
    let ids: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version_id"].as_str().unwrap().to_string())
        .collect();
    assert!(!ids.contains(&"0000000001.00000".to_string()), "{ids:?}");
    assert!(v.join("abs").is_symlink());

    // Legacy stack mode: a planted link in the archive is never restored.
    s.put_container("arch");
    s.req("PUT", &v1("w"))
        .header("X-Versions-Location", "arch")
        .send_expect(201);
    s.put_object("w/obj", b"current");
    let arch = s.cont_dir("arch");
    std::fs::create_dir_all(arch.join("003obj")).unwrap();
    symlink(
        f.out.path().join("passwd"),
        arch.join("003obj/0000000001.00000"),
    )
    .unwrap();
    assert_eq!(f.status("DELETE", "w/obj"), 204);
    let r = s.get("w/obj");
    assert_eq!(r.status, 404, "{r:?}");
    assert_no_leak(&r);
    assert!(arch.join("003obj/0000000001.00000").is_symlink());
    assert_eq!(f.outside(), before);
}

#[test]
fn within_container_serves_links_inside_it_read_only() {
    let f = Fixture::with(Builder::new().storage("posix_symlinks = \"within_container\""));
    let (s, c) = (&f.s, f.c());
    s.put_object("c/dir/f", b"the file f");
    std::fs::write(c.join("raw"), b"made on the mount").unwrap();
    symlink("dir/f", c.join("in")).unwrap();
    symlink("raw", c.join("inraw")).unwrap();
    symlink("dir", c.join("dl")).unwrap();
    symlink(f.out.path().join("passwd"), c.join("abs")).unwrap();
    symlink("../../AUTH_test2/private/secret", c.join("cross")).unwrap();
    symlink("../c/dir/f", c.join("esc")).unwrap();
    let before = f.outside();
    let r = s.get("c/in");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"the file f"[..]),
        "{r:?}"
    );
    assert_eq!(r.header("etag"), Some(md5_hex(b"the file f").as_str()));
    s.req("HEAD", &v1("c/in")).send_expect(200);
    assert_eq!(s.get("c/dl/f").body, b"the file f");
    assert_eq!(s.get("c/inraw").body, b"made on the mount");
    // Nothing is stored through a link.
    assert_eq!(xattr(&c.join("raw"), "user.swift.metadata"), None);
    for name in ["abs", "cross", "esc"] {
        let r = s.get(&format!("c/{name}"));
        assert_eq!(r.status, 404, "{name}: {r:?}");
        assert_no_leak(&r);
    }
    let rows = s.get("c?format=json").json();
    let listed: BTreeMap<String, (u64, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                (
                    e["bytes"].as_u64().unwrap(),
                    e["hash"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    let names: Vec<&String> = listed.keys().collect();
    assert_eq!(names, ["dir/f", "in", "inraw", "raw", "real"], "{rows}");
    assert_eq!(listed["in"], (10, md5_hex(b"the file f")));
    assert_eq!(object_count(s), 5);
    // Read only: writes neither replace nor go through a link.
    s.req("PUT", &v1("c/in")).body(b"over").send_expect(409);
    assert_eq!(f.status("POST", "c/in"), 409);
    assert_eq!(f.status("DELETE", "c/in"), 404);
    s.req("PUT", &v1("c/dl/new")).body(b"x").send_expect(409);
    assert!(c.join("in").is_symlink());
    assert!(!c.join("dir/new").exists());
    assert_eq!(s.get("c/dir/f").body, b"the file f");
    // A link is a fine COPY source.
    s.req("COPY", &v1("c/in"))
        .header("Destination", "c/copy")
        .send_expect(201);
    assert_eq!(s.get("c/copy").body, b"the file f");
    assert_eq!(f.outside(), before);
}

#[test]
fn the_fallback_walk_refuses_the_same() {
    let f = Fixture::with(
        Builder::new()
            .storage("openat2 = false")
            .storage("posix_symlinks = \"within_container\""),
    );
    let (s, c) = (&f.s, f.c());
    symlink(f.out.path().join("passwd"), c.join("abs")).unwrap();
    symlink("../../AUTH_test2/private/secret", c.join("cross")).unwrap();
    symlink("real", c.join("inner")).unwrap();
    symlink(f.out.path().join("dir"), c.join("d")).unwrap();
    nix::unistd::mkfifo(
        &c.join("f"),
        nix::sys::stat::Mode::from_bits_truncate(0o666),
    )
    .unwrap();
    let before = f.outside();
    // Without openat2, `within_container` is as `ignore`.
    for name in ["abs", "cross", "inner"] {
        assert_no_object(&f, name);
    }
    assert_eq!(f.status("GET", "c/d/secret"), 404);
    assert_eq!(f.status("DELETE", "c/d/secret"), 404);
    s.req("PUT", &v1("c/d/new")).body(b"x").send_expect(409);
    assert_eq!(f.status("GET", "c/f"), 404);
    assert_eq!(plain_names(s, ""), ["real"]);
    // Ordinary work still works.
    s.put_object("c/a/b/deep", b"deep");
    assert_eq!(s.get("c/a/b/deep").body, b"deep");
    assert_eq!(f.status("DELETE", "c/a/b/deep"), 204);
    assert!(!c.join("a").exists());
    assert_eq!(f.outside(), before);
}

#[test]
fn files_sofgate_may_not_read_are_403_and_never_break_listings_or_counts() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: cannot run sofgate as another user");
        return;
    }
    // sofgate as `nobody`; files of root with mode 0600 / 0700 on its device.
    let s = Builder::new().run_as(65534, 65534).start();
    s.put_container("c");
    s.put_object("c/mine", b"sofgate's own");
    s.put_object("c/sub/theirs", b"will be root's");
    let c = s.cont_dir("c");
    let lock = |p: &Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::os::unix::fs::chown(p, Some(0), Some(0)).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    std::fs::write(c.join("root-file"), b"root's data").unwrap();
    lock(&c.join("root-file"), 0o600);
    lock(&c.join("sub"), 0o700);
    for m in ["GET", "HEAD", "POST"] {
        let r = s.req(m, &v1("c/root-file")).send();
        assert_eq!(r.status, 403, "{m}: {r:?}");
        assert!(!r.body.windows(11).any(|w| w == b"root's data"));
    }
    assert_eq!(s.get("c/sub/theirs").status, 403);
    // The rest of the container lists and counts; the unreadable file is
    // listed from its stat, with no hash; the unreadable directory's
    // objects are not seen.
    let rows = s.get("c?format=json").json();
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mine", "root-file"], "{rows}");
    assert_eq!(rows[1]["hash"], "", "{rows}");
    assert_eq!(rows[1]["bytes"], 11, "{rows}");
    let r = s.req("HEAD", &v1("c")).send();
    assert_eq!(r.header("x-container-object-count"), Some("2"), "{r:?}");
    assert_eq!(s.get("c/mine").body, b"sofgate's own");
    assert!(s.is_alive());
}

#[test]
fn the_expiry_queue_never_leads_outside() {
    let f = Fixture::with(Builder::new().storage("expirer_interval_secs = 1"));
    let s = &f.s;
    let due = now() - 10;
    let queue = s.device().join(format!(".sofgate/expiring/{due}"));
    std::fs::create_dir_all(&queue).unwrap();
    // Entries naming things outside their container.
    let entry = |a: &str, c: &str, o: &str| {
        serde_json::json!({"account": a, "container": c, "object": o, "delete_at": due}).to_string()
    };
    // From <tmp>/<root>/gold/AUTH_test/c up to <tmp>: a file there without
    // metadata would get some derived and stored if it were looked at.
    let out_name = f.out.path().file_name().unwrap().to_str().unwrap();
    let up = format!("../../../../{out_name}/passwd");
    assert!(f.c().join(&up).is_file(), "{up}");
    std::fs::write(queue.join("e0"), entry("AUTH_test", "c", &up)).unwrap();
    std::fs::write(
        queue.join("e1"),
        entry("AUTH_test", "c", "../../AUTH_test2/private/secret"),
    )
    .unwrap();
    std::fs::write(
        queue.join("e2"),
        entry("AUTH_test/../AUTH_test2", "private", "secret"),
    )
    .unwrap();
    std::fs::write(
        queue.join("e3"),
        entry("AUTH_test2", "private/../private", "secret"),
    )
    .unwrap();
    let before = f.outside();
    assert!(
        wait_until(Duration::from_secs(10), || !queue.join("e1").exists()),
        "the sweep did not run"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(f.outside(), before);
    assert_eq!(
        std::fs::read(f.test2().join("private/secret")).unwrap(),
        PRIVATE
    );
}
