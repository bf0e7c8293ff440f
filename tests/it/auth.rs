//! Tempauth over HTTP: login, token checks across nodes, and container ACLs
//! for a non-admin user and for anonymous clients.

use crate::common;

use common::*;

fn login(s: &Server, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut r = s.anon("GET", path);
    for (k, v) in headers {
        r = r.header(k, v);
    }
    r.send()
}

#[test]
fn login_returns_tokens_and_storage_url_for_both_header_styles_and_paths() {
    let s = Server::start();
    let styles: [[(&str, &str); 2]; 2] = [
        [("X-Auth-User", "test:tester"), ("X-Auth-Key", "testing")],
        [
            ("X-Storage-User", "test:tester"),
            ("X-Storage-Pass", "testing"),
        ],
    ];
    for path in ["/auth/v1.0", "/auth/v1.0/"] {
        for headers in &styles {
            let r = login(&s, path, headers);
            assert_eq!(r.status, 200, "{path} {headers:?}: {r:?}");
            let token = r.header("x-auth-token").expect("X-Auth-Token");
            assert!(token.starts_with("AUTH_tk"), "{token}");
            assert_eq!(r.header("x-storage-token"), Some(token));
            assert_eq!(
                r.header("x-storage-url").unwrap(),
                format!("http://{}/v1/AUTH_test", s.addr())
            );
            let expires: u64 = r.header("x-auth-token-expires").unwrap().parse().unwrap();
            assert!(expires > 0);
            // The token works.
            s.anon("HEAD", &v1(""))
                .header("X-Auth-Token", token)
                .send_expect(204);
            let h = s
                .anon("HEAD", &v1(""))
                .header("X-Storage-Token", token)
                .send();
            assert_eq!(h.status, 204, "X-Storage-Token: {h:?}");
        }
    }
}

#[test]
fn login_with_bad_key_or_unknown_user_returns_401() {
    let s = Server::start();
    let r = login(
        &s,
        "/auth/v1.0",
        &[("X-Auth-User", "test:tester"), ("X-Auth-Key", "wrong")],
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.header("x-auth-token").is_none());
    let r = login(
        &s,
        "/auth/v1.0",
        &[("X-Auth-User", "test:nobody"), ("X-Auth-Key", "testing")],
    );
    assert_eq!(r.status, 401);
    let r = login(&s, "/auth/v1.0", &[("X-Auth-User", "test:tester")]);
    assert_eq!(r.status, 401);
}

#[test]
fn request_without_token_returns_401() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/o", b"secret");
    for path in [v1(""), v1("c"), v1("c/o")] {
        let r = s.anon("GET", &path).send();
        assert_eq!(r.status, 401, "{path}: {r:?}");
    }
    s.anon("PUT", &v1("c/new")).body(b"x").send_expect(401);
    assert!(!s.cont_dir("c").join("new").exists());
}

#[test]
fn garbage_or_tampered_token_returns_401() {
    let s = Server::start();
    s.put_container("c");
    let good = s.admin_token().to_string();
    let mut tampered = good.clone().into_bytes();
    let i = tampered.len() - 1;
    tampered[i] = if tampered[i] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    for t in ["garbage", "AUTH_tk", "AUTH_tkdeadbeef", tampered.as_str()] {
        let r = s.anon("GET", &v1("c")).header("X-Auth-Token", t).send();
        assert_eq!(r.status, 401, "token {t:?}: {r:?}");
    }
    s.anon("GET", &v1("c"))
        .header("X-Auth-Token", &good)
        .send_expect(204);
}

#[test]
fn token_of_other_account_returns_403() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/o", b"mine");
    let t2 = s.token("test2:tester2", "testing2");
    for (m, path) in [("GET", v1("")), ("GET", v1("c")), ("GET", v1("c/o"))] {
        let r = s.anon(m, &path).header("X-Auth-Token", &t2).send();
        assert_eq!(r.status, 403, "{m} {path}: {r:?}");
    }
    s.anon("PUT", &v1("c/o"))
        .header("X-Auth-Token", &t2)
        .body(b"theirs")
        .send_expect(403);
    assert_eq!(std::fs::read(s.cont_dir("c").join("o")).unwrap(), b"mine");
    // Their own account is fine.
    s.anon("PUT", "/v1/AUTH_test2/theirs")
        .header("X-Auth-Token", &t2)
        .send_expect(201);
    assert!(s.device().join("AUTH_test2/theirs").is_dir());
}

#[test]
fn token_is_accepted_by_a_second_server_with_the_same_secret() {
    let a = Server::start();
    let b = Server::start_with_config_of(&a);
    assert_ne!(a.addr(), b.addr());
    let t = a.token("test:tester", "testing");
    a.put_container("shared");
    b.anon("GET", &v1("shared"))
        .header("X-Auth-Token", &t)
        .send_expect(204);
    b.anon("PUT", &v1("shared/from-b"))
        .header("X-Auth-Token", &t)
        .body(b"written on b")
        .send_expect(201);
    assert_eq!(a.get("shared/from-b").body, b"written on b");
}

#[test]
fn token_is_rejected_by_a_server_with_another_secret() {
    let a = Server::start();
    let other = Builder::new()
        .secret("another-secret-entirely-0123456789")
        .start();
    let t = a.token("test:tester", "testing");
    other
        .anon("HEAD", &v1(""))
        .header("X-Auth-Token", &t)
        .send_expect(401);
}

/// Container `c` with object `o`, and a token of the non-admin test:tester3.
fn setup_acl(s: &Server, headers: &[(&str, &str)]) -> String {
    let mut r = s.req("PUT", &v1("c"));
    for (k, v) in headers {
        r = r.header(k, v);
    }
    r.send_expect(201);
    s.put_object("c/o", b"shared data");
    s.token("test:tester3", "testing3")
}

#[test]
fn non_admin_user_is_forbidden_without_acl() {
    let s = Server::start();
    let t3 = setup_acl(&s, &[]);
    let as3 = |m: &str, p: &str| s.anon(m, p).header("X-Auth-Token", &t3);
    as3("GET", &v1("c/o")).send_expect(403);
    as3("HEAD", &v1("c/o")).send_expect(403);
    as3("GET", &v1("c")).send_expect(403);
    as3("GET", &v1("")).send_expect(403);
    as3("PUT", &v1("c/new")).body(b"x").send_expect(403);
    as3("DELETE", &v1("c/o")).send_expect(403);
    as3("PUT", &v1("c2")).send_expect(403);
    assert!(!s.cont_dir("c").join("new").exists());
    assert!(s.cont_dir("c").join("o").exists());
    assert!(!s.cont_dir("c2").exists());
}

#[test]
fn container_read_acl_lets_user_get_objects_and_list() {
    let s = Server::start();
    let t3 = setup_acl(&s, &[("X-Container-Read", "test:tester3")]);
    let as3 = |m: &str, p: &str| s.anon(m, p).header("X-Auth-Token", &t3);
    let r = as3("GET", &v1("c/o")).send_expect(200);
    assert_eq!(r.body, b"shared data");
    let r = as3("GET", &v1("c")).send_expect(200);
    assert_eq!(r.lines(), ["o"]);
    // Reading is not writing.
    as3("PUT", &v1("c/new")).body(b"x").send_expect(403);
    assert!(!s.cont_dir("c").join("new").exists());
}

#[test]
fn container_write_acl_lets_user_put_objects() {
    let s = Server::start();
    let t3 = setup_acl(&s, &[("X-Container-Write", "test:tester3")]);
    let as3 = |m: &str, p: &str| s.anon(m, p).header("X-Auth-Token", &t3);
    as3("PUT", &v1("c/by3"))
        .body(b"from tester3")
        .send_expect(201);
    assert_eq!(
        std::fs::read(s.cont_dir("c").join("by3")).unwrap(),
        b"from tester3"
    );
    // Writing is not reading.
    as3("GET", &v1("c/o")).send_expect(403);
}

#[test]
fn public_read_acl_allows_anonymous_object_get_but_not_listing() {
    let s = Server::start();
    setup_acl(&s, &[("X-Container-Read", ".r:*")]);
    let r = s.anon("GET", &v1("c/o")).send_expect(200);
    assert_eq!(r.body, b"shared data");
    s.anon("GET", &v1("c")).send_expect(401);
    s.anon("PUT", &v1("c/anon")).body(b"x").send_expect(401);
    assert!(!s.cont_dir("c").join("anon").exists());
}

#[test]
fn rlistings_acl_allows_anonymous_listing() {
    let s = Server::start();
    setup_acl(&s, &[("X-Container-Read", ".r:*,.rlistings")]);
    let r = s.anon("GET", &v1("c")).send_expect(200);
    assert_eq!(r.lines(), ["o"]);
    s.anon("GET", &v1("c/o")).send_expect(200);
}

#[test]
fn acl_headers_are_shown_only_to_the_owner() {
    let s = Server::start();
    let t3 = setup_acl(
        &s,
        &[
            ("X-Container-Read", "test:tester3"),
            ("X-Container-Write", "test:tester3"),
        ],
    );
    let owner = s.req("HEAD", &v1("c")).send_expect(204);
    assert_eq!(owner.header("x-container-read"), Some("test:tester3"));
    assert_eq!(owner.header("x-container-write"), Some("test:tester3"));
    let r = s
        .anon("HEAD", &v1("c"))
        .header("X-Auth-Token", &t3)
        .send_expect(204);
    assert_eq!(r.header("x-container-read"), None);
    assert_eq!(r.header("x-container-write"), None);
}

#[test]
fn malformed_container_acl_returns_400() {
    let s = Server::start();
    s.put_container("c");
    let before = swift_meta(&s.cont_dir("c")).unwrap();
    for acl in [".r:", ".bogus", ".r:-"] {
        let r = s
            .req("POST", &v1("c"))
            .header("X-Container-Read", acl)
            .send();
        assert_eq!(r.status, 400, "{acl:?}: {r:?}");
    }
    assert_eq!(swift_meta(&s.cont_dir("c")).unwrap(), before);
    s.req("PUT", &v1("d"))
        .header("X-Container-Read", ".bogus")
        .send_expect(400);
    assert!(!s.cont_dir("d").exists());
}

#[test]
fn account_acl_grants_read_write_and_admin_and_only_owners_see_it() {
    let s = Server::start();
    let user3 = s.token("test:tester3", "testing3");
    let other = s.token("test2:tester2", "testing2");
    s.put_container("c");
    s.put_object("c/o", b"data");
    let as_user = |t: &str, m: &str, p: &str| s.anon(m, p).header("X-Auth-Token", t);
    // Without an ACL, a non-admin user of the account gets nothing.
    as_user(&user3, "GET", &v1("")).send_expect(403);
    as_user(&other, "GET", &v1("c/o")).send_expect(403);

    s.req("POST", &v1(""))
        .header("X-Account-Access-Control", r#"{"read-only":["test2"]}"#)
        .header("X-Account-Meta-Temp-URL-Key", "sekrit")
        .send_expect(204);
    let owner_view = s.req("HEAD", &v1("")).send();
    assert_eq!(
        owner_view.header("x-account-access-control"),
        Some(r#"{"read-only":["test2"]}"#)
    );
    // read-only: reads everywhere, no writes, no ACL or tempurl key shown.
    let r = as_user(&other, "HEAD", &v1("")).send_expect(204);
    assert_eq!(r.header("x-account-access-control"), None);
    assert_eq!(r.header("x-account-meta-temp-url-key"), None);
    assert_eq!(as_user(&other, "GET", &v1("c/o")).send().text(), "data");
    as_user(&other, "PUT", &v1("c/p"))
        .body(b"x")
        .send_expect(403);
    as_user(&other, "POST", &v1("")).send_expect(403);

    // read-write: objects and containers, but not the account or ACLs.
    s.req("POST", &v1(""))
        .header(
            "X-Account-Access-Control",
            r#"{"read-write":["test2:tester2"]}"#,
        )
        .send();
    as_user(&other, "PUT", &v1("c/p"))
        .body(b"x")
        .send_expect(201);
    as_user(&other, "PUT", &v1("c2")).send_expect(201);
    as_user(&other, "POST", &v1("c"))
        .header("X-Container-Read", ".r:*")
        .header("X-Container-Meta-Color", "red")
        .send_expect(204);
    let h = s.req("HEAD", &v1("c")).send();
    assert_eq!(h.header("x-container-meta-color"), Some("red"));
    assert_eq!(h.header("x-container-read"), None, "only owners set ACLs");
    as_user(&other, "POST", &v1("")).send_expect(403);

    // admin: everything an owner may do, including the ACL itself.
    s.req("POST", &v1(""))
        .header("X-Account-Access-Control", r#"{"admin":["test2:tester2"]}"#)
        .send();
    let r = as_user(&other, "HEAD", &v1("")).send();
    assert_eq!(r.header("x-account-meta-temp-url-key"), Some("sekrit"));
    as_user(&other, "POST", &v1(""))
        .header("X-Account-Access-Control", "{}")
        .send_expect(204);
    as_user(&other, "GET", &v1("c/o")).send_expect(403);
    assert_eq!(
        s.req("HEAD", &v1(""))
            .send()
            .header("x-account-access-control"),
        None
    );
}

#[test]
fn invalid_account_acl_is_400_and_keeps_the_old_one() {
    let s = Server::start();
    let good = r#"{"admin":["bob"]}"#;
    s.req("POST", &v1(""))
        .header("X-Account-Access-Control", good)
        .send_expect(204);
    for bad in [
        "yuck",
        r#"{"owner":["x"]}"#,
        r#"{"admin":"x"}"#,
        r#"{"admin":[1]}"#,
    ] {
        let r = s
            .req("POST", &v1(""))
            .header("X-Account-Access-Control", bad)
            .header("X-Account-Meta-Color", "red")
            .send();
        assert_eq!(r.status, 400, "{bad}: {r:?}");
        assert!(
            r.text().contains("X-Account-Access-Control invalid"),
            "{}",
            r.text()
        );
    }
    let h = s.req("HEAD", &v1("")).send();
    assert_eq!(h.header("x-account-access-control"), Some(good));
    assert_eq!(h.header("x-account-meta-color"), None, "nothing applied");
}

#[test]
fn api_version_and_empty_path_segments_answer_as_swift() {
    let s = Server::start();
    s.anon("GET", "/info%20asdf").send_expect(412);
    s.req("GET", "/v2/AUTH_test").send_expect(400);
    s.req("GET", "/v1/AUTH_test//o").send_expect(404);
    s.req("GET", "/v1//c/o").send_expect(404);
}

/// A server with tempauth's service prefix: `SERVICE_<project>` needs the
/// owner's token plus an `X-Service-Token` of a user in group `service`.
fn service_server() -> Server {
    Builder::new()
        .toml(
            "[[auth.service_prefix]]\nprefix = \"SERVICE_\"\nrequire_group = \"service\"\n\
             [[auth.user]]\naccount = \"glance\"\nuser = \"glance\"\nkey = \"glancepw\"\n\
             groups = [\"service\"]\n",
        )
        .start()
}

#[test]
fn service_account_needs_the_owners_token_and_a_service_token() {
    let s = service_server();
    let user = s.token("test:tester", "testing");
    let service = s.token("glance:glance", "glancepw");
    // The owner's token alone: 403 everywhere, nothing made.
    for (m, path) in [
        ("PUT", "/v1/SERVICE_test/c"),
        ("HEAD", "/v1/SERVICE_test"),
        ("GET", "/v1/SERVICE_test"),
        ("POST", "/v1/SERVICE_test"),
    ] {
        let r = s.anon(m, path).header("X-Auth-Token", &user).send();
        assert_eq!(r.status, 403, "{m} {path}: {r:?}");
    }
    assert!(!s.device().join("SERVICE_test").exists());
    // With the service token: the owner's rights.
    let both = |m: &str, path: &str| {
        s.anon(m, path)
            .header("X-Auth-Token", &user)
            .header("X-Service-Token", &service)
    };
    both("PUT", "/v1/SERVICE_test/c").send_expect(201);
    both("PUT", "/v1/SERVICE_test/c/o")
        .body(b"image")
        .send_expect(201);
    assert_eq!(
        std::fs::read(s.device().join("SERVICE_test/c/o")).unwrap(),
        b"image"
    );
    let r = both("GET", "/v1/SERVICE_test/c/o").send();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"image"[..]));
    let r = both("GET", "/v1/SERVICE_test").send_expect(200);
    assert_eq!(r.body, b"c\n");
    both("POST", "/v1/SERVICE_test/c")
        .header("X-Container-Meta-Color", "blue")
        .send_expect(204);
    // Owner's metadata; account PUT and DELETE refused as on AUTH_ accounts.
    let r = both("HEAD", "/v1/SERVICE_test/c").send();
    assert_eq!(r.header("x-container-meta-color"), Some("blue"));
    for m in ["PUT", "DELETE"] {
        let own = s
            .anon(m, "/v1/AUTH_test")
            .header("X-Auth-Token", &user)
            .send();
        let r = both(m, "/v1/SERVICE_test").send();
        assert!((400..500).contains(&r.status), "{m}: {r:?}");
        assert_eq!(r.status, own.status, "{m} as on the AUTH_ account");
    }
    // Without the service token again: refused, the object stays.
    s.anon("GET", "/v1/SERVICE_test/c/o")
        .header("X-Auth-Token", &user)
        .send_expect(403);
    s.anon("DELETE", "/v1/SERVICE_test/c/o")
        .header("X-Auth-Token", &user)
        .send_expect(403);
    assert!(s.device().join("SERVICE_test/c/o").is_file());
    both("DELETE", "/v1/SERVICE_test/c/o").send_expect(204);
    assert!(!s.device().join("SERVICE_test/c/o").exists());
}

#[test]
fn a_service_token_alone_or_with_the_wrong_user_is_not_enough() {
    let s = service_server();
    let user = s.token("test:tester", "testing");
    let service = s.token("glance:glance", "glancepw");
    let other = s.token("test2:tester2", "testing2");
    let non_admin = s.token("test:tester3", "testing3");
    let cases: [(Option<&str>, Option<&str>, u16); 7] = [
        // The service user is no owner of SERVICE_test, with or without itself.
        (Some(&service), None, 403),
        (Some(&service), Some(&service), 403),
        // A service token is only read along with a valid X-Auth-Token.
        (None, Some(&service), 401),
        // A token of a user outside the group is no service token.
        (Some(&user), Some(&other), 403),
        (Some(&user), Some(&user), 403),
        // A service token does not make another account's user (or a
        // non-admin of the project) its owner.
        (Some(&other), Some(&service), 403),
        (Some(&non_admin), Some(&service), 403),
    ];
    for (auth, svc, want) in cases {
        for (m, path) in [("PUT", "/v1/SERVICE_test/c"), ("GET", "/v1/SERVICE_test")] {
            let mut r = s.anon(m, path);
            if let Some(t) = auth {
                r = r.header("X-Auth-Token", t);
            }
            if let Some(t) = svc {
                r = r.header("X-Service-Token", t);
            }
            let r = r.send();
            assert_eq!(r.status, want, "{m} {path} {auth:?} {svc:?}: {r:?}");
        }
    }
    assert!(!s.device().join("SERVICE_test").exists());
    // A forged service token is ignored: the request is the user's alone.
    let mut forged = service.clone().into_bytes();
    let i = forged.len() - 1;
    forged[i] = if forged[i] == b'0' { b'1' } else { b'0' };
    s.anon("PUT", "/v1/SERVICE_test/c")
        .header("X-Auth-Token", &user)
        .header("X-Service-Token", std::str::from_utf8(&forged).unwrap())
        .send_expect(403);
    // Accounts under no prefix stay refused.
    s.anon("GET", "/v1/OTHER_test")
        .header("X-Auth-Token", &user)
        .header("X-Service-Token", &service)
        .send_expect(403);
}

#[test]
fn auth_accounts_are_unaffected_by_service_prefixes() {
    let s = service_server();
    let user = s.token("test:tester", "testing");
    let service = s.token("glance:glance", "glancepw");
    // Storage URLs name the AUTH_ account, also the service user's.
    let r = login(
        &s,
        "/auth/v1.0",
        &[("X-Auth-User", "glance:glance"), ("X-Auth-Key", "glancepw")],
    );
    assert_eq!(
        r.header("x-storage-url").unwrap(),
        format!("http://{}/v1/AUTH_glance", s.addr())
    );
    // The owner's token alone, or with a service token, works on AUTH_test.
    for svc in [None, Some(&service)] {
        let mut r = s
            .anon("PUT", "/v1/AUTH_test/c")
            .header("X-Auth-Token", &user);
        if let Some(t) = svc {
            r = r.header("X-Service-Token", t);
        }
        let r = r.send();
        assert!(matches!(r.status, 201 | 202), "{svc:?}: {r:?}");
        s.anon("HEAD", "/v1/AUTH_test")
            .header("X-Auth-Token", &user)
            .send_expect(204);
    }
    // The service user owns nothing there (nor its own account: no .admin).
    for path in ["/v1/AUTH_test", "/v1/AUTH_glance"] {
        let r = s.anon("GET", path).header("X-Auth-Token", &service).send();
        assert_eq!(r.status, 403, "{path}: {r:?}");
    }
    // A service token does not open another AUTH_ account either.
    let other = s.token("test2:tester2", "testing2");
    s.anon("GET", "/v1/AUTH_test")
        .header("X-Auth-Token", &other)
        .header("X-Service-Token", &service)
        .send_expect(403);
}

#[test]
fn container_acls_on_a_service_account_match_the_auth_token_user() {
    let s = service_server();
    let user = s.token("test:tester", "testing");
    let service = s.token("glance:glance", "glancepw");
    let t3 = s.token("test:tester3", "testing3");
    s.anon("PUT", "/v1/SERVICE_test/shared")
        .header("X-Auth-Token", &user)
        .header("X-Service-Token", &service)
        .header("X-Container-Read", "test:tester3")
        .send_expect(201);
    s.anon("GET", "/v1/SERVICE_test/shared")
        .header("X-Auth-Token", &t3)
        .send_expect(204);
}

#[test]
fn copy_to_another_account_needs_rights_there_not_in_the_source() {
    let s = Server::start();
    let other = s.token("test2:tester2", "testing2");
    let user3 = s.token("test:tester3", "testing3");
    s.anon("PUT", "/v1/AUTH_test2/src")
        .header("X-Auth-Token", &other)
        .send_expect(201);
    s.anon("PUT", "/v1/AUTH_test2/src/o")
        .header("X-Auth-Token", &other)
        .body(b"payload")
        .send_expect(201);
    // tester3 may read and write all of AUTH_test2 ...
    s.anon("POST", "/v1/AUTH_test2")
        .header("X-Auth-Token", &other)
        .header(
            "X-Account-Access-Control",
            r#"{"read-write":["test:tester3"]}"#,
        )
        .send_expect(204);
    s.put_container("c");
    // ... but is no admin of its own account AUTH_test: a copy there is refused.
    s.anon("COPY", "/v1/AUTH_test2/src/o")
        .header("X-Auth-Token", &user3)
        .header("Destination", "c/pwned")
        .header("Destination-Account", "AUTH_test")
        .send_expect(403);
    assert!(!s.cont_dir("c").join("pwned").exists());
    // Names outside our accounts are refused outright.
    s.put_object("c/src", b"x");
    for acct in ["..", "nope"] {
        let r = s
            .req("COPY", &v1("c/src"))
            .header("Destination", "c/x")
            .header("Destination-Account", acct)
            .send();
        assert!(r.status == 400 || r.status == 403, "{acct}: {r:?}");
    }
}
