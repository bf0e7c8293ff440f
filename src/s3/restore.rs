//! What a DeleteObject of one version does after the core's delete, as
//! Swift's s3api does it: when no version is current any more (the one
//! deleted was, or a delete marker is), the newest version left becomes
//! the current object again, unless that is a delete marker. Swift's own
//! object versioning keeps no such stack; S3's does.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::error::S3Error;
use super::object::core;
use super::{bridge, S3Request};
use crate::http::incoming::Incoming;
use crate::store::ObjPath;
use crate::swift::{blocking, versioning, App};

/// Does the core's answer to a version DELETE leave no current version?
pub fn left_none(h: &HeaderMap) -> bool {
    h.get("x-object-current-version-id")
        .is_some_and(|v| v.as_bytes() == b"null")
}

/// Makes the newest version of `key` current, unless a delete marker is
/// newer still; a version that cannot be made current (gone since it was
/// read) gives way to the next. Each try is conditional (`If-None-Match:
/// *`, atomic in the core): an object written meanwhile, by another
/// request or another node, is current and stays so.
pub async fn newest(
    app: &Arc<App>,
    req: &S3Request,
    bucket: &str,
    key: &str,
) -> Result<(), S3Error> {
    for vid in candidates(app, req, bucket, key).await? {
        let mut query = HashMap::new();
        query.insert("version-id".to_string(), vid);
        let mut headers = HeaderMap::new();
        headers.insert("content-length", HeaderValue::from_static("0"));
        headers.insert("if-none-match", HeaderValue::from_static("*"));
        let put = core(
            app,
            req,
            Method::PUT,
            headers,
            query,
            (bucket, key),
            Incoming::empty(),
        );
        match put.await {
            Ok(_) => return Ok(()),
            Err(e) if e.status == StatusCode::NOT_FOUND => {}
            // Something is current again: not ours to replace.
            Err(e) if e.status == StatusCode::PRECONDITION_FAILED => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The versions of `key`, newest first, up to the first delete marker.
async fn candidates(
    app: &Arc<App>,
    req: &S3Request,
    bucket: &str,
    key: &str,
) -> Result<Vec<String>, S3Error> {
    let ctx = bridge::ctx(app, req, Method::GET, HeaderMap::new(), HashMap::new()).await?;
    let object = ObjPath::new(key, &app.store.opts.limits)
        .map_err(|e| S3Error::from_api(e.into(), Some(bucket), Some(key)))?;
    let b = bucket.to_string();
    let versions = blocking(app, move |app| {
        versioning::versions_of(app, &ctx, &b, &object)
    })
    .await
    .map_err(|e| S3Error::from_api(e, Some(bucket), None))?;
    Ok(versions
        .into_iter()
        .take_while(|(_, marker)| !marker)
        .map(|(vid, _)| vid)
        .collect())
}
