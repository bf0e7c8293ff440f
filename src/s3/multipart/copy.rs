//! UploadPartCopy: a part made from (a range of) an existing object, which
//! the caller must be allowed to read, copied by the kernel
//! ([`crate::store::write::Writer::copy_range`]).

use std::sync::Arc;

use http::{HeaderMap, Response};

use super::{bucket, ctx_of, find_upload, names, part_dest, part_number, run, s3_etag, store_err};
use crate::http::body::Body;
use crate::s3::error::S3Error;
use crate::s3::sigv4::header;
use crate::s3::{target, time, xml, S3Request};
use crate::store::object::{self as sobj, ObjectInfo};
use crate::store::{self, ObjPath};
use crate::swift::write::Put;
use crate::swift::App;

/// `x-amz-copy-source`: `[/]bucket/key[?versionId=…]`, percent-encoded.
fn source(app: &App, h: &HeaderMap) -> Result<(String, ObjPath), S3Error> {
    let raw = header(h, "x-amz-copy-source").unwrap_or("");
    let bad = || {
        S3Error::invalid_argument(
            "x-amz-copy-source",
            raw,
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )
    };
    let path = raw.split_once('?').map_or(raw, |(p, _)| p);
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| bad())?;
    let (b, k) = decoded
        .trim_start_matches('/')
        .split_once('/')
        .ok_or_else(bad)?;
    if !target::valid_bucket(b) || k.is_empty() {
        return Err(bad());
    }
    let key = ObjPath::new(k, &app.store.opts.limits).map_err(|_| bad())?;
    Ok((b.to_string(), key))
}

/// `x-amz-copy-source-range: bytes=first-last` within an object of `size`
/// bytes: the offset and length; the whole object without the header.
fn range(h: &HeaderMap, size: u64) -> Result<(u64, u64), S3Error> {
    let Some(v) = header(h, "x-amz-copy-source-range") else {
        return Ok((0, size));
    };
    let form = || {
        S3Error::invalid_argument(
            "x-amz-copy-source-range",
            v,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where \
             first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    let (a, b) = v
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(form)?;
    let (first, last) = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(f), Ok(l)) if f <= l => (f, l),
        _ => return Err(form()),
    };
    if last >= size {
        return Err(S3Error::invalid_argument(
            "x-amz-copy-source-range",
            v,
            &format!("Range specified is not valid for source object of size: {size}"),
        ));
    }
    Ok((first, last - first + 1))
}

fn precondition_failed() -> S3Error {
    S3Error::from(crate::http::error::ApiError::PreconditionFailed(
        String::new(),
    ))
}

/// `x-amz-copy-source-if-*` against the source (its S3 ETag, a multipart
/// object's included).
fn check_conditions(h: &HeaderMap, info: &ObjectInfo) -> Result<(), S3Error> {
    let etag = s3_etag(&info.meta).unwrap_or(info.etag()).to_string();
    let listed = |v: &str| {
        v.split(',')
            .map(|e| e.trim().trim_matches('"'))
            .any(|e| e == "*" || e == etag)
    };
    let modified = info.timestamp() as i64;
    let failed = header(h, "x-amz-copy-source-if-match").is_some_and(|v| !listed(v))
        || header(h, "x-amz-copy-source-if-none-match").is_some_and(listed)
        || header(h, "x-amz-copy-source-if-unmodified-since")
            .and_then(time::parse_http)
            .is_some_and(|t| modified > t)
        || header(h, "x-amz-copy-source-if-modified-since")
            .and_then(time::parse_http)
            .is_some_and(|t| modified <= t);
    match failed {
        true => Err(precondition_failed()),
        false => Ok(()),
    }
}

/// UploadPartCopy.
pub async fn copy_part(
    app: Arc<App>,
    req: S3Request,
    id: &str,
    number: &str,
) -> Result<Response<Body>, S3Error> {
    let number = part_number(number)?;
    let n = names(&app, &req)?;
    let key = n.key.clone().ok_or_else(S3Error::internal_error)?;
    let (src_bucket, src_key) = source(&app, &req.headers)?;
    let ctx = ctx_of(&app, &req, HeaderMap::new()).await?;
    let (id, headers) = (id.to_string(), req.headers.clone());
    let info = run(&app, move |app| {
        let loc = bucket(app, &ctx, &n.bucket, true)?;
        let (area, id, _) = find_upload(app, &loc, &id, &key)?;
        let src_loc = bucket(app, &ctx, &src_bucket, false)?;
        let src = match sobj::open(&app.store, &src_loc, &src_key) {
            Ok(o) => o,
            Err(store::Error::NotFound) => return Err(S3Error::no_such_key(src_key.as_str())),
            Err(e) => return Err(store_err(e)),
        };
        check_conditions(&headers, &src.info)?;
        let (offset, len) = range(&headers, src.info.size)?;
        let mut put = Put::begin(app, part_dest(&ctx, area, &id, number), Some(len))?;
        if len > 0 {
            put.writer()
                .copy_range(&src.file, offset, len)
                .map_err(store_err)?;
        }
        Ok(put.commit(app, super::parts::part_meta(), None)?)
    })
    .await?;
    let mut w = xml::Writer::new("CopyPartResult");
    w.elem(
        "LastModified",
        &time::format_iso(info.timestamp().ceil() as i64),
    )
    .elem("ETag", &format!("\"{}\"", info.etag()));
    xml::ok(w.finish())
}
