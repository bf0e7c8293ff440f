//! Quoted ETags (Swift's etag_quoter): `X-Container-Rfc-Compliant-Etags`
//! and `X-Account-Rfc-Compliant-Etags` (container first), else
//! `[etag_quoter] enable_by_default`.

use crate::common;

use common::*;

fn etag_of(s: &Server, method: &str, path: &str) -> String {
    let r = s.req(method, &v1(path)).send();
    assert!(r.status < 300, "{r:?}");
    r.header("etag").unwrap().to_string()
}

fn post(s: &Server, path: &str, header: &str, value: &str) {
    s.req("POST", &v1(path))
        .header(header, value)
        .send_expect(204);
}

const CONT: &str = "X-Container-Rfc-Compliant-Etags";
const ACCT: &str = "X-Account-Rfc-Compliant-Etags";

#[test]
fn container_then_account_settings_quote_object_etags() {
    let s = Server::start();
    let info = s.anon("GET", "/info").send().json();
    assert_eq!(info["etag_quoter"]["enable_by_default"], false, "{info}");
    s.put_container("c");
    s.put_object("c/o", b"test");
    let md5 = md5_hex(b"test");
    let quoted = format!("\"{md5}\"");
    assert_eq!(etag_of(&s, "HEAD", "c/o"), md5);

    post(&s, "c", CONT, "t");
    assert_eq!(
        s.req("HEAD", &v1("c")).send().header(&CONT.to_lowercase()),
        Some("True")
    );
    assert_eq!(etag_of(&s, "HEAD", "c/o"), quoted);
    assert_eq!(etag_of(&s, "GET", "c/o"), quoted);
    let r = s.put_object("c/p", b"test");
    assert_eq!(r.header("etag"), Some(quoted.as_str()));
    // Listings keep the bare hash.
    let l = s.get("c?format=json").json();
    assert_eq!(l[0]["hash"], md5.as_str());

    post(&s, "", ACCT, "t");
    assert_eq!(
        s.req("HEAD", &v1("")).send().header(&ACCT.to_lowercase()),
        Some("True")
    );
    // Unset on the container: the account's applies.
    post(&s, "c", CONT, "");
    assert!(s
        .req("HEAD", &v1("c"))
        .send()
        .header(&CONT.to_lowercase())
        .is_none());
    assert_eq!(etag_of(&s, "HEAD", "c/o"), quoted);
    // The container's wins.
    post(&s, "c", CONT, "f");
    assert_eq!(etag_of(&s, "HEAD", "c/o"), md5);
    s.req("POST", &v1("c"))
        .header("X-Remove-Container-Rfc-Compliant-Etags", "x")
        .send_expect(204);
    assert_eq!(etag_of(&s, "HEAD", "c/o"), quoted);
    post(&s, "", ACCT, "");
    assert_eq!(etag_of(&s, "HEAD", "c/o"), md5);
}

#[test]
fn enabled_by_default_and_already_quoted_etags() {
    let s = Builder::new()
        .toml("[etag_quoter]\nenable_by_default = true")
        .start();
    let info = s.anon("GET", "/info").send().json();
    assert_eq!(info["etag_quoter"]["enable_by_default"], true, "{info}");
    s.put_container("c");
    s.put_object("c/seg", b"abc");
    s.req("PUT", &format!("{}?multipart-manifest=put", v1("c/m")))
        .body(br#"[{"path":"/c/seg"}]"#)
        .send_expect(201);
    assert_eq!(
        etag_of(&s, "HEAD", "c/seg"),
        format!("\"{}\"", md5_hex(b"abc"))
    );
    // A large object's ETag is quoted already: not twice.
    let e = etag_of(&s, "GET", "c/m");
    assert!(e.starts_with('"') && !e.starts_with("\"\""), "{e}");
    // A container turns it off.
    s.req("PUT", &v1("d"))
        .header(CONT, "false")
        .send_expect(201);
    s.put_object("d/o", b"abc");
    assert_eq!(etag_of(&s, "HEAD", "d/o"), md5_hex(b"abc"));
    // So can the account, for containers that do not say.
    post(&s, "", ACCT, "no");
    assert_eq!(etag_of(&s, "HEAD", "c/seg"), md5_hex(b"abc"));
}
