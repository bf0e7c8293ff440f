//! CORS over HTTP: preflights answered from the container's rules without a
//! token, and CORS headers on real requests only for allowed origins.

use crate::common;

use common::*;

fn setup(allow: &str) -> Server {
    let s = Server::start();
    s.req("PUT", &v1("web"))
        .header("X-Container-Meta-Access-Control-Allow-Origin", allow)
        .header("X-Container-Meta-Access-Control-Max-Age", "600")
        .header("X-Container-Meta-Access-Control-Expose-Headers", "x-custom")
        .send_expect(201);
    s.req("PUT", &v1("web/page"))
        .header("X-Object-Meta-Color", "red")
        .body(b"hello")
        .send();
    s
}

fn preflight(s: &Server, origin: &str, method: &str) -> Resp {
    s.anon("OPTIONS", &v1("web/page"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", "x-auth-token")
        .send()
}

#[test]
fn preflight_follows_the_container_rules_without_a_token() {
    let s = setup("http://a.example http://b.example");
    let r = preflight(&s, "http://b.example", "PUT");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://b.example")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("x-auth-token")
    );
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("PUT"));
    // Unknown origin, unknown method, or no method: 401.
    assert_eq!(preflight(&s, "http://evil.example", "GET").status, 401);
    assert_eq!(preflight(&s, "http://a.example", "BREW").status, 401);
    s.anon("OPTIONS", &v1("web/page"))
        .header("Origin", "http://a.example")
        .send_expect(401);
    // Without Origin it is a plain OPTIONS: the allowed methods.
    let r = s.anon("OPTIONS", &v1("web/page")).send_expect(200);
    assert!(r.header("allow").unwrap().contains("GET"));
}

#[test]
fn real_requests_get_cors_headers_only_for_allowed_origins() {
    let s = setup("http://a.example");
    let r = s
        .req("GET", &v1("web/page"))
        .header("Origin", "http://a.example")
        .send_expect(200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://a.example")
    );
    let exposed: Vec<&str> = r
        .header("access-control-expose-headers")
        .unwrap()
        .split(", ")
        .collect();
    for h in ["etag", "x-object-meta-color", "x-custom", "x-trans-id"] {
        assert!(exposed.contains(&h), "{h} in {exposed:?}");
    }
    let r = s
        .req("GET", &v1("web/page"))
        .header("Origin", "http://evil.example")
        .send_expect(200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(r.header("access-control-expose-headers"), None);
    // No Origin: no CORS headers at all.
    let r = s.get("web/page");
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[test]
fn a_star_rule_answers_star() {
    let s = setup("*");
    let r = preflight(&s, "http://any.example", "GET");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let r = s
        .req("HEAD", &v1("web"))
        .header("Origin", "http://any.example")
        .send();
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn info_is_readable_from_any_origin_exposing_only_the_trans_id() {
    let s = Server::start();
    let r = s
        .anon("GET", "/info")
        .header("Origin", "http://page.example")
        .send_expect(200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://page.example")
    );
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("x-trans-id")
    );
    let r = s
        .anon("HEAD", "/info")
        .header("Origin", "http://page.example")
        .send();
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://page.example")
    );
    // Without Origin, no CORS headers; a refused method gets none either.
    let r = s.anon("GET", "/info").send();
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = s
        .anon("POST", "/info")
        .header("Origin", "http://page.example")
        .send_expect(405);
    assert_eq!(r.header("access-control-allow-origin"), None);
    // OPTIONS names the methods, but is no preflight grant.
    let r = s
        .anon("OPTIONS", "/info")
        .header("Origin", "http://page.example")
        .header("Access-Control-Request-Method", "GET")
        .send_expect(200);
    assert_eq!(r.header("allow"), Some("HEAD, GET, OPTIONS"));
    assert_eq!(r.header("access-control-allow-origin"), None);
}

/// A public container with CORS holding a DLO whose segments are in
/// `segments`, readable by anyone (`.r:*`) with `listings` or not.
fn dlo_setup(listings: bool) -> Server {
    let s = Server::start();
    let read = if listings { ".r:*,.rlistings" } else { ".r:*" };
    s.req("PUT", &v1("segments"))
        .header("X-Container-Read", read)
        .send();
    s.req("PUT", &v1("web"))
        .header("X-Container-Read", ".r:*,.rlistings")
        .header("X-Container-Meta-Access-Control-Allow-Origin", "*")
        .send();
    s.put_object("segments/part1", b"abc");
    s.put_object("segments/part2", b"def");
    s.req("PUT", &v1("web/big"))
        .header("X-Object-Manifest", "segments/part")
        .send_expect(201);
    s
}

#[test]
fn dlo_segments_must_be_listable_by_the_caller() {
    let s = dlo_setup(false);
    // Each segment is public, but the listing is not.
    s.anon("GET", &v1("segments/part1")).send_expect(200);
    s.anon("GET", &v1("web/big")).send_expect(401);
    s.anon("HEAD", &v1("web/big")).send_expect(401);
    assert_eq!(s.get("web/big").text(), "abcdef");
    let s = dlo_setup(true);
    let r = s.anon("GET", &v1("web/big")).send();
    assert_eq!((r.status, r.text().as_str()), (200, "abcdef"));
}

#[test]
fn a_dlo_listing_error_follows_the_segment_container_cors_rules() {
    let s = dlo_setup(false);
    // The manifest's container allows any origin; the segment container
    // allows none: the refused listing carries no CORS headers (strict mode).
    let r = s
        .anon("GET", &v1("web/big"))
        .header("Origin", "http://page.example")
        .send_expect(401);
    assert_eq!(r.header("access-control-allow-origin"), None);
    // Once the segment container allows the origin, the error is readable.
    s.req("POST", &v1("segments"))
        .header(
            "X-Container-Meta-Access-Control-Allow-Origin",
            "http://page.example",
        )
        .send();
    let r = s
        .anon("GET", &v1("web/big"))
        .header("Origin", "http://page.example")
        .send_expect(401);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://page.example")
    );
    // A served DLO follows the manifest's container.
    let s = dlo_setup(true);
    let r = s
        .anon("GET", &v1("web/big"))
        .header("Origin", "http://page.example")
        .send_expect(200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn a_failed_if_match_is_typed_as_an_error_page() {
    let s = setup("*");
    s.anon("GET", &v1("web/page"))
        .header("If-Match", "something-else")
        .send_expect(401);
    let r = s
        .req("GET", &v1("web/page"))
        .header("If-Match", "something-else")
        .header("Origin", "http://page.example")
        .send_expect(412);
    assert_eq!(r.header("content-type"), Some("text/html; charset=UTF-8"));
    assert!(r.header("etag").is_some());
    assert_eq!(r.header("x-object-meta-color"), Some("red"));
    assert!(r.text().is_empty());
    s.req("GET", &v1("web/page"))
        .header("If-None-Match", "*")
        .send_expect(304);
}

#[test]
fn a_followed_symlink_answers_with_its_target_containers_cors_rules() {
    let s = setup("http://a.example");
    s.put_container("plain");
    s.put_object("plain/obj", b"data");
    for (link, target) in [("plain/to-web", "web/page"), ("web/to-plain", "plain/obj")] {
        s.req("PUT", &v1(link))
            .header("X-Symlink-Target", target)
            .body(b"")
            .send_expect(201);
    }
    let get = |p: &str| {
        s.req("GET", &v1(p))
            .header("Origin", "http://a.example")
            .send()
    };
    let r = get("plain/to-web");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://a.example")
    );
    let r = get("web/to-plain");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");
}
