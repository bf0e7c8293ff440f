//! Dynamic large objects: an object whose `X-Object-Manifest:
//! <container>/<prefix>` names its segments; a GET serves the concatenation
//! of the objects under that prefix, in listing order.

use http::{Response, StatusCode};
use md5::{Digest, Md5};

use super::cors;
use super::object_core::{authorize, check_conditions, conditional_response, object_headers};
pub use super::object_meta::{check_manifest_header, MANIFEST_KEY};
use super::range::{resolve, Ranges};
use super::{App, Ctx};
use crate::http::body::{self, Body, Part};
use crate::http::error::{ApiError, ApiResult, Finish};
use crate::http::request::decode_path;
use crate::store::container as scont;
use crate::store::listing::{self, Entry, Query};
use crate::store::meta::keys;
use crate::store::name;
use crate::store::object::{self as sobj, ObjectInfo};
use crate::store::{ContainerLoc, ObjPath};

/// Most segments one manifest serves (a listing page).
pub const MAX_SEGMENTS: usize = 10_000;
/// Bodies up to this size are read at once.
const INLINE_READ: u64 = 64 * 1024;

/// The manifest to follow, unless the client asked for the manifest itself.
pub fn manifest(ctx: &Ctx, info: &ObjectInfo) -> Option<String> {
    if ctx.query.get("multipart-manifest").map(String::as_str) == Some("get") {
        return None;
    }
    info.meta.get(MANIFEST_KEY).cloned()
}

/// The segments a manifest names (path and size, in order), the large
/// object's ETag (MD5 of the segments' ETags) and its length.
pub fn segments(app: &App, ctx: &Ctx, manifest: &str) -> ApiResult<(Vec<Segment>, String, u64)> {
    let m = decode_path(manifest.trim())?;
    let (container, prefix) = m
        .split_once('/')
        .ok_or_else(|| ApiError::Internal("stored manifest is malformed".into()))?;
    // A manifest is read from disk: one that names `.`/`..` (planted there,
    // never accepted by a PUT) is refused, not followed.
    if name::check_container(container, &app.store.opts.limits).is_err()
        || name::prefix_dir(prefix).is_none()
    {
        return Err(ApiError::Conflict(
            "The stored X-Object-Manifest names a container or prefix that cannot exist".into(),
        ));
    }
    let loc = authorize(app, ctx, container, false)?;
    // A missing segment container's listing is a 404, which Swift's DLO
    // answers as it is (an existing one without segments is empty).
    let m = scont::container_meta(&loc)?;
    // Swift lists the segments with the caller's rights: a referrer needs
    // `.rlistings`, not just read access to the objects.
    if !ctx.is_owner() {
        let acl = m.get("X-Container-Read").map(String::as_str);
        ctx.authorize(Some(container), false, false, acl)?;
    }
    let q = Query {
        prefix: prefix.to_string(),
        limit: MAX_SEGMENTS,
        with_meta: true,
        ..Default::default()
    };
    let entries = match listing::list(&app.store, &loc, &q) {
        Ok(e) => e,
        Err(crate::store::Error::NotFound) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut segs = Vec::new();
    let mut md5 = Md5::new();
    let mut total = 0u64;
    for e in entries {
        if let Entry::Object {
            name,
            info: Some(i),
        } = e
        {
            if i.is_dir_marker() {
                continue;
            }
            let Ok(name) = ObjPath::from_parts(name) else {
                continue;
            };
            md5.update(i.etag().as_bytes());
            total += i.size;
            segs.push(Segment {
                loc: loc.clone(),
                name,
                size: i.size,
            });
        }
    }
    Ok((segs, hex::encode(md5.finalize()), total))
}

/// A segment: an object of an open container, and its size.
pub struct Segment {
    loc: ContainerLoc,
    name: ObjPath,
    size: u64,
}

/// Opens a segment's file beneath its container (a regular file only).
fn open_segment(loc: &ContainerLoc, name: &ObjPath) -> std::io::Result<std::fs::File> {
    sobj::open_data(loc, name).map_err(|e| match e {
        crate::store::Error::Io(e) => e,
        e => std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()),
    })
}

/// Serves a manifest: segments listed, length and ETag computed, ranges
/// mapped onto the segments.
pub fn respond(
    app: &App,
    ctx: &Ctx,
    info: &ObjectInfo,
    manifest: &str,
    head: bool,
) -> ApiResult<Response<Body>> {
    let (segs, etag, total) = match segments(app, ctx, manifest) {
        Ok(s) => s,
        // Swift's listing sub-request carries the Origin to the segment
        // container: its answer follows that container's CORS rules.
        Err(e) => {
            let container = decode_path(manifest.trim())
                .ok()
                .and_then(|m| m.split_once('/').map(|(c, _)| c.to_string()))
                .unwrap_or_default();
            return Ok(cors::rules_from(
                e.into_response(head),
                &ctx.account,
                &container,
            ));
        }
    };
    let mut whole = info.clone();
    whole.size = total;
    whole.meta.insert(keys::ETAG.into(), etag.clone());
    if let Some(status) = check_conditions(ctx, &whole)? {
        return conditional_response(status, &whole);
    }
    let mut b = object_headers(Response::builder(), &whole);
    if let Some(h) = b.headers_mut() {
        let quoted = format!("\"{etag}\"");
        // Checked when read from disk; a value still refused is left out.
        if let Ok(v) = quoted.parse() {
            h.insert(http::header::ETAG, v);
        }
    }
    let (start, len) = match resolve(ctx.header("range")?, total) {
        Ranges::Parts(r) if r.len() == 1 => {
            let (s, e) = r[0];
            b = b
                .status(StatusCode::PARTIAL_CONTENT)
                .header("Content-Range", format!("bytes {s}-{}/{total}", e - 1));
            (s, e - s)
        }
        Ranges::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(total)),
        // Several ranges over segments: the whole object, as a valid answer.
        _ => (0, total),
    };
    b = b.header("Content-Length", len);
    if head {
        return b.finish(body::empty());
    }
    let parts = slice(&segs, start, len);
    let placeholder = std::fs::File::open("/dev/null").map_err(crate::store::Error::from)?;
    let body = if len <= INLINE_READ {
        body::full(body::read_small(&placeholder, parts, len).map_err(crate::store::Error::from)?)
    } else {
        body::stream_file(placeholder, parts, len)
    };
    b.finish(body)
}

/// The pieces of segments that cover `[start, start + len)`, each opened
/// beneath its container when the body reaches it.
pub fn slice(segs: &[Segment], start: u64, len: u64) -> Vec<Part> {
    let sizes: Vec<u64> = segs.iter().map(|s| s.size).collect();
    pieces(&sizes, start, len)
        .into_iter()
        .map(|(i, offset, len)| {
            let (loc, name) = (segs[i].loc.clone(), segs[i].name.clone());
            Part::Open {
                open: Box::new(move || open_segment(&loc, &name)),
                offset,
                len,
            }
        })
        .collect()
}

/// Which segments (by index, with offset and length within each) cover
/// `[start, start + len)` of segments of `sizes`.
fn pieces(sizes: &[u64], start: u64, len: u64) -> Vec<(usize, u64, u64)> {
    let end = start + len;
    let mut out = Vec::new();
    let mut at = 0u64;
    for (i, size) in sizes.iter().enumerate() {
        let (s, e) = (at, at + size);
        at = e;
        if e <= start || s >= end || *size == 0 {
            continue;
        }
        let from = start.max(s) - s;
        let to = end.min(e) - s;
        out.push((i, from, to - from));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_exactly_the_range() {
        let sizes = [5, 0, 5, 5];
        assert_eq!(pieces(&sizes, 0, 15), vec![(0, 0, 5), (2, 0, 5), (3, 0, 5)]);
        assert_eq!(pieces(&sizes, 3, 5), vec![(0, 3, 2), (2, 0, 3)]);
        assert_eq!(pieces(&sizes, 12, 3), vec![(3, 2, 3)]);
    }

    #[test]
    fn manifest_header_format() {
        assert!(check_manifest_header("c/prefix").is_ok());
        assert!(check_manifest_header("c/").is_ok());
        assert!(check_manifest_header("c").is_err());
        assert!(check_manifest_header("/c/p").is_err());
        for bad in [
            "b/../../AUTH_test/priv/secret",
            "b/x/../y",
            "../AUTH_test/p",
            "b/..%2F..%2Fetc%2Fhostname",
            "b//x",
        ] {
            assert!(check_manifest_header(bad).is_err(), "{bad}");
        }
        assert!(check_manifest_header("b/..prefix").is_ok());
        assert!(check_manifest_header("b/seg/ments-").is_ok());
    }
}
