//! The S3 door, on the Swift API's port (in progress, issue 13).
//!
//! Classification, as Swift's s3api: a request is S3 when it carries AWS
//! authentication, that is an `Authorization` header starting with
//! `AWS4-HMAC-SHA256 ` or `AWS `, or a presigned URL's query
//! (`X-Amz-Credential`, `X-Amz-Algorithm` or `AWSAccessKeyId`); everything
//! else (tokens, temp URLs, form posts, anonymous requests) stays Swift.
//! Anonymous S3 requests therefore cannot exist on this port, with one
//! exception: a browser's CORS preflight carries no authentication, so an
//! `OPTIONS` request whose host and path are not Swift's is S3's (see
//! [`cors::is_preflight`]: not `/v1/…`, `/v1.0…`, `/auth/…`, `/info`,
//! `/healthcheck`, nor a domain_remap host), and every S3 `OPTIONS` is
//! answered as a preflight, from the bucket's CORS rules.
//!
//! An S3 request then goes: signature claim (dates, expiry, credential
//! scope) → bucket and key ([`target`]) → payload headers ([`integrity`])
//! → the key's user and its signature ([`auth`]) → the operation
//! ([`router`]) → its handler. Every answer carries the request id in
//! `x-amz-request-id` and `x-amz-id-2` (and Swift's `X-Trans-Id`); every
//! error is S3 XML. Operations not written yet answer `NotImplemented`.
//!
//! The protocol layer is sofgate's own rather than the `s3s` crate: its
//! newest releases need a newer rustc than ours, it adds ~79 crates (the
//! RustCrypto stack twice), +2 CPU-minutes per clean build and +4 MB to a
//! stripped binary, it splits SigV2 keys at the first colon (our keys are
//! `account:user`), accepts bodies without the final 0-size chunk and
//! chunks under 8 KiB, buffers whole chunks in memory, and cannot put the
//! elements Swift's suites check (`<StringToSign>`, `<CanonicalRequest>`…)
//! into its errors. See the commit that added this module.

pub mod auth;
pub mod bridge;
pub mod bucket;
pub mod chunked;
pub mod copy;
pub mod cors;
pub mod delete;
pub mod error;
pub mod integrity;
pub mod keepalive;
pub mod multi_delete;
pub mod multipart;
pub mod object;
pub mod object_acl;
pub mod put;
pub mod restore;
pub mod router;
pub mod signing;
pub mod sigv2;
pub mod sigv4;
pub mod target;
pub mod time;
pub mod trailers;
pub mod upload;
pub mod xml;

use std::collections::HashMap;
use std::sync::Arc;

use crate::http::incoming::Incoming;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use serde_json::{json, Value};

use crate::config::Config;
use crate::http::body::Body;
use crate::store::container as scont;
use crate::store::meta::{self, keys};
use crate::swift::{blocking, App};
use auth::{Caller, ReqView};
use error::S3Error;
use router::{Op, Route};
use target::Target;

/// Is this an S3 request (and is the S3 door open)?
pub fn is_s3(cfg: &Config, req: &Request<Incoming>) -> bool {
    cfg.s3.enabled
        && (auth::kind(req.headers(), query_keys(req.uri().query())).is_some()
            || cors::is_preflight(cfg, req))
}

/// The raw names of a query's parameters.
fn query_keys(q: Option<&str>) -> impl Iterator<Item = &str> {
    q.unwrap_or("")
        .split('&')
        .map(|p| p.split_once('=').map_or(p, |(k, _)| k))
}

/// Query parameters decoded as Swift's s3api reads them (`+` is a space),
/// in the order sent, repeats kept.
pub fn decode_query(q: Option<&str>) -> Vec<(String, String)> {
    let dec = |s: &str| {
        let s = s.replace('+', " ");
        String::from_utf8_lossy(&percent_encoding::percent_decode_str(&s).collect::<Vec<u8>>())
            .into_owned()
    };
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (dec(k), dec(v))
        })
        .collect()
}

/// The `/info` entry of the S3 door, when it is open (the values Swift's
/// s3api registers; the suites read them).
pub fn info(cfg: &Config) -> Option<Value> {
    cfg.s3.enabled.then(|| {
        json!({
            "max_bucket_listing": 1000,
            "max_parts_listing": 1000,
            "max_upload_part_num": 1000,
            "max_multi_delete_objects": 1000,
            "allow_multipart_uploads": true,
            "min_segment_size": 5242880,
            "s3_acl": false,
        })
    })
}

/// A request id in Swift's form (`tx` and 21 hex digits).
fn request_id() -> String {
    format!("tx{:021x}", rand::random::<u128>() >> 44)
}

/// An authenticated S3 request, parsed once, for the handlers.
pub struct S3Request {
    pub caller: Caller,
    pub target: Target,
    pub op: Op,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub payload: integrity::Payload,
    /// The body checks of a PUT or POST.
    pub expect: Option<integrity::Expect>,
    pub body: Incoming,
    /// Its id, for an error written into an answer already begun.
    pub request_id: String,
}

/// Handles one S3 request; never fails (errors become S3 XML).
pub async fn handle(app: Arc<App>, req: Request<Incoming>) -> Response<Body> {
    let id = request_id();
    let head = req.method() == Method::HEAD;
    let sent_body = has_body(req.headers());
    let method = req.method().clone();
    let origin = req
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut scope = None;
    let result = match method {
        Method::OPTIONS => cors::preflight(&app, &req).await,
        _ => serve(app.clone(), req, &id, &mut scope).await,
    };
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => e.into_response(&id, head),
    };
    if let (Some(origin), Some(scope)) = (origin, scope) {
        cors::decorate(&app, scope, &origin, &method, &mut resp).await;
    }
    // An error may come before the body was read: then the connection
    // cannot carry another request, and the client must be told so rather
    // than find it closed under its next request.
    if sent_body && !resp.status().is_success() {
        resp.headers_mut()
            .insert("connection", HeaderValue::from_static("close"));
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        let h = resp.headers_mut();
        h.reserve(REQUEST_ID_HEADERS.len());
        for name in REQUEST_ID_HEADERS {
            h.insert(name, v.clone());
        }
    }
    resp
}

/// The headers that carry a request's id (S3's and Swift's names).
const REQUEST_ID_HEADERS: [HeaderName; 4] = [
    HeaderName::from_static("x-amz-request-id"),
    HeaderName::from_static("x-amz-id-2"),
    HeaderName::from_static("x-trans-id"),
    HeaderName::from_static("x-openstack-request-id"),
];

/// Serves an authenticated request; `scope` is set to its bucket once
/// its caller is known (for the CORS headers of its answer).
async fn serve(
    app: Arc<App>,
    req: Request<Incoming>,
    id: &str,
    scope: &mut Option<cors::Scope>,
) -> Result<Response<Body>, S3Error> {
    let (parts, body) = req.into_parts();
    let query = decode_query(parts.uri.query());
    let kind = auth::kind(&parts.headers, query_keys(parts.uri.query()))
        .ok_or_else(S3Error::access_denied)?;
    let host = parts.headers.get("host").and_then(|v| v.to_str().ok());
    let host_bucket = target::bucket_in_host(host, &app.cfg.s3.domain);
    let view = ReqView {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        query: &query,
        headers: &parts.headers,
        bucket_in_host: host_bucket.as_deref(),
    };
    let claim = auth::parse(kind, &view, &app.cfg.s3.region, time::now())?;
    let target = target::parse(
        parts.uri.path(),
        host_bucket.clone(),
        &app.store.opts.limits,
    )?;
    crate::metrics::Note::in_extensions(&parts.extensions).resource(
        crate::metrics::Resource::of_s3(target.bucket.is_some(), target.key.is_some()),
    );
    let v4_header = kind == auth::Kind::V4 && !query.iter().any(|(k, _)| k == "X-Amz-Credential");
    let length = sigv4::header(&parts.headers, "content-length").and_then(|v| v.parse().ok());
    let payload = integrity::payload(&parts.headers, v4_header, length)?;
    let expect = match parts.method {
        Method::PUT | Method::POST => Some(integrity::expect(&parts.headers, &payload)?),
        _ => None,
    };
    let caller = auth::authenticate(&app, &claim, &payload).await?;
    *scope = target.bucket.as_ref().map(|b| cors::Scope {
        account: caller.identity.account.clone(),
        bucket: b.clone(),
    });
    let op = Op::parse(&Route {
        method: parts.method.as_str(),
        has_bucket: target.bucket.is_some(),
        has_key: target.key.is_some(),
        query: &query,
        copy_source: parts.headers.contains_key("x-amz-copy-source"),
    })?;
    let req = S3Request {
        caller,
        target,
        op,
        headers: parts.headers,
        query,
        payload,
        expect,
        body,
        request_id: id.to_string(),
    };
    use Op::*;
    match req.op {
        ListBuckets => list_buckets(app, req).await,
        CreateBucket
        | HeadBucket
        | DeleteBucket
        | GetBucketLocation
        | ListObjects
        | ListObjectsV2
        | ListObjectVersions
        | GetBucketAcl
        | PutBucketAcl
        | GetBucketVersioning
        | PutBucketVersioning
        | GetBucketCors
        | PutBucketCors
        | DeleteBucketCors
        | GetObjectLockConfiguration
        | PutObjectLockConfiguration => bucket::handle(app, req).await,
        PutObject
        | CopyObject
        | GetObject { .. }
        | HeadObject { .. }
        | DeleteObject { .. }
        | DeleteObjects
        | GetObjectAcl
        | PutObjectAcl => object::handle(app, req).await,
        CreateMultipartUpload
        | UploadPart { .. }
        | UploadPartCopy { .. }
        | ListParts { .. }
        | AbortMultipartUpload { .. }
        | CompleteMultipartUpload { .. }
        | ListMultipartUploads => multipart::handle(app, req).await,
        _ => Err(not_yet(&req.op)),
    }
}

/// Does a request announce a body (a non-zero length, or chunks)?
fn has_body(h: &HeaderMap) -> bool {
    h.contains_key("transfer-encoding")
        || h.get("content-length")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// The answer to an operation not written yet.
pub fn not_yet(op: &Op) -> S3Error {
    S3Error::not_implemented(&format!("{} is not implemented yet.", op.name()))
}

/// ListBuckets: the account's containers whose names are S3 bucket names,
/// for whoever may list the account (its owner, or an account ACL grant).
async fn list_buckets(app: Arc<App>, req: S3Request) -> Result<Response<Body>, S3Error> {
    let ctx = bridge::ctx(&app, &req, Method::GET, HeaderMap::new(), HashMap::new()).await?;
    let account = ctx.account.clone();
    ctx.authorize(None, false, false, None)
        .map_err(|e| S3Error::from_api(e, None, None))?;
    let rows = blocking(&app, move |app| {
        let store = &app.store;
        let mut rows = Vec::new();
        for name in scont::list_containers(store, &account)? {
            if !target::valid_bucket(&name) {
                continue;
            }
            let created = store
                .find_container(&account, &name)
                .ok()
                .and_then(|loc| scont::container_meta(&loc).ok())
                .and_then(|m| {
                    m.get(keys::PUT_TIMESTAMP)
                        .and_then(|t| meta::parse_timestamp(t))
                })
                .unwrap_or(0.0);
            rows.push((name, created as i64));
        }
        Ok(rows)
    })
    .await
    .map_err(|e| S3Error::from_api(e, None, None))?;
    // The owner as Swift's s3api names it: `account:user` for tempauth,
    // `project:user` for a Keystone EC2 key (not the key itself).
    let owner = &req.caller.identity.user;
    let mut w = xml::Writer::new("ListAllMyBucketsResult");
    w.open("Owner")
        .elem("ID", owner)
        .elem("DisplayName", owner)
        .close();
    w.open("Buckets");
    for (name, created) in &rows {
        w.open("Bucket")
            .elem("Name", name)
            .elem("CreationDate", &time::format_iso(*created))
            .close();
    }
    xml::ok(w.finish())
}
