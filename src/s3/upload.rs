//! An S3 request body as the write path takes it: one adapter that decodes
//! aws-chunked framing when the payload is streaming ([`AwsChunked`]) and
//! runs the integrity checks over the object's bytes ([`Checker`]),
//! holding no more than the frame in hand.
//!
//! The body ends cleanly only when every check held; otherwise its last
//! frame is an [`S3Error`] (the answer the client gets). The write path
//! commits on a clean end alone, so a body that fails here leaves nothing.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Either};

use super::chunked::{AwsChunked, ChunkError};
use super::error::S3Error;
use super::integrity::{Checker, Expect, Payload};
use super::sigv4::{header, ChunkChain};
use super::{xml, S3Request};
use crate::http::incoming::Incoming;

/// The inner body as framed on the wire: plain, or aws-chunked.
type Framed<B> = Either<
    http_body_util::combinators::MapErr<B, fn(<B as Body>::Error) -> ChunkError>,
    AwsChunked<B>,
>;

fn plain_error<E: std::fmt::Display>(e: E) -> ChunkError {
    ChunkError::Body(e.to_string())
}

/// A request body, decoded and checked.
pub struct Checked<B: Body> {
    inner: Framed<B>,
    checker: Option<Checker>,
    trailers: Option<HeaderMap>,
    access_key: String,
}

/// Wraps `body` for `payload` and `expect`; `chain` checks signed chunks,
/// `access_key` names the caller in a signature error.
pub fn checked<B>(
    body: B,
    payload: &Payload,
    expect: Expect,
    chain: Option<ChunkChain>,
    access_key: &str,
) -> Checked<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let inner = match *payload {
        Payload::Streaming {
            signed,
            trailer,
            decoded_len,
        } => {
            let names = match &expect.checksum {
                Some((algo, None)) => vec![format!("x-amz-checksum-{}", algo.name())],
                _ => Vec::new(),
            };
            let chain = chain.filter(|_| signed);
            Either::Right(AwsChunked::new(
                body,
                decoded_len,
                chain,
                names,
                signed && trailer,
            ))
        }
        _ => Either::Left(body.map_err(plain_error::<B::Error> as fn(B::Error) -> ChunkError)),
    };
    Checked {
        inner,
        checker: Some(Checker::new(expect)),
        trailers: None,
        access_key: access_key.to_string(),
    }
}

impl<B> Body for Checked<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = S3Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, S3Error>>> {
        let this = &mut *self;
        loop {
            let Some(checker) = this.checker.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        checker.update(&data);
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    // aws-chunked trailers: for the checks, not the writer.
                    Err(frame) => this.trailers = frame.into_trailers().ok(),
                },
                Some(Err(e)) => {
                    this.checker = None;
                    let e = match e.downcast::<ChunkError>() {
                        Ok(c) => c.to_s3(&this.access_key),
                        Err(other) => S3Error::incomplete_body_terminated(&other.to_string()),
                    };
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    let checker = this.checker.take();
                    let verdict = checker.map(|c| c.finish(this.trailers.as_ref()));
                    return Poll::Ready(match verdict {
                        Some(Err(e)) => Some(Err(e)),
                        _ => None,
                    });
                }
            }
        }
    }
}

/// What a client may still send of a refused document: read and dropped
/// so that the answer reaches it (a server that stops reading makes the
/// client's send fail before it reads the answer, as Swift's suites see).
const DRAIN_MAX: u64 = 256 << 20;

/// Reads a checked body of at most [`xml::MAX_BODY`] bytes (more is
/// `MalformedXML`, once the rest, up to [`DRAIN_MAX`], is read): its own
/// error (a failed check) when it fails.
pub async fn read_checked<B>(mut body: Checked<B>) -> Result<Bytes, S3Error>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut buf = BytesMut::new();
    let mut seen = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        seen += data.len() as u64;
        if seen > DRAIN_MAX {
            break;
        }
        if seen <= xml::MAX_BODY as u64 {
            buf.extend_from_slice(&data);
        }
    }
    if seen > xml::MAX_BODY as u64 {
        return Err(S3Error::malformed_xml());
    }
    Ok(buf.freeze())
}

/// Reads the XML document of a POST (DeleteObjects,
/// CompleteMultipartUpload), checked as `expect` asks. A Content-MD5
/// mismatch names the digest as the client sent it (base64), as Swift's
/// s3api answers for these documents (a PUT's names it in hex).
pub async fn read_document(req: &mut S3Request, expect: Expect) -> Result<Bytes, S3Error> {
    let raw = std::mem::replace(&mut req.body, Incoming::empty());
    let chain = req.caller.chain.clone();
    let body = checked(raw, &req.payload, expect, chain, &req.caller.access_key);
    let sent = header(&req.headers, "content-md5").map(str::trim);
    read_checked(body).await.map_err(|e| md5_as_sent(e, sent))
}

fn md5_as_sent(mut e: S3Error, sent: Option<&str>) -> S3Error {
    if let (Some(sent), "BadDigest") = (sent, e.code) {
        for (k, v) in &mut e.extra {
            if *k == "ExpectedDigest" {
                *v = sent.to_string();
            }
        }
    }
    e
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for S3Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::integrity::{checksum_b64, expect, Algo};

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

    /// The bytes the writer gets, and how the body ended.
    async fn drain(
        pairs: &[(&str, &str)],
        payload: Payload,
        wire: &'static [u8],
    ) -> (Vec<u8>, Result<(), S3Error>) {
        let e = expect(&h(pairs), &payload).unwrap();
        let mut b = checked(
            http_body_util::Full::new(Bytes::from_static(wire)),
            &payload,
            e,
            None,
            "test:tester",
        );
        let mut out = Vec::new();
        while let Some(f) = b.frame().await {
            match f {
                Ok(f) => out.extend_from_slice(&f.into_data().unwrap()),
                Err(e) => return (out, Err(e)),
            }
        }
        (out, Ok(()))
    }

    #[tokio::test]
    async fn a_plain_body_passes_or_ends_in_its_error() {
        let crc = checksum_b64(Algo::Crc32, b"hello");
        let (data, end) = drain(
            &[("x-amz-checksum-crc32", &crc)],
            Payload::Unsigned,
            b"hello",
        )
        .await;
        assert_eq!((data.as_slice(), end), (&b"hello"[..], Ok(())));
        let (data, end) = drain(
            &[("x-amz-checksum-crc32", &crc)],
            Payload::Unsigned,
            b"hellO",
        )
        .await;
        assert_eq!(data, b"hellO");
        assert_eq!(end.unwrap_err().code, "BadDigest");
    }

    #[tokio::test]
    async fn an_aws_chunked_body_is_decoded_and_its_trailer_checked() {
        let streaming = Payload::Streaming {
            signed: false,
            trailer: true,
            decoded_len: 3,
        };
        let declared = [("x-amz-trailer", "x-amz-checksum-crc32")];
        // CRC32("abc") is NSRBwg==.
        let (data, end) = drain(
            &declared,
            streaming.clone(),
            b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n",
        )
        .await;
        assert_eq!((data.as_slice(), end), (&b"abc"[..], Ok(())));
        let (_, end) = drain(
            &declared,
            streaming.clone(),
            b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
        )
        .await;
        assert_eq!(end.unwrap_err().code, "BadDigest");
        let (_, end) = drain(&declared, streaming, b"3\r\nabc\r\n").await;
        assert_eq!(end.unwrap_err().code, "IncompleteBody");
    }
}
