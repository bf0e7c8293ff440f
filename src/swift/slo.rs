//! Static large objects: a manifest object (`PUT ?multipart-manifest=put`)
//! lists its segments (other objects, ranges of them, other manifests, or
//! inline data); a GET serves their concatenation.
//!
//! The manifest is stored as its object's body in Swift's internal form (a
//! JSON list of `name`/`bytes`/`hash`/`content_type`/`last_modified`, plus
//! `range` and `sub_slo`, or `data`), with `X-Static-Large-Object: True`,
//! the total length and the large object's ETag in sysmeta, and
//! `;swift_bytes=<total>` on the Content-Type, as Swift stores it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use crate::http::incoming::Incoming;
use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::BodyExt;
use md5::{Digest, Md5};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::headers::{http_date, iso_date};
use super::listing::{self, Format};
use super::object_core::{authorize, check_conditions, expired, object_headers, request_meta};
use super::range::{resolve, Ranges};
use super::report::{report, status_line};
use super::write::{self, Dest};
use super::{blocking, App, Ctx};
use crate::http::body::{self, Body};
use crate::http::error::{ApiError, ApiResult, Finish};
use crate::store::meta::{keys, Meta};
use crate::store::object::{self as sobj, ObjectInfo, OpenObject};
use crate::store::write::Writer;
use crate::store::{name, ContainerLoc, ObjPath};

/// Marks a manifest in the object's metadata (and on responses).
pub const SLO_KEY: &str = "X-Static-Large-Object";
/// The large object's ETag (MD5 of its segments' ETags).
pub const ETAG_KEY: &str = "X-Object-Sysmeta-Slo-Etag";
/// The large object's length.
pub const SIZE_KEY: &str = "X-Object-Sysmeta-Slo-Size";
/// Most object-backed segments in a new manifest.
pub const MAX_SEGMENTS: usize = 1000;
/// Largest manifest body accepted.
pub const MAX_MANIFEST_SIZE: usize = 8 * 1024 * 1024;
/// Seconds between heartbeat bytes of a `heartbeat=on` upload.
pub const YIELD_FREQUENCY: u64 = 10;
/// Deepest nesting of manifests served.
const MAX_DEPTH: usize = 10;
/// Read size per chunk of a streamed segment.
const CHUNK: u64 = 256 * 1024;
/// Bodies up to this size are assembled in memory.
const INLINE_READ: u64 = 64 * 1024;

/// Swift's `quote` (everything but unreserved characters and `/`).
const QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What `/info` says of SLO.
pub fn info() -> Value {
    json!({
        "max_manifest_segments": MAX_SEGMENTS,
        "max_manifest_size": MAX_MANIFEST_SIZE,
        "yield_frequency": YIELD_FREQUENCY,
        "min_segment_size": 1,
        "allow_async_delete": false,
    })
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on" | "t" | "y"
    )
}

/// Is this object a manifest?
pub fn is_slo(info: &ObjectInfo) -> bool {
    info.meta.get(SLO_KEY).is_some_and(|v| truthy(v))
}

fn query_is(ctx: &Ctx, key: &str, want: &str) -> bool {
    ctx.query.get(key).map(String::as_str) == Some(want)
}

/// `PUT ?multipart-manifest=put`.
pub fn is_manifest_put(ctx: &Ctx) -> bool {
    ctx.method == Method::PUT && query_is(ctx, "multipart-manifest", "put")
}

/// `DELETE ?multipart-manifest=delete`.
pub fn is_manifest_delete(ctx: &Ctx) -> bool {
    ctx.method == Method::DELETE && query_is(ctx, "multipart-manifest", "delete")
}

/// Does the client ask for the manifest itself rather than its content?
pub fn wants_manifest(ctx: &Ctx) -> bool {
    query_is(ctx, "multipart-manifest", "get")
}

/// Refuses `X-Static-Large-Object` on requests that would set it (all but
/// GET, HEAD and the manifest PUT).
pub fn check_reserved(ctx: &Ctx) -> ApiResult<()> {
    if ctx.headers.contains_key("x-static-large-object") {
        return Err(ApiError::BadRequest(
            "X-Static-Large-Object is a reserved header. To create a static large object add query param multipart-manifest=put.".into(),
        ));
    }
    Ok(())
}

/// A Content-Type without the `swift_bytes` parameter Swift adds to manifests.
pub fn strip_swift_bytes(ct: &str) -> &str {
    match ct.rfind(";swift_bytes=") {
        Some(i) if ct[i + 13..].bytes().all(|b| b.is_ascii_digit()) => ct[..i].trim_end(),
        _ => ct,
    }
}

/// Length and (quoted) ETag a container listing shows for a manifest.
pub fn listing_attrs(info: &ObjectInfo) -> Option<(u64, String)> {
    if !is_slo(info) {
        return None;
    }
    let size = stored_size(info)?;
    let etag = info.meta.get(ETAG_KEY)?;
    Some((size, format!("\"{etag}\"")))
}

fn stored_size(info: &ObjectInfo) -> Option<u64> {
    if let Some(s) = info.meta.get(SIZE_KEY).and_then(|v| v.parse().ok()) {
        return Some(s);
    }
    let ct = info.meta.get(keys::CONTENT_TYPE)?;
    let i = ct.rfind(";swift_bytes=")?;
    ct[i + 13..].parse().ok()
}

/// Names (quoted) and why each failed.
type Problems = Vec<(String, String)>;

/// A name to delete: whether it is a manifest still to read, and the error
/// that keeps it from being deleted.
type Pending = (String, bool, Option<(StatusCode, String)>);

// --- the stored manifest ------------------------------------------------------

/// One entry of a stored manifest (Swift's internal form).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    range: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub_slo: Option<bool>,
}

/// A segment as served: inline bytes or a piece of an object.
#[derive(Debug, Clone)]
pub enum Seg {
    Data(Bytes),
    Obj {
        name: String,
        hash: Option<String>,
        bytes: Option<u64>,
        start: u64,
        len: u64,
        sub_slo: bool,
    },
}

impl Seg {
    fn len(&self) -> u64 {
        match self {
            Seg::Data(b) => b.len() as u64,
            Seg::Obj { len, .. } => *len,
        }
    }
}

/// Reads a stored manifest (untrusted: it comes from disk).
pub fn parse_stored(raw: &[u8]) -> ApiResult<Vec<Stored>> {
    serde_json::from_slice(raw)
        .map_err(|_| ApiError::Internal("Unable to load SLO manifest".into()))
}

/// The segments were needed and not read: a bug, answered 500.
fn unread() -> ApiError {
    ApiError::Internal("SLO segments needed but not read".into())
}

/// The segments a stored manifest serves.
pub fn annotate(stored: &[Stored]) -> ApiResult<Vec<Seg>> {
    let bad = || ApiError::Internal("Unable to load SLO manifest".into());
    stored
        .iter()
        .map(|s| {
            if let Some(d) = &s.data {
                return Ok(Seg::Data(Bytes::from(b64_decode(d).ok_or_else(bad)?)));
            }
            let name = s.name.clone().ok_or_else(bad)?;
            let (start, len) = match &s.range {
                Some(r) => {
                    let (a, b) = r.split_once('-').ok_or_else(bad)?;
                    let (a, b): (u64, u64) =
                        (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                    (
                        a,
                        b.checked_add(1)
                            .and_then(|e| e.checked_sub(a))
                            .ok_or_else(bad)?,
                    )
                }
                None => (0, s.bytes.ok_or_else(bad)?),
            };
            Ok(Seg::Obj {
                name,
                hash: s.hash.clone(),
                bytes: s.bytes,
                start,
                len,
                sub_slo: s.sub_slo.unwrap_or(false),
            })
        })
        .collect()
}

/// The large object's ETag and length from its segments (manifests stored
/// without the sysmeta).
pub fn etag_and_size(stored: &[Stored], segs: &[Seg]) -> (String, u64) {
    let mut md5 = Md5::new();
    let mut total = 0;
    for (s, g) in stored.iter().zip(segs) {
        total = g.len().saturating_add(total);
        let part = match g {
            Seg::Data(b) => hex::encode(Md5::digest(b)),
            Seg::Obj { .. } => match &s.range {
                Some(r) => format!("{}:{r};", s.hash.as_deref().unwrap_or("")),
                None => s.hash.clone().unwrap_or_default(),
            },
        };
        md5.update(part.as_bytes());
    }
    (hex::encode(md5.finalize()), total)
}

/// `/container/object` of a segment.
fn split_seg(path: &str) -> Option<(&str, &str)> {
    let (c, o) = path.trim_start_matches('/').split_once('/')?;
    (!c.is_empty() && !o.is_empty()).then_some((c, o))
}

/// A context for reaching segments as the requesting user.
fn seg_ctx(ctx: &Ctx, account: &str) -> Ctx {
    Ctx {
        method: Method::GET,
        headers: ctx.headers.clone(),
        query: Default::default(),
        id: ctx.id.clone(),
        // Another account's ACL is not read here: its segments need
        // ownership or a container ACL.
        grant: ctx.grant.filter(|_| account == ctx.account),
        account: account.to_string(),
        note: ctx.note.clone(),
        etag_is_at: None,
    }
}

/// Finds and authorizes segment containers, once each.
struct Locs<'a> {
    app: &'a App,
    ctx: &'a Ctx,
    seen: HashMap<String, Result<ContainerLoc, StatusCode>>,
    writes: bool,
}

impl<'a> Locs<'a> {
    fn new(app: &'a App, ctx: &'a Ctx, writes: bool) -> Self {
        Locs {
            app,
            ctx,
            seen: HashMap::new(),
            writes,
        }
    }

    fn get(&mut self, container: &str) -> Result<ContainerLoc, StatusCode> {
        if let Some(r) = self.seen.get(container) {
            return r.clone();
        }
        let r = name::check_container(container, &self.app.store.opts.limits)
            .map_err(|_| StatusCode::BAD_REQUEST)
            .and_then(|_| {
                authorize(self.app, self.ctx, container, self.writes).map_err(|e| e.status())
            });
        self.seen.insert(container.to_string(), r.clone());
        r
    }

    /// Opens a segment object (not expired).
    fn open(&mut self, path: &str) -> Result<OpenObject, StatusCode> {
        let (c, o) = split_seg(path).ok_or(StatusCode::BAD_REQUEST)?;
        let loc = self.get(c)?;
        let o =
            ObjPath::new(o, &self.app.store.opts.limits).map_err(|_| StatusCode::BAD_REQUEST)?;
        let obj = sobj::open(&self.app.store, &loc, &o).map_err(|e| ApiError::from(e).status())?;
        if expired(&obj.info) && !super::expirer::open_expired(self.app, self.ctx) {
            return Err(StatusCode::NOT_FOUND);
        }
        let (_, obj) =
            super::symlink::open_followed(self.app, self.ctx, obj).map_err(|e| e.status())?;
        Ok(obj)
    }
}

fn read_all(mut f: &File) -> ApiResult<Vec<u8>> {
    let mut v = Vec::new();
    f.read_to_end(&mut v).map_err(crate::store::Error::from)?;
    Ok(v)
}

// --- GET / HEAD ---------------------------------------------------------------

/// A piece of the response body.
enum Piece {
    Bytes(Bytes),
    Seg {
        name: String,
        hash: Option<String>,
        bytes: Option<u64>,
        offset: u64,
        len: u64,
    },
}

/// Expands `segs` into leaf pieces covering `[first, last]` (inclusive,
/// relative to `segs`), fetching nested manifests as needed.
struct Expander<'a, 'b> {
    locs: &'b mut Locs<'a>,
    cache: HashMap<String, Arc<Vec<Seg>>>,
}

impl Expander<'_, '_> {
    fn sub_manifest(&mut self, path: &str) -> ApiResult<Arc<Vec<Seg>>> {
        if let Some(s) = self.cache.get(path) {
            return Ok(s.clone());
        }
        let obj = self.locs.open(path).map_err(|s| {
            ApiError::Conflict(format!(
                "GET of submanifest {path} failed with status {}",
                status_line(s)
            ))
        })?;
        if !is_slo(&obj.info) {
            return Err(ApiError::Conflict(format!(
                "submanifest {path} is not a manifest"
            )));
        }
        let segs = Arc::new(annotate(&parse_stored(&read_all(&obj.file)?)?)?);
        self.cache.insert(path.to_string(), segs.clone());
        Ok(segs)
    }

    fn expand(
        &mut self,
        segs: &[Seg],
        mut first: i64,
        mut last: i64,
        depth: usize,
        out: &mut Vec<Piece>,
    ) -> ApiResult<()> {
        for s in segs {
            let len = s.len() as i64;
            if first >= len {
                first -= len;
                last -= len;
                continue;
            }
            if last < 0 {
                return Ok(());
            }
            match s {
                Seg::Data(b) => {
                    let a = first.max(0) as usize;
                    let z = last.min(len - 1) as usize;
                    out.push(Piece::Bytes(b.slice(a..=z)));
                }
                Seg::Obj {
                    name,
                    hash,
                    bytes,
                    start,
                    sub_slo,
                    ..
                } => {
                    let rs = *start as i64;
                    let re = rs + len - 1;
                    let a = rs + first.max(0);
                    let z = re.min(rs + last);
                    if *sub_slo {
                        if depth >= MAX_DEPTH {
                            // Swift answers with its plain 409 page here.
                            return Err(ApiError::Conflict(
                                "<html><h1>Conflict</h1><p>There was a conflict when trying to complete your request.</p></html>".into(),
                            ));
                        }
                        let sub = self.sub_manifest(name)?;
                        self.expand(&sub, a, z, depth + 1, out)?;
                    } else {
                        out.push(Piece::Seg {
                            name: name.clone(),
                            hash: hash.clone(),
                            bytes: *bytes,
                            offset: a as u64,
                            len: (z - a + 1) as u64,
                        });
                    }
                }
            }
            first -= len;
            last -= len;
        }
        Ok(())
    }
}

/// Checks a segment is still what the manifest says.
fn check_segment(
    obj: &OpenObject,
    name: &str,
    hash: &Option<String>,
    bytes: &Option<u64>,
) -> Result<(), String> {
    let (etag, size) = if is_slo(&obj.info) {
        // A nested manifest served as a plain segment cannot be checked
        // against its content; refuse it.
        return Err(format!("segment {name} is a manifest"));
    } else {
        (obj.info.etag(), obj.info.size)
    };
    if hash.as_deref().is_some_and(|h| h != etag) {
        return Err(format!("segment {name}: ETag mismatch"));
    }
    if bytes.is_some_and(|b| b != size) {
        return Err(format!("segment {name}: size mismatch"));
    }
    Ok(())
}

/// Answers a GET or HEAD of a manifest, or `None` when the object is not
/// one. `file` is the open manifest (GET).
pub fn get(
    app: &Arc<App>,
    ctx: &Ctx,
    info: &ObjectInfo,
    file: Option<&File>,
    loc: &ContainerLoc,
    object: &ObjPath,
    head: bool,
) -> ApiResult<Option<Response<Body>>> {
    if !is_slo(info) {
        return Ok(None);
    }
    let manifest_body = |file: Option<&File>| -> ApiResult<Vec<u8>> {
        match file {
            Some(f) => read_all(f),
            None => read_all(&sobj::open(&app.store, loc, object)?.file),
        }
    };
    if wants_manifest(ctx) {
        return manifest_response(info, manifest_body(file)?, ctx, head).map(Some);
    }
    let part = match ctx.query.get("part-number") {
        None => None,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n > 0 => Some(n as usize),
            _ => {
                return Err(ApiError::BadRequest(
                    "Part number must be an integer greater than 0".into(),
                ))
            }
        },
    };
    let range = ctx.header("range")?.map(str::to_string);
    if part.is_some() && range.is_some() {
        return Err(ApiError::BadRequest(
            "Range requests are not supported with part number queries".into(),
        ));
    }
    let known = stored_size(info).zip(info.meta.get(ETAG_KEY).cloned());
    let need_segments = !head || part.is_some() || known.is_none();
    let segs = if need_segments {
        let stored = parse_stored(&manifest_body(file)?)?;
        let segs = annotate(&stored)?;
        Some((etag_and_size(&stored, &segs), segs))
    } else {
        None
    };
    let (total, slo_etag) = match (&known, &segs) {
        (Some((s, e)), _) | (None, Some(((e, s), _))) => (*s, e.clone()),
        (None, None) => return Err(unread()),
    };
    let mut whole = info.clone();
    whole.size = total;
    whole.meta.insert(keys::ETAG.into(), slo_etag.clone());
    let headers = |b: http::response::Builder| {
        let mut b = object_headers(b, &whole)
            .header(SLO_KEY, "True")
            .header("X-Manifest-Etag", info.etag());
        if let Some(h) = b.headers_mut() {
            let quoted = format!("\"{slo_etag}\"");
            // Checked when read from disk; a value still refused is left out.
            if let Ok(v) = quoted.parse() {
                h.insert(http::header::ETAG, v);
            }
        }
        b
    };
    if let Some(status) = check_conditions(ctx, &whole)? {
        return Ok(Some(
            headers(Response::builder())
                .status(status)
                .header("Content-Length", "0")
                .finish(body::empty())?,
        ));
    }
    let mut b = headers(Response::builder());
    let (ranges, multi) = if let Some(p) = part {
        let Some((_, segs)) = &segs else {
            return Err(unread());
        };
        b = b.header("X-Parts-Count", segs.len());
        if p > segs.len() {
            let msg = "The requested part number is not satisfiable";
            let b = b
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header("Content-Range", format!("bytes */{total}"));
            return Ok(Some(if head {
                b.header("Content-Length", "0").finish(body::empty())?
            } else {
                b.header("Content-Length", msg.len())
                    .finish(body::full(msg))?
            }));
        }
        let start: u64 = segs[..p - 1].iter().map(Seg::len).sum();
        let end = start + segs[p - 1].len();
        b = b.status(StatusCode::PARTIAL_CONTENT).header(
            "Content-Range",
            format!("bytes {start}-{}/{total}", end.max(1) - 1),
        );
        (vec![(start, end)], false)
    } else if head {
        (vec![(0, total)], false)
    } else {
        match resolve(range.as_deref(), total) {
            Ranges::Whole => (vec![(0, total)], false),
            Ranges::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(total)),
            Ranges::Parts(r) if r.len() == 1 => {
                let (s, e) = r[0];
                b = b
                    .status(StatusCode::PARTIAL_CONTENT)
                    .header("Content-Range", format!("bytes {s}-{}/{total}", e - 1));
                (r, false)
            }
            Ranges::Parts(r) => (r, true),
        }
    };
    if head {
        let len: u64 = ranges.iter().map(|(s, e)| e - s).sum();
        return Ok(Some(b.header("Content-Length", len).finish(body::empty())?));
    }
    let Some((_, segs)) = segs else {
        return Err(unread());
    };
    let ct = whole.content_type().to_string();
    let mut locs = Locs::new(app, ctx, false);
    let mut ex = Expander {
        locs: &mut locs,
        cache: HashMap::new(),
    };
    let mut pieces = Vec::new();
    let mut len = 0u64;
    let boundary = format!("{:032x}", rand::random::<u128>());
    for (i, (s, e)) in ranges.iter().enumerate() {
        if multi {
            let h = format!(
                "{}--{boundary}\r\nContent-Type: {ct}\r\nContent-Range: bytes {s}-{}/{total}\r\n\r\n",
                if i == 0 { "" } else { "\r\n" },
                e - 1
            );
            len += h.len() as u64;
            pieces.push(Piece::Bytes(Bytes::from(h)));
        }
        if e > s {
            ex.expand(&segs, *s as i64, *e as i64 - 1, 1, &mut pieces)?;
        }
        len += e - s;
    }
    if multi {
        let tail = format!("\r\n--{boundary}--");
        len += tail.len() as u64;
        pieces.push(Piece::Bytes(Bytes::from(tail)));
        b = b.status(StatusCode::PARTIAL_CONTENT);
        b = super::range::byteranges_type(b, &boundary);
    }
    // The first segment is checked before answering: a missing or changed
    // one is a 409; later ones end the body early (the connection drops).
    let mut first = None;
    if let Some(Piece::Seg {
        name, hash, bytes, ..
    }) = pieces.iter().find(|p| matches!(p, Piece::Seg { .. }))
    {
        let obj = locs
            .open(name)
            .map_err(|s| ApiError::Conflict(format!("segment {name}: {}", status_line(s))))?;
        check_segment(&obj, name, hash, bytes).map_err(ApiError::Conflict)?;
        first = Some(obj.file);
    }
    let seen = std::mem::take(&mut locs.seen);
    b = b.header("Content-Length", len);
    let body = if len <= INLINE_READ {
        let (tx, mut rx) = mpsc::channel(pieces.len() * 2 + 2);
        send_pieces(app, ctx, seen, pieces, first, &tx);
        drop(tx);
        let mut out = Vec::with_capacity(len as usize);
        while let Ok(r) = rx.try_recv() {
            match r {
                Ok(b) => out.extend_from_slice(&b),
                Err(_) => return Err(ApiError::Conflict("a segment changed".into())),
            }
        }
        body::full(out)
    } else {
        let (tx, rx) = mpsc::channel(4);
        let app = app.clone();
        let ctx = seg_ctx(ctx, &ctx.account);
        tokio::task::spawn_blocking(move || {
            send_pieces(&app, &ctx, seen, pieces, first, &tx);
        });
        body::channel(rx, Some(len))
    };
    Ok(Some(b.finish(body)?))
}

/// Sends the pieces of a body, opening and checking each segment; stops
/// with an error (the connection is dropped) at the first bad one.
fn send_pieces(
    app: &App,
    ctx: &Ctx,
    seen: HashMap<String, Result<ContainerLoc, StatusCode>>,
    pieces: Vec<Piece>,
    mut first: Option<File>,
    tx: &mpsc::Sender<std::io::Result<Bytes>>,
) {
    let mut locs = Locs::new(app, ctx, false);
    locs.seen = seen;
    let send = |r: std::io::Result<Bytes>| -> bool {
        let failed = r.is_err();
        let sent = match tx.try_reserve() {
            Ok(p) => {
                p.send(r);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => tx.blocking_send(r).is_ok(),
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        };
        sent && !failed
    };
    for p in pieces {
        match p {
            Piece::Bytes(b) => {
                if !send(Ok(b)) {
                    return;
                }
            }
            Piece::Seg {
                name,
                hash,
                bytes,
                offset,
                len,
            } => {
                let file = match first.take() {
                    Some(f) => f,
                    None => {
                        let checked = locs
                            .open(&name)
                            .map_err(status_line)
                            .and_then(|o| check_segment(&o, &name, &hash, &bytes).map(|_| o.file));
                        match checked {
                            Ok(f) => f,
                            Err(e) => {
                                tracing::warn!("large object body cut short: {e}");
                                send(Err(std::io::Error::other(e)));
                                return;
                            }
                        }
                    }
                };
                let mut at = offset;
                let end = offset + len;
                while at < end {
                    let n = (end - at).min(CHUNK) as usize;
                    let mut buf = vec![0u8; n];
                    let r = file.read_exact_at(&mut buf, at).map(|_| Bytes::from(buf));
                    if !send(r) {
                        return;
                    }
                    at += n as u64;
                }
            }
        }
    }
}

/// `multipart-manifest=get`: the stored manifest, or with `format=raw` the
/// form a client PUTs.
fn manifest_response(
    info: &ObjectInfo,
    raw: Vec<u8>,
    ctx: &Ctx,
    head: bool,
) -> ApiResult<Response<Body>> {
    let mut b = object_headers(Response::builder(), info).header(SLO_KEY, "True");
    let (text, etag) = if query_is(ctx, "format", "raw") {
        let stored = parse_stored(&raw)?;
        let text = to_raw(&stored).to_string().into_bytes();
        let etag = hex::encode(Md5::digest(&text));
        (text, etag)
    } else {
        if let Some(h) = b.headers_mut() {
            h.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json; charset=utf-8"),
            );
        }
        (raw, info.etag().to_string())
    };
    if let Some(status) = check_conditions(ctx, info)? {
        return b
            .status(status)
            .header("Content-Length", "0")
            .finish(body::empty());
    }
    if let Some(h) = b.headers_mut() {
        // Checked when read from disk; a value still refused is left out.
        if let Ok(v) = etag.parse() {
            h.insert(http::header::ETAG, v);
        }
    }
    let b = b.header("Content-Length", text.len());
    b.finish(if head {
        body::empty()
    } else {
        body::full(text)
    })
}

/// The stored manifest in the form a client PUTs (keys sorted, as Swift).
fn to_raw(stored: &[Stored]) -> Value {
    let entry = |s: &Stored| {
        let mut m = BTreeMap::new();
        if let Some(d) = &s.data {
            m.insert("data", json!(d));
        } else {
            m.insert("path", json!(s.name));
            m.insert("size_bytes", json!(s.bytes));
            m.insert("etag", json!(s.hash));
            if let Some(r) = &s.range {
                m.insert("range", json!(r));
            }
        }
        Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    };
    Value::Array(stored.iter().map(entry).collect())
}

// --- PUT ----------------------------------------------------------------------

/// A segment of a manifest being uploaded, after parsing.
#[derive(Debug, Clone)]
pub enum Input {
    Data(Vec<u8>),
    Path {
        path: String,
        etag: Option<String>,
        size: Option<u64>,
        range: Option<String>,
    },
}

/// Parses and checks a manifest as uploaded; the error is Swift's list of
/// problems by index.
pub fn parse_input(raw: &[u8], container: &str, object: &str) -> ApiResult<Vec<Input>> {
    let v: Value = serde_json::from_slice(raw)
        .map_err(|_| ApiError::BadRequest("Manifest must be valid JSON.\n".into()))?;
    let Value::Array(items) = v else {
        return Err(ApiError::BadRequest("Manifest must be a list.\n".into()));
    };
    let mut errors = Vec::new();
    let mut out = Vec::new();
    let n = items.len();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(d) = item else {
            errors.push(format!("Index {i}: not a JSON object"));
            continue;
        };
        let kind = if d.contains_key("data") {
            "data"
        } else if d.contains_key("path") {
            "path"
        } else {
            errors.push(format!(
                "Index {i}: expected keys to include one of 'data' or 'path'"
            ));
            continue;
        };
        let allowed: &[&str] = if kind == "data" {
            &["data"]
        } else {
            &["path", "range", "etag", "size_bytes"]
        };
        let mut extra: Vec<&String> = d
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .collect();
        if !extra.is_empty() {
            extra.sort();
            let list: Vec<String> = extra
                .iter()
                .map(|k| Value::from(k.as_str()).to_string())
                .collect();
            errors.push(format!("Index {i}: extraneous keys {}", list.join(", ")));
            continue;
        }
        if kind == "data" {
            let data = d["data"].as_str().and_then(b64_decode);
            match data {
                None => errors.push(format!("Index {i}: data must be valid base64")),
                Some(b) if b.is_empty() => errors.push(format!(
                    "Index {i}: too small; each segment must be at least 1 byte."
                )),
                Some(b) => out.push(Input::Data(b)),
            }
            continue;
        }
        let Some(path) = d["path"].as_str() else {
            errors.push(format!("Index {i}: \"path\" must be a string"));
            continue;
        };
        let etag = match d.get("etag") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                errors.push(format!(
                    "Index {i}: \"etag\" must be a string or null (if provided)"
                ));
                continue;
            }
        };
        if !path.trim_matches('/').contains('/') {
            errors.push(format!(
                "Index {i}: path does not refer to an object. Path must be of the form /container/object."
            ));
            continue;
        }
        let size = match d.get("size_bytes") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let parsed = match v {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.trim().parse::<i64>().ok(),
                    _ => None,
                };
                match parsed {
                    None => {
                        errors.push(format!("Index {i}: invalid size_bytes"));
                        continue;
                    }
                    Some(s) if s < 1 && i != n - 1 => {
                        errors.push(format!(
                            "Index {i}: too small; each segment must be at least 1 byte."
                        ));
                        continue;
                    }
                    Some(s) => Some(s.max(0) as u64),
                }
            }
        };
        if split_seg(path) == Some((container, object)) {
            errors.push(format!(
                "Index {i}: manifest must not include itself as a segment"
            ));
            continue;
        }
        let range = match d.get("range") {
            None | Some(Value::Null) => None,
            Some(Value::String(r)) if r.is_empty() => None,
            Some(Value::String(r)) => {
                match resolve(Some(&format!("bytes={r}")), u64::MAX / 4) {
                    Ranges::Whole | Ranges::Unsatisfiable => {
                        errors.push(format!("Index {i}: invalid range"));
                        continue;
                    }
                    Ranges::Parts(p) if p.len() > 1 => {
                        errors.push(format!("Index {i}: multiple ranges (only one allowed)"));
                        continue;
                    }
                    Ranges::Parts(_) => {}
                }
                if let Some(s) = size {
                    if !matches!(resolve(Some(&format!("bytes={r}")), s), Ranges::Parts(_)) {
                        errors.push(format!("Index {i}: unsatisfiable range"));
                        continue;
                    }
                }
                Some(r.clone())
            }
            Some(_) => {
                errors.push(format!("Index {i}: invalid range"));
                continue;
            }
        };
        out.push(Input::Path {
            path: path.to_string(),
            etag,
            size,
            range,
        });
    }
    if !out.is_empty() && out.iter().all(|s| matches!(s, Input::Data(_))) && errors.is_empty() {
        errors.push("Inline data segments require at least one object-backed segment.".into());
    }
    if !errors.is_empty() {
        let mut msg = String::new();
        for e in errors {
            msg.push_str(&e);
            msg.push('\n');
        }
        return Err(ApiError::BadRequest(msg));
    }
    Ok(out)
}

/// What a HEAD of a segment tells the manifest.
struct SegHead {
    size: u64,
    etag: String,
    content_type: String,
    last_modified: String,
    is_slo: bool,
}

fn head_segment(locs: &mut Locs, path: &str) -> Result<SegHead, String> {
    let obj = locs.open(path).map_err(status_line)?;
    let info = &obj.info;
    let slo = is_slo(info);
    let (size, etag) = if slo {
        match stored_size(info).zip(info.meta.get(ETAG_KEY).cloned()) {
            Some(k) => k,
            None => {
                let stored = read_all(&obj.file)
                    .ok()
                    .and_then(|r| parse_stored(&r).ok())
                    .ok_or_else(|| status_line(StatusCode::INTERNAL_SERVER_ERROR))?;
                let segs = annotate(&stored).map_err(|e| status_line(e.status()))?;
                let (e, s) = etag_and_size(&stored, &segs);
                (s, e)
            }
        }
    } else {
        (info.size, info.etag().to_string())
    };
    // Swift formats the segment's Last-Modified (whole seconds).
    let last_modified = iso_date(info.timestamp().ceil());
    Ok(SegHead {
        size,
        etag,
        content_type: strip_swift_bytes(info.content_type()).to_string(),
        last_modified,
        is_slo: slo,
    })
}

/// The result of checking segments and writing a manifest.
enum Outcome {
    Created(ObjectInfo, String),
    Problems(Vec<(String, String)>),
    EtagMismatch,
    Failed(ApiError),
}

/// Checks every segment (as `ctx`'s user, in `ctx.account`) and builds the
/// stored manifest: its JSON, the large object's ETag and length.
fn build(app: &App, ctx: &Ctx, input: &[Input]) -> Result<(Vec<u8>, String, u64), Problems> {
    let mut locs = Locs::new(app, ctx, false);
    let mut heads: HashMap<&str, Result<SegHead, String>> = HashMap::new();
    let mut problems = Vec::new();
    let mut stored = Vec::new();
    let mut total = 0u64;
    let mut md5 = Md5::new();
    let n = input.len();
    for (i, s) in input.iter().enumerate() {
        match s {
            Input::Data(d) => {
                total += d.len() as u64;
                md5.update(hex::encode(Md5::digest(d)).as_bytes());
                stored.push(Stored {
                    data: Some(b64_encode(d)),
                    ..Default::default()
                });
            }
            Input::Path {
                path,
                etag,
                size,
                range,
            } => {
                let quoted = utf8_percent_encode(path, QUOTE).to_string();
                let h = heads
                    .entry(path.as_str())
                    .or_insert_with(|| head_segment(&mut locs, path));
                let h = match h {
                    Ok(h) => h,
                    Err(status) => {
                        problems.push((quoted, status.clone()));
                        continue;
                    }
                };
                let mut seg_len = h.size;
                let mut norm_range = None;
                if let Some(r) = range {
                    match resolve(Some(&format!("bytes={r}")), h.size) {
                        Ranges::Parts(p) if p.len() == 1 => {
                            let (a, z) = p[0];
                            if (a, z) != (0, h.size) {
                                norm_range = Some(format!("{a}-{}", z - 1));
                                seg_len = z - a;
                            }
                        }
                        _ => problems.push((quoted.clone(), "Unsatisfiable Range".into())),
                    }
                }
                if seg_len < 1 && i != n - 1 {
                    problems.push((
                        quoted.clone(),
                        "Too small; each segment must be at least 1 byte.".into(),
                    ));
                }
                if size.is_some_and(|s| s != h.size) {
                    problems.push((quoted.clone(), "Size Mismatch".into()));
                }
                if etag
                    .as_deref()
                    .is_some_and(|e| e.trim_matches('"') != h.etag)
                {
                    problems.push((quoted, "Etag Mismatch".into()));
                }
                total += seg_len;
                let part = match &norm_range {
                    Some(r) => format!("{}:{r};", h.etag),
                    None => h.etag.clone(),
                };
                md5.update(part.as_bytes());
                stored.push(Stored {
                    name: Some(format!("/{}", path.trim_start_matches('/'))),
                    bytes: Some(h.size),
                    hash: Some(h.etag.clone()),
                    content_type: Some(h.content_type.clone()),
                    last_modified: Some(h.last_modified.clone()),
                    range: norm_range,
                    sub_slo: h.is_slo.then_some(true),
                    ..Default::default()
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let json = serde_json::to_vec(&stored)
        .map_err(|e| vec![(String::new(), format!("manifest not stored: {e}"))])?;
    Ok((json, hex::encode(md5.finalize()), total))
}

/// Writes a checked manifest with `meta` (the object's Content-Type and
/// user metadata) through the write path, to where `dst` locates and
/// authorizes. That comes last, as in Swift's slo: the segments are checked
/// (as the caller) first, so a segment problem is a 400 whatever the caller
/// may write.
fn store_manifest(
    app: &App,
    ctx: &Ctx,
    dst: impl FnOnce() -> ApiResult<Dest>,
    input: &[Input],
    mut meta: Meta,
    client_etag: Option<&str>,
    if_none_match: bool,
) -> Outcome {
    let (json, slo_etag, total) = match build(app, ctx, input) {
        Ok(b) => b,
        Err(p) => return Outcome::Problems(p),
    };
    if client_etag.is_some_and(|e| e != slo_etag) {
        return Outcome::EtagMismatch;
    }
    let dest = match dst() {
        Ok(d) => d,
        Err(e) => return Outcome::Failed(e),
    };
    let ct = meta
        .get(keys::CONTENT_TYPE)
        .map(|c| strip_swift_bytes(c).to_string())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "application/octet-stream".into());
    meta.insert(
        keys::CONTENT_TYPE.into(),
        format!("{ct};swift_bytes={total}"),
    );
    meta.insert(SLO_KEY.into(), "True".into());
    meta.insert(ETAG_KEY.into(), slo_etag.clone());
    meta.insert(SIZE_KEY.into(), total.to_string());
    let dest = Dest {
        create_only: if_none_match,
        ..dest
    };
    match write::put_bytes(app, dest, &json, meta) {
        Ok(info) => Outcome::Created(info, slo_etag),
        Err(e) => Outcome::Failed(e),
    }
}

/// The format of a bulk-style answer, from Accept (text/plain by default).
fn out_format(ctx: &Ctx) -> Format {
    listing::format(&HashMap::new(), &ctx.headers).unwrap_or(Format::Plain)
}

fn format_ct(f: Format) -> &'static str {
    match f {
        Format::Plain => "text/plain",
        Format::Json => "application/json",
        Format::Xml => "application/xml",
    }
}

const BAD_REQUEST_TEXT: &str =
    "Bad Request\nThe server could not comply with the request since it is either malformed or otherwise incorrect.";
const UNPROCESSABLE_TEXT: &str =
    "Unprocessable Entity\nUnable to process the contained instructions";

/// The heartbeat body's final report of an outcome.
fn outcome_report(f: Format, o: &Outcome) -> String {
    let (fields, errors): (Vec<(&str, Value)>, Problems) = match o {
        Outcome::Created(info, slo_etag) => (
            vec![
                ("Response Status", json!("201 Created")),
                ("Response Body", json!("")),
                ("Etag", json!(format!("\"{slo_etag}\""))),
                ("Last Modified", json!(http_date(info.timestamp()))),
            ],
            vec![],
        ),
        Outcome::Problems(p) => (
            vec![
                ("Response Status", json!("400 Bad Request")),
                ("Response Body", json!(BAD_REQUEST_TEXT)),
            ],
            p.clone(),
        ),
        Outcome::EtagMismatch => (
            vec![
                ("Response Status", json!("422 Unprocessable Entity")),
                ("Response Body", json!(UNPROCESSABLE_TEXT)),
            ],
            vec![],
        ),
        Outcome::Failed(e) => (
            vec![
                ("Response Status", json!(status_line(e.status()))),
                ("Response Body", json!(e.to_string())),
            ],
            vec![],
        ),
    };
    report(f, &fields, &errors, "upload")
}

/// The plain answer to an outcome.
fn outcome_response(f: Format, o: Outcome) -> ApiResult<Response<Body>> {
    match o {
        Outcome::Created(info, slo_etag) => {
            super::object_meta::version_header(super::empty_response(StatusCode::CREATED), &info)
                .header("Etag", format!("\"{slo_etag}\""))
                .header("Last-Modified", http_date(info.timestamp()))
                .finish(body::empty())
        }
        Outcome::Problems(p) => {
            let text = report(f, &[], &p, "upload");
            Response::builder()
                .status(StatusCode::BAD_REQUEST)
                .header("Content-Type", format_ct(f))
                .header("Content-Length", text.len())
                .finish(body::full(text))
        }
        Outcome::EtagMismatch => Err(ApiError::Unprocessable(
            "Unable to process the contained instructions".into(),
        )),
        Outcome::Failed(e) => Err(e),
    }
}

/// `PUT ?multipart-manifest=put`.
pub async fn put(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: ObjPath,
    body: Incoming,
) -> ApiResult<Response<Body>> {
    if ctx.headers.contains_key("x-copy-from") {
        return Err(ApiError::MethodNotAllowed);
    }
    let too_large = || ApiError::TooLarge(format!("Manifest File > {MAX_MANIFEST_SIZE} bytes"));
    match ctx.header("content-length")? {
        Some(v) => {
            let n: u64 = v
                .trim()
                .parse()
                .map_err(|_| ApiError::BadRequest("Invalid Content-Length".into()))?;
            if n > MAX_MANIFEST_SIZE as u64 {
                return Err(too_large());
            }
        }
        None if ctx
            .header("transfer-encoding")?
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked")) => {}
        None => return Err(ApiError::LengthRequired),
    }
    let if_none_match = match ctx.header("if-none-match")? {
        None => false,
        Some(v) if v.trim() == "*" => true,
        Some(_) => return Err(ApiError::BadRequest("If-None-Match only supports *".into())),
    };
    let mut raw = Vec::new();
    let mut body = body;
    while let Some(f) = body.frame().await {
        let f = f.map_err(|_| ApiError::BadRequest("Request body incomplete".into()))?;
        if let Ok(d) = f.into_data() {
            raw.extend_from_slice(&d);
            if raw.len() > MAX_MANIFEST_SIZE {
                return Err(too_large());
            }
        }
    }
    let input = parse_input(&raw, &container, &object)?;
    if input
        .iter()
        .filter(|s| matches!(s, Input::Path { .. }))
        .count()
        > MAX_SEGMENTS
    {
        return Err(ApiError::TooLarge(format!(
            "Number of object-backed segments must be <= {MAX_SEGMENTS}"
        )));
    }
    let meta = request_meta(&app, &ctx, &object)?;
    let client_etag = ctx
        .header("etag")?
        .map(|e| e.trim().trim_matches('"').to_string())
        .filter(|e| !e.is_empty());
    let fmt = out_format(&ctx);
    let heartbeat = ctx.query.get("heartbeat").is_some_and(|v| truthy(v));
    let work = move |app: &App| -> ApiResult<Outcome> {
        let dst = || {
            let loc = authorize(app, &ctx, &container, true)?;
            Ok(ctx.write_dest(loc, &container, &object))
        };
        Ok(store_manifest(
            app,
            &ctx,
            dst,
            &input,
            meta,
            client_etag.as_deref(),
            if_none_match,
        ))
    };
    if !heartbeat {
        let o = blocking(&app, work).await?;
        return outcome_response(fmt, o);
    }
    let job = async move { blocking(&app, work).await.unwrap_or_else(Outcome::Failed) };
    let last = move |o: Outcome| Bytes::from(format!("\r\n\r\n{}", outcome_report(fmt, &o)));
    let every = std::time::Duration::from_secs(YIELD_FREQUENCY);
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .header("Content-Type", format_ct(fmt))
        .finish(body::heartbeat(b" ", every, job, last))
}

// --- COPY ---------------------------------------------------------------------

/// Copies a manifest as it is (`multipart-manifest=get`) to `dest`: its
/// segments are checked again, as `ctx`'s user in the destination account.
pub fn copy_manifest(
    app: &App,
    ctx: &Ctx,
    src: &OpenObject,
    dest: Dest,
    meta: Meta,
) -> ApiResult<ObjectInfo> {
    let stored = parse_stored(&read_all(&src.file)?)?;
    let input: Vec<Input> = stored
        .iter()
        .map(|s| match &s.data {
            Some(d) => Ok(Input::Data(b64_decode(d).ok_or_else(|| {
                ApiError::Internal("Unable to load SLO manifest".into())
            })?)),
            None => Ok(Input::Path {
                path: s.name.clone().unwrap_or_default(),
                etag: s.hash.clone(),
                size: s.bytes,
                range: s.range.clone(),
            }),
        })
        .collect::<ApiResult<_>>()?;
    match store_manifest(app, ctx, || Ok(dest), &input, meta, None, false) {
        Outcome::Created(info, _) => Ok(info),
        Outcome::Problems(p) => Err(ApiError::BadRequest(report(
            out_format(ctx),
            &[],
            &p,
            "upload",
        ))),
        Outcome::EtagMismatch => Err(ApiError::Unprocessable(
            "Unable to process the contained instructions".into(),
        )),
        Outcome::Failed(e) => Err(e),
    }
}

/// Copies a large object's content (or the part or range asked for) into
/// `w`; `ctx` reads the segments.
pub fn copy_content(
    app: &App,
    ctx: &Ctx,
    src: &OpenObject,
    range: Option<&str>,
    part: Option<&String>,
    w: &mut Writer,
) -> ApiResult<()> {
    let stored = parse_stored(&read_all(&src.file)?)?;
    let segs = annotate(&stored)?;
    let total: u64 = segs.iter().map(Seg::len).sum();
    let (start, end) = if let Some(p) = part {
        let p: usize = p.trim().parse().ok().filter(|p| *p > 0).ok_or_else(|| {
            ApiError::BadRequest("Part number must be an integer greater than 0".into())
        })?;
        if p > segs.len() {
            return Err(ApiError::RangeNotSatisfiable(total));
        }
        let s: u64 = segs[..p - 1].iter().map(Seg::len).sum();
        (s, s + segs[p - 1].len())
    } else {
        match resolve(range, total) {
            Ranges::Parts(r) if r.len() == 1 => r[0],
            Ranges::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(total)),
            _ => (0, total),
        }
    };
    let mut locs = Locs::new(app, ctx, false);
    let mut pieces = Vec::new();
    if end > start {
        Expander {
            locs: &mut locs,
            cache: HashMap::new(),
        }
        .expand(&segs, start as i64, end as i64 - 1, 1, &mut pieces)?;
    }
    for p in pieces {
        match p {
            Piece::Bytes(b) => w.write(&b)?,
            Piece::Seg {
                name,
                hash,
                bytes,
                offset,
                len,
            } => {
                let obj = locs.open(&name).map_err(|s| {
                    ApiError::Conflict(format!("segment {name}: {}", status_line(s)))
                })?;
                check_segment(&obj, &name, &hash, &bytes).map_err(ApiError::Conflict)?;
                let mut f = &obj.file;
                std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(offset))
                    .map_err(crate::store::Error::from)?;
                w.copy_from(&mut f.take(len))?;
            }
        }
    }
    Ok(())
}

// --- DELETE -------------------------------------------------------------------

/// `DELETE ?multipart-manifest=delete`: the segments (nested manifests
/// too), then the manifest; a bulk-delete style report. With `version`
/// (`?version-id=`), the manifest is that version of the object, opened and
/// deleted as object versioning does it.
/// A version of a manifest to delete (`?version-id=`), and how object
/// versioning opens and deletes one (given by it: this file names no
/// versioning).
pub struct Version {
    pub id: String,
    pub open: fn(&App, &Ctx, &str, &ObjPath, &str) -> ApiResult<OpenObject>,
    pub delete: fn(&App, &Ctx, &str, &ObjPath, &str) -> ApiResult<Response<Body>>,
}

pub async fn delete(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: ObjPath,
    version: Option<Version>,
) -> ApiResult<Response<Body>> {
    let fmt = out_format(&ctx);
    blocking(&app, move |app| {
        let mut reader = Locs::new(app, &ctx, false);
        let mut queue: VecDeque<Pending> = VecDeque::new();
        // A version is named by its object's path and id: no segment path
        // has a query.
        let top = match &version {
            Some(v) => format!("/{container}/{object}?version-id={}", v.id),
            None => format!("/{container}/{object}"),
        };
        let top_version = |name: &str| version.as_ref().filter(|_| name == top);
        let open_version = |v: &Version| -> Result<OpenObject, StatusCode> {
            let o = (v.open)(app, &ctx, &container, &object, &v.id).map_err(|e| e.status())?;
            let (_, o) = super::symlink::open_followed(app, &ctx, o).map_err(|e| e.status())?;
            Ok(o)
        };
        queue.push_back((top.clone(), true, None));
        let mut order = Vec::new();
        while let Some((name, sub, err)) = queue.pop_front() {
            if queue.len() > MAX_SEGMENTS * 10 {
                return Err(ApiError::BadRequest(
                    "Too many buffered slo segments to delete.".into(),
                ));
            }
            if !sub {
                order.push((name, err));
                continue;
            }
            let opened = match top_version(&name) {
                Some(v) => open_version(v),
                None => reader.open(&name),
            };
            let read = match opened {
                Err(StatusCode::NOT_FOUND) => {
                    Err((StatusCode::NOT_FOUND, "SLO manifest not found".to_string()))
                }
                Err(s) => Err((s, status_line(s))),
                Ok(o) if !is_slo(&o.info) => {
                    Err((StatusCode::BAD_REQUEST, "Not an SLO manifest".to_string()))
                }
                Ok(o) => read_all(&o.file)
                    .and_then(|r| parse_stored(&r))
                    .map_err(|_| {
                        (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "Unable to load SLO manifest".to_string(),
                        )
                    }),
            };
            match read {
                Ok(segs) => {
                    for s in segs {
                        if let (None, Some(n)) = (&s.data, s.name) {
                            queue.push_back((n, s.sub_slo.unwrap_or(false), None));
                        }
                    }
                    queue.push_back((name, false, None));
                }
                Err(e) => queue.push_back((name, false, Some(e))),
            }
        }
        let mut writer = Locs::new(app, &ctx, true);
        let (mut deleted, mut not_found) = (0u64, 0u64);
        let mut failed: Vec<(String, String)> = Vec::new();
        for (name, err) in order {
            let quoted = utf8_percent_encode(&name, QUOTE).to_string();
            if let Some((code, msg)) = err {
                if code == StatusCode::NOT_FOUND {
                    not_found += 1;
                } else {
                    failed.push((quoted, msg));
                }
                continue;
            }
            let res = if let Some(v) = top_version(&name) {
                (v.delete)(app, &ctx, &container, &object, &v.id)
                    .map_err(|e| e.status())
                    .and_then(|r| match r.status() {
                        StatusCode::NOT_FOUND => Err(StatusCode::NOT_FOUND),
                        _ => Ok(()),
                    })
            } else {
                split_seg(&name)
                    .ok_or(StatusCode::BAD_REQUEST)
                    .and_then(|(c, o)| {
                        let loc = writer.get(c)?;
                        let o = ObjPath::new(o, &app.store.opts.limits)
                            .map_err(|_| StatusCode::BAD_REQUEST)?;
                        sobj::delete(&loc, &o).map_err(|e| ApiError::from(e).status())?;
                        app.store.usage.invalidate(&loc);
                        Ok(())
                    })
            };
            match res {
                Ok(()) => deleted += 1,
                Err(StatusCode::NOT_FOUND) => not_found += 1,
                Err(s) => failed.push((quoted, status_line(s))),
            }
        }
        let (status, body_text) = if !failed.is_empty() {
            ("400 Bad Request", "")
        } else if deleted == 0 && not_found == 0 {
            ("400 Bad Request", "Invalid bulk delete.")
        } else {
            ("200 OK", "")
        };
        let text = report(
            fmt,
            &[
                ("Response Status", json!(status)),
                ("Response Body", json!(body_text)),
                ("Number Deleted", json!(deleted)),
                ("Number Not Found", json!(not_found)),
            ],
            &failed,
            "delete",
        );
        Response::builder()
            .status(StatusCode::OK)
            .header("Content-Type", format_ct(fmt))
            .header("Content-Length", text.len())
            .finish(body::full(text))
    })
    .await
}

// --- base64 -------------------------------------------------------------------

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(data: &[u8]) -> String {
    let mut o = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                o.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                o.push('=');
            }
        }
    }
    o
}

/// Strict base64: the standard alphabet, padding optional.
fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (s.len() % 4 != 1).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for n in 0..10 {
            let d: Vec<u8> = (0..n).map(|i| (i * 37) as u8).collect();
            assert_eq!(b64_decode(&b64_encode(&d)).unwrap(), d);
        }
        assert_eq!(b64_encode(b"APRE"), "QVBSRQ==");
        assert_eq!(b64_decode("QVBSRQ").unwrap(), b"APRE");
        assert!(b64_decode("QV!S").is_none());
    }

    #[test]
    fn swift_bytes_is_stripped() {
        assert_eq!(strip_swift_bytes("a/b;swift_bytes=12"), "a/b");
        assert_eq!(strip_swift_bytes("a/b"), "a/b");
    }

    #[test]
    fn stored_manifests_with_huge_numbers_do_not_overflow() {
        // Manifests on disk are untrusted: a range ending at u64::MAX, or
        // segment sizes that sum past it, overflowed (a panic in debug
        // builds, a wrong length in release ones).
        let s = parse_stored(br#"[{"name":"/c/s","range":"0-18446744073709551615"}]"#).unwrap();
        assert!(annotate(&s).is_err());
        let big = br#"[{"name":"/c/a","bytes":18446744073709551615},{"name":"/c/b","bytes":2}]"#;
        let s = parse_stored(big).unwrap();
        let segs = annotate(&s).unwrap();
        assert_eq!(etag_and_size(&s, &segs).1, u64::MAX);
    }

    #[test]
    fn input_errors_are_listed_by_index() {
        let e = parse_input(
            br#"[{"path":"c/o","teag":"x"},{"path":"x"},{"data":"!!"}]"#,
            "c",
            "m",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "Index 0: extraneous keys \"teag\"\nIndex 1: path does not refer to an object. Path must be of the form /container/object.\nIndex 2: data must be valid base64\n"
        );
        assert!(parse_input(br#"[{"path":"/c/m"}]"#, "c", "m").is_err());
        assert!(parse_input(br#"[{"path":"/c/o","range":"1-2,4-5"}]"#, "c", "m").is_err());
        assert!(parse_input(br#"[{"path":"/c/o","range":"-3"}]"#, "c", "m").is_ok());
    }
}
