//! AWS Signature Version 2: `Authorization: AWS <access>:<signature>` and
//! presigned URLs (`AWSAccessKeyId`, `Expires`, `Signature`), checked as
//! Swift's s3api checks them.
//!
//! The access key is everything before the LAST colon: sofgate's keys are
//! tempauth's `account:user`, so `AWS test:tester:<sig>` is the key
//! `test:tester` (a split at the first colon would make it `test`).

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::auth::ReqView;
use super::error::{hex_bytes, S3Error, NO_DATE};
use super::sigv4::{header, same, MAX_SKEW};
use super::time;

/// Query parameters that are part of the signed resource (sorted).
pub const SUB_RESOURCES: [&str; 26] = [
    "acl",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "publicAccessBlock",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
];

/// A SigV2 claim, checked for form and time but not yet against a secret.
#[derive(Debug, Clone)]
pub struct Claim {
    pub access_key: String,
    pub signature: String,
    pub string_to_sign: Vec<u8>,
}

fn query<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A header's value with outer whitespace and controls dropped ("" if none).
fn stripped<'a>(req: &'a ReqView<'_>, name: &str) -> &'a str {
    header(req.headers, name)
        .map(|v| v.trim_matches(|c: char| c <= ' '))
        .unwrap_or("")
}

/// Parses and checks a SigV2 request for form and time.
pub fn parse(req: &ReqView<'_>, now: i64) -> Result<Claim, S3Error> {
    let (access_key, signature, date_line) = if query(req.query, "AWSAccessKeyId").is_some() {
        let expires = check_expires(req.query, now)?;
        let access = query(req.query, "AWSAccessKeyId").unwrap_or("");
        let sig = query(req.query, "Signature").unwrap_or("");
        if access.is_empty() || sig.is_empty() {
            return Err(S3Error::access_denied());
        }
        (access.to_string(), sig.to_string(), expires)
    } else {
        check_date(req, now)?;
        let auth = header(req.headers, "authorization").unwrap_or("");
        let creds = auth
            .strip_prefix("AWS ")
            .ok_or_else(S3Error::access_denied)?;
        let (access, sig) = creds.rsplit_once(':').ok_or_else(S3Error::access_denied)?;
        let date_line = match header(req.headers, "x-amz-date") {
            Some(_) => String::new(),
            None => header(req.headers, "date").unwrap_or("").to_string(),
        };
        (access.to_string(), sig.to_string(), date_line)
    };
    Ok(Claim {
        access_key,
        signature,
        string_to_sign: string_to_sign(req, &date_line),
    })
}

/// `Expires` of a presigned URL: a number, not past, below 2^31.
fn check_expires(q: &[(String, String)], now: i64) -> Result<String, S3Error> {
    let raw = query(q, "Expires").ok_or_else(S3Error::access_denied)?;
    let ex: f64 = raw.trim().parse().map_err(|_| S3Error::access_denied())?;
    if !ex.is_finite() {
        return Err(S3Error::access_denied());
    }
    if (now as f64) > ex {
        return Err(S3Error::access_denied_msg("Request has expired"));
    }
    if ex >= 2f64.powi(31) {
        return Err(S3Error::access_denied_msg(&format!(
            "Invalid date (should be seconds since epoch): {raw}"
        )));
    }
    Ok(raw.to_string())
}

/// Header auth needs a `Date` or `x-amz-date` (the latter wins) within
/// [`MAX_SKEW`] of now.
fn check_date(req: &ReqView<'_>, now: i64) -> Result<(), S3Error> {
    let amz = header(req.headers, "x-amz-date");
    let date = header(req.headers, "date");
    if amz.is_none_or(str::is_empty) && date.is_none_or(str::is_empty) {
        return Err(S3Error::access_denied_msg(NO_DATE));
    }
    let t = amz.or(date).and_then(time::parse_http);
    let t = t
        .filter(|t| *t >= 0)
        .ok_or_else(|| S3Error::access_denied_msg(NO_DATE))?;
    if (t - now).abs() > MAX_SKEW {
        return Err(S3Error::request_time_too_skewed(t, now));
    }
    Ok(())
}

/// Method, Content-MD5, Content-Type, the date line, the `x-amz-*`
/// headers (sorted, repeated ones joined by commas) and the resource: the
/// path as sent (after `/<bucket>` for virtual-hosted style) with the
/// sub-resources among the query parameters.
pub fn string_to_sign(req: &ReqView<'_>, date_line: &str) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = vec![
        req.method.as_bytes().to_vec(),
        stripped(req, "content-md5").as_bytes().to_vec(),
        stripped(req, "content-type").as_bytes().to_vec(),
        date_line.as_bytes().to_vec(),
    ];
    let mut amz: Vec<(&str, Vec<u8>)> = Vec::new();
    for (name, value) in req.headers.iter() {
        let n = name.as_str();
        if !n.starts_with("x-amz-") {
            continue;
        }
        let v = value.as_bytes().trim_ascii();
        match amz.iter_mut().find(|(k, _)| *k == n) {
            Some((_, joined)) => {
                joined.push(b',');
                joined.extend_from_slice(v);
            }
            None => amz.push((n, v.to_vec())),
        }
    }
    amz.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in amz {
        lines.push([k.as_bytes(), b":", &v].concat());
    }
    let mut resource = String::new();
    if let Some(b) = req.bucket_in_host {
        resource.push('/');
        resource.push_str(b);
    }
    resource.push_str(req.raw_path);
    let mut subs: Vec<&(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| SUB_RESOURCES.contains(&k.as_str()))
        .collect();
    subs.sort();
    for (i, (k, v)) in subs.into_iter().enumerate() {
        resource.push(if i == 0 { '?' } else { '&' });
        resource.push_str(k);
        if !v.is_empty() {
            resource.push('=');
            resource.push_str(v);
        }
    }
    lines.push(resource.into_bytes());
    lines.join(&b'\n')
}

/// `base64(hmac-sha1(secret, string_to_sign))`.
pub fn sign(secret: &str, string_to_sign: &[u8]) -> String {
    #[allow(clippy::expect_used)] // HMAC takes a key of any length: this cannot fail
    let mut m = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    m.update(string_to_sign);
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

impl Claim {
    /// Checks the signature with `secret`.
    pub fn verify(&self, secret: &str) -> Result<(), S3Error> {
        if same(&sign(secret, &self.string_to_sign), &self.signature) {
            return Ok(());
        }
        Err(S3Error::signature_does_not_match(self.mismatch_details()))
    }

    /// What Swift's s3api puts in a `SignatureDoesNotMatch` body.
    pub fn mismatch_details(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWSAccessKeyId", self.access_key.clone()),
            (
                "StringToSign",
                String::from_utf8_lossy(&self.string_to_sign).into_owned(),
            ),
            ("SignatureProvided", self.signature.clone()),
            ("StringToSignBytes", hex_bytes(&self.string_to_sign)),
        ]
    }
}

#[cfg(test)]
#[path = "sigv2_tests.rs"]
mod tests;
