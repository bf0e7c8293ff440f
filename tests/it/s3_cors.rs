//! CORS on the S3 door: browser preflights (no authentication) answered
//! from the bucket's `CORSConfiguration` as S3 answers them, and the CORS
//! headers of signed requests that carry `Origin`.

use crate::common;

use common::s3::{assert_s3_error, elem, S3, TESTER, TESTER2};
use common::{v1, Builder, Resp, Server};

fn put_bucket(c: &S3, b: &str) {
    let r = c.put(&format!("/{b}"), b"");
    assert_eq!(r.status, 200, "{r:?}");
}

fn put_cors(c: &S3, b: &str, rules: &str) {
    let conf = format!("<CORSConfiguration>{rules}</CORSConfiguration>");
    let r = c.send(
        "PUT",
        &format!("/{b}"),
        &[("cors", "")],
        &[],
        conf.as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
}

/// A signed request from a page of `origin`.
fn from_page(c: &S3, method: &str, path: &str, origin: &str, body: &[u8]) -> Resp {
    c.send(method, path, &[], &[("Origin", origin)], body)
}

/// Asserts a request was answered with `status` and no CORS grant.
fn served_without_cors(r: &Resp, status: u16) {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");
}

/// A browser's preflight of `method` on `path` from `origin`.
fn preflight(s: &Server, path: &str, origin: &str, method: &str, headers: &str) -> Resp {
    let mut r = s
        .anon("OPTIONS", path)
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method);
    if !headers.is_empty() {
        r = r.header("Access-Control-Request-Headers", headers);
    }
    r.send()
}

const UPLOAD_RULES: &str = "<CORSRule><AllowedOrigin>https://app.example</AllowedOrigin>\
    <AllowedMethod>PUT</AllowedMethod><AllowedMethod>POST</AllowedMethod>\
    <AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>Content-Type</AllowedHeader>\
    <AllowedHeader>authorization</AllowedHeader>\
    <ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-amz-request-id</ExposeHeader>\
    <MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>\
    <CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>\
    <AllowedMethod>HEAD</AllowedMethod></CORSRule>";

const GET_RULE: &str = "<CORSRule><AllowedOrigin>https://two.example</AllowedOrigin>\
    <AllowedMethod>GET</AllowedMethod></CORSRule>";

#[test]
fn preflight_is_granted_by_the_first_matching_rule() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    put_bucket(&c, "web");
    put_cors(&c, "web", UPLOAD_RULES);
    let r = preflight(
        &s,
        "/web/photos/a.jpg",
        "https://app.example",
        "PUT",
        "X-Amz-Date, Content-Type, Authorization, x-amz-content-sha256",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("PUT, POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("x-amz-date, content-type, authorization, x-amz-content-sha256")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("ETag, x-amz-request-id")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        r.header("vary"),
        Some("Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
    );
    assert!(r.header("x-amz-request-id").is_some(), "{r:?}");
    // The second rule lets any origin GET: `*`, without credentials.
    let r = preflight(&s, "/web/photos/a.jpg", "https://other.example", "GET", "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, HEAD"));
    assert_eq!(r.header("access-control-allow-credentials"), None);
    // The bucket itself (a listing from the browser).
    let r = preflight(&s, "/web", "https://other.example", "GET", "");
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn preflight_is_refused_when_no_rule_allows_it() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    put_bucket(&c, "web");
    put_cors(&c, "web", UPLOAD_RULES);
    let refused = |r: &Resp, method: &str, kind: &str| {
        assert_s3_error(r, 403, "AccessForbidden");
        assert!(
            elem(r, "Message")
                .unwrap()
                .starts_with("CORSResponse: This CORS request is not allowed."),
            "{r:?}"
        );
        assert_eq!(elem(r, "Method").as_deref(), Some(method));
        assert_eq!(elem(r, "ResourceType").as_deref(), Some(kind));
        assert_eq!(r.header("access-control-allow-origin"), None);
    };
    // A header no rule allows; a method the origin is not given; another
    // origin asking to write.
    let r = preflight(&s, "/web/a", "https://app.example", "PUT", "x-custom");
    refused(&r, "PUT", "OBJECT");
    let r = preflight(&s, "/web/a", "https://app.example", "DELETE", "");
    refused(&r, "DELETE", "OBJECT");
    let r = preflight(&s, "/web", "https://evil.example", "PUT", "");
    refused(&r, "PUT", "BUCKET");
    // Not a preflight S3 can evaluate.
    let r = s
        .anon("OPTIONS", "/web/a")
        .header("Access-Control-Request-Method", "GET")
        .send();
    assert_s3_error(&r, 400, "BadRequest");
    let r = preflight(&s, "/web/a", "https://app.example", "PATCH", "");
    assert_s3_error(&r, 400, "BadRequest");
    let many: Vec<String> = (0..101).map(|i| format!("x-amz-h{i}")).collect();
    let r = preflight(&s, "/web/a", "https://app.example", "PUT", &many.join(","));
    assert_s3_error(&r, 400, "BadRequest");
    let r = preflight(
        &s,
        "/web/a",
        "https://app.example",
        "PUT",
        &many[..100].join(","),
    );
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn a_wildcard_origin_matches_any_run_of_characters() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    put_bucket(&c, "fonts");
    put_cors(
        &c,
        "fonts",
        "<CORSRule><AllowedOrigin>https://*.example.com</AllowedOrigin>\
         <AllowedMethod>GET</AllowedMethod><AllowedHeader>*</AllowedHeader></CORSRule>",
    );
    for origin in ["https://www.example.com", "https://a.b.example.com"] {
        let r = preflight(&s, "/fonts/f.woff", origin, "GET", "range, if-none-match");
        assert_eq!(r.status, 200, "{origin}: {r:?}");
        assert_eq!(r.header("access-control-allow-origin"), Some(origin));
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("range, if-none-match")
        );
    }
    for origin in [
        "https://example.com",
        "http://www.example.com",
        "https://www.example.org",
    ] {
        let r = preflight(&s, "/fonts/f.woff", origin, "GET", "");
        assert_s3_error(&r, 403, "AccessForbidden");
    }
    // Kept whole: GetBucketCors shows the pattern and the header wildcard.
    let r = c.send("GET", "/fonts", &[("cors", "")], &[], b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        elem(&r, "AllowedOrigin").as_deref(),
        Some("https://*.example.com")
    );
    assert_eq!(elem(&r, "AllowedHeader").as_deref(), Some("*"));
    assert_eq!(elem(&r, "AllowedMethod").as_deref(), Some("GET"));
}

#[test]
fn a_signed_request_with_origin_gets_the_matching_rules_headers() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    put_bucket(&c, "web");
    put_cors(&c, "web", UPLOAD_RULES);
    assert_eq!(c.put("/web/a.txt", b"hello").status, 200);
    let get = |origin: &str, path: &str| from_page(&c, "GET", path, origin, b"");
    // Any origin may GET (the second rule).
    let r = get("https://other.example", "/web/a.txt");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, b"hello");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, HEAD"));
    assert!(r.header("vary").is_some_and(|v| v.starts_with("Origin")));
    // An error is readable from the page too.
    let r = get("https://other.example", "/web/missing");
    assert_s3_error(&r, 404, "NoSuchKey");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // The first rule: its origin, exposed headers and credentials.
    let r = from_page(&c, "PUT", "/web/b.txt", "https://app.example", b"x");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("ETag, x-amz-request-id")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    // No rule lets this origin DELETE: the request is served (CORS is the
    // browser's check), without CORS headers.
    let r = from_page(&c, "DELETE", "/web/b.txt", "https://evil.example", b"");
    served_without_cors(&r, 204);
}

#[test]
fn a_bucket_without_cors_refuses_preflights_and_adds_no_headers() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    put_bucket(&c, "plain");
    assert_eq!(c.put("/plain/a", b"a").status, 200);
    for path in ["/plain/a", "/nosuchbucket/a"] {
        let r = preflight(&s, path, "https://app.example", "GET", "");
        assert_s3_error(&r, 403, "AccessForbidden");
        assert_eq!(
            elem(&r, "Message").as_deref(),
            Some("CORSResponse: CORS is not enabled for this bucket."),
            "{path}"
        );
    }
    let r = from_page(&c, "GET", "/plain/a", "https://app.example", b"");
    served_without_cors(&r, 200);
    // Swift's paths stay Swift's: its preflight answers, not S3 XML.
    let r = preflight(&s, &v1("plain/a"), "https://app.example", "GET", "");
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.header("x-amz-request-id"), None);
    let r = s.anon("OPTIONS", "/info").send();
    assert_eq!(r.header("x-amz-request-id"), None, "{r:?}");
}

#[test]
fn a_preflight_finds_the_bucket_in_whichever_account_has_it() {
    let s = Server::start();
    let (c1, c2) = (S3::new(&s, TESTER), S3::new(&s, TESTER2));
    // `shared` in two accounts; only test2's has CORS rules. The account
    // test2 is made after a preflight listed the accounts.
    put_bucket(&c1, "shared");
    let r = preflight(&s, "/shared/x", "https://two.example", "GET", "");
    assert_s3_error(&r, 403, "AccessForbidden");
    put_bucket(&c2, "shared");
    put_cors(&c2, "shared", GET_RULE);
    let r = preflight(&s, "/shared/x", "https://two.example", "GET", "");
    assert_eq!(r.status, 200, "{r:?}");
    // A signed request follows its own account's bucket only.
    assert_eq!(c1.put("/shared/x", b"1").status, 200);
    let r = from_page(&c1, "GET", "/shared/x", "https://two.example", b"");
    served_without_cors(&r, 200);
}

#[test]
fn cors_set_through_swift_answers_s3_preflights() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    put_bucket(&c, "both");
    let post = |origins: &str| {
        s.req("POST", &v1("both"))
            .header("X-Container-Meta-Access-Control-Allow-Origin", origins)
            .send_expect(204);
    };
    // Swift's CORS: the origins, every method, any request header.
    post("https://swift.example");
    let r = preflight(
        &s,
        "/both/o",
        "https://swift.example",
        "DELETE",
        "x-anything",
    );
    assert_eq!(r.status, 200, "{r:?}");
    // S3 rules, then a Swift POST that changes the origins: Swift's
    // metadata is the bucket's CORS again.
    put_cors(
        &c,
        "both",
        "<CORSRule><AllowedOrigin>https://s3.example</AllowedOrigin>\
         <AllowedMethod>GET</AllowedMethod></CORSRule>",
    );
    let r = preflight(&s, "/both/o", "https://s3.example", "DELETE", "");
    assert_s3_error(&r, 403, "AccessForbidden");
    post("https://swift.example");
    let r = preflight(&s, "/both/o", "https://swift.example", "DELETE", "");
    assert_eq!(r.status, 200, "{r:?}");
    let r = c.send("GET", "/both", &[("cors", "")], &[], b"");
    assert_eq!(
        elem(&r, "AllowedOrigin").as_deref(),
        Some("https://swift.example")
    );
    // DeleteBucketCors ends both.
    let r = c.send("DELETE", "/both", &[("cors", "")], &[], b"");
    assert_eq!(r.status, 204, "{r:?}");
    let r = preflight(&s, "/both/o", "https://swift.example", "GET", "");
    assert_s3_error(&r, 403, "AccessForbidden");
}

/// Swift's CORS suite (test/cors, its S3 tests): on a container whose
/// CORS is Swift's, a signed S3 request from a page can read what Swift's
/// s3api exposes there, the object's metadata and S3's request ids among
/// them; an S3 configuration's rule exposes its own headers only (above).
#[test]
fn cors_set_through_swift_exposes_what_swift_s3api_exposes() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    s.req("PUT", &v1("swifty"))
        .header("X-Container-Meta-Access-Control-Allow-Origin", "*")
        .header("X-Container-Meta-Access-Control-Expose-Headers", "x-extra")
        .send_expect(201);
    let r = s
        .req("PUT", &v1("swifty/obj"))
        .header("X-Object-Meta-Mtime", "123")
        .body(&[0; 1024])
        .send();
    assert_eq!(r.status, 201, "{r:?}");
    let r = from_page(&c, "GET", "/swifty/obj", "http://localhost:8000", b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let exposed: Vec<String> = r
        .header("access-control-expose-headers")
        .unwrap_or("")
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    for h in [
        "etag",
        "last-modified",
        "content-type",
        "x-amz-meta-mtime",
        "x-extra",
        "x-amz-request-id",
        "x-amz-id-2",
        "x-trans-id",
        "x-openstack-request-id",
    ] {
        assert!(exposed.iter().any(|e| e == h), "{h} not in {exposed:?}");
    }
    // What Swift's s3api keeps from the page.
    for h in [
        "accept-ranges",
        "content-range",
        "date",
        "x-object-meta-mtime",
    ] {
        assert!(!exposed.iter().any(|e| e == h), "{h} in {exposed:?}");
    }
}

/// A server that caches no container metadata nor account list, so what a
/// test changes on the device is seen at once.
fn uncached() -> Server {
    Builder::new().storage("usage_cache_secs = 0").start()
}

#[test]
fn a_preflight_looks_in_at_most_a_thousand_accounts() {
    let s = uncached();
    let (c1, c2) = (S3::new(&s, TESTER), S3::new(&s, TESTER2));
    put_bucket(&c1, "first");
    put_bucket(&c2, "far");
    put_cors(&c2, "far", GET_RULE);
    // Accounts that sort before AUTH_test2: with AUTH_test it is the
    // thousandth, then the thousand-and-first.
    for i in 0..998 {
        std::fs::create_dir(s.device().join(format!("AUTH_a{i:04}"))).unwrap();
    }
    let r = preflight(&s, "/far/x", "https://two.example", "GET", "");
    assert_eq!(r.status, 200, "{r:?}");
    std::fs::create_dir(s.device().join("AUTH_a9999")).unwrap();
    let r = preflight(&s, "/far/x", "https://two.example", "GET", "");
    assert_s3_error(&r, 403, "AccessForbidden");
}

#[test]
fn a_preflight_follows_no_symlink_out_of_the_device() {
    let s = uncached();
    let c2 = S3::new(&s, TESTER2);
    put_bucket(&c2, "away");
    put_cors(&c2, "away", GET_RULE);
    assert_eq!(
        preflight(&s, "/away/x", "https://two.example", "GET", "").status,
        200
    );
    // The account moves off the device; a symlink in the device points
    // to it.
    let outside = tempfile::tempdir().unwrap();
    let moved = outside.path().join("AUTH_test2");
    std::fs::rename(s.device().join("AUTH_test2"), &moved).unwrap();
    std::os::unix::fs::symlink(&moved, s.device().join("AUTH_test2")).unwrap();
    let r = preflight(&s, "/away/x", "https://two.example", "GET", "");
    assert_s3_error(&r, 403, "AccessForbidden");
    // Names that could climb out are not buckets.
    for path in ["/../x", "/%2e%2e/x", "/..%2fAUTH_test2%2faway/x"] {
        let r = preflight(&s, path, "https://two.example", "GET", "");
        assert_ne!(r.status, 200, "{path}: {r:?}");
        assert_eq!(r.header("access-control-allow-origin"), None, "{path}");
    }
}

#[test]
fn a_refused_configuration_changes_nothing() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    put_bucket(&c, "keep");
    put_cors(&c, "keep", UPLOAD_RULES);
    let before = c.send("GET", "/keep", &[("cors", "")], &[], b"");
    assert_eq!(before.status, 200, "{before:?}");
    let swift_origin = || {
        let r = s.req("HEAD", &v1("keep")).send();
        r.header("x-container-meta-access-control-allow-origin")
            .map(str::to_string)
    };
    let origin_before = swift_origin();
    let rule = |o: &str| {
        format!(
            "<CORSRule><AllowedOrigin>{o}</AllowedOrigin><AllowedMethod>GET</AllowedMethod>\
             </CORSRule>"
        )
    };
    let conf = |rules: &str| format!("<CORSConfiguration>{rules}</CORSConfiguration>");
    let many_origins: String = (0..30)
        .map(|i| rule(&format!("https://host{i}.example")))
        .collect();
    let hostile = [
        ("MalformedXML", "<CORSConfiguration><CORSRule>".to_string()),
        ("MalformedXML", conf(&rule("*").repeat(101))),
        (
            "MalformedXML",
            "<!DOCTYPE c [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>".to_string()
                + &conf(&rule("&e;")),
        ),
        ("InvalidRequest", conf(&rule("https://*.*.example"))),
        // Their origins are more than Swift's metadata holds.
        ("InvalidRequest", conf(&many_origins)),
        (
            "MalformedXML",
            conf(&rule("*").replace(
                "</CORSRule>",
                "<MaxAgeSeconds>-1</MaxAgeSeconds></CORSRule>",
            )),
        ),
    ];
    for (code, body) in hostile {
        let r = c.send("PUT", "/keep", &[("cors", "")], &[], body.as_bytes());
        assert_s3_error(&r, 400, code);
        let now = c.send("GET", "/keep", &[("cors", "")], &[], b"");
        assert_eq!(now.body, before.body, "{body}");
        assert_eq!(swift_origin(), origin_before, "{body}");
    }
    let r = preflight(&s, "/keep/a", "https://app.example", "PUT", "content-type");
    assert_eq!(r.status, 200, "{r:?}");
}
