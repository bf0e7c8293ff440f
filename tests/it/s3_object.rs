//! S3 object operations on a running sofgate (requests signed by
//! tests/common/s3.rs; buckets made through Swift): PutObject, GetObject,
//! HeadObject, DeleteObject, DeleteObjects, CopyObject, the object ACL,
//! versions, and one object seen through S3, Swift and the file system.

use crate::common;

use base64::Engine;
use common::s3::{assert_s3_error, elem, elems, S3, TESTER};
use common::{md5_hex, swift_meta, temp_files, v1, Resp, Server};

fn b64_md5(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(data))
}

fn quoted(data: &[u8]) -> String {
    format!("\"{}\"", md5_hex(data))
}

/// A server with the bucket `bkt` (made through Swift).
fn server() -> Server {
    let s = Server::start();
    s.put_container("bkt");
    s
}

fn put(s3: &S3, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    s3.send("PUT", path, &[], headers, body)
}

#[test]
fn put_stores_s3_metadata_as_swift_metadata_and_get_shows_it_back() {
    let s = server();
    let s3 = S3::new(&s, TESTER);
    let data = b"hello, three doors";
    let r = put(
        &s3,
        "/bkt/dir/obj",
        &[
            ("x-amz-meta-color", "red"),
            ("x-amz-meta-foo_bar", "u"),
            ("content-type", "text/x-test"),
            ("cache-control", "no-cache"),
            ("content-disposition", "attachment"),
            ("content-encoding", "identity"),
            ("expires", "never, really"),
            ("content-md5", &b64_md5(data)),
        ],
        data,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("etag"), Some(quoted(data).as_str()));
    // Swift sees the metadata as its own.
    let sw = s.req("HEAD", &v1("bkt/dir/obj")).send();
    assert_eq!(sw.header("x-object-meta-color"), Some("red"), "{sw:?}");
    assert_eq!(sw.header("x-object-meta-foo_bar"), Some("u"));
    assert_eq!(sw.header("content-type"), Some("text/x-test"));
    assert_eq!(sw.header("cache-control"), Some("no-cache"));
    assert_eq!(sw.header("etag"), Some(md5_hex(data).as_str()));
    // And S3 shows it back, on GET and HEAD.
    for method in ["GET", "HEAD"] {
        let g = s3.send(method, "/bkt/dir/obj", &[], &[], b"");
        assert_eq!(g.status, 200, "{g:?}");
        assert_eq!(g.header("etag"), Some(quoted(data).as_str()));
        assert_eq!(g.header("x-amz-meta-color"), Some("red"));
        assert_eq!(g.header("x-amz-meta-foo_bar"), Some("u"));
        assert_eq!(g.header("content-type"), Some("text/x-test"));
        assert_eq!(g.header("cache-control"), Some("no-cache"));
        assert_eq!(g.header("content-disposition"), Some("attachment"));
        assert_eq!(g.header("content-encoding"), Some("identity"));
        assert_eq!(g.header("expires"), Some("never, really"));
        assert_eq!(
            g.header("content-length"),
            Some(data.len().to_string().as_str())
        );
        assert!(
            g.header("x-timestamp").is_none(),
            "Swift's own headers stay Swift's"
        );
        let want: &[u8] = if method == "GET" { data } else { b"" };
        assert_eq!(g.body, want);
    }
    // A plain body declared aws-chunked keeps the encoding it declared.
    let h = [("content-encoding", "aws-chunked")];
    assert_eq!(put(&s3, "/bkt/declared", &h, b"x").status, 200);
    let g = s3.send("HEAD", "/bkt/declared", &[], &[], b"");
    assert_eq!(g.header("content-encoding"), Some("aws-chunked"));
    // No Content-Type: binary/octet-stream, as S3.
    put(&s3, "/bkt/untyped.txt", &[], b"x");
    let g = s3.send("HEAD", "/bkt/untyped.txt", &[], &[], b"");
    assert_eq!(g.header("content-type"), Some("binary/octet-stream"));
}

#[test]
fn a_bad_chunk_signature_shows_the_request_that_began_the_chain() {
    let s = server();
    let s3 = S3::new(&s, TESTER);
    let zeros = "0".repeat(64);
    let bodies = [
        format!("5;chunk-signature={zeros}\r\nhello\r\n0;chunk-signature={zeros}\r\n\r\n"),
        format!("5;extra=param;chunk-signature={zeros}\r\nhello\r\n"),
    ];
    for (body, hashed) in bodies.iter().zip([
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        "",
    ]) {
        let r = put(
            &s3,
            "/bkt/k",
            &[
                ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
                ("content-encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", "5"),
            ],
            body.as_bytes(),
        );
        assert_s3_error(&r, 403, "SignatureDoesNotMatch");
        let sts = elem(&r, "StringToSign").unwrap();
        assert!(sts.starts_with("AWS4-HMAC-SHA256-PAYLOAD\n"), "{sts}");
        assert!(sts.ends_with(&format!("\n{hashed}")), "{sts}");
        let cr = elem(&r, "CanonicalRequest").unwrap();
        assert!(cr.starts_with("PUT\n/bkt/k\n\n"), "{cr}");
        assert!(cr.ends_with("\nSTREAMING-AWS4-HMAC-SHA256-PAYLOAD"), "{cr}");
        assert!(elem(&r, "CanonicalRequestBytes")
            .unwrap()
            .starts_with("50 55 54 0a"));
        assert_eq!(elem(&r, "AWSAccessKeyId").as_deref(), Some("test:tester"));
    }
    assert_eq!(s3.get("/bkt/k").status, 404);
}

#[test]
fn conditional_gets_and_copies_read_dates_as_pythons_formatdate_writes_them() {
    let s = server();
    let s3 = S3::new(&s, TESTER);
    put(&s3, "/bkt/k", &[], b"x");
    let modified = s3.send("HEAD", "/bkt/k", &[], &[], b"");
    let modified = modified.header("last-modified").unwrap();
    let t = httpdate::parse_http_date(modified).unwrap();
    let day = std::time::Duration::from_secs(86400);
    let python = |t: std::time::SystemTime| httpdate::fmt_http_date(t).replace("GMT", "-0000");
    let get = |name: &str, date: String| s3.send("GET", "/bkt/k", &[], &[(name, &date)], b"");
    assert_eq!(get("if-modified-since", python(t)).status, 304);
    assert_eq!(get("if-modified-since", python(t - day)).status, 200);
    assert_eq!(get("if-unmodified-since", python(t + day)).status, 200);
    assert_s3_error(
        &get("if-unmodified-since", python(t - day)),
        412,
        "PreconditionFailed",
    );
    let copy = |date: String| {
        let h = [
            ("x-amz-copy-source", "/bkt/k"),
            ("x-amz-copy-source-if-modified-since", date.as_str()),
        ];
        put(&s3, "/bkt/c", &h, b"")
    };
    assert_s3_error(&copy(python(t)), 412, "PreconditionFailed");
    assert_eq!(copy(python(t - day)).status, 200);
}

#[test]
fn a_body_that_fails_a_check_commits_nothing() {
    let s = server();
    let s3 = S3::new(&s, TESTER);
    assert_eq!(put(&s3, "/bkt/k", &[], b"old").status, 200);
    let before = common::snapshot(s.device());
    let r = put(
        &s3,
        "/bkt/k",
        &[("content-md5", &b64_md5(b"other"))],
        b"new",
    );
    assert_s3_error(&r, 400, "BadDigest");
    let crc = sofgate::s3::integrity::checksum_b64(sofgate::s3::integrity::Algo::Crc32, b"other");
    let r = put(&s3, "/bkt/k", &[("x-amz-checksum-crc32", &crc)], b"new");
    assert_s3_error(&r, 400, "BadDigest");
    let r = put(&s3, "/bkt/fresh", &[("content-md5", "not base64!")], b"new");
    assert_s3_error(&r, 400, "InvalidDigest");
    assert_eq!(common::snapshot(s.device()), before);
    assert!(temp_files(s.device()).is_empty());
    assert_eq!(s3.get("/bkt/k").body, b"old");
    assert_s3_error(&s3.get("/bkt/fresh"), 404, "NoSuchKey");
    // A good checksum passes.
    let crc = sofgate::s3::integrity::checksum_b64(sofgate::s3::integrity::Algo::Crc32, b"new");
    assert_eq!(
        put(&s3, "/bkt/k", &[("x-amz-checksum-crc32", &crc)], b"new").status,
        200
    );
    assert_eq!(s3.get("/bkt/k").body, b"new");
}

/// A body that fails its checksum is answered only once its temp file is
/// gone (the check fails in the body stream, after the last write).
#[test]
fn a_failed_checksum_is_answered_after_its_temp_file_is_gone() {
    let s = server();
    let s3 = S3::new(&s, TESTER);
    assert_eq!(put(&s3, "/bkt/k", &[], b"old").status, 200);
    let crc = sofgate::s3::integrity::checksum_b64(sofgate::s3::integrity::Algo::Crc32, b"other");
    let body = vec![7u8; 300_000];
    for i in 0..40 {
        let r = put(&s3, "/bkt/k", &[("x-amz-checksum-crc32", &crc)], &body);
        assert_s3_error(&r, 400, "BadDigest");
        assert!(
            temp_files(s.device()).is_empty(),
            "a temp file at answer {i}"
        );
    }
}

#[test]
fn conditional_puts_create_once_or_replace_a_known_etag() {
    let s = server();
    let s3 = S3::new(&s, TESTER);
    let once = [("if-none-match", "*")];
    assert_eq!(put(&s3, "/bkt/k", &once, b"first").status, 200);
    assert_s3_error(
        &put(&s3, "/bkt/k", &once, b"second"),
        412,
        "PreconditionFailed",
    );
    let wrong = [("if-match", "\"0123456789abcdef0123456789abcdef\"")];
    assert_s3_error(
        &put(&s3, "/bkt/k", &wrong, b"second"),
        412,
        "PreconditionFailed",
    );
    let right = quoted(b"first");
    assert_eq!(
        put(&s3, "/bkt/k", &[("if-match", &right)], b"second").status,
        200
    );
    assert_eq!(s3.get("/bkt/k").body, b"second");
    assert_s3_error(
        &put(&s3, "/bkt/none", &[("if-match", &right)], b"x"),
        404,
        "NoSuchKey",
    );
    for h in [
        ("if-match", "*"),
        ("if-none-match", "abc"),
        ("if-modified-since", "Sat, 27 Jun 2015 00:00:00 GMT"),
    ] {
        assert_s3_error(&put(&s3, "/bkt/other", &[h], b"x"), 501, "NotImplemented");
    }
    assert_s3_error(&s3.get("/bkt/other"), 404, "NoSuchKey");
    assert_s3_error(&put(&s3, "/nobucket/k", &[], b"x"), 404, "NoSuchBucket");
}

#[test]
fn gets_take_ranges_part_one_conditions_and_response_overrides() {
    let s = server();
    let s3 = S3::new(&s, TESTER);
    let data = b"abcdefghij";
    put(&s3, "/bkt/k", &[("x-amz-meta-m", "v")], data);
    let r = s3.send("GET", "/bkt/k", &[], &[("range", "bytes=1-5")], b"");
    assert_eq!((r.status, r.body.as_slice()), (206, &b"bcdef"[..]), "{r:?}");
    assert_eq!(r.header("content-range"), Some("bytes 1-5/10"));
    assert_eq!(r.header("x-amz-meta-m"), Some("v"));
    let r = s3.send("HEAD", "/bkt/k", &[], &[("range", "bytes=-3")], b"");
    assert_eq!(
        (r.status, r.header("content-length")),
        (206, Some("3")),
        "{r:?}"
    );
    let r = s3.send("HEAD", "/bkt/k", &[], &[("range", "bytes=20-")], b"");
    assert_eq!(r.status, 416, "{r:?}");
    let r = s3.send("GET", "/bkt/k", &[("partNumber", "1")], &[], b"");
    assert_eq!((r.status, r.body.as_slice()), (206, &data[..]), "{r:?}");
    assert_eq!(r.header("content-range"), Some("bytes 0-9/10"));
    assert_s3_error(
        &s3.send("GET", "/bkt/k", &[("partNumber", "2")], &[], b""),
        416,
        "InvalidPartNumber",
    );
    assert_s3_error(
        &s3.send("GET", "/bkt/k", &[("partNumber", "0")], &[], b""),
        400,
        "InvalidArgument",
    );
    let etag = quoted(data);
    let r = s3.send("GET", "/bkt/k", &[], &[("if-none-match", &etag)], b"");
    assert_eq!(
        (r.status, r.header("etag")),
        (304, Some(etag.as_str())),
        "{r:?}"
    );
    let r = s3.send("GET", "/bkt/k", &[], &[("if-match", "\"nope\"")], b"");
    assert_s3_error(&r, 412, "PreconditionFailed");
    let r = s3.send("GET", "/bkt/k", &[], &[("if-match", &etag)], b"");
    assert_eq!(r.status, 200);
    let later = common::http_date_from_now(3600);
    let r = s3.send(
        "GET",
        "/bkt/k",
        &[],
        &[("if-unmodified-since", &later)],
        b"",
    );
    assert_eq!(r.status, 200);
    let r = s3.send("GET", "/bkt/k", &[], &[("if-modified-since", &later)], b"");
    assert_eq!(r.status, 304);
    // Last-Modified itself: not modified since, and not modified after.
    let modified = s3.send("HEAD", "/bkt/k", &[], &[], b"");
    let at = modified.header("last-modified").unwrap().to_string();
    let r = s3.send("GET", "/bkt/k", &[], &[("if-modified-since", &at)], b"");
    assert_eq!(r.status, 304);
    let r = s3.send("GET", "/bkt/k", &[], &[("if-unmodified-since", &at)], b"");
    assert_eq!(r.status, 200);
    let q = [
        ("response-content-type", "text/x-over"),
        ("response-cache-control", "private"),
        ("response-content-disposition", "inline"),
    ];
    let r = s3.send("GET", "/bkt/k", &q, &[], b"");
    assert_eq!(r.header("content-type"), Some("text/x-over"));
    assert_eq!(r.header("cache-control"), Some("private"));
    assert_eq!(r.header("content-disposition"), Some("inline"));
}

#[test]
fn missing_keys_and_buckets_have_their_own_errors() {
    let s = server();
    let s3 = S3::new(&s, TESTER);
    assert_s3_error(&s3.get("/bkt/nothing"), 404, "NoSuchKey");
    assert_s3_error(&s3.get("/nobucket/k"), 404, "NoSuchBucket");
    let r = s3.send("HEAD", "/bkt/nothing", &[], &[], b"");
    assert_eq!((r.status, r.body.len()), (404, 0));
    // DELETE: 204 whether or not the key was there; not without a bucket.
    put(&s3, "/bkt/k", &[], b"x");
    assert_eq!(s3.send("DELETE", "/bkt/k", &[], &[], b"").status, 204);
    assert_eq!(s.get("bkt/k").status, 404);
    assert_eq!(s3.send("DELETE", "/bkt/k", &[], &[], b"").status, 204);
    let r = s3.send("DELETE", "/nobucket/k", &[], &[], b"");
    assert_s3_error(&r, 404, "NoSuchBucket");
}

#[test]
fn copies_keep_or_replace_metadata_and_check_the_source() {
    let s = server();
    s.put_container("dst");
    let s3 = S3::new(&s, TESTER);
    let data = b"copied bytes";
    let src_key = "/bkt/src name %🙂";
    put(
        &s3,
        src_key,
        &[("x-amz-meta-test", "src"), ("content-type", "text/x-src")],
        data,
    );
    let source = format!("/bkt/{}", common::s3::uri_encode("src name %🙂", true));
    let r = put(&s3, "/dst/copy", &[("x-amz-copy-source", &source)], b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(elem(&r, "ETag"), Some(quoted(data)));
    assert!(
        elem(&r, "LastModified").is_some_and(|t| t.ends_with(".000Z")),
        "{r:?}"
    );
    let g = s3.get("/dst/copy");
    assert_eq!(g.body, data);
    assert_eq!(g.header("x-amz-meta-test"), Some("src"));
    assert_eq!(g.header("content-type"), Some("text/x-src"));
    // COPY ignores the request's metadata; REPLACE takes it alone.
    let h = [
        ("x-amz-copy-source", source.as_str()),
        ("x-amz-meta-test", "dst"),
    ];
    put(&s3, "/dst/copy", &h, b"");
    assert_eq!(s3.get("/dst/copy").header("x-amz-meta-test"), Some("src"));
    let h = [
        ("x-amz-copy-source", source.as_str()),
        ("x-amz-meta-other", "dst"),
        ("x-amz-metadata-directive", "REPLACE"),
    ];
    assert_eq!(put(&s3, "/dst/copy", &h, b"").status, 200);
    let g = s3.get("/dst/copy");
    assert_eq!(
        (g.header("x-amz-meta-test"), g.header("x-amz-meta-other")),
        (None, Some("dst"))
    );
    assert_eq!(g.header("content-type"), Some("binary/octet-stream"));
    // Onto itself: only to change something.
    let h = [("x-amz-copy-source", "/dst/copy")];
    assert_s3_error(&put(&s3, "/dst/copy", &h, b""), 400, "InvalidRequest");
    let h = [
        ("x-amz-copy-source", "/dst/copy"),
        ("x-amz-meta-new", "yes"),
        ("x-amz-metadata-directive", "REPLACE"),
    ];
    assert_eq!(put(&s3, "/dst/copy", &h, b"").status, 200);
    let sw = s.req("HEAD", &v1("dst/copy")).send();
    assert_eq!(sw.header("x-object-meta-new"), Some("yes"));
    assert_eq!(sw.header("etag"), Some(md5_hex(data).as_str()));
    // The source's conditions.
    let h = [
        ("x-amz-copy-source", source.as_str()),
        ("x-amz-copy-source-if-match", "\"nope\""),
    ];
    assert_s3_error(&put(&s3, "/dst/c2", &h, b""), 412, "PreconditionFailed");
    let etag = quoted(data);
    let h = [
        ("x-amz-copy-source", source.as_str()),
        ("x-amz-copy-source-if-none-match", &etag),
    ];
    assert_s3_error(&put(&s3, "/dst/c2", &h, b""), 412, "PreconditionFailed");
    let h = [
        ("x-amz-copy-source", source.as_str()),
        ("x-amz-copy-source-if-match", &etag),
    ];
    assert_eq!(put(&s3, "/dst/c2", &h, b"").status, 200);
    // What is missing is named.
    let h = [("x-amz-copy-source", "/bkt/nothing")];
    assert_s3_error(&put(&s3, "/dst/c3", &h, b""), 404, "NoSuchKey");
    let h = [("x-amz-copy-source", source.as_str())];
    assert_s3_error(&put(&s3, "/nobucket/c3", &h, b""), 404, "NoSuchBucket");
    let h = [("x-amz-copy-source", "/bkt/k?nonsense")];
    assert_s3_error(&put(&s3, "/dst/c3", &h, b""), 400, "InvalidArgument");
    let h = [
        ("x-amz-copy-source", source.as_str()),
        ("x-amz-metadata-directive", "BAD"),
    ];
    assert_s3_error(&put(&s3, "/dst/c3", &h, b""), 400, "InvalidArgument");
}

fn delete_doc(keys: &[&str], quiet: bool) -> String {
    let objs: String = keys
        .iter()
        .map(|k| format!("<Object><Key>{k}</Key></Object>"))
        .collect();
    format!("<Delete><Quiet>{quiet}</Quiet>{objs}</Delete>")
}

#[test]
fn delete_objects_checks_its_body_and_reports_each_key() {
    let s = server();
    let s3 = S3::new(&s, TESTER);
    for k in ["a", "b", "c"] {
        put(&s3, &format!("/bkt/{k}"), &[], b"x");
    }
    let post = |doc: &str, md5: Option<&str>| {
        let h: Vec<(&str, &str)> = md5.map(|m| ("content-md5", m)).into_iter().collect();
        s3.send("POST", "/bkt", &[("delete", "")], &h, doc.as_bytes())
    };
    let doc = delete_doc(&["a", "missing"], false);
    assert_s3_error(&post(&doc, None), 400, "InvalidRequest");
    let r = post(&doc, Some(&b64_md5(b"other")));
    assert_s3_error(&r, 400, "BadDigest");
    assert_eq!(elem(&r, "ExpectedDigest"), Some(b64_md5(b"other")));
    assert_eq!(s.get("bkt/a").status, 200, "nothing deleted");
    let r = post(&doc, Some(&b64_md5(doc.as_bytes())));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(elems(&r, "Key"), ["a", "missing"]);
    assert_eq!(s.get("bkt/a").status, 404);
    let doc = delete_doc(&["b", "c"], true);
    let r = post(&doc, Some(&b64_md5(doc.as_bytes())));
    assert_eq!((r.status, elems(&r, "Key").len()), (200, 0), "{r:?}");
    assert_eq!(s.get("bkt/c").status, 404);
    let many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    let doc = delete_doc(&many.iter().map(String::as_str).collect::<Vec<_>>(), true);
    assert_s3_error(
        &post(&doc, Some(&b64_md5(doc.as_bytes()))),
        400,
        "MalformedXML",
    );
    let r = s3.send(
        "POST",
        "/nobucket",
        &[("delete", "")],
        &[("content-md5", &b64_md5(doc.as_bytes()))],
        doc.as_bytes(),
    );
    assert_s3_error(&r, 400, "MalformedXML");
    // A document over 2 MiB is refused.
    let long: Vec<String> = (0..900)
        .map(|i| format!("{i}{}", "k".repeat(4000)))
        .collect();
    let doc = delete_doc(&long.iter().map(String::as_str).collect::<Vec<_>>(), true);
    assert_s3_error(
        &post(&doc, Some(&b64_md5(doc.as_bytes()))),
        400,
        "MalformedXML",
    );
    let doc = delete_doc(&["a"], false);
    let r = s3.send(
        "POST",
        "/nobucket",
        &[("delete", "")],
        &[("content-md5", &b64_md5(doc.as_bytes()))],
        doc.as_bytes(),
    );
    assert_s3_error(&r, 404, "NoSuchBucket");
}

#[test]
fn object_acls_are_the_owners_as_in_swifts_s3api() {
    let s = server();
    let s3 = S3::new(&s, TESTER);
    put(&s3, "/bkt/k", &[], b"x");
    let r = s3.send("GET", "/bkt/k", &[("acl", "")], &[], b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(elem(&r, "Permission").as_deref(), Some("FULL_CONTROL"));
    assert_eq!(elem(&r, "ID").as_deref(), Some("test:tester"));
    assert_s3_error(
        &s3.send("GET", "/bkt/none", &[("acl", "")], &[], b""),
        404,
        "NoSuchKey",
    );
    assert_s3_error(
        &s3.send("PUT", "/bkt/k", &[("acl", "")], &[], b""),
        501,
        "NotImplemented",
    );
}

#[test]
fn version_ids_reach_object_versioning() {
    let s = server();
    s.req("POST", &v1("bkt"))
        .header("X-Versions-Enabled", "true")
        .send_expect(204);
    let s3 = S3::new(&s, TESTER);
    let first = put(&s3, "/bkt/k", &[], b"one");
    let v1_id = first
        .header("x-amz-version-id")
        .expect("a version id")
        .to_string();
    let second = put(&s3, "/bkt/k", &[], b"two");
    assert_ne!(second.header("x-amz-version-id"), Some(v1_id.as_str()));
    let r = s3.send("GET", "/bkt/k", &[("versionId", &v1_id)], &[], b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"one"[..]), "{r:?}");
    assert_eq!(r.header("x-amz-version-id"), Some(v1_id.as_str()));
    assert_eq!(s3.get("/bkt/k").body, b"two");
    let r = s3.send("DELETE", "/bkt/k", &[("versionId", &v1_id)], &[], b"");
    assert_eq!(r.status, 204, "{r:?}");
    let r = s3.send("GET", "/bkt/k", &[("versionId", &v1_id)], &[], b"");
    assert_eq!(r.status, 404, "{r:?}");
    // A copy of an older version.
    let v2_id = second.header("x-amz-version-id").unwrap().to_string();
    put(&s3, "/bkt/k", &[], b"three");
    let src = format!("/bkt/k?versionId={v2_id}");
    let r = put(&s3, "/bkt/old", &[("x-amz-copy-source", &src)], b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(s3.get("/bkt/old").body, b"two");
    // A bucket never versioned has no such version.
    s.put_container("plain");
    put(&s3, "/plain/k", &[], b"x");
    let r = s3.send("GET", "/plain/k", &[("versionId", &v1_id)], &[], b"");
    assert_s3_error(&r, 404, "NoSuchVersion");
}

/// A server whose bucket `bkt` has object versioning on.
fn versioned() -> Server {
    let s = server();
    let r = s
        .req("POST", &v1("bkt"))
        .header("X-Versions-Enabled", "true")
        .send();
    assert_eq!(r.status, 204, "{r:?}");
    s
}

fn version_of(r: &Resp) -> String {
    r.header("x-amz-version-id")
        .expect("a version id")
        .to_string()
}

#[test]
fn a_copy_names_the_source_version_it_copied() {
    let s = versioned();
    let s3 = S3::new(&s, TESTER);
    let old = version_of(&put(&s3, "/bkt/k", &[], b"one"));
    let new = version_of(&put(&s3, "/bkt/k", &[], b"two"));
    let r = put(&s3, "/bkt/c1", &[("x-amz-copy-source", "/bkt/k")], b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-amz-copy-source-version-id"), Some(new.as_str()));
    let src = format!("/bkt/k?versionId={old}");
    let r = put(&s3, "/bkt/c2", &[("x-amz-copy-source", &src)], b"");
    assert_eq!(r.header("x-amz-copy-source-version-id"), Some(old.as_str()));
    assert_eq!(s3.get("/bkt/c2").body, b"one");
}

#[test]
fn deleting_the_current_version_makes_the_newest_left_current_unless_a_marker() {
    let s = versioned();
    let s3 = S3::new(&s, TESTER);
    let v: Vec<String> = [&b"one"[..], b"two", b"three"]
        .iter()
        .map(|b| version_of(&put(&s3, "/bkt/k", &[], b)))
        .collect();
    let delete = |vid: &str| {
        let r = s3.send("DELETE", "/bkt/k", &[("versionId", vid)], &[], b"");
        assert_eq!(r.status, 204, "{r:?}");
    };
    delete(&v[2]);
    assert_eq!(s3.get("/bkt/k").body, b"two");
    let marker = version_of(&s3.send("DELETE", "/bkt/k", &[], &[], b""));
    assert_eq!(s3.get("/bkt/k").status, 404);
    // A version under the marker goes; the marker stays the newest.
    delete(&v[0]);
    assert_eq!(s3.get("/bkt/k").status, 404);
    delete(&marker);
    assert_eq!(s3.get("/bkt/k").body, b"two");
    let doc = format!(
        "<Delete><Object><Key>k</Key><VersionId>{}</VersionId></Object></Delete>",
        v[1]
    );
    let md5 = b64_md5(doc.as_bytes());
    let r = s3.send(
        "POST",
        "/bkt",
        &[("delete", "")],
        &[("content-md5", &md5)],
        doc.as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(s3.get("/bkt/k").status, 404);
}

#[test]
fn a_version_delete_never_replaces_an_object_that_is_current() {
    // The restore after a version delete meets a current object: here a
    // null version written while versioning was suspended, as it would
    // meet one another node wrote between the delete and the restore.
    let s = versioned();
    let s3 = S3::new(&s, TESTER);
    let one = version_of(&put(&s3, "/bkt/k", &[], b"one"));
    put(&s3, "/bkt/k", &[], b"two");
    s.req("POST", &v1("bkt"))
        .header("X-Versions-Enabled", "false")
        .send_expect(204);
    put(&s3, "/bkt/k", &[], b"null");
    let r = s3.send("DELETE", "/bkt/k", &[("versionId", &one)], &[], b"");
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(s3.get("/bkt/k").body, b"null");
}

#[test]
fn a_version_delete_makes_current_the_keys_own_newest_version_only() {
    let s = versioned();
    let s3 = S3::new(&s, TESTER);
    put(&s3, "/bkt/a", &[], b"a one");
    let marker = version_of(&s3.send("DELETE", "/bkt/a", &[], &[], b""));
    // Names that start with `a`, whose versions sort before, among or
    // after `a`'s own (`a/1`'s are a directory among `a`'s version files);
    // the `a/...` ones deleted again, so that `a` can come back.
    for k in ["a!", "a/b", "a/1", "a0"] {
        put(&s3, &format!("/bkt/{k}"), &[], b"other one");
        put(&s3, &format!("/bkt/{k}"), &[], b"other two");
    }
    for k in ["a/b", "a/1"] {
        let r = s3.send("DELETE", &format!("/bkt/{k}"), &[], &[], b"");
        assert_eq!(r.status, 204, "{r:?}");
    }
    let r = s3.send("DELETE", "/bkt/a", &[("versionId", &marker)], &[], b"");
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(s3.get("/bkt/a").body, b"a one");
    for k in ["a!", "a0"] {
        assert_eq!(s3.get(&format!("/bkt/{k}")).body, b"other two");
    }
}

fn post_delete(s3: &S3, doc: &str) -> Resp {
    let md5 = b64_md5(doc.as_bytes());
    let r = s3.send(
        "POST",
        "/bkt",
        &[("delete", "")],
        &[("content-md5", &md5)],
        doc.as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    r
}

#[test]
fn deletes_in_a_versioned_bucket_tell_of_their_delete_markers() {
    let s = versioned();
    let s3 = S3::new(&s, TESTER);
    let one = version_of(&put(&s3, "/bkt/k", &[], b"one"));
    let r = s3.send("DELETE", "/bkt/k", &[], &[], b"");
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"), "{r:?}");
    let marker = version_of(&r);
    assert_ne!(marker, one);
    // A key that was not there gets its marker too.
    let r = s3.send("DELETE", "/bkt/none", &[], &[], b"");
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"), "{r:?}");
    let none_marker = version_of(&r);
    let r = s3.send("GET", "/bkt", &[("versions", "")], &[], b"");
    let mut markers = elems(&r, "VersionId");
    markers.retain(|v| *v == marker || *v == none_marker);
    assert_eq!(markers.len(), 2, "{}", String::from_utf8_lossy(&r.body));
    // A version that is no marker deleted: nothing said of markers.
    let two = version_of(&put(&s3, "/bkt/k", &[], b"two"));
    let r = s3.send("DELETE", "/bkt/k", &[("versionId", &two)], &[], b"");
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.header("x-amz-delete-marker"), None, "{r:?}");
    assert_eq!(r.header("x-amz-version-id"), Some(two.as_str()));
    // The marker deleted says it was one; the version under it is back.
    let r = s3.send("DELETE", "/bkt/k", &[("versionId", &marker)], &[], b"");
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"), "{r:?}");
    assert_eq!(r.header("x-amz-version-id"), Some(marker.as_str()));
    assert_eq!(s3.get("/bkt/k").body, b"one");
    // DeleteObjects: a marker made, a marker deleted, a version deleted.
    let doc = format!(
        "<Delete><Object><Key>k</Key></Object>\
         <Object><Key>none</Key><VersionId>{none_marker}</VersionId></Object>\
         <Object><Key>k</Key><VersionId>{one}</VersionId></Object></Delete>"
    );
    let r = post_delete(&s3, &doc);
    let made = elems(&r, "DeleteMarkerVersionId");
    assert_eq!(made.len(), 2, "{}", String::from_utf8_lossy(&r.body));
    assert_ne!(made[0], one);
    assert_eq!(made[1], none_marker);
    assert_eq!(elems(&r, "DeleteMarker"), ["true", "true"]);
    assert_eq!(elems(&r, "VersionId"), [none_marker, one]);
}

/// The object's bytes, ETag (unquoted) and `color` metadata through S3.
fn via_s3(s3: &S3, key: &str) -> (Vec<u8>, String, Option<String>) {
    let r = s3.get(&format!("/bkt/{key}"));
    assert_eq!(r.status, 200, "{r:?}");
    let etag = r.header("etag").unwrap().trim_matches('"').to_string();
    (
        r.body.clone(),
        etag,
        r.header("x-amz-meta-color").map(str::to_string),
    )
}

/// The same through Swift.
fn via_swift(s: &Server, key: &str) -> (Vec<u8>, String, Option<String>) {
    let r = s.get(&format!("bkt/{key}"));
    assert_eq!(r.status, 200, "{r:?}");
    let etag = r.header("etag").unwrap().to_string();
    (
        r.body.clone(),
        etag,
        r.header("x-object-meta-color").map(str::to_string),
    )
}

/// The same on the file system (metadata from the Swift-on-File xattr).
fn via_files(s: &Server, key: &str) -> (Vec<u8>, String, Option<String>) {
    let path = s.cont_dir("bkt").join(key);
    let data = std::fs::read(&path).expect("the object is a plain file");
    let meta = swift_meta(&path);
    let color = meta
        .as_ref()
        .and_then(|m| common::meta_str(m, "X-Object-Meta-Color"));
    (data.clone(), md5_hex(&data), color)
}

#[test]
fn one_object_through_s3_swift_and_the_file_system() {
    let s = server();
    let s3 = S3::new(&s, TESTER);
    let red = Some("red".to_string());
    // Written through S3: Swift and the file system see it.
    put(
        &s3,
        "/bkt/from-s3",
        &[("x-amz-meta-color", "red")],
        b"via s3",
    );
    let want = (b"via s3".to_vec(), md5_hex(b"via s3"), red.clone());
    assert_eq!(via_s3(&s3, "from-s3"), want);
    assert_eq!(via_swift(&s, "from-s3"), want);
    assert_eq!(via_files(&s, "from-s3"), want);
    // Written through Swift: S3 and the file system see it.
    s.req("PUT", &v1("bkt/from-swift"))
        .header("X-Object-Meta-Color", "red")
        .body(b"via swift")
        .send_expect(201);
    let want = (b"via swift".to_vec(), md5_hex(b"via swift"), red.clone());
    assert_eq!(via_s3(&s3, "from-swift"), want);
    assert_eq!(via_files(&s, "from-swift"), want);
    // Written on the file system: both APIs serve it (no metadata yet).
    std::fs::create_dir_all(s.cont_dir("bkt").join("made")).unwrap();
    std::fs::write(s.cont_dir("bkt").join("made/on-disk"), b"via files").unwrap();
    let want = (b"via files".to_vec(), md5_hex(b"via files"), None);
    assert_eq!(via_s3(&s3, "made/on-disk"), want);
    assert_eq!(via_swift(&s, "made/on-disk"), want);
    // Metadata set through Swift is seen by S3, and the reverse.
    s.req("POST", &v1("bkt/made/on-disk"))
        .header("X-Object-Meta-Color", "red")
        .send_expect(202);
    let want = (b"via files".to_vec(), md5_hex(b"via files"), red.clone());
    assert_eq!(via_s3(&s3, "made/on-disk"), want);
    assert_eq!(via_files(&s, "made/on-disk"), want);
    let h = [
        ("x-amz-copy-source", "/bkt/from-swift"),
        ("x-amz-metadata-directive", "REPLACE"),
        ("x-amz-meta-color", "blue"),
    ];
    assert_eq!(put(&s3, "/bkt/from-swift", &h, b"").status, 200);
    let blue = (
        b"via swift".to_vec(),
        md5_hex(b"via swift"),
        Some("blue".to_string()),
    );
    assert_eq!(via_swift(&s, "from-swift"), blue);
    assert_eq!(via_files(&s, "from-swift"), blue);
    // Deleted through S3: gone from Swift and the disk.
    assert_eq!(s3.send("DELETE", "/bkt/from-s3", &[], &[], b"").status, 204);
    assert_eq!(s.get("bkt/from-s3").status, 404);
    assert!(!s.cont_dir("bkt").join("from-s3").exists());
}
