//! A bucket's settings, each one kept where Swift keeps it, so both APIs
//! see one value: the ACL as the container's read and write ACLs (as
//! Swift's s3api with `s3_acl = false`: private, public-read,
//! public-read-write), versioning as `X-Versions-Enabled`, CORS as the
//! container's `Access-Control-*` metadata (and the S3 rules whole in its
//! sysmeta). Only the account's owners read or change them (S3's default:
//! the bucket owner).

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};

use super::super::error::S3Error;
use super::super::router::Op;
use super::super::{bridge, xml, S3Request};
use super::{bucket, core, empty, header, read_xml};
use crate::http::body::Body;
use crate::swift::container::update_meta;
use crate::swift::cors::container_meta;
use crate::swift::feature::Name;
use crate::swift::{blocking, App};

/// The largest ACL body (Swift's s3api's).
const MAX_ACL_BODY: usize = 200 * 1024;
/// The largest versioning or CORS body.
const MAX_CONF_BODY: usize = 64 * 1024;
const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
const PUBLIC_READ: &str = ".r:*,.rlistings";
const PUBLIC_WRITE: &str = ".r:*";

/// Container headers setting read and write ACLs; "" removes one.
type AclHeaders = Vec<(&'static str, String)>;

/// The container ACLs of a canned ACL, as Swift's s3api translates them
/// (a canned ACL replaces both, so `public-read` also ends a public write).
pub fn canned_acl(name: &str) -> Result<AclHeaders, S3Error> {
    let (read, write) = match name {
        "private" | "bucket-owner-full-control" | "bucket-owner-read" => ("", ""),
        "public-read" => (PUBLIC_READ, ""),
        "public-read-write" => (PUBLIC_READ, PUBLIC_WRITE),
        "authenticated-read" | "log-delivery-write" => {
            return Err(S3Error::not_implemented(
                "The requested resource is not implemented",
            ))
        }
        _ => {
            return Err(S3Error::invalid_argument(
                "x-amz-acl",
                name,
                "Invalid Argument.",
            ))
        }
    };
    Ok(vec![
        ("x-container-read", read.to_string()),
        ("x-container-write", write.to_string()),
    ])
}

/// Sets the container ACLs through the core (a POST, as Swift's s3api).
pub async fn post_acl(app: &Arc<App>, req: &S3Request, acl: &AclHeaders) -> Result<(), S3Error> {
    let mut h = HeaderMap::new();
    for (name, value) in acl {
        let (name, value) = match value.is_empty() {
            true => (format!("x-remove-{}", &name[2..]), "x".to_string()),
            false => (name.to_string(), value.clone()),
        };
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| S3Error::internal_error())?;
        let value = HeaderValue::from_str(&value).map_err(|_| S3Error::internal_error())?;
        h.insert(name, value);
    }
    post(app, req, h).await
}

async fn post(app: &Arc<App>, req: &S3Request, h: HeaderMap) -> Result<(), S3Error> {
    core(app, req, Method::POST, h, HashMap::new()).await?;
    Ok(())
}

/// Only the account's owners get past; then the container's headers (a
/// core HEAD: `NoSuchBucket` when it is not there).
async fn owner_head(app: &Arc<App>, req: &S3Request) -> Result<Response<Body>, S3Error> {
    let ctx = bridge::ctx(app, req, Method::HEAD, HeaderMap::new(), HashMap::new()).await?;
    if !matches!(
        ctx.authorize(Some(bucket(req)), false, true, None),
        Ok(true)
    ) {
        return Err(S3Error::access_denied());
    }
    core(app, req, Method::HEAD, HeaderMap::new(), HashMap::new()).await
}

/// GetBucketAcl and PutBucketAcl.
pub async fn acl(app: Arc<App>, mut req: S3Request) -> Result<Response<Body>, S3Error> {
    let head = owner_head(&app, &req).await?;
    if req.op == Op::GetBucketAcl {
        return xml::ok(acl_document(&req.caller.access_key, &head));
    }
    let body = read_xml(&mut req, MAX_ACL_BODY).await?;
    let canned = req
        .headers
        .get("x-amz-acl")
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let acl = match (canned, body.is_empty()) {
        (Some(_), false) => return Err(unexpected_content()),
        (None, true) => return Err(missing_acl_header()),
        (Some(name), true) => canned_acl(name)?,
        (None, false) => canned_acl(acl_of_policy(&body)?)?,
    };
    post_acl(&app, &req, &acl).await?;
    let mut resp = empty(StatusCode::OK)?;
    if let Ok(v) = HeaderValue::from_str(bucket(&req)) {
        resp.headers_mut().insert("location", v);
    }
    Ok(resp)
}

/// The ACL a container's headers grant, as s3api shows it: the owner has
/// full control; a read (write) ACL that lets anyone in adds AllUsers READ
/// (WRITE).
fn acl_document(owner: &str, head: &Response<Body>) -> String {
    let owner = xml::escape(owner);
    let user = format!(
        "<Grant><Grantee xmlns:xsi=\"{XSI}\" xsi:type=\"CanonicalUser\"><ID>{owner}</ID>\
         <DisplayName>{owner}</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>"
    );
    let group = |perm: &str| {
        format!(
            "<Grant><Grantee xmlns:xsi=\"{XSI}\" xsi:type=\"Group\"><URI>{ALL_USERS}</URI>\
             </Grantee><Permission>{perm}</Permission></Grant>"
        )
    };
    let mut grants = user;
    for (h, perm) in [("x-container-read", "READ"), ("x-container-write", "WRITE")] {
        if anyone_in(header(head, h).unwrap_or("")) {
            grants.push_str(&group(perm));
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AccessControlPolicy xmlns=\"{}\"><Owner>\
         <ID>{owner}</ID><DisplayName>{owner}</DisplayName></Owner><AccessControlList>{grants}\
         </AccessControlList></AccessControlPolicy>",
        xml::NS
    )
}

/// Does a container ACL let in a request from nowhere in particular (the
/// core's own referrer rules)?
fn anyone_in(acl: &str) -> bool {
    let (referrers, _) = crate::swift::acl::parse_acl(acl);
    crate::swift::acl::referrer_allowed(Some("unknown"), &referrers)
}

/// The canned ACL an `AccessControlPolicy` amounts to, by s3api's reading:
/// owner FULL_CONTROL is private, an AllUsers READ public-read, an
/// AllUsers WRITE public-read-write; anything else is refused.
fn acl_of_policy(body: &[u8]) -> Result<&'static str, S3Error> {
    let doc = xml::parse(body).map_err(|_| malformed_acl())?;
    let root = doc.root_element();
    if root.tag_name().name() != "AccessControlPolicy" {
        return Err(malformed_acl());
    }
    let list = xml::child(root, "AccessControlList").ok_or_else(malformed_acl)?;
    let mut acl = None;
    for grant in list.children().filter(|c| c.tag_name().name() == "Grant") {
        let perm = xml::child_text(grant, "Permission").unwrap_or("");
        let kind = xml::child(grant, "Grantee")
            .and_then(|g| g.attributes().find(|a| a.name() == "type"))
            .map(|a| a.value())
            .unwrap_or("");
        acl = Some(match (perm, kind, acl) {
            ("FULL_CONTROL", "CanonicalUser", None | Some("private")) => "private",
            ("FULL_CONTROL", "CanonicalUser", Some(a)) => a,
            ("READ", "Group", Some("public-read-write")) => "public-read-write",
            ("READ", "Group", _) => "public-read",
            ("WRITE", "Group", _) => "public-read-write",
            _ => return Err(malformed_acl()),
        });
    }
    acl.ok_or_else(malformed_acl)
}

fn s3_error(status: StatusCode, code: &'static str, message: &str) -> S3Error {
    S3Error {
        code,
        status,
        message: message.into(),
        extra: Vec::new(),
    }
}

fn malformed_acl() -> S3Error {
    s3_error(
        StatusCode::BAD_REQUEST,
        "MalformedACLError",
        "The XML you provided was not well-formed or did not validate against our published \
         schema.",
    )
}

fn unexpected_content() -> S3Error {
    s3_error(
        StatusCode::BAD_REQUEST,
        "UnexpectedContent",
        "This request does not support content.",
    )
}

fn missing_acl_header() -> S3Error {
    s3_error(
        StatusCode::BAD_REQUEST,
        "MissingSecurityHeader",
        "Your request was missing a required header.",
    )
    .with("MissingHeaderName", "x-amz-acl")
}

/// GetBucketVersioning and PutBucketVersioning: the container's object
/// versioning (`X-Versions-Enabled`; once set, off is `Suspended`).
pub async fn versioning(app: Arc<App>, mut req: S3Request) -> Result<Response<Body>, S3Error> {
    let head = owner_head(&app, &req).await?;
    if req.op == Op::GetBucketVersioning {
        let status =
            header(&head, "x-versions-enabled").map(|v| match v.eq_ignore_ascii_case("true") {
                true => "Enabled",
                false => "Suspended",
            });
        let mut w = xml::Writer::new("VersioningConfiguration");
        if let Some(s) = status {
            w.elem("Status", s);
        }
        return xml::ok(w.finish());
    }
    // As Swift's s3api: no turning versioning on or off without the feature.
    if !app.features.on(Name::ObjectVersioning) {
        return Err(S3Error::not_implemented(
            "The requested resource is not implemented",
        ));
    }
    let body = read_xml(&mut req, MAX_CONF_BODY).await?;
    let on = versioning_status(&body)?;
    let mut h = HeaderMap::new();
    h.insert(
        "x-versions-enabled",
        HeaderValue::from_static(if on { "true" } else { "false" }),
    );
    post(&app, &req, h).await?;
    empty(StatusCode::OK)
}

/// `Enabled` or `Suspended` from a `VersioningConfiguration`; MFA delete
/// cannot be turned on.
fn versioning_status(body: &[u8]) -> Result<bool, S3Error> {
    let doc = xml::parse(body)?;
    let root = doc.root_element();
    if root.tag_name().name() != "VersioningConfiguration" {
        return Err(S3Error::malformed_xml());
    }
    if xml::child_text(root, "MfaDelete") == Some("Enabled") {
        return Err(S3Error::not_implemented("MFA delete is not implemented."));
    }
    match xml::child_text(root, "Status") {
        Some("Enabled") => Ok(true),
        Some("Suspended") => Ok(false),
        _ => Err(S3Error::malformed_xml()),
    }
}

/// GetBucketCors, PutBucketCors and DeleteBucketCors (see [`super::cors`]
/// for where the rules are kept). A change is one metadata write, made
/// only once the whole configuration is read and checked.
pub async fn cors(app: Arc<App>, mut req: S3Request) -> Result<Response<Body>, S3Error> {
    owner_head(&app, &req).await?;
    let (account, b) = (
        req.caller.identity.account.clone(),
        bucket(&req).to_string(),
    );
    let (meta, status) = match req.op {
        Op::GetBucketCors => {
            let m = blocking(&app, move |app| Ok(container_meta(app, &account, &b))).await?;
            return match super::cors::rules(&m.unwrap_or_default(), &[]) {
                Some(rules) => xml::ok(super::cors::document(&rules)),
                None => Err(no_cors(bucket(&req))),
            };
        }
        Op::DeleteBucketCors => (super::cors::removal(), StatusCode::NO_CONTENT),
        _ => {
            let body = read_xml(&mut req, MAX_CONF_BODY).await?;
            let rules = super::cors::parse(&body)?;
            (
                super::cors::to_meta(&rules, &app.cfg.limits)?,
                StatusCode::OK,
            )
        }
    };
    blocking(&app, move |app| update_meta(app, &account, &b, meta))
        .await
        .map_err(|e| S3Error::from_api(e, Some(bucket(&req)), None))?;
    empty(status)
}

fn no_cors(b: &str) -> S3Error {
    s3_error(
        StatusCode::NOT_FOUND,
        "NoSuchCORSConfiguration",
        "The CORS configuration does not exist",
    )
    .with("BucketName", b)
}
