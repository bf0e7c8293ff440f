//! Object requests: GET/HEAD (ranges, conditions, streaming), PUT (streamed
//! into the store's atomic writer), COPY / X-Copy-From, POST, DELETE.

use std::io::{Read, Seek};
use std::sync::Arc;

use crate::http::incoming::Incoming;
use bytes::Bytes;
use http::{Method, Response, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use super::headers::{collect_meta, http_date, parse_http_date};
use super::range::{resolve, Ranges};
use super::symlink;
use super::write::{self, Put};
use super::{blocking, empty_response, receive, App, Ctx};
use super::{dlo, slo};
use crate::http::body::{self, Body, Part};
use crate::http::error::{ApiError, ApiResult, Finish};
use crate::store::meta::{self, keys, Meta};
use crate::store::object::{self as sobj, ObjectInfo};
use crate::store::{container as scont, ContainerLoc, ObjPath};

/// Bodies up to this size are read in the request's own blocking call.
const INLINE_READ: u64 = 64 * 1024;
const PATH_SET: &AsciiSet = &CONTROLS.add(b' ').add(b'%').add(b'?').add(b'#').add(b'"');

pub async fn handle(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: ObjPath,
    body: Incoming,
) -> ApiResult<Response<Body>> {
    let (a, c, arc) = (ctx.account.clone(), container.clone(), app.clone());
    let r = dispatch(app, ctx, container, object, body).await?;
    Ok(super::etag_quoter::apply(&arc, a, c, r).await)
}

async fn dispatch(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: ObjPath,
    body: Incoming,
) -> ApiResult<Response<Body>> {
    if let Some(r) = super::versioning::object_request(&app, &ctx, &container, &object).await? {
        return Ok(r);
    }
    match ctx.method {
        Method::PUT if slo::is_manifest_put(&ctx) => {
            return slo::put(app, ctx, container, object, body).await
        }
        Method::DELETE if slo::is_manifest_delete(&ctx) => {
            return slo::delete(app, ctx, container, object, None).await
        }
        Method::GET | Method::HEAD => {}
        _ => slo::check_reserved(&ctx)?,
    }
    match ctx.method {
        Method::GET | Method::HEAD => {
            let (c, o, x) = (container.clone(), object.clone(), ctx.clone());
            let r = get(app, ctx, container, object).await?;
            Ok(super::versioning::decorate(r, &x, &c, &o))
        }
        Method::PUT => put(app, ctx, container, object, body).await,
        Method::POST => post(app, ctx, container, object).await,
        Method::DELETE => delete(app, ctx, container, object).await,
        ref m if m.as_str() == "COPY" => {
            let (c, o) = super::versioning::copy_source(&ctx, container, object.to_string());
            copy(app, ctx, c, o).await
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// Authorizes an object request, reading the container ACL only for
/// non-owners. Returns the container's location.
pub(crate) fn authorize(
    app: &App,
    ctx: &Ctx,
    container: &str,
    writes: bool,
) -> ApiResult<ContainerLoc> {
    let owner = ctx.is_owner();
    let loc = match app.locate(&ctx.account, container) {
        Ok(l) => Some(l),
        // Non-owners learn nothing of what exists: the ACL check answers.
        Err(ApiError::NotFound) if !owner => None,
        Err(e) => return Err(e),
    };
    if let Some(l) = &loc {
        ctx.note.policy(l.policy);
    }
    if !owner {
        let m = loc
            .as_ref()
            .and_then(|l| scont::container_meta(l).ok())
            .unwrap_or_default();
        let acl = m.get(if writes {
            "X-Container-Write"
        } else {
            "X-Container-Read"
        });
        ctx.authorize(Some(container), true, writes, acl.map(String::as_str))?;
    }
    loc.ok_or(ApiError::NotFound)
}

/// Plain headers a client sets on an object, beside `X-Object-Meta-*`
/// (Swift's default `allowed_headers`, which the S3 door needs too).
const USER_HEADERS: [&str; 6] = [
    "Content-Disposition",
    "Content-Encoding",
    "Cache-Control",
    "Content-Language",
    "Expires",
    "X-Robots-Tag",
];

/// Keys a PUT or POST sets and a POST replaces: user metadata and
/// [`USER_HEADERS`].
fn is_user_key(k: &str) -> bool {
    k.starts_with("X-Object-Meta-") || USER_HEADERS.contains(&k)
}

/// The [`USER_HEADERS`] present on a request.
fn user_headers(ctx: &Ctx) -> ApiResult<Meta> {
    let mut m = Meta::new();
    for h in USER_HEADERS {
        if let Some(v) = ctx.header(h)? {
            m.insert(h.into(), v.to_string());
        }
    }
    Ok(m)
}

pub(crate) fn expired(info: &ObjectInfo) -> bool {
    meta_expired(&info.meta)
}

/// [`expired`], of an object's metadata alone.
pub(crate) fn meta_expired(m: &Meta) -> bool {
    m.get("X-Delete-At")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|at| at <= now_secs())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Headers that describe a stored object.
pub fn object_headers(
    mut b: http::response::Builder,
    info: &ObjectInfo,
) -> http::response::Builder {
    // Values from disk may hold what no header can (a control character):
    // such a header is left out rather than failing the response.
    for (name, v) in [("Content-Type", info.content_type()), ("Etag", info.etag())] {
        if let Ok(v) = http::HeaderValue::from_str(v) {
            b = b.header(name, v);
        }
    }
    b = b
        .header("Last-Modified", http_date(info.timestamp()))
        .header("X-Timestamp", meta::normalize_timestamp(info.timestamp()))
        .header("Accept-Ranges", "bytes");
    b = symlink::link_headers(b, info);
    b = super::versioning::version_header(b, info);
    for (k, v) in &info.meta {
        let passthrough = is_user_key(k) || k == "X-Delete-At" || k == dlo::MANIFEST_KEY;
        if passthrough {
            let name = http::HeaderName::from_bytes(k.as_bytes());
            if let (Ok(name), Ok(v)) = (name, http::HeaderValue::from_bytes(v.as_bytes())) {
                b = b.header(name, v);
            }
        }
    }
    b
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

/// If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since.
pub fn check_conditions(ctx: &Ctx, info: &ObjectInfo) -> ApiResult<Option<StatusCode>> {
    let etag = info.etag();
    let last_modified = info.timestamp().ceil() as u64;
    let if_match = ctx.header("if-match")?;
    let if_none_match = ctx.header("if-none-match")?;
    if let Some(v) = if_match {
        if !etag_matches(v, etag) {
            return Ok(Some(StatusCode::PRECONDITION_FAILED));
        }
    }
    if let Some(v) = if_none_match {
        if etag_matches(v, etag) {
            return Ok(Some(StatusCode::NOT_MODIFIED));
        }
    } else if let Some(t) = ctx.header("if-modified-since")?.and_then(parse_http_date) {
        if last_modified <= t {
            return Ok(Some(StatusCode::NOT_MODIFIED));
        }
    }
    // Swift checks If-Unmodified-Since even when If-Match matched.
    if let Some(t) = ctx.header("if-unmodified-since")?.and_then(parse_http_date) {
        if last_modified > t {
            return Ok(Some(StatusCode::PRECONDITION_FAILED));
        }
    }
    Ok(None)
}

pub(super) async fn get(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: ObjPath,
) -> ApiResult<Response<Body>> {
    let head = ctx.method == Method::HEAD;
    let arc = app.clone();
    // A version shares its file with the object it was, but not the
    // object's expiry: versions never expire (as in Swift).
    let expires =
        !super::versioning::is_hidden(&container) && !super::expirer::open_expired(&app, &ctx);
    // Most reads take a few microseconds of system calls (open, fgetxattr,
    // read; or getxattr, stat): cheaper run right here than handed to the
    // blocking pool and back. Anything slower, and links and large objects,
    // go there.
    let (mut located, mut opened) = (None, None);
    if app.store.opts.quick_reads {
        let loc = authorize(&app, &ctx, &container, false)?;
        if head {
            if let Some(info) = sobj::head_quick(&app.store, &loc, &object)? {
                if is_plain(&ctx, &info) {
                    return head_response(&ctx, info, expires);
                }
            }
        } else if let Some(obj) = sobj::open_quick(&app.store, &loc, &object)? {
            if is_plain(&ctx, &obj.info) {
                return get_response(&ctx, obj, expires);
            }
            opened = Some(obj);
        }
        // Authorized once: the slow path goes on from here.
        located = Some(loc);
    }
    let res = blocking(&app, move |app| {
        let loc = match located {
            Some(loc) => loc,
            None => authorize(app, &ctx, &container, false)?,
        };
        let expired = |i: &ObjectInfo| expires && expired(i);
        if head {
            let info = sobj::head(&app.store, &loc, &object)?;
            if expired(&info) {
                return Err(ApiError::NotFound);
            }
            if symlink::follows(&ctx) && symlink::is_link(&info) {
                return Ok(symlink::get(app, &ctx, &info, true));
            }
            if let Some(r) = slo::get(&arc, &ctx, &info, None, &loc, &object, true)? {
                return Ok(r);
            }
            if let Some(m) = dlo::manifest(&ctx, &info) {
                return dlo::respond(app, &ctx, &info, &m, true);
            }
            return head_response(&ctx, info, expires);
        }
        let obj = match opened {
            Some(o) => o,
            None => sobj::open(&app.store, &loc, &object)?,
        };
        let info = &obj.info;
        if expired(info) {
            return Err(ApiError::NotFound);
        }
        if symlink::follows(&ctx) && symlink::is_link(info) {
            return Ok(symlink::get(app, &ctx, info, false));
        }
        if let Some(r) = slo::get(&arc, &ctx, info, Some(&obj.file), &loc, &object, false)? {
            return Ok(r);
        }
        if let Some(m) = dlo::manifest(&ctx, info) {
            return dlo::respond(app, &ctx, info, &m, false);
        }
        get_response(&ctx, obj, expires)
    })
    .await;
    symlink::finish(app, res).await
}

/// Can the quick path answer: no link to follow, no large-object manifest?
fn is_plain(ctx: &Ctx, info: &ObjectInfo) -> bool {
    let link = symlink::follows(ctx) && symlink::is_link(info);
    !link && !slo::is_slo(info) && dlo::manifest(ctx, info).is_none()
}

/// The object as `ctx`'s door shows it: with [`Ctx::etag_is_at`], the
/// ETag kept at that key, where the object has one, stands for its own
/// (in conditions and in the answer).
fn as_shown(ctx: &Ctx, info: &mut ObjectInfo) {
    if let Some(e) = ctx.etag_is_at.and_then(|k| info.meta.get(k)).cloned() {
        info.meta.insert(keys::ETAG.into(), e);
    }
}

/// The answer to a HEAD of a plain object (`expires`: false for versions).
fn head_response(ctx: &Ctx, mut info: ObjectInfo, expires: bool) -> ApiResult<Response<Body>> {
    if expires && expired(&info) {
        return Err(ApiError::NotFound);
    }
    as_shown(ctx, &mut info);
    let info = &info;
    if let Some(status) = check_conditions(ctx, info)? {
        return conditional_response(status, info);
    }
    object_headers(Response::builder(), info)
        .header("Content-Length", info.size)
        .finish(body::empty())
}

/// The answer to a GET of a plain object: small bodies read at once, larger
/// ones streamed by a blocking reader.
fn get_response(ctx: &Ctx, mut obj: sobj::OpenObject, expires: bool) -> ApiResult<Response<Body>> {
    if expires && expired(&obj.info) {
        return Err(ApiError::NotFound);
    }
    as_shown(ctx, &mut obj.info);
    let info = &obj.info;
    if let Some(status) = check_conditions(ctx, info)? {
        return conditional_response(status, info);
    }
    let len = info.size;
    let mut b = object_headers(Response::builder(), info);
    let (parts, total) = match resolve(ctx.header("range")?, len) {
        Ranges::Whole => (vec![Part::File { offset: 0, len }], len),
        Ranges::Unsatisfiable => {
            let body = "<html><h1>Requested Range Not Satisfiable</h1><p>The Range requested is not available.</p></html>";
            return b
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header("Content-Range", format!("bytes */{len}"))
                .header("Content-Length", body.len())
                .finish(body::full(body));
        }
        Ranges::Parts(r) if r.len() == 1 => {
            let (s, e) = r[0];
            b = b
                .status(StatusCode::PARTIAL_CONTENT)
                .header("Content-Range", format!("bytes {s}-{}/{len}", e - 1));
            (
                vec![Part::File {
                    offset: s,
                    len: e - s,
                }],
                e - s,
            )
        }
        Ranges::Parts(r) => {
            let boundary = format!("{:032x}", rand::random::<u128>());
            let (parts, total) = multipart(&r, len, info.content_type(), &boundary);
            b = b.status(StatusCode::PARTIAL_CONTENT);
            b = super::range::byteranges_type(b, &boundary);
            (parts, total)
        }
    };
    b = b.header("Content-Length", total);
    let body = if total <= INLINE_READ {
        body::full(body::read_small(&obj.file, parts, total).map_err(crate::store::Error::from)?)
    } else {
        body::stream_file(obj.file, parts, total)
    };
    b.finish(body)
}

pub(super) fn conditional_response(
    status: StatusCode,
    info: &ObjectInfo,
) -> ApiResult<Response<Body>> {
    // Both 304 and 412 describe the object (ETag, Last-Modified), as in Swift;
    // a 412 is typed as Swift's error pages are.
    let mut b = object_headers(Response::builder(), info);
    if let (StatusCode::PRECONDITION_FAILED, Some(h)) = (status, b.headers_mut()) {
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/html; charset=UTF-8"),
        );
    }
    b.status(status)
        .header("Content-Length", "0")
        .finish(body::empty())
}

/// Parts of a `multipart/byteranges` body and its total length.
fn multipart(ranges: &[(u64, u64)], len: u64, ct: &str, boundary: &str) -> (Vec<Part>, u64) {
    let mut parts = Vec::new();
    let mut total = 0u64;
    for (i, (s, e)) in ranges.iter().enumerate() {
        let head = format!(
            "{}--{boundary}\r\nContent-Type: {ct}\r\nContent-Range: bytes {s}-{}/{len}\r\n\r\n",
            if i == 0 { "" } else { "\r\n" },
            e - 1
        );
        total += head.len() as u64 + (e - s);
        parts.push(Part::Bytes(Bytes::from(head)));
        parts.push(Part::File {
            offset: *s,
            len: e - s,
        });
    }
    let tail = format!("\r\n--{boundary}--");
    total += tail.len() as u64;
    parts.push(Part::Bytes(Bytes::from(tail)));
    (parts, total)
}

/// Metadata a PUT or POST sets from its headers (besides what the store adds).
pub(crate) fn request_meta(app: &App, ctx: &Ctx, object: &str) -> ApiResult<Meta> {
    let mut m = collect_meta(&ctx.headers, "object", &app.cfg.limits)?;
    m.retain(|_, v| !v.is_empty());
    let ct = match ctx.header("content-type")? {
        Some(ct)
            if !ct.trim().is_empty() && ctx.header("x-detect-content-type")? != Some("true") =>
        {
            ct.trim().to_string()
        }
        _ => crate::store::mime::guess(object),
    };
    m.insert(keys::CONTENT_TYPE.into(), ct);
    m.extend(user_headers(ctx)?);
    if let Some(at) = delete_at(ctx)? {
        m.insert("X-Delete-At".into(), at.to_string());
    }
    if let Some(v) = ctx.header("x-object-manifest")? {
        dlo::check_manifest_header(v)?;
        m.insert(dlo::MANIFEST_KEY.into(), v.to_string());
    }
    Ok(m)
}

/// Swift clamps expiry times to ten digits (`normalize_delete_at_timestamp`).
pub(crate) const MAX_DELETE_AT: u64 = 9_999_999_999;

/// An integer header as Python's `int()` reads it (surrounding spaces, a
/// sign, any number of digits), saturated to `i128`: `None` for anything
/// else (`1.5`, `1e9`, `NaN`, `inf`, empty).
fn parse_int(v: &str) -> Option<i128> {
    let v = v.trim();
    let (neg, digits) = match v.as_bytes().first()? {
        b'-' => (true, &v[1..]),
        b'+' => (false, &v[1..]),
        _ => (false, v),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = digits.bytes().fold(0i128, |n, d| {
        n.saturating_mul(10).saturating_add(i128::from(d - b'0'))
    });
    Some(if neg { -n } else { n })
}

/// A time in seconds clamped into `0..=MAX_DELETE_AT`, as Swift stores it.
pub(crate) fn clamp_delete_at(t: i128) -> u64 {
    u64::try_from(t.clamp(0, i128::from(MAX_DELETE_AT))).unwrap_or(MAX_DELETE_AT)
}

/// `X-Delete-At` / `X-Delete-After`, checked as Swift's
/// `check_delete_headers`: integers (else 400), clamped to ten digits, and
/// later than now (else 400). `X-Delete-After` wins when both are sent.
pub(super) fn delete_at(ctx: &Ctx) -> ApiResult<Option<u64>> {
    let now = now_secs();
    if let Some(after) = ctx.header("x-delete-after")? {
        let secs = parse_int(after)
            .ok_or_else(|| ApiError::BadRequest("Non-integer X-Delete-After".into()))?;
        let at = clamp_delete_at(i128::from(now).saturating_add(secs));
        if at <= now {
            return Err(ApiError::BadRequest("X-Delete-After in past".into()));
        }
        return Ok(Some(at));
    }
    if let Some(at) = ctx.header("x-delete-at")? {
        let at = parse_int(at)
            .map(clamp_delete_at)
            .ok_or_else(|| ApiError::BadRequest("Non-integer X-Delete-At".into()))?;
        if at <= now {
            return Err(ApiError::BadRequest("X-Delete-At in past".into()));
        }
        return Ok(Some(at));
    }
    Ok(None)
}

pub(super) fn created(info: &ObjectInfo) -> Response<Body> {
    super::versioning::version_header(empty_response(StatusCode::CREATED), info)
        .header("Etag", info.etag())
        .header("Last-Modified", http_date(info.timestamp()))
        .finish_or_500(body::empty())
}

async fn put(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: ObjPath,
    body: Incoming,
) -> ApiResult<Response<Body>> {
    if ctx.headers.contains_key("x-copy-from") {
        let len = ctx.header("content-length")?.unwrap_or("0");
        if len.trim() != "0" {
            return Err(ApiError::BadRequest(
                "Copy requests require a zero byte body".into(),
            ));
        }
        let src = ctx.header("x-copy-from")?.unwrap_or_default().to_string();
        let (sc, so) = split_copy_path(&src)?;
        let src_account = ctx.header("x-copy-from-account")?.map(str::to_string);
        return do_copy(app, ctx, src_account, sc, so, container, object.to_string()).await;
    }
    if ctx.headers.contains_key("x-symlink-target") {
        return symlink::put(app, ctx, container, object, body).await;
    }
    let te = ctx
        .header("transfer-encoding")?
        .map(str::to_ascii_lowercase);
    if te
        .as_deref()
        .is_some_and(|v| v.split(',').any(|c| c.trim() != "chunked"))
    {
        return Err(ApiError::NotImplemented);
    }
    let chunked = te.is_some();
    let length = match ctx.header("content-length")? {
        Some(v) => Some(
            v.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::BadRequest("Invalid Content-Length".into()))?,
        ),
        None if chunked => None,
        None => return Err(ApiError::LengthRequired),
    };
    let max = app.cfg.limits.max_file_size;
    if length.is_some_and(|l| l > max) {
        return Err(ApiError::TooLarge("Your request is too large.".into()));
    }
    let meta = request_meta(&app, &ctx, &object)?;
    let expected = ctx
        .header("etag")?
        .map(|e| e.trim().trim_matches('"').to_ascii_lowercase());
    let if_none_match = ctx.header("if-none-match")?.map(str::to_string);
    if if_none_match.as_deref().is_some_and(|v| v.trim() != "*") {
        return Err(ApiError::BadRequest("If-None-Match only supports *".into()));
    }

    let marker_name = object.ends_with('/');
    if marker_name && length != Some(0) {
        return Err(ApiError::BadRequest(
            "A name ending in / is a directory marker and takes no data".into(),
        ));
    }
    if marker_name
        || (meta.get(keys::CONTENT_TYPE).map(String::as_str) == Some(meta::DIR_CONTENT_TYPE)
            && length == Some(0))
    {
        return blocking(&app, move |app| {
            let loc = authorize(app, &ctx, &container, true)?;
            let info = write::put_dir_marker(app, ctx.write_dest(loc, &container, &object), meta)?;
            Ok(created(&info))
        })
        .await;
    }

    let put = blocking(&app, move |app| {
        let loc = authorize(app, &ctx, &container, true)?;
        let mut dest = ctx.write_dest(loc, &container, &object);
        dest.create_only = if_none_match.is_some();
        Put::begin(app, dest, length)
    })
    .await?;
    let put = receive::body(body, put, max, receive::body_failed).await?;
    let info = blocking(&app, move |app| {
        if length.is_some_and(|l| l != put.size()) {
            return Err(ApiError::BadRequest(
                "Request body shorter than Content-Length".into(),
            ));
        }
        put.commit(app, meta, expected.as_deref())
    })
    .await?;
    Ok(created(&info))
}

/// `container/object` of X-Copy-From or Destination, percent-decoded.
fn split_copy_path(v: &str) -> ApiResult<(String, String)> {
    let v = crate::http::request::decode_path(v.trim())?;
    let v = v.trim_start_matches('/');
    match v.split_once('/') {
        Some((c, o)) if !c.is_empty() && !o.is_empty() => Ok((c.to_string(), o.to_string())),
        _ => Err(ApiError::PreconditionFailed(
            "Bad header value: must be in the form container/object".into(),
        )),
    }
}

async fn copy(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: String,
) -> ApiResult<Response<Body>> {
    let dest = ctx
        .header("destination")?
        .ok_or_else(|| ApiError::PreconditionFailed("Destination header required".into()))?
        .to_string();
    let (dc, dobj) = split_copy_path(&dest)?;
    let dest_account = ctx.header("destination-account")?.map(str::to_string);
    let mut ctx = ctx;
    let src_account = ctx.account.clone();
    if let Some(a) = dest_account.filter(|a| *a != ctx.account) {
        // Another account: a name of ours, and the caller's rights there
        // (its own ACL), not those held in the source account.
        crate::store::name::check_account(&a, &app.store.opts.limits)?;
        if !app.auth.serves(&a) {
            return Err(ApiError::Forbidden);
        }
        let (acct, id) = (a.clone(), ctx.id.clone());
        ctx.grant = blocking(&app, move |app| Ok(app.account_grant(&acct, id.as_ref()))).await?;
        ctx.account = a;
    }
    do_copy(app, ctx, Some(src_account), container, object, dc, dobj).await
}

/// Copies an object; `ctx.account` is the destination account.
async fn do_copy(
    app: Arc<App>,
    ctx: Ctx,
    src_account: Option<String>,
    src_container: String,
    src_object: String,
    container: String,
    object: String,
) -> ApiResult<Response<Body>> {
    {
        let l = &app.store.opts.limits;
        if !super::versioning::is_hidden(&src_container) {
            crate::store::name::check_container(&src_container, l)?;
        }
        crate::store::name::check_container(&container, l)?;
    }
    let (src_object, object) = {
        let l = &app.store.opts.limits;
        (ObjPath::new(&src_object, l)?, ObjPath::new(&object, l)?)
    };
    let fresh = ctx
        .header("x-fresh-metadata")?
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let req_meta = collect_meta(&ctx.headers, "object", &app.cfg.limits)?;
    let req_ct = ctx.header("content-type")?.map(str::to_string);
    let req_extra = user_headers(&ctx)?;
    let range = ctx.header("range")?.map(str::to_string);
    let delete_at = delete_at(&ctx)?;
    blocking(&app, move |app| {
        let src_account = src_account.unwrap_or_else(|| ctx.account.clone());
        let src_ctx = Ctx {
            method: Method::GET,
            headers: ctx.headers.clone(),
            query: Default::default(),
            id: ctx.id.clone(),
            grant: app.account_grant(&src_account, ctx.id.as_ref()),
            account: src_account.clone(),
            note: ctx.note.clone(),
            etag_is_at: ctx.etag_is_at,
        };
        crate::store::name::check_account(&src_account, &app.store.opts.limits)?;
        if !app.auth.serves(&src_account) {
            return Err(ApiError::Forbidden);
        }
        // The source is read first, as Swift's copy does: a missing source
        // is 404 even where the destination would be refused.
        let src_loc = authorize(app, &src_ctx, &src_container, false)?;
        let src = sobj::open(&app.store, &src_loc, &src_object)?;
        // Versions never expire (they share the object's file, not its expiry).
        if !super::versioning::is_hidden(&src_container) && expired(&src.info) {
            return Err(ApiError::NotFound);
        }
        let copies_link = symlink::is_link(&src.info);
        let (src_ctx, mut src) = if symlink::follows(&ctx) {
            let (end_ctx, obj) = symlink::open_followed(app, &src_ctx, src)?;
            (end_ctx.unwrap_or(src_ctx), obj)
        } else {
            (src_ctx, src)
        };
        let dst_loc = authorize(app, &ctx, &container, true)?;
        let mut m: Meta = if fresh {
            Meta::new()
        } else {
            src.info
                .meta
                .iter()
                .filter(|(k, _)| is_user_key(k) || *k == keys::CONTENT_TYPE)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        if copies_link && !symlink::follows(&ctx) {
            symlink::copy_meta(&ctx, &src.info, &mut m)?;
        }
        scont::apply_user_meta(&mut m, req_meta);
        m.extend(req_extra);
        if let Some(ct) = req_ct.filter(|c| !c.trim().is_empty()) {
            m.insert(keys::CONTENT_TYPE.into(), ct);
        }
        m.entry(keys::CONTENT_TYPE.into())
            .or_insert_with(|| src.info.content_type().to_string());
        if let Some(at) = delete_at {
            m.insert("X-Delete-At".into(), at.to_string());
        }
        let src_ts = src.info.timestamp();
        // A large object copies as its content, unless the manifest itself
        // is asked for (`multipart-manifest=get`), which copies as it is.
        let manifest = dlo::manifest(&ctx, &src.info);
        if manifest.is_none() {
            if let Some(v) = src.info.meta.get(dlo::MANIFEST_KEY) {
                m.insert(dlo::MANIFEST_KEY.into(), v.clone());
            }
        }
        let dest = ctx.write_dest(dst_loc, &container, &object);
        let info = if slo::is_slo(&src.info) {
            if let Some(ct) = m.get_mut(keys::CONTENT_TYPE) {
                *ct = slo::strip_swift_bytes(ct).to_string();
            }
            if slo::wants_manifest(&ctx) {
                slo::copy_manifest(app, &ctx, &src, dest, m)?
            } else {
                // The assembled size is known once copied: the quota is
                // checked then.
                let mut put = Put::begin(app, dest, None)?;
                let part = ctx.query.get("part-number");
                slo::copy_content(app, &src_ctx, &src, range.as_deref(), part, put.writer())?;
                put.commit(app, m, None)?
            }
        } else if let Some(man) = manifest {
            let (segs, _, total) = dlo::segments(app, &src_ctx, &man)?;
            let (start, len) = match resolve(range.as_deref(), total) {
                Ranges::Parts(r) if r.len() == 1 => (r[0].0, r[0].1 - r[0].0),
                Ranges::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(total)),
                _ => (0, total),
            };
            let mut put = Put::begin(app, dest, Some(len))?;
            for part in dlo::slice(&segs, start, len) {
                if let Part::Open { open, offset, len } = part {
                    let mut f = open().map_err(crate::store::Error::from)?;
                    f.seek(std::io::SeekFrom::Start(offset))
                        .map_err(crate::store::Error::from)?;
                    put.writer().copy_from(&mut f.take(len))?;
                }
            }
            put.commit(app, m, None)?
        } else if src.info.is_dir_marker() {
            write::put_dir_marker(app, dest, m)?
        } else {
            // A Range on a copy copies just that part, as Swift's copy does.
            let (start, len) = match resolve(range.as_deref(), src.info.size) {
                Ranges::Whole => (0, src.info.size),
                Ranges::Parts(r) if r.len() == 1 => (r[0].0, r[0].1 - r[0].0),
                Ranges::Parts(_) => {
                    return Err(ApiError::BadRequest(
                        "A copy takes at most one range".into(),
                    ))
                }
                Ranges::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(src.info.size)),
            };
            let mut put = Put::begin(app, dest, Some(len))?;
            src.file
                .seek(std::io::SeekFrom::Start(start))
                .map_err(crate::store::Error::from)?;
            put.writer().copy_from(&mut (&src.file).take(len))?;
            put.commit(app, m, None)?
        };
        let from = format!(
            "{src_container}/{}",
            utf8_percent_encode(&src_object, PATH_SET)
        );
        let mut b = super::versioning::version_header(empty_response(StatusCode::CREATED), &info)
            .header("Etag", info.etag())
            .header("Last-Modified", http_date(info.timestamp()))
            .header("X-Copied-From", from)
            .header("X-Copied-From-Account", src_account)
            .header("X-Copied-From-Last-Modified", http_date(src_ts));
        let src_vid = src.info.meta.get(super::versioning::VID_KEY);
        if let Some(v) = src_vid.and_then(|v| http::HeaderValue::from_str(v).ok()) {
            b = b.header("X-Copied-From-Version-Id", v);
        }
        b.finish(body::empty())
    })
    .await
}

async fn post(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: ObjPath,
) -> ApiResult<Response<Body>> {
    symlink::check_post(&ctx)?;
    let mut new = collect_meta(&ctx.headers, "object", &app.cfg.limits)?;
    new.retain(|_, v| !v.is_empty());
    let ct = ctx.header("content-type")?.map(str::to_string);
    let mut extra = user_headers(&ctx)?;
    // Like user metadata, a manifest is replaced by POST: set, or gone.
    if let Some(v) = ctx.header("x-object-manifest")? {
        dlo::check_manifest_header(v)?;
        extra.insert(dlo::MANIFEST_KEY.into(), v.to_string());
    }
    let delete_at = delete_at(&ctx)?;
    let remove_delete_at = ctx.headers.contains_key("x-remove-delete-at");
    blocking(&app, move |app| {
        let loc = authorize(app, &ctx, &container, true)?;
        let mut gone = false;
        let open = super::expirer::open_expired(app, &ctx);
        let info = sobj::update_meta(&app.store, &loc, &object, |old| {
            gone = !open && expired(old);
            // Swift POST semantics: user metadata is replaced, not merged.
            let mut m: Meta = old
                .meta
                .iter()
                .filter(|(k, _)| {
                    !is_user_key(k)
                        && *k != dlo::MANIFEST_KEY
                        && (*k != "X-Delete-At" || !remove_delete_at)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            m.extend(new);
            m.extend(extra);
            if let Some(ct) = ct.filter(|c| !c.trim().is_empty()) {
                if !old.is_dir_marker() {
                    m.insert(keys::CONTENT_TYPE.into(), ct);
                }
            }
            if let Some(at) = delete_at {
                m.insert("X-Delete-At".into(), at.to_string());
            }
            m.insert(keys::TIMESTAMP.into(), meta::now_timestamp());
            if gone {
                old.meta.clone()
            } else {
                m
            }
        })?;
        if gone {
            return Err(ApiError::NotFound);
        }
        super::expirer::note(app, &loc, &ctx.account, &container, &object, &info.meta);
        if let Some(r) = symlink::post_redirect(&ctx.account, &info) {
            return Ok(r);
        }
        empty_response(StatusCode::ACCEPTED).finish(body::empty())
    })
    .await
}

async fn delete(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: ObjPath,
) -> ApiResult<Response<Body>> {
    let if_delete_at = match ctx.header("x-if-delete-at")? {
        Some(v) => Some(
            v.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::BadRequest("Bad X-If-Delete-At header value".into()))?,
        ),
        None => None,
    };
    // When it arrived: an object written later stays (newest-wins).
    let arrived = crate::store::meta::now_secs();
    blocking(&app, move |app| {
        let loc = authorize(app, &ctx, &container, true)?;
        if let Some(want) = if_delete_at {
            let info = sobj::head(&app.store, &loc, &object)?;
            let at = info
                .meta
                .get("X-Delete-At")
                .and_then(|v| v.parse::<u64>().ok());
            if at != Some(want) {
                return Err(ApiError::PreconditionFailed(
                    "X-If-Delete-At does not match the object's X-Delete-At".into(),
                ));
            }
        }
        if let Some(r) = super::versioned_writes::delete(app, &ctx, &loc, &object)? {
            return Ok(r);
        }
        sobj::delete_as_of(&app.store, &loc, &object, arrived)?;
        app.store.usage.invalidate(&loc);
        empty_response(StatusCode::NO_CONTENT).finish(body::empty())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_length_is_exact() {
        let (parts, total) = multipart(&[(0, 2), (5, 7)], 10, "text/plain", "b");
        let mut n = 0u64;
        for p in &parts {
            n += match p {
                Part::Bytes(b) => b.len() as u64,
                Part::File { len, .. } | Part::Open { len, .. } => *len,
            };
        }
        assert_eq!(n, total);
    }

    #[test]
    fn delete_times_are_integers_as_python_reads_them() {
        assert_eq!(parse_int(" 17 "), Some(17));
        assert_eq!(parse_int("+17"), Some(17));
        assert_eq!(parse_int("-17"), Some(-17));
        for bad in [
            "", " ", "-", "1.5", "1e9", "NaN", "nan", "inf", "-inf", "0x10", "1 2",
        ] {
            assert_eq!(parse_int(bad), None, "{bad:?}");
        }
        // Any number of digits: values past ten digits are clamped, not refused.
        let huge = "9".repeat(60);
        assert_eq!(parse_int(&huge), Some(i128::MAX));
        assert_eq!(clamp_delete_at(parse_int(&huge).unwrap()), MAX_DELETE_AT);
        assert_eq!(clamp_delete_at(-5), 0);
        assert_eq!(clamp_delete_at(1_700_000_000), 1_700_000_000);
    }

    #[test]
    fn stored_values_no_header_can_carry_are_left_out() {
        // Found by fuzzing (meta, pickle): an ETag, Content-Type or version
        // id from disk holding a control character, or a user metadata key
        // no header name can be, failed the response builder, and the
        // handler's `expect` panicked.
        let mut meta = Meta::new();
        meta.insert("ETag".into(), "abc\r\nX-Evil: 1".into());
        meta.insert("Content-Type".into(), "text/plain\n".into());
        meta.insert(super::super::versioning::VID_KEY.into(), "1\u{7f}".into());
        meta.insert("X-Object-Meta-Ok".into(), "fine".into());
        meta.insert("X-Object-Meta-Bad(name".into(), "v".into());
        let info = ObjectInfo { size: 3, meta };
        let resp = object_headers(Response::builder(), &info)
            .body(())
            .expect("a response");
        let h = resp.headers();
        assert!(h.get("etag").is_none() && h.get("x-evil").is_none());
        assert!(h.get("content-type").is_none());
        assert!(h.get("x-object-version-id").is_none());
        assert_eq!(h["x-object-meta-ok"], "fine");
    }

    #[test]
    fn etag_lists() {
        assert!(etag_matches("\"abc\", \"def\"", "def"));
        assert!(etag_matches("*", "x"));
        assert!(!etag_matches("\"abc\"", "def"));
    }
}
