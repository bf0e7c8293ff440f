//! The object core: what every object request and every feature reading
//! or writing an object shares. Authorization against the container ACL,
//! the conditions (`If-Match` and the rest), the headers a stored object
//! shows, the answers of a plain GET and HEAD (ranges, small bodies read at
//! once, larger ones streamed), and the metadata a PUT or POST sets from
//! its headers. It names no feature: the dispatch (`object.rs`) and the
//! features (symlink, SLO, DLO, versioning) build on it.

use crate::http::error::{ApiError, ApiResult, Finish};
use bytes::Bytes;
use http::{Response, StatusCode};

use super::headers::{collect_meta, http_date, parse_http_date};
use super::object_meta::{self, link_headers, version_header};
use super::range::{resolve, Ranges};
use super::{empty_response, App, Ctx};
use crate::http::body::{self, Body, Part};
use crate::store::meta::{self, keys, Meta};
use crate::store::object::{self as sobj, ObjectInfo};
use crate::store::{container as scont, ContainerLoc};

/// Bodies up to this size are read in the request's own blocking call.
const INLINE_READ: u64 = 64 * 1024;

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
pub(super) const USER_HEADERS: [&str; 6] = [
    "Content-Disposition",
    "Content-Encoding",
    "Cache-Control",
    "Content-Language",
    "Expires",
    "X-Robots-Tag",
];

/// Keys a PUT or POST sets and a POST replaces: user metadata and
/// [`USER_HEADERS`].
pub(super) fn is_user_key(k: &str) -> bool {
    k.starts_with("X-Object-Meta-") || USER_HEADERS.contains(&k)
}

/// The [`USER_HEADERS`] present on a request.
pub(super) fn user_headers(ctx: &Ctx) -> ApiResult<Meta> {
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
    b = link_headers(b, info);
    b = version_header(b, info);
    for (k, v) in &info.meta {
        let passthrough = is_user_key(k) || k == "X-Delete-At" || k == object_meta::MANIFEST_KEY;
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

/// The object as `ctx`'s door shows it: with [`Ctx::etag_is_at`], the
/// ETag kept at that key, where the object has one, stands for its own
/// (in conditions and in the answer).
fn as_shown(ctx: &Ctx, info: &mut ObjectInfo) {
    if let Some(e) = ctx.etag_is_at.and_then(|k| info.meta.get(k)).cloned() {
        info.meta.insert(keys::ETAG.into(), e);
    }
}

/// The answer to a HEAD of a plain object (`expires`: false for versions).
pub(super) fn head_response(
    ctx: &Ctx,
    mut info: ObjectInfo,
    expires: bool,
) -> ApiResult<Response<Body>> {
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
pub(super) fn get_response(
    ctx: &Ctx,
    mut obj: sobj::OpenObject,
    expires: bool,
) -> ApiResult<Response<Body>> {
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

pub(crate) fn conditional_response(
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
        object_meta::check_manifest_header(v)?;
        m.insert(object_meta::MANIFEST_KEY.into(), v.to_string());
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
pub(crate) fn delete_at(ctx: &Ctx) -> ApiResult<Option<u64>> {
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

pub(crate) fn created(info: &ObjectInfo) -> Response<Body> {
    version_header(empty_response(StatusCode::CREATED), info)
        .header("Etag", info.etag())
        .header("Last-Modified", http_date(info.timestamp()))
        .finish_or_500(body::empty())
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
        meta.insert(object_meta::VID_KEY.into(), "1\u{7f}".into());
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
