//! Body checks: the standard check values of each algorithm, header
//! validation with AWS's messages, and which mismatch wins.

use super::*;

fn h(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (k, v) in pairs {
        m.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    m
}

fn check(
    pairs: &[(&str, &str)],
    payload: Payload,
    body: &[u8],
    trailers: Option<&HeaderMap>,
) -> Result<[u8; 16], S3Error> {
    let mut c = Checker::new(expect(&h(pairs), &payload)?);
    // Fed in pieces, as a body arrives.
    for piece in body.chunks(3) {
        c.update(piece);
    }
    c.finish(trailers)
}

#[test]
fn checksum_check_values() {
    // CRC catalogue check values over "123456789"; FIPS 180 "abc".
    assert_eq!(checksum_b64(Algo::Crc32, b"123456789"), "y/Q5Jg=="); // 0xCBF43926
    assert_eq!(checksum_b64(Algo::Crc32c, b"123456789"), "4waSgw=="); // 0xE3069283
    assert_eq!(checksum_b64(Algo::Crc64Nvme, b"123456789"), "rosUhgp5mIg="); // 0xAE8B14860A799888
    assert_eq!(
        checksum_b64(Algo::Sha1, b"abc"),
        "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="
    );
    assert_eq!(
        checksum_b64(Algo::Sha256, b"abc"),
        "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
    );
}

#[test]
fn good_body_passes_every_check_and_gives_its_md5() {
    let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    for algo in ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"] {
        let a = Algo::ALL.into_iter().find(|a| a.name() == algo).unwrap();
        let name = format!("x-amz-checksum-{algo}");
        let value = checksum_b64(a, b"abc");
        let md5 = check(
            &[
                ("content-md5", "kAFQmDzST7DWlj99KOF/cg=="),
                (&name, &value),
                ("x-amz-sdk-checksum-algorithm", &algo.to_uppercase()),
            ],
            Payload::Sha256(sha.to_uppercase()),
            b"abc",
            None,
        )
        .unwrap();
        assert_eq!(hex::encode(md5), "900150983cd24fb0d6963f7d28e17f72");
    }
}

#[test]
fn mismatches_in_swifts_order() {
    let other_sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let bad_md5 = ("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==");
    let bad_crc = ("x-amz-checksum-crc32", "AAAAAA==");
    let e = check(
        &[bad_md5, bad_crc],
        Payload::Sha256(other_sha.into()),
        b"abc",
        None,
    )
    .unwrap_err();
    assert_eq!(e.code, "XAmzContentSHA256Mismatch");
    assert_eq!(
        e.extra[0],
        ("ClientComputedContentSHA256", other_sha.to_string())
    );
    let e = check(&[bad_md5, bad_crc], Payload::Absent, b"abc", None).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            "BadDigest",
            "The CRC32 you specified did not match the calculated checksum."
        )
    );
    assert!(e.extra.is_empty(), "the expected checksum is not echoed");
    let e = check(&[bad_md5], Payload::Unsigned, b"abc", None).unwrap_err();
    assert_eq!(
        (e.code, e.extra[0].1.as_str()),
        ("BadDigest", "d41d8cd98f00b204e9800998ecf8427e")
    );
    // A value that is no SHA-256 (SigV2 sends anything) fails on the body.
    let e = check(&[], Payload::Sha256("invalid".into()), b"abc", None).unwrap_err();
    assert_eq!(e.code, "XAmzContentSHA256Mismatch");
}

#[test]
fn trailer_checksums_are_read_at_the_end() {
    let streaming = Payload::Streaming {
        signed: false,
        trailer: true,
        decoded_len: 3,
    };
    let declared = [("x-amz-trailer", "x-amz-checksum-crc32c")];
    let good = h(&[("x-amz-checksum-crc32c", &checksum_b64(Algo::Crc32c, b"abc"))]);
    check(&declared, streaming.clone(), b"abc", Some(&good)).unwrap();
    let wrong = h(&[("x-amz-checksum-crc32c", &checksum_b64(Algo::Crc32c, b"abd"))]);
    assert_eq!(
        check(&declared, streaming.clone(), b"abc", Some(&wrong))
            .unwrap_err()
            .code,
        "BadDigest"
    );
    let garbled = h(&[("x-amz-checksum-crc32c", "not-base-64")]);
    let e = check(&declared, streaming.clone(), b"abc", Some(&garbled)).unwrap_err();
    assert_eq!(
        e.message,
        "Value for x-amz-checksum-crc32c trailing header is invalid."
    );
    assert_eq!(
        check(&declared, streaming, b"abc", None).unwrap_err().code,
        "InvalidRequest"
    );
    // A trailer on a body that is not aws-chunked cannot come.
    assert_eq!(
        expect(&h(&declared), &Payload::Unsigned).unwrap_err().code,
        "MalformedTrailerError"
    );
}

#[test]
fn header_validation_messages() {
    let msg = |pairs: &[(&str, &str)]| expect(&h(pairs), &Payload::Unsigned).unwrap_err().message;
    assert_eq!(
        msg(&[("x-amz-checksum-md5", "x")]),
        "The algorithm type you specified in x-amz-checksum- header is invalid."
    );
    assert_eq!(
        msg(&[
            ("x-amz-checksum-crc32", "y/Q5Jg=="),
            ("x-amz-checksum-sha1", "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=")
        ]),
        "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
    );
    // Two trailers, beside a header or not, are as two headers.
    for trailers in [
        "x-amz-checksum-crc32, x-amz-checksum-crc32",
        "x-amz-checksum-crc32, x-amz-checksum-crc32c",
    ] {
        assert_eq!(
            msg(&[
                ("x-amz-checksum-crc32", "y/Q5Jg=="),
                ("x-amz-trailer", trailers)
            ]),
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        );
    }
    assert_eq!(
        msg(&[
            ("x-amz-checksum-crc32", "y/Q5Jg=="),
            ("x-amz-trailer", "x-amz-checksum-crc32")
        ]),
        "Expecting a single x-amz-checksum- header"
    );
    assert_eq!(
        msg(&[("x-amz-checksum-crc32", "y/Q5Jg==AA")]),
        "Value for x-amz-checksum-crc32 header is invalid."
    );
    assert_eq!(
        msg(&[("x-amz-trailer", "x-amz-checksum-md5")]),
        "The value specified in the x-amz-trailer header is not supported"
    );
    assert_eq!(
        msg(&[("x-amz-sdk-checksum-algorithm", "crc32")]),
        "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found."
    );
    assert_eq!(
        msg(&[
            ("x-amz-checksum-crc32", "y/Q5Jg=="),
            ("x-amz-sdk-checksum-algorithm", "sha1")
        ]),
        "Value for x-amz-sdk-checksum-algorithm header is invalid."
    );
    for bad in [
        "nope!",
        "AAAA",
        "kAFQmDzST7DWlj99KOF/cg===",
        "kAFQmDzST7DWlj99KOF/cg",
    ] {
        assert_eq!(
            expect(&h(&[("content-md5", bad)]), &Payload::Unsigned)
                .unwrap_err()
                .code,
            "InvalidDigest",
            "{bad}"
        );
    }
    // x-amz-checksum-algorithm and -type are not checksums.
    expect(
        &h(&[
            ("x-amz-checksum-algorithm", "CRC32"),
            ("x-amz-checksum-type", "FULL_OBJECT"),
        ]),
        &Payload::Unsigned,
    )
    .unwrap();
}

#[test]
fn payload_modes() {
    let p = |pairs: &[(&str, &str)], v4: bool| payload(&h(pairs), v4, Some(100));
    assert_eq!(p(&[], false), Ok(Payload::Absent));
    assert_eq!(
        p(&[], true).unwrap_err().message,
        "Missing required header for this request: x-amz-content-sha256"
    );
    assert_eq!(
        p(&[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")], true),
        Ok(Payload::Unsigned)
    );
    let e = p(&[("x-amz-content-sha256", "unsigned-payload")], true).unwrap_err();
    assert_eq!(
        (e.code, e.extra[1].1.as_str()),
        ("InvalidArgument", "unsigned-payload")
    );
    assert_eq!(
        p(&[("x-amz-content-sha256", "invalid")], false),
        Ok(Payload::Sha256("invalid".into()))
    );
    let s = |v: &str, len: &str| {
        p(
            &[
                ("x-amz-content-sha256", v),
                ("x-amz-decoded-content-length", len),
            ],
            true,
        )
    };
    assert_eq!(
        s("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "66560"),
        Ok(Payload::Streaming {
            signed: true,
            trailer: false,
            decoded_len: 66560
        })
    );
    assert_eq!(
        s("STREAMING-UNSIGNED-PAYLOAD-TRAILER", "3"),
        Ok(Payload::Streaming {
            signed: false,
            trailer: true,
            decoded_len: 3
        })
    );
    assert_eq!(
        s("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "x")
            .unwrap_err()
            .code,
        "MissingContentLength"
    );
    assert_eq!(
        s("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "-1")
            .unwrap_err()
            .code,
        "InvalidArgument"
    );
    assert_eq!(
        s("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "3")
            .unwrap_err()
            .code,
        "NotImplemented"
    );
    // Presigned and SigV2 cannot sign chunks.
    let v2 = payload(
        &h(&[
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("x-amz-decoded-content-length", "10"),
        ]),
        false,
        Some(100),
    );
    let e = v2.unwrap_err();
    assert_eq!(
        (e.code, e.extra[0].1.as_str(), e.extra[1].1.as_str()),
        ("IncompleteBody", "10", "100")
    );
}
