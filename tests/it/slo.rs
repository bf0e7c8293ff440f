//! Static large objects over HTTP: manifest upload and its checks, the
//! assembled GET (ranges, nested manifests, inline data), the manifest
//! itself, multipart delete, copies, listings.

use crate::common;

use common::*;
use serde_json::{json, Value};

/// Segments `s/a`, `s/b`, `s/c`: "012", "3456", "789AB"; returns their JSON
/// descriptions.
fn segments(s: &Server) -> Vec<Value> {
    s.put_container("s");
    s.put_container("m");
    [("a", b"012".as_slice()), ("b", b"3456"), ("c", b"789AB")]
        .iter()
        .map(|(n, d)| {
            s.put_object(&format!("s/{n}"), d);
            json!({"path": format!("/s/{n}"), "etag": md5_hex(d), "size_bytes": d.len()})
        })
        .collect()
}

fn put_manifest(s: &Server, path: &str, manifest: &Value) -> Resp {
    s.req("PUT", &format!("{}?multipart-manifest=put", v1(path)))
        .body(manifest.to_string().as_bytes())
        .send()
}

fn slo_etag(parts: &[&[u8]]) -> String {
    let etags: String = parts.iter().map(|p| md5_hex(p)).collect();
    md5_hex(etags.as_bytes())
}

#[test]
fn upload_then_get_serves_the_concatenation() {
    let s = Server::start();
    let segs = segments(&s);
    let r = put_manifest(&s, "m/big", &json!(segs));
    assert_eq!(r.status, 201, "{r:?}");
    let etag = slo_etag(&[b"012", b"3456", b"789AB"]);
    assert_eq!(r.header("etag"), Some(format!("\"{etag}\"").as_str()));

    let g = s.get("m/big");
    assert_eq!(g.status, 200);
    assert_eq!(g.body, b"0123456789AB");
    assert_eq!(g.header("x-static-large-object"), Some("True"));
    assert_eq!(g.header("etag"), Some(format!("\"{etag}\"").as_str()));

    let h = s.req("HEAD", &v1("m/big")).send();
    assert_eq!(h.header("content-length"), Some("12"));
    assert_eq!(h.header("content-type"), Some("application/octet-stream"));
    assert_eq!(h.header("etag"), Some(format!("\"{etag}\"").as_str()));

    // On disk: the manifest in Swift's stored form, marked as a manifest.
    let path = s.cont_dir("m").join("big");
    let stored: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(stored[1]["name"], "/s/b");
    assert_eq!(stored[1]["bytes"], 4);
    assert_eq!(stored[1]["hash"], md5_hex(b"3456"));
    let m = swift_meta(&path).unwrap();
    assert_eq!(
        meta_str(&m, "X-Static-Large-Object").as_deref(),
        Some("True")
    );
    assert_eq!(
        meta_str(&m, "Content-Type").as_deref(),
        Some("application/octet-stream;swift_bytes=12")
    );

    // If-None-Match / If-Match compare the large object's ETag.
    s.req("GET", &v1("m/big"))
        .header("If-None-Match", &format!("\"{etag}\""))
        .send_expect(304);
    s.req("GET", &v1("m/big"))
        .header("If-Match", "\"nope\"")
        .send_expect(412);
}

#[test]
fn ranges_cross_segment_boundaries() {
    let s = Server::start();
    let segs = segments(&s);
    assert_eq!(put_manifest(&s, "m/big", &json!(segs)).status, 201);
    let r = s
        .req("GET", &v1("m/big"))
        .header("Range", "bytes=2-7")
        .send_expect(206);
    assert_eq!(r.body, b"234567");
    assert_eq!(r.header("content-range"), Some("bytes 2-7/12"));

    let r = s
        .req("GET", &v1("m/big"))
        .header("Range", "bytes=-3")
        .send();
    assert_eq!(r.body, b"9AB");

    let r = s
        .req("GET", &v1("m/big"))
        .header("Range", "bytes=0-0,6-8")
        .send_expect(206);
    let text = r.text();
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("multipart/byteranges"));
    assert!(
        text.contains("Content-Range: bytes 0-0/12\r\n\r\n0\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Content-Range: bytes 6-8/12\r\n\r\n678\r\n"),
        "{text}"
    );

    // part-number serves one top-level segment.
    let r = s.get("m/big?part-number=2");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, b"3456");
    assert_eq!(r.header("x-parts-count"), Some("3"));
    assert_eq!(s.get("m/big?part-number=4").status, 416);
    assert_eq!(s.get("m/big?part-number=0").status, 400);
}

#[test]
fn nested_ranged_and_inline_segments() {
    let s = Server::start();
    let segs = segments(&s);
    assert_eq!(put_manifest(&s, "m/inner", &json!(segs)).status, 201);
    let outer = json!([
        {"data": "UFJF"},                             // "PRE"
        {"path": "/m/inner", "range": "2-8"},        // "2345678"
        {"path": "s/a"},
        {"path": "/m/inner"},
    ]);
    let r = put_manifest(&s, "m/outer", &outer);
    assert_eq!(r.status, 201, "{r:?}");
    let g = s.get("m/outer");
    assert_eq!(g.text(), "PRE23456780120123456789AB");
    let r = s
        .req("GET", &v1("m/outer"))
        .header("Range", "bytes=1-5")
        .send();
    assert_eq!(r.text(), "RE234");

    // Listings show the large object's length and both ETags.
    let l = s.get("m?format=json").json();
    let row = l
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "inner")
        .unwrap();
    assert_eq!(row["bytes"], 12);
    assert_eq!(row["content_type"], "application/octet-stream");
    let stored = std::fs::read(s.cont_dir("m").join("inner")).unwrap();
    assert_eq!(row["hash"], md5_hex(&stored));
    assert_eq!(
        row["slo_etag"],
        format!("\"{}\"", slo_etag(&[b"012", b"3456", b"789AB"]))
    );
}

#[test]
fn bad_manifests_are_refused_and_write_nothing() {
    let s = Server::start();
    let segs = segments(&s);
    let before = snapshot(s.device());
    let cases = [
        (json!("not a list"), "Manifest must be a list.\n"),
        (
            json!([{"path": "/s/a", "teag": "x"}, {"path": "nocontainer"}]),
            "Index 0: extraneous keys \"teag\"\nIndex 1: path does not refer to an object. Path must be of the form /container/object.\n",
        ),
        (json!([{"data": "UFJF"}]), "Inline data segments require at least one object-backed segment.\n"),
        (json!([{"path": "/m/self"}]), "Index 0: manifest must not include itself as a segment\n"),
    ];
    for (body, want) in cases {
        let r = put_manifest(&s, "m/self", &body);
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.text(), want);
    }
    // Segment checks: each problem named with its segment.
    let mut wrong = segs.clone();
    wrong[0]["etag"] = json!("0123");
    wrong[1]["size_bytes"] = json!(99);
    wrong.push(json!({"path": "/s/missing"}));
    let r = put_manifest(&s, "m/x", &json!(wrong));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "Errors:\n/s/a, Etag Mismatch\n/s/b, Size Mismatch\n/s/missing, 404 Not Found\n"
    );
    // The client's ETag must be that of the large object.
    s.req("PUT", &format!("{}?multipart-manifest=put", v1("m/x")))
        .header("Etag", "00000000000000000000000000000000")
        .body(json!(segs).to_string().as_bytes())
        .send_expect(422);
    // A plain PUT cannot claim to be a manifest.
    s.req("PUT", &v1("m/x"))
        .header("X-Static-Large-Object", "True")
        .body(b"[]")
        .send_expect(400);
    assert_eq!(snapshot(s.device()), before);
}

#[test]
fn multipart_delete_removes_segments_and_manifest() {
    let s = Server::start();
    let segs = segments(&s);
    assert_eq!(put_manifest(&s, "m/big", &json!(segs)).status, 201);
    assert_eq!(put_manifest(&s, "m/two", &json!(segs)).status, 201);

    // A plain DELETE removes the manifest only.
    s.req("DELETE", &v1("m/two")).send_expect(204);
    assert_eq!(s.get("s/a").status, 200);

    let r = s
        .req(
            "DELETE",
            &format!("{}?multipart-manifest=delete", v1("m/big")),
        )
        .header("Accept", "application/json")
        .send_expect(200);
    let j = r.json();
    assert_eq!(j["Number Deleted"], 4);
    assert_eq!(j["Response Status"], "200 OK");
    for p in ["m/big", "s/a", "s/b", "s/c"] {
        assert_eq!(s.get(p).status, 404, "{p}");
    }
    // Again: nothing left to delete.
    let r = s
        .req(
            "DELETE",
            &format!("{}?multipart-manifest=delete", v1("m/big")),
        )
        .send();
    assert!(r.text().contains("Number Not Found: 1"), "{}", r.text());
}

#[test]
fn manifest_get_returns_the_stored_and_raw_forms() {
    let s = Server::start();
    let segs = segments(&s);
    let short = json!([{"path": "/s/a"}, {"path": "/s/c", "range": "1-2"}]);
    assert_eq!(put_manifest(&s, "m/big", &short).status, 201);
    let r = s.get("m/big?multipart-manifest=get");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let stored = std::fs::read(s.cont_dir("m").join("big")).unwrap();
    assert_eq!(r.body, stored);
    assert_eq!(r.header("etag"), Some(md5_hex(&stored).as_str()));

    let r = s.get("m/big?multipart-manifest=get&format=raw");
    let raw = r.json();
    assert_eq!(
        raw,
        json!([
            {"path": "/s/a", "etag": segs[0]["etag"], "size_bytes": 3},
            {"path": "/s/c", "etag": segs[2]["etag"], "size_bytes": 5, "range": "1-2"},
        ])
    );
    assert_eq!(r.header("etag"), Some(md5_hex(&r.body).as_str()));
    assert_eq!(s.get("m/big").text(), "01289");
}

#[test]
fn copies_take_the_content_or_the_manifest() {
    let s = Server::start();
    let segs = segments(&s);
    assert_eq!(put_manifest(&s, "m/big", &json!(segs)).status, 201);
    s.req("COPY", &v1("m/big"))
        .header("Destination", "m/flat")
        .send_expect(201);
    let r = s.get("m/flat?multipart-manifest=get");
    assert_eq!(r.body, b"0123456789AB");
    assert_eq!(r.header("x-static-large-object"), None);

    s.req("COPY", &format!("{}?multipart-manifest=get", v1("m/big")))
        .header("Destination", "m/again")
        .send_expect(201);
    assert_eq!(s.get("m/again").body, b"0123456789AB");
    assert_eq!(
        s.get("m/again?multipart-manifest=get").body,
        s.get("m/big?multipart-manifest=get").body
    );
}

#[test]
fn changed_first_segment_is_a_conflict() {
    let s = Server::start();
    let segs = segments(&s);
    assert_eq!(put_manifest(&s, "m/big", &json!(segs)).status, 201);
    s.put_object("s/a", b"xyz");
    assert_eq!(s.get("m/big").status, 409);
}

#[test]
fn heartbeat_upload_reports_at_the_end() {
    let s = Server::start();
    let segs = segments(&s);
    let r = s
        .req(
            "PUT",
            &format!("{}?multipart-manifest=put&heartbeat=on", v1("m/big")),
        )
        .header("Accept", "application/json")
        .body(json!(segs).to_string().as_bytes())
        .send_expect(202);
    let text = r.text();
    let (pad, report) = text.split_once("\r\n\r\n").unwrap();
    assert!(pad.trim().is_empty());
    let j: Value = serde_json::from_str(report).unwrap();
    assert_eq!(j["Response Status"], "201 Created");
    assert_eq!(s.get("m/big").body, b"0123456789AB");
}

#[test]
fn info_advertises_slo() {
    let s = Server::start();
    let j = s.anon("GET", "/info").send().json();
    assert_eq!(j["slo"]["max_manifest_segments"], 1000);
    assert_eq!(j["slo"]["min_segment_size"], 1);
}

#[test]
fn changed_later_segment_cuts_the_body_short() {
    use std::io::{Read, Write};
    let s = Server::start();
    s.put_container("s");
    s.put_container("m");
    let one = vec![b'1'; 100_000];
    let two = vec![b'2'; 100_000];
    s.put_object("s/one", &one);
    s.put_object("s/two", &two);
    let m = json!([{"path": "/s/one"}, {"path": "/s/two"}]);
    assert_eq!(put_manifest(&s, "m/big", &m).status, 201);
    assert_eq!(s.get("m/big").body.len(), 200_000);
    s.put_object("s/two", &vec![b'3'; 100_000]);

    let req = s.req("GET", &v1("m/big")).header("Connection", "close");
    let mut c = connect(s.addr());
    c.write_all(&req.to_bytes()).unwrap();
    // The server drops the connection: what arrived (if anything before the
    // reset) is a 200 whose body stops short and holds none of the new data.
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
        assert!(got.starts_with(b"HTTP/1.1 200"));
        let body = &got[i + 4..];
        assert!(body.len() < 200_000, "the whole body was sent");
        assert!(!body.contains(&b'3'), "changed data was served");
    }
    assert!(s.is_alive());
}

#[test]
fn a_copy_of_the_content_is_held_to_the_destination_quota() {
    let s = Server::start();
    let segs = segments(&s);
    assert_eq!(put_manifest(&s, "m/big", &Value::Array(segs)).status, 201);
    s.req("PUT", &v1("q"))
        .header("X-Container-Meta-Quota-Bytes", "5")
        .send_expect(201);
    s.req("COPY", &v1("m/big"))
        .header("Destination", "q/big")
        .send_expect(413);
    assert!(!s.cont_dir("q").join("big").exists());
    assert!(temp_files(&s.cont_dir("q")).is_empty());
}

#[test]
fn manifest_put_with_if_none_match_star_refuses_an_existing_name() {
    let s = Server::start();
    let segs = segments(&s);
    let put = |path: &str| {
        s.req("PUT", &format!("{}?multipart-manifest=put", v1(path)))
            .header("If-None-Match", "*")
            .body(json!(segs).to_string().as_bytes())
            .send()
    };
    assert_eq!(put("m/new").status, 201);
    s.put_object("m/taken", b"plain");
    let r = put("m/taken");
    assert_eq!(r.status, 412, "{r:?}");
    assert_eq!(s.get("m/taken").text(), "plain");
}
