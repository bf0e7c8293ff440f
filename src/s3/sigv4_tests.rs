//! SigV4 against AWS's published S3 examples ("Signature Calculations for
//! the Authorization Header", "Authenticating Requests: Using Query
//! Parameters", "Transferring Payload in Multiple Chunks"): access key
//! AKIAIOSFODNN7EXAMPLE, 2013-05-24T00:00:00Z, us-east-1, bucket
//! `examplebucket`.

use super::*;
use http::HeaderMap;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const T: i64 = 1369353600; // 20130524T000000Z
const HOST: &str = "examplebucket.s3.amazonaws.com";

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

fn authz(signed: &str, sig: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
         SignedHeaders={signed}, Signature={sig}"
    )
}

/// Parses and verifies a header-signed request at time `now`.
fn check(
    method: &str,
    path: &str,
    query: &[(String, String)],
    h: &HeaderMap,
    now: i64,
) -> Result<Claim, S3Error> {
    let req = ReqView {
        method,
        raw_path: path,
        query,
        headers: h,
        bucket_in_host: None,
    };
    let c = parse(&req, "us-east-1", now)?;
    c.verify(SECRET)?;
    Ok(c)
}

fn signed_get(sig: &str) -> HeaderMap {
    let a = authz("host;range;x-amz-content-sha256;x-amz-date", sig);
    headers(&[
        ("host", HOST),
        ("range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256),
        ("x-amz-date", "20130524T000000Z"),
        ("authorization", &a),
    ])
}

#[test]
fn get_object_example() {
    let h = signed_get("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    let c = check("GET", "/test.txt", &[], &h, T + 60).unwrap();
    assert_eq!(c.access_key, "AKIAIOSFODNN7EXAMPLE");
    assert_eq!(c.scope, "20130524/us-east-1/s3/aws4_request");
    // One wrong character: SignatureDoesNotMatch, with what was signed.
    let h = signed_get("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb42");
    let e = check("GET", "/test.txt", &[], &h, T).unwrap_err();
    assert_eq!((e.code, e.status.as_u16()), ("SignatureDoesNotMatch", 403));
    let names: Vec<_> = e.extra.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        names,
        [
            "AWSAccessKeyId",
            "StringToSign",
            "SignatureProvided",
            "StringToSignBytes",
            "CanonicalRequest",
            "CanonicalRequestBytes"
        ]
    );
    assert!(e.extra[1]
        .1
        .starts_with("AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"));
    assert!(e.extra[3].1.starts_with("41 57 53 34 2d"));
    assert!(e.extra[4]
        .1
        .starts_with("GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"));
    // Another path is another canonical request.
    let h = signed_get("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    assert_eq!(
        check("GET", "/test2.txt", &[], &h, T).unwrap_err().code,
        "SignatureDoesNotMatch"
    );
}

#[test]
fn put_object_example_encodes_the_path() {
    let body_sha = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
    assert_eq!(sha256_hex(b"Welcome to Amazon S3."), body_sha);
    let a = authz(
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    );
    let h = headers(&[
        ("date", "Fri, 24 May 2013 00:00:00 GMT"),
        ("host", HOST),
        ("x-amz-content-sha256", body_sha),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("authorization", &a),
    ]);
    for path in ["/test%24file.text", "/test$file.text"] {
        let c = check("PUT", path, &[], &h, T).unwrap();
        assert_eq!(
            sha256_hex(&c.canonical_request),
            "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"
        );
    }
}

#[test]
fn bucket_examples_sort_the_query() {
    let cases = [
        (
            q(&[("lifecycle", "")]),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        ),
        (
            q(&[("prefix", "J"), ("max-keys", "2")]),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        ),
    ];
    for (query, sig) in cases {
        let a = authz("host;x-amz-content-sha256;x-amz-date", sig);
        let h = headers(&[
            ("host", HOST),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
            ("authorization", &a),
        ]);
        check("GET", "/", &query, &h, T).unwrap();
    }
    assert_eq!(
        canonical_query(&q(&[("b", "x y"), ("a", "2"), ("a", "1")])),
        "a=1&a=2&b=x%20y"
    );
}

fn presigned(expires: &str) -> Vec<(String, String)> {
    q(&[
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        (
            "X-Amz-Credential",
            "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request",
        ),
        ("X-Amz-Date", "20130524T000000Z"),
        ("X-Amz-Expires", expires),
        ("X-Amz-SignedHeaders", "host"),
        (
            "X-Amz-Signature",
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
        ),
    ])
}

#[test]
fn presigned_example_and_its_limits() {
    let h = headers(&[("host", HOST)]);
    check("GET", "/test.txt", &presigned("86400"), &h, T + 86400).unwrap();
    let e = check("GET", "/test.txt", &presigned("86400"), &h, T + 86401).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        ("AccessDenied", "Request has expired")
    );
    let msg = |exp: &str| {
        let e = check("GET", "/test.txt", &presigned(exp), &h, T).unwrap_err();
        assert_eq!(
            (e.code, e.status.as_u16()),
            ("AuthorizationQueryParametersError", 400)
        );
        e.message
    };
    assert!(msg("604801").contains("X-Amz-Expires must be less than 604800 seconds"));
    assert!(msg("9223372036854775807").contains("less than 604800 seconds"));
    assert_eq!(
        msg("9223372036854775808"),
        "X-Amz-Expires should be a number"
    );
    assert_eq!(msg("foo"), "X-Amz-Expires should be a number");
    assert_eq!(msg("-1"), "X-Amz-Expires must be non-negative");
    // Dated beyond the skew in the future: refused, not valid for longer.
    let e = check("GET", "/test.txt", &presigned("86400"), &h, T - 901).unwrap_err();
    assert_eq!(e.code, "RequestTimeTooSkewed");
}

#[test]
fn header_auth_time_scope_and_unsigned_headers() {
    let h = signed_get("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    assert!(check("GET", "/test.txt", &[], &h, T + 900).is_ok());
    assert!(check("GET", "/test.txt", &[], &h, T - 900).is_ok());
    for now in [T + 901, T - 901] {
        let e = check("GET", "/test.txt", &[], &h, now).unwrap_err();
        assert_eq!((e.code, e.status.as_u16()), ("RequestTimeTooSkewed", 403));
    }
    let req = |h: &HeaderMap, region: &str| {
        let r = ReqView {
            method: "GET",
            raw_path: "/test.txt",
            query: &[],
            headers: h,
            bucket_in_host: None,
        };
        parse(&r, region, T).map(|_| ())
    };
    let e = req(&h, "eu-west-1").unwrap_err();
    assert_eq!(e.code, "AuthorizationHeaderMalformed");
    assert_eq!(e.message, "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'");
    assert_eq!(e.extra, [("Region", "eu-west-1".to_string())]);
    assert!(
        req(&h, "US-EAST-1").is_ok(),
        "lower case of a mixed-case region"
    );
    let mut meta = h.clone();
    meta.insert("x-amz-meta-color", "red".parse().unwrap());
    let e = req(&meta, "us-east-1").unwrap_err();
    assert_eq!(
        (e.code, e.extra[0].1.as_str()),
        ("AccessDenied", "x-amz-meta-color")
    );
    let mut undated = h.clone();
    undated.remove("x-amz-date");
    assert_eq!(req(&undated, "us-east-1").unwrap_err().message, NO_DATE);
    let mut three = h.clone();
    three.insert(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=a/20130524/us-east-1/s3/aws4_request, Signature=x"
            .parse()
            .unwrap(),
    );
    assert_eq!(
        req(&three, "us-east-1").unwrap_err().code,
        "AuthorizationHeaderMalformed"
    );
    let mut short = h.clone();
    short.insert(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=a/20130524/s3/aws4_request, SignedHeaders=host, Signature=x"
            .parse()
            .unwrap(),
    );
    assert_eq!(req(&short, "us-east-1").unwrap_err().code, "AccessDenied");
}

/// The streaming PUT example: its seed signature, then the chain over a
/// 64 KiB chunk, a 1 KiB chunk and the final empty one, then trailers.
#[test]
fn chunked_upload_example_chain() {
    let a = authz(
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    );
    let h = headers(&[
        ("host", "s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("content-length", "66824"),
        ("authorization", &a),
    ]);
    let c = check("PUT", "/examplebucket/chunkObject.txt", &[], &h, T).unwrap();
    let mut chain = c.chain(signing_key(SECRET, &c.scope));
    let steps = [
        (
            sha256_hex(&[b'a'; 65536]),
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        ),
        (
            sha256_hex(&[b'a'; 1024]),
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        ),
        (
            EMPTY_SHA256.to_string(),
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ),
    ];
    // A signature out of order breaks the chain and leaves it where it was.
    assert!(!chain.advance(&chain.chunk_string(&steps[0].0), steps[1].1));
    for (sha, sig) in &steps {
        assert!(chain.advance(&chain.chunk_string(sha), sig), "chunk {sig}");
    }
    let trailers = b"first:1st\nsecond:2nd\nthird:3rd\n";
    let sts = chain.trailer_string(trailers);
    assert!(chain.advance(
        &sts,
        "df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c"
    ));
}
