//! Names and metadata the server must refuse, sent as raw bytes (paths are
//! never normalized by the client): each is answered with Swift's status and
//! leaves the device exactly as it was.

use crate::common;

use common::*;

/// A server with container `c` holding `a/x`, and a snapshot of its device.
fn setup() -> (Server, Vec<String>) {
    let s = Server::start();
    s.put_container("c");
    s.put_container("c2");
    s.put_object("c/a/x", b"x");
    s.put_object("c2/o", b"other container");
    let snap = snapshot(s.device());
    (s, snap)
}

/// PUTs `path` verbatim and expects `status`; GET and HEAD must agree.
fn refused(s: &Server, path: &str, status: u16) {
    let r = s.req("PUT", path).body(b"should not land").send();
    assert_eq!(r.status, status, "PUT {path}: {r:?}");
    let r = s.req("GET", path).send();
    assert_eq!(r.status, status, "GET {path}: {r:?}");
    let r = s.req("DELETE", path).send();
    assert_eq!(r.status, status, "DELETE {path}: {r:?}");
}

#[test]
fn object_name_longer_than_1024_bytes_returns_400() {
    let (s, before) = setup();
    // Components stay well under NAME_MAX: only the total is too long.
    let name = |total: usize| {
        let mut n = vec!["b".repeat(200); 5].join("/");
        n.push('/');
        n.push_str(&"z".repeat(total - n.len()));
        n
    };
    refused(&s, &v1(&format!("c/{}", name(1025))), 400);
    assert_eq!(snapshot(s.device()), before);
    s.put_object(&format!("c/{}", name(1024)), b"fits");
}

#[test]
fn container_name_of_256_bytes_returns_400() {
    let (s, before) = setup();
    let long = "c".repeat(256);
    s.req("PUT", &v1(&long)).send_expect(400);
    refused(&s, &v1(&format!("{long}/o")), 400);
    assert_eq!(snapshot(s.device()), before);
    s.put_container(&"c".repeat(255));
}

#[test]
fn object_path_component_in_the_escaped_long_name_form_returns_400() {
    let (s, before) = setup();
    let esc = format!("{}~{}.sglong", "n".repeat(180), "0".repeat(32));
    refused(&s, &v1(&format!("c/a/{esc}")), 400);
    refused(&s, &v1(&format!("c/{esc}/leaf")), 400);
    assert_eq!(snapshot(s.device()), before);
    // Long components themselves are fine (tests/it/long_names.rs).
    s.put_object(&format!("c/a/{}", "n".repeat(256)), b"fits");
}

#[test]
fn dot_and_dot_dot_components_return_400() {
    let (s, before) = setup();
    for path in [
        "/v1/AUTH_test/c/a/../b",
        "/v1/AUTH_test/c/./b",
        "/v1/AUTH_test/c/a/.",
        "/v1/AUTH_test/c/..",
        "/v1/AUTH_test/c/../c2/o",
        "/v1/AUTH_test/c/a/%2e%2e/b",
        "/v1/AUTH_test/c/a/%2E%2E/%2E%2E/c2/o",
        "/v1/AUTH_test/c/%2e/b",
        "/v1/AUTH_test/../AUTH_test/c/a/x",
        "/v1/AUTH_test/%2e%2e/o",
    ] {
        refused(&s, path, 400);
    }
    assert_eq!(snapshot(s.device()), before);
}

#[test]
fn data_under_a_trailing_slash_name_returns_400() {
    let (s, before) = setup();
    s.req("PUT", "/v1/AUTH_test/c/a/")
        .body(b"x")
        .send_expect(400);
    assert_eq!(snapshot(s.device()), before);
}

#[test]
fn leading_and_repeated_slashes_are_normalized_as_in_swift_on_file() {
    let (s, _) = setup();
    s.req("PUT", "/v1/AUTH_test/c//a//b")
        .body(b"x")
        .send_expect(201);
    assert_eq!(std::fs::read(s.cont_dir("c").join("a/b")).unwrap(), b"x");
    assert_eq!(s.req("GET", "/v1/AUTH_test/c/a/b").send().body, b"x");
    assert_eq!(s.req("GET", "/v1/AUTH_test/c///a/b").send().body, b"x");
}

#[test]
fn nul_and_invalid_utf8_return_412() {
    let (s, before) = setup();
    for path in [
        "/v1/AUTH_test/c/a%00b",
        "/v1/AUTH_test/c/%FF",
        "/v1/AUTH_test/c/a/%C3",
        "/v1/AUTH_test/c%00/o",
    ] {
        refused(&s, path, 412);
    }
    s.req("GET", "/v1/AUTH_test/c?prefix=%FF").send_expect(412);
    assert_eq!(snapshot(s.device()), before);
}

/// PUT of object `c/m` with extra headers; expects 400 and no change.
fn meta_refused(s: &Server, before: &[String], headers: &[(String, String)]) {
    let mut r = s.req("PUT", &v1("c/m"));
    for (k, v) in headers {
        r = r.header(k, v);
    }
    r.body(b"data").send_expect(400);
    let mut r = s.req("POST", &v1("c/a/x"));
    for (k, v) in headers {
        r = r.header(k, v);
    }
    assert_eq!(r.send().status, 400, "POST object");
    let mut r = s.req("POST", &v1("c"));
    for (k, v) in headers {
        r = r.header(&k.replace("Object", "Container"), v);
    }
    assert_eq!(r.send().status, 400, "POST container");
    assert_eq!(snapshot(s.device()), before);
}

fn h(k: impl Into<String>, v: impl Into<String>) -> (String, String) {
    (k.into(), v.into())
}

#[test]
fn metadata_name_too_long_returns_400() {
    let (s, before) = setup();
    meta_refused(
        &s,
        &before,
        &[h(format!("X-Object-Meta-{}", "n".repeat(129)), "v")],
    );
    s.req("PUT", &v1("c/m"))
        .header(&format!("X-Object-Meta-{}", "n".repeat(128)), "v")
        .body(b"ok")
        .send_expect(201);
}

#[test]
fn metadata_value_too_long_returns_400() {
    let (s, before) = setup();
    meta_refused(&s, &before, &[h("X-Object-Meta-Big", "v".repeat(257))]);
    s.req("PUT", &v1("c/m"))
        .header("X-Object-Meta-Big", &"v".repeat(256))
        .body(b"ok")
        .send_expect(201);
}

#[test]
fn too_many_metadata_items_return_400() {
    let (s, before) = setup();
    let many: Vec<_> = (0..91)
        .map(|i| h(format!("X-Object-Meta-K{i}"), "v"))
        .collect();
    meta_refused(&s, &before, &many);
    let mut r = s.req("PUT", &v1("c/m"));
    for (k, v) in &many[..90] {
        r = r.header(k, v);
    }
    r.body(b"ok").send_expect(201);
}

#[test]
fn metadata_over_overall_size_returns_400() {
    let (s, before) = setup();
    // 17 items of 4 + 250 bytes: each fine, 4318 bytes together.
    let big: Vec<_> = (10..27)
        .map(|i| h(format!("X-Object-Meta-K{i}"), "v".repeat(250)))
        .collect();
    meta_refused(&s, &before, &big);
    // Half of them pass: each item is valid, only the total is not. (ext4
    // keeps all xattrs of a file in one 4 KiB block, so a control right at
    // the limit would not fit on every test filesystem.)
    let mut r = s.req("PUT", &v1("c/m"));
    for (k, v) in &big[..8] {
        r = r.header(k, v);
    }
    r.body(b"ok").send_expect(201);
}
