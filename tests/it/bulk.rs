//! Bulk operations over HTTP: `?bulk-delete` (objects, then containers, per
//! item errors, limits, formats) and `?extract-archive` (tar, tar.gz,
//! tar.bz2 built here; bad names reported and not written; pax metadata).

use crate::common;

use std::io::Write;

use common::*;
use serde_json::Value;

fn bulk_delete(s: &Server, body: &str) -> Value {
    let r = s
        .req("POST", &format!("{}?bulk-delete", v1("")))
        .header("Accept", "application/json")
        .header("Content-Type", "text/plain")
        .body(body.as_bytes())
        .send_expect(200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    serde_json::from_str(r.text().trim_start()).unwrap()
}

#[test]
fn bulk_delete_removes_objects_then_containers() {
    let s = Server::start();
    s.put_container("c");
    s.put_container("empty");
    s.put_container("full");
    s.put_object("c/a", b"1");
    s.put_object("c/d/e/x%20y", b"2");
    s.put_object("full/keep", b"3");
    // The container comes first in the body: objects still go first.
    let j = bulk_delete(
        &s,
        "/empty\n/c/a\nc/d/e/x%20y\n/c/missing\n\n/full\n/nope\n",
    );
    assert_eq!(j["Number Deleted"], 3, "{j}");
    assert_eq!(j["Number Not Found"], 2, "{j}");
    assert_eq!(j["Response Status"], "400 Bad Request", "{j}");
    assert_eq!(j["Errors"], serde_json::json!([["/full", "409 Conflict"]]));
    assert!(!s.cont_dir("c").join("a").exists());
    // The implicit parents of the deleted object went with it.
    assert!(!s.cont_dir("c").join("d").exists());
    assert!(!s.cont_dir("empty").exists());
    assert!(s.cont_dir("full").join("keep").exists());
}

#[test]
fn bulk_delete_of_everything_found_is_200_and_container_may_follow_its_objects() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/a", b"1");
    s.put_object("c/b/c", b"2");
    let r = s
        .req("DELETE", &format!("{}?bulk-delete", v1("c/a")))
        .body(b"c\nc/b/c\nc/a")
        .send_expect(200);
    assert_eq!(
        r.text().trim_start(),
        "Number Deleted: 3\nNumber Not Found: 0\nResponse Body: \n\
         Response Status: 200 OK\nErrors:\n"
    );
    assert!(!s.cont_dir("c").exists());
}

#[test]
fn bulk_delete_xml_and_bad_requests() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/a", b"1");
    let r = s
        .req("POST", &format!("{}?bulk-delete", v1("")))
        .header("Accept", "text/xml")
        .body(b"/c/a\n/c/%FF\n")
        .send_expect(200);
    assert_eq!(r.header("content-type"), Some("text/xml"));
    let t = r.text();
    assert!(t.contains("<number_deleted>1</number_deleted>"), "{t}");
    assert!(
        t.contains("<response_status>400 Bad Request</response_status>"),
        "{t}"
    );
    assert!(
        t.contains("<object><name>/c/%FF</name><status>412 Precondition Failed</status></object>"),
        "{t}"
    );

    // Nothing to delete.
    let j = bulk_delete(&s, "\n\n");
    assert_eq!(j["Response Status"], "400 Bad Request");
    assert_eq!(j["Response Body"], "Invalid bulk delete.");

    // Only newline-separated text is understood.
    let r = s
        .req("POST", &format!("{}?bulk-delete", v1("")))
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .body(b"[\"/c/a\"]")
        .send();
    assert_eq!(r.json()["Response Status"], "406 Not Acceptable");

    // Too many names: nothing is deleted.
    s.put_object("c/b", b"1");
    let mut body = "/c/b\n".to_string();
    body.push_str(&"/c/zzz\n".repeat(10_000));
    let j = bulk_delete(&s, &body);
    assert_eq!(j["Response Status"], "413 Request Entity Too Large", "{j}");
    assert_eq!(
        j["Response Body"],
        "Maximum Bulk Deletes: 10000 per request"
    );
    assert!(s.cont_dir("c").join("b").exists());

    // A name longer than any path.
    let j = bulk_delete(&s, &"x".repeat(3000));
    assert_eq!(j["Response Body"], "Invalid File Name", "{j}");
}

#[test]
fn bulk_delete_checks_each_item_like_a_delete() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/a", b"1");
    let t3 = s.token("test:tester3", "testing3");
    let r = s
        .anon("POST", &format!("{}?bulk-delete", v1("")))
        .header("X-Auth-Token", &t3)
        .header("Accept", "application/json")
        .body(b"/c/a\n/c\n")
        .send();
    let j = r.json();
    assert_eq!(
        j["Errors"],
        serde_json::json!([["/c/a", "403 Forbidden"], ["/c", "403 Forbidden"]]),
        "{j}"
    );
    assert!(s.cont_dir("c").join("a").exists());
    // Names that would leave the container are refused.
    let j = bulk_delete(&s, "/c/../../x\n");
    assert_eq!(j["Errors"][0][1], "400 Bad Request", "{j}");
}

/// Appends a regular file whose name is exactly `name` (the tar crate's own
/// setters refuse `..`; an archive from elsewhere need not).
fn append_raw(b: &mut tar::Builder<Vec<u8>>, name: &[u8], data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn append(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data).unwrap();
}

fn extract(s: &Server, path: &str, format: &str, archive: &[u8]) -> Value {
    let r = s
        .req("PUT", &format!("{}?extract-archive={format}", v1(path)))
        .header("Accept", "application/json")
        .body(archive)
        .send_expect(200);
    serde_json::from_str(r.text().trim_start()).unwrap()
}

#[test]
fn extract_tar_at_account_creates_containers_and_reports_bad_names() {
    let s = Server::start();
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, "./c1/a.txt", b"alpha");
    append(&mut b, "c1/d/b.json", b"{}");
    append(&mut b, "c2/x", b"xx");
    append(&mut b, "top-level-file", b"ignored");
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_size(0);
    b.append_data(&mut dir, "c3/", &[][..]).unwrap();
    append_raw(&mut b, b"c1/../escape", b"bad");
    append_raw(&mut b, b"c1/bad\xff", b"bad");
    append(&mut b, &format!("c1/{}", "n".repeat(1025)), b"bad");
    let j = extract(&s, "", "tar", &b.into_inner().unwrap());
    assert_eq!(j["Number Files Created"], 3, "{j}");
    assert_eq!(j["Response Status"], "400 Bad Request", "{j}");
    let errors: Vec<(String, String)> = j["Errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_str().unwrap().into(), e[1].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        errors,
        vec![
            ("c1/../escape".into(), "400 Bad Request".into()),
            ("c1/bad%FF".into(), "412 Precondition Failed".into()),
            (format!("c1/{}", "n".repeat(1025)), "400 Bad Request".into()),
        ]
    );
    assert_eq!(
        std::fs::read(s.cont_dir("c1").join("a.txt")).unwrap(),
        b"alpha"
    );
    assert_eq!(
        std::fs::read(s.cont_dir("c1").join("d/b.json")).unwrap(),
        b"{}"
    );
    assert_eq!(std::fs::read(s.cont_dir("c2").join("x")).unwrap(), b"xx");
    assert!(!s.device().join("AUTH_test/escape").exists());
    assert!(!s.cont_dir("c3").exists(), "directories are not uploaded");
    let listing = s.get("c1").lines();
    assert_eq!(listing, vec!["a.txt", "d/b.json"]);
    let r = s.req("HEAD", &v1("c1/d/b.json")).send();
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("etag"), Some(md5_hex(b"{}").as_str()));
    assert!(temp_files(s.device()).is_empty());
}

fn sample_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, "one.txt", b"first");
    append(&mut b, "sub/two.txt", &vec![7u8; 300_000]);
    b.into_inner().unwrap()
}

#[test]
fn extract_tar_gz_into_a_container_prefix() {
    let s = Server::start();
    s.put_container("c");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&sample_tar()).unwrap();
    let j = extract(&s, "c/pre/", "tar.gz", &gz.finish().unwrap());
    assert_eq!(j["Number Files Created"], 2, "{j}");
    assert_eq!(j["Response Status"], "201 Created", "{j}");
    assert_eq!(j["Errors"], serde_json::json!([]));
    assert_eq!(
        std::fs::read(s.cont_dir("c").join("pre/one.txt")).unwrap(),
        b"first"
    );
    assert_eq!(
        std::fs::read(s.cont_dir("c").join("pre/sub/two.txt")).unwrap(),
        vec![7u8; 300_000]
    );
}

#[test]
fn extract_tar_bz2_into_a_container_with_request_metadata() {
    let s = Server::start();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    bz.write_all(&sample_tar()).unwrap();
    let r = s
        .req("PUT", &format!("{}?extract-archive=.tar.bz2", v1("newc")))
        .header("X-Object-Meta-Origin", "archive")
        .header("X-Delete-After", "3600")
        .body(&bz.finish().unwrap())
        .send_expect(200);
    assert!(r.text().contains("Number Files Created: 2\n"), "{r:?}");
    let h = s.req("HEAD", &v1("newc/sub/two.txt")).send_expect(200);
    assert_eq!(h.header("x-object-meta-origin"), Some("archive"));
    assert!(h.header("x-delete-at").is_some());
}

#[test]
fn extract_reads_pax_xattrs_as_metadata() {
    let s = Server::start();
    s.put_container("c");
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([
        ("SCHILY.xattr.user.mime_type", &b"application/x-test"[..]),
        ("SCHILY.xattr.user.meta.lunch", &b"burger"[..]),
        ("LIBARCHIVE.xattr.user.meta.dinner", &b"ziti"[..]),
        ("SCHILY.xattr.user.stuff", &b"ignored"[..]),
    ])
    .unwrap();
    append(&mut b, "f.py", b"print()");
    let j = extract(&s, "c", "tar", &b.into_inner().unwrap());
    assert_eq!(j["Number Files Created"], 1, "{j}");
    let h = s.req("HEAD", &v1("c/f.py")).send();
    assert_eq!(h.header("content-type"), Some("application/x-test"));
    assert_eq!(h.header("x-object-meta-lunch"), Some("burger"));
    assert_eq!(h.header("x-object-meta-dinner"), Some("ziti"));
    assert!(h.header("x-object-meta-stuff").is_none());
}

#[test]
fn extract_refuses_bad_archives_and_formats() {
    let s = Server::start();
    s.put_container("c");
    let j = extract(&s, "c", "tar.gz", b"this is not gzip at all");
    assert_eq!(j["Response Status"], "400 Bad Request", "{j}");
    assert!(
        j["Response Body"]
            .as_str()
            .unwrap()
            .starts_with("Invalid Tar File: "),
        "{j}"
    );
    let j = extract(
        &s,
        "c",
        "tar",
        &tar::Builder::new(Vec::new()).into_inner().unwrap(),
    );
    assert_eq!(
        j["Response Body"], "Invalid Tar File: No Valid Files",
        "{j}"
    );
    let r = s
        .req("PUT", &format!("{}?extract-archive=zip", v1("c")))
        .body(b"x")
        .send_expect(400);
    assert_eq!(r.text(), "Unsupported archive format");
    // Without the right to create it, the container is not made.
    let t3 = s.token("test:tester3", "testing3");
    let r = s
        .anon("PUT", &format!("{}?extract-archive=tar", v1("")))
        .header("X-Auth-Token", &t3)
        .header("Accept", "application/json")
        .body(&sample_tar_in("other"))
        .send();
    let j = r.json();
    assert_eq!(j["Number Files Created"], 0, "{j}");
    assert_eq!(j["Errors"][0][1], "403 Forbidden", "{j}");
    assert!(!s.cont_dir("other").exists());
    assert_eq!(snapshot(s.cont_dir("c").as_path()), Vec::<String>::new());
}

fn sample_tar_in(container: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, &format!("{container}/f"), b"data");
    b.into_inner().unwrap()
}

#[test]
fn info_advertises_bulk() {
    let s = Server::start();
    let j = s.anon("GET", "/info").send().json();
    assert_eq!(j["bulk_delete"]["max_deletes_per_request"], 10000);
    assert_eq!(j["bulk_delete"]["max_failed_deletes"], 1000);
    assert_eq!(j["bulk_upload"]["max_containers_per_extraction"], 10000);
    assert_eq!(j["bulk_upload"]["max_failed_extractions"], 1000);
}

/// Peak resident memory of process `pid`, in KiB.
fn vm_hwm(pid: u32) -> u64 {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = st.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

#[test]
fn extract_refuses_huge_long_name_and_pax_entries_before_reading_them() {
    let s = Server::start();
    s.put_container("c");
    // A GNU long name entry of 1 GiB: gzip members of 1 MiB of zeros each,
    // concatenated (a multi-member gzip stream), about 1 MB in all.
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_size(1 << 30);
    h.set_mode(0o644);
    h.set_cksum();
    let mut body = gzip(h.as_bytes());
    let zeros = gzip(&vec![0u8; 1 << 20]);
    for _ in 0..1024 {
        body.extend_from_slice(&zeros);
    }
    assert!(body.len() < 4 << 20, "{}", body.len());
    let before = vm_hwm(s.pid());
    let t0 = std::time::Instant::now();
    let r = s
        .req("PUT", &format!("{}?extract-archive=tar.gz", v1("c")))
        .header("Accept", "application/json")
        .body(&body)
        .send_expect(200);
    let text = r.text();
    assert!(text.len() < 4096, "{}", text.len());
    let j: Value = serde_json::from_str(text.trim_start()).unwrap();
    assert_eq!(j["Response Status"], "400 Bad Request", "{j}");
    assert!(
        j["Response Body"]
            .as_str()
            .unwrap()
            .starts_with("Invalid Tar File: header entry of 1073741824 bytes"),
        "{j}"
    );
    assert!(t0.elapsed() < std::time::Duration::from_secs(60));
    let grown = vm_hwm(s.pid()).saturating_sub(before);
    assert!(grown < 64 * 1024, "server peak memory grew by {grown} KiB");

    // A pax header entry over 64 KiB is refused too; a small one still works.
    let mut b = tar::Builder::new(Vec::new());
    let big = vec![b'v'; 70 * 1024];
    b.append_pax_extensions([("SCHILY.xattr.user.meta.big", &big[..])])
        .unwrap();
    append(&mut b, "f.txt", b"x");
    let j = extract(&s, "c", "tar", &b.into_inner().unwrap());
    assert_eq!(j["Response Status"], "400 Bad Request", "{j}");
    assert!(
        j["Response Body"].as_str().unwrap().contains("too large"),
        "{j}"
    );
    assert!(!s.cont_dir("c").join("f.txt").exists());
}

#[test]
fn extract_follows_long_names_and_pax_sizes() {
    let s = Server::start();
    s.put_container("c");
    let mut b = tar::Builder::new(Vec::new());
    let long = format!("{}/{}.txt", "d".repeat(150), "n".repeat(150));
    append(&mut b, &long, b"long");
    // A pax size overrides the header's: the guard must follow it.
    b.append_pax_extensions([("size", &b"3"[..])]).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_path("p.txt").unwrap();
    h.set_size(0);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, &b"abc"[..]).unwrap();
    append(&mut b, "after.txt", b"after");
    let j = extract(&s, "c", "tar", &b.into_inner().unwrap());
    assert_eq!(j["Number Files Created"], 3, "{j}");
    assert_eq!(std::fs::read(s.cont_dir("c").join(&long)).unwrap(), b"long");
    assert_eq!(
        std::fs::read(s.cont_dir("c").join("p.txt")).unwrap(),
        b"abc"
    );
    assert_eq!(
        std::fs::read(s.cont_dir("c").join("after.txt")).unwrap(),
        b"after"
    );
}

#[test]
fn bulk_delete_goes_through_versioning_like_a_delete() {
    let s = Server::start();
    s.req("PUT", &v1("c"))
        .header("X-Versions-Enabled", "true")
        .send_expect(201);
    s.put_object("c/o", b"one");
    s.put_object("c/o", b"two");
    let j = bulk_delete(&s, "c/o\nc\n");
    assert_eq!(j["Number Deleted"], 1, "{j}");
    assert_eq!(
        j["Errors"],
        serde_json::json!([["c", "409 Conflict"]]),
        "{j}"
    );
    assert_eq!(s.get("c/o").status, 404);
    // The versions are kept behind a delete marker.
    let l = s.get("c?versions&format=json");
    let rows: Vec<Value> = serde_json::from_str(&l.text()).unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    // Stack mode: deleting the object brings the previous version back.
    s.put_container("v");
    s.req("PUT", &v1("d"))
        .header("X-Versions-Location", "v")
        .send_expect(201);
    s.put_object("d/o", b"one");
    s.put_object("d/o", b"two");
    let j = bulk_delete(&s, "d/o\n");
    assert_eq!(j["Number Deleted"], 1, "{j}");
    assert_eq!(s.get("d/o").text(), "one");
}
