//! S3 multipart uploads on a running sofgate: parts kept out of sight,
//! the part list checked, the object assembled into one plain file that
//! Swift serves and lists with its true MD5, uploads aborted and reaped.
//! Buckets are made through Swift (a container PUT with a token).

use crate::common;

use common::s3::{assert_s3_error, elem, elems, S3, TESTER};
use common::{md5_hex, v1, wait_until, Builder, Server};
use md5::{Digest, Md5};
use std::time::Duration;

const MIB: usize = 1 << 20;

fn create(c: &S3, path: &str, headers: &[(&str, &str)]) -> String {
    let r = c.send("POST", path, &[("uploads", "")], headers, b"");
    assert_eq!(r.status, 200, "{r:?}");
    elem(&r, "UploadId").expect("UploadId")
}

fn put_part(c: &S3, path: &str, id: &str, n: u32, data: &[u8]) -> String {
    let n = n.to_string();
    let r = c.send(
        "PUT",
        path,
        &[("partNumber", &n), ("uploadId", id)],
        &[],
        data,
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.header("etag").expect("part ETag").to_string()
}

fn complete_xml(parts: &[(u32, &str)]) -> Vec<u8> {
    let mut x = String::from("<CompleteMultipartUpload>");
    for (n, e) in parts {
        x.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
        ));
    }
    x.push_str("</CompleteMultipartUpload>");
    x.into_bytes()
}

fn complete(
    c: &S3,
    path: &str,
    id: &str,
    parts: &[(u32, &str)],
    h: &[(&str, &str)],
) -> common::Resp {
    c.send("POST", path, &[("uploadId", id)], h, &complete_xml(parts))
}

/// The S3 ETag of parts with these bodies.
fn mpu_etag(bodies: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for b in bodies {
        h.update(Md5::digest(b));
    }
    format!("{}-{}", hex::encode(h.finalize()), bodies.len())
}

fn upload_dirs(s: &Server, bucket: &str) -> Vec<String> {
    let area = s.device().join("AUTH_test/.sofgate-uploads").join(bucket);
    match std::fs::read_dir(area) {
        Ok(d) => d
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_completed_upload_is_one_plain_file_served_and_listed_by_swift() {
    let s = Server::start();
    s.put_container("bkt");
    let c = S3::new(&s, TESTER);
    let id = create(
        &c,
        "/bkt/dir/big.bin",
        &[("content-type", "video/mp4"), ("x-amz-meta-color", "blue")],
    );
    assert_eq!(upload_dirs(&s, "bkt"), [id.as_str()]);
    let one = vec![b'a'; 5 * MIB];
    let two = b"the last part may be small".to_vec();
    let e1 = put_part(&c, "/bkt/dir/big.bin", &id, 1, &one);
    let e2 = put_part(&c, "/bkt/dir/big.bin", &id, 2, &two);
    assert_eq!(e1, format!("\"{}\"", md5_hex(&one)));

    let r = c.send("GET", "/bkt/dir/big.bin", &[("uploadId", &id)], &[], b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(elems(&r, "PartNumber"), ["1", "2"]);
    assert_eq!(
        elems(&r, "Size"),
        [(5 * MIB).to_string(), two.len().to_string()]
    );
    let r = c.send("GET", "/bkt", &[("uploads", "")], &[], b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(elems(&r, "Key"), ["dir/big.bin"]);
    assert_eq!(elems(&r, "UploadId"), [id.as_str()]);
    // Nothing of it is an object yet, nor a container.
    let listed = s.get("bkt?format=json").json();
    assert_eq!(listed.as_array().unwrap().len(), 0, "{listed}");
    let acct = s.get("").text();
    assert!(!acct.contains("sofgate"), "{acct}");

    let r = complete(&c, "/bkt/dir/big.bin", &id, &[(1, &e1), (2, &e2)], &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let want = mpu_etag(&[&one, &two]);
    let at = format!("http://{}/bkt/dir/big.bin", s.addr());
    assert_eq!(elem(&r, "Location"), Some(at));
    let got = elem(&r, "ETag").unwrap().replace("&quot;", "\"");
    assert_eq!(got, format!("\"{want}\""));
    let whole = [one.as_slice(), two.as_slice()].concat();
    assert_eq!(
        std::fs::read(s.cont_dir("bkt").join("dir/big.bin")).unwrap(),
        whole
    );
    assert!(upload_dirs(&s, "bkt").is_empty(), "parts removed");

    let g = s.get("bkt/dir/big.bin");
    assert_eq!(g.status, 200);
    assert_eq!(g.body, whole);
    assert_eq!(
        g.header("etag"),
        Some(md5_hex(&whole).as_str()),
        "Swift's ETag is the true MD5"
    );
    assert_eq!(g.header("content-type"), Some("video/mp4"));
    assert_eq!(g.header("x-object-meta-color"), Some("blue"));
    let listed = s.get("bkt?format=json").json();
    assert_eq!(listed[0]["name"], "dir/big.bin");
    assert_eq!(listed[0]["hash"], md5_hex(&whole));
    assert_eq!(listed[0]["bytes"], whole.len());

    // Completing again answers as the first time; the upload is gone.
    let r = complete(&c, "/bkt/dir/big.bin", &id, &[(1, &e1), (2, &e2)], &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let r = c.send("GET", "/bkt/dir/big.bin", &[("uploadId", &id)], &[], b"");
    assert_s3_error(&r, 404, "NoSuchUpload");
}

#[test]
fn complete_checks_the_part_list_and_writes_nothing_when_it_fails() {
    let s = Server::start();
    s.put_container("bkt");
    let c = S3::new(&s, TESTER);
    let id = create(&c, "/bkt/o", &[]);
    let small = put_part(&c, "/bkt/o", &id, 1, b"small");
    let big = vec![7u8; 5 * MIB];
    let e2 = put_part(&c, "/bkt/o", &id, 2, &big);
    let e3 = put_part(&c, "/bkt/o", &id, 3, b"end");
    let cases: [(&[(u32, &str)], &str); 5] = [
        (&[(2, &e2), (1, &small)], "InvalidPartOrder"),
        (&[(2, &e2), (2, &e2)], "InvalidPartOrder"),
        (
            &[(2, "\"0123456789abcdef0123456789abcdef\"")],
            "InvalidPart",
        ),
        (&[(2, &e2), (4, &e3)], "InvalidPart"),
        (&[(1, &small), (3, &e3)], "EntityTooSmall"),
    ];
    for (parts, code) in cases {
        let r = complete(&c, "/bkt/o", &id, parts, &[]);
        assert_s3_error(&r, 400, code);
    }
    let bad_etag = [(2, "\"0123456789abcdef0123456789abcdef\"")];
    let r = complete(&c, "/bkt/o", &id, &bad_etag, &[]);
    assert_eq!(elem(&r, "UploadId").as_deref(), Some(id.as_str()), "{r:?}");
    assert_s3_error(&complete(&c, "/bkt/o", &id, &[], &[]), 400, "MalformedXML");
    // A list the bucket cannot be found for says so first.
    let r = c.send("POST", "/nobucket/o", &[("uploadId", &id)], &[], b"<nope");
    assert_s3_error(&r, 404, "NoSuchBucket");
    let r = c.send("POST", "/bkt/o", &[("uploadId", &id)], &[], b"<nope");
    assert_s3_error(&r, 400, "MalformedXML");
    for bad in ["0123", "../../AUTH_test", &"f".repeat(32)] {
        assert_s3_error(
            &complete(&c, "/bkt/o", bad, &[(2, &e2)], &[]),
            404,
            "NoSuchUpload",
        );
    }
    // Another key's upload id is no upload of this key.
    assert_s3_error(
        &complete(&c, "/bkt/other", &id, &[(2, &e2)], &[]),
        404,
        "NoSuchUpload",
    );
    assert_eq!(s.get("bkt/o").status, 404);
    assert_eq!(
        common::temp_files(s.device()),
        Vec::<std::path::PathBuf>::new()
    );
    // Parts past the limit, or not numbers, are refused up front.
    for n in ["0", "1001", "x"] {
        let r = c.send(
            "PUT",
            "/bkt/o",
            &[("partNumber", n), ("uploadId", &id)],
            &[],
            b"x",
        );
        assert_s3_error(&r, 400, "InvalidArgument");
    }
    // Parts 2 and 3 make a good list.
    let r = complete(&c, "/bkt/o", &id, &[(2, &e2), (3, &e3)], &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(s.get("bkt/o").body, [big.as_slice(), b"end"].concat());
}

#[test]
fn abort_removes_the_parts_and_missing_buckets_are_no_such_bucket() {
    let s = Server::start();
    s.put_container("bkt");
    let c = S3::new(&s, TESTER);
    let id = create(&c, "/bkt/o", &[]);
    put_part(&c, "/bkt/o", &id, 1, b"data");
    let r = c.send("DELETE", "/bkt/o", &[("uploadId", &id)], &[], b"");
    assert_eq!(r.status, 204, "{r:?}");
    assert!(upload_dirs(&s, "bkt").is_empty());
    let r = c.send("DELETE", "/bkt/o", &[("uploadId", &id)], &[], b"");
    assert_s3_error(&r, 404, "NoSuchUpload");
    let r = c.send(
        "PUT",
        "/bkt/o",
        &[("partNumber", "1"), ("uploadId", &id)],
        &[],
        b"x",
    );
    assert_s3_error(&r, 404, "NoSuchUpload");
    assert!(
        upload_dirs(&s, "bkt").is_empty(),
        "no part of an aborted upload"
    );
    let r = c.send("POST", "/nobucket/o", &[("uploads", "")], &[], b"");
    assert_s3_error(&r, 404, "NoSuchBucket");
    // The area's name is no container name for Swift either.
    s.req("PUT", &v1(".sofgate-uploads")).send_expect(400);
}

#[test]
fn upload_part_copy_takes_a_range_of_a_readable_object() {
    let s = Server::start();
    s.put_container("src");
    s.put_container("bkt");
    let data: Vec<u8> = (0..6 * MIB).map(|i| (i % 251) as u8).collect();
    s.put_object("src/obj", &data);
    let c = S3::new(&s, TESTER);
    let id = create(&c, "/bkt/copy", &[]);
    let copy = |n: &str, range: Option<&str>| {
        let mut h = vec![("x-amz-copy-source", "/src/obj")];
        if let Some(r) = range {
            h.push(("x-amz-copy-source-range", r));
        }
        c.send(
            "PUT",
            "/bkt/copy",
            &[("partNumber", n), ("uploadId", &id)],
            &h,
            b"",
        )
    };
    let r = copy("1", Some(&format!("bytes=0-{}", 5 * MIB - 1)));
    assert_eq!(r.status, 200, "{r:?}");
    let e1 = elem(&r, "ETag").unwrap().replace("&quot;", "\"");
    assert_eq!(e1, format!("\"{}\"", md5_hex(&data[..5 * MIB])));
    let r = copy("2", Some(&format!("bytes={}-{}", 5 * MIB, 6 * MIB - 1)));
    assert_eq!(r.status, 200, "{r:?}");
    let e2 = elem(&r, "ETag").unwrap().replace("&quot;", "\"");
    assert_s3_error(&copy("3", Some("bytes=0-99999999")), 400, "InvalidArgument");
    assert_s3_error(&copy("3", Some("bytes=9-1")), 400, "InvalidArgument");
    let r = c.send(
        "PUT",
        "/bkt/copy",
        &[("partNumber", "3"), ("uploadId", &id)],
        &[("x-amz-copy-source", "/src/missing")],
        b"",
    );
    assert_s3_error(&r, 404, "NoSuchKey");
    let r = c.send(
        "PUT",
        "/bkt/copy",
        &[("partNumber", "3"), ("uploadId", &id)],
        &[
            ("x-amz-copy-source", "/src/obj"),
            ("x-amz-copy-source-if-match", "\"nope\""),
        ],
        b"",
    );
    assert_s3_error(&r, 412, "PreconditionFailed");
    let r = complete(&c, "/bkt/copy", &id, &[(1, &e1), (2, &e2)], &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(s.get("bkt/copy").body, data);
}

#[test]
fn conditional_completes_create_only_and_refuse_other_conditions() {
    let s = Server::start();
    s.put_container("bkt");
    s.put_object("bkt/there", b"old");
    let c = S3::new(&s, TESTER);
    let id = create(&c, "/bkt/there", &[]);
    let e = put_part(&c, "/bkt/there", &id, 1, b"new");
    let r = complete(&c, "/bkt/there", &id, &[(1, &e)], &[("if-none-match", "*")]);
    assert_s3_error(&r, 412, "PreconditionFailed");
    // As Swift's s3api and its functional suite: every other condition,
    // If-Match with the current ETag too, is NotImplemented and writes nothing.
    let old = format!("\"{}\"", md5_hex(b"old"));
    for h in [
        ("if-match", old.as_str()),
        ("if-match", "*"),
        ("if-none-match", old.as_str()),
        ("if-modified-since", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ("if-unmodified-since", "Wed, 21 Oct 2015 07:28:00 GMT"),
    ] {
        let r = complete(&c, "/bkt/there", &id, &[(1, &e)], &[h]);
        assert_s3_error(&r, 501, "NotImplemented");
    }
    assert_eq!(s.get("bkt/there").body, b"old");
    let r = complete(&c, "/bkt/there", &id, &[(1, &e)], &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(s.get("bkt/there").body, b"new");
    // If-None-Match: * creates what is not there.
    let id = create(&c, "/bkt/fresh", &[]);
    let e = put_part(&c, "/bkt/fresh", &id, 1, b"x");
    let r = complete(&c, "/bkt/fresh", &id, &[(1, &e)], &[("if-none-match", "*")]);
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn complete_checks_its_document_against_md5_and_sha256_not_a_checksum_header() {
    use base64::Engine;
    use sha2::Sha256;
    let s = Server::start();
    s.put_container("bkt");
    let c = S3::new(&s, TESTER);
    let id = create(&c, "/bkt/o", &[]);
    let e = put_part(&c, "/bkt/o", &id, 1, b"data");
    let doc = complete_xml(&[(1, &e)]);
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let wrong_md5 = b64(&Md5::digest(b"not the body"));
    let send = |h: &[(&str, &str)]| c.send("POST", "/bkt/o", &[("uploadId", &id)], h, &doc);
    let r = send(&[("content-md5", &wrong_md5)]);
    assert_s3_error(&r, 400, "BadDigest");
    assert_eq!(elem(&r, "ExpectedDigest"), Some(wrong_md5));
    let wrong_sha = hex::encode(Sha256::digest(b"not the body"));
    let r = send(&[("x-amz-content-sha256", &wrong_sha)]);
    assert_s3_error(&r, 400, "XAmzContentSHA256Mismatch");
    assert_eq!(elem(&r, "ClientComputedContentSHA256"), Some(wrong_sha));
    assert_eq!(
        elem(&r, "S3ComputedContentSHA256"),
        Some(hex::encode(Sha256::digest(&doc)))
    );
    assert_eq!(s.get("bkt/o").status, 404, "nothing completed");
    // As in Swift's s3api, a wrong x-amz-checksum-* header still completes.
    let crc =
        sofgate::s3::integrity::checksum_b64(sofgate::s3::integrity::Algo::Crc32, b"not the body");
    let good_md5 = b64(&Md5::digest(&doc));
    let r = send(&[("content-md5", &good_md5), ("x-amz-checksum-crc32", &crc)]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(s.get("bkt/o").body, b"data");
}

#[test]
fn a_complete_past_its_grace_period_is_a_200_kept_alive_with_the_result_last() {
    // complete_heartbeat_secs = 0: every assembly is past its grace period.
    let s = Builder::new()
        .toml("[s3]\ncomplete_heartbeat_secs = 0")
        .start();
    s.put_container("bkt");
    let c = S3::new(&s, TESTER);
    let id = create(&c, "/bkt/o", &[]);
    let e = put_part(&c, "/bkt/o", &id, 1, b"the data");
    // The part list's own errors come before the answer starts: their status.
    let r = complete(&c, "/bkt/o", &id, &[(2, &e)], &[]);
    assert_s3_error(&r, 400, "InvalidPart");
    let r = complete(&c, "/bkt/o", &id, &[(1, &e)], &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("content-length").is_none(), "streamed: {r:?}");
    let body = String::from_utf8(r.body.clone()).unwrap();
    assert!(
        body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            && body.matches("<?xml").count() == 1,
        "{body}"
    );
    let etag = format!("\"{}\"", mpu_etag(&[b"the data"]));
    assert_eq!(elem(&r, "ETag").as_deref(), Some(etag.as_str()));
    assert_eq!(s.get("bkt/o").body, b"the data");
}

#[test]
fn abandoned_uploads_are_reaped_past_their_age() {
    let s = Builder::new()
        .storage("reap_temp_after_secs = 1")
        .toml("[s3]\nupload_reap_after_secs = 1")
        .start();
    s.put_container("bkt");
    let c = S3::new(&s, TESTER);
    let id = create(&c, "/bkt/o", &[]);
    put_part(&c, "/bkt/o", &id, 1, b"part");
    assert_eq!(upload_dirs(&s, "bkt"), [id.as_str()]);
    assert!(
        wait_until(Duration::from_secs(10), || upload_dirs(&s, "bkt")
            .is_empty()),
        "the abandoned upload is reaped"
    );
    let r = c.send("GET", "/bkt/o", &[("uploadId", &id)], &[], b"");
    assert_s3_error(&r, 404, "NoSuchUpload");
}

#[test]
fn part_numbers_of_a_completed_upload_are_its_parts() {
    let s = Server::start();
    s.put_container("bkt");
    let c = S3::new(&s, TESTER);
    let id = create(&c, "/bkt/parts", &[]);
    let one = vec![b'1'; 5 * MIB];
    let two = b"part two, the last and small".to_vec();
    let e1 = put_part(&c, "/bkt/parts", &id, 1, &one);
    let e2 = put_part(&c, "/bkt/parts", &id, 2, &two);
    let r = complete(&c, "/bkt/parts", &id, &[(1, &e1), (2, &e2)], &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let total = one.len() + two.len();

    let r = c.send("GET", "/bkt/parts", &[("partNumber", "2")], &[], b"");
    assert_eq!(r.status, 206, "{r:?}");
    assert!(r.body == two, "part 2's bytes");
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes {}-{}/{total}", one.len(), total - 1).as_str())
    );
    assert_eq!(r.header("x-amz-mp-parts-count"), Some("2"));
    let whole_etag = format!("\"{}\"", mpu_etag(&[&one, &two]));
    assert_eq!(
        r.header("etag"),
        Some(whole_etag.as_str()),
        "the upload's ETag"
    );
    let r = c.send("HEAD", "/bkt/parts", &[("partNumber", "1")], &[], b"");
    assert_eq!(r.status, 206, "{r:?}");
    assert_eq!(
        r.header("content-length"),
        Some(one.len().to_string().as_str())
    );
    let r = c.send("GET", "/bkt/parts", &[("partNumber", "3")], &[], b"");
    assert_s3_error(&r, 416, "InvalidPartNumber");
}

#[test]
fn the_s3_door_shows_and_compares_the_multipart_etag_swift_lists_it() {
    let s = Server::start();
    s.put_container("bkt");
    let c = S3::new(&s, TESTER);
    let id = create(&c, "/bkt/o", &[]);
    let e1 = put_part(&c, "/bkt/o", &id, 1, b"only part");
    let r = complete(&c, "/bkt/o", &id, &[(1, &e1)], &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let s3_etag = format!("\"{}\"", mpu_etag(&[b"only part"]));
    let md5 = format!("\"{}\"", md5_hex(b"only part"));

    let r = c.send("HEAD", "/bkt/o", &[], &[], b"");
    assert_eq!(r.header("etag"), Some(s3_etag.as_str()), "{r:?}");
    let r = c.send("GET", "/bkt/o", &[], &[("if-none-match", &s3_etag)], b"");
    assert_eq!(r.status, 304, "{r:?}");
    let r = c.send("GET", "/bkt/o", &[], &[("if-match", &s3_etag)], b"");
    assert_eq!(r.status, 200, "{r:?}");
    let r = c.send("GET", "/bkt/o", &[], &[("if-match", &md5)], b"");
    assert_eq!(r.status, 412, "S3 compares the ETag it shows: {r:?}");

    // Swift shows the true MD5 and lists the S3 ETag beside it, as s3api.
    let h = s.req("HEAD", &v1("bkt/o")).send();
    assert_eq!(h.header("etag"), Some(md5_hex(b"only part").as_str()));
    let listed = s.get("bkt?format=json").json();
    assert_eq!(listed[0]["s3_etag"], s3_etag.as_str(), "{listed}");
    assert_eq!(listed[0]["hash"], md5_hex(b"only part"));
    let r = c.send("GET", "/bkt", &[("list-type", "2")], &[], b"");
    let shown = elem(&r, "ETag").map(|e| e.replace("&quot;", "\""));
    assert_eq!(shown, Some(s3_etag.clone()), "ListObjectsV2: {r:?}");

    // A write on the condition that the object shows the S3 ETag.
    let r = c.send("PUT", "/bkt/o", &[], &[("if-match", &s3_etag)], b"v2");
    assert_eq!(r.status, 200, "{r:?}");
    let r = c.send("PUT", "/bkt/o", &[], &[("if-match", &s3_etag)], b"v3");
    assert_s3_error(&r, 412, "PreconditionFailed");
    assert_eq!(s.get("bkt/o").body, b"v2");

    // A repeated Complete of the finished upload answers only to its own
    // part list.
    let r = complete(&c, "/bkt/o", &id, &[(1, &e1)], &[]);
    assert_s3_error(&r, 404, "NoSuchUpload");
}
