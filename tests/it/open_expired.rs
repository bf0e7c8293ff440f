//! `X-Open-Expired: true` (with `[storage] allow_open_expired`): GET, HEAD and
//! POST reach an expired object still on disk, large objects' segments too;
//! without the setting the header changes nothing.

use crate::common;

use std::time::Duration;

use common::*;

/// Puts `c/o` (and the SLO `c/m` over segments `c/s1`, `c/s2`), all
/// expiring in a second, and waits until they answer 404.
fn expired_objects(s: &Server) {
    s.put_container("c");
    for (path, data) in [
        ("c/o", &b"old data"[..]),
        ("c/s1", b"one"),
        ("c/s2", b"two"),
    ] {
        s.req("PUT", &v1(path))
            .header("X-Delete-After", "1")
            .header("X-Object-Meta-Was", "here")
            .body(data)
            .send_expect(201);
    }
    s.req("PUT", &format!("{}?multipart-manifest=put", v1("c/m")))
        .header("X-Delete-After", "1")
        .body(br#"[{"path":"/c/s1"},{"path":"/c/s2"}]"#)
        .send_expect(201);
    assert!(
        wait_until(Duration::from_secs(10), || ["c/o", "c/m", "c/s1"]
            .iter()
            .all(|p| s.get(p).status == 404)),
        "the objects did not expire"
    );
}

fn send(s: &Server, method: &str, path: &str, open: Option<&str>) -> Resp {
    let mut r = s.req(method, &v1(path));
    if let Some(v) = open {
        r = r.header("X-Open-Expired", v);
    }
    r.send()
}

#[test]
fn open_expired_reaches_expired_objects_when_allowed() {
    let s = Builder::new().storage("allow_open_expired = true").start();
    let info = s.anon("GET", "/info").send();
    assert_eq!(info.json()["swift"]["allow_open_expired"], true, "{info:?}");
    expired_objects(&s);

    let r = send(&s, "GET", "c/o", Some("true"));
    assert_eq!((r.status, r.text().as_str()), (200, "old data"), "{r:?}");
    let at: u64 = r.header("x-delete-at").unwrap().parse().unwrap();
    assert!(at <= now());
    let r = send(&s, "HEAD", "c/o", Some("True"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-object-meta-was"), Some("here"));
    for open in [None, Some("false")] {
        assert_eq!(send(&s, "GET", "c/o", open).status, 404);
        assert_eq!(send(&s, "HEAD", "c/o", open).status, 404);
        assert_eq!(send(&s, "POST", "c/o", open).status, 404);
    }
    // A large object: its expired segments are read too.
    let r = send(&s, "GET", "c/m", Some("true"));
    assert_eq!((r.status, r.text().as_str()), (200, "onetwo"), "{r:?}");
    let r = send(&s, "GET", "c/m?part-number=2", Some("true"));
    assert_eq!((r.status, r.text().as_str()), (206, "two"), "{r:?}");
    assert_eq!(send(&s, "GET", "c/m?part-number=2", None).status, 404);

    // POST brings the object back with a new expiry.
    s.req("POST", &v1("c/o"))
        .header("X-Open-Expired", "true")
        .header("X-Object-Meta-Test", "restored!")
        .header("X-Delete-After", "3600")
        .send_expect(202);
    let r = s.get("c/o");
    assert_eq!((r.status, r.text().as_str()), (200, "old data"), "{r:?}");
    assert_eq!(r.header("x-object-meta-test"), Some("restored!"));
}

#[test]
fn open_expired_is_ignored_unless_allowed() {
    let s = Server::start();
    let info = s.anon("GET", "/info").send();
    assert!(
        info.json()["swift"].get("allow_open_expired").is_none(),
        "{info:?}"
    );
    expired_objects(&s);
    for m in ["GET", "HEAD", "POST"] {
        assert_eq!(send(&s, m, "c/o", Some("true")).status, 404, "{m}");
    }
    assert_eq!(send(&s, "GET", "c/m", Some("true")).status, 404);
    // The POST changed nothing on disk.
    let m = swift_meta(&s.cont_dir("c").join("o")).unwrap();
    assert_eq!(meta_str(&m, "X-Object-Meta-Was").as_deref(), Some("here"));
}
