//! ListParts and ListMultipartUploads: what the upload area holds, as S3
//! lists it (markers, limits, prefix and delimiter, `encoding-type=url`).

use std::sync::Arc;

use http::{HeaderMap, Response};

use super::{bucket, ctx_of, find_upload, names, run, store_err};
use crate::http::body::Body;
use crate::s3::error::S3Error;
use crate::s3::{time, xml, S3Request};
use crate::store::parts;
use crate::swift::App;

/// The most rows one listing answers.
const MAX_ROWS: usize = 1000;

fn query<'a>(req: &'a S3Request, name: &str) -> Option<&'a str> {
    req.query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A non-negative integer parameter (S3's limit for these is i32).
fn int_param(req: &S3Request, name: &str, default: usize) -> Result<usize, S3Error> {
    let Some(v) = query(req, name) else {
        return Ok(default);
    };
    v.parse::<i32>()
        .ok()
        .filter(|n| *n >= 0)
        .map(|n| n as usize)
        .ok_or_else(|| {
            S3Error::invalid_argument(
                name,
                v,
                &format!("Argument {name} must be an integer between 0 and 2147483647"),
            )
        })
}

/// `encoding-type`: `url` or absent.
fn url_encoding(req: &S3Request) -> Result<bool, S3Error> {
    match query(req, "encoding-type") {
        None => Ok(false),
        Some("url") => Ok(true),
        Some(v) => Err(S3Error::invalid_argument(
            "encoding-type",
            v,
            "Invalid Encoding Method specified in Request",
        )),
    }
}

/// A key as listed: percent-encoded with `encoding-type=url`.
fn shown(key: &str, url: bool) -> String {
    match url {
        true => url_encode(key),
        false => key.to_string(),
    }
}

/// A key percent-encoded as Swift's s3api quotes it (`/` kept).
pub(super) fn url_encode(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn person(w: &mut xml::Writer, tag: &'static str, who: &str) {
    w.open(tag).elem("ID", who).elem("DisplayName", who).close();
}

/// ListParts: the stored parts of one upload, from `part-number-marker`.
pub async fn parts(app: Arc<App>, req: S3Request, id: &str) -> Result<Response<Body>, S3Error> {
    let n = names(&app, &req)?;
    let key = n.key.clone().ok_or_else(S3Error::internal_error)?;
    let max = int_param(&req, "max-parts", MAX_ROWS)?.min(MAX_ROWS);
    let marker = int_param(&req, "part-number-marker", 0)?;
    let url = url_encoding(&req)?;
    let ctx = ctx_of(&app, &req, HeaderMap::new()).await?;
    let id = id.to_string();
    let (up_id, all) = run(&app, move |app| {
        let loc = bucket(app, &ctx, &n.bucket, false)?;
        let (area, id, _) = find_upload(app, &loc, &id, &key)?;
        let all = parts::parts(&app.store, &area, &id).map_err(store_err)?;
        Ok((id, all))
    })
    .await?;
    let after: Vec<_> = all.iter().filter(|p| p.number as usize > marker).collect();
    let page = &after[..after.len().min(max)];
    let truncated = after.len() > page.len();
    let who = &req.caller.access_key;
    let mut w = xml::Writer::new("ListPartsResult");
    w.elem("Bucket", req.target.bucket.as_deref().unwrap_or(""))
        .elem("Key", &shown(req.target.key.as_deref().unwrap_or(""), url))
        .elem("UploadId", up_id.as_str());
    person(&mut w, "Initiator", who);
    person(&mut w, "Owner", who);
    w.elem("StorageClass", "STANDARD")
        .elem("PartNumberMarker", &marker.to_string());
    let next = page.last().map_or(marker, |p| p.number as usize);
    w.elem("NextPartNumberMarker", &next.to_string())
        .elem("MaxParts", &max.to_string());
    if url {
        w.elem("EncodingType", "url");
    }
    w.elem("IsTruncated", if truncated { "true" } else { "false" });
    for p in page {
        w.open("Part")
            .elem("PartNumber", &p.number.to_string())
            .elem(
                "LastModified",
                &time::format_iso(p.info.timestamp().ceil() as i64),
            )
            .elem("ETag", &format!("\"{}\"", p.info.etag()))
            .elem("Size", &p.info.size.to_string())
            .close();
    }
    xml::ok(w.finish())
}

/// One row of ListMultipartUploads.
enum Row<'a> {
    Upload(&'a parts::Upload),
    Prefix(String),
}

/// ListMultipartUploads: the bucket's uploads in progress, by key then
/// start time, after `key-marker` (and `upload-id-marker`).
pub async fn uploads(app: Arc<App>, req: S3Request) -> Result<Response<Body>, S3Error> {
    let n = names(&app, &req)?;
    let max = int_param(&req, "max-uploads", MAX_ROWS)?.min(MAX_ROWS);
    let url = url_encoding(&req)?;
    let prefix = query(&req, "prefix").unwrap_or("").to_string();
    let delimiter = query(&req, "delimiter").unwrap_or("").to_string();
    let key_marker = query(&req, "key-marker").unwrap_or("").to_string();
    let id_marker = query(&req, "upload-id-marker").unwrap_or("").to_string();
    let ctx = ctx_of(&app, &req, HeaderMap::new()).await?;
    let all = run(&app, move |app| {
        let loc = bucket(app, &ctx, &n.bucket, false)?;
        match parts::area(&app.store, &loc).map_err(store_err)? {
            Some(area) => parts::uploads(&area).map_err(store_err),
            None => Ok(Vec::new()),
        }
    })
    .await?;
    let after_marker = |u: &&parts::Upload| {
        let k = u.record.key.as_str();
        k > key_marker.as_str()
            || (k == key_marker && !id_marker.is_empty() && u.id.as_str() > id_marker.as_str())
    };
    let mut rows: Vec<Row<'_>> = Vec::new();
    let mut truncated = false;
    for u in all
        .iter()
        .filter(|u| u.record.key.starts_with(&prefix))
        .filter(after_marker)
    {
        let rest = &u.record.key[prefix.len()..];
        let row = match rest.find(&delimiter).filter(|_| !delimiter.is_empty()) {
            Some(i) => {
                let p = format!("{prefix}{}", &rest[..i + delimiter.len()]);
                if matches!(rows.last(), Some(Row::Prefix(last)) if *last == p) {
                    continue;
                }
                Row::Prefix(p)
            }
            None => Row::Upload(u),
        };
        if rows.len() == max {
            truncated = true;
            break;
        }
        rows.push(row);
    }
    let who = &req.caller.access_key;
    let mut w = xml::Writer::new("ListMultipartUploadsResult");
    w.elem("Bucket", req.target.bucket.as_deref().unwrap_or(""))
        .elem("KeyMarker", &shown(&key_marker, url))
        .elem("UploadIdMarker", &id_marker);
    // As Swift's s3api: the next markers name the last row when there
    // are several (its suites expect them empty for a single row).
    let (next_key, next_id) = match rows.last() {
        _ if rows.len() < 2 => (String::new(), String::new()),
        Some(Row::Upload(u)) => (u.record.key.clone(), u.id.as_str().to_string()),
        Some(Row::Prefix(p)) => (p.clone(), String::new()),
        None => (String::new(), String::new()),
    };
    w.elem("NextKeyMarker", &shown(&next_key, url))
        .elem("NextUploadIdMarker", &next_id);
    if !delimiter.is_empty() {
        w.elem("Delimiter", &shown(&delimiter, url));
    }
    if !prefix.is_empty() {
        w.elem("Prefix", &shown(&prefix, url));
    }
    w.elem("MaxUploads", &max.to_string());
    if url {
        w.elem("EncodingType", "url");
    }
    w.elem("IsTruncated", if truncated { "true" } else { "false" });
    for r in &rows {
        if let Row::Upload(u) = r {
            w.open("Upload")
                .elem("Key", &shown(&u.record.key, url))
                .elem("UploadId", u.id.as_str());
            person(&mut w, "Initiator", who);
            person(&mut w, "Owner", who);
            w.elem("StorageClass", "STANDARD")
                .elem("Initiated", &time::format_iso(u.initiated as i64))
                .close();
        }
    }
    for r in &rows {
        if let Row::Prefix(p) = r {
            w.open("CommonPrefixes")
                .elem("Prefix", &shown(p, url))
                .close();
        }
    }
    xml::ok(w.finish())
}
