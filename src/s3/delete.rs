//! DeleteObject, and the one-key delete DeleteObjects repeats: the core's
//! DELETE (of one version with `versionId`), what S3 tells of delete
//! markers (`x-amz-delete-marker`), and, when a version delete leaves no
//! version current, the newest one left made current ([`super::restore`]).

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use super::error::S3Error;
use super::object::{as_s3, core_answer, names, swift_headers};
use super::S3Request;
use crate::http::body::{self, Body};
use crate::http::incoming::Incoming;
use crate::swift::versioned_writes::DELETE_MARKER;
use crate::swift::App;

/// What deleting one key did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// The version deleted, or the delete marker made.
    pub version_id: Option<String>,
    /// A delete marker was made (no version named) or was the version
    /// deleted.
    pub marker: bool,
}

/// DeleteObject: 204 whether or not the key existed, as S3 answers;
/// `NoSuchBucket` when the bucket does not. With `versionId`, that version
/// goes (sofgate's object versioning); a delete marker made or deleted is
/// told by `x-amz-delete-marker: true`.
pub async fn handle(
    app: Arc<App>,
    req: S3Request,
    version_id: Option<String>,
) -> Result<Response<Body>, S3Error> {
    let (bucket, key) = names(&req)?;
    let d = delete_key(&app, &req, &bucket, &key, version_id.as_deref()).await?;
    let mut out = Response::new(body::empty());
    *out.status_mut() = StatusCode::NO_CONTENT;
    if let Some(v) = d.version_id.and_then(|v| HeaderValue::from_str(&v).ok()) {
        out.headers_mut().insert("x-amz-version-id", v);
    }
    if d.marker {
        out.headers_mut()
            .insert("x-amz-delete-marker", HeaderValue::from_static("true"));
    }
    Ok(out)
}

/// The version id a core's answer names, if any.
fn version_of(h: &HeaderMap) -> Option<String> {
    h.get("x-object-version-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Deletes one key (or one version of it) through the core. A missing key
/// is no error.
pub(crate) async fn delete_key(
    app: &Arc<App>,
    req: &S3Request,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<Deleted, S3Error> {
    let mut headers = swift_headers(&req.headers);
    for h in [
        "content-type",
        "content-length",
        "transfer-encoding",
        "range",
    ] {
        headers.remove(h);
    }
    let mut query = HashMap::new();
    if let Some(v) = version_id {
        query.insert("version-id".to_string(), v.to_string());
        query.insert("symlink".to_string(), "get".to_string());
    }
    let method = Method::DELETE;
    let body = Incoming::empty();
    let (account, res) = core_answer(app, req, method, headers, query, (bucket, key), body).await?;
    // With versioning on, a DELETE of a key that was not there still makes
    // a delete marker: the core answers 404 with its id, S3 answers 204.
    if let (None, Ok(r)) = (version_id, &res) {
        if r.status() == StatusCode::NOT_FOUND {
            if let Some(v) = version_of(r.headers()) {
                return Ok(Deleted {
                    version_id: Some(v),
                    marker: true,
                });
            }
        }
    }
    let asked = Deleted {
        version_id: version_id.map(str::to_string),
        marker: false,
    };
    match as_s3(app, &account, (bucket, key), res).await {
        Ok(r) => {
            let h = r.headers();
            let marker = match version_id {
                // Only a delete marker made answers a version id here.
                None => h.contains_key("x-object-version-id"),
                // The core tells a version it deleted was a marker so.
                Some(_) => h
                    .get("content-type")
                    .is_some_and(|t| t.as_bytes() == DELETE_MARKER.as_bytes()),
            };
            if version_id.is_some() && super::restore::left_none(h) {
                // The version is gone whatever happens here: a client told
                // of an error would retry, get NoSuchKey, and never restore.
                if let Err(e) = super::restore::newest(app, req, bucket, key).await {
                    tracing::warn!(
                        bucket,
                        key,
                        code = e.code,
                        "no version made current after a version delete"
                    );
                }
            }
            Ok(Deleted {
                version_id: version_of(h).or(asked.version_id),
                marker,
            })
        }
        Err(e) if e.code == "NoSuchKey" => Ok(asked),
        // A newer write of the key landed before this DELETE removed it:
        // S3 orders the two so, and answers the DELETE 204 all the same.
        Err(e) if e.code == "OperationAborted" => Ok(asked),
        // A version of a bucket never versioned: nothing to delete.
        Err(e) if e.code == "InvalidRequest" && version_id.is_some() => Ok(asked),
        Err(e) => Err(e),
    }
}
