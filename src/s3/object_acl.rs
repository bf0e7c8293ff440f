//! GetObjectAcl and PutObjectAcl as Swift's s3api answers them with
//! `s3_acl = false`: Swift keeps no per-object ACL, so an object's ACL is
//! its owner's full control (the object must exist and be readable), and
//! setting one is not implemented.

use std::collections::HashMap;
use std::sync::Arc;

use http::{Method, Response, StatusCode};

use super::error::S3Error;
use super::object::{core, names, swift_headers};
use super::xml::{escape_text, NS};
use super::S3Request;
use crate::http::body::{self, Body};
use crate::http::incoming::Incoming;
use crate::swift::App;

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// An `AccessControlPolicy` granting `owner` full control.
pub(crate) fn owner_only(owner: &str) -> String {
    let o = escape_text(owner);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AccessControlPolicy xmlns=\"{NS}\">\
         <Owner><ID>{o}</ID><DisplayName>{o}</DisplayName></Owner><AccessControlList>\
         <Grant><Grantee xmlns:xsi=\"{XSI}\" xsi:type=\"CanonicalUser\"><ID>{o}</ID>\
         <DisplayName>{o}</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>\
         </AccessControlList></AccessControlPolicy>"
    )
}

/// GetObjectAcl.
pub async fn get(app: Arc<App>, req: S3Request) -> Result<Response<Body>, S3Error> {
    let (bucket, key) = names(&req)?;
    let headers = swift_headers(&req.headers);
    let names = (bucket.as_str(), key.as_str());
    let query = HashMap::new();
    core(
        &app,
        &req,
        Method::HEAD,
        headers,
        query,
        names,
        Incoming::empty(),
    )
    .await?;
    let text = owner_only(&req.caller.access_key);
    Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/xml")
        .header("Content-Length", text.len())
        .body(body::full(text))
        .map_err(|_| S3Error::internal_error())
}

/// PutObjectAcl: not implemented, as in Swift's s3api (whose ACLs are the
/// bucket's).
pub async fn put(_app: Arc<App>, _req: S3Request) -> Result<Response<Body>, S3Error> {
    Err(S3Error::not_implemented("Not implemented."))
}
