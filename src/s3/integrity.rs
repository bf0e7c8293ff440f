//! The checks an S3 request body must pass before anything it carries is
//! committed: `Content-MD5`, the single-chunk `x-amz-content-sha256`, and
//! one `x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256}` sent as a
//! header or as an aws-chunked trailer, as one [`Checker`] fed the body's
//! bytes as they pass. The headers are validated first ([`payload`],
//! [`expect`]), with AWS's codes and messages as Swift's s3api gives them.
//! At the end the first failing check wins in Swift's order: SHA-256,
//! then the checksum, then MD5.

use base64::Engine;
use http::HeaderMap;
use md5::{Digest, Md5};
use sha1::Sha1;
use sha2::Sha256;

use super::error::S3Error;
use super::sigv4::header;

/// What `x-amz-content-sha256` says of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// No header (SigV2, presigned).
    Absent,
    Unsigned,
    /// The body's SHA-256 as the client wrote it (checked after the body;
    /// a value that is no SHA-256 at all fails there).
    Sha256(String),
    /// aws-chunked: chunk signatures (`signed`), trailers, decoded length.
    Streaming {
        signed: bool,
        trailer: bool,
        decoded_len: u64,
    },
}

/// Validates `x-amz-content-sha256`. `v4_header` is SigV4 header auth,
/// which requires it and is the only auth aws-chunked bodies may use.
pub fn payload(
    h: &HeaderMap,
    v4_header: bool,
    content_length: Option<u64>,
) -> Result<Payload, S3Error> {
    let Some(v) = header(h, "x-amz-content-sha256") else {
        if v4_header {
            return Err(S3Error::invalid_request(
                "Missing required header for this request: x-amz-content-sha256",
            ));
        }
        return Ok(Payload::Absent);
    };
    let streaming = match v {
        "UNSIGNED-PAYLOAD" => return Ok(Payload::Unsigned),
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Some((false, true)),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => Some((true, false)),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => Some((true, true)),
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
        | "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER" => Some((true, true)),
        _ => None,
    };
    if let Some((signed, trailer)) = streaming {
        let raw = header(h, "x-amz-decoded-content-length");
        let n: i64 = raw
            .and_then(|r| r.trim().parse().ok())
            .ok_or_else(S3Error::missing_content_length)?;
        let decoded_len = u64::try_from(n).map_err(|_| {
            S3Error::invalid_argument(
                "x-amz-decoded-content-length",
                raw.unwrap_or(""),
                "Invalid Argument.",
            )
        })?;
        if !v4_header {
            // Only SigV4 header auth can sign chunks: the body is taken as
            // plain, and its SHA-256 cannot be this word.
            if let Some(len) = content_length.filter(|l| decoded_len < *l) {
                return Err(S3Error::incomplete_body(decoded_len, len));
            }
            return Ok(Payload::Sha256(v.to_string()));
        }
        if v.contains("ECDSA") {
            return Err(S3Error::not_implemented(&format!(
                "Don't know how to validate {v} streams"
            )));
        }
        return Ok(Payload::Streaming {
            signed,
            trailer,
            decoded_len,
        });
    }
    let looks_like_sha = v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit());
    if !looks_like_sha && v4_header {
        return Err(S3Error::invalid_argument(
            "x-amz-content-sha256",
            v,
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, \
             STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or \
             a valid sha256 value.",
        ));
    }
    Ok(Payload::Sha256(v.to_string()))
}

/// A checksum algorithm of `x-amz-checksum-*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Algo {
    const ALL: [Algo; 5] = [
        Algo::Crc32,
        Algo::Crc32c,
        Algo::Crc64Nvme,
        Algo::Sha1,
        Algo::Sha256,
    ];

    /// `crc32`, as in `x-amz-checksum-crc32` and `x-amz-sdk-checksum-algorithm`.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Crc32 => "crc32",
            Algo::Crc32c => "crc32c",
            Algo::Crc64Nvme => "crc64nvme",
            Algo::Sha1 => "sha1",
            Algo::Sha256 => "sha256",
        }
    }

    fn from_header(h: &str) -> Option<Algo> {
        let n = h.strip_prefix("x-amz-checksum-")?;
        Algo::ALL.into_iter().find(|a| a.name() == n)
    }

    fn digest_len(self) -> usize {
        match self {
            Algo::Crc32 | Algo::Crc32c => 4,
            Algo::Crc64Nvme => 8,
            Algo::Sha1 => 20,
            Algo::Sha256 => 32,
        }
    }

    /// A base64 value of exactly this algorithm's digest length.
    fn decode(self, b64: &str) -> Option<Vec<u8>> {
        let v = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        (v.len() == self.digest_len()).then_some(v)
    }
}

/// A running checksum.
enum Sum {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64(crc64fast_nvme::Digest),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Sum {
    fn new(a: Algo) -> Sum {
        match a {
            Algo::Crc32 => Sum::Crc32(crc32fast::Hasher::new()),
            Algo::Crc32c => Sum::Crc32c(0),
            Algo::Crc64Nvme => Sum::Crc64(crc64fast_nvme::Digest::new()),
            Algo::Sha1 => Sum::Sha1(Sha1::new()),
            Algo::Sha256 => Sum::Sha256(Sha256::new()),
        }
    }
    fn update(&mut self, d: &[u8]) {
        match self {
            Sum::Crc32(h) => h.update(d),
            Sum::Crc32c(c) => *c = crc32c::crc32c_append(*c, d),
            Sum::Crc64(h) => h.write(d),
            Sum::Sha1(h) => h.update(d),
            Sum::Sha256(h) => h.update(d),
        }
    }
    /// The digest, big-endian for CRCs (as S3 encodes them).
    fn finish(self) -> Vec<u8> {
        match self {
            Sum::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            Sum::Crc32c(c) => c.to_be_bytes().to_vec(),
            Sum::Crc64(h) => h.sum64().to_be_bytes().to_vec(),
            Sum::Sha1(h) => h.finalize().to_vec(),
            Sum::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// The body's checksum of `algo`, base64 (as `x-amz-checksum-*` carries it).
pub fn checksum_b64(algo: Algo, data: &[u8]) -> String {
    let mut s = Sum::new(algo);
    s.update(data);
    base64::engine::general_purpose::STANDARD.encode(s.finish())
}

/// What the body must match, from the request's headers.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Content-MD5, decoded.
    pub md5: Option<[u8; 16]>,
    /// x-amz-content-sha256 of a single-chunk body.
    pub sha256: Option<String>,
    /// The checksum, its value from a header now or from a trailer later.
    pub checksum: Option<(Algo, Option<Vec<u8>>)>,
}

/// Reads and validates the integrity headers of a PUT or POST.
pub fn expect(h: &HeaderMap, payload: &Payload) -> Result<Expect, S3Error> {
    let mut e = Expect::default();
    if let Some(v) = header(h, "content-md5")
        .map(|v| v.trim_matches(|c: char| c <= ' '))
        .filter(|v| !v.is_empty())
    {
        let b64ok = v
            .trim_end_matches('=')
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
            && v.len() - v.trim_end_matches('=').len() <= 2;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v)
            .ok()
            .filter(|_| b64ok);
        e.md5 = Some(
            raw.and_then(|r| r.try_into().ok())
                .ok_or_else(|| S3Error::invalid_digest(v))?,
        );
    }
    if let Payload::Sha256(v) = payload {
        e.sha256 = Some(v.clone());
    }
    let in_headers: Vec<(&str, &str)> = h
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap_or("")))
        .filter(|(k, _)| {
            k.starts_with("x-amz-checksum-")
                && *k != "x-amz-checksum-algorithm"
                && *k != "x-amz-checksum-type"
        })
        .collect();
    if in_headers
        .iter()
        .any(|(k, _)| Algo::from_header(k).is_none())
    {
        return Err(S3Error::invalid_request(
            "The algorithm type you specified in x-amz-checksum- header is invalid.",
        ));
    }
    let declared = header(h, "x-amz-trailer").map(str::trim).unwrap_or("");
    let trailers: Vec<&str> = match declared {
        "" => Vec::new(),
        d => d.trim_end_matches(',').split(',').map(str::trim).collect(),
    };
    if trailers.iter().any(|t| Algo::from_header(t).is_none()) {
        return Err(S3Error::invalid_request(
            "The value specified in the x-amz-trailer header is not supported",
        ));
    }
    if in_headers.len() > 1 || trailers.len() > 1 {
        return Err(S3Error::invalid_request(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        ));
    }
    if in_headers.len() + trailers.len() > 1 {
        return Err(S3Error::invalid_request(
            "Expecting a single x-amz-checksum- header",
        ));
    }
    let streaming_trailer = matches!(payload, Payload::Streaming { .. });
    if let Some((name, value)) = in_headers.first() {
        let a = Algo::from_header(name).ok_or_else(S3Error::internal_error)?;
        let v = a.decode(value).ok_or_else(|| {
            S3Error::invalid_request(&format!("Value for {name} header is invalid."))
        })?;
        e.checksum = Some((a, Some(v)));
    } else if let Some(t) = trailers.first() {
        if !streaming_trailer {
            return Err(S3Error::malformed_trailer());
        }
        e.checksum = Some((
            Algo::from_header(t).ok_or_else(S3Error::internal_error)?,
            None,
        ));
    }
    if let Some(sdk) = header(h, "x-amz-sdk-checksum-algorithm") {
        match &e.checksum {
            None => {
                return Err(S3Error::invalid_request(
                    "x-amz-sdk-checksum-algorithm specified, but no corresponding \
                     x-amz-checksum-* or x-amz-trailer headers were found.",
                ))
            }
            Some((a, _)) if !sdk.eq_ignore_ascii_case(a.name()) => {
                return Err(S3Error::invalid_request(
                    "Value for x-amz-sdk-checksum-algorithm header is invalid.",
                ))
            }
            _ => {}
        }
    }
    Ok(e)
}

/// Hashes a body as it passes and checks it against an [`Expect`].
pub struct Checker {
    expect: Expect,
    md5: Md5,
    sha256: Option<Sha256>,
    sum: Option<Sum>,
}

impl Checker {
    pub fn new(expect: Expect) -> Checker {
        Checker {
            sha256: expect.sha256.as_ref().map(|_| Sha256::new()),
            sum: expect.checksum.as_ref().map(|(a, _)| Sum::new(*a)),
            md5: Md5::new(),
            expect,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        if let Some(s) = &mut self.sha256 {
            s.update(data);
        }
        if let Some(s) = &mut self.sum {
            s.update(data);
        }
    }

    /// Checks the whole body (`trailers`: those of an aws-chunked body);
    /// the body's MD5 (its ETag) when everything holds.
    pub fn finish(self, trailers: Option<&HeaderMap>) -> Result<[u8; 16], S3Error> {
        if let (Some(client), Some(h)) = (&self.expect.sha256, self.sha256) {
            let got = hex::encode(h.finalize());
            if !got.eq_ignore_ascii_case(client) {
                return Err(S3Error::sha256_mismatch(client, &got));
            }
        }
        if let (Some((algo, value)), Some(sum)) = (&self.expect.checksum, self.sum) {
            let name = format!("x-amz-checksum-{}", algo.name());
            let want = match value {
                Some(v) => v.clone(),
                None => trailers
                    .and_then(|t| header(t, &name))
                    .and_then(|v| algo.decode(v))
                    .ok_or_else(|| {
                        S3Error::invalid_request(&format!(
                            "Value for {name} trailing header is invalid."
                        ))
                    })?,
            };
            if sum.finish() != want {
                return Err(S3Error::bad_digest_checksum(&algo.name().to_uppercase()));
            }
        }
        let md5: [u8; 16] = self.md5.finalize().into();
        match self.expect.md5 {
            Some(want) if want != md5 => Err(S3Error::bad_digest_md5(&hex::encode(want))),
            _ => Ok(md5),
        }
    }
}

#[cfg(test)]
#[path = "integrity_tests.rs"]
mod tests;
