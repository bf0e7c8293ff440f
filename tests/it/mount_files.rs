//! The same tree as files and as objects: what people and programs do on the
//! mount is what the API answers on the next request.

use crate::common;

use std::io::{Seek, SeekFrom, Write};
use std::process::Command;

use common::*;

fn json_entry(s: &Server, container: &str, name: &str) -> serde_json::Value {
    let v = s.get(&format!("{container}?format=json")).json();
    v.as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} not listed in {v}"))
}

#[test]
fn a_file_copied_onto_the_mount_is_a_listed_and_served_object() {
    let s = Server::start();
    s.put_container("c");
    std::fs::create_dir_all(s.cont_dir("c").join("docs")).unwrap();
    std::fs::write(s.cont_dir("c").join("docs/report.txt"), b"made by hand").unwrap();
    let e = json_entry(&s, "c", "docs/report.txt");
    assert_eq!(e["bytes"], 12);
    assert_eq!(e["hash"], md5_hex(b"made by hand"));
    assert_eq!(e["content_type"], "text/plain");
    let r = s.get("c/docs/report.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"made by hand");
    assert_eq!(r.header("etag"), Some(md5_hex(b"made by hand").as_str()));
    // The derived metadata was stored back, so the next request is cheap.
    let m = swift_meta(&s.cont_dir("c").join("docs/report.txt")).expect("stored");
    assert_eq!(meta_str(&m, "ETag").unwrap(), md5_hex(b"made by hand"));
}

#[test]
fn replacing_editing_and_deleting_on_the_mount_show_at_once() {
    let s = Server::start();
    s.put_container("c");
    s.req("PUT", &v1("c/f.bin"))
        .header("X-Object-Meta-Owner", "alice")
        .body(b"0123456789")
        .send_expect(201);
    let path = s.cont_dir("c").join("f.bin");

    // Same length, edited in place: size alone would miss it.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.seek(SeekFrom::Start(3)).unwrap();
    f.write_all(b"XYZ").unwrap();
    drop(f);
    let r = s.get("c/f.bin");
    assert_eq!(r.body, b"012XYZ6789");
    assert_eq!(r.header("etag"), Some(md5_hex(b"012XYZ6789").as_str()));
    assert_eq!(
        r.header("x-object-meta-owner"),
        Some("alice"),
        "user metadata kept"
    );
    let h = s.req("HEAD", &v1("c/f.bin")).send();
    assert_eq!(h.header("etag"), Some(md5_hex(b"012XYZ6789").as_str()));

    // Replaced by a longer file (as `cp` does: truncate and write).
    std::fs::write(&path, b"a longer replacement").unwrap();
    let e = json_entry(&s, "c", "f.bin");
    assert_eq!(e["bytes"], 20);
    assert_eq!(e["hash"], md5_hex(b"a longer replacement"));

    std::fs::remove_file(&path).unwrap();
    s.req("GET", &v1("c/f.bin")).send_expect(404);
    assert!(s.get("c").lines().is_empty());
}

#[test]
fn directories_made_on_the_mount_are_pseudo_directories() {
    let s = Server::start();
    s.put_container("c");
    std::fs::create_dir_all(s.cont_dir("c").join("photos/2024")).unwrap();
    std::fs::write(s.cont_dir("c").join("photos/2024/a.jpg"), b"jpg").unwrap();
    std::fs::create_dir(s.cont_dir("c").join("empty")).unwrap();
    assert_eq!(s.get("c?delimiter=/").lines(), ["empty/", "photos/"]);
    assert_eq!(
        s.get("c").lines(),
        ["photos/2024/a.jpg"],
        "plain dirs are no objects"
    );
    s.req("GET", &v1("c/photos")).send_expect(404);
}

fn python(script: &str, args: &[&std::path::Path]) {
    let st = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .status()
        .expect("python3");
    assert!(st.success());
}

#[test]
fn an_existing_swift_on_file_volume_is_served_with_its_metadata() {
    let s = Server::start();
    s.put_container("c");
    let p = s.cont_dir("c").join("legacy.dat");
    std::fs::write(&p, b"legacy bytes").unwrap();
    // As Swift-on-File writes it: compact JSON, Content-Length an int.
    python(
        r#"
import json, os, sys, hashlib, time
p = sys.argv[1]
st = os.stat(p)
md = {"X-Timestamp": "%016.05f" % 1700000000.0, "Content-Type": "application/x-legacy",
      "ETag": hashlib.md5(open(p, "rb").read()).hexdigest(), "Content-Length": st.st_size,
      "X-Type": "Object", "X-Object-Type": "file",
      "X-Object-PUT-Mtime": "%016.05f" % st.st_mtime, "X-Object-Meta-Origin": "sof"}
os.setxattr(p, "user.swift.metadata", json.dumps(md, separators=(",", ":")).encode())
"#,
        &[&p],
    );
    let r = s.get("c/legacy.dat");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-legacy"));
    assert_eq!(r.header("x-object-meta-origin"), Some("sof"));
    assert_eq!(r.header("x-timestamp"), Some("1700000000.00000"));
}

#[test]
fn legacy_pickled_metadata_is_read_when_enabled_and_rewritten_as_json() {
    let s = Builder::new()
        .storage("read_pickled_metadata = true")
        .start();
    s.put_container("c");
    let p = s.cont_dir("c").join("old.txt");
    std::fs::write(&p, b"pickled").unwrap();
    python(
        r#"
import os, pickle, sys, hashlib
p = sys.argv[1]
st = os.stat(p)
md = {"X-Timestamp": "%016.05f" % 1600000000.0, "Content-Type": "text/x-old",
      "ETag": hashlib.md5(open(p, "rb").read()).hexdigest(), "Content-Length": st.st_size,
      "X-Type": "Object", "X-Object-Type": "file", "X-Object-Meta-Era": "gluster"}
os.setxattr(p, "user.swift.metadata", pickle.dumps(md, 2))
"#,
        &[&p],
    );
    let r = s.get("c/old.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/x-old"));
    assert_eq!(r.header("x-object-meta-era"), Some("gluster"));
    s.req("POST", &v1("c/old.txt"))
        .header("X-Object-Meta-Era", "json")
        .send_expect(202);
    let m = swift_meta(&p).expect("JSON now");
    assert_eq!(meta_str(&m, "X-Object-Meta-Era").unwrap(), "json");
}

#[test]
fn pickled_metadata_is_ignored_unless_enabled() {
    let s = Server::start();
    s.put_container("c");
    let p = s.cont_dir("c").join("old.txt");
    std::fs::write(&p, b"pickled").unwrap();
    python(
        r#"
import os, pickle, sys
os.setxattr(sys.argv[1], "user.swift.metadata", pickle.dumps({"Content-Type": "text/x-old"}, 2))
"#,
        &[&p],
    );
    let r = s.get("c/old.txt");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain"),
        "derived, not unpickled"
    );
}

#[test]
fn objects_are_ordinary_files_with_the_configured_modes_and_owner() {
    use std::os::unix::fs::MetadataExt;
    let s = Builder::new()
        .storage("file_mode = \"0640\"")
        .storage("dir_mode = \"0750\"")
        .storage("[[storage.owner]]\naccount = \"AUTH_test\"\nuid = 1234\ngid = 2345")
        .start();
    s.put_container("c");
    assert_eq!(s.put_object("c/d/e/f.txt", b"mine").status, 201);
    let f = std::fs::metadata(s.cont_dir("c").join("d/e/f.txt")).unwrap();
    assert_eq!(f.mode() & 0o7777, 0o640);
    assert_eq!((f.uid(), f.gid()), (1234, 2345));
    for d in ["d", "d/e"] {
        let m = std::fs::metadata(s.cont_dir("c").join(d)).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o750, "{d}");
        assert_eq!((m.uid(), m.gid()), (1234, 2345), "{d}");
    }
    let c = std::fs::metadata(s.cont_dir("c")).unwrap();
    assert_eq!((c.uid(), c.gid()), (1234, 2345));
}

#[test]
fn an_edit_that_restores_size_and_mtime_is_caught_by_ctime() {
    let s = Server::start();
    s.put_container("c");
    assert_eq!(s.put_object("c/f", b"aaaa").status, 201);
    let path = s.cont_dir("c").join("f");
    // The node has seen (and validated) the object.
    assert_eq!(s.get("c/f").header("etag"), Some(md5_hex(b"aaaa").as_str()));
    s.req("HEAD", &v1("c/f")).send_expect(200);
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all(b"bbbb").unwrap();
    f.set_modified(mtime).unwrap(); // as `touch -r` or `rsync -t` would
    drop(f);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    let h = s.req("HEAD", &v1("c/f")).send();
    assert_eq!(h.header("etag"), Some(md5_hex(b"bbbb").as_str()));
    let r = s.get("c/f");
    assert_eq!(r.body, b"bbbb");
    assert_eq!(r.header("etag"), Some(md5_hex(b"bbbb").as_str()));
}
