//! Request headers and names meant to hurt: Range headers that would
//! amplify a response, expiry times that are not integers, and names that
//! XML 1.0 cannot hold. Each is answered as Swift does (or, where Swift's
//! own answer is broken, with something a client can still parse).

use crate::common;

use common::*;

// --- ranges -----------------------------------------------------------------

/// A server with `c/big`: 1 MiB of varying bytes.
fn with_big_object() -> (Server, Vec<u8>) {
    let s = Server::start();
    s.put_container("c");
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    s.put_object("c/big", &data);
    (s, data)
}

fn get_range(s: &Server, range: &str) -> Resp {
    s.req("GET", &v1("c/big")).header("Range", range).send()
}

#[test]
fn a_hundred_overlapping_ranges_send_the_object_once() {
    let (s, data) = with_big_object();
    let r = get_range(&s, &format!("bytes={}", vec!["0-"; 100].join(",")));
    assert_eq!(r.status, 200, "{:?}", r.headers);
    assert_eq!(r.header("content-length"), Some("1048576"));
    assert!(r.body == data, "the whole object, once");
    // Three copies of the same range overlap three times: ignored too.
    let r = get_range(&s, "bytes=0-,0-,0-");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), data.len());
}

#[test]
fn more_than_fifty_ranges_or_eight_out_of_order_are_ignored() {
    let (s, data) = with_big_object();
    let many: Vec<String> = (0..51).map(|i| format!("{0}-{0}", i * 10)).collect();
    let r = get_range(&s, &format!("bytes={}", many.join(",")));
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), data.len());
    let back: Vec<String> = (0..8).rev().map(|i| format!("{0}-{0}", i * 10)).collect();
    let r = get_range(&s, &format!("bytes={}", back.join(",")));
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), data.len());
}

#[test]
fn reasonable_multiple_ranges_are_still_served() {
    let (s, _) = with_big_object();
    // Fifty disjoint ranges, and seven out of order with two overlaps.
    let fifty: Vec<String> = (0..50).map(|i| format!("{0}-{0}", i * 10)).collect();
    let r = get_range(&s, &format!("bytes={}", fifty.join(",")));
    assert_eq!(r.status, 206);
    let ct = r.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("multipart/byteranges"), "{ct}");
    let parts = |r: &Resp| {
        String::from_utf8_lossy(&r.body)
            .matches("Content-Range: bytes")
            .count()
    };
    assert_eq!(parts(&r), 50);
    let r = get_range(&s, "bytes=60-69,0-9,5-14,50-59,40-49,30-39,20-29");
    assert_eq!(r.status, 206);
    assert_eq!(parts(&r), 7);
}

// --- X-Delete-At / X-Delete-After -------------------------------------------

fn put_with(s: &Server, path: &str, name: &str, value: &str) -> Resp {
    s.req("PUT", &v1(path))
        .header(name, value)
        .body(b"data")
        .send()
}

#[test]
fn expiry_times_that_are_not_integers_return_400_and_store_nothing() {
    let s = Server::start();
    s.put_container("c");
    let before = snapshot(s.device());
    let future = (now() + 3600).to_string();
    let float = format!("{future}.5");
    for (name, value, msg) in [
        ("X-Delete-At", "NaN", "Non-integer X-Delete-At"),
        ("X-Delete-At", "nan", "Non-integer X-Delete-At"),
        ("X-Delete-At", "inf", "Non-integer X-Delete-At"),
        ("X-Delete-At", "1e300", "Non-integer X-Delete-At"),
        ("X-Delete-At", float.as_str(), "Non-integer X-Delete-At"),
        ("X-Delete-At", "", "Non-integer X-Delete-At"),
        ("X-Delete-After", "NaN", "Non-integer X-Delete-After"),
        ("X-Delete-After", "1.5", "Non-integer X-Delete-After"),
        ("X-Delete-After", "inf", "Non-integer X-Delete-After"),
        ("X-Delete-After", "0", "X-Delete-After in past"),
        ("X-Delete-After", "-1", "X-Delete-After in past"),
        ("X-Delete-At", "1", "X-Delete-At in past"),
        ("X-Delete-At", "-5", "X-Delete-At in past"),
    ] {
        let r = put_with(&s, "c/o", name, value);
        assert_eq!(r.status, 400, "{name}: {value:?}: {r:?}");
        assert_eq!(r.text(), msg, "{name}: {value:?}");
    }
    assert_eq!(snapshot(s.device()), before);
}

#[test]
fn a_post_with_a_nan_expiry_leaves_the_object_as_it_was() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/o", b"keep me");
    let before = snapshot(s.device());
    for value in ["NaN", "inf", "-inf", "1e12"] {
        let r = s
            .req("POST", &v1("c/o"))
            .header("X-Delete-At", value)
            .send();
        assert_eq!(r.status, 400, "{value}: {r:?}");
    }
    assert_eq!(snapshot(s.device()), before);
    let r = s.get("c/o");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"keep me");
    assert_eq!(r.header("x-delete-at"), None);
}

#[test]
fn expiry_times_past_ten_digits_are_clamped_as_swift_does() {
    let s = Server::start();
    s.put_container("c");
    let huge = "1".repeat(22);
    for (name, path) in [("X-Delete-At", "c/at"), ("X-Delete-After", "c/after")] {
        let r = put_with(&s, path, name, &huge);
        assert_eq!(r.status, 201, "{name}: {r:?}");
        let r = s.req("HEAD", &v1(path)).send();
        assert_eq!(r.header("x-delete-at"), Some("9999999999"), "{name}");
    }
    // Surrounding spaces and a sign are fine, as for Python's int().
    let at = (now() + 3600).to_string();
    let r = put_with(&s, "c/signed", "X-Delete-At", &format!(" +{at} "));
    assert_eq!(r.status, 201, "{r:?}");
}

// --- XML listings -------------------------------------------------------------

/// Parses an XML body with a real parser and returns the texts of every
/// `<name>` element, in order.
fn xml_names(r: &Resp) -> Vec<String> {
    let text = r.text();
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("not well-formed XML ({e}): {text:?}"));
    doc.descendants()
        .filter(|n| n.has_tag_name("name"))
        .map(|n| n.text().unwrap_or_default().to_string())
        .collect()
}

/// Names with control characters: legal in Swift, not all in XML 1.0.
const AWKWARD: [&str; 4] = ["a\u{1}b", "c\u{b}d", "tab\there", "cr\rlf\nend"];

fn pct(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn container_listing_in_xml_is_well_formed_with_control_characters_in_names() {
    let s = Server::start();
    s.put_container("x");
    for n in AWKWARD {
        s.put_object(&format!("x/{}", pct(n)), b"v");
    }
    for query in ["?format=xml", "?format=xml&delimiter=%01"] {
        let r = s.get(&format!("x{query}"));
        assert_eq!(r.status, 200, "{r:?}");
        let names = xml_names(&r);
        assert_eq!(names.len(), AWKWARD.len(), "{query}: {names:?}");
        for n in &names {
            assert!(
                !n.chars().any(|c| c < ' ' && !"\t\r\n".contains(c)),
                "{n:?}"
            );
        }
        // Tab, CR and LF are XML characters: they come back exactly; the
        // others are replaced (JSON carries them exactly).
        assert!(names.contains(&"tab\there".to_string()), "{names:?}");
        assert!(names.contains(&"cr\rlf\nend".to_string()), "{names:?}");
        assert!(names.contains(&"c\u{fffd}d".to_string()), "{names:?}");
    }
    let json = s.get("x?format=json").json();
    let exact: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert!(
        exact.contains(&"a\u{1}b") && exact.contains(&"c\u{b}d"),
        "{exact:?}"
    );
}

#[test]
fn account_listing_in_xml_is_well_formed_with_control_characters_in_names() {
    let s = Server::start();
    for n in AWKWARD {
        let r = s.req("PUT", &v1(&pct(n))).send();
        assert_eq!(r.status, 201, "{n:?}: {r:?}");
    }
    let r = s.req("GET", &v1("?format=xml")).send_expect(200);
    let names = xml_names(&r);
    assert_eq!(names.len(), AWKWARD.len(), "{names:?}");
    assert!(names.contains(&"c\u{fffd}d".to_string()), "{names:?}");
    assert!(names.contains(&"tab\there".to_string()), "{names:?}");
}
