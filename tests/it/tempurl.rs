//! Temporary URLs: signatures by account and container keys, every refusal
//! a 401 that changes nothing, the headers a granted response carries.

use crate::common;

use base64::Engine;
use common::*;
use hmac::{Hmac, Mac};

fn hmac_hex<M: Mac + hmac::digest::KeyInit>(key: &str, msg: &str) -> String {
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    m.update(msg.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

fn sig256(key: &str, method: &str, expires: u64, path: &str) -> String {
    hmac_hex::<Hmac<sha2::Sha256>>(key, &format!("{method}\n{expires}\n{path}"))
}

/// `path?temp_url_sig=..&temp_url_expires=..` signed with `key`.
pub(crate) fn url(key: &str, method: &str, expires: u64, path: &str) -> String {
    let sig = sig256(key, method, expires, path);
    format!("{path}?temp_url_sig={sig}&temp_url_expires={expires}")
}

const KEY: &str = "account-secret";

/// A server with an account key, container `c` holding `o` ("hello").
fn setup() -> Server {
    let s = Server::start();
    s.req("POST", &v1(""))
        .header("X-Account-Meta-Temp-URL-Key", KEY)
        .send_expect(204);
    s.put_container("c");
    s.req("PUT", &v1("c/o"))
        .header("X-Object-Meta-Private", "secret")
        .header("X-Object-Meta-Public-Color", "blue")
        .body(b"hello")
        .send_expect(201);
    s
}

#[test]
fn valid_get_and_head_with_download_headers() {
    let s = setup();
    let exp = now() + 600;
    let u = url(KEY, "GET", exp, &v1("c/o"));
    let r = s.anon("GET", &u).send_expect(200);
    assert_eq!(r.body, b"hello");
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"o\"; filename*=UTF-8''o")
    );
    assert!(r.header("expires").is_some_and(|e| e.ends_with("GMT")));
    assert_eq!(r.header("x-object-meta-public-color"), Some("blue"));
    assert_eq!(r.header("x-object-meta-private"), None, "{r:?}");
    // A GET URL also allows HEAD; a HEAD URL does not allow GET.
    s.anon("HEAD", &u).send_expect(200);
    let h = url(KEY, "HEAD", exp, &v1("c/o"));
    s.anon("HEAD", &h).send_expect(200);
    s.anon("GET", &h).send_expect(401);
    // filename and inline.
    let r = s
        .anon("GET", &format!("{u}&filename=my%20file.txt&inline"))
        .send();
    assert_eq!(
        r.header("content-disposition"),
        Some("inline; filename=\"my file.txt\"; filename*=UTF-8''my%20file.txt")
    );
    let r = s.anon("GET", &format!("{u}&inline")).send();
    assert_eq!(r.header("content-disposition"), Some("inline"));
}

#[test]
fn every_mismatch_is_401() {
    let s = setup();
    let exp = now() + 600;
    let path = v1("c/o");
    let good = sig256(KEY, "GET", exp, &path);
    let mut bad = good.clone().into_bytes();
    bad[0] = if bad[0] == b'a' { b'b' } else { b'a' };
    let tampered = String::from_utf8(bad).unwrap();
    let past = now() - 10;
    for (what, q) in [
        (
            "expired",
            format!(
                "temp_url_sig={}&temp_url_expires={past}",
                sig256(KEY, "GET", past, &path)
            ),
        ),
        (
            "tampered signature",
            format!("temp_url_sig={tampered}&temp_url_expires={exp}"),
        ),
        (
            "other expiry",
            format!("temp_url_sig={good}&temp_url_expires={}", exp + 1),
        ),
        (
            "wrong key",
            format!(
                "temp_url_sig={}&temp_url_expires={exp}",
                sig256("other", "GET", exp, &path)
            ),
        ),
        ("no signature", format!("temp_url_expires={exp}")),
        ("no expiry", format!("temp_url_sig={good}")),
        (
            "garbled signature",
            format!("temp_url_sig=sha256:%21%21&temp_url_expires={exp}"),
        ),
    ] {
        let r = s.anon("GET", &format!("{path}?{q}")).send();
        assert_eq!(r.status, 401, "{what}: {r:?}");
    }
    // Another object with the same signature.
    s.put_object("c/p", b"other");
    s.anon(
        "GET",
        &format!("{}?temp_url_sig={good}&temp_url_expires={exp}", v1("c/p")),
    )
    .send_expect(401);
    // A valid signature does not survive a removed key.
    s.req("POST", &v1(""))
        .header("X-Remove-Account-Meta-Temp-URL-Key", "x")
        .send_expect(204);
    s.anon("GET", &url(KEY, "GET", exp, &path)).send_expect(401);
}

#[test]
fn put_needs_a_put_signature_and_writes_nothing_otherwise() {
    let s = setup();
    let exp = now() + 600;
    let before = snapshot(s.device());
    // GET signature used for a PUT.
    s.anon("PUT", &url(KEY, "GET", exp, &v1("c/new")))
        .body(b"data")
        .send_expect(401);
    // PUT signature for another name.
    let other = url(KEY, "PUT", exp, &v1("c/other"));
    let q = other.split_once('?').unwrap().1;
    s.anon("PUT", &format!("{}?{q}", v1("c/new")))
        .body(b"data")
        .send_expect(401);
    // Headers that would point the object elsewhere.
    let u = url(KEY, "PUT", exp, &v1("c/new"));
    for (h, v) in [("X-Object-Manifest", "c/o"), ("X-Copy-From", "c/o")] {
        let r = s.anon("PUT", &u).header(h, v).body(b"").send();
        assert_eq!(r.status, 400, "{h}: {r:?}");
        assert!(r.text().contains(h), "{r:?}");
    }
    assert_eq!(snapshot(s.device()), before);
    // The right signature writes.
    s.anon("PUT", &u).body(b"data").send_expect(201);
    assert_eq!(std::fs::read(s.cont_dir("c").join("new")).unwrap(), b"data");
    // POST of a manifest with a POST URL is refused too.
    let p = url(KEY, "POST", exp, &v1("c/new"));
    s.anon("POST", &p)
        .header("X-Object-Manifest", "c/o")
        .send_expect(400);
    s.anon("POST", &p).send_expect(202);
    // DELETE.
    s.anon("DELETE", &u).send_expect(401);
    let d = url(KEY, "DELETE", exp, &v1("c/new"));
    s.anon("DELETE", &d).send_expect(204);
    assert!(!s.cont_dir("c").join("new").exists());
}

#[test]
fn container_keys_reach_only_their_container() {
    let s = Server::start();
    s.req("PUT", &v1("c"))
        .header("X-Container-Meta-Temp-URL-Key-2", "ckey")
        .header("X-Container-Read", "test:tester3")
        .send_expect(201);
    s.put_container("segs");
    s.put_object("segs/part1", b"abc");
    s.put_object("c/inside1", b"xyz");
    s.put_object("c/o", b"hello");
    s.req("PUT", &v1("c/out"))
        .header("X-Object-Manifest", "segs/part")
        .body(b"")
        .send_expect(201);
    s.req("PUT", &v1("c/in"))
        .header("X-Object-Manifest", "c/inside")
        .body(b"")
        .send_expect(201);
    let exp = now() + 600;
    s.anon("GET", &url("ckey", "GET", exp, &v1("c/o")))
        .send_expect(200);
    let r = s.anon("GET", &url("ckey", "GET", exp, &v1("c/in"))).send();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"xyz"[..]));
    s.anon("GET", &url("ckey", "GET", exp, &v1("c/out")))
        .send_expect(401);
    // The key shows to the owner, not to a reader by ACL.
    let r = s.req("HEAD", &v1("c")).send();
    assert_eq!(r.header("x-container-meta-temp-url-key-2"), Some("ckey"));
    let t3 = s.token("test:tester3", "testing3");
    let r = s
        .anon("HEAD", &v1("c"))
        .header("X-Auth-Token", &t3)
        .send_expect(204);
    assert_eq!(r.header("x-container-meta-temp-url-key-2"), None);
}

#[test]
fn prefixes_digests_dates_and_ip_ranges() {
    let s = setup();
    s.put_object("c/pre/a", b"in");
    s.put_object("c/other", b"out");
    let exp = now() + 600;
    let psig = sig256(KEY, "GET", exp, &format!("prefix:{}", v1("c/pre/")));
    let q = format!("temp_url_sig={psig}&temp_url_expires={exp}&temp_url_prefix=pre/");
    s.anon("GET", &format!("{}?{q}", v1("c/pre/a")))
        .send_expect(200);
    s.anon("GET", &format!("{}?{q}", v1("c/other")))
        .send_expect(401);

    let path = v1("c/o");
    let msg = format!("GET\n{exp}\n{path}");
    let raw512 = hex::decode(hmac_hex::<Hmac<sha2::Sha512>>(KEY, &msg)).unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw512);
    let sha1 = hmac_hex::<Hmac<sha1::Sha1>>(KEY, &msg);
    for sig in [format!("sha512:{b64}"), sha1] {
        let r = s
            .anon(
                "GET",
                &format!("{path}?temp_url_sig={sig}&temp_url_expires={exp}"),
            )
            .send();
        assert_eq!(r.status, 200, "{sig}: {r:?}");
    }
    // The same expiry in ISO 8601 form.
    let secs = exp as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let iso = {
        // Civil date from days since the epoch.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    };
    let sig = sig256(KEY, "GET", exp, &path);
    let r = s
        .anon(
            "GET",
            &format!("{path}?temp_url_sig={sig}&temp_url_expires={iso}"),
        )
        .send();
    assert_eq!(r.status, 200, "{iso}: {r:?}");

    // An IP range is signed too and must hold the client.
    for (range, want) in [
        ("127.0.0.1", 200),
        ("127.0.0.0/8", 200),
        ("10.0.0.0/8", 401),
    ] {
        let sig = hmac_hex::<Hmac<sha2::Sha256>>(KEY, &format!("ip={range}\n{msg}"));
        let r = s
            .anon(
                "GET",
                &format!(
                    "{path}?temp_url_sig={sig}&temp_url_expires={exp}&temp_url_ip_range={range}"
                ),
            )
            .send();
        assert_eq!(r.status, want, "{range}: {r:?}");
    }
}

#[test]
fn container_root_and_info() {
    let s = setup();
    let exp = now() + 600;
    let sig = sig256(KEY, "GET", exp, &format!("prefix:{}/", v1("c")));
    let q = format!("temp_url_sig={sig}&temp_url_expires={exp}&temp_url_prefix=");
    // No static web site there: a container listing is not for temp URLs.
    s.anon("GET", &format!("{}/?{q}", v1("c"))).send_expect(401);
    let info = s.anon("GET", "/info").send().json();
    let t = &info["tempurl"];
    assert_eq!(
        t["methods"],
        serde_json::json!(["GET", "HEAD", "PUT", "POST", "DELETE"])
    );
    assert_eq!(
        t["allowed_digests"],
        serde_json::json!(["sha1", "sha256", "sha512"])
    );
}
