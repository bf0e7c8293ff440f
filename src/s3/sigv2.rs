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
        Err(S3Error::signature_does_not_match(vec![
            ("AWSAccessKeyId", self.access_key.clone()),
            (
                "StringToSign",
                String::from_utf8_lossy(&self.string_to_sign).into_owned(),
            ),
            ("SignatureProvided", self.signature.clone()),
            ("StringToSignBytes", hex_bytes(&self.string_to_sign)),
        ]))
    }
}

#[cfg(test)]
mod tests {
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
}
