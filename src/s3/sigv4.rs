//! AWS Signature Version 4 for S3: the `Authorization: AWS4-HMAC-SHA256`
//! header and presigned URLs (`X-Amz-Credential`…), checked as Swift's
//! s3api checks them (the suites compare its answers), plus the signing
//! chain of aws-chunked bodies (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`).
//!
//! The canonical request is built from the request as received: the path
//! decoded and re-encoded with AWS's rules (so `/a%2Fb` and `/a/b` differ,
//! and `//` is never collapsed), every query parameter sorted, the signed
//! headers' values trimmed with inner whitespace folded, and the value of
//! `x-amz-content-sha256` (or `UNSIGNED-PAYLOAD`) as the payload line.

use http::HeaderMap;

use super::auth::ReqView;
use super::error::{hex_bytes, S3Error, NO_DATE};
pub use super::signing::{
    cached_signing_key, same, sha256_hex, sign, signing_key, ChunkChain, EMPTY_SHA256,
};
use super::time;

/// Longest life of a presigned URL: a week.
pub const MAX_EXPIRES: i64 = 604_800;
/// Largest difference between a request's date and ours (15 min).
pub const MAX_SKEW: i64 = 900;

/// Headers whose presence must be signed (Swift's list).
const MUST_SIGN: [&str; 4] = ["x-amz-copy", "x-amz-acl", "x-amz-grant", "x-amz-meta"];

/// A SigV4 claim: who says they signed what, checked for form and time
/// but not yet against a secret.
#[derive(Debug, Clone)]
pub struct Claim {
    pub access_key: String,
    pub signature: String,
    /// `20130524T000000Z`.
    pub amz_date: String,
    /// `20130524/us-east-1/s3/aws4_request`.
    pub scope: String,
    pub canonical_request: Vec<u8>,
    pub string_to_sign: Vec<u8>,
}

/// AWS's URI encoding: all but `A-Za-z0-9-_.~` (and `/` when `path`).
pub fn uri_encode(raw: &[u8], path: bool) -> String {
    let mut out = Vec::with_capacity(raw.len());
    uri_encode_into(&mut out, raw, path);
    // Only ASCII was written.
    String::from_utf8(out).unwrap_or_default()
}

/// [`uri_encode`], appended to `out`.
fn uri_encode_into(out: &mut Vec<u8>, raw: &[u8], path: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in raw {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (path && b == b'/') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// The canonical query: every parameter but the signature, encoded and
/// sorted by name, then value.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| {
            (
                uri_encode(k.as_bytes(), false),
                uri_encode(v.as_bytes(), false),
            )
        })
        .collect();
    pairs.sort();
    let parts: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join("&")
}

/// A header value as signed, appended to `out`: outer whitespace and
/// controls dropped, inner whitespace runs folded to one space.
fn fold_into(out: &mut Vec<u8>, v: &[u8]) {
    let mut first = true;
    for word in v
        .split(|b| b.is_ascii_whitespace() || *b < 0x20)
        .filter(|w| !w.is_empty())
    {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(word);
    }
}

/// The canonical request of `req` with `signed` headers (sorted, lower
/// case). A signed header the request lacks makes the signature wrong.
pub fn canonical_request(req: &ReqView<'_>, signed: &[&str]) -> Result<Vec<u8>, S3Error> {
    let path: std::borrow::Cow<'_, [u8]> =
        percent_encoding::percent_decode_str(req.raw_path).into();
    let mut cr = Vec::with_capacity(256 + req.raw_path.len());
    cr.extend_from_slice(req.method.as_bytes());
    cr.push(b'\n');
    uri_encode_into(&mut cr, &path, true);
    cr.push(b'\n');
    if !req.query.is_empty() {
        cr.extend_from_slice(canonical_query(req.query).as_bytes());
    }
    cr.push(b'\n');
    for &name in signed {
        let mut values = req.headers.get_all(name).iter();
        let Some(first) = values.next() else {
            return Err(S3Error::signature_does_not_match(Vec::new()));
        };
        cr.extend_from_slice(name.as_bytes());
        cr.push(b':');
        fold_into(&mut cr, first.as_bytes());
        for v in values {
            cr.push(b',');
            fold_into(&mut cr, v.as_bytes());
        }
        cr.push(b'\n');
    }
    cr.push(b'\n');
    for (i, name) in signed.iter().enumerate() {
        if i > 0 {
            cr.push(b';');
        }
        cr.extend_from_slice(name.as_bytes());
    }
    cr.push(b'\n');
    let payload = header(req.headers, "x-amz-content-sha256").unwrap_or("UNSIGNED-PAYLOAD");
    cr.extend_from_slice(payload.as_bytes());
    Ok(cr)
}

pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn query<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Where a claim came from: the messages differ.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Header,
    Query,
}

/// Checks the signing time: header auth within [`MAX_SKEW`] of now;
/// presigned not expired (and not dated in the future beyond the skew).
fn check_time(req: &ReqView<'_>, src: Source, now: i64) -> Result<i64, S3Error> {
    let amz = match src {
        Source::Query => query(req.query, "X-Amz-Date"),
        Source::Header => None,
    };
    let t = match amz.or_else(|| header(req.headers, "x-amz-date").filter(|v| !v.is_empty())) {
        Some(v) => time::parse_amz(v),
        None => header(req.headers, "date").and_then(time::parse_http),
    };
    let t = t
        .filter(|t| *t >= 0)
        .ok_or_else(|| S3Error::access_denied_msg(NO_DATE))?;
    if src == Source::Header || t > now + MAX_SKEW {
        if (t - now).abs() > MAX_SKEW {
            return Err(S3Error::request_time_too_skewed(t, now));
        }
        return Ok(t);
    }
    let expires = query(req.query, "X-Amz-Expires").ok_or_else(S3Error::access_denied)?;
    let bad = S3Error::authorization_query_parameters_error;
    let n: i128 = expires
        .parse()
        .map_err(|_| bad("X-Amz-Expires should be a number"))?;
    if n < 0 {
        return Err(bad("X-Amz-Expires must be non-negative"));
    }
    if n >= 1i128 << 63 {
        return Err(bad("X-Amz-Expires should be a number"));
    }
    if n > MAX_EXPIRES as i128 {
        return Err(bad(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given \
             X-Amz-Expires must be less than 604800 seconds",
        ));
    }
    if t + (n as i64) < now {
        return Err(S3Error::access_denied_msg("Request has expired"));
    }
    Ok(t)
}

/// Parses and checks a SigV4 request (header or presigned) for form,
/// scope and time; the signature itself is checked by [`Claim::verify`].
pub fn parse(req: &ReqView<'_>, region: &str, now: i64) -> Result<Claim, S3Error> {
    let src = if query(req.query, "X-Amz-Credential").is_some() {
        Source::Query
    } else {
        Source::Header
    };
    if src == Source::Header {
        let has_date = ["date", "x-amz-date"]
            .iter()
            .any(|h| header(req.headers, h).is_some_and(|v| !v.is_empty()));
        if !has_date {
            return Err(S3Error::access_denied_msg(NO_DATE));
        }
    }
    let t = check_time(req, src, now)?;
    let (cred, signature, signed) = match src {
        Source::Query => query_fields(req.query)?,
        Source::Header => header_fields(header(req.headers, "authorization").unwrap_or(""))?,
    };
    let parts: Vec<&str> = cred.split('/').collect();
    if parts.len() != 5 || parts[0].is_empty() {
        return Err(S3Error::access_denied());
    }
    let amz_date = time::format_amz(t);
    check_scope(&parts, &amz_date[..8], region, src)?;
    // The credential less its access key: the four parts just checked.
    let scope = cred[parts[0].len() + 1..].to_string();
    let mut sorted: Vec<&str> = signed.split(';').collect();
    sorted.sort_unstable();
    sorted.dedup();
    for (name, _) in req.headers.iter() {
        let n = name.as_str();
        if MUST_SIGN.iter().any(|p| n.starts_with(p)) && !sorted.contains(&n) {
            return Err(S3Error::access_denied_msg(
                "There were headers present in the request which were not signed",
            )
            .with("HeadersNotSigned", n));
        }
    }
    let canonical_request = canonical_request(req, &sorted)?;
    let digest = sha256_hex(&canonical_request);
    let string_to_sign = ["AWS4-HMAC-SHA256", &amz_date, &scope, &digest]
        .join("\n")
        .into_bytes();
    Ok(Claim {
        access_key: parts[0].to_string(),
        signature: signature.to_string(),
        amz_date,
        scope,
        canonical_request,
        string_to_sign,
    })
}

/// Credential, signature and signed headers of presigned query auth.
fn query_fields(q: &[(String, String)]) -> Result<(&str, &str, &str), S3Error> {
    let algo = query(q, "X-Amz-Algorithm").unwrap_or("");
    if algo != "AWS4-HMAC-SHA256" {
        return Err(S3Error::invalid_argument(
            "X-Amz-Algorithm",
            algo,
            "Invalid Argument.",
        ));
    }
    let cred = query(q, "X-Amz-Credential").unwrap_or("");
    let sig = query(q, "X-Amz-Signature").filter(|s| !s.is_empty());
    let sig = sig.ok_or_else(S3Error::access_denied)?;
    let signed = query(q, "X-Amz-SignedHeaders").ok_or_else(S3Error::header_needs_three_parts)?;
    Ok((cred, sig, signed))
}

/// Credential, signature and signed headers of an `Authorization` header
/// (`AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`).
fn header_fields(auth: &str) -> Result<(&str, &str, &str), S3Error> {
    let field = |name: &str| {
        auth.split_once(name)
            .map_or("", |(_, rest)| rest.split(',').next().unwrap_or("").trim())
    };
    let (cred, sig, signed) = (
        field("Credential="),
        field("Signature="),
        field("SignedHeaders="),
    );
    if sig.is_empty() {
        return Err(S3Error::access_denied());
    }
    if signed.is_empty() {
        return Err(S3Error::header_needs_three_parts());
    }
    Ok((cred, sig, signed))
}

/// Checks the credential's date, region, service and terminal.
fn check_scope(parts: &[&str], date: &str, region: &str, src: Source) -> Result<(), S3Error> {
    let lead = match src {
        Source::Header => "The authorization header is malformed;",
        Source::Query => "Error parsing the X-Amz-Credential parameter;",
    };
    let fail = |m: String| match src {
        Source::Header => S3Error::authorization_header_malformed(&m),
        Source::Query => S3Error::authorization_query_parameters_error(&m),
    };
    if parts[1] != date {
        return Err(fail(format!(
            "Invalid credential date \"{}\". This date is not the same as X-Amz-Date: \"{date}\".",
            parts[1]
        )));
    }
    // Lower case is allowed for a mixed-case region (AWS .NET SDK).
    let region_ok = parts[2] == region
        || (region.chars().any(|c| c.is_ascii_uppercase()) && parts[2] == region.to_lowercase());
    if !region_ok {
        return Err(fail(format!(
            "{lead} the region '{}' is wrong; expecting '{region}'",
            parts[2]
        ))
        .with("Region", region));
    }
    if parts[3] != "s3" {
        let m = format!(
            "{lead} incorrect service \"{}\". This endpoint belongs to \"s3\".",
            parts[3]
        );
        return Err(fail(m));
    }
    if parts[4] != "aws4_request" {
        let m = format!(
            "{lead} incorrect terminal \"{}\". This endpoint uses \"aws4_request\".",
            parts[4]
        );
        return Err(fail(m));
    }
    Ok(())
}

impl Claim {
    /// Checks the signature with `secret`; on success, the signing key
    /// (for an aws-chunked body's chain).
    pub fn verify(&self, secret: &str) -> Result<[u8; 32], S3Error> {
        let key = cached_signing_key(secret, &self.scope);
        if same(&sign(&key, &self.string_to_sign), &self.signature) {
            Ok(key)
        } else {
            Err(S3Error::signature_does_not_match(self.mismatch_details()))
        }
    }

    /// What Swift's s3api (and AWS) put in a `SignatureDoesNotMatch` body.
    pub fn mismatch_details(&self) -> Vec<(&'static str, String)> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        vec![
            ("AWSAccessKeyId", self.access_key.clone()),
            ("StringToSign", text(&self.string_to_sign)),
            ("SignatureProvided", self.signature.clone()),
            ("StringToSignBytes", hex_bytes(&self.string_to_sign)),
            ("CanonicalRequest", text(&self.canonical_request)),
            ("CanonicalRequestBytes", hex_bytes(&self.canonical_request)),
        ]
    }

    /// The chain that checks an aws-chunked body's chunk signatures.
    pub fn chain(&self, key: [u8; 32]) -> ChunkChain {
        ChunkChain::new(
            key,
            &self.amz_date,
            &self.scope,
            &self.signature,
            &self.canonical_request,
        )
    }
}

#[cfg(test)]
#[path = "sigv4_tests.rs"]
mod tests;
