//! SigV2 against AWS's published examples ("Signing and Authenticating
//! REST Requests"), presigned URLs and the date rules.

use super::*;
use http::HeaderMap;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn headers(h: &[(&str, &str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (k, v) in h {
        m.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    m
}

fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Method, path, headers, query, signature.
type Example<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    Vec<(String, String)>,
    &'a str,
);

/// AWS's published SigV2 examples ("Signing and Authenticating REST
/// Requests"), bucket `johnsmith` in the host.
#[test]
fn aws_published_examples() {
    let date = "Tue, 27 Mar 2007 19:36:42 +0000";
    let cases: [Example; 4] = [
        (
            "GET",
            "/photos/puppy.jpg",
            vec![("date", date)],
            q(&[]),
            "bWq2s1WEIj+Ydj0vQ697zp+IXMU=",
        ),
        (
            "PUT",
            "/photos/puppy.jpg",
            vec![
                ("date", "Tue, 27 Mar 2007 21:15:45 +0000"),
                ("content-type", "image/jpeg"),
            ],
            q(&[]),
            "MyyxeRY7whkBe+bq8fHCL/2kKUg=",
        ),
        (
            "GET",
            "/",
            vec![("date", "Tue, 27 Mar 2007 19:42:41 +0000")],
            q(&[
                ("prefix", "photos"),
                ("max-keys", "50"),
                ("marker", "puppy"),
            ]),
            "htDYFYduRNen8P9ZfE/s9SuKy0U=",
        ),
        (
            "GET",
            "/",
            vec![("date", "Tue, 27 Mar 2007 19:44:46 +0000")],
            q(&[("acl", "")]),
            "c2WLPFtWHVgbEmeEG93a4cG37dM=",
        ),
    ];
    for (method, path, h, query, want) in cases {
        let now = time::parse_http(h[0].1).unwrap();
        let mut h = h;
        let auth = format!("AWS test:tester:{want}");
        h.push(("authorization", &auth));
        let hm = headers(&h);
        let req = ReqView {
            method,
            raw_path: path,
            query: &query,
            headers: &hm,
            bucket_in_host: Some("johnsmith"),
        };
        let claim = parse(&req, now + 60).unwrap();
        // The key is split at the last colon.
        assert_eq!(claim.access_key, "test:tester");
        claim
            .verify(SECRET)
            .unwrap_or_else(|e| panic!("{method} {path}: {e:?}"));
        assert!(claim.verify("wrong").is_err());
    }
}

#[test]
fn amz_headers_and_md5_are_signed() {
    let hm = headers(&[
        ("content-md5", "4gJE4saaMU4BqNR0kLY+lw=="),
        ("content-type", "application/x-download"),
        ("date", "Tue, 27 Mar 2007 21:06:08 +0000"),
        ("x-amz-acl", "public-read"),
        ("x-amz-meta-reviewedby", "joe@johnsmith.net"),
        ("x-amz-meta-reviewedby", "jane@johnsmith.net"),
        ("x-amz-meta-filechecksum", "0x02661779"),
        ("x-amz-meta-checksumalgorithm", "crc32"),
    ]);
    let req = ReqView {
        method: "PUT",
        raw_path: "/db-backup.dat.gz",
        query: &[],
        headers: &hm,
        bucket_in_host: Some("static.johnsmith.net"),
    };
    let sts = string_to_sign(&req, "Tue, 27 Mar 2007 21:06:08 +0000");
    assert_eq!(
        String::from_utf8(sts.clone()).unwrap(),
        "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\n\
         x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\n\
         x-amz-meta-filechecksum:0x02661779\n\
         x-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n\
         /static.johnsmith.net/db-backup.dat.gz"
    );
    assert_eq!(sign(SECRET, &sts), "ilyl83RwaSoYIEdixDQcA4OnAnc=");
}

#[test]
fn presigned_urls_sign_expires_and_expire() {
    let query = q(&[
        ("AWSAccessKeyId", "AKIAIOSFODNN7EXAMPLE"),
        ("Expires", "1175139620"),
        ("Signature", "NpgCjnDzrM+WFzoENXmpNDUsSn8="),
    ]);
    let hm = HeaderMap::new();
    let req = ReqView {
        method: "GET",
        raw_path: "/photos/puppy.jpg",
        query: &query,
        headers: &hm,
        bucket_in_host: Some("johnsmith"),
    };
    parse(&req, 1175139000).unwrap().verify(SECRET).unwrap();
    let late = parse(&req, 1175139621).unwrap_err();
    assert_eq!(
        (late.code, late.message.as_str()),
        ("AccessDenied", "Request has expired")
    );
    let far = q(&[
        ("AWSAccessKeyId", "a:b"),
        ("Expires", "4294967296"),
        ("Signature", "x"),
    ]);
    let e = parse(&ReqView { query: &far, ..req }, 1175139000).unwrap_err();
    assert!(
        e.message
            .starts_with("Invalid date (should be seconds since epoch)"),
        "{e:?}"
    );
    let bad = q(&[
        ("AWSAccessKeyId", "a:b"),
        ("Expires", "soon"),
        ("Signature", "x"),
    ]);
    assert_eq!(
        parse(&ReqView { query: &bad, ..req }, 0).unwrap_err().code,
        "AccessDenied"
    );
}

#[test]
fn header_auth_needs_a_date_within_the_skew() {
    let now = 1175024202;
    let with = |h: &[(&str, &str)]| {
        let hm = headers(h);
        let req = ReqView {
            method: "GET",
            raw_path: "/",
            query: &[],
            headers: &hm,
            bucket_in_host: None,
        };
        parse(&req, now).map(|c| c.access_key)
    };
    let auth = ("authorization", "AWS a:b:sig");
    let e = with(&[auth, ("date", ""), ("x-amz-date", "")]).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), ("AccessDenied", NO_DATE));
    let e = with(&[auth, ("date", "Tue, 27 Mar 2007 19:51:43 GMT")]).unwrap_err();
    assert_eq!(e.code, "RequestTimeTooSkewed");
    assert_eq!(
        with(&[auth, ("date", "Tue, 27 Mar 2007 19:51:42 GMT")]).unwrap(),
        "a:b"
    );
    // x-amz-date wins over Date.
    let e = with(&[
        auth,
        ("date", "Tue, 27 Mar 2007 19:36:42 GMT"),
        ("x-amz-date", "Tue, 27 Mar 2007 20:36:42 GMT"),
    ]);
    assert_eq!(e.unwrap_err().code, "RequestTimeTooSkewed");
    let e = with(&[
        ("authorization", "AWS nocolon"),
        ("date", "Tue, 27 Mar 2007 19:36:42 GMT"),
    ]);
    assert_eq!(e.unwrap_err().code, "AccessDenied");
}
