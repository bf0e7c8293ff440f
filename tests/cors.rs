//! CORS over HTTP: preflights answered from the container's rules without a
//! token, and CORS headers on real requests only for allowed origins.

mod common;

use common::*;

fn setup(allow: &str) -> Server {
    let s = Server::start();
    let r = s
        .req("PUT", &v1("web"))
        .header("X-Container-Meta-Access-Control-Allow-Origin", allow)
        .header("X-Container-Meta-Access-Control-Max-Age", "600")
        .header("X-Container-Meta-Access-Control-Expose-Headers", "x-custom")
        .send();
    assert_eq!(r.status, 201);
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
    let r = s
        .anon("OPTIONS", &v1("web/page"))
        .header("Origin", "http://a.example")
        .send();
    assert_eq!(r.status, 401);
    // Without Origin it is a plain OPTIONS: the allowed methods.
    let r = s.anon("OPTIONS", &v1("web/page")).send();
    assert_eq!(r.status, 200);
    assert!(r.header("allow").unwrap().contains("GET"));
}

#[test]
fn real_requests_get_cors_headers_only_for_allowed_origins() {
    let s = setup("http://a.example");
    let r = s
        .req("GET", &v1("web/page"))
        .header("Origin", "http://a.example")
        .send();
    assert_eq!(r.status, 200);
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
        .send();
    assert_eq!(r.status, 200);
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
