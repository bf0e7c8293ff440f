//! Symlinks over HTTP: creation and its on-disk shape, following on
//! GET/HEAD, `?symlink=get`, dangling links, loops, authorization of the
//! target, static links, listings, POST, COPY and DELETE.

use crate::common;

use common::*;

const BODY: &[u8] = b"target body";

/// Containers `tgt` (object `o`) and `links`.
fn setup() -> Server {
    let s = Server::start();
    s.put_container("tgt");
    s.put_container("links");
    s.put_object("tgt/o", BODY);
    s
}

fn link(s: &Server, path: &str, target: &str) -> Resp {
    s.req("PUT", &v1(path))
        .header("X-Symlink-Target", target)
        .send()
}

fn empty_md5() -> String {
    md5_hex(b"")
}

#[test]
fn put_stores_a_zero_byte_object_with_the_target_in_sysmeta() {
    let s = setup();
    let r = link(&s, "links/l", "tgt/a b");
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("etag"), Some(empty_md5().as_str()));
    let path = s.cont_dir("links").join("l");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    let m = swift_meta(&path).unwrap();
    assert_eq!(
        meta_str(&m, "X-Object-Sysmeta-Symlink-Target").as_deref(),
        Some("tgt/a%20b")
    );
    assert_eq!(
        meta_str(&m, "Content-Type").as_deref(),
        Some("application/symlink")
    );
    assert!(meta_str(&m, "X-Object-Sysmeta-Symlink-Target-Account").is_none());
}

#[test]
fn bad_link_puts_are_refused_and_store_nothing() {
    let s = setup();
    let r = s
        .req("PUT", &v1("links/l"))
        .header("X-Symlink-Target", "tgt/o")
        .body(b"data")
        .send_expect(400);
    assert_eq!(r.text(), "Symlink requests require a zero byte body");
    let r = link(&s, "links/l", "no-container");
    assert_eq!(r.status, 412);
    assert_eq!(
        r.text(),
        "X-Symlink-Target header must be of the form <container name>/<object name>"
    );
    assert_eq!(link(&s, "links/l", "/tgt/o").status, 412);
    let r = link(&s, "links/l", "links/l");
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "Symlink cannot target itself");
    s.req("POST", &v1("tgt/o"))
        .header("X-Symlink-Target", "tgt/x")
        .send_expect(400);
    assert_eq!(link(&s, "links/dir/", "tgt/o").status, 400);
    assert!(!s.cont_dir("links").join("l").exists());
    assert!(!s.cont_dir("links").join("dir").exists());
}

#[test]
fn get_and_head_follow_the_link() {
    let s = setup();
    assert_eq!(link(&s, "links/l", "tgt/o").status, 201);
    let r = s.get("links/l");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, BODY);
    assert_eq!(r.header("etag"), Some(md5_hex(BODY).as_str()));
    assert_eq!(r.header("content-location"), Some("/v1/AUTH_test/tgt/o"));
    let r = s.req("HEAD", &v1("links/l")).send_expect(200);
    assert_eq!(r.header("content-length"), Some("11"));
    // Ranges and conditions apply to the target.
    let r = s
        .req("GET", &v1("links/l"))
        .header("Range", "bytes=7-10")
        .send_expect(206);
    assert_eq!(r.body, b"body");
    s.req("GET", &v1("links/l"))
        .header("If-None-Match", &md5_hex(BODY))
        .send_expect(304);
}

#[test]
fn symlink_get_answers_with_the_link_itself() {
    let s = setup();
    assert_eq!(link(&s, "links/l", "tgt/o").status, 201);
    for m in ["GET", "HEAD"] {
        let r = s.req(m, &v1("links/l?symlink=get")).send_expect(200);
        assert_eq!(r.body, b"");
        assert_eq!(r.header("content-length"), Some("0"));
        assert_eq!(r.header("x-symlink-target"), Some("tgt/o"));
        assert_eq!(r.header("etag"), Some(empty_md5().as_str()));
        assert!(r.header("content-location").is_none());
        assert!(r.header("x-object-sysmeta-symlink-target").is_none());
    }
}

#[test]
fn dangling_link_is_404_naming_the_target() {
    let s = setup();
    assert_eq!(link(&s, "links/l", "tgt/missing").status, 201);
    for m in ["GET", "HEAD"] {
        let r = s.req(m, &v1("links/l")).send_expect(404);
        assert_eq!(
            r.header("content-location"),
            Some("/v1/AUTH_test/tgt/missing")
        );
    }
    s.put_object("tgt/missing", b"now here");
    assert_eq!(s.get("links/l").body, b"now here");
}

#[test]
fn chains_longer_than_symloop_max_are_409() {
    let s = setup();
    assert_eq!(link(&s, "links/a", "tgt/o").status, 201);
    assert_eq!(link(&s, "links/b", "links/a").status, 201);
    assert_eq!(s.get("links/b").body, BODY);
    assert_eq!(link(&s, "links/c", "links/b").status, 201);
    let r = s.get("links/c");
    assert_eq!(r.status, 409);
    assert_eq!(
        r.text(),
        "Too many levels of symbolic links, maximum allowed is 2"
    );
    assert_eq!(link(&s, "links/x", "links/y").status, 201);
    assert_eq!(link(&s, "links/y", "links/x").status, 201);
    s.req("HEAD", &v1("links/x")).send_expect(409);
    assert_eq!(s.get("links/x?symlink=get").status, 200);
    let r = s.anon("GET", "/info").send().json();
    assert_eq!(r["symlink"]["symloop_max"], 2);
    assert_eq!(r["symlink"]["static_links"], true);
}

#[test]
fn the_target_is_authorized_as_the_caller() {
    let s = Server::start();
    s.req("PUT", &v1("tgt")).send_expect(201);
    s.put_object("tgt/o", BODY);
    s.req("PUT", &v1("links"))
        .header("X-Container-Read", "test:tester3")
        .send_expect(201);
    assert_eq!(link(&s, "links/l", "tgt/o").status, 201);
    let t3 = s.token("test:tester3", "testing3");
    let get3 = |p: &str| s.anon("GET", &v1(p)).header("X-Auth-Token", &t3).send();
    assert_eq!(get3("links/l?symlink=get").status, 200);
    let r = get3("links/l");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("content-location"), Some("/v1/AUTH_test/tgt/o"));
    s.req("POST", &v1("tgt"))
        .header("X-Container-Read", "test:tester3")
        .send_expect(204);
    assert_eq!(get3("links/l").body, BODY);
}

#[test]
fn cross_account_links_name_their_account() {
    let s = setup();
    let t2 = s.token("test2:tester2", "testing2");
    let as2 = |m: &str, p: &str| {
        s.anon(m, &format!("/v1/AUTH_test2/{p}"))
            .header("X-Auth-Token", &t2)
    };
    as2("PUT", "c").send_expect(201);
    as2("PUT", "c/l")
        .header("X-Symlink-Target", "tgt/o")
        .header("X-Symlink-Target-Account", "AUTH_test")
        .send_expect(201);
    let r = as2("GET", "c/l").send_expect(403);
    assert_eq!(r.header("content-location"), Some("/v1/AUTH_test/tgt/o"));
    let r = as2("GET", "c/l?symlink=get").send();
    assert_eq!(r.header("x-symlink-target-account"), Some("AUTH_test"));
    s.req("POST", &v1("tgt"))
        .header("X-Container-Read", "test2:tester2")
        .send_expect(204);
    assert_eq!(as2("GET", "c/l").send().body, BODY);
}

#[test]
fn static_links_check_the_target_etag() {
    let s = setup();
    let etag = md5_hex(BODY);
    let put = |name: &str, target: &str, e: &str| {
        s.req("PUT", &v1(name))
            .header("X-Symlink-Target", target)
            .header("X-Symlink-Target-Etag", e)
            .send()
    };
    let r = put("links/bad", "tgt/o", "not-the-etag");
    assert_eq!(r.status, 409);
    assert_eq!(
        r.text(),
        format!("Object Etag '{etag}' does not match X-Symlink-Target-Etag header 'not-the-etag'")
    );
    let r = put("links/nowhere", "tgt/missing", &etag);
    assert_eq!(r.status, 409);
    assert_eq!(r.text(), "X-Symlink-Target does not exist");
    assert!(!s.cont_dir("links").join("bad").exists());

    let r = put("links/s", "tgt/o", &format!("\"{etag}\""));
    assert_eq!(r.status, 201, "{r:?}");
    let m = swift_meta(&s.cont_dir("links").join("s")).unwrap();
    assert_eq!(
        meta_str(&m, "X-Object-Sysmeta-Symlink-Target-Etag"),
        Some(etag.clone())
    );
    assert_eq!(
        meta_str(&m, "X-Object-Sysmeta-Symlink-Target-Bytes").as_deref(),
        Some("11")
    );
    assert_eq!(s.get("links/s").body, BODY);
    // A static link to a static link: both ETags must agree.
    let r = put("links/s2", "links/s", &empty_md5());
    assert_eq!(r.status, 409);
    assert_eq!(r.text(), "X-Symlink-Target-Etag headers do not match");
    assert_eq!(put("links/s2", "links/s", &etag).status, 201);
    assert_eq!(s.get("links/s2").body, BODY);
    s.put_object("tgt/o", b"changed");
    let r = s.get("links/s");
    assert_eq!(r.status, 409);
    assert_eq!(r.header("content-location"), Some("/v1/AUTH_test/tgt/o"));
}

#[test]
fn json_listings_show_symlink_path_and_static_details() {
    let s = setup();
    assert_eq!(link(&s, "links/d", "tgt/o").status, 201);
    s.req("PUT", &v1("links/s"))
        .header("X-Symlink-Target", "tgt/o")
        .header("X-Symlink-Target-Etag", &md5_hex(BODY))
        .send_expect(201);
    let rows = s.get("links?format=json").json();
    let d = &rows[0];
    assert_eq!(d["name"], "d");
    assert_eq!(d["symlink_path"], "/v1/AUTH_test/tgt/o");
    assert!(d.get("symlink_etag").is_none());
    assert_eq!(d["content_type"], "application/symlink");
    let st = &rows[1];
    assert_eq!(st["symlink_path"], "/v1/AUTH_test/tgt/o");
    assert_eq!(st["symlink_etag"], md5_hex(BODY));
    assert_eq!(st["symlink_bytes"], 11);
    assert_eq!(st["content_type"], "application/octet-stream");
    let plain = s.get("tgt?format=json").json();
    assert!(plain[0].get("symlink_path").is_none());
}

#[test]
fn post_applies_to_the_link_and_redirects() {
    let s = setup();
    assert_eq!(link(&s, "links/l", "tgt/o").status, 201);
    let r = s
        .req("POST", &v1("links/l"))
        .header("X-Object-Meta-Alpha", "apple")
        .send_expect(307);
    assert_eq!(r.header("location"), Some("/v1/AUTH_test/tgt/o"));
    let r = s.get("links/l?symlink=get");
    assert_eq!(r.header("x-object-meta-alpha"), Some("apple"));
    assert_eq!(r.header("x-symlink-target"), Some("tgt/o"));
    assert!(s.get("links/l").header("x-object-meta-alpha").is_none());
}

#[test]
fn copy_takes_the_target_unless_symlink_get() {
    let s = setup();
    assert_eq!(link(&s, "links/l", "tgt/o").status, 201);
    s.req("COPY", &v1("links/l"))
        .header("Destination", "tgt/copy")
        .send_expect(201);
    let r = s.get("tgt/copy");
    assert_eq!(r.body, BODY);
    assert!(r.header("content-location").is_none());
    s.req("PUT", &v1("links/l2?symlink=get"))
        .header("X-Copy-From", "links/l")
        .send_expect(201);
    let r = s.get("links/l2?symlink=get");
    assert_eq!(r.header("x-symlink-target"), Some("tgt/o"));
    assert_eq!(s.get("links/l2").body, BODY);
}

#[test]
fn delete_removes_only_the_link() {
    let s = setup();
    assert_eq!(link(&s, "links/l", "tgt/o").status, 201);
    s.req("DELETE", &v1("links/l")).send_expect(204);
    assert_eq!(s.get("links/l").status, 404);
    assert_eq!(s.get("tgt/o").body, BODY);
}

#[test]
fn links_count_against_the_container_quota() {
    let s = setup();
    s.put_object("links/one", b"");
    s.req("POST", &v1("links"))
        .header("X-Container-Meta-Quota-Count", "1")
        .send_expect(204);
    let before = snapshot(s.device());
    let r = link(&s, "links/l", "tgt/o");
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(r.text(), "Upload exceeds quota.");
    assert_eq!(snapshot(s.device()), before);
    s.req("POST", &v1("links"))
        .header("X-Container-Meta-Quota-Count", "2")
        .send_expect(204);
    assert_eq!(link(&s, "links/l", "tgt/o").status, 201);
}

#[test]
fn a_link_with_x_delete_after_is_reaped() {
    let s = Builder::new().storage("expirer_interval_secs = 1").start();
    s.put_container("tgt");
    s.put_container("links");
    s.put_object("tgt/o", BODY);
    s.req("PUT", &v1("links/l"))
        .header("X-Symlink-Target", "tgt/o")
        .header("X-Delete-After", "1")
        .send_expect(201);
    let file = s.cont_dir("links").join("l");
    assert!(
        wait_until(std::time::Duration::from_secs(15), || !file.exists()),
        "the reaper never removed the expiring link"
    );
    assert!(s.cont_dir("tgt").join("o").exists());
}
