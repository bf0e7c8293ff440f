//! Static web sites: index files, generated listings, redirects of
//! directories to their slash, error pages, web mode for token holders,
//! and listings reached through a temp URL.

use crate::common;

use common::*;
use hmac::{Hmac, Mac};

/// A public site in `site`: index `index.html`, objects `index.html`,
/// `style.css`, marker `docs` with `docs/a.txt` and marker `docs/deep`
/// with `docs/deep/b.txt`; `404err.html` as the 404 page.
fn setup() -> Server {
    let s = Server::start();
    s.req("PUT", &v1("site"))
        .header("X-Container-Read", ".r:*,.rlistings")
        .header("X-Container-Meta-Web-Index", "index.html")
        .header("X-Container-Meta-Web-Error", "err.html")
        .send_expect(201);
    for (name, data) in [
        ("site/index.html", &b"<p>home</p>"[..]),
        ("site/style.css", b"body {}"),
        ("site/404err.html", b"<p>no such page</p>"),
        ("site/docs/a.txt", b"aaa"),
        ("site/docs/deep/b.txt", b"bbb"),
    ] {
        s.put_object(name, data);
    }
    for m in ["site/docs", "site/docs/deep"] {
        s.req("PUT", &v1(m))
            .header("Content-Type", "application/directory")
            .body(b"")
            .send_expect(201);
    }
    s
}

fn web(s: &Server, key: &str, value: &str) {
    s.req("POST", &v1("site"))
        .header(key, value)
        .send_expect(204);
}

#[test]
fn index_redirect_and_objects_for_anonymous_clients() {
    let s = setup();
    let host = s.addr().to_string();
    let r = s
        .anon("GET", &v1("site"))
        .header("Host", &host)
        .send_expect(301);
    assert_eq!(
        r.header("location"),
        Some(format!("http://{host}{}/", v1("site")).as_str())
    );
    let r = s.anon("GET", &format!("{}/", v1("site"))).send_expect(200);
    assert_eq!(r.body, b"<p>home</p>");
    let r = s.anon("GET", &v1("site/style.css")).send();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"body {}"[..]));
    // A missing page is the error page, with its 404.
    let r = s.anon("GET", &v1("site/nope.html")).send_expect(404);
    assert_eq!(r.body, b"<p>no such page</p>");
    // A directory without index or listings is a 404 (listings are off).
    s.anon("GET", &v1("site/docs/")).send_expect(404);
    // A token holder gets the API, unless in web mode.
    let r = s.req("GET", &v1("site")).send_expect(200);
    assert!(r.text().contains("index.html\n"), "{r:?}");
    s.req("GET", &v1("site"))
        .header("X-Web-Mode", "true")
        .send_expect(301);
}

#[test]
fn listings_link_entries_and_climb_to_the_css() {
    let s = setup();
    web(&s, "X-Remove-Container-Meta-Web-Index", "x");
    web(&s, "X-Container-Meta-Web-Listings", "true");
    web(&s, "X-Container-Meta-Web-Listings-CSS", "style.css");
    let r = s.anon("GET", &format!("{}/", v1("site"))).send_expect(200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=UTF-8"));
    let t = r.text();
    assert!(t.contains(&format!("Listing of {}/", v1("site"))), "{t}");
    assert!(
        t.contains("<a href=\"./index%2Ehtml\">index.html</a>"),
        "{t}"
    );
    assert!(t.contains("<a href=\"./docs/\">docs/</a>"), "{t}");
    assert!(t.contains("href=\"style.css\""), "{t}");
    assert!(!t.contains("a.txt"), "{t}");
    assert!(!t.contains("href=\"../\""), "{t}");

    // A marker directory without its slash redirects; with it, lists.
    let r = s.anon("GET", &v1("site/docs")).send_expect(301);
    assert!(r.header("location").unwrap().ends_with("/site/docs/"));
    let r = s.anon("GET", &v1("site/docs/")).send_expect(200);
    let t = r.text();
    assert!(t.contains("<a href=\"./a%2Etxt\">a.txt</a>"), "{t}");
    assert!(t.contains("<a href=\"./deep/\">deep/</a>"), "{t}");
    assert!(t.contains("<a href=\"../\">../</a>"), "{t}");
    assert!(t.contains("href=\"../style.css\""), "{t}");
    assert!(!t.contains("b.txt"), "{t}");
    // Nothing there: 404 (the error page), no redirect.
    let r = s.anon("GET", &v1("site/nodir")).send();
    assert_eq!(
        (r.status, r.body.as_slice()),
        (404, &b"<p>no such page</p>"[..])
    );
    s.anon("GET", &v1("site/nodir/")).send_expect(404);
    // HEAD: the headers of the listing, no body.
    let r = s.anon("HEAD", &v1("site/docs/")).send_expect(200);
    assert!(r.body.is_empty());

    // Listings need .rlistings for anonymous clients.
    s.req("POST", &v1("site"))
        .header("X-Container-Read", ".r:*")
        .send_expect(204);
    s.anon("GET", &format!("{}/", v1("site"))).send_expect(401);
}

#[test]
fn private_containers_stay_private() {
    let s = setup();
    s.req("POST", &v1("site"))
        .header("X-Remove-Container-Read", "x")
        .send_expect(204);
    for p in [
        format!("{}/", v1("site")),
        v1("site/index.html"),
        v1("site/docs/"),
    ] {
        let r = s.anon("GET", &p).send();
        assert_eq!(r.status, 401, "{p}: {r:?}");
    }
    // Web mode without a site: the container is no web site (404).
    s.put_container("plain");
    s.req("GET", &v1("plain"))
        .header("X-Web-Mode", "yes")
        .send_expect(404);
}

#[test]
fn custom_directory_type() {
    let s = setup();
    web(&s, "X-Container-Meta-Web-Listings", "on");
    web(&s, "X-Container-Meta-Web-Directory-Type", "text/directory");
    s.req("PUT", &v1("site/pages"))
        .header("Content-Type", "text/directory")
        .body(b"")
        .send_expect(201);
    // The empty text/directory object reads as missing (the error page) ...
    let r = s.anon("GET", &v1("site/pages")).send();
    assert_eq!(
        (r.status, r.body.as_slice()),
        (404, &b"<p>no such page</p>"[..])
    );
    // ... while an application/directory marker is now a plain object.
    let r = s.anon("GET", &v1("site/docs")).send_expect(200);
    assert_eq!(r.header("content-type"), Some("application/directory"));
}

#[test]
fn temp_url_listings_carry_the_signature() {
    let s = setup();
    web(&s, "X-Remove-Container-Meta-Web-Index", "x");
    web(&s, "X-Container-Meta-Web-Listings", "true");
    s.req("POST", &v1("site"))
        .header("X-Remove-Container-Read", "x")
        .header("X-Container-Meta-Temp-URL-Key", "k")
        .send_expect(204);
    let exp = now() + 600;
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(b"k").unwrap();
    m.update(format!("GET\n{exp}\nprefix:{}/", v1("site")).as_bytes());
    let sig = hex::encode(m.finalize().into_bytes());
    let q = format!("temp_url_prefix=&temp_url_expires={exp}&temp_url_sig={sig}");
    let r = s
        .anon("GET", &format!("{}/docs/?{q}", v1("site")))
        .send_expect(200);
    assert_eq!(r.header("content-disposition"), Some("inline"));
    let t = r.text();
    let qs = q.replace('&', "&amp;");
    assert!(
        t.contains(&format!("<a href=\"./a%2Etxt?{qs}\">a.txt</a>")),
        "{t}"
    );
    assert!(t.contains(&format!("<a href=\"../?{qs}\">")), "{t}");
    // The link works.
    let r = s
        .anon("GET", &format!("{}/docs/a.txt?{q}", v1("site")))
        .send();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"aaa"[..]));
    // Without the signature: 401.
    s.anon("GET", &v1("site/docs/")).send_expect(401);
    assert!(s.anon("GET", "/info").send().json()["staticweb"].is_object());
}
