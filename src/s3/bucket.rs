//! Bucket operations: create, head, delete, location, listings (v1, v2,
//! versions), and the bucket's ACL, versioning and CORS settings.
//!
//! As Swift's s3api does, each operation is translated into a request of
//! the Swift core on the bucket's container (`crate::swift::container`)
//! and its answer translated back: the core authorizes, finds, lists and
//! changes the container, so the S3 door has no rules of its own. A bucket
//! is a container of the caller's account; bucket namespaces are per
//! account, so another account's bucket of the same name is another bucket
//! and `BucketAlreadyExists` never happens (as s3api with `s3_acl = false`,
//! a second create is `BucketAlreadyOwnedByYou`).

pub mod cors;
mod list;
mod settings;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;

use super::error::S3Error;
use super::router::Op;
use super::{bridge, upload, xml, S3Request};
use crate::http::body::{self, Body};
use crate::http::error::Finish;
use crate::swift::App;

/// The largest CreateBucketConfiguration body (Swift's s3api's).
const MAX_CREATE_BODY: usize = 10240;

/// Serves one of this file's operations.
pub async fn handle(app: Arc<App>, req: S3Request) -> Result<Response<Body>, S3Error> {
    use Op::*;
    match req.op {
        CreateBucket => create(app, req).await,
        HeadBucket => head(app, req).await,
        DeleteBucket => delete(app, req).await,
        GetBucketLocation => location(app, req).await,
        ListObjects | ListObjectsV2 | ListObjectVersions => list::handle(app, req).await,
        GetBucketAcl | PutBucketAcl => settings::acl(app, req).await,
        GetBucketVersioning | PutBucketVersioning => settings::versioning(app, req).await,
        GetBucketCors | PutBucketCors | DeleteBucketCors => settings::cors(app, req).await,
        GetObjectLockConfiguration => object_lock(app, req).await,
        // No object lock to configure (Swift's s3api's answer and words).
        PutObjectLockConfiguration => Err(S3Error::not_implemented(
            "The requested resource is not implemented",
        )),
        _ => Err(super::not_yet(&req.op)),
    }
}

/// The bucket the request names (the router sends only such requests here).
fn bucket(req: &S3Request) -> &str {
    req.target.bucket.as_deref().unwrap_or("")
}

/// Sends `method` with `headers` and `query` to the Swift core's container
/// handler as the caller; a core error comes back as S3 names it for this
/// bucket (404: `NoSuchBucket`).
async fn core(
    app: &Arc<App>,
    req: &S3Request,
    method: Method,
    headers: HeaderMap,
    query: HashMap<String, String>,
) -> Result<Response<Body>, S3Error> {
    let name = bucket(req).to_string();
    let ctx = bridge::ctx(app, req, method, headers, query).await?;
    crate::swift::container::handle(app.clone(), ctx, name.clone())
        .await
        .map_err(|e| S3Error::from_api(e, Some(&name), None))
}

/// The whole body of a core response (a listing: at most one page).
async fn core_body(resp: Response<Body>) -> Result<Bytes, S3Error> {
    resp.into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|_| S3Error::internal_error())
}

/// A core answer's header as text.
fn header<'a>(resp: &'a Response<Body>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The request's body (Content-MD5, SHA-256 and chunk signatures checked
/// as for any upload) when it is XML of at most `max` bytes; a longer one
/// is `MalformedXML`, as Swift's s3api answers.
async fn read_xml(req: &mut S3Request, max: usize) -> Result<Bytes, S3Error> {
    let Some(expect) = req.expect.clone() else {
        return Ok(Bytes::new());
    };
    let declared = req
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(S3Error::malformed_xml());
    }
    let body = upload::checked(
        &mut req.body,
        &req.payload,
        expect,
        req.caller.chain.clone(),
        &req.caller.access_key,
    );
    let bytes = xml::read_body(body).await?;
    if bytes.len() > max {
        return Err(S3Error::malformed_xml());
    }
    Ok(bytes)
}

/// An empty answer with `status`.
fn empty(status: StatusCode) -> Result<Response<Body>, S3Error> {
    Response::builder()
        .status(status)
        .header("Content-Length", "0")
        .finish(body::empty())
        .map_err(S3Error::from)
}

/// CreateBucket: a container PUT. A `CreateBucketConfiguration` may name
/// only this gateway's region; `x-amz-acl` (canned) becomes the container's
/// ACLs, applied once the bucket is new (a bucket that exists is left as
/// it is: `BucketAlreadyOwnedByYou`).
async fn create(app: Arc<App>, mut req: S3Request) -> Result<Response<Body>, S3Error> {
    let acl = match req.headers.get("x-amz-acl") {
        Some(v) => settings::canned_acl(v.to_str().unwrap_or("\u{fffd}"))?,
        None => Vec::new(),
    };
    let body = read_xml(&mut req, MAX_CREATE_BODY).await?;
    if !body.is_empty() {
        check_location(&body, &app.cfg.s3.region)?;
    }
    let resp = core(&app, &req, Method::PUT, HeaderMap::new(), HashMap::new()).await?;
    if resp.status() == StatusCode::ACCEPTED {
        return Err(already_owned(bucket(&req)));
    }
    if acl.iter().any(|(_, v)| !v.is_empty()) {
        settings::post_acl(&app, &req, &acl).await?;
    }
    let location = HeaderValue::from_str(&format!("/{}", bucket(&req)))
        .map_err(|_| S3Error::internal_error())?;
    let mut resp = empty(StatusCode::OK)?;
    resp.headers_mut().insert("location", location);
    Ok(resp)
}

fn already_owned(b: &str) -> S3Error {
    S3Error {
        code: "BucketAlreadyOwnedByYou",
        status: StatusCode::CONFLICT,
        message: "Your previous request to create the named bucket succeeded and you already \
                  own it."
            .into(),
        extra: vec![("BucketName", b.to_string())],
    }
}

/// A `CreateBucketConfiguration` must be well-formed and name `region`
/// (any case, as s3api compares it with its location and that lowered).
fn check_location(body: &[u8], region: &str) -> Result<(), S3Error> {
    let doc = xml::parse(body)?;
    let root = doc.root_element();
    if root.tag_name().name() != "CreateBucketConfiguration" {
        return Err(S3Error::malformed_xml());
    }
    let location = xml::child_text(root, "LocationConstraint").unwrap_or("");
    if location == region || location == region.to_ascii_lowercase() {
        return Ok(());
    }
    Err(S3Error {
        code: "InvalidLocationConstraint",
        status: StatusCode::BAD_REQUEST,
        message: "The specified location constraint is not valid.".into(),
        extra: vec![("LocationConstraint", location.to_string())],
    })
}

/// HeadBucket: a container HEAD; 200 and no body.
async fn head(app: Arc<App>, req: S3Request) -> Result<Response<Body>, S3Error> {
    core(&app, &req, Method::HEAD, HeaderMap::new(), HashMap::new()).await?;
    let mut resp = empty(StatusCode::OK)?;
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/xml"));
    if let Ok(v) = HeaderValue::from_str(&app.cfg.s3.region) {
        h.insert("x-amz-bucket-region", v);
    }
    Ok(resp)
}

/// DeleteBucket: a container DELETE; a container that still holds objects
/// (or, versioned, versions) is `BucketNotEmpty`.
async fn delete(app: Arc<App>, req: S3Request) -> Result<Response<Body>, S3Error> {
    let name = bucket(&req).to_string();
    let ctx = bridge::ctx(&app, &req, Method::DELETE, HeaderMap::new(), HashMap::new()).await?;
    match crate::swift::container::handle(app.clone(), ctx, name.clone()).await {
        Ok(_) => empty(StatusCode::NO_CONTENT),
        Err(crate::http::error::ApiError::Conflict(m)) => Err(not_empty(m.contains("versions"))),
        Err(e) => Err(S3Error::from_api(e, Some(&name), None)),
    }
}

fn not_empty(versioned: bool) -> S3Error {
    let message = match versioned {
        true => {
            "The bucket you tried to delete is not empty. You must delete all versions in \
                 the bucket."
        }
        false => "The bucket you tried to delete is not empty",
    };
    S3Error {
        code: "BucketNotEmpty",
        status: StatusCode::CONFLICT,
        message: message.into(),
        extra: Vec::new(),
    }
}

/// GetBucketLocation: the region, empty for `us-east-1` (as S3 and s3api).
async fn location(app: Arc<App>, req: S3Request) -> Result<Response<Body>, S3Error> {
    core(&app, &req, Method::HEAD, HeaderMap::new(), HashMap::new()).await?;
    let region = &app.cfg.s3.region;
    let text = match region.as_str() {
        "us-east-1" => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{}\"/>",
            xml::NS
        ),
        r => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{}\">{}\
             </LocationConstraint>",
            xml::NS,
            xml::escape(r)
        ),
    };
    xml::ok(text)
}

/// GetObjectLockConfiguration: sofgate has no object lock, so an existing
/// bucket has no configuration (as Swift's s3api answers).
async fn object_lock(app: Arc<App>, req: S3Request) -> Result<Response<Body>, S3Error> {
    core(&app, &req, Method::HEAD, HeaderMap::new(), HashMap::new()).await?;
    Err(S3Error {
        code: "ObjectLockConfigurationNotFoundError",
        status: StatusCode::NOT_FOUND,
        message: "Object Lock configuration does not exist for this bucket".into(),
        extra: vec![("BucketName", bucket(&req).to_string())],
    })
}
