//! Bucket operations: create, head, delete, location, listings (v1, v2,
//! versions), and the bucket's ACL, versioning and CORS settings.

use std::sync::Arc;

use http::Response;

use super::error::S3Error;
use super::S3Request;
use crate::http::body::Body;
use crate::swift::App;

/// Serves one of this file's operations.
pub async fn handle(_app: Arc<App>, req: S3Request) -> Result<Response<Body>, S3Error> {
    Err(super::not_yet(&req.op))
}
