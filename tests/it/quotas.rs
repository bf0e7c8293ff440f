//! Container quotas (set by the owner) and account quotas (set by a reseller
//! admin only): validation, headers, and 413 on writes that would exceed
//! them, with nothing written.

use crate::common;

use common::*;

fn post_container(s: &Server, c: &str, h: &str, v: &str) -> Resp {
    s.req("POST", &v1(c)).header(h, v).send()
}

#[test]
fn container_quota_values_must_be_integers() {
    let s = Server::start();
    s.put_container("c");
    let r = post_container(&s, "c", "X-Container-Meta-Quota-Bytes", "ten");
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "Invalid bytes quota.");
    let r = post_container(&s, "c", "X-Container-Meta-Quota-Count", "-1");
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "Invalid count quota.");
    s.req("PUT", &v1("d"))
        .header("X-Container-Meta-Quota-Bytes", "1.5")
        .send_expect(400);
    assert!(!s.cont_dir("d").exists());
    let r = s.req("HEAD", &v1("c")).send();
    assert!(r.header("x-container-meta-quota-bytes").is_none());
}

#[test]
fn container_quota_bytes_refuses_what_would_exceed_it() {
    let s = Server::start();
    s.put_container("c");
    assert_eq!(
        post_container(&s, "c", "X-Container-Meta-Quota-Bytes", "10").status,
        204
    );
    let r = s
        .req("PUT", &v1("c/big"))
        .body(b"01234567890")
        .send_expect(413);
    assert_eq!(r.text(), "Upload exceeds quota.");
    assert!(!s.cont_dir("c").join("big").exists());
    s.put_object("c/a/ten", b"0123456789");
    // Full: even one more byte is refused, also without a length.
    s.req("PUT", &v1("c/one")).body(b"1").send_expect(413);
    s.req("PUT", &v1("c/chunked"))
        .chunked(&[b"x"])
        .send_expect(413);
    assert!(!s.cont_dir("c").join("chunked").exists());
    assert!(temp_files(s.device()).is_empty());
    // Copies count too.
    s.req("COPY", &v1("c/a/ten"))
        .header("Destination", "c/copy")
        .send_expect(413);
    // Raising the quota lets the write through.
    post_container(&s, "c", "X-Container-Meta-Quota-Bytes", "11");
    s.put_object("c/one", b"1");
    // And removing it lifts it.
    s.req("POST", &v1("c"))
        .header("X-Remove-Container-Meta-Quota-Bytes", "x")
        .send_expect(204);
    s.put_object("c/more", b"0123456789");
}

#[test]
fn container_quota_count() {
    let s = Server::start();
    s.put_container("c");
    post_container(&s, "c", "X-Container-Meta-Quota-Count", "1");
    s.put_object("c/a", b"1");
    s.req("PUT", &v1("c/b")).body(b"2").send_expect(413);
    s.req("PUT", &v1("c/dir/"))
        .header("Content-Type", "application/directory")
        .send_expect(413);
    s.req("COPY", &v1("c/a"))
        .header("Destination", "c/b")
        .send_expect(413);
    assert!(!s.cont_dir("c").join("b").exists());
    // Deleting makes room again.
    s.req("DELETE", &v1("c/a")).send_expect(204);
    s.put_object("c/b", b"2");
}

fn reseller(s: &Server) -> String {
    s.token("admin:admin", "admin")
}

fn post_account_as(s: &Server, token: &str, h: &str, v: &str) -> Resp {
    s.anon("POST", &v1(""))
        .header("X-Auth-Token", token)
        .header(h, v)
        .send()
}

#[test]
fn only_a_reseller_admin_sets_account_quotas() {
    let s = Server::start();
    let owner = s.admin_token().to_string();
    for h in [
        "X-Account-Quota-Bytes",
        "X-Account-Quota-Count",
        "X-Account-Meta-Quota-Bytes",
        "X-Remove-Account-Quota-Bytes",
        "X-Account-Quota-Bytes-Policy-gold",
        "X-Remove-Account-Quota-Count-Policy-gold",
    ] {
        let r = post_account_as(&s, &owner, h, "0");
        assert_eq!(r.status, 403, "{h}: {r:?}");
    }
    let admin = reseller(&s);
    let r = post_account_as(&s, &admin, "X-Account-Quota-Bytes", "abc");
    assert_eq!(r.status, 400);
    for (h, v) in [
        ("X-Account-Quota-Bytes", "123"),
        ("X-Account-Quota-Count", "7"),
        ("X-Account-Quota-Bytes-Policy-gold", "5"),
    ] {
        assert_eq!(post_account_as(&s, &admin, h, v).status, 204);
        let r = s.req("HEAD", &v1("")).send();
        assert_eq!(r.header(h), Some(v), "{r:?}");
    }
    assert_eq!(
        post_account_as(&s, &admin, "X-Remove-Account-Quota-Bytes", "t").status,
        204
    );
    assert_eq!(
        post_account_as(&s, &admin, "X-Account-Quota-Count", "").status,
        204
    );
    let r = s.req("HEAD", &v1("")).send();
    assert!(r.header("x-account-quota-bytes").is_none(), "{r:?}");
    assert!(r.header("x-account-quota-count").is_none(), "{r:?}");
    // Quotas are no user metadata: not listed as such.
    assert!(
        !r.headers.iter().any(|(k, _)| k.contains("sysmeta")),
        "{r:?}"
    );
}

#[test]
fn account_quotas_refuse_writes_that_exceed_them() {
    let s = two_policies();
    s.put_container("c");
    s.req("PUT", &v1("s"))
        .header("X-Storage-Policy", "silver")
        .send_expect(201);
    s.put_object("c/a", b"12345");
    let admin = reseller(&s);
    post_account_as(&s, &admin, "X-Account-Quota-Bytes", "8");
    let r = s.req("PUT", &v1("s/b")).body(b"1234").send_expect(413);
    assert_eq!(r.text(), "Upload exceeds quota.");
    s.put_object("s/b", b"123");
    // The reseller admin itself is not held to it.
    s.anon("PUT", &v1("c/by-admin"))
        .header("X-Auth-Token", &admin)
        .body(b"123456789")
        .send_expect(201);
    post_account_as(&s, &admin, "X-Account-Quota-Bytes", "");

    // Legacy header, same effect.
    post_account_as(&s, &admin, "X-Account-Meta-Quota-Bytes", "17");
    s.req("PUT", &v1("c/x")).body(b"1").send_expect(413);
    post_account_as(&s, &admin, "X-Remove-Account-Meta-Quota-Bytes", "t");
    s.put_object("c/x", b"1");

    // Per policy: silver full, gold not.
    post_account_as(&s, &admin, "X-Account-Quota-Count-Policy-silver", "1");
    let r = s.req("PUT", &v1("s/c")).body(b"1").send_expect(413);
    assert_eq!(r.text(), "Upload exceeds policy quota.");
    s.put_object("c/y", b"1");
    post_account_as(&s, &admin, "X-Account-Quota-Count", "5");
    s.req("PUT", &v1("c/z")).body(b"1").send_expect(413);
    assert!(!s.cont_dir("c").join("z").exists());
}

#[test]
fn extract_archive_respects_quotas() {
    let s = Server::start();
    s.put_container("c");
    post_container(&s, "c", "X-Container-Meta-Quota-Count", "1");
    let mut b = tar::Builder::new(Vec::new());
    for n in ["a", "b"] {
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, n, &b"x"[..]).unwrap();
    }
    let r = s
        .req("PUT", &format!("{}?extract-archive=tar", v1("c")))
        .header("Accept", "application/json")
        .body(&b.into_inner().unwrap())
        .send();
    let j: serde_json::Value = serde_json::from_str(r.text().trim_start()).unwrap();
    assert_eq!(j["Number Files Created"], 1, "{j}");
    assert_eq!(
        j["Errors"],
        serde_json::json!([["c/b", "413 Request Entity Too Large"]])
    );
}

#[test]
fn info_advertises_quotas() {
    let s = Server::start();
    let j = s.anon("GET", "/info").send().json();
    assert!(j["container_quotas"].is_object());
    assert!(j["account_quotas"].is_object());
}

fn two_policies() -> Server {
    Builder::new()
        .policy("gold", false, true)
        .policy("silver", false, false)
        .start()
}

#[test]
fn an_slo_manifest_is_held_to_the_container_quota() {
    let s = Server::start();
    s.put_container("segs");
    s.put_object("segs/a", b"012");
    s.put_container("c");
    post_container(&s, "c", "X-Container-Meta-Quota-Count", "1");
    s.put_object("c/first", b"1");
    let manifest =
        serde_json::json!([{"path": "/segs/a", "etag": md5_hex(b"012"), "size_bytes": 3}]);
    let r = s
        .req("PUT", &format!("{}?multipart-manifest=put", v1("c/slo")))
        .body(manifest.to_string().as_bytes())
        .send_expect(413);
    assert_eq!(r.text(), "Upload exceeds quota.");
    assert!(!s.cont_dir("c").join("slo").exists());
    assert!(temp_files(s.device()).is_empty());
}
