//! The decoder over AWS's published signed upload (66,560 bytes of `a` in
//! chunks of 64 KiB, 1 KiB and 0) fed in frames of every awkward size, and
//! its refusals: a bad chunk signature, a missing final chunk, a chunk
//! under 8 KiB, lengths that disagree, malformed trailers.

use super::*;
use crate::s3::sigv4::{signing_key, ChunkChain};
use http::HeaderMap;
use http_body_util::{BodyExt, StreamBody};

const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const SIGS: [&str; 3] = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
];
const TRAILER_SIG: &str = "df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c";

fn chain() -> ChunkChain {
    let scope = "20130524/us-east-1/s3/aws4_request";
    let key = signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", scope);
    ChunkChain::new(
        key,
        "20130524T000000Z",
        scope,
        SEED,
        b"PUT\n/examplebucket/chunkObject.txt",
    )
}

/// The published body; `corrupt` changes one byte of the second chunk.
fn signed_body(corrupt: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (size, sig) in [(65536, SIGS[0]), (1024, SIGS[1]), (0, SIGS[2])] {
        out.extend_from_slice(format!("{size:x};chunk-signature={sig}\r\n").as_bytes());
        let mut data = vec![b'a'; size];
        if corrupt && size == 1024 {
            data[10] = b'b';
        }
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\r\n");
    }
    out
}

type Inner = StreamBody<
    futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, std::io::Error>>>,
>;

/// `body` as frames of `piece` bytes.
fn frames(body: &[u8], piece: usize) -> Inner {
    let v: Vec<_> = body
        .chunks(piece.max(1))
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    StreamBody::new(futures_util::stream::iter(v))
}

/// Everything the decoder gives: data, trailers, and how it ended.
async fn run(mut d: AwsChunked<Inner>) -> (Vec<u8>, Option<HeaderMap>, Result<(), ChunkError>) {
    let (mut data, mut trailers) = (Vec::new(), None);
    while let Some(f) = d.frame().await {
        match f {
            Ok(f) => match f.into_data() {
                Ok(b) => data.extend_from_slice(&b),
                Err(f) => trailers = f.into_trailers().ok(),
            },
            Err(e) => return (data, trailers, Err(e)),
        }
    }
    (data, trailers, Ok(()))
}

fn unsigned(body: &[u8], len: u64, trailers: &[&str]) -> AwsChunked<Inner> {
    let t = trailers.iter().map(|s| s.to_string()).collect();
    AwsChunked::new(frames(body, 5), len, None, t, false)
}

#[tokio::test]
async fn published_signed_upload_in_any_framing() {
    let body = signed_body(false);
    for piece in [1, 7, 88, 4096, 65536, 70000] {
        let (data, trailers, end) = run(AwsChunked::new(
            frames(&body, piece),
            66560,
            Some(chain()),
            vec![],
            false,
        ))
        .await;
        assert_eq!(end, Ok(()), "frames of {piece}");
        assert_eq!(data, vec![b'a'; 66560]);
        assert!(trailers.is_none());
    }
}

#[tokio::test]
async fn a_bad_chunk_signature_ends_the_body_with_an_error() {
    let (data, _, end) = run(AwsChunked::new(
        frames(&signed_body(true), 4096),
        66560,
        Some(chain()),
        vec![],
        false,
    ))
    .await;
    match end {
        Err(ChunkError::Signature {
            string_to_sign,
            provided,
            ..
        }) => {
            assert!(string_to_sign.starts_with("AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n"));
            assert!(
                string_to_sign.contains(SIGS[0]),
                "chained from the first chunk"
            );
            assert_eq!(provided, SIGS[1]);
        }
        other => panic!("{other:?}"),
    }
    // The first chunk went through; the bad one's last piece did not.
    assert!(data.len() >= 65536 && data.len() < 66560, "{}", data.len());
    let e = ChunkError::Signature {
        string_to_sign: "x".into(),
        provided: "y".into(),
        canonical_request: b"PUT\n/".to_vec(),
    }
    .to_s3("test:tester");
    assert_eq!((e.code, e.status.as_u16()), ("SignatureDoesNotMatch", 403));
    assert!(e.extra.contains(&("CanonicalRequest", "PUT\n/".into())));
    assert!(e
        .extra
        .contains(&("CanonicalRequestBytes", "50 55 54 0a 2f".into())));
}

#[tokio::test]
async fn the_final_zero_chunk_is_required() {
    let mut body = signed_body(false);
    body.truncate(body.len() - 86); // the whole 0-size chunk
    let (data, _, end) = run(AwsChunked::new(
        frames(&body, 4096),
        66560,
        Some(chain()),
        vec![],
        false,
    ))
    .await;
    assert_eq!(end, Err(ChunkError::Incomplete));
    assert_eq!(data.len(), 66560);
    assert_eq!(
        ChunkError::Incomplete.to_s3("k").message,
        "The request body terminated unexpectedly"
    );
    // Cut inside a chunk, or inside a header line: the same.
    for cut in [100, 65536 + 90, 65536 + 88 + 2 + 5] {
        let (_, _, end) = run(AwsChunked::new(
            frames(&signed_body(false)[..cut], 7),
            66560,
            Some(chain()),
            vec![],
            false,
        ))
        .await;
        assert_eq!(end, Err(ChunkError::Incomplete), "cut at {cut}");
    }
}

#[tokio::test]
async fn only_the_last_chunk_may_be_under_8_kib() {
    let small = b"64\r\n"
        .iter()
        .chain(&[b'x'; 100])
        .chain(b"\r\n")
        .copied()
        .collect::<Vec<u8>>();
    let body = [&small[..], &small[..], b"0\r\n\r\n"].concat();
    let (_, _, end) = run(unsigned(&body, 200, &[])).await;
    assert_eq!(
        end,
        Err(ChunkError::TooSmall {
            chunk: 2,
            size: 100
        })
    );
    let e = ChunkError::TooSmall {
        chunk: 2,
        size: 100,
    }
    .to_s3("k");
    assert_eq!((e.code, e.status.as_u16()), ("InvalidChunkSizeError", 403));
    assert_eq!(
        e.extra,
        [
            ("Chunk", "2".to_string()),
            ("BadChunkSize", "100".to_string())
        ]
    );
    // One small chunk, then the final one: fine.
    let (data, _, end) = run(unsigned(&[&small[..], b"0\r\n\r\n"].concat(), 100, &[])).await;
    assert_eq!((data.len(), end), (100, Ok(())));
}

#[tokio::test]
async fn the_decoded_length_must_match() {
    let (_, _, end) = run(unsigned(b"5\r\nhello\r\n0\r\n\r\n", 10, &[])).await;
    assert_eq!(
        end,
        Err(ChunkError::Size {
            expected: 10,
            provided: 5
        })
    );
    let (_, _, end) = run(unsigned(b"5\r\nhello\r\n0\r\n\r\n", 3, &[])).await;
    assert_eq!(
        end,
        Err(ChunkError::Size {
            expected: 3,
            provided: 5
        })
    );
    let e = ChunkError::Size {
        expected: 3,
        provided: 5,
    }
    .to_s3("k");
    assert_eq!(
        e.extra,
        [
            ("NumberBytesExpected", "3".to_string()),
            ("NumberBytesProvided", "5".to_string())
        ]
    );
    for bad in [
        &b"5\r\nhelloXX0\r\n\r\n"[..],
        b"zz\r\nhello\r\n0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
    ] {
        let (_, _, end) = run(unsigned(bad, 5, &[])).await;
        assert_eq!(end, Err(ChunkError::Incomplete));
    }
    let long = format!("5;{}\r\nhello\r\n0\r\n\r\n", "x".repeat(MAX_LINE));
    assert_eq!(
        run(unsigned(long.as_bytes(), 5, &[])).await.2,
        Err(ChunkError::Incomplete)
    );
}

#[tokio::test]
async fn unsigned_trailers_come_out_as_a_trailers_frame() {
    let name = "x-amz-checksum-crc32";
    for end in ["\r\n", ""] {
        let body = format!("3\r\nabc\r\n0\r\nx-amz-checksum-crc32: NSRBwg==\r\n{end}");
        let (data, trailers, end) = run(unsigned(body.as_bytes(), 3, &[name])).await;
        assert_eq!((data, end), (b"abc".to_vec(), Ok(())));
        assert_eq!(trailers.unwrap()[name], "NSRBwg==");
    }
    let other = b"3\r\nabc\r\n0\r\nx-amz-checksum-sha1: x\r\n\r\n";
    assert_eq!(
        run(unsigned(other, 3, &[name])).await.2,
        Err(ChunkError::MalformedTrailer)
    );
    let none = b"3\r\nabc\r\n0\r\n\r\n";
    assert_eq!(
        run(unsigned(none, 3, &[name])).await.2,
        Err(ChunkError::MalformedTrailer)
    );
    let cut = b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32: NSR";
    assert_eq!(
        run(unsigned(cut, 3, &[name])).await.2,
        Err(ChunkError::Incomplete)
    );
}

#[tokio::test]
async fn signed_trailers_are_chained_after_the_final_chunk() {
    let mut body = signed_body(false);
    body.truncate(body.len() - 2); // the final chunk's CRLF: trailers follow
    body.extend_from_slice(
        format!(
            "first:1st\r\nsecond:2nd\r\nthird:3rd\r\nx-amz-trailer-signature:{TRAILER_SIG}\r\n\r\n"
        )
        .as_bytes(),
    );
    let names = vec![
        "first".to_string(),
        "second".to_string(),
        "third".to_string(),
    ];
    let d = AwsChunked::new(
        frames(&body, 333),
        66560,
        Some(chain()),
        names.clone(),
        true,
    );
    let (data, trailers, end) = run(d).await;
    assert_eq!((data.len(), end), (66560, Ok(())));
    let t = trailers.unwrap();
    assert_eq!((t.len(), t["second"].to_str().unwrap()), (3, "2nd"));
    let forged = String::from_utf8(body)
        .unwrap()
        .replace("second:2nd", "second:2nx");
    let d = AwsChunked::new(
        frames(forged.as_bytes(), 333),
        66560,
        Some(chain()),
        names,
        true,
    );
    assert!(matches!(run(d).await.2, Err(ChunkError::Signature { .. })));
}
