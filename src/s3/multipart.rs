//! Multipart uploads: parts kept in a hidden area of the bucket's device
//! ([`crate::store::parts`]), completed into one plain file.
//!
//! Every operation authorizes as the Swift core does (the caller's [`Ctx`],
//! the container's ACLs); a part is written as any object is, through the
//! one write path's [`Put`] (quota, the store's atomic writer) fed by the
//! checked S3 body, but into the upload's area instead of the bucket.
//! [`complete`] assembles the parts into the bucket's object.

mod complete;
mod copy;
mod list;

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, Method, Response, StatusCode};

use super::error::S3Error;
use super::{bridge, upload, xml, S3Request};
use crate::http::body::{self, Body};
use crate::http::error::{ApiError, Finish};
use crate::store::object::ObjectInfo;
use crate::store::parts::{self, Upload, UploadId};
use crate::store::write::Writer;
use crate::store::{self, ContainerLoc, ObjPath};
use crate::swift::headers::http_date;
use crate::swift::write::{Dest, Put};
use crate::swift::{receive, App, Ctx};

pub use complete::{part_sizes, s3_etag, S3_ETAG_KEY, S3_PARTS_KEY, UPLOAD_ID_KEY};
use copy::copy_part;

/// The Content-Type of the answers without a body (Swift's s3api sends
/// its proxy's, and its suites check it).
const SWIFT_EMPTY_TYPE: &str = "text/html; charset=UTF-8";

/// The highest part number (`max_upload_part_num` in `/info`).
pub const MAX_PART_NUMBER: u32 = 1000;

/// Serves one of this file's operations.
pub async fn handle(app: Arc<App>, req: S3Request) -> Result<Response<Body>, S3Error> {
    use super::router::Op::*;
    match req.op.clone() {
        CreateMultipartUpload => create(app, req).await,
        UploadPart {
            upload_id,
            part_number,
        } => upload_part(app, req, &upload_id, &part_number).await,
        UploadPartCopy {
            upload_id,
            part_number,
        } => copy_part(app, req, &upload_id, &part_number).await,
        ListParts { upload_id } => list::parts(app, req, &upload_id).await,
        ListMultipartUploads => list::uploads(app, req).await,
        AbortMultipartUpload { upload_id } => abort(app, req, &upload_id).await,
        CompleteMultipartUpload { upload_id } => complete::handle(app, req, &upload_id).await,
        _ => Err(super::not_yet(&req.op)),
    }
}

fn s3err(status: StatusCode, code: &'static str, message: &str) -> S3Error {
    S3Error {
        code,
        status,
        message: message.to_string(),
        extra: Vec::new(),
    }
}

fn no_such_upload(id: &str) -> S3Error {
    s3err(
        StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The specified multipart upload does not exist. The upload ID might be invalid, \
         or the multipart upload might have been aborted or completed.",
    )
    .with("UploadId", id)
}

/// The part number of a request, 1 to [`MAX_PART_NUMBER`].
fn part_number(v: &str) -> Result<u32, S3Error> {
    v.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "partNumber",
                v,
                &format!(
                    "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
                ),
            )
        })
}

/// The bucket and key a request names (these operations always name both,
/// but a listing names no key).
struct Names {
    bucket: String,
    key: Option<ObjPath>,
}

fn names(app: &App, req: &S3Request) -> Result<Names, S3Error> {
    let bucket = req.target.bucket.clone().unwrap_or_default();
    let key = match &req.target.key {
        Some(k) => Some(
            ObjPath::new(k, &app.store.opts.limits)
                .map_err(|e| S3Error::invalid_argument("key", k, &e.to_string()))?,
        ),
        None => None,
    };
    Ok(Names { bucket, key })
}

/// The caller as the core sees it, with `headers` (translated) as its own.
async fn ctx_of(app: &Arc<App>, req: &S3Request, headers: HeaderMap) -> Result<Ctx, S3Error> {
    bridge::ctx(app, req, Method::PUT, headers, HashMap::new()).await
}

/// The bucket, located and authorized for the caller (`writes`: the
/// container's write ACL, else its read ACL), as the Swift core does.
fn bucket(app: &App, ctx: &Ctx, bucket: &str, writes: bool) -> Result<ContainerLoc, S3Error> {
    crate::swift::object_core::authorize(app, ctx, bucket, writes)
        .map_err(|e| S3Error::from_api(e, Some(bucket), None))
}

/// The upload `id` of `key` in the bucket at `loc`, with its area.
fn find_upload(
    app: &App,
    loc: &ContainerLoc,
    id: &str,
    key: &ObjPath,
) -> Result<(ContainerLoc, UploadId, Upload), S3Error> {
    let parsed = UploadId::parse(id).ok_or_else(|| no_such_upload(id))?;
    let missing = |e: store::Error| match e {
        store::Error::NotFound => no_such_upload(id),
        e => store_err(e),
    };
    let area = parts::area(&app.store, loc)
        .map_err(missing)?
        .ok_or_else(|| no_such_upload(id))?;
    let up = parts::record(&area, &parsed).map_err(missing)?;
    if up.record.key != key.as_str() {
        return Err(no_such_upload(id));
    }
    Ok((area, parsed, up))
}

/// CreateMultipartUpload: the record of a new upload, with the metadata
/// the object will get (as a Swift PUT with the same headers would).
async fn create(app: Arc<App>, req: S3Request) -> Result<Response<Body>, S3Error> {
    let n = names(&app, &req)?;
    let key = n.key.clone().ok_or_else(S3Error::internal_error)?;
    let ctx = ctx_of(&app, &req, super::object::swift_headers(&req.headers)).await?;
    let id = run(&app, move |app| {
        let loc = bucket(app, &ctx, &n.bucket, true)?;
        let meta = crate::swift::object_core::request_meta(app, &ctx, key.as_str())?;
        let area = parts::ensure_area(&app.store, &loc).map_err(store_err)?;
        let id = UploadId::new();
        let record = parts::Record {
            key: key.as_str().to_string(),
            meta,
        };
        let name = parts::record_name(&id);
        let mut w = Writer::create(&app.store, &area, &name).map_err(store_err)?;
        w.write(&parts::record_bytes(&record)).map_err(store_err)?;
        w.commit(parts::part_meta(), None).map_err(store_err)?;
        Ok(id)
    })
    .await?;
    let mut w = xml::Writer::new("InitiateMultipartUploadResult");
    w.elem("Bucket", req.target.bucket.as_deref().unwrap_or(""))
        .elem("Key", req.target.key.as_deref().unwrap_or(""))
        .elem("UploadId", id.as_str());
    xml::ok(w.finish())
}

/// Runs blocking filesystem work off the async threads, as
/// [`blocking`] does, for steps that answer in S3's own errors.
async fn run<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> Result<T, S3Error> + Send + 'static,
) -> Result<T, S3Error> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || f(&app))
        .await
        .map_err(|e| S3Error::from(ApiError::Internal(format!("worker failed: {e}"))))?
}

/// A store error of a step on `req`'s bucket and key, in S3's words.
fn store_err(e: store::Error) -> S3Error {
    S3Error::from(ApiError::from(e))
}

/// Where part `n` of upload `id` is written: the upload's area, as the
/// caller's write.
fn part_dest(ctx: &Ctx, area: ContainerLoc, id: &UploadId, n: u32) -> Dest {
    let container = area.name.clone();
    ctx.write_dest(area, &container, &parts::part_name(id, n))
}

fn part_response(info: &ObjectInfo) -> Result<Response<Body>, S3Error> {
    Response::builder()
        .header("ETag", format!("\"{}\"", info.etag()))
        .header("Last-Modified", http_date(info.timestamp()))
        .header("Content-Type", SWIFT_EMPTY_TYPE)
        .header("Content-Length", "0")
        .finish(body::empty())
        .map_err(S3Error::from)
}

/// UploadPart: the body, decoded and checked as it streams, into the
/// part's file (a part sent again replaces the old one atomically).
async fn upload_part(
    app: Arc<App>,
    req: S3Request,
    id: &str,
    number: &str,
) -> Result<Response<Body>, S3Error> {
    let number = part_number(number)?;
    let n = names(&app, &req)?;
    let key = n.key.clone().ok_or_else(S3Error::internal_error)?;
    let ctx = ctx_of(&app, &req, HeaderMap::new()).await?;
    let id = id.to_string();
    let put = run(&app, move |app| {
        let loc = bucket(app, &ctx, &n.bucket, true)?;
        let (area, id, _) = find_upload(app, &loc, &id, &key)?;
        Ok(Put::begin(app, part_dest(&ctx, area, &id, number), None)?)
    })
    .await?;
    let S3Request {
        body,
        payload,
        expect,
        caller,
        ..
    } = req;
    let checked = upload::checked(
        body,
        &payload,
        expect.unwrap_or_default(),
        caller.chain,
        &caller.access_key,
    );
    let max = app.cfg.limits.max_file_size;
    let put = receive::body(checked, put, max, |e| e).await?;
    let info = run(&app, move |app| {
        Ok(put.commit(app, parts::part_meta(), None)?)
    })
    .await?;
    part_response(&info)
}

/// AbortMultipartUpload: the upload and its parts go (204).
async fn abort(app: Arc<App>, req: S3Request, id: &str) -> Result<Response<Body>, S3Error> {
    let n = names(&app, &req)?;
    let key = n.key.clone().ok_or_else(S3Error::internal_error)?;
    let ctx = ctx_of(&app, &req, HeaderMap::new()).await?;
    let id = id.to_string();
    run(&app, move |app| {
        let loc = bucket(app, &ctx, &n.bucket, true)?;
        let (area, parsed, _) = find_upload(app, &loc, &id, &key)?;
        match parts::remove(&area, &parsed) {
            Ok(()) | Err(store::Error::NotFound) => Ok(()),
            Err(e) => Err(store_err(e)),
        }
    })
    .await?;
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header("Content-Type", SWIFT_EMPTY_TYPE)
        .header("Content-Length", "0")
        .finish(body::empty_with_length())
        .map_err(S3Error::from)
}
