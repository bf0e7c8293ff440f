//! ListObjects (v1), ListObjectsV2 and ListObjectVersions: one page of
//! the core's JSON container listing (its byte order, its ETags, its
//! directory markers, its versions), asked for with one row more than the
//! page to learn whether it is truncated, then written as S3's XML, as
//! Swift's s3api does.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use http::{HeaderMap, Method, Response};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use super::super::error::S3Error;
use super::super::router::Op;
use super::super::{time, xml, S3Request};
use super::{core, core_body};
use crate::http::body::Body;
use crate::swift::versioned_writes::DELETE_MARKER;
use crate::swift::App;

/// The most keys of one page (Swift's s3api `max_bucket_listing`).
const MAX_KEYS: u64 = 1000;
const MAX_32BIT: u64 = 2_147_483_647;
/// What `encoding-type=url` leaves as it is (Python's `quote`).
const URL_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

/// Which listing, and how its rows are written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    V1,
    V2,
    Versions,
}

/// The request's listing parameters.
struct Params {
    kind: Kind,
    /// The `max-keys` shown; the page is at most [`MAX_KEYS`].
    shown_max: u64,
    url: bool,
    fetch_owner: bool,
    q: HashMap<String, String>,
}

/// Serves the three listings.
pub async fn handle(app: Arc<App>, req: S3Request) -> Result<Response<Body>, S3Error> {
    let p = params(&req, app.cfg.limits.container_listing_limit as u64)?;
    let page = page_size(&p, app.cfg.limits.container_listing_limit as u64);
    let resp = core(&app, &req, Method::GET, HeaderMap::new(), p.q.clone()).await?;
    let body = core_body(resp).await?;
    let rows: Vec<Value> = serde_json::from_slice(&body).map_err(|_| S3Error::internal_error())?;
    let truncated = page > 0 && rows.len() as u64 > page;
    let rows = &rows[..rows.len().min(page as usize)];
    xml::ok(document(&req, &p, rows, truncated))
}

fn page_size(p: &Params, core_max: u64) -> u64 {
    p.shown_max.min(MAX_KEYS).min(core_max.saturating_sub(1))
}

fn get<'a>(req: &'a S3Request, name: &str) -> Option<&'a str> {
    req.query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn params(req: &S3Request, core_max: u64) -> Result<Params, S3Error> {
    let kind = match req.op {
        Op::ListObjectsV2 => Kind::V2,
        Op::ListObjectVersions => Kind::Versions,
        _ => Kind::V1,
    };
    let shown_max = max_keys(get(req, "max-keys"))?;
    let url = match get(req, "encoding-type") {
        None => false,
        Some("url") => true,
        Some(v) => {
            return Err(S3Error::invalid_argument(
                "encoding-type",
                v,
                "Invalid Encoding Method specified in Request",
            ))
        }
    };
    let mut p = Params {
        kind,
        shown_max,
        url,
        fetch_owner: false,
        q: HashMap::new(),
    };
    let limit = page_size(&p, core_max) + 1;
    p.q.insert("format".into(), "json".into());
    p.q.insert("limit".into(), limit.to_string());
    for name in ["prefix", "delimiter"] {
        if let Some(v) = get(req, name) {
            p.q.insert(name.into(), v.into());
        }
    }
    match kind {
        Kind::V1 => v1_params(req, &mut p)?,
        Kind::V2 => v2_params(req, &mut p)?,
        Kind::Versions => versions_params(req, &mut p)?,
    }
    Ok(p)
}

/// `max-keys` as s3api reads it: 0 to 2^31-1, default 1000.
fn max_keys(v: Option<&str>) -> Result<u64, S3Error> {
    let Some(v) = v else { return Ok(MAX_KEYS) };
    match v.trim().parse::<i64>() {
        Ok(n) if n < 0 => Err(S3Error::invalid_argument(
            "max-keys",
            v,
            &format!("Argument max-keys must be an integer between 0 and {MAX_32BIT}"),
        )),
        Ok(n) if n as u64 <= MAX_32BIT => Ok(n as u64),
        _ => Err(S3Error::invalid_argument(
            "max-keys",
            v,
            "Provided max-keys not an integer or within integer range",
        )),
    }
}

fn v1_params(req: &S3Request, p: &mut Params) -> Result<(), S3Error> {
    if let Some(t) = get(req, "list-type").filter(|t| t.trim().parse::<i64>().is_err()) {
        return Err(S3Error::invalid_argument(
            "list-type",
            t,
            "Argument list-type must be an integer",
        ));
    }
    if let Some(m) = get(req, "marker") {
        p.q.insert("marker".into(), m.into());
    }
    Ok(())
}

fn v2_params(req: &S3Request, p: &mut Params) -> Result<(), S3Error> {
    if let Some(m) = get(req, "start-after") {
        p.q.insert("marker".into(), m.into());
    }
    if let Some(t) = get(req, "continuation-token") {
        let bad = || {
            S3Error::invalid_argument(
                "continuation-token",
                t,
                "The continuation token provided is incorrect",
            )
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(t)
            .map_err(|_| bad())?;
        let marker = String::from_utf8(raw).map_err(|_| bad())?;
        p.q.insert("marker".into(), marker);
    }
    p.fetch_owner = get(req, "fetch-owner").is_some_and(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on" | "t" | "y"
        )
    });
    Ok(())
}

fn versions_params(req: &S3Request, p: &mut Params) -> Result<(), S3Error> {
    p.q.insert("versions".into(), String::new());
    let vmarker = get(req, "version-id-marker");
    let Some(key_marker) = get(req, "key-marker") else {
        return match vmarker {
            Some(v) => Err(S3Error::invalid_argument(
                "version-id-marker",
                v,
                "A version-id marker cannot be specified without a key marker.",
            )),
            None => Ok(()),
        };
    };
    p.q.insert("marker".into(), key_marker.into());
    if let Some(v) = vmarker {
        if v != "null" && !is_version_id(v) {
            return Err(S3Error::invalid_argument(
                "version-id-marker",
                v,
                "Invalid version id specified",
            ));
        }
        p.q.insert("version_marker".into(), v.into());
    }
    Ok(())
}

/// A version id as sofgate makes them: a timestamp, `1700000000.12345`.
fn is_version_id(v: &str) -> bool {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    !int.is_empty() && int.len() <= 10 && digits(int) && frac.len() <= 5 && digits(frac)
}

/// `s` as the listing shows it: URL-quoted when asked.
fn enc(p: &Params, s: &str) -> String {
    match p.url {
        true => utf8_percent_encode(s, URL_KEEP).to_string(),
        false => s.to_string(),
    }
}

/// A row's name (an object's, or a common prefix's).
fn row_name(row: &Value) -> &str {
    row.get("name")
        .or_else(|| row.get("subdir"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn document(req: &S3Request, p: &Params, rows: &[Value], truncated: bool) -> String {
    let bucket = super::bucket(req);
    let root = match p.kind {
        Kind::Versions => "ListVersionsResult",
        _ => "ListBucketResult",
    };
    let mut w = xml::Writer::new(root);
    w.elem("Name", bucket);
    w.elem("Prefix", &enc(p, get(req, "prefix").unwrap_or("")));
    let last = rows.last().map(row_name).unwrap_or("");
    match p.kind {
        Kind::V1 => {
            w.elem("Marker", &enc(p, get(req, "marker").unwrap_or("")));
            if truncated && get(req, "delimiter").is_some() {
                w.elem("NextMarker", &enc(p, last));
            }
        }
        Kind::V2 => {
            if truncated {
                let token = base64::engine::general_purpose::STANDARD.encode(last);
                w.elem("NextContinuationToken", &token);
            }
            if let Some(t) = get(req, "continuation-token") {
                w.elem("ContinuationToken", t);
            }
            if let Some(s) = get(req, "start-after") {
                w.elem("StartAfter", &enc(p, s));
            }
            w.elem("KeyCount", &rows.len().to_string());
        }
        Kind::Versions => {
            w.elem("KeyMarker", &enc(p, get(req, "key-marker").unwrap_or("")));
            w.elem(
                "VersionIdMarker",
                get(req, "version-id-marker").unwrap_or(""),
            );
            if let (true, Some(row)) = (truncated, rows.last()) {
                let vid = row.get("version_id").and_then(Value::as_str);
                w.elem("NextKeyMarker", last);
                w.elem(
                    "NextVersionIdMarker",
                    vid.filter(|v| !v.is_empty()).unwrap_or("null"),
                );
            }
        }
    }
    w.elem("MaxKeys", &p.shown_max.to_string());
    match (p.kind, get(req, "delimiter")) {
        (Kind::Versions, Some(d)) => {
            w.elem("Delimiter", &enc(p, d));
        }
        (_, Some(d)) if !d.is_empty() => {
            w.elem("Delimiter", &enc(p, d));
        }
        _ => {}
    }
    if p.url {
        w.elem("EncodingType", "url");
    }
    w.elem("IsTruncated", if truncated { "true" } else { "false" });
    for row in rows {
        match row.get("subdir").and_then(Value::as_str) {
            Some(d) => {
                w.open("CommonPrefixes").elem("Prefix", &enc(p, d)).close();
            }
            None => object(&mut w, req, p, row),
        }
    }
    w.finish()
}

/// One object (or version, or delete marker) of the listing.
fn object(w: &mut xml::Writer, req: &S3Request, p: &Params, row: &Value) {
    let text = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or("");
    let marker = p.kind == Kind::Versions && text("content_type") == DELETE_MARKER;
    w.open(match (p.kind, marker) {
        (Kind::Versions, true) => "DeleteMarker",
        (Kind::Versions, false) => "Version",
        _ => "Contents",
    });
    w.elem("Key", &enc(p, text("name")));
    if p.kind == Kind::Versions {
        let vid = text("version_id");
        w.elem("VersionId", if vid.is_empty() { "null" } else { vid });
        let latest = row
            .get("is_latest")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        w.elem("IsLatest", if latest { "true" } else { "false" });
    }
    w.elem("LastModified", &last_modified(text("last_modified")));
    if !marker {
        w.elem("ETag", &etag(row));
        let size = row.get("bytes").and_then(Value::as_u64).unwrap_or(0);
        w.elem("Size", &size.to_string());
    }
    if p.fetch_owner || p.kind != Kind::V2 {
        let id = &req.caller.access_key;
        w.open("Owner")
            .elem("ID", id)
            .elem("DisplayName", id)
            .close();
    }
    if !marker {
        w.elem("StorageClass", "STANDARD");
    }
    w.close();
}

/// A row's S3 ETag: a multipart upload's own (`s3_etag`), a large
/// object's in the multipart form, else the hash, quoted (unless the
/// container's listing already quotes it).
fn etag(row: &Value) -> String {
    let text = |k: &str| row.get(k).and_then(Value::as_str);
    if let Some(e) = text("s3_etag") {
        return e.to_string();
    }
    if let Some(e) = text("slo_etag") {
        return format!("\"{}-N\"", e.trim_matches('"'));
    }
    let hash = text("hash").unwrap_or("");
    match hash.len() >= 2 && hash.starts_with('"') && hash.ends_with('"') {
        true => hash.to_string(),
        false => format!("\"{hash}\""),
    }
}

/// The listing's `2024-05-01T10:20:30.123456` as S3 shows it: whole
/// seconds, rounded up (as s3api), `.000Z`.
fn last_modified(iso: &str) -> String {
    let (whole, frac) = iso.split_once('.').unwrap_or((iso, ""));
    let secs = time::parse_iso(whole).unwrap_or(0);
    let up = frac.bytes().any(|b| b.is_ascii_digit() && b != b'0');
    time::format_iso(secs + i64::from(up))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_quoted_once_and_large_objects_get_the_multipart_form() {
        let e = |v: Value| etag(&v);
        assert_eq!(e(serde_json::json!({"hash": "abc"})), "\"abc\"");
        assert_eq!(e(serde_json::json!({"hash": "\"abc\""})), "\"abc\"");
        assert_eq!(e(serde_json::json!({"hash": ""})), "\"\"");
        assert_eq!(
            e(serde_json::json!({"hash": "x", "slo_etag": "\"abc\""})),
            "\"abc-N\""
        );
        assert_eq!(
            e(serde_json::json!({"hash": "x", "s3_etag": "\"abc-2\""})),
            "\"abc-2\""
        );
    }

    #[test]
    fn times_round_up_to_the_second() {
        assert_eq!(
            last_modified("2013-05-24T00:00:00.000000"),
            "2013-05-24T00:00:00.000Z"
        );
        assert_eq!(
            last_modified("2013-05-24T00:00:00.000010"),
            "2013-05-24T00:00:01.000Z"
        );
        assert_eq!(
            last_modified("2013-05-24T23:59:59.5"),
            "2013-05-25T00:00:00.000Z"
        );
    }

    #[test]
    fn max_keys_and_version_ids_are_checked() {
        assert_eq!(max_keys(None).unwrap(), 1000);
        assert_eq!(max_keys(Some("0")).unwrap(), 0);
        assert_eq!(max_keys(Some("2147483647")).unwrap(), MAX_32BIT);
        for bad in ["-1", "2147483648", "x", ""] {
            assert_eq!(max_keys(Some(bad)).unwrap_err().code, "InvalidArgument");
        }
        assert!(is_version_id("1700000000.12345"));
        assert!(!is_version_id("bogus"));
        assert!(!is_version_id(&"a".repeat(32)));
    }
}
