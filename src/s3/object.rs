//! Object operations. GetObject, HeadObject and DeleteObject are the Swift
//! core's own object requests, as Swift's s3api makes them: the request's
//! headers translated ([`swift_headers`]), the core's object handler called
//! ([`core`]), its answer translated back ([`s3_headers`]), so symlinks,
//! large objects, versions and expiry behave as through Swift. PutObject is
//! in [`super::put`], CopyObject in [`super::copy`], DeleteObject in
//! [`super::delete`], DeleteObjects in [`super::multi_delete`], the object
//! ACL in [`super::object_acl`].

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};

use super::error::S3Error;
use super::router::Op;
use super::{bridge, copy, delete, multi_delete, object_acl, put, time, S3Request};
use crate::http::body::Body;
use crate::http::error::ApiError;
use crate::http::incoming::Incoming;
use crate::swift::headers::http_date;
use crate::swift::range::{resolve, Ranges};
use crate::swift::{blocking, App};

/// Serves one of this file's operations.
pub async fn handle(app: Arc<App>, req: S3Request) -> Result<Response<Body>, S3Error> {
    match req.op.clone() {
        Op::PutObject => put::handle(app, req).await,
        Op::CopyObject => copy::handle(app, req).await,
        Op::GetObject {
            version_id,
            part_number,
        }
        | Op::HeadObject {
            version_id,
            part_number,
        } => get(app, req, version_id, part_number).await,
        Op::DeleteObject { version_id } => delete::handle(app, req, version_id).await,
        Op::DeleteObjects => multi_delete::handle(app, req).await,
        Op::GetObjectAcl => object_acl::get(app, req).await,
        Op::PutObjectAcl => object_acl::put(app, req).await,
        op => Err(super::not_yet(&op)),
    }
}

/// An S3 error of any status and code.
pub(crate) fn s3_error(status: u16, code: &'static str, message: &str) -> S3Error {
    S3Error {
        code,
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        message: message.to_string(),
        extra: Vec::new(),
    }
}

/// The bucket and key of an object request.
pub(crate) fn names(req: &S3Request) -> Result<(String, String), S3Error> {
    match (&req.target.bucket, &req.target.key) {
        (Some(b), Some(k)) => Ok((b.clone(), k.clone())),
        _ => Err(S3Error::internal_error()),
    }
}

/// Characters AWS ignores a user metadata header for (Swift's s3api too).
const META_NAME_REFUSED: &str = " \"),/;<=>?@[\\]{}";

/// The Swift core's view of an S3 request's headers, as Swift's s3api hands
/// them on: `x-amz-meta-<name>` becomes `X-Object-Meta-<name>` (repeats
/// joined by commas; a name with a character AWS ignores is dropped), the
/// S3 door's own headers (`Authorization`, every other `x-amz-*`,
/// `Content-MD5`, `ETag`, Swift tokens) go, and the rest passes as sent. How an S3 client's
/// metadata becomes an object's, for every operation that writes one.
pub(crate) fn swift_headers(h: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in h {
        let n = name.as_str();
        if let Some(meta) = n.strip_prefix("x-amz-meta-") {
            if meta.is_empty() || meta.chars().any(|c| META_NAME_REFUSED.contains(c)) {
                continue;
            }
            let Ok(swift) = HeaderName::from_bytes(format!("x-object-meta-{meta}").as_bytes())
            else {
                continue;
            };
            let joined = match out.get(&swift) {
                Some(old) => {
                    let mut v = old.as_bytes().to_vec();
                    v.push(b',');
                    v.extend_from_slice(value.as_bytes());
                    HeaderValue::from_bytes(&v).unwrap_or_else(|_| value.clone())
                }
                None => value.clone(),
            };
            out.insert(swift, joined);
            continue;
        }
        let dropped = n.starts_with("x-amz-")
            || matches!(
                n,
                "authorization"
                    | "content-md5"
                    | "etag"
                    | "x-auth-token"
                    | "x-storage-token"
                    | "x-service-token"
            );
        if dropped {
            continue;
        }
        out.append(name, value.clone());
    }
    out
}

/// Takes `aws-chunked` out of `Content-Encoding` (gone when nothing else
/// is left): the framing of a streaming upload's body, not the object's
/// encoding. Only for a body that is aws-chunked: a plain body declared so
/// keeps it, as in Swift's s3api.
pub(crate) fn strip_aws_chunked(h: &mut HeaderMap) {
    let Some(v) = h.get("content-encoding") else {
        return;
    };
    let kept: Vec<&str> = v
        .to_str()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    match HeaderValue::from_str(&kept.join(", ")) {
        Ok(v) if !kept.is_empty() => drop(h.insert("content-encoding", v)),
        _ => drop(h.remove("content-encoding")),
    }
}

/// An ETag as S3 shows it: in double quotes.
pub(crate) fn quoted(etag: &str) -> String {
    format!("\"{}\"", etag.trim().trim_matches('"'))
}

/// An answer of the Swift core as S3 shows it (Swift's s3api's
/// `translate_swift_to_s3`): user metadata as `x-amz-meta-*`, the content
/// headers, a quoted ETag (`-N` added for a Swift SLO, so clients do not
/// take it for an MD5), the version id, the expiry; nothing else.
pub(crate) fn s3_headers(swift: &HeaderMap) -> HeaderMap {
    // Room for the request ids and overrides added later, so that the map
    // does not grow again (bounded: a capacity past the map's limit panics).
    let mut out = HeaderMap::with_capacity(swift.len().min(256) + 8);
    let slo = swift
        .get("x-static-large-object")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    for (name, value) in swift {
        let n = name.as_str();
        let pair = if let Some(meta) = n.strip_prefix("x-object-meta-") {
            HeaderName::from_bytes(format!("x-amz-meta-{meta}").as_bytes())
                .ok()
                .map(|k| (k, value.clone()))
        } else {
            match n {
                "accept-ranges"
                | "content-length"
                | "content-type"
                | "content-range"
                | "content-encoding"
                | "content-disposition"
                | "content-language"
                | "last-modified"
                | "x-robots-tag"
                | "cache-control"
                | "expires" => Some((name.clone(), value.clone())),
                "etag" => {
                    let e = value.to_str().unwrap_or("").trim().trim_matches('"');
                    let q = match slo {
                        true => quoted(&format!("{e}-N")),
                        false => quoted(e),
                    };
                    HeaderValue::from_str(&q).ok().map(|v| (name.clone(), v))
                }
                "x-object-version-id" => {
                    Some((HeaderName::from_static("x-amz-version-id"), value.clone()))
                }
                "x-parts-count" => Some((
                    HeaderName::from_static("x-amz-mp-parts-count"),
                    value.clone(),
                )),
                "x-delete-at" => {
                    expiration(value).map(|v| (HeaderName::from_static("x-amz-expiration"), v))
                }
                _ => None,
            }
        };
        if let Some((k, v)) = pair {
            out.append(k, v);
        }
    }
    out
}

/// `X-Delete-At` as S3's `x-amz-expiration`.
fn expiration(v: &HeaderValue) -> Option<HeaderValue> {
    let at: u64 = v.to_str().ok()?.trim().parse().ok()?;
    let date = crate::swift::headers::http_date(at as f64);
    HeaderValue::from_str(&format!(
        "expiry-date=\"{date}\", rule-id=\"swift-object-expiration\""
    ))
    .ok()
}

/// Calls the Swift core's object handler for `key` in `bucket` as the S3
/// caller, with `method`, `headers` and `query` (the operation's
/// translation). A success (2xx, 304) comes back as the core answered it;
/// anything else as the S3 error it is.
pub(crate) async fn core(
    app: &Arc<App>,
    req: &S3Request,
    method: Method,
    headers: HeaderMap,
    query: HashMap<String, String>,
    (bucket, key): (&str, &str),
    body: Incoming,
) -> Result<Response<Body>, S3Error> {
    let (account, res) = core_answer(app, req, method, headers, query, (bucket, key), body).await?;
    as_s3(app, &account, (bucket, key), res).await
}

/// [`core`]'s call alone: the core's answer, whatever its status, and the
/// caller's account (for [`as_s3`]).
pub(crate) async fn core_answer(
    app: &Arc<App>,
    req: &S3Request,
    method: Method,
    headers: HeaderMap,
    query: HashMap<String, String>,
    (bucket, key): (&str, &str),
    body: Incoming,
) -> Result<(String, Result<Response<Body>, ApiError>), S3Error> {
    let ctx = bridge::ctx(app, req, method, headers, query).await?;
    let account = ctx.account.clone();
    let path = crate::store::ObjPath::new(key, &app.store.opts.limits)
        .map_err(|e| S3Error::from_api(e.into(), Some(bucket), Some(key)))?;
    let res = crate::swift::object::handle(app.clone(), ctx, bucket.to_string(), path, body).await;
    Ok((account, res))
}

/// A core's answer as [`core`] gives it: a success as it is, anything else
/// as its S3 error.
pub(crate) async fn as_s3(
    app: &Arc<App>,
    account: &str,
    (bucket, key): (&str, &str),
    res: Result<Response<Body>, ApiError>,
) -> Result<Response<Body>, S3Error> {
    let status = match &res {
        Ok(r) if r.status().is_success() || r.status() == StatusCode::NOT_MODIFIED => {
            return res.map_err(S3Error::from)
        }
        Ok(r) => r.status(),
        Err(e) => e.status(),
    };
    if status == StatusCode::NOT_FOUND {
        return Err(not_found(app, account, bucket, key).await);
    }
    Err(match res {
        Err(e) => S3Error::from_api(e, Some(bucket), Some(key)),
        Ok(_) => status_error(status),
    })
}

/// A 404 of an object request: `NoSuchBucket` when the bucket is missing.
pub(crate) async fn not_found(app: &Arc<App>, account: &str, bucket: &str, key: &str) -> S3Error {
    let (a, b) = (account.to_string(), bucket.to_string());
    let exists = blocking(app, move |app| Ok(app.locate(&a, &b).is_ok())).await;
    match exists {
        Ok(false) => S3Error::no_such_bucket(bucket),
        _ => S3Error::no_such_key(key),
    }
}

/// The S3 error of a status the core answered with a response.
fn status_error(status: StatusCode) -> S3Error {
    match status.as_u16() {
        412 => S3Error::from_api(ApiError::PreconditionFailed(String::new()), None, None),
        416 => S3Error::from_api(ApiError::RangeNotSatisfiable(0), None, None),
        401 | 403 => S3Error::access_denied(),
        400 => S3Error::invalid_request("Invalid Request."),
        s => {
            tracing::warn!("S3 object request: the core answered {s}");
            S3Error::internal_error()
        }
    }
}

/// A `partNumber` as S3 takes it: 1 to 10,000 (else 400), never beside a
/// `Range`.
fn part_number(v: &str, has_range: bool) -> Result<u32, S3Error> {
    if has_range {
        return Err(S3Error::invalid_request(
            "Cannot specify both Range header and partNumber query parameter",
        ));
    }
    match v.trim().parse::<u32>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => Err(S3Error::invalid_argument(
            "partNumber",
            v,
            "Part number must be an integer between 1 and 10000, inclusive",
        )),
    }
}

/// Response headers a GET may set from its query (`response-content-type`…).
const OVERRIDES: [&str; 6] = [
    "content-type",
    "content-language",
    "expires",
    "cache-control",
    "content-disposition",
    "content-encoding",
];

/// `If-Modified-Since` and `If-Unmodified-Since` in any form Swift's s3api
/// reads (Python's `parsedate`: `Sun, 06 Dec 2026 06:31:38 -0000`, as
/// `email.utils.formatdate` writes it), rewritten as HTTP dates for the
/// core, whose parser takes only those; a date read by neither stays, and
/// is ignored there.
pub(crate) fn dates_as_swift_reads_them(h: &mut HeaderMap) {
    for name in ["if-modified-since", "if-unmodified-since"] {
        let t = h
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(time::parse_rfc2822);
        if let Some(v) = t.and_then(|t| HeaderValue::from_str(&http_date(t.max(0) as f64)).ok()) {
            h.insert(name, v);
        }
    }
}

/// GetObject and HeadObject.
async fn get(
    app: Arc<App>,
    req: S3Request,
    version_id: Option<String>,
    part: Option<String>,
) -> Result<Response<Body>, S3Error> {
    let (bucket, key) = names(&req)?;
    let head = matches!(req.op, Op::HeadObject { .. });
    let range = req.headers.get("range").cloned();
    let part = match &part {
        Some(p) => Some(part_number(p, range.is_some())?),
        None => None,
    };
    let mut query = HashMap::new();
    if let Some(v) = &version_id {
        query.insert("version-id".to_string(), v.clone());
    }
    let mut headers = swift_headers(&req.headers);
    dates_as_swift_reads_them(&mut headers);
    // A part of an object uploaded in parts is a range of its one file.
    let mut range = range;
    let parts_count = match part {
        Some(p) => match uploaded_parts(&app, &req, &bucket, &key, version_id.clone()).await {
            Some((sizes, etag)) => {
                let r = part_range(&sizes, p)?;
                if let Ok(v) = HeaderValue::from_str(&r) {
                    headers.insert("range", v.clone());
                    range = Some(v);
                }
                Some((sizes.len(), etag))
            }
            None => None,
        },
        None => None,
    };
    if let (Some(p), None) = (part, &parts_count) {
        query.insert("part-number".to_string(), p.to_string());
    }
    let method = if head { Method::HEAD } else { Method::GET };
    let body = Incoming::empty();
    let resp = core(&app, &req, method, headers, query, (&bucket, &key), body).await;
    let resp = match (resp, &version_id) {
        (Err(e), Some(v)) if e.code == "InvalidRequest" && v != "null" => {
            return Err(no_such_version(&key, v))
        }
        (r, _) => r?,
    };
    let (parts, body) = resp.into_parts();
    let slo = parts.headers.contains_key("x-static-large-object");
    let mut out = Response::new(body);
    *out.status_mut() = parts.status;
    *out.headers_mut() = s3_headers(&parts.headers);
    match (part, parts_count) {
        (_, Some((n, etag))) => {
            let h = out.headers_mut();
            h.insert("x-amz-mp-parts-count", HeaderValue::from(n));
            // A part answers with the upload's ETag, as S3 does.
            if let Some(v) = etag.and_then(|e: String| HeaderValue::from_str(&quoted(&e)).ok()) {
                h.insert("etag", v);
            }
        }
        (Some(p), None) if !slo => whole_as_part(&mut out, p)?,
        _ => {}
    }
    if let (true, Some(r), StatusCode::OK) = (head, range, out.status()) {
        head_range(&mut out, r.to_str().ok())?;
    }
    for h in OVERRIDES {
        let value = req
            .query
            .iter()
            .find(|(k, _)| k.strip_prefix("response-") == Some(h));
        if let Some(v) = value.and_then(|(_, v)| HeaderValue::from_str(v).ok()) {
            out.headers_mut().insert(h, v);
        }
    }
    Ok(out)
}

/// The part sizes and S3 ETag of `key` (of its version `version`) when it
/// was uploaded in parts (its metadata keeps them); `None` for any other
/// object, or when it cannot be read (the core's own request then
/// answers).
async fn uploaded_parts(
    app: &Arc<App>,
    req: &S3Request,
    bucket: &str,
    key: &str,
    version: Option<String>,
) -> Option<(Vec<u64>, Option<String>)> {
    let ctx = bridge::ctx(app, req, Method::HEAD, HeaderMap::new(), HashMap::new())
        .await
        .ok()?;
    let path = crate::store::ObjPath::new(key, &app.store.opts.limits).ok()?;
    let bucket = bucket.to_string();
    blocking(app, move |app| {
        let Some(v) = version else {
            let loc = crate::swift::object_core::authorize(app, &ctx, &bucket, false)?;
            return Ok(crate::store::object::head(&app.store, &loc, &path).ok());
        };
        // A version is read by whoever may read the bucket's versions.
        if v != "null" {
            let hidden = crate::store::versions::hidden_name(&bucket);
            ctx.authorize(Some(&hidden), true, false, None)?;
        }
        let open = crate::swift::versioning::open_version(app, &ctx, &bucket, &path, &v);
        Ok(open.ok().map(|o| o.info))
    })
    .await
    .ok()
    .flatten()
    .and_then(|info| {
        let sizes = super::multipart::part_sizes(&info.meta)?;
        Some((
            sizes,
            super::multipart::s3_etag(&info.meta).map(str::to_string),
        ))
    })
}

/// The `Range` of part `p` (from 1) among parts of `sizes`; 416
/// `InvalidPartNumber` past the last.
fn part_range(sizes: &[u64], p: u32) -> Result<String, S3Error> {
    let i = (p as usize).wrapping_sub(1);
    let Some(&size) = sizes.get(i) else {
        return Err(s3_error(
            416,
            "InvalidPartNumber",
            "The requested partnumber is not satisfiable",
        ));
    };
    // The sizes come from the disk: summed without overflow (a range past
    // the file is the core's 416).
    let start = sizes[..i].iter().fold(0u64, |a, s| a.saturating_add(*s));
    let end = start.saturating_add(size).saturating_sub(1);
    Ok(format!("bytes={start}-{end}"))
}

/// `NoSuchVersion`: a version id the bucket does not have.
pub(crate) fn no_such_version(key: &str, vid: &str) -> S3Error {
    s3_error(
        404,
        "NoSuchVersion",
        "The specified version does not exist.",
    )
    .with("Key", key)
    .with("VersionId", vid)
}

fn length(resp: &Response<Body>) -> u64 {
    resp.headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `partNumber` of an object not uploaded in parts: the whole object is
/// part 1 (206, with its `Content-Range`); no other part exists (416).
fn whole_as_part(resp: &mut Response<Body>, part: u32) -> Result<(), S3Error> {
    if part != 1 {
        return Err(s3_error(
            416,
            "InvalidPartNumber",
            "The requested partnumber is not satisfiable",
        ));
    }
    if resp.status() != StatusCode::OK {
        return Ok(());
    }
    let len = length(resp);
    let range = format!("bytes 0-{}/{len}", len.saturating_sub(1));
    *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    if let Ok(v) = HeaderValue::from_str(&range) {
        resp.headers_mut().insert("content-range", v);
    }
    resp.headers_mut()
        .insert("x-amz-mp-parts-count", HeaderValue::from_static("1"));
    Ok(())
}

/// A HEAD with one satisfiable `Range` answers as the GET would (206, the
/// range's length and `Content-Range`); an unsatisfiable one is 416. Swift
/// ignores ranges on HEAD; S3 does not.
fn head_range(resp: &mut Response<Body>, range: Option<&str>) -> Result<(), S3Error> {
    let len = length(resp);
    match resolve(range, len) {
        Ranges::Unsatisfiable => Err(S3Error::from_api(
            ApiError::RangeNotSatisfiable(len),
            None,
            None,
        )),
        Ranges::Parts(r) if r.len() == 1 => {
            let (s, e) = r[0];
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = resp.headers_mut();
            h.insert("content-length", HeaderValue::from(e - s));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {s}-{}/{len}", e - 1)) {
                h.insert("content-range", v);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dates_pythons_parsedate_reads_are_rewritten() {
        let mut m = h(&[
            ("if-modified-since", "Sun, 06 Dec 2026 06:31:38 -0000"),
            ("if-unmodified-since", "2026-12-06T06:31:38"),
        ]);
        dates_as_swift_reads_them(&mut m);
        assert_eq!(m["if-modified-since"], "Sun, 06 Dec 2026 06:31:38 GMT");
        assert_eq!(m["if-unmodified-since"], "2026-12-06T06:31:38");
    }

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        m
    }

    #[test]
    fn s3_metadata_becomes_swift_metadata_and_s3_headers_go() {
        let out = swift_headers(&h(&[
            ("x-amz-meta-color", "red"),
            ("x-amz-meta-color", "blue"),
            ("x-amz-meta-foo_bar", "u"),
            ("x-amz-meta-", "empty"),
            ("x-amz-date", "20250101T000000Z"),
            ("authorization", "AWS4-HMAC-SHA256 x"),
            ("content-md5", "abc"),
            ("content-encoding", "aws-chunked, gzip"),
            ("cache-control", "no-cache"),
        ]));
        assert_eq!(out["x-object-meta-color"], "red,blue");
        assert_eq!(out["x-object-meta-foo_bar"], "u");
        assert_eq!(out["content-encoding"], "aws-chunked, gzip");
        assert_eq!(out["cache-control"], "no-cache");
        assert_eq!(out.len(), 4, "{out:?}");
        let mut out = out;
        strip_aws_chunked(&mut out);
        assert_eq!(out["content-encoding"], "gzip");
        let mut only_chunked = swift_headers(&h(&[("content-encoding", "aws-chunked")]));
        strip_aws_chunked(&mut only_chunked);
        assert!(only_chunked.is_empty());
    }

    #[test]
    fn swift_answers_become_s3_headers() {
        let out = s3_headers(&h(&[
            ("etag", "d41d8cd98f00b204e9800998ecf8427e"),
            ("x-object-meta-color", "red"),
            ("x-object-version-id", "1700000000.00000"),
            ("x-delete-at", "1700000000"),
            ("x-timestamp", "1700000000.00000"),
            ("x-trans-id", "tx"),
            ("content-type", "text/plain"),
        ]));
        assert_eq!(out["etag"], "\"d41d8cd98f00b204e9800998ecf8427e\"");
        assert_eq!(out["x-amz-meta-color"], "red");
        assert_eq!(out["x-amz-version-id"], "1700000000.00000");
        assert_eq!(
            out["x-amz-expiration"],
            "expiry-date=\"Tue, 14 Nov 2023 22:13:20 GMT\", rule-id=\"swift-object-expiration\""
        );
        assert_eq!(out["content-type"], "text/plain");
        assert_eq!(out.len(), 5, "{out:?}");
        let slo = s3_headers(&h(&[
            ("etag", "\"abc\""),
            ("x-static-large-object", "True"),
        ]));
        assert_eq!(slo["etag"], "\"abc-N\"");
    }

    #[test]
    fn part_ranges_do_not_overflow_on_planted_sizes() {
        assert_eq!(part_range(&[5, 7], 2).unwrap(), "bytes=5-11");
        let huge = part_range(&[u64::MAX, u64::MAX], 2).unwrap();
        assert_eq!(huge, format!("bytes={}-{}", u64::MAX, u64::MAX - 1));
        assert_eq!(part_range(&[5], 2).unwrap_err().code, "InvalidPartNumber");
    }

    #[test]
    fn part_numbers_are_checked() {
        assert_eq!(part_number("1", false), Ok(1));
        assert_eq!(part_number("0", false).unwrap_err().code, "InvalidArgument");
        assert_eq!(part_number("x", false).unwrap_err().code, "InvalidArgument");
        assert_eq!(part_number("1", true).unwrap_err().code, "InvalidRequest");
    }
}
