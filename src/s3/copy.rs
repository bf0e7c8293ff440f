//! CopyObject, as Swift's s3api makes it: the source is read first with the
//! `x-amz-copy-source-if-*` conditions (a HEAD through the core), then the
//! core's own COPY writes the destination (`X-Fresh-Metadata` for the
//! `REPLACE` directive; under `COPY` the source's metadata and content
//! headers stay), and the answer is a `CopyObjectResult`. A copy of an
//! object onto itself must change something (`REPLACE`, or a version).

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use super::error::S3Error;
use super::object::{core, names, quoted, swift_headers};
use super::{time, xml, S3Request};
use crate::http::body::{self, Body};
use crate::http::incoming::Incoming;
use crate::swift::App;

/// What must be encoded of a key in a Swift `Destination` header.
const DEST_SET: &AsciiSet = &CONTROLS.add(b' ').add(b'%').add(b'?').add(b'#').add(b'"');

/// Headers of the copy's destination that `COPY` takes from the source.
const CONTENT_HEADERS: [&str; 7] = [
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-type",
    "expires",
    "cache-control",
    "x-robots-tag",
];

/// The source named by `x-amz-copy-source`.
#[derive(Debug, PartialEq, Eq)]
struct Source {
    bucket: String,
    key: String,
    version: Option<String>,
}

/// Reads `x-amz-copy-source` (`[/]bucket/key[?versionId=v]`, URL-encoded).
fn source(raw: &str) -> Result<Source, S3Error> {
    let (path, qs) = raw.split_once('?').unwrap_or((raw, ""));
    let version = match qs {
        "" => None,
        q => match q.split_once('=') {
            Some(("versionId", v)) if !v.contains('&') => Some(v.to_string()),
            _ => {
                return Err(S3Error::invalid_argument(
                    "X-Amz-Copy-Source",
                    raw,
                    "Unsupported copy source parameter.",
                ))
            }
        },
    };
    let path = percent_decode_str(path).decode_utf8().ok();
    let split = path
        .as_deref()
        .map(|p| p.trim_start_matches('/'))
        .and_then(|p| {
            p.split_once('/')
                .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        });
    let Some((bucket, key)) = split else {
        return Err(S3Error::invalid_argument(
            "x-amz-copy-source",
            raw,
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        ));
    };
    Ok(Source {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version,
    })
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.to_str().unwrap_or(""))
}

/// Does the copy replace the metadata (`x-amz-metadata-directive`)?
fn replaces(h: &HeaderMap) -> Result<bool, S3Error> {
    match header(h, "x-amz-metadata-directive") {
        None | Some("COPY") => Ok(false),
        Some("REPLACE") => Ok(true),
        Some(v) => Err(S3Error::invalid_argument(
            "x-amz-metadata-directive",
            v,
            "Unknown metadata directive.",
        )),
    }
}

/// CopyObject.
pub async fn handle(app: Arc<App>, req: S3Request) -> Result<Response<Body>, S3Error> {
    let (bucket, key) = names(&req)?;
    let h = &req.headers;
    super::put::check_write_headers(h)?;
    if let Some(r) = header(h, "x-amz-copy-source-range") {
        return Err(S3Error::invalid_argument(
            "x-amz-copy-source-range",
            r,
            "Illegal copy header",
        ));
    }
    let src = source(header(h, "x-amz-copy-source").unwrap_or(""))?;
    let replace = replaces(h)?;
    let mut query = HashMap::new();
    if let Some(v) = &src.version {
        query.insert("version-id".to_string(), v.clone());
    }
    check_source(&app, &req, &src, query.clone()).await?;
    if src.bucket == bucket && src.key == key && !replace && src.version.is_none() {
        return Err(S3Error::invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself \
             without changing the object's metadata, storage class, website redirect location \
             or encryption attributes.",
        ));
    }
    let headers = copy_headers(h, replace, &bucket, &key)?;
    let names = (src.bucket.as_str(), src.key.as_str());
    let copy = Method::from_bytes(b"COPY").map_err(|_| S3Error::internal_error())?;
    let resp = core(&app, &req, copy, headers, query, names, Incoming::empty())
        .await
        .map_err(|e| match e.status {
            // The source was just found: what is missing is the destination.
            StatusCode::NOT_FOUND => S3Error::no_such_bucket(&bucket),
            _ => e,
        })?;
    result(resp.headers(), src.version.as_deref())
}

/// Reads the source with the `x-amz-copy-source-if-*` conditions: a 304
/// (or 412) is `PreconditionFailed`.
async fn check_source(
    app: &Arc<App>,
    req: &S3Request,
    src: &Source,
    query: HashMap<String, String>,
) -> Result<(), S3Error> {
    let mut headers = HeaderMap::new();
    for (k, v) in &req.headers {
        if let Some(cond) = k.as_str().strip_prefix("x-amz-copy-source-if-") {
            if let Ok(name) = http::HeaderName::from_bytes(format!("if-{cond}").as_bytes()) {
                headers.insert(name, v.clone());
            }
        }
    }
    super::object::dates_as_swift_reads_them(&mut headers);
    let names = (src.bucket.as_str(), src.key.as_str());
    let r = core(
        app,
        req,
        Method::HEAD,
        headers,
        query,
        names,
        Incoming::empty(),
    )
    .await?;
    if r.status() == StatusCode::NOT_MODIFIED {
        return Err(S3Error::from_api(
            crate::http::error::ApiError::PreconditionFailed(String::new()),
            None,
            None,
        ));
    }
    Ok(())
}

/// The core's COPY headers: where to, and which metadata.
fn copy_headers(
    h: &HeaderMap,
    replace: bool,
    bucket: &str,
    key: &str,
) -> Result<HeaderMap, S3Error> {
    let mut headers = swift_headers(h);
    for n in [
        "content-length",
        "transfer-encoding",
        "range",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
    ] {
        headers.remove(n);
    }
    if replace {
        headers.insert("x-fresh-metadata", HeaderValue::from_static("true"));
        let typed = headers
            .get("content-type")
            .is_some_and(|v| !v.as_bytes().trim_ascii().is_empty());
        if !typed {
            headers.insert(
                "content-type",
                HeaderValue::from_static("binary/octet-stream"),
            );
        }
    } else {
        for n in CONTENT_HEADERS {
            headers.remove(n);
        }
        let meta: Vec<_> = headers
            .keys()
            .filter(|k| k.as_str().starts_with("x-object-meta-"))
            .cloned()
            .collect();
        for k in meta {
            headers.remove(k);
        }
    }
    let dest = format!("/{bucket}/{}", utf8_percent_encode(key, DEST_SET));
    let dest = HeaderValue::from_str(&dest).map_err(|_| S3Error::internal_error())?;
    headers.insert("destination", dest);
    Ok(headers)
}

/// The `CopyObjectResult` of the core's answer to the COPY.
fn result(h: &HeaderMap, src_version: Option<&str>) -> Result<Response<Body>, S3Error> {
    let etag = header(h, "etag").unwrap_or("");
    let modified = header(h, "last-modified")
        .and_then(time::parse_http)
        .unwrap_or_else(time::now);
    let mut w = xml::Writer::new("CopyObjectResult");
    w.elem("LastModified", &time::format_iso(modified))
        .elem("ETag", &quoted(etag));
    let text = w.finish();
    let mut b = Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/xml")
        .header("Content-Length", text.len());
    if let Some(v) = h.get("x-object-version-id") {
        b = b.header("x-amz-version-id", v.clone());
    }
    let copied = h.get("x-copied-from-version-id").cloned();
    let asked = src_version.and_then(|v| HeaderValue::from_str(v).ok());
    if let Some(v) = copied.or(asked) {
        b = b.header("x-amz-copy-source-version-id", v);
    }
    b.body(body::full(text))
        .map_err(|_| S3Error::internal_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_read_as_s3_writes_them() {
        let s = source("/b/dir/%F0%9F%99%82%20x").unwrap();
        assert_eq!((s.bucket.as_str(), s.key.as_str()), ("b", "dir/🙂 x"));
        assert_eq!(
            source("b/k?versionId=123").unwrap().version.as_deref(),
            Some("123")
        );
        for bad in [
            "/b/k?nonsense",
            "/b/k?versionId=null&nonsense",
            "/b",
            "b/",
            "",
        ] {
            assert_eq!(source(bad).unwrap_err().code, "InvalidArgument", "{bad}");
        }
    }
}
