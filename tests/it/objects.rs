//! Objects over HTTP: the on-disk layout, PUT (lengths, chunked, ETag, limits,
//! aborted uploads), copies, POST, DELETE, expiry, GET/HEAD with ranges and
//! conditions.

use crate::common;

use std::io::Write;
use std::time::Duration;

use common::*;

fn is_swift_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 16
        && b[10] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 10 || c.is_ascii_digit())
}

// --- layout -----------------------------------------------------------------

#[test]
fn put_nested_object_is_a_plain_file_with_swift_on_file_metadata() {
    let s = Server::start();
    s.put_container("c");
    let data = b"hello, files";
    s.req("PUT", &v1("c/a/b/c.txt"))
        .header("Content-Type", "text/x-test")
        .header("X-Object-Meta-Color", "blue")
        .body(data)
        .send_expect(201);

    let path = s.cont_dir("c").join("a/b/c.txt");
    let st = std::fs::symlink_metadata(&path).unwrap();
    assert!(st.is_file());
    assert_eq!(std::fs::read(&path).unwrap(), data);

    let m = swift_meta(&path).expect("metadata xattr");
    let ts = meta_str(&m, "X-Timestamp").unwrap();
    assert!(is_swift_timestamp(&ts), "X-Timestamp {ts:?}");
    let ts_secs: f64 = ts.parse().unwrap();
    assert!((ts_secs - now() as f64).abs() < 60.0, "{ts}");
    assert_eq!(meta_str(&m, "Content-Type").unwrap(), "text/x-test");
    assert_eq!(meta_str(&m, "ETag").unwrap(), md5_hex(data));
    assert_eq!(
        meta_str(&m, "Content-Length").unwrap(),
        data.len().to_string()
    );
    assert_eq!(meta_str(&m, "X-Type").unwrap(), "Object");
    assert_eq!(meta_str(&m, "X-Object-Type").unwrap(), "file");
    // X-Object-PUT-Mtime is the file's exact mtime (all nine decimals, so it
    // never repeats X-Timestamp's characters) and agrees with X-Timestamp.
    let put_mtime = meta_str(&m, "X-Object-PUT-Mtime").unwrap();
    let (_, frac) = put_mtime.split_once('.').unwrap();
    assert_eq!(frac.len(), 9, "{put_mtime:?}");
    let mtime = std::fs::metadata(&path)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((put_mtime.parse::<f64>().unwrap() - mtime).abs() < 1e-6);
    assert!((put_mtime.parse::<f64>().unwrap() - ts_secs).abs() < 1e-5);
    assert_eq!(meta_str(&m, "X-Object-Meta-Color").unwrap(), "blue");
    // Implicit parents are plain directories, not objects.
    assert!(swift_meta(&s.cont_dir("c").join("a")).is_none());
    assert!(temp_files(s.device()).is_empty());
}

#[test]
fn delete_removes_empty_implicit_parents_up_to_the_container() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/a/b/c.txt", b"x");
    s.put_object("c/keep/d.txt", b"y");
    s.req("DELETE", &v1("c/a/b/c.txt")).send_expect(204);
    assert!(!s.cont_dir("c").join("a").exists(), "empty parents stay");
    assert!(s.cont_dir("c").is_dir());
    assert!(s.cont_dir("c").join("keep/d.txt").is_file());
    // A parent that still has children stays.
    s.put_object("c/p/one", b"1");
    s.put_object("c/p/two", b"2");
    s.req("DELETE", &v1("c/p/one")).send_expect(204);
    assert!(s.cont_dir("c").join("p/two").is_file());
}

#[test]
fn directory_marker_is_a_directory_object_that_delete_of_children_keeps() {
    let s = Server::start();
    s.put_container("c");
    s.req("PUT", &v1("c/m"))
        .header("Content-Type", "application/directory")
        .body(b"")
        .send_expect(201);
    let dir = s.cont_dir("c").join("m");
    assert!(dir.is_dir());
    let m = swift_meta(&dir).unwrap();
    assert_eq!(meta_str(&m, "X-Object-Type").unwrap(), "marker_dir");
    assert_eq!(
        meta_str(&m, "Content-Type").unwrap(),
        "application/directory"
    );

    for method in ["GET", "HEAD"] {
        let r = s.req(method, &v1("c/m")).send();
        assert_eq!(r.status, 200, "{method} {r:?}");
        assert_eq!(r.header("content-type"), Some("application/directory"));
        assert_eq!(r.header("content-length"), Some("0"));
    }
    let list = s.get("c");
    // A directory lists as `m/`, whatever name created it.
    assert_eq!(list.lines(), ["m/"]);

    s.put_object("c/m/x/y.txt", b"child");
    assert_eq!(s.get("c").lines(), ["m/", "m/x/y.txt"]);
    s.req("DELETE", &v1("c/m/x/y.txt")).send_expect(204);
    assert!(!dir.join("x").exists(), "implicit m/x not removed");
    assert!(dir.is_dir(), "the marker went with its child");
    assert_eq!(
        meta_str(&swift_meta(&dir).unwrap(), "X-Object-Type").unwrap(),
        "marker_dir"
    );
    s.req("HEAD", &v1("c/m")).send_expect(200);
    // Deleting the marker itself removes the (now empty) directory.
    s.req("DELETE", &v1("c/m")).send_expect(204);
    assert!(!dir.exists());
}

#[test]
fn put_under_a_file_returns_409_and_writes_nothing() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/a", b"i am a file");
    let before = snapshot(&s.cont_dir("c"));
    s.req("PUT", &v1("c/a/b")).body(b"nested").send_expect(409);
    assert_eq!(snapshot(&s.cont_dir("c")), before);
    assert_eq!(s.get("c/a").body, b"i am a file");
}

#[test]
fn put_over_a_directory_returns_409_and_keeps_the_directory() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/a/inner.txt", b"inner");
    let before = snapshot(&s.cont_dir("c"));
    s.req("PUT", &v1("c/a"))
        .body(b"file over dir")
        .send_expect(409);
    assert_eq!(snapshot(&s.cont_dir("c")), before);
    assert!(s.cont_dir("c").join("a").is_dir());
    assert_eq!(s.get("c/a/inner.txt").body, b"inner");
    assert!(temp_files(s.device()).is_empty());
}

/// With `fsync_dir = false` the writer holds its directory as an `O_PATH`
/// anchor instead of an open directory: the same outcomes.
#[test]
fn writes_without_fsync_dir_behave_the_same() {
    let s = Builder::new().storage("fsync_dir = false").start();
    s.put_container("c");
    assert_eq!(s.put_object("c/x/y/o", b"one").status, 201);
    assert_eq!(s.put_object("c/x/y/o", b"two").status, 201);
    assert_eq!(s.get("c/x/y/o").body, b"two");
    s.put_object("c/f", b"file");
    let before = snapshot(&s.cont_dir("c"));
    s.req("PUT", &v1("c/f/under"))
        .body(b"nested")
        .send_expect(409);
    s.req("PUT", &v1("c/x"))
        .body(b"over a dir")
        .send_expect(409);
    s.req("PUT", &v1("c/new/dir/o"))
        .header("ETag", &md5_hex(b"other"))
        .body(b"data")
        .send_expect(422);
    assert_eq!(snapshot(&s.cont_dir("c")), before);
    assert!(temp_files(s.device()).is_empty());
    s.req("PUT", &v1("nope/o")).body(b"x").send_expect(404);
}

// --- PUT ----------------------------------------------------------------------

#[test]
fn put_with_matching_etag_returns_201_with_etag_and_last_modified() {
    let s = Server::start();
    s.put_container("c");
    let data = b"checked data";
    let r = s
        .req("PUT", &v1("c/o"))
        .header("ETag", &md5_hex(data))
        .body(data)
        .send_expect(201);
    assert_eq!(
        r.header("etag").map(|e| e.trim_matches('"')),
        Some(md5_hex(data).as_str())
    );
    assert!(httpdate::parse_http_date(r.header("last-modified").unwrap()).is_ok());
    assert_eq!(std::fs::read(s.cont_dir("c").join("o")).unwrap(), data);
}

#[test]
fn put_with_wrong_etag_returns_422_and_keeps_old_object() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/o", b"old");
    let before = snapshot(&s.cont_dir("c"));
    s.req("PUT", &v1("c/o"))
        .header("ETag", &md5_hex(b"something else"))
        .body(b"new data")
        .send_expect(422);
    assert_eq!(snapshot(&s.cont_dir("c")), before);
    assert_eq!(s.get("c/o").body, b"old");
    assert!(temp_files(s.device()).is_empty());
}

#[test]
fn put_with_chunked_body_stores_all_chunks() {
    let s = Server::start();
    s.put_container("c");
    let r = s
        .req("PUT", &v1("c/chunky"))
        .chunked(&[b"first,", b"second,", &[b'x'; 5000], b"end"])
        .send();
    assert_eq!(r.status, 201, "{r:?}");
    let mut want = b"first,second,".to_vec();
    want.extend_from_slice(&[b'x'; 5000]);
    want.extend_from_slice(b"end");
    assert_eq!(std::fs::read(s.cont_dir("c").join("chunky")).unwrap(), want);
    let m = swift_meta(&s.cont_dir("c").join("chunky")).unwrap();
    assert_eq!(meta_str(&m, "ETag").unwrap(), md5_hex(&want));
    assert_eq!(
        meta_str(&m, "Content-Length").unwrap(),
        want.len().to_string()
    );
}

/// Sends `head` and `partial` body bytes, waits for the upload's temp file to
/// appear, then drops the connection.
fn abort_upload(s: &Server, head: &[u8], partial: &[u8]) {
    let mut sock = connect(s.addr());
    sock.write_all(head).unwrap();
    sock.write_all(partial).unwrap();
    sock.flush().unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || !temp_files(s.device())
            .is_empty()),
        "the upload never started"
    );
    drop(sock);
}

#[test]
fn client_disconnect_mid_body_leaves_no_object_and_no_temp_file() {
    let s = Server::start();
    s.put_container("c");
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {}\r\nContent-Length: 100000\r\n\r\n",
        v1("c/partial"),
        s.admin_token()
    );
    abort_upload(&s, head.as_bytes(), &[b'p'; 1000]);
    assert!(
        wait_until(Duration::from_secs(5), || temp_files(s.device()).is_empty()),
        "temp file left: {:?}",
        temp_files(s.device())
    );
    assert!(!s.cont_dir("c").join("partial").exists());
    s.req("HEAD", &v1("c/partial")).send_expect(404);
    assert!(s.is_alive());
}

#[test]
fn client_disconnect_mid_chunked_body_leaves_no_object_and_no_temp_file() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/o", b"previous");
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        v1("c/o"),
        s.admin_token()
    );
    abort_upload(&s, head.as_bytes(), b"10\r\n0123456789abcdef\r\n8\r\n0123");
    assert!(
        wait_until(Duration::from_secs(5), || temp_files(s.device()).is_empty()),
        "temp file left"
    );
    assert_eq!(s.get("c/o").body, b"previous");
}

#[test]
fn put_without_length_or_chunked_returns_411() {
    let s = Server::start();
    s.put_container("c");
    s.req("PUT", &v1("c/o")).no_length().send_expect(411);
    assert!(!s.cont_dir("c").join("o").exists());
}

#[test]
fn put_with_content_length_over_max_file_size_returns_413() {
    let s = Builder::new().max_file_size(1000).start();
    s.put_container("c");
    let ok = s.req("PUT", &v1("c/small")).body(&[b's'; 1000]).send();
    assert_eq!(ok.status, 201, "{ok:?}");
    // Only the head is sent: the answer must not wait for the body.
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Auth-Token: {}\r\nContent-Length: 1001\r\n\r\n",
        v1("c/big"),
        s.admin_token()
    );
    let r = raw(s.addr(), head.as_bytes(), false);
    assert_eq!(r.status, 413, "{r:?}");
    assert!(!s.cont_dir("c").join("big").exists());
    assert!(temp_files(s.device()).is_empty());
}

#[test]
fn chunked_put_exceeding_max_file_size_returns_413_and_stores_nothing() {
    let s = Builder::new().max_file_size(1000).start();
    s.put_container("c");
    let r = s
        .req("PUT", &v1("c/big"))
        .chunked(&[&[b'a'; 600], &[b'b'; 600]])
        .send();
    assert_eq!(r.status, 413, "{r:?}");
    assert!(!s.cont_dir("c").join("big").exists());
    assert!(
        wait_until(Duration::from_secs(5), || temp_files(s.device()).is_empty()),
        "temp file left"
    );
}

#[test]
fn put_into_missing_container_returns_404_and_creates_nothing() {
    let s = Server::start();
    s.put_container("c");
    let before = snapshot(s.device());
    for name in ["nope/o", "nope/a/b/o"] {
        let r = s.req("PUT", &v1(name)).body(b"data").send();
        assert_eq!(r.status, 404, "{name}: {r:?}");
    }
    assert_eq!(snapshot(s.device()), before);
}

#[test]
fn put_with_if_none_match_star_on_existing_object_returns_412() {
    let s = Server::start();
    s.put_container("c");
    s.req("PUT", &v1("c/o"))
        .header("If-None-Match", "*")
        .body(b"first")
        .send_expect(201);
    s.req("PUT", &v1("c/o"))
        .header("If-None-Match", "*")
        .body(b"second")
        .send_expect(412);
    assert_eq!(s.get("c/o").body, b"first");
}

// --- copy, POST, DELETE, expiry -------------------------------------------------

#[test]
fn put_with_x_copy_from_copies_data_and_merges_metadata() {
    let s = Server::start();
    s.put_container("c");
    s.put_container("other");
    s.req("PUT", &v1("c/src"))
        .header("Content-Type", "text/plain")
        .header("X-Object-Meta-Old", "kept")
        .header("X-Object-Meta-Both", "old")
        .body(b"source data")
        .send_expect(201);
    for dst in ["c/dst", "other/dst"] {
        let r = s
            .req("PUT", &v1(dst))
            .header("X-Copy-From", "/c/src")
            .header("X-Object-Meta-New", "added")
            .header("X-Object-Meta-Both", "new")
            .send();
        assert_eq!(r.status, 201, "{dst}: {r:?}");
        let (c, o) = dst.split_once('/').unwrap();
        let path = s.cont_dir(c).join(o);
        assert_eq!(std::fs::read(&path).unwrap(), b"source data");
        let m = swift_meta(&path).unwrap();
        assert_eq!(meta_str(&m, "X-Object-Meta-Old").as_deref(), Some("kept"));
        assert_eq!(meta_str(&m, "X-Object-Meta-New").as_deref(), Some("added"));
        assert_eq!(meta_str(&m, "X-Object-Meta-Both").as_deref(), Some("new"));
        assert_eq!(meta_str(&m, "Content-Type").as_deref(), Some("text/plain"));
        assert_eq!(
            meta_str(&m, "ETag").unwrap(),
            md5_hex(b"source data"),
            "{dst}"
        );
        let g = s.get(dst);
        assert_eq!(g.header("x-object-meta-old"), Some("kept"));
    }
    // The source is untouched.
    let m = swift_meta(&s.cont_dir("c").join("src")).unwrap();
    assert_eq!(meta_str(&m, "X-Object-Meta-Both").as_deref(), Some("old"));
    assert!(meta_str(&m, "X-Object-Meta-New").is_none());
}

#[test]
fn copy_with_x_fresh_metadata_drops_old_user_metadata() {
    let s = Server::start();
    s.put_container("c");
    s.req("PUT", &v1("c/src"))
        .header("X-Object-Meta-Old", "gone")
        .body(b"data")
        .send_expect(201);
    s.req("PUT", &v1("c/dst"))
        .header("X-Copy-From", "c/src")
        .header("X-Fresh-Metadata", "true")
        .header("X-Object-Meta-New", "only")
        .send_expect(201);
    let m = swift_meta(&s.cont_dir("c").join("dst")).unwrap();
    assert!(meta_str(&m, "X-Object-Meta-Old").is_none(), "{m:?}");
    assert_eq!(meta_str(&m, "X-Object-Meta-New").as_deref(), Some("only"));
    assert_eq!(std::fs::read(s.cont_dir("c").join("dst")).unwrap(), b"data");
}

#[test]
fn copy_method_with_destination_copies_to_other_container() {
    let s = Server::start();
    s.put_container("c");
    s.put_container("d");
    s.req("PUT", &v1("c/src"))
        .header("X-Object-Meta-Old", "kept")
        .body(b"copy me")
        .send_expect(201);
    let r = s
        .req("COPY", &v1("c/src"))
        .header("Destination", "d/sub/dst")
        .header("X-Object-Meta-New", "added")
        .send_expect(201);
    assert_eq!(r.header("x-copied-from"), Some("c/src"));
    let path = s.cont_dir("d").join("sub/dst");
    assert_eq!(std::fs::read(&path).unwrap(), b"copy me");
    let m = swift_meta(&path).unwrap();
    assert_eq!(meta_str(&m, "X-Object-Meta-Old").as_deref(), Some("kept"));
    assert_eq!(meta_str(&m, "X-Object-Meta-New").as_deref(), Some("added"));
    assert_eq!(
        std::fs::read(s.cont_dir("c").join("src")).unwrap(),
        b"copy me"
    );
}

#[test]
fn post_replaces_user_metadata_and_keeps_data_and_etag() {
    let s = Server::start();
    s.put_container("c");
    s.req("PUT", &v1("c/o"))
        .header("X-Object-Meta-Old", "1")
        .header("Content-Type", "text/plain")
        .body(b"payload")
        .send_expect(201);
    s.req("POST", &v1("c/o"))
        .header("X-Object-Meta-New", "2")
        .send_expect(202);
    let path = s.cont_dir("c").join("o");
    assert_eq!(std::fs::read(&path).unwrap(), b"payload");
    let m = swift_meta(&path).unwrap();
    assert!(meta_str(&m, "X-Object-Meta-Old").is_none(), "{m:?}");
    assert_eq!(meta_str(&m, "X-Object-Meta-New").as_deref(), Some("2"));
    assert_eq!(meta_str(&m, "ETag").unwrap(), md5_hex(b"payload"));
    assert_eq!(meta_str(&m, "Content-Type").as_deref(), Some("text/plain"));
    let h = s.req("HEAD", &v1("c/o")).send_expect(200);
    assert_eq!(h.header("x-object-meta-new"), Some("2"));
    assert_eq!(h.header("x-object-meta-old"), None);
    assert_eq!(
        h.header("etag").map(|e| e.trim_matches('"')),
        Some(md5_hex(b"payload").as_str())
    );
    s.req("POST", &v1("c/missing")).send_expect(404);
}

#[test]
fn delete_returns_204_then_404() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/o", b"x");
    s.req("DELETE", &v1("c/o")).send_expect(204);
    assert!(!s.cont_dir("c").join("o").exists());
    s.req("DELETE", &v1("c/o")).send_expect(404);
    assert_eq!(s.get("c/o").status, 404);
}

#[test]
fn object_with_x_delete_after_is_gone_after_expiry() {
    let s = Server::start();
    s.put_container("c");
    s.req("PUT", &v1("c/short"))
        .header("X-Delete-After", "1")
        .body(b"ephemeral")
        .send_expect(201);
    let at = now() + 2;
    s.req("PUT", &v1("c/at"))
        .header("X-Delete-At", &at.to_string())
        .body(b"ephemeral")
        .send_expect(201);
    let g = s.get("c/at");
    assert_eq!(g.status, 200);
    assert_eq!(g.header("x-delete-at"), Some(at.to_string().as_str()));
    assert!(
        wait_until(Duration::from_secs(4), || s.get("c/short").status == 404
            && s.get("c/at").status == 404),
        "objects did not expire"
    );
    s.req("HEAD", &v1("c/at")).send_expect(404);
    s.req("PUT", &v1("c/past"))
        .header("X-Delete-At", &(now() - 10).to_string())
        .body(b"x")
        .send_expect(400);
}

// --- GET / HEAD -------------------------------------------------------------------

#[test]
fn get_and_head_return_object_headers() {
    let s = Server::start();
    s.put_container("c");
    let data = b"0123456789";
    s.req("PUT", &v1("c/o.txt"))
        .header("Content-Type", "text/plain")
        .header("X-Object-Meta-Color", "red")
        .body(data)
        .send_expect(201);
    let m = swift_meta(&s.cont_dir("c").join("o.txt")).unwrap();
    let ts = meta_str(&m, "X-Timestamp").unwrap();
    for method in ["GET", "HEAD"] {
        let r = s.req(method, &v1("c/o.txt")).send();
        assert_eq!(r.status, 200, "{method}");
        assert_eq!(r.header("content-length"), Some("10"));
        assert_eq!(
            r.header("etag").map(|e| e.trim_matches('"')),
            Some(md5_hex(data).as_str())
        );
        let lm = httpdate::parse_http_date(r.header("last-modified").unwrap()).unwrap();
        let lm = lm.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(lm, ts.parse::<f64>().unwrap().ceil() as u64);
        assert_eq!(r.header("x-timestamp"), Some(ts.as_str()));
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.header("x-object-meta-color"), Some("red"));
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        if method == "GET" {
            assert_eq!(r.body, data);
        } else {
            assert!(r.body.is_empty());
        }
    }
}

fn ranged(s: &Server, range: &str) -> Resp {
    s.req("GET", &v1("c/r")).header("Range", range).send()
}

#[test]
fn range_requests_return_206_with_content_range() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/r", b"0123456789");
    let r = ranged(&s, "bytes=2-5");
    assert_eq!(r.status, 206, "{r:?}");
    assert_eq!(r.header("content-range"), Some("bytes 2-5/10"));
    assert_eq!(r.body, b"2345");
    let r = ranged(&s, "bytes=-3");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 7-9/10"));
    assert_eq!(r.body, b"789");
    let r = ranged(&s, "bytes=6-");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 6-9/10"));
    assert_eq!(r.body, b"6789");
}

#[test]
fn several_ranges_return_multipart_byteranges() {
    let s = Server::start();
    s.put_container("c");
    s.req("PUT", &v1("c/r"))
        .header("Content-Type", "text/plain")
        .body(b"0123456789")
        .send_expect(201);
    let r = ranged(&s, "bytes=0-1,5-6,-2");
    assert_eq!(r.status, 206, "{r:?}");
    let ct = r.header("content-type").unwrap();
    assert!(ct.starts_with("multipart/byteranges"), "{ct}");
    let boundary = ct
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .expect("boundary")
        .trim_matches('"');
    let body = r.text();
    let parts: Vec<&str> = body
        .split(&format!("--{boundary}"))
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "--")
        .collect();
    let want = [
        ("bytes 0-1/10", "01"),
        ("bytes 5-6/10", "56"),
        ("bytes 8-9/10", "89"),
    ];
    assert_eq!(parts.len(), want.len(), "{body:?}");
    for (part, (cr, data)) in parts.iter().zip(want) {
        let (head, content) = part.split_once("\r\n\r\n").expect("part head");
        let head = head.to_ascii_lowercase();
        assert!(head.contains(&format!("content-range: {cr}")), "{head}");
        assert!(head.contains("content-type: text/plain"), "{head}");
        assert_eq!(content, data);
    }
    assert!(body.trim_end().ends_with(&format!("--{boundary}--")));
}

#[test]
fn unsatisfiable_range_returns_416_with_length() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/r", b"0123456789");
    let r = ranged(&s, "bytes=10-");
    assert_eq!(r.status, 416, "{r:?}");
    assert_eq!(r.header("content-range"), Some("bytes */10"));
}

#[test]
fn conditional_get_honours_if_match_and_if_none_match() {
    let s = Server::start();
    s.put_container("c");
    let etag = md5_hex(b"cond");
    s.put_object("c/o", b"cond");
    s.req("GET", &v1("c/o"))
        .header("If-Match", "\"deadbeef\"")
        .send_expect(412);
    s.req("GET", &v1("c/o"))
        .header("If-Match", &format!("\"{etag}\""))
        .send_expect(200);
    let r = s
        .req("GET", &v1("c/o"))
        .header("If-None-Match", &format!("\"{etag}\""))
        .send_expect(304);
    assert!(r.body.is_empty());
    s.req("GET", &v1("c/o"))
        .header("If-None-Match", "\"deadbeef\"")
        .send_expect(200);
}

#[test]
fn conditional_get_honours_modified_since_dates() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/o", b"dated");
    s.req("GET", &v1("c/o"))
        .header("If-Modified-Since", &http_date_from_now(3600))
        .send_expect(304);
    s.req("GET", &v1("c/o"))
        .header("If-Modified-Since", &http_date_from_now(-3600))
        .send_expect(200);
    s.req("GET", &v1("c/o"))
        .header("If-Unmodified-Since", &http_date_from_now(-3600))
        .send_expect(412);
    s.req("GET", &v1("c/o"))
        .header("If-Unmodified-Since", &http_date_from_now(3600))
        .send_expect(200);
}

#[test]
fn two_mib_object_round_trips_byte_exact() {
    let s = Server::start();
    s.put_container("c");
    let data: Vec<u8> = (0..2 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let r = s.req("PUT", &v1("c/big.bin")).body(&data).send_expect(201);
    assert_eq!(
        r.header("etag").map(|e| e.trim_matches('"')),
        Some(md5_hex(&data).as_str())
    );
    let g = s.get("c/big.bin");
    assert_eq!(g.status, 200);
    assert_eq!(g.header("content-length"), Some("2097152"));
    assert!(g.body == data, "GET body differs");
    let r = s
        .req("GET", &v1("c/big.bin"))
        .header("Range", "bytes=1000000-1999999")
        .send_expect(206);
    assert!(r.body == data[1_000_000..2_000_000]);
}

/// Past the first MiB the MD5 runs in a thread of its own, beside the
/// writes: the ETag must come out the same, a wrong one must still refuse the
/// upload, and copies (which hash the same way) must agree.
#[test]
fn large_uploads_hash_in_parallel_and_check_the_etag() {
    let s = Server::start();
    s.put_container("c");
    let data: Vec<u8> = (0..5 * 1024 * 1024 + 17u32)
        .map(|i| (i.wrapping_mul(2246822519) >> 11) as u8)
        .collect();
    let want = md5_hex(&data);
    let r = s
        .req("PUT", &v1("c/ok"))
        .header("ETag", &want)
        .body(&data)
        .send_expect(201);
    assert_eq!(
        r.header("etag").map(|e| e.trim_matches('"')),
        Some(want.as_str())
    );
    let before = snapshot(&s.cont_dir("c"));
    s.req("PUT", &v1("c/bad"))
        .header("ETag", &md5_hex(b"other"))
        .body(&data)
        .send_expect(422);
    assert_eq!(snapshot(&s.cont_dir("c")), before);
    let r = s
        .req("PUT", &v1("c/copy"))
        .header("X-Copy-From", "c/ok")
        .send_expect(201);
    assert_eq!(
        r.header("etag").map(|e| e.trim_matches('"')),
        Some(want.as_str())
    );
    let g = s.get("c/copy");
    assert!(g.body == data, "copied body differs");
    // Chunked, in pieces of odd sizes.
    let pieces: Vec<&[u8]> = data.chunks(333_333).collect();
    let r = s
        .req("PUT", &v1("c/chunked"))
        .chunked(&pieces)
        .send_expect(201);
    assert_eq!(
        r.header("etag").map(|e| e.trim_matches('"')),
        Some(want.as_str())
    );
}

/// With `quick_reads = false` every read goes through the blocking pool:
/// the same answers.
#[test]
fn reads_without_quick_reads_answer_the_same() {
    for quick in ["true", "false"] {
        let s = Builder::new()
            .storage(&format!("quick_reads = {quick}"))
            .start();
        s.put_container("c");
        s.req("PUT", &v1("c/o"))
            .header("X-Object-Meta-Color", "blue")
            .body(b"0123456789")
            .send_expect(201);
        let etag = md5_hex(b"0123456789");
        let g = s.get("c/o");
        assert_eq!((g.status, g.body.as_slice()), (200, &b"0123456789"[..]));
        assert_eq!(g.header("x-object-meta-color"), Some("blue"));
        let h = s.req("HEAD", &v1("c/o")).send_expect(200);
        assert_eq!(h.header("content-length"), Some("10"));
        let r = s.req("GET", &v1("c/o")).header("Range", "bytes=2-4").send();
        assert_eq!((r.status, r.body.as_slice()), (206, &b"234"[..]), "{quick}");
        let r = s
            .req("GET", &v1("c/o"))
            .header("If-None-Match", &etag)
            .send();
        assert_eq!(r.status, 304, "{quick}");
        let r = s.req("HEAD", &v1("c/o")).header("If-Match", "\"x\"").send();
        assert_eq!(r.status, 412, "{quick}");
        assert_eq!(s.get("c/missing").status, 404);
        s.req("HEAD", &v1("c/missing")).send_expect(404);
        // An edit behind sofgate's back (same size): the content is hashed anew.
        std::fs::write(s.cont_dir("c").join("o"), b"abcdefghij").unwrap();
        let g = s.get("c/o");
        assert_eq!(g.body.as_slice(), b"abcdefghij", "{quick}");
        assert_eq!(
            g.header("etag").map(|e| e.trim_matches('"')),
            Some(md5_hex(b"abcdefghij").as_str()),
            "{quick}"
        );
    }
}

#[test]
fn failed_upload_to_a_new_path_leaves_no_directories_behind() {
    let s = Server::start();
    s.put_container("c");
    let before = snapshot(&s.cont_dir("c"));
    s.req("PUT", &v1("c/a/b/o"))
        .header("ETag", &md5_hex(b"other"))
        .body(b"data")
        .send_expect(422);
    assert_eq!(snapshot(&s.cont_dir("c")), before);
    // An aborted upload tidies up the same way.
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {}\r\nContent-Length: 5000\r\n\r\n",
        v1("c/x/y/z"),
        s.admin_token()
    );
    abort_upload(&s, head.as_bytes(), b"partial");
    assert!(
        wait_until(Duration::from_secs(5), || snapshot(&s.cont_dir("c"))
            == before),
        "left behind: {:?}",
        walk(&s.cont_dir("c"))
    );
    // Nothing stands in the way of objects named like those directories.
    s.put_object("c/a", b"a file");
    s.put_object("c/x", b"x file");
}

#[test]
fn reader_sees_the_old_object_while_a_new_one_is_uploading() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/o", b"old version");
    let mut sock = connect(s.addr());
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Auth-Token: {}\r\nContent-Length: 11\r\n\r\n",
        v1("c/o"),
        s.admin_token()
    );
    sock.write_all(head.as_bytes()).unwrap();
    sock.write_all(b"new ").unwrap();
    assert!(wait_until(Duration::from_secs(5), || !temp_files(
        s.device()
    )
    .is_empty()));
    assert_eq!(s.get("c/o").body, b"old version");
    assert_eq!(s.get("c").lines(), ["o"], "temp file listed");
    sock.write_all(b"version").unwrap();
    let r = read_response(&mut sock, false);
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(s.get("c/o").body, b"new version");
    assert!(temp_files(s.device()).is_empty());
}

#[test]
fn concurrent_puts_to_one_name_leave_one_whole_object() {
    let s = Server::start();
    s.put_container("c");
    let bodies: Vec<Vec<u8>> = (0..8u8).map(|i| vec![b'a' + i; 100_000]).collect();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let puts: Vec<_> = bodies
            .iter()
            .map(|b| {
                let s = &s;
                scope.spawn(move || s.req("PUT", &v1("c/race")).body(b).send().status)
            })
            .collect();
        puts.into_iter().map(|p| p.join().unwrap()).collect()
    });
    // An upload that a newer one overtook is dropped with 202 (newest wins).
    assert!(
        statuses.iter().all(|s| [201, 202].contains(s)),
        "{statuses:?}"
    );
    let path = s.cont_dir("c").join("race");
    let data = std::fs::read(&path).unwrap();
    let created: Vec<_> = (0..8).filter(|&i| statuses[i] == 201).collect();
    assert!(
        created.iter().any(|&i| bodies[i] == data),
        "mixed content, or the data of a dropped upload"
    );
    let m = swift_meta(&path).unwrap();
    assert_eq!(meta_str(&m, "ETag").unwrap(), md5_hex(&data));
    assert!(temp_files(s.device()).is_empty());
}

#[test]
fn file_written_on_the_mount_is_served_with_derived_metadata() {
    let s = Server::start();
    s.put_container("c");
    let dir = s.cont_dir("c").join("from-fs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), b"written directly").unwrap();
    let r = s.get("c/from-fs/notes.txt");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, b"written directly");
    assert_eq!(
        r.header("etag").map(|e| e.trim_matches('"')),
        Some(md5_hex(b"written directly").as_str())
    );
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let v = s.get("c?format=json").json();
    assert_eq!(v[0]["name"], "from-fs/notes.txt");
    assert_eq!(v[0]["hash"], md5_hex(b"written directly"));
    assert_eq!(v[0]["bytes"], 16);
}

#[test]
fn file_changed_on_the_mount_gets_a_fresh_etag() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/o", b"through the API");
    let path = s.cont_dir("c").join("o");
    // Same length, other bytes, a later mtime: only the content tells.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&path, b"through the FS!").unwrap();
    let r = s.get("c/o");
    assert_eq!(r.body, b"through the FS!");
    assert_eq!(
        r.header("etag").map(|e| e.trim_matches('"')),
        Some(md5_hex(b"through the FS!").as_str())
    );
    let h = s.req("HEAD", &v1("c/o")).send();
    assert_eq!(
        h.header("etag").map(|e| e.trim_matches('"')),
        Some(md5_hex(b"through the FS!").as_str())
    );
}

#[test]
fn escaped_and_unicode_names_map_to_plain_files() {
    let s = Server::start();
    s.put_container("c");
    s.req("PUT", "/v1/AUTH_test/c/%C3%A9t%C3%A9/a%20b%3Fc%23d.txt")
        .body(b"summer")
        .send_expect(201);
    let p = s.cont_dir("c").join("été").join("a b?c#d.txt");
    assert_eq!(std::fs::read(&p).unwrap(), b"summer");
    assert_eq!(s.get("c").lines(), ["été/a b?c#d.txt"]);
    let r = s
        .req("GET", "/v1/AUTH_test/c/%C3%A9t%C3%A9/a%20b%3Fc%23d.txt")
        .send();
    assert_eq!(r.body, b"summer");
    // The type comes from the extension when none is given.
    assert_eq!(r.header("content-type"), Some("text/plain"));
}

#[test]
fn copy_from_missing_source_returns_404_and_writes_nothing() {
    let s = Server::start();
    s.put_container("c");
    let before = snapshot(&s.cont_dir("c"));
    s.req("PUT", &v1("c/dst"))
        .header("X-Copy-From", "c/missing")
        .send_expect(404);
    s.req("COPY", &v1("c/missing"))
        .header("Destination", "c/dst")
        .send_expect(404);
    assert_eq!(snapshot(&s.cont_dir("c")), before);
}

#[test]
fn deleting_a_marker_with_children_keeps_them_and_unmarks_the_directory() {
    let s = Server::start();
    s.put_container("c");
    s.req("PUT", &v1("c/m"))
        .header("Content-Type", "application/directory")
        .body(b"")
        .send_expect(201);
    s.put_object("c/m/child", b"kid");
    let v = s.get("c?format=json").json();
    assert_eq!(v[0]["name"], "m/");
    assert_eq!(v[0]["content_type"], "application/directory");
    assert_eq!(v[0]["bytes"], 0);
    s.req("DELETE", &v1("c/m")).send_expect(204);
    assert_eq!(s.get("c/m/child").body, b"kid");
    s.req("HEAD", &v1("c/m")).send_expect(404);
    assert_eq!(s.get("c").lines(), ["m/child"]);
    assert!(swift_meta(&s.cont_dir("c").join("m")).is_none());
}

#[test]
fn stale_temp_files_are_reaped_at_start_and_fresh_ones_kept() {
    // Idle means neither data nor inode changed (mtime and ctime): a
    // backdated mtime alone does not make a temp file stale, so this one
    // really sits for longer than `reap_temp_after_secs`.
    let a = common::Builder::new()
        .storage("reap_temp_after_secs = 3\n")
        .start();
    a.put_container("c");
    let dir = a.cont_dir("c");
    let stale = dir.join(".o.0123456789abcdef.sgtmp");
    let backdated = dir.join(".p.fedcba9876543210.sgtmp");
    std::fs::write(&stale, b"crashed upload").unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    std::fs::write(&backdated, b"upload in progress elsewhere").unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&backdated)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let _b = Server::start_with_config_of(&a);
    assert!(
        wait_until(Duration::from_secs(5), || !stale.exists()),
        "stale temp kept"
    );
    assert!(
        backdated.exists(),
        "a temp file changed just now (its mtime set to the past) was removed"
    );
}

#[test]
fn metadata_too_big_for_the_xattr_room_is_kept_in_a_sidecar() {
    let s = Server::start();
    s.put_container("c");
    // 15 items of 4 + 256 bytes: within Swift's 4096-byte limit, but with the
    // system keys more than ext4 gives one file's xattrs.
    let mut r = s.req("PUT", &v1("c/o"));
    for i in 0..15 {
        r = r.header(&format!("X-Object-Meta-K{i:03}"), &"v".repeat(256));
    }
    r.body(b"data").send_expect(201);
    let head = s.req("HEAD", &v1("c/o")).send_expect(200);
    for i in 0..15 {
        assert_eq!(
            head.header(&format!("x-object-meta-k{i:03}")),
            Some("v".repeat(256).as_str())
        );
    }
    assert_eq!(s.get("c").lines(), ["o"]);
    assert_eq!(s.get("c/o").body, b"data");
    // POST replaces it with small metadata; DELETE leaves nothing behind.
    s.req("POST", &v1("c/o"))
        .header("X-Object-Meta-A", "b")
        .send_expect(202);
    let head = s.req("HEAD", &v1("c/o")).send();
    assert_eq!(head.header("x-object-meta-a"), Some("b"));
    assert_eq!(head.header("x-object-meta-k000"), None);
    s.req("DELETE", &v1("c/o")).send_expect(204);
    assert!(
        walk(&s.cont_dir("c")).is_empty(),
        "{:?}",
        walk(&s.cont_dir("c"))
    );
    // Deleted while its metadata is in the sidecar: both go.
    let mut r = s.req("PUT", &v1("c/q"));
    for i in 0..15 {
        r = r.header(&format!("X-Object-Meta-K{i:03}"), &"v".repeat(256));
    }
    r.body(b"data").send_expect(201);
    assert_eq!(
        walk(&s.cont_dir("c")).len(),
        2,
        "{:?}",
        walk(&s.cont_dir("c"))
    );
    s.req("DELETE", &v1("c/q")).send_expect(204);
    assert!(
        walk(&s.cont_dir("c")).is_empty(),
        "{:?}",
        walk(&s.cont_dir("c"))
    );
}

#[test]
fn a_dynamic_large_object_serves_its_segments_in_order() {
    let s = Server::start();
    s.put_container("c");
    s.put_container("segs");
    for (n, d) in [("p/002", &b"cc"[..]), ("p/000", b"aaaa"), ("p/001", b"bbb")] {
        assert_eq!(s.put_object(&format!("segs/{n}"), d).status, 201);
    }
    s.req("PUT", &v1("c/big"))
        .header("X-Object-Manifest", "segs/p/")
        .header("Content-Type", "text/x-big")
        .body(b"")
        .send_expect(201);
    let r = s.get("c/big");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"aaaabbbcc");
    assert_eq!(r.header("content-type"), Some("text/x-big"));
    let etags: String = [&b"aaaa"[..], b"bbb", b"cc"]
        .iter()
        .map(|d| md5_hex(d))
        .collect();
    assert_eq!(
        r.header("etag"),
        Some(format!("\"{}\"", md5_hex(etags.as_bytes())).as_str())
    );
    let r = s
        .req("GET", &v1("c/big"))
        .header("Range", "bytes=3-6")
        .send_expect(206);
    assert_eq!(r.body, b"abbb");
    assert_eq!(r.header("content-range"), Some("bytes 3-6/9"));
    let h = s.req("HEAD", &v1("c/big")).send();
    assert_eq!(h.header("content-length"), Some("9"));
    // The manifest itself on request.
    let m = s.get("c/big?multipart-manifest=get");
    assert_eq!(m.body, b"");
    assert_eq!(m.header("x-object-manifest"), Some("segs/p/"));
    s.req("PUT", &v1("c/bad"))
        .header("X-Object-Manifest", "nocontainer")
        .body(b"")
        .send_expect(400);
}

#[test]
fn a_range_ending_at_u64_max_is_cut_to_the_object() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/o", b"0123456789abcdefghijkl");
    let r = s
        .req("GET", &v1("c/o"))
        .header("Range", "bytes=5-18446744073709551615")
        .send_expect(206);
    assert_eq!(r.header("content-range"), Some("bytes 5-21/22"));
    assert_eq!(r.text(), "56789abcdefghijkl");
}
