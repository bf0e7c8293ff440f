//! PutObject: the body is decoded and checked while it streams
//! (`upload::checked`: aws-chunked framing and chunk signatures,
//! Content-MD5, x-amz-content-sha256, x-amz-checksum-*) into the one write
//! path (`swift::write::Put`, fed by `swift::receive::body`), which commits
//! only once the body ended with every check held: a failed check leaves
//! nothing. The metadata is the core's own reading of the translated
//! headers (`swift::object_core::request_meta`), so `x-amz-meta-*` is stored as
//! `X-Object-Meta-*` and Swift shows it.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use super::error::S3Error;
use super::integrity::Payload;
use super::object::{names, quoted, s3_error, strip_aws_chunked, swift_headers};
use super::{bridge, upload, S3Request};
use crate::http::body::{self, Body};
use crate::http::error::{ApiError, IF_MATCH_ABSENT};
use crate::store::meta::{self, keys, Meta};
use crate::store::object as sobj;
use crate::store::write::Condition;
use crate::store::{ContainerLoc, ObjPath};
use crate::swift::write::{self, Put};
use crate::swift::{blocking, object_core as swobj, receive, App};

/// What a PutObject's conditional headers ask.
#[derive(Debug, Default, PartialEq, Eq)]
struct Conditions {
    /// `If-None-Match: *`: only if the key is free.
    create_only: bool,
    /// `If-Match: <etags>`: only over an object with one of these ETags.
    if_match: Option<String>,
}

/// Reads the conditional headers of a PUT: `If-None-Match: *` and
/// `If-Match` with ETags; any other condition is not supported (501, as
/// Swift's s3api answers).
fn conditions(h: &HeaderMap) -> Result<Conditions, S3Error> {
    let get = |n: &str| {
        h.get(n)
            .map(|v| v.to_str().unwrap_or("").trim().to_string())
    };
    let unsupported = || S3Error::not_implemented("Conditional object PUTs are not supported.");
    if h.contains_key("if-modified-since") || h.contains_key("if-unmodified-since") {
        return Err(unsupported());
    }
    let create_only = match get("if-none-match") {
        Some(v) if v == "*" => true,
        Some(_) => return Err(unsupported()),
        None => false,
    };
    let if_match = match get("if-match") {
        Some(v) if v == "*" || v.is_empty() => return Err(unsupported()),
        other => other,
    };
    Ok(Conditions {
        create_only,
        if_match,
    })
}

/// Refuses what an object write may ask and sofgate cannot do, as Swift's
/// s3api does: a storage class other than `STANDARD`, server-side
/// encryption, tags, MFA delete, website redirects. For every operation
/// that writes an object (PutObject, CopyObject, CreateMultipartUpload).
pub(crate) fn check_write_headers(h: &HeaderMap) -> Result<(), S3Error> {
    let get = |n: &str| {
        h.get(n)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    if get("x-amz-storage-class").is_some_and(|c| c != "STANDARD") {
        return Err(s3_error(
            400,
            "InvalidStorageClass",
            "The storage class you specified is not valid.",
        ));
    }
    if let Some(v) = get("x-amz-server-side-encryption") {
        if v != "aws:kms" && v != "AES256" {
            return Err(S3Error::invalid_argument(
                "x-amz-server-side-encryption",
                &v,
                "The encryption method specified is not supported",
            ));
        }
        return Err(S3Error::not_implemented(
            "Server-side encryption is not supported.",
        ));
    }
    let unsupported = [
        ("x-amz-tagging", "Object tagging is not supported."),
        ("x-amz-mfa", "MFA Delete is not supported."),
        (
            "x-amz-website-redirect-location",
            "Website redirection is not supported.",
        ),
    ];
    match unsupported.iter().find(|(n, _)| h.contains_key(*n)) {
        Some((_, m)) => Err(S3Error::not_implemented(m)),
        None => Ok(()),
    }
}

/// Does an `If-Match` list name `etag` (or `*`)?
fn etag_listed(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == etag || t == "*")
}

/// `If-Match` on an S3 write: the object at the name (`found`: its
/// metadata) must be there, unexpired, and show one of the ETags listed:
/// the ETag S3 shows of it, its multipart ETag where it has one. Checked
/// before the data comes and again, under the replaced object's lock, at
/// the commit ([`if_match_condition`]).
pub(crate) fn if_match(list: &str, found: Option<&Meta>) -> crate::store::Result<()> {
    let absent = crate::store::Error::NotMatched { absent: true };
    let Some(m) = found else { return Err(absent) };
    if swobj::meta_expired(m) {
        return Err(absent);
    }
    let shown = m.get(keys::S3_ETAG).or_else(|| m.get(keys::ETAG));
    let shown = shown.map_or("", String::as_str);
    match etag_listed(list, shown) {
        true => Ok(()),
        false => Err(crate::store::Error::NotMatched { absent: false }),
    }
}

/// [`if_match`] as the commit's condition ([`Writer::only_if`]).
fn if_match_condition(list: &str) -> Condition {
    let list = list.to_string();
    Box::new(move |found| if_match(&list, found))
}

/// Checks `If-Match` against the object now at `object` (blocking): the
/// early check, before the data.
fn check_if_match(
    app: &App,
    loc: &ContainerLoc,
    object: &ObjPath,
    list: &str,
) -> Result<(), ApiError> {
    let info = match sobj::head(&app.store, loc, object) {
        Err(crate::store::Error::NotFound) => None,
        other => Some(other?),
    };
    Ok(if_match(list, info.as_ref().map(|i| &i.meta))?)
}

/// The body's length as declared: the decoded length of an aws-chunked
/// body, else `Content-Length` (411 without either, unless chunked).
fn declared_length(req: &S3Request) -> Result<Option<u64>, S3Error> {
    if let Payload::Streaming { decoded_len, .. } = req.payload {
        return Ok(Some(decoded_len));
    }
    match req.headers.get("content-length") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                S3Error::invalid_argument("Content-Length", &v, "Invalid Argument")
            }),
        None if req.headers.contains_key("transfer-encoding") => Ok(None),
        None => Err(S3Error::missing_content_length()),
    }
}

/// The S3 form of a core error on a write to `bucket`/`key`: a missing
/// container is `NoSuchBucket`; refused expiry headers are
/// `InvalidArgument` naming the header, as Swift's s3api answers.
pub(crate) fn write_error(e: ApiError, bucket: &str, key: &str, h: &HeaderMap) -> S3Error {
    match e {
        ApiError::NotFound => S3Error::no_such_bucket(bucket),
        ApiError::PreconditionFailed(m) if m == IF_MATCH_ABSENT => S3Error::no_such_key(key),
        ApiError::BadRequest(m) => {
            for name in ["X-Delete-At", "X-Delete-After"] {
                if m.contains(name) {
                    let v = h
                        .get(name)
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                    return S3Error::invalid_argument(name, &v.unwrap_or_default(), &m);
                }
            }
            S3Error::invalid_request(&m)
        }
        e => S3Error::from_api(e, Some(bucket), Some(key)),
    }
}

/// PutObject.
pub async fn handle(app: Arc<App>, mut req: S3Request) -> Result<Response<Body>, S3Error> {
    let (bucket, key) = names(&req)?;
    check_write_headers(&req.headers)?;
    let cond = conditions(&req.headers)?;
    let length = declared_length(&req)?;
    let max = app.cfg.limits.max_file_size;
    if length.is_some_and(|l| l > max) {
        return Err(S3Error::from_api(
            ApiError::TooLarge(String::new()),
            None,
            None,
        ));
    }
    let mut headers = swift_headers(&req.headers);
    if matches!(req.payload, Payload::Streaming { .. }) {
        strip_aws_chunked(&mut headers);
    }
    let typed = headers
        .get("content-type")
        .is_some_and(|v| !v.as_bytes().trim_ascii().is_empty());
    if !typed {
        headers.insert(
            "content-type",
            HeaderValue::from_static("binary/octet-stream"),
        );
    }
    let ctx = bridge::ctx(&app, &req, Method::PUT, headers, HashMap::new()).await?;
    let werr = |e: ApiError| write_error(e, &bucket, &key, &req.headers);
    let object = ObjPath::new(&key, &app.store.opts.limits).map_err(|e| werr(e.into()))?;
    let meta = swobj::request_meta(&app, &ctx, &key).map_err(werr)?;
    let marker = key.ends_with('/')
        || (meta.get(keys::CONTENT_TYPE).map(String::as_str) == Some(meta::DIR_CONTENT_TYPE)
            && length == Some(0));
    if marker && length != Some(0) {
        return Err(S3Error::invalid_request(
            "A name ending in / is a directory marker and takes no data",
        ));
    }
    let expect = req.expect.take().unwrap_or_default();
    let (c, o, if_match) = (bucket.clone(), object.clone(), cond.if_match.clone());
    let begun = blocking(&app, move |app| {
        let loc = swobj::authorize(app, &ctx, &c, true)?;
        if let Some(list) = &if_match {
            check_if_match(app, &loc, &o, list)?;
        }
        let mut dest = ctx.write_dest(loc, &c, &o);
        dest.create_only = cond.create_only;
        if marker {
            return Ok(Err(dest));
        }
        Put::begin(app, dest, length).map(Ok)
    })
    .await
    .map_err(werr)?;
    let body = upload::checked(
        std::mem::replace(&mut req.body, crate::http::incoming::Incoming::empty()),
        &req.payload,
        expect,
        req.caller.chain.clone(),
        &req.caller.access_key,
    );
    let info = match begun {
        Err(dest) => {
            // A directory marker: the (empty) body is still checked.
            upload::read_checked(body).await?;
            let (m, c) = (meta, bucket.clone());
            blocking(&app, move |app| {
                if dest.create_only && sobj::head(&app.store, &dest.loc, &dest.object).is_ok() {
                    return Err(ApiError::PreconditionFailed(c));
                }
                write::put_dir_marker(app, dest, m)
            })
            .await
            .map_err(werr)?
        }
        Ok(put) => {
            let put = receive::body(body, put, max, |e| e).await?;
            let list = cond.if_match;
            blocking(&app, move |app| {
                commit(app, put, length, meta, list.as_deref())
            })
            .await
            .map_err(|e| write_error(e, &bucket, &key, &req.headers))?
            .map_err(|(want, got)| S3Error::incomplete_body(want, got))?
        }
    };
    let mut b = Response::builder()
        .status(StatusCode::OK)
        .header("ETag", quoted(info.etag()))
        .header("Content-Length", "0");
    if let Some(v) = info.meta.get(crate::swift::versioning::VID_KEY) {
        b = b.header("x-amz-version-id", v.as_str());
    }
    b.body(body::empty()).map_err(|_| S3Error::internal_error())
}

/// Commits a received body (blocking): it must be as long as declared
/// (else the lengths declared and received), and `If-Match` must still
/// hold when the object is put in place.
fn commit(
    app: &App,
    put: Put,
    length: Option<u64>,
    meta: crate::store::meta::Meta,
    if_match: Option<&str>,
) -> Result<Result<crate::store::object::ObjectInfo, (u64, u64)>, ApiError> {
    if let Some(want) = length.filter(|l| *l != put.size()) {
        return Ok(Err((want, put.size())));
    }
    let mut put = put;
    if let Some(list) = if_match {
        put.writer().only_if(if_match_condition(list));
    }
    let (etag, size) = (put.writer().etag(), put.size());
    match put.commit(app, meta, None) {
        Err(ApiError::Superseded) => Ok(Ok(overtaken(etag, size))),
        done => done.map(Ok),
    }
}

/// What a write that a newer write of its key overtook answers through S3:
/// success with its own ETag, as S3 answers both writes of a race (the
/// newer one stays) and Swift's s3api passes its proxy's 202 on as a 200.
fn overtaken(etag: String, size: u64) -> crate::store::object::ObjectInfo {
    let mut meta = crate::store::meta::Meta::new();
    meta.insert(keys::ETAG.into(), etag);
    crate::store::object::ObjectInfo { size, meta }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn only_create_only_and_etag_matches_are_supported() {
        assert_eq!(conditions(&h(&[])).unwrap(), Conditions::default());
        let c = conditions(&h(&[("if-none-match", "*")])).unwrap();
        assert!(c.create_only);
        let c = conditions(&h(&[("if-match", "\"abc\"")])).unwrap();
        assert_eq!(c.if_match.as_deref(), Some("\"abc\""));
        for (k, v) in [
            ("if-none-match", "abc"),
            ("if-match", "*"),
            ("if-modified-since", "Sat, 27 Jun 2015 00:00:00 GMT"),
            ("if-unmodified-since", "Sat, 27 Jun 2015 00:00:00 GMT"),
        ] {
            let e = conditions(&h(&[(k, v)])).unwrap_err();
            assert_eq!(e.status, 501, "{k}");
        }
        assert!(etag_listed("\"a\", W/\"b\"", "b"));
        assert!(check_write_headers(&h(&[("x-amz-storage-class", "STANDARD")])).is_ok());
        let code = |k, v| check_write_headers(&h(&[(k, v)])).unwrap_err().code;
        assert_eq!(
            code("x-amz-storage-class", "GLACIER"),
            "InvalidStorageClass"
        );
        assert_eq!(
            code("x-amz-server-side-encryption", "rot13"),
            "InvalidArgument"
        );
        assert_eq!(
            code("x-amz-server-side-encryption", "AES256"),
            "NotImplemented"
        );
        assert_eq!(code("x-amz-tagging", "a=b"), "NotImplemented");
        assert!(!etag_listed("\"a\"", "b"));
    }
}
