//! Swift's bulk operations: `?bulk-delete` (many objects and containers in
//! one request, named one per line in the body) and
//! `?extract-archive=tar|tar.gz|tar.bz2` (each regular file of an archive
//! becomes an object). Both answer `200` at once and stream their outcome:
//! a space every few seconds while working, so that nothing between client
//! and server times out, then a summary (plain text, JSON or XML by Accept)
//! whose "Response Status" is the real result and whose "Errors" list the
//! items that failed.

use std::collections::HashSet;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http::incoming::Incoming;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;
use percent_encoding::{percent_decode, percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::headers::collect_meta;
use super::listing::Format;
use super::report::{report, status_line};
use super::write::Put;
use super::{object_core, App, Ctx};
use crate::http::body::{self, Body};
use crate::http::error::{ApiError, ApiResult, Finish};
use crate::http::request::normalize_object;
use crate::store::container as scont;
use crate::store::meta::{keys, Meta};
use crate::store::name::{check_container, Limits};
use crate::store::object as sobj;
use crate::store::ObjPath;

/// Most names one bulk delete may carry.
pub const MAX_DELETES_PER_REQUEST: usize = 10_000;
/// A bulk delete stops after this many failed items.
pub const MAX_FAILED_DELETES: usize = 1_000;
/// Most containers one archive may create.
pub const MAX_CONTAINERS_PER_EXTRACTION: usize = 10_000;
/// An extraction stops after this many failed files.
pub const MAX_FAILED_EXTRACTIONS: usize = 1_000;
/// A keep-alive space goes out when nothing was sent for this long.
const YIELD_EVERY: Duration = Duration::from_secs(10);
/// Response formats, in Swift's order of preference.
const FORMATS: [&str; 4] = [
    "text/plain",
    "application/json",
    "application/xml",
    "text/xml",
];
/// Python's `quote(safe='/')`: what stays as is in names of the error list.
const QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

/// What `/info` says of the bulk operations.
pub fn info() -> [(&'static str, Value); 2] {
    [
        (
            "bulk_delete",
            json!({
                "max_deletes_per_request": MAX_DELETES_PER_REQUEST,
                "max_failed_deletes": MAX_FAILED_DELETES,
            }),
        ),
        (
            "bulk_upload",
            json!({
                "max_containers_per_extraction": MAX_CONTAINERS_PER_EXTRACTION,
                "max_failed_extractions": MAX_FAILED_EXTRACTIONS,
            }),
        ),
    ]
}

/// A bulk operation asked for by a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Delete,
    Extract(Compression),
}

/// How an uploaded archive is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
}

/// The bulk operation `ctx` asks for, if any.
pub fn operation(ctx: &Ctx) -> ApiResult<Option<Op>> {
    if ctx.method == Method::PUT {
        if let Some(f) = ctx.query.get("extract-archive") {
            let c = match f.to_ascii_lowercase().trim_matches('.') {
                "tar" => Compression::None,
                "tar.gz" => Compression::Gzip,
                "tar.bz2" => Compression::Bzip2,
                _ => return Err(ApiError::BadRequest("Unsupported archive format".into())),
            };
            return Ok(Some(Op::Extract(c)));
        }
    }
    if (ctx.method == Method::POST || ctx.method == Method::DELETE)
        && ctx.query.contains_key("bulk-delete")
    {
        return Ok(Some(Op::Delete));
    }
    Ok(None)
}

/// Runs a bulk operation. `container` and `object` are the rest of the
/// request path (where an archive is extracted to).
pub async fn handle(
    app: Arc<App>,
    ctx: Ctx,
    op: Op,
    container: Option<String>,
    object: Option<String>,
    body: Incoming,
) -> ApiResult<Response<Body>> {
    let fmt = ctx
        .header("accept")
        .ok()
        .flatten()
        .map_or(Some(FORMATS[0]), best_match);
    let (in_tx, in_rx) = mpsc::channel(8);
    tokio::spawn(pump(body, in_tx));
    let (out_tx, out_rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut input = BodyReader {
            rx: in_rx,
            cur: Bytes::new(),
        };
        let mut reply = Reply::new(out_tx, fmt);
        let summary = match op {
            Op::Delete => delete(&app, &ctx, &mut input, &mut reply),
            Op::Extract(c) => {
                let base = [container, object]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("/");
                extract(
                    &app,
                    &ctx,
                    base.trim_end_matches('/'),
                    c,
                    &mut input,
                    &mut reply,
                )
            }
        };
        // The client sends the whole body before it reads the answer.
        let _ = io::copy(&mut input, &mut io::sink());
        reply.finish(summary);
    });
    Response::builder()
        .header("Content-Type", fmt.unwrap_or("text/html; charset=UTF-8"))
        .finish(body::channel(out_rx, None))
}

/// Swift's `Accept` matching: the best-rated pattern (exact types before
/// globs at equal quality) picks the first format it matches.
fn best_match(accept: &str) -> Option<&'static str> {
    if accept.trim().is_empty() {
        return Some(FORMATS[0]);
    }
    let mut types = Vec::new();
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let (t, s) = parts.next()?.trim().split_once('/')?;
        if t.is_empty() || s.is_empty() {
            return None;
        }
        let mut q = 1.0f32;
        for p in parts.map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = p.split_once('=')?;
            if k.trim() == "q" {
                q = v.trim().parse().ok()?;
            }
        }
        types.push((t.to_ascii_lowercase(), s.to_ascii_lowercase(), q));
    }
    types.sort_by(|a, b| {
        let glob = |x: &(String, String, f32)| x.0 == "*" || x.1 == "*";
        b.2.total_cmp(&a.2).then(glob(a).cmp(&glob(b)))
    });
    types.iter().find_map(|(t, s, _)| {
        FORMATS.into_iter().find(|f| {
            let (ft, fs) = f.split_once('/').unwrap_or((f, ""));
            (t == "*" || t == ft) && (s == "*" || s == fs)
        })
    })
}

/// Feeds the request body to the blocking worker.
async fn pump(mut body: Incoming, tx: mpsc::Sender<io::Result<Bytes>>) {
    loop {
        match body.frame().await {
            Some(Ok(f)) => {
                if let Ok(d) = f.into_data() {
                    if tx.send(Ok(d)).await.is_err() {
                        return;
                    }
                }
            }
            Some(Err(e)) => {
                let _ = tx.send(Err(io::Error::other(e))).await;
                return;
            }
            None => return,
        }
    }
}

/// The request body as a blocking reader.
struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    cur: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

/// Writes the response: keep-alive whitespace, then the summary.
struct Reply {
    tx: mpsc::Sender<io::Result<Bytes>>,
    fmt: Option<&'static str>,
    last: Instant,
    beat: &'static [u8],
    separator: &'static [u8],
}

impl Reply {
    fn new(tx: mpsc::Sender<io::Result<Bytes>>, fmt: Option<&'static str>) -> Reply {
        let xml = fmt.is_some_and(|f| f.ends_with("/xml"));
        Reply {
            tx,
            fmt,
            last: Instant::now(),
            beat: if xml {
                b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            } else {
                b" "
            },
            separator: b"",
        }
    }

    /// Sends a keep-alive when due.
    fn tick(&mut self) {
        if self.last.elapsed() >= YIELD_EVERY {
            self.last = Instant::now();
            let _ = self.tx.blocking_send(Ok(Bytes::from_static(self.beat)));
            self.beat = b" ";
            self.separator = b"\r\n\r\n";
        }
    }

    fn finish(self, s: Summary) {
        let mut out = self.separator.to_vec();
        out.extend_from_slice(s.render(self.fmt).as_bytes());
        let _ = self.tx.blocking_send(Ok(Bytes::from(out)));
    }
}

/// The outcome of a bulk operation.
struct Summary {
    /// `delete` or `extract`: the XML root.
    root: &'static str,
    status: StatusCode,
    body: String,
    counts: Vec<(&'static str, u64)>,
    /// Quoted name and status line of each failed item.
    errors: Vec<(String, String)>,
}

impl Summary {
    fn new(root: &'static str, status: StatusCode, counts: &[&'static str]) -> Summary {
        Summary {
            root,
            status,
            body: String::new(),
            counts: counts.iter().map(|c| (*c, 0)).collect(),
            errors: Vec::new(),
        }
    }

    fn add(&mut self, count: &str) {
        if let Some(c) = self.counts.iter_mut().find(|c| c.0 == count) {
            c.1 += 1;
        }
    }

    fn count(&self, count: &str) -> u64 {
        self.counts.iter().find(|c| c.0 == count).map_or(0, |c| c.1)
    }

    /// Ends the operation with `e` as its status.
    fn abort(&mut self, e: &ApiError) {
        self.status = e.status();
        self.body = e.body_text();
    }

    fn render(&self, fmt: Option<&str>) -> String {
        let mut fields: Vec<(&str, Value)> = vec![
            ("Response Status", status_line(self.status).into()),
            ("Response Body", self.body.clone().into()),
        ];
        fields.extend(self.counts.iter().map(|(k, v)| (*k, Value::from(*v))));
        let f = match fmt {
            Some("application/json") => Format::Json,
            Some(f) if f.ends_with("/xml") => Format::Xml,
            _ => Format::Plain,
        };
        report(f, &fields, &self.errors, self.root)
    }
}

fn quote(name: &[u8]) -> String {
    percent_encode(name, QUOTE).to_string()
}

/// Longest `container/object` name a request may name.
fn max_path(app: &App) -> usize {
    app.cfg.limits.max_object_name_length + app.cfg.limits.max_container_name_length + 2
}

/// Swift needs to know the body is bounded: a length or chunks.
fn check_length(ctx: &Ctx) -> ApiResult<()> {
    let chunked = ctx
        .header("transfer-encoding")?
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if ctx.headers.contains_key("content-length") || chunked {
        Ok(())
    } else {
        Err(ApiError::LengthRequired)
    }
}

// ---- bulk delete ----

/// Deletes every name in the body: objects first, then containers.
fn delete(app: &App, ctx: &Ctx, input: &mut BodyReader, reply: &mut Reply) -> Summary {
    const DELETED: &str = "Number Deleted";
    const NOT_FOUND: &str = "Number Not Found";
    let mut s = Summary::new("delete", StatusCode::OK, &[DELETED, NOT_FOUND]);
    let mut failed_status = StatusCode::BAD_REQUEST;
    let res = (|| -> ApiResult<()> {
        if reply.fmt.is_none() {
            return Err(ApiError::NotAcceptable);
        }
        if ctx
            .header("content-type")?
            .is_some_and(|t| !t.starts_with("text/plain"))
        {
            return Err(ApiError::NotAcceptable);
        }
        check_length(ctx)?;
        let names = read_names(input, max_path(app))?;
        let is_object = |n: &[u8]| {
            let t = trim_slashes(n);
            t.contains(&b'/')
        };
        for objects in [true, false] {
            for raw in names.iter().filter(|n| !n.is_empty()) {
                if is_object(raw) != objects {
                    continue;
                }
                reply.tick();
                let outcome = match std::str::from_utf8(raw) {
                    Ok(n) if !n.contains('\0') => delete_one(app, ctx, n),
                    _ => Err(ApiError::PreconditionFailed(String::new())),
                };
                match outcome {
                    Ok(()) => s.add(DELETED),
                    Err(ApiError::NotFound) => s.add(NOT_FOUND),
                    Err(e) => {
                        if e.status().is_server_error() {
                            failed_status = StatusCode::BAD_GATEWAY;
                        }
                        s.errors.push((quote(raw), status_line(e.status())));
                        if s.errors.len() >= MAX_FAILED_DELETES {
                            return Err(ApiError::BadRequest(
                                "Max delete failures exceeded".into(),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    })();
    match res {
        Err(e) => s.abort(&e),
        Ok(()) if !s.errors.is_empty() => s.status = failed_status,
        Ok(()) if s.count(DELETED) + s.count(NOT_FOUND) == 0 => {
            s.status = StatusCode::BAD_REQUEST;
            s.body = "Invalid bulk delete.".into();
        }
        Ok(()) => {}
    }
    s
}

fn trim_slashes(n: &[u8]) -> &[u8] {
    let start = n.iter().position(|b| *b != b'/').unwrap_or(n.len());
    let end = n.iter().rposition(|b| *b != b'/').map_or(start, |e| e + 1);
    &n[start..end.max(start)]
}

/// The body's names, one a line, URL-decoded (not yet checked as UTF-8).
pub fn read_names(input: &mut impl Read, max_path: usize) -> ApiResult<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    let mut line = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let too_many = || {
        ApiError::TooLarge(format!(
            "Maximum Bulk Deletes: {MAX_DELETES_PER_REQUEST} per request"
        ))
    };
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|_| ApiError::BadRequest("Request body incomplete".into()))?;
        if n == 0 {
            let name = decode_name(&line);
            if !name.is_empty() {
                names.push(name);
            }
            if names.len() > MAX_DELETES_PER_REQUEST {
                return Err(too_many());
            }
            return Ok(names);
        }
        for part in buf[..n].split_inclusive(|b| *b == b'\n') {
            line.extend_from_slice(part);
            if line.last() == Some(&b'\n') {
                names.push(decode_name(&line));
                line.clear();
                if names.len() > MAX_DELETES_PER_REQUEST {
                    return Err(too_many());
                }
            } else if line.len() > max_path * 2 {
                return Err(ApiError::BadRequest("Invalid File Name".into()));
            }
        }
    }
}

fn decode_name(line: &[u8]) -> Vec<u8> {
    percent_decode(line.trim_ascii()).collect()
}

/// Deletes one `container/object` or `container` as a DELETE of it would.
fn delete_one(app: &App, ctx: &Ctx, name: &str) -> ApiResult<()> {
    let (container, obj) = delete_target(name, &app.store.opts.limits)?;
    let Some(obj) = obj else {
        ctx.authorize(Some(container), false, true, None)?;
        let loc = app.store.find_container(&ctx.account, container)?;
        app.features.container_delete(app, &loc)?;
        scont::delete(&loc)?;
        app.store.usage.forget(&loc);
        app.info.forget_container(&ctx.account, container);
        return Ok(());
    };
    let arrived = crate::store::meta::now_secs();
    let loc = object_core::authorize(app, ctx, container, true)?;
    // Either kind of versioning may answer the delete, as on the object path.
    if let Some(r) = app.features.object_delete(app, ctx, &loc, &obj)? {
        return match r.status() {
            st if st.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(ApiError::NotFound),
            StatusCode::CONFLICT => Err(ApiError::Conflict(String::new())),
            StatusCode::FORBIDDEN => Err(ApiError::Forbidden),
            StatusCode::PRECONDITION_FAILED => Err(ApiError::PreconditionFailed(String::new())),
            st => Err(ApiError::Internal(format!("delete answered {st}"))),
        };
    }
    sobj::delete_as_of(&app.store, &loc, &obj, arrived)?;
    app.store.usage.invalidate(&loc);
    Ok(())
}

/// The container and the (normalized, checked) object one line of a bulk
/// delete names; no object names the container itself.
pub fn delete_target<'a>(name: &'a str, l: &Limits) -> ApiResult<(&'a str, Option<ObjPath>)> {
    let rel = name.trim_start_matches('/');
    let (container, rest) = rel.split_once('/').unwrap_or((rel, ""));
    let obj = normalize_object(rest);
    check_container(container, l)?;
    if obj.is_empty() {
        return Ok((container, None));
    }
    Ok((container, Some(ObjPath::new(&obj, l)?)))
}

// ---- extract archive ----

/// Why an extraction stopped.
enum Abort {
    Api(ApiError),
    /// The archive (or its compression) is broken.
    Archive(io::Error),
}

impl From<ApiError> for Abort {
    fn from(e: ApiError) -> Self {
        Abort::Api(e)
    }
}

/// Why one file was not stored.
enum FileError {
    Api(ApiError),
    Archive(io::Error),
}

impl From<ApiError> for FileError {
    fn from(e: ApiError) -> Self {
        FileError::Api(e)
    }
}

impl From<crate::store::Error> for FileError {
    fn from(e: crate::store::Error) -> Self {
        FileError::Api(e.into())
    }
}

const CREATED: &str = "Number Files Created";

/// Stores each regular file of the archive under `base` (a container and
/// prefix, or nothing: then the first component names the container).
fn extract(
    app: &App,
    ctx: &Ctx,
    base: &str,
    compression: Compression,
    input: &mut BodyReader,
    reply: &mut Reply,
) -> Summary {
    let mut s = Summary::new("extract", StatusCode::CREATED, &[CREATED]);
    let mut failed_status = StatusCode::BAD_REQUEST;
    let res = extract_all(
        app,
        ctx,
        base,
        compression,
        input,
        reply,
        &mut s,
        &mut failed_status,
    );
    match res {
        Err(Abort::Api(e)) => s.abort(&e),
        Err(Abort::Archive(e)) => {
            s.status = StatusCode::BAD_REQUEST;
            s.body = format!("Invalid Tar File: {e}");
        }
        Ok(()) if !s.errors.is_empty() => s.status = failed_status,
        Ok(()) if s.count(CREATED) == 0 => {
            s.status = StatusCode::BAD_REQUEST;
            s.body = "Invalid Tar File: No Valid Files".into();
        }
        Ok(()) => {}
    }
    s
}

#[allow(clippy::too_many_arguments)]
fn extract_all(
    app: &App,
    ctx: &Ctx,
    base: &str,
    compression: Compression,
    input: &mut BodyReader,
    reply: &mut Reply,
    s: &mut Summary,
    failed_status: &mut StatusCode,
) -> Result<(), Abort> {
    if reply.fmt.is_none() {
        return Err(ApiError::NotAcceptable.into());
    }
    check_length(ctx)?;
    let max_path = max_path(app);
    let delete_at = object_core::delete_at(ctx)?;
    let reader: Box<dyn Read + '_> = match compression {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(input)),
    };
    let reader = HeaderGuard::new(reader, max_path + BLOCK, MAX_PAX_HEADER);
    let mut archive = tar::Archive::new(reader);
    let mut accessed: HashSet<String> = HashSet::new();
    let mut containers_created = 0usize;
    for entry in archive.entries().map_err(Abort::Archive)? {
        reply.tick();
        if s.errors.len() >= MAX_FAILED_EXTRACTIONS {
            break;
        }
        let mut entry = entry.map_err(Abort::Archive)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = member_path(base, &entry.path_bytes());
        if !path.contains(&b'/') {
            continue; // a file at the top level has no container
        }
        let quoted = quote(&path[..path.len().min(max_path)]);
        let path = match String::from_utf8(path) {
            Ok(p) if !p.contains('\0') => p,
            _ => {
                s.errors
                    .push((quoted, status_line(StatusCode::PRECONDITION_FAILED)));
                continue;
            }
        };
        if entry.size() > app.cfg.limits.max_file_size {
            s.errors
                .push((quoted, status_line(StatusCode::PAYLOAD_TOO_LARGE)));
            continue;
        }
        let (container, obj) = match member_target(&path, &app.store.opts.limits) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(e) => {
                s.errors
                    .push((quoted, status_line(ApiError::from(e).status())));
                continue;
            }
        };
        let mut container_failure = None;
        if !accessed.contains(container) {
            match create_container(app, ctx, container) {
                Ok(true) => {
                    containers_created += 1;
                    if containers_created > MAX_CONTAINERS_PER_EXTRACTION {
                        return Err(ApiError::BadRequest(format!(
                            "More than {MAX_CONTAINERS_PER_EXTRACTION} containers to create from tar."
                        ))
                        .into());
                    }
                }
                Ok(false) => {}
                Err(ApiError::Unauthorized) => return Err(ApiError::Unauthorized.into()),
                Err(e) => {
                    // The object may still be written (a write ACL on an
                    // existing container the caller may not HEAD).
                    let p = format!("/v1/{}/{container}", ctx.account);
                    container_failure = Some((
                        quote(&p.as_bytes()[..p.len().min(max_path)]),
                        status_line(e.status()),
                    ));
                }
            }
        }
        let res = file_meta(app, ctx, &mut entry, &obj, delete_at)
            .map_err(FileError::Api)
            .and_then(|meta| {
                let size = entry.size();
                store_file(app, ctx, container, &obj, meta, size, &mut entry)
            });
        accessed.insert(container.to_string());
        match res {
            Ok(()) => s.add(CREATED),
            Err(FileError::Archive(e)) => return Err(Abort::Archive(e)),
            Err(FileError::Api(e)) => {
                s.errors.extend(container_failure);
                if matches!(e, ApiError::Unauthorized) {
                    s.errors.push((quoted, status_line(e.status())));
                    return Err(e.into());
                }
                if e.status().is_server_error() {
                    *failed_status = StatusCode::BAD_GATEWAY;
                }
                s.errors.push((quoted, status_line(e.status())));
            }
        }
    }
    Ok(())
}

/// `base` and an archive member's path (its `./` and leading slashes
/// dropped): `container/object`, or `container` alone, not yet checked.
pub fn member_path(base: &str, raw: &[u8]) -> Vec<u8> {
    let mut rel: &[u8] = raw.strip_prefix(b"./").unwrap_or(raw);
    while let Some(r) = rel.strip_prefix(b"/") {
        rel = r;
    }
    let mut path = Vec::with_capacity(base.len() + 1 + rel.len());
    if !base.is_empty() {
        path.extend_from_slice(base.as_bytes());
        path.push(b'/');
    }
    path.extend_from_slice(rel);
    path
}

/// The container and (normalized, checked) object a member's path names;
/// `Ok(None)` when it names no object (no slash, or nothing after it).
pub fn member_target<'a>(
    path: &'a str,
    l: &Limits,
) -> Result<Option<(&'a str, ObjPath)>, crate::store::Error> {
    let Some((container, rest)) = path.split_once('/') else {
        return Ok(None);
    };
    let obj = normalize_object(rest);
    if obj.is_empty() {
        return Ok(None);
    }
    check_container(container, l)?;
    Ok(Some((container, ObjPath::new(&obj, l)?)))
}

/// Tar's block size.
const BLOCK: usize = 512;
/// Largest pax header entry (`x` or `g`) an archive may carry.
const MAX_PAX_HEADER: u64 = 64 * 1024;

/// Passes an uncompressed tar stream through, following its headers, and
/// fails the stream on a GNU long name / long link entry (`L`, `K`) or a pax
/// header entry (`x`, `g`) larger than its bound. The `tar` crate reads such
/// entries whole into memory: the check comes before it sees the header.
pub struct HeaderGuard<R> {
    inner: R,
    max_name: u64,
    max_pax: u64,
    /// The current header block and how much of it was handed on.
    hdr: [u8; BLOCK],
    hdr_len: usize,
    hdr_pos: usize,
    /// Bytes of entry data (with padding) before the next header.
    data_left: u64,
    /// GNU sparse extension blocks follow the current header.
    sparse_ext: bool,
    /// Padded size of the data after the sparse extension blocks.
    after_ext: u64,
    /// The data of the current pax `x` entry (bounded), and its length.
    pax: Option<(Vec<u8>, u64)>,
    /// Size a pax `x` entry sets for the next entry.
    pax_size: Option<u64>,
}

impl<R: Read> HeaderGuard<R> {
    /// Guards `inner`: long names up to `max_name` bytes, pax entries up to
    /// `max_pax`.
    pub fn new(inner: R, max_name: usize, max_pax: u64) -> Self {
        HeaderGuard {
            inner,
            max_name: max_name as u64,
            max_pax,
            hdr: [0; BLOCK],
            hdr_len: 0,
            hdr_pos: 0,
            data_left: 0,
            sparse_ext: false,
            after_ext: 0,
            pax: None,
            pax_size: None,
        }
    }

    /// Reads the next block into `hdr` (`false` at a short block: the tar
    /// reader reports it).
    fn fill(&mut self) -> io::Result<bool> {
        self.hdr_len = 0;
        self.hdr_pos = 0;
        while self.hdr_len < BLOCK {
            match self.inner.read(&mut self.hdr[self.hdr_len..]) {
                Ok(0) => return Ok(false),
                Ok(n) => self.hdr_len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Follows the block just read: a sparse extension or a header.
    fn inspect(&mut self) -> io::Result<()> {
        let h = &self.hdr;
        if self.sparse_ext {
            self.sparse_ext = h[504] != 0;
            if !self.sparse_ext {
                self.data_left = self.after_ext;
            }
            return Ok(());
        }
        if h.iter().all(|b| *b == 0) {
            return Ok(());
        }
        let kind = h[156];
        let magic = &h[257..265];
        let gnu = magic == b"ustar  \0";
        let recognized = gnu || magic == b"ustar\x0000";
        let size = parse_size(&h[124..136])?;
        let extension = matches!(kind, b'L' | b'K' | b'x' | b'g');
        let bound = if matches!(kind, b'L' | b'K') {
            self.max_name
        } else {
            self.max_pax
        };
        if extension && size > bound {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("header entry of {size} bytes is too large"),
            ));
        }
        let size = match self.pax_size {
            Some(p) if !extension => p,
            _ => size,
        };
        if !(recognized && matches!(kind, b'L' | b'K' | b'x')) {
            self.pax_size = None;
        }
        if recognized && kind == b'x' && size > 0 {
            self.pax = Some((Vec::with_capacity(size as usize), size));
        }
        let padded = size
            .checked_add(BLOCK as u64 - 1)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "size overflow"))?
            & !(BLOCK as u64 - 1);
        if gnu && kind == b'S' && h[482] != 0 {
            self.sparse_ext = true;
            self.after_ext = padded;
        } else {
            self.data_left = padded;
        }
        Ok(())
    }

    /// Keeps the data of a pax entry; at its end, notes the size it sets.
    fn capture(&mut self, data: &[u8]) {
        let Some((buf, len)) = &mut self.pax else {
            return;
        };
        let want = (*len as usize).saturating_sub(buf.len()).min(data.len());
        buf.extend_from_slice(&data[..want]);
        if buf.len() as u64 == *len {
            if let Some(size) = tar::PaxExtensions::new(buf)
                .flatten()
                .find(|e| e.key() == Ok("size"))
                .and_then(|e| e.value().ok()?.parse().ok())
            {
                self.pax_size = Some(size);
            }
            self.pax = None;
        }
    }
}

/// A tar header's size field: octal digits, or GNU's base-256.
fn parse_size(f: &[u8]) -> io::Result<u64> {
    if f[0] & 0x80 != 0 {
        let mut v: u64 = 0;
        for (i, b) in f.iter().enumerate() {
            let b = if i == 0 { b & 0x7f } else { *b };
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(b as u64))
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "size overflow"))?;
        }
        return Ok(v);
    }
    let digits = f
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b));
    let mut v: u64 = 0;
    for d in digits {
        v = v
            .checked_mul(8)
            .and_then(|v| v.checked_add((d - b'0') as u64))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "size overflow"))?;
    }
    Ok(v)
}

impl<R: Read> Read for HeaderGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.hdr_pos == self.hdr_len && self.data_left == 0 && self.fill()? {
            self.inspect()?;
        }
        if self.hdr_pos < self.hdr_len {
            let n = buf.len().min(self.hdr_len - self.hdr_pos);
            buf[..n].copy_from_slice(&self.hdr[self.hdr_pos..self.hdr_pos + n]);
            self.hdr_pos += n;
            return Ok(n);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.data_left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.data_left -= n as u64;
        self.capture(&buf[..n]);
        Ok(n)
    }
}

/// Creates `container` if it does not exist; `Ok(true)` when it was made.
fn create_container(app: &App, ctx: &Ctx, container: &str) -> ApiResult<bool> {
    match app.store.find_container(&ctx.account, container) {
        Ok(_) => return Ok(false),
        Err(crate::store::Error::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    ctx.authorize(Some(container), false, true, None)?;
    let store = &app.store;
    let created = scont::create(
        store,
        &ctx.account,
        container,
        store.default_policy(),
        Meta::new(),
    )?;
    super::container::forget_put(app, &ctx.account, container, created);
    Ok(created)
}

/// Metadata of an extracted object: the request's `X-Object-Meta-*` and
/// expiry, and the file's `user.meta.*` / `user.mime_type` xattrs as GNU or
/// BSD tar store them in pax headers.
fn file_meta<R: Read>(
    app: &App,
    ctx: &Ctx,
    entry: &mut tar::Entry<'_, R>,
    obj: &str,
    delete_at: Option<u64>,
) -> ApiResult<Meta> {
    let mut h = HeaderMap::new();
    for (k, v) in &ctx.headers {
        if k.as_str().starts_with("x-object-meta-") {
            h.append(k.clone(), v.clone());
        }
    }
    let mut content_type = None;
    let pax = entry
        .pax_extensions()
        .map_err(|e| ApiError::BadRequest(format!("Invalid Tar File: {e}")))?;
    for ext in pax.into_iter().flatten().flatten() {
        let (Ok(k), Ok(v)) = (ext.key(), ext.value()) else {
            continue;
        };
        let Some(attr) = k
            .strip_prefix("SCHILY.xattr.user.")
            .or_else(|| k.strip_prefix("LIBARCHIVE.xattr.user."))
        else {
            continue;
        };
        if attr == "mime_type" {
            content_type = Some(v.to_string());
        } else if let Some(m) = attr.strip_prefix("meta.") {
            let name = HeaderName::from_bytes(format!("x-object-meta-{m}").as_bytes());
            if let (Ok(name), Ok(v)) = (name, HeaderValue::from_str(v)) {
                h.insert(name, v);
            }
        }
    }
    let mut m = collect_meta(&h, "object", &app.cfg.limits)?;
    m.retain(|_, v| !v.is_empty());
    let ct = content_type
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| crate::store::mime::guess(obj));
    m.insert(keys::CONTENT_TYPE.into(), ct);
    if let Some(at) = delete_at {
        m.insert("X-Delete-At".into(), at.to_string());
    }
    Ok(m)
}

/// Writes one file through the write path.
fn store_file(
    app: &App,
    ctx: &Ctx,
    container: &str,
    obj: &ObjPath,
    meta: Meta,
    size: u64,
    src: &mut impl Read,
) -> Result<(), FileError> {
    if obj.ends_with('/') {
        return Err(ApiError::BadRequest("A file name cannot end in /".into()).into());
    }
    let loc = object_core::authorize(app, ctx, container, true)?;
    let mut put = Put::begin(app, ctx.write_dest(loc, container, obj), Some(size))?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = src.read(&mut buf).map_err(FileError::Archive)?;
        if n == 0 {
            break;
        }
        put.writer().write(&buf[..n])?;
    }
    put.commit(app, meta, None)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_matching_follows_swift() {
        assert_eq!(best_match("application/xml"), Some("application/xml"));
        assert_eq!(best_match("text/xml"), Some("text/xml"));
        assert_eq!(best_match("*/*"), Some("text/plain"));
        assert_eq!(best_match("application/*"), Some("application/json"));
        assert_eq!(
            best_match("text/plain;q=0.5, application/json"),
            Some("application/json")
        );
        assert_eq!(best_match("image/png"), None);
        assert_eq!(best_match("garbage"), None);
        assert_eq!(best_match(""), Some("text/plain"));
    }

    #[test]
    fn names_are_split_decoded_and_bounded() {
        let mut body: &[u8] = b"/c/o%20x\n\n c2 \r\n/c/%E2%98%83";
        let names = read_names(&mut body, 100).unwrap();
        assert_eq!(
            names,
            vec![
                b"/c/o x".to_vec(),
                vec![],
                b"c2".to_vec(),
                "/c/\u{2603}".as_bytes().to_vec()
            ]
        );
        let long = vec![b'a'; 201];
        assert!(matches!(
            read_names(&mut long.as_slice(), 100),
            Err(ApiError::BadRequest(_))
        ));
        let many = "c/o\n".repeat(MAX_DELETES_PER_REQUEST + 1);
        assert!(matches!(
            read_names(&mut many.as_bytes(), 100),
            Err(ApiError::TooLarge(_))
        ));
    }

    #[test]
    fn summaries_render_as_swift() {
        let mut s = Summary::new(
            "delete",
            StatusCode::BAD_REQUEST,
            &["Number Deleted", "Number Not Found"],
        );
        s.add("Number Deleted");
        s.errors.push(("c/a%20b".into(), "409 Conflict".into()));
        assert_eq!(
            s.render(Some("text/plain")),
            "Number Deleted: 1\nNumber Not Found: 0\nResponse Body: \n\
             Response Status: 400 Bad Request\nErrors:\nc/a%20b, 409 Conflict\n"
        );
        let xml = s.render(Some("application/xml"));
        assert!(xml.starts_with("<delete>\n<number_deleted>1</number_deleted>\n"));
        assert!(xml.ends_with(
            "<errors>\n<object><name>c/a%20b</name><status>409 Conflict</status></object>\n</errors>\n</delete>\n"
        ));
        let j: Value = serde_json::from_str(&s.render(Some("application/json"))).unwrap();
        assert_eq!(j["Number Deleted"], 1);
        assert_eq!(j["Errors"][0][1], "409 Conflict");
        assert_eq!(
            status_line(StatusCode::PAYLOAD_TOO_LARGE),
            "413 Request Entity Too Large"
        );
    }
}
