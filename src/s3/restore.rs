//! What a DeleteObject of one version does after the core's delete, as
//! Swift's s3api does it: when no version is current any more (the one
//! deleted was, or a delete marker is), the newest version left becomes
//! the current object again, unless that is a delete marker. Swift's own
//! object versioning keeps no such stack; S3's does.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;

use super::error::S3Error;
use super::object::core;
use super::{bridge, S3Request};
use crate::http::incoming::Incoming;
use crate::swift::versioned_writes::DELETE_MARKER;
use crate::swift::App;

/// Does the core's answer to a version DELETE leave no current version?
pub fn left_none(h: &HeaderMap) -> bool {
    h.get("x-object-current-version-id")
        .is_some_and(|v| v.as_bytes() == b"null")
}

/// Makes the newest version of `key` current, unless a delete marker is
/// newer still; a version that cannot be made current (gone since the
/// listing) gives way to the next.
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
            Err(e)
                if matches!(
                    e.status,
                    StatusCode::NOT_FOUND | StatusCode::PRECONDITION_FAILED
                ) => {}
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
    let mut query = HashMap::new();
    for (k, v) in [("format", "json"), ("versions", ""), ("prefix", key)] {
        query.insert(k.to_string(), v.to_string());
    }
    let ctx = bridge::ctx(app, req, Method::GET, HeaderMap::new(), query).await?;
    let resp = crate::swift::container::handle(app.clone(), ctx, bucket.to_string())
        .await
        .map_err(|e| S3Error::from_api(e, Some(bucket), None))?;
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|_| S3Error::internal_error())?
        .to_bytes();
    let rows: Vec<Value> = serde_json::from_slice(&body).map_err(|_| S3Error::internal_error())?;
    let text = |row: &Value, k: &str| row.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Ok(rows
        .iter()
        .take_while(|r| text(r, "name") == key && text(r, "content_type") != DELETE_MARKER)
        .map(|r| text(r, "version_id"))
        .take_while(|v| !v.is_empty() && v != "null")
        .collect())
}
