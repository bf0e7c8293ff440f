//! Metadata planted on the device by someone with access to the mount:
//! timestamps out of range, header values with CR/LF, huge or key-stuffed
//! sidecars. Every request that reads it still gets a proper answer (never
//! a dropped connection), no planted header reaches a response, and no
//! response head grows with the planted size.

use crate::common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::*;
use serde_json::{json, Map, Value};

const DATA: &[u8] = b"hello, planted world";

/// Sets one xattr of `path` (symlinks not followed).
fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    // SAFETY: NUL-terminated strings and a buffer valid for its length.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(rc, 0, "setxattr {name} on {}", path.display());
}

/// A server with `c/o` holding [`DATA`]; returns the object's file.
fn setup() -> (Server, std::path::PathBuf) {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/o", DATA);
    let file = s.cont_dir("c").join("o");
    (s, file)
}

/// The stored metadata of `path` with `key` set to `value`, written back.
fn plant(path: &Path, key: &str, value: Value) {
    let mut m = swift_meta(path).expect("metadata");
    m.insert(key.to_string(), value);
    set_xattr(
        path,
        "user.swift.metadata",
        &serde_json::to_vec(&m).unwrap(),
    );
}

/// Bytes of a response head as it went over the wire (approximately).
fn head_len(r: &Resp) -> usize {
    r.headers.iter().map(|(k, v)| k.len() + v.len() + 4).sum()
}

/// Every read of `c/o`: GET, HEAD, listings in three formats, a COPY. Each
/// must answer with a status (a handler panic drops the connection, and
/// reading the response then fails), carry no planted header, and keep a
/// small head. Returns the GET.
fn read_everything(s: &Server) -> Resp {
    let get = s.get("c/o");
    assert_eq!(get.status, 200, "GET {get:?}");
    assert_eq!(get.body, DATA);
    let head = s.req("HEAD", &v1("c/o")).send();
    assert_eq!(head.status, 200, "HEAD {head:?}");
    for r in [&get, &head] {
        assert!(r.header("x-evil").is_none(), "{r:?}");
        assert!(head_len(r) < 8192, "head of {} bytes", head_len(r));
        assert_eq!(r.header("etag"), Some(md5_hex(DATA).as_str()));
        let lm = r.header("last-modified").expect("Last-Modified");
        assert!(lm.ends_with(" GMT"), "{lm}");
    }
    for fmt in ["json", "xml", "plain"] {
        let r = s.get(&format!("c?format={fmt}"));
        assert_eq!(r.status, 200, "{fmt} listing: {r:?}");
        assert!(String::from_utf8_lossy(&r.body).contains('o'));
    }
    let listed = s.get("c?format=json").json();
    assert_eq!(listed[0]["hash"], md5_hex(DATA));
    let copy = s
        .req("COPY", &v1("c/o"))
        .header("Destination", "c/copy")
        .send();
    assert_eq!(copy.status, 201, "COPY {copy:?}");
    assert_eq!(s.get("c/copy").body, DATA);
    assert!(s.is_alive());
    get
}

#[test]
fn timestamps_out_of_range_are_rederived_from_the_file() {
    let (s, file) = setup();
    for bad in [
        json!("253402300800"),
        json!("1e12"),
        json!("1e300"),
        json!("-1"),
        json!("NaN"),
        json!(1e300),
    ] {
        plant(&file, "X-Timestamp", bad.clone());
        let r = read_everything(&s);
        let ts: f64 = r.header("x-timestamp").unwrap().parse().unwrap();
        assert!((0.0..1e10).contains(&ts), "{bad}: {ts}");
    }
}

#[test]
fn a_put_mtime_out_of_range_is_no_panic() {
    let (s, file) = setup();
    plant(&file, "X-Object-PUT-Mtime", json!("1e300"));
    read_everything(&s);
}

#[test]
fn an_etag_with_crlf_is_rederived() {
    let (s, file) = setup();
    plant(&file, "ETag", json!("abc\r\nX-Evil: 1"));
    read_everything(&s);
    // Stored back as derived: the planted value is gone from the disk too.
    let m = swift_meta(&file).unwrap();
    assert_eq!(
        meta_str(&m, "ETag").as_deref(),
        Some(md5_hex(DATA).as_str())
    );
}

#[test]
fn header_values_with_line_breaks_or_nul_are_never_sent() {
    let (s, file) = setup();
    for (key, value) in [
        ("Content-Type", "text/plain\nX-Evil: 1"),
        ("Content-Type", "text/plain\rX-Evil: 1"),
        ("X-Object-Meta-Note", "fine\r\nX-Evil: 1"),
        ("Content-Disposition", "a\u{0}b"),
        ("X-Object-Manifest", "c/seg\nX-Evil: 1"),
        ("X-Delete-At", "1\r\nX-Evil: 1"),
    ] {
        plant(&file, key, json!(value));
        let r = read_everything(&s);
        if key == "Content-Type" {
            assert!(!r.header("content-type").unwrap().contains('\n'));
        }
    }
    // A key that is no header name at all.
    plant(&file, "X-Evil: 1\r\nX-Object-Meta-A", json!("v"));
    read_everything(&s);
}

/// Points the object's xattr at its sidecar and writes `body` there.
fn plant_sidecar(file: &Path, body: &[u8]) {
    let sc = file.with_file_name(".o.sgmeta");
    std::fs::write(&sc, body).unwrap();
    set_xattr(file, "user.swift.metadata", br#"{"X-Sofgate-Sidecar":"1"}"#);
}

fn object_meta(extra: Map<String, Value>, file: &Path) -> Map<String, Value> {
    let mut m = swift_meta(file).expect("metadata");
    m.extend(extra);
    m
}

#[test]
fn a_sidecar_with_forty_thousand_keys_is_ignored() {
    let (s, file) = setup();
    let extra: Map<String, Value> = (0..40_000)
        .map(|i| (format!("X-Object-Meta-K{i}"), json!("v")))
        .collect();
    let m = object_meta(extra, &file);
    plant_sidecar(&file, &serde_json::to_vec(&m).unwrap());
    let r = read_everything(&s);
    assert!(r.headers.len() < 100, "{} headers", r.headers.len());
}

#[test]
fn a_huge_sidecar_is_not_sent_as_a_header() {
    let (s, file) = setup();
    let mut extra = Map::new();
    extra.insert("X-Object-Meta-Big".into(), json!("v".repeat(20 << 20)));
    let m = object_meta(extra, &file);
    plant_sidecar(&file, &serde_json::to_vec(&m).unwrap());
    let r = read_everything(&s);
    assert!(r.header("x-object-meta-big").is_none());
}

#[test]
fn container_metadata_out_of_range_or_with_line_breaks_is_no_panic() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/o", DATA);
    let dir = s.cont_dir("c");
    let mut m = swift_meta(&dir).expect("container metadata");
    m.insert("X-PUT-Timestamp".into(), json!(["1e300", 0]));
    m.insert("X-Timestamp".into(), json!(["253402300800", 0]));
    m.insert("X-Container-Meta-Note".into(), json!(["a\r\nX-Evil: 1", 0]));
    set_xattr(
        &dir,
        "user.swift.metadata",
        &serde_json::to_vec(&m).unwrap(),
    );
    for method in ["HEAD", "GET"] {
        let r = s.req(method, &v1("c")).send();
        assert!(r.status == 200 || r.status == 204, "{method}: {r:?}");
        assert!(r.header("x-evil").is_none(), "{r:?}");
    }
    for fmt in ["json", "xml", "plain"] {
        let r = s.req("GET", &v1(&format!("?format={fmt}"))).send();
        assert_eq!(r.status, 200, "{fmt}: {r:?}");
    }
    assert!(s.is_alive());
}
