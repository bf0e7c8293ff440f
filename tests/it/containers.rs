//! Containers over HTTP: create, metadata, usage, delete, and listings in
//! every format with Swift's parameters and order.

use crate::common;

use common::*;

#[test]
fn container_put_returns_201_then_202_and_creates_a_directory() {
    let s = Server::start();
    s.req("PUT", &v1("c")).send_expect(201);
    let dir = s.cont_dir("c");
    assert!(dir.is_dir());
    let m = swift_meta(&dir).expect("container metadata");
    assert_eq!(meta_str(&m, "X-Type").as_deref(), Some("container"));
    assert_eq!(meta_str(&m, "X-Storage-Policy").as_deref(), Some("gold"));
    s.req("PUT", &v1("c")).send_expect(202);
}

#[test]
fn container_metadata_from_put_and_post_shows_on_head_and_can_be_removed() {
    let s = Server::start();
    s.req("PUT", &v1("c"))
        .header("X-Container-Meta-Color", "blue")
        .send_expect(201);
    let h = s.req("HEAD", &v1("c")).send_expect(204);
    assert_eq!(h.header("x-container-meta-color"), Some("blue"));

    s.req("POST", &v1("c"))
        .header("X-Container-Meta-Size", "large")
        .send_expect(204);
    let h = s.req("HEAD", &v1("c")).send();
    assert_eq!(h.header("x-container-meta-color"), Some("blue"));
    assert_eq!(h.header("x-container-meta-size"), Some("large"));
    let m = swift_meta(&s.cont_dir("c")).unwrap();
    assert_eq!(
        meta_str(&m, "X-Container-Meta-Size").as_deref(),
        Some("large")
    );

    s.req("POST", &v1("c"))
        .header("X-Remove-Container-Meta-Color", "x")
        .send_expect(204);
    let h = s.req("HEAD", &v1("c")).send();
    assert_eq!(h.header("x-container-meta-color"), None);
    assert_eq!(h.header("x-container-meta-size"), Some("large"));
    let m = swift_meta(&s.cont_dir("c")).unwrap();
    assert!(meta_str(&m, "X-Container-Meta-Color").is_none());
    s.req("POST", &v1("missing")).send_expect(404);
}

#[test]
fn container_head_counts_objects_and_bytes() {
    let s = Server::start();
    s.put_container("c");
    let h = s.req("HEAD", &v1("c")).send();
    assert_eq!(h.header("x-container-object-count"), Some("0"));
    assert_eq!(h.header("x-container-bytes-used"), Some("0"));
    s.put_object("c/a", b"12345");
    s.put_object("c/d/b", b"678");
    let h = s.req("HEAD", &v1("c")).send();
    assert_eq!(h.header("x-container-object-count"), Some("2"));
    assert_eq!(h.header("x-container-bytes-used"), Some("8"));
    // Counts are cached, but a write through this node refreshes them.
    s.req("DELETE", &v1("c/a")).send_expect(204);
    let h = s.req("HEAD", &v1("c")).send();
    assert_eq!(h.header("x-container-object-count"), Some("1"));
    assert_eq!(h.header("x-container-bytes-used"), Some("3"));
}

#[test]
fn container_delete_is_409_when_not_empty_204_when_empty_404_when_absent() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/a/o", b"x");
    s.req("DELETE", &v1("c")).send_expect(409);
    assert!(s.cont_dir("c").join("a/o").is_file());
    s.req("DELETE", &v1("c/a/o")).send_expect(204);
    s.req("DELETE", &v1("c")).send_expect(204);
    assert!(!s.cont_dir("c").exists());
    s.req("DELETE", &v1("c")).send_expect(404);
    s.req("HEAD", &v1("c")).send_expect(404);
}

#[test]
fn empty_container_plain_listing_is_204_and_json_is_empty_array() {
    let s = Server::start();
    s.put_container("c");
    let r = s.get("c");
    assert_eq!(r.status, 204, "{r:?}");
    assert!(r.body.is_empty());
    let r = s.get("c?format=json");
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!([]));
    assert_eq!(s.get("missing").status, 404);
}

/// A container `c` with objects `a-c`, `a/b`, `a0` (put in another order).
fn abc(s: &Server) {
    s.put_container("c");
    for n in ["a0", "a/b", "a-c"] {
        s.put_object(&format!("c/{n}"), n.as_bytes());
    }
}

#[test]
fn listing_order_is_utf8_byte_order_with_directories_as_slash() {
    let s = Server::start();
    abc(&s);
    let r = s.get("c");
    assert_eq!(r.status, 200);
    assert_eq!(r.lines(), ["a-c", "a/b", "a0"]);
    let r = s.get("c?reverse=true");
    assert_eq!(r.lines(), ["a0", "a/b", "a-c"]);
}

#[test]
fn json_listing_has_name_hash_bytes_content_type_last_modified() {
    let s = Server::start();
    s.put_container("c");
    s.req("PUT", &v1("c/x/file.txt"))
        .header("Content-Type", "text/plain")
        .body(b"hello")
        .send_expect(201);
    let r = s.get("c?format=json");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let v = r.json();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let o = &rows[0];
    assert_eq!(o["name"], "x/file.txt");
    assert_eq!(o["hash"], md5_hex(b"hello"));
    assert_eq!(o["bytes"], 5);
    assert_eq!(o["content_type"], "text/plain");
    let lm = o["last_modified"].as_str().unwrap();
    // 2026-01-02T03:04:05.123450
    assert_eq!(lm.len(), 26, "{lm}");
    assert_eq!(&lm[10..11], "T");
    assert_eq!(&lm[19..20], ".");
    let r = s
        .req("GET", &v1("c"))
        .header("Accept", "application/json")
        .send_expect(200);
    assert_eq!(r.json()[0]["name"], "x/file.txt");
}

#[test]
fn xml_listing_has_objects_and_subdirs() {
    let s = Server::start();
    abc(&s);
    let r = s.get("c?format=xml");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/xml"));
    let x = r.text();
    assert!(x.starts_with("<?xml"), "{x}");
    assert!(x.contains("<container name=\"c\">"), "{x}");
    let i1 = x.find("<name>a-c</name>").expect("a-c");
    let i2 = x.find("<name>a/b</name>").expect("a/b");
    let i3 = x.find("<name>a0</name>").expect("a0");
    assert!(i1 < i2 && i2 < i3, "{x}");
    assert!(x.contains(&format!("<hash>{}</hash>", md5_hex(b"a0"))));
    assert!(x.contains("<bytes>3</bytes>"));
    let x = s.get("c?format=xml&delimiter=/").text();
    assert!(
        x.contains("<subdir name=\"a/\"><name>a/</name></subdir>"),
        "{x}"
    );
    assert!(!x.contains("<name>a/b</name>"), "{x}");
}

#[test]
fn listing_prefix_and_delimiter_give_subdirs() {
    let s = Server::start();
    s.put_container("c");
    for n in ["a/1", "a/b/2", "a-x", "b", "c/d"] {
        s.put_object(&format!("c/{n}"), b".");
    }
    assert_eq!(s.get("c?prefix=a/").lines(), ["a/1", "a/b/2"]);
    assert_eq!(s.get("c?delimiter=/").lines(), ["a-x", "a/", "b", "c/"]);
    assert_eq!(s.get("c?prefix=a/&delimiter=/").lines(), ["a/1", "a/b/"]);
    let v = s.get("c?delimiter=/&format=json").json();
    let rows = v.as_array().unwrap();
    assert_eq!(rows[1]["subdir"], "a/");
    assert_eq!(rows[0]["name"], "a-x");
    assert_eq!(s.get("c?prefix=zzz").status, 204);
}

#[test]
fn listing_marker_end_marker_and_limit_page_through() {
    let s = Server::start();
    s.put_container("c");
    for n in ["a", "b", "c", "d", "e"] {
        s.put_object(&format!("c/{n}"), b".");
    }
    assert_eq!(s.get("c?marker=b").lines(), ["c", "d", "e"]);
    assert_eq!(s.get("c?end_marker=c").lines(), ["a", "b"]);
    assert_eq!(s.get("c?marker=a&end_marker=e").lines(), ["b", "c", "d"]);
    assert_eq!(s.get("c?limit=2").lines(), ["a", "b"]);
    assert_eq!(s.get("c?limit=2&marker=b").lines(), ["c", "d"]);
    assert_eq!(s.get("c?reverse=true&marker=d&limit=2").lines(), ["c", "b"]);
    let r = s.get("c?limit=10001");
    assert_eq!(r.status, 412, "{r:?}");
    assert_eq!(s.get("c?limit=10000").status, 200);
}

#[test]
fn listing_path_returns_only_direct_children() {
    let s = Server::start();
    s.put_container("c");
    for n in ["p/1", "p/2", "p/q/3", "p0", "x"] {
        s.put_object(&format!("c/{n}"), b".");
    }
    assert_eq!(s.get("c?path=p").lines(), ["p/1", "p/2"]);
    assert_eq!(s.get("c?path=p/q").lines(), ["p/q/3"]);
}

#[test]
fn listing_skips_temp_files_and_plain_directories() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/real", b"r");
    let dir = s.cont_dir("c");
    std::fs::write(dir.join(".real.0123456789abcdef.sgtmp"), b"partial").unwrap();
    std::fs::create_dir(dir.join("emptydir")).unwrap();
    assert_eq!(s.get("c").lines(), ["real"]);
    let h = s.req("HEAD", &v1("c")).send();
    assert_eq!(h.header("x-container-object-count"), Some("1"));
}
