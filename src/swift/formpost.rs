//! Browser form uploads, as Swift's formpost middleware: a `POST` of
//! `multipart/form-data` to `/v1/<account>/<container>[/<prefix>]` stores
//! each file field as `<prefix><filename>` when the form's `signature` is an
//! HMAC, by one of the account's or container's `Temp-URL-Key` values, of
//! `path\nredirect\nmax_file_size\nmax_file_count\nexpires`.
//!
//! Fields before a file apply to it (`redirect`, `max_file_size`,
//! `max_file_count`, `expires`, `signature`, `x_delete_at`,
//! `x_delete_after`, `content-type`, `content-encoding`); files stream
//! into the store as they arrive, never held in memory. The answer is the
//! upload's status as text, or a 303 to `redirect?status=..&message=..`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::http::incoming::Incoming;
use bytes::{Buf, Bytes, BytesMut};
use http::{Method, Response, StatusCode};
use http_body_util::BodyExt;
use percent_encoding::utf8_percent_encode;

use super::write::Put;
use super::{blocking, tempurl, App, Ctx};
use crate::http::body::{self, Body};
use crate::http::error::{ApiError, ApiResult, Finish};
use crate::http::request::{decode_path, normalize_object};
use crate::store::container as scont;
use crate::store::meta::{keys, Meta};

/// Longest value of a plain field kept; the rest is dropped.
const MAX_VALUE_LENGTH: usize = 4096;
/// Longest header block of one part.
const MAX_PART_HEADERS: usize = 16 * 1024;
/// Chunks buffered between the form and the writer.
const QUEUE: usize = 8;

/// Is this a form upload (which formpost answers, whatever the path)?
pub fn applies(ctx: &Ctx) -> bool {
    ctx.method == Method::POST && boundary(ctx).is_some()
}

fn boundary(ctx: &Ctx) -> Option<String> {
    boundary_of(ctx.header("content-type").ok().flatten()?)
}

/// The boundary of a `multipart/form-data` Content-Type.
fn boundary_of(ct: &str) -> Option<String> {
    let (kind, attrs) = parse_disposition(ct);
    (kind == "multipart/form-data")
        .then(|| attrs.get("boundary").cloned())
        .flatten()
        .filter(|b| !b.is_empty())
}

/// `value; a=b; c="d"` into the value and its attributes (lowercase names).
fn parse_disposition(v: &str) -> (String, HashMap<String, String>) {
    let (kind, mut rest) = match v.find(';') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, ""),
    };
    let mut attrs = HashMap::new();
    loop {
        rest = rest.trim_start_matches([' ', ';', '\t']);
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = &rest[eq + 1..];
        let value;
        if let Some(q) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            value = out;
            rest = &q[end.min(q.len())..];
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        attrs.insert(name, value);
    }
    (kind.trim().to_ascii_lowercase(), attrs)
}

/// A streaming reader of a `multipart/form-data` body.
struct Form<B = Incoming> {
    body: B,
    buf: BytesMut,
    eof: bool,
    /// `\r\n--<boundary>`.
    delim: Vec<u8>,
    /// No part's data is pending: next come a part's headers (or the end).
    part_done: bool,
    finished: bool,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn invalid(msg: &str) -> ApiError {
    ApiError::BadRequest(format!("FormPost: {msg}"))
}

impl<B> Form<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    fn new(body: B, boundary: &str) -> Self {
        Form {
            body,
            buf: BytesMut::new(),
            eof: false,
            delim: format!("\r\n--{boundary}").into_bytes(),
            part_done: true,
            finished: false,
        }
    }

    async fn fill(&mut self) -> ApiResult<bool> {
        while !self.eof {
            match self.body.frame().await {
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        if !d.is_empty() {
                            self.buf.extend_from_slice(&d);
                            return Ok(true);
                        }
                    }
                }
                Some(Err(_)) => return Err(ApiError::BadRequest("Request body incomplete".into())),
                None => self.eof = true,
            }
        }
        Ok(false)
    }

    /// Reads the opening boundary (blank lines before it are allowed).
    async fn start(&mut self) -> ApiResult<()> {
        let open = &self.delim[2..].to_vec();
        loop {
            while self.buf.starts_with(b"\r\n") {
                self.buf.advance(2);
            }
            if self.buf.len() >= open.len() + 2 {
                break;
            }
            if !self.fill().await? {
                break;
            }
        }
        if !self.buf.starts_with(open) {
            return Err(invalid("invalid starting boundary"));
        }
        self.buf.advance(open.len());
        self.after_delimiter().await
    }

    /// After a boundary: `--` ends the form, a line end starts a part.
    async fn after_delimiter(&mut self) -> ApiResult<()> {
        while self.buf.len() < 2 && self.fill().await? {}
        if self.buf.starts_with(b"--") {
            self.finished = true;
            return Ok(());
        }
        // Anything up to the line end (transport padding) is skipped.
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                self.buf.advance(i + 2);
                return Ok(());
            }
            if !self.fill().await? {
                self.finished = true;
                return Ok(());
            }
        }
    }

    /// The next part's headers (lowercase names), `None` after the last.
    async fn next_part(&mut self) -> ApiResult<Option<HashMap<String, String>>> {
        while !self.part_done && !self.finished {
            self.chunk().await?;
        }
        if self.finished {
            return Ok(None);
        }
        loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n").or_else(|| {
                // A part without headers.
                self.buf.starts_with(b"\r\n").then_some(0)
            }) {
                let head = self.buf.split_to(i).freeze();
                self.buf.advance(if i == 0 { 2 } else { 4 });
                let mut h = HashMap::new();
                for line in String::from_utf8_lossy(&head).split("\r\n") {
                    if let Some((k, v)) = line.split_once(':') {
                        h.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                }
                self.part_done = false;
                return Ok(Some(h));
            }
            if self.buf.len() > MAX_PART_HEADERS || !self.fill().await? {
                return Err(invalid("invalid part headers"));
            }
        }
    }

    /// The next piece of the current part's data; `None` at its end.
    async fn chunk(&mut self) -> ApiResult<Option<Bytes>> {
        if self.part_done || self.finished {
            return Ok(None);
        }
        loop {
            if let Some(i) = find(&self.buf, &self.delim) {
                if i > 0 {
                    return Ok(Some(self.buf.split_to(i).freeze()));
                }
                self.buf.advance(self.delim.len());
                self.part_done = true;
                self.after_delimiter().await?;
                return Ok(None);
            }
            // Keep what could be the start of the delimiter.
            let keep = self.delim.len() - 1;
            if self.buf.len() > keep {
                let n = self.buf.len() - keep;
                return Ok(Some(self.buf.split_to(n).freeze()));
            }
            if !self.fill().await? {
                return Err(invalid("form ended inside a part"));
            }
        }
    }
}

/// One part of a form: its headers (lowercase names) and its data.
pub type FormPart = (HashMap<String, String>, Vec<u8>);

/// Reads a whole form as `handle` does, storing nothing: each part's
/// headers, disposition and data (at most `keep` bytes of it).
pub async fn read_form<B>(body: B, content_type: &str, keep: usize) -> ApiResult<Vec<FormPart>>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    let b = boundary_of(content_type).ok_or_else(|| invalid("no boundary"))?;
    let mut form = Form::new(body, &b);
    form.start().await?;
    let mut parts = Vec::new();
    while let Some(mut h) = form.next_part().await? {
        let (disp, attrs) = parse_disposition(h.get("content-disposition").map_or("", |v| v));
        h.insert(":disposition".into(), disp);
        for (k, v) in attrs {
            h.insert(format!(":{k}"), v);
        }
        let mut data = Vec::new();
        while let Some(c) = form.chunk().await? {
            let room = keep - data.len();
            data.extend_from_slice(&c[..c.len().min(room)]);
        }
        parts.push((h, data));
    }
    Ok(parts)
}

/// What one file upload came to.
struct Outcome {
    status: StatusCode,
    message: String,
    body: Option<String>,
}

/// Handles a form upload to `raw_path`.
pub async fn handle(
    app: Arc<App>,
    ctx: Ctx,
    raw_path: &str,
    body: Incoming,
) -> ApiResult<Response<Body>> {
    let path = decode_path(raw_path)?;
    let b = boundary(&ctx).ok_or_else(|| invalid("no boundary"))?;
    let mut form = Form::new(body, &b);
    form.start().await?;
    let keys = keys(&app, &ctx, &path).await?;
    let mut attrs: HashMap<String, String> = HashMap::new();
    let mut outcome: Option<Outcome> = None;
    let mut files = 0usize;
    while let Some(h) = form.next_part().await? {
        let (disp, da) = parse_disposition(h.get("content-disposition").map_or("", |v| v));
        let filename = da.get("filename").filter(|f| !f.is_empty());
        if disp == "form-data" && filename.is_some() {
            files += 1;
            let max_count: usize = int_attr(&attrs, "max_file_count")?.unwrap_or(0).max(0) as usize;
            if files > max_count {
                outcome = Some(Outcome {
                    status: StatusCode::BAD_REQUEST,
                    message: "max file count exceeded".into(),
                    body: None,
                });
                break;
            }
            let mut fa = attrs.clone();
            fa.insert("filename".into(), filename.cloned().unwrap_or_default());
            if !fa.contains_key("content-type") {
                if let Some(ct) = h.get("content-type") {
                    fa.insert("content-type".into(), ct.clone());
                }
            }
            if !fa.contains_key("content-encoding") {
                if let Some(ce) = h.get("content-encoding") {
                    fa.insert("content-encoding".into(), ce.clone());
                }
            }
            let o = upload(&app, &ctx, &path, &fa, &keys, &mut form).await?;
            let ok = o.status.is_success();
            outcome = Some(o);
            if !ok {
                break;
            }
        } else {
            let mut data = Vec::new();
            while let Some(c) = form.chunk().await? {
                let room = MAX_VALUE_LENGTH - data.len();
                data.extend_from_slice(&c[..c.len().min(room)]);
            }
            if let Some(name) = da.get("name") {
                let v = String::from_utf8_lossy(&data);
                let v = v.trim_end_matches(['\r', '\n', '-']);
                attrs.insert(name.to_ascii_lowercase(), v.to_string());
            }
        }
    }
    let o = outcome.unwrap_or(Outcome {
        status: StatusCode::BAD_REQUEST,
        message: "no files to process".into(),
        body: None,
    });
    let status_line = format!(
        "{} {}",
        o.status.as_u16(),
        o.status.canonical_reason().unwrap_or("")
    );
    match attrs.get("redirect").filter(|r| !r.is_empty()) {
        None => {
            let mut text = status_line;
            if !o.message.is_empty() {
                text = format!("{text}\r\nFormPost: {}", title(&o.message));
            }
            if !o.status.is_success() {
                if let Some(b) = o.body.filter(|b| !b.is_empty()) {
                    text = b;
                }
            }
            Response::builder()
                .status(o.status)
                .header("Content-Type", "text/plain")
                .header("Content-Length", text.len())
                .finish(body::full(text))
        }
        Some(r) => {
            let sep = if r.contains('?') { '&' } else { '?' };
            let location = format!(
                "{r}{sep}status={}&message={}",
                o.status.as_u16(),
                utf8_percent_encode(&o.message, tempurl::QUOTE)
            );
            let text = format!(
                "<html><body><p><a href=\"{location}\">Click to continue...</a></p></body></html>"
            );
            let mut b = Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header("Content-Length", text.len());
            if let Ok(v) = http::HeaderValue::from_str(&location) {
                b = b.header("Location", v);
            }
            b.finish(body::full(text))
        }
    }
}

/// Python's `str.title()` for the short ASCII messages used here.
fn title(s: &str) -> String {
    super::headers::title_case(s)
}

fn int_attr(attrs: &HashMap<String, String>, name: &str) -> ApiResult<Option<i64>> {
    match attrs.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| invalid(&format!("{name} not an integer"))),
    }
}

/// The temp URL keys of the account and container the path names.
async fn keys(app: &Arc<App>, ctx: &Ctx, path: &str) -> ApiResult<Vec<String>> {
    let parts: Vec<&str> = path.splitn(5, '/').collect();
    if parts.len() < 4 || !parts[0].is_empty() || parts[1] != "v1" || parts[2].is_empty() {
        return Ok(Vec::new());
    }
    if parts[3].is_empty() {
        return Ok(Vec::new());
    }
    let (account, container) = (ctx.account.clone(), parts[3].to_string());
    blocking(app, move |app| {
        let am = scont::account_meta(&app.store, &account).unwrap_or_default();
        let cm = app
            .locate(&account, &container)
            .ok()
            .and_then(|l| scont::container_meta(&l).ok())
            .unwrap_or_default();
        let mut k = tempurl::keys_of(&am, "account");
        k.extend(tempurl::keys_of(&cm, "container"));
        Ok(k)
    })
    .await
}

/// Checks the form's signature and stores one file.
async fn upload(
    app: &Arc<App>,
    ctx: &Ctx,
    path: &str,
    attrs: &HashMap<String, String>,
    keys: &[String],
    form: &mut Form,
) -> ApiResult<Outcome> {
    let unauthorized = |m: &str| {
        tracing::debug!("form upload refused: {m}");
        ApiError::Unauthorized
    };
    if keys.is_empty() {
        return Err(unauthorized("invalid signature"));
    }
    let max_size = int_attr(attrs, "max_file_size")?.unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut meta = Meta::new();
    if let Some(at) = int_attr(attrs, "x_delete_at")
        .map_err(|_| invalid("x_delete_at not an integer: Unix timestamp required."))?
    {
        let at = super::object_core::clamp_delete_at(i128::from(at));
        // As an object PUT's X-Delete-At (Swift's object server refuses it).
        if at <= now.max(0) as u64 {
            return Ok(Outcome {
                status: StatusCode::BAD_REQUEST,
                message: String::new(),
                body: Some("X-Delete-At in past".into()),
            });
        }
        meta.insert("X-Delete-At".into(), at.to_string());
    }
    if let Some(after) = int_attr(attrs, "x_delete_after")
        .map_err(|_| invalid("x_delete_after not an integer: Number of seconds required."))?
    {
        if after <= 0 {
            return Ok(Outcome {
                status: StatusCode::BAD_REQUEST,
                message: String::new(),
                body: Some("X-Delete-After in past".into()),
            });
        }
        let at = super::object_core::clamp_delete_at(i128::from(now) + i128::from(after));
        meta.insert("X-Delete-At".into(), at.to_string());
    }
    let expires = int_attr(attrs, "expires").map_err(|_| invalid("expired not an integer"))?;
    if expires.unwrap_or(0) < now {
        return Err(unauthorized("form expired"));
    }
    let get = |k: &str, default: &str| {
        attrs
            .get(k)
            .filter(|v| !v.is_empty())
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let msg = format!(
        "{path}\n{}\n{}\n{}\n{}",
        get("redirect", ""),
        get("max_file_size", "0"),
        get("max_file_count", "0"),
        get("expires", "0")
    );
    let sig = attrs.get("signature").map_or("", |s| s.as_str());
    if !tempurl::signed_by(sig, msg.as_bytes(), keys) {
        return Err(unauthorized("invalid signature"));
    }
    // The object: the path plus the file's name.
    let filename = get("filename", "filename");
    let mut target = path.to_string();
    if !target.ends_with('/') && target.matches('/').count() < 4 {
        target.push('/');
    }
    target.push_str(&filename);
    let mut it = target.splitn(5, '/').skip(3);
    let container = it.next().unwrap_or("").to_string();
    let object = normalize_object(it.next().unwrap_or(""));
    let l = &app.store.opts.limits;
    crate::store::name::check_container(&container, l)?;
    let object = match crate::store::ObjPath::new(&object, l) {
        Ok(o) => o,
        Err(e) => {
            let e = ApiError::from(e);
            return Ok(Outcome {
                status: e.status(),
                message: String::new(),
                body: Some(e.to_string()),
            });
        }
    };
    if object.ends_with('/') {
        return Ok(Outcome {
            status: StatusCode::BAD_REQUEST,
            message: String::new(),
            body: Some("A file name may not end in /".into()),
        });
    }
    let ct = attrs
        .get("content-type")
        .map(|c| {
            if c.is_empty() {
                "application/octet-stream".to_string()
            } else {
                c.clone()
            }
        })
        .unwrap_or_else(|| crate::store::mime::guess(&object));
    meta.insert(keys::CONTENT_TYPE.into(), ct);
    if let Some(ce) = attrs.get("content-encoding") {
        meta.insert("Content-Encoding".into(), ce.clone());
    }

    let max = (max_size.max(0) as u64).min(app.cfg.limits.max_file_size);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<Bytes>>(QUEUE);
    let writer = {
        let (app, ctx) = (app.clone(), ctx.clone());
        // The write path, as an object PUT of unknown length.
        tokio::task::spawn_blocking(move || -> ApiResult<()> {
            let loc = app.locate(&ctx.account, &container)?;
            let mut put = Put::begin(&app, ctx.write_dest(loc, &container, &object), None)?;
            loop {
                match rx.blocking_recv() {
                    Some(Some(b)) => put.writer().write(&b)?,
                    Some(None) => break,
                    None => return Err(invalid("upload interrupted")),
                }
            }
            put.commit(&app, meta, None)?;
            Ok(())
        })
    };
    let mut size = 0u64;
    let mut too_big = false;
    let mut read_err = None;
    loop {
        match form.chunk().await {
            Ok(Some(c)) => {
                size += c.len() as u64;
                if size > max {
                    too_big = true;
                    break;
                }
                if tx.send(Some(c)).await.is_err() {
                    break; // the writer failed; its error is the answer
                }
            }
            Ok(None) => {
                let _ = tx.send(None).await;
                break;
            }
            Err(e) => {
                read_err = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let res = writer
        .await
        .map_err(|e| ApiError::Internal(format!("writer failed: {e}")))?;
    if too_big {
        return Err(invalid("max_file_size exceeded"));
    }
    if let Some(e) = read_err {
        return Err(e);
    }
    Ok(match res {
        Ok(()) => Outcome {
            status: StatusCode::CREATED,
            message: String::new(),
            body: None,
        },
        Err(e) => Outcome {
            status: e.status(),
            message: String::new(),
            body: Some(e.to_string()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_parse() {
        let (k, a) = parse_disposition(r#"form-data; name="file1"; filename="a \"b\".txt""#);
        assert_eq!(k, "form-data");
        assert_eq!(a["name"], "file1");
        assert_eq!(a["filename"], "a \"b\".txt");
        let (k, a) = parse_disposition("multipart/form-data; boundary=----xyz");
        assert_eq!(k, "multipart/form-data");
        assert_eq!(a["boundary"], "----xyz");
    }
}
