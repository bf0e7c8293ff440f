//! CompleteMultipartUpload: the part list checked (ascending numbers, each
//! stored with the ETag given, every part but the last at least 5 MiB),
//! then the parts assembled into ONE plain file through the one write path:
//! its temp file takes them by `copy_file_range` (a reflink where the
//! filesystem can), and the commit renames it into place as any PUT
//! (quota, versioning, expiry; `If-None-Match: *` atomically). Every
//! other condition, `If-Match` too, is `NotImplemented`, as Swift's s3api
//! and its functional suite have it.
//!
//! The object's ETag, the one Swift shows and its clients check a
//! download against, is the true MD5 of the whole, read while the kernel
//! copies. S3's multipart ETag (`<md5 of the parts' MD5s>-<N>`) is kept
//! in sysmeta ([`S3_ETAG_KEY`]) with the part sizes ([`S3_PARTS_KEY`]),
//! for the S3 door to show.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Response, StatusCode};
use md5::{Digest, Md5};

use super::{bucket, ctx_of, find_upload, names, no_such_upload, run, s3err, store_err, S3Error};
use crate::http::body::Body;
use crate::http::error::ApiError;
use crate::s3::integrity::Expect;
use crate::s3::sigv4::header;
use crate::s3::{keepalive, upload, xml, S3Request};
use crate::store::meta::Meta;
use crate::store::object as sobj;
use crate::store::parts::{self, Part, UploadId};
use crate::store::{ContainerLoc, ObjPath};
use crate::swift::write::Put;
use crate::swift::{App, Ctx};

/// Sysmeta: the S3 ETag of an object made by a multipart upload.
pub const S3_ETAG_KEY: &str = crate::store::meta::keys::S3_ETAG;
/// Sysmeta: the upload that made the object (a repeated Complete of it
/// answers as the first did).
pub const UPLOAD_ID_KEY: &str = "X-Object-Sysmeta-S3api-Upload-Id";
/// Sysmeta: the part sizes, as runs `<size>*<count>` joined by `,`
/// (`5242880*99,1234`: short even for 10,000 parts of one size).
pub const S3_PARTS_KEY: &str = "X-Object-Sysmeta-S3api-Parts";
/// The shortest interval between two spaces of a kept-alive answer.
const MIN_BEAT: Duration = Duration::from_secs(1);
/// The smallest part but the last (`min_segment_size` in `/info`).
pub const MIN_PART: u64 = 5 << 20;

/// The S3 ETag of an object, when a multipart upload made it.
pub fn s3_etag(m: &Meta) -> Option<&str> {
    m.get(S3_ETAG_KEY).map(String::as_str)
}

/// The part sizes kept in [`S3_PARTS_KEY`].
pub fn part_sizes(m: &Meta) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    for run in m.get(S3_PARTS_KEY)?.split(',') {
        let (size, count) = run.split_once('*')?;
        let (size, count): (u64, usize) = (size.parse().ok()?, count.parse().ok()?);
        if out.len() + count > parts::MAX_PART as usize {
            return None;
        }
        out.extend(std::iter::repeat_n(size, count));
    }
    Some(out)
}

fn encode_sizes(sizes: &[u64]) -> String {
    let mut runs: Vec<(u64, usize)> = Vec::new();
    for &s in sizes {
        match runs.last_mut() {
            Some((size, n)) if *size == s => *n += 1,
            _ => runs.push((s, 1)),
        }
    }
    let runs: Vec<String> = runs.iter().map(|(s, n)| format!("{s}*{n}")).collect();
    runs.join(",")
}

/// A part the client names: its number and the ETag it expects.
struct Wanted {
    number: u32,
    etag: String,
}

fn parse(body: &[u8]) -> Result<Vec<Wanted>, S3Error> {
    let doc = xml::parse(body)?;
    let root = doc.root_element();
    if root.tag_name().name() != "CompleteMultipartUpload" {
        return Err(S3Error::malformed_xml());
    }
    let mut out = Vec::new();
    for p in root
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "Part")
    {
        let number = xml::child_text(p, "PartNumber")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(S3Error::malformed_xml)?;
        let etag = xml::child_text(p, "ETag").ok_or_else(S3Error::malformed_xml)?;
        out.push(Wanted {
            number,
            etag: etag.trim().trim_matches('"').to_ascii_lowercase(),
        });
    }
    if out.is_empty() {
        return Err(S3Error::malformed_xml());
    }
    Ok(out)
}

fn invalid_part(w: &Wanted, id: &UploadId) -> S3Error {
    s3err(
        StatusCode::BAD_REQUEST,
        "InvalidPart",
        "One or more of the specified parts could not be found.  The part may not have been \
         uploaded, or the specified entity tag may not match the part's entity tag.",
    )
    .with("UploadId", id.as_str())
    .with("PartNumber", w.number.to_string())
    .with("ETag", w.etag.clone())
}

/// The stored parts the list names, checked as S3 does.
fn choose<'a>(
    wanted: &[Wanted],
    stored: &'a [Part],
    id: &UploadId,
) -> Result<Vec<&'a Part>, S3Error> {
    let mut out: Vec<&Part> = Vec::with_capacity(wanted.len());
    for w in wanted {
        if out.last().is_some_and(|p| p.number >= w.number) {
            return Err(s3err(
                StatusCode::BAD_REQUEST,
                "InvalidPartOrder",
                "The list of parts was not in ascending order.Parts list must specified in \
                 order by part number.",
            ));
        }
        let p = stored
            .iter()
            .find(|p| p.number == w.number && p.info.etag() == w.etag)
            .ok_or_else(|| invalid_part(w, id))?;
        out.push(p);
    }
    if let Some(small) = out[..out.len() - 1].iter().find(|p| p.info.size < MIN_PART) {
        return Err(s3err(
            StatusCode::BAD_REQUEST,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed object size.",
        )
        .with("ProposedSize", small.info.size.to_string())
        .with("MinSizeAllowed", MIN_PART.to_string()));
    }
    Ok(out)
}

/// `<md5 of the parts' binary MD5s>-<N>`, of the parts' ETags.
fn multipart_etag<'a>(etags: impl Iterator<Item = &'a str>) -> String {
    let (mut h, mut n) = (Md5::new(), 0);
    for e in etags {
        h.update(hex::decode(e).unwrap_or_default());
        n += 1;
    }
    format!("{}-{n}", hex::encode(h.finalize()))
}

/// What the request's conditions ask: create only (`If-None-Match: *`).
/// Other conditions (`If-Match` too) are not implemented, as in Swift's
/// s3api, whose functional suite asks for 501 to each.
struct Conditions {
    create_only: bool,
}

fn conditions(h: &HeaderMap) -> Result<Conditions, S3Error> {
    let inm = header(h, "if-none-match");
    if inm.is_some_and(|v| v.trim() != "*")
        || h.contains_key("if-match")
        || h.contains_key("if-modified-since")
        || h.contains_key("if-unmodified-since")
    {
        return Err(S3Error::not_implemented(
            "Conditional requests other than If-None-Match: * are not implemented",
        ));
    }
    Ok(Conditions {
        create_only: inm.is_some(),
    })
}

/// A Complete of an upload no longer there (`gone`: its error): when an
/// earlier Complete of it made the object at the name from the same part
/// list, that object's S3 ETag (answered as the first time); else `gone`
/// (s3api answers `NoSuchUpload` to another part list too).
fn completed_before(
    app: &App,
    loc: &ContainerLoc,
    job: &Completion,
    gone: S3Error,
) -> Result<String, S3Error> {
    let Ok(info) = sobj::head(&app.store, loc, &job.key) else {
        return Err(gone);
    };
    let made = (info.meta.get(UPLOAD_ID_KEY).map(String::as_str) == Some(job.id.as_str()))
        .then(|| s3_etag(&info.meta))
        .flatten();
    let wanted = job.wanted.as_ref().map_err(Clone::clone)?;
    let same = multipart_etag(wanted.iter().map(|w| w.etag.as_str()));
    match made {
        Some(etag) if etag == same => Ok(same),
        _ => Err(gone),
    }
}

/// One Complete: the object, the upload, the parts named, the conditions.
struct Completion {
    bucket: String,
    key: ObjPath,
    id: String,
    /// The list, or why it could not be read (answered once the bucket
    /// and upload are known to exist, as S3 does).
    wanted: Result<Vec<Wanted>, S3Error>,
    cond: Conditions,
}

/// What a Complete does once its part list has passed the checks.
enum Ready {
    /// An earlier Complete of the upload made the object: its S3 ETag.
    Done(String),
    /// The parts to copy into the object.
    Copy(Box<Assembly>),
}

/// A checked Complete: the parts, in order, and the write they go to.
struct Assembly {
    area: ContainerLoc,
    id: UploadId,
    parts: Vec<Part>,
    put: Put,
    meta: Meta,
    etag: String,
}

/// Checks the upload and the part list (the errors S3 answers with their
/// own status) and begins the object's write.
fn prepare(app: &App, ctx: &Ctx, loc: ContainerLoc, job: &Completion) -> Result<Ready, S3Error> {
    let (key, cond) = (&job.key, &job.cond);
    let (area, id, up) = match find_upload(app, &loc, &job.id, key) {
        Ok(f) => f,
        Err(e) if e.code == "NoSuchUpload" => {
            return completed_before(app, &loc, job, e).map(Ready::Done)
        }
        Err(e) => return Err(e),
    };
    let stored = parts::parts(&app.store, &area, &id).map_err(store_err)?;
    let wanted = job.wanted.as_ref().map_err(Clone::clone)?;
    let parts: Vec<Part> = choose(wanted, &stored, &id)?.into_iter().cloned().collect();
    let etag = multipart_etag(parts.iter().map(|p| p.info.etag()));
    let sizes: Vec<u64> = parts.iter().map(|p| p.info.size).collect();
    let mut meta = up.record.meta;
    meta.insert(S3_ETAG_KEY.into(), etag.clone());
    meta.insert(UPLOAD_ID_KEY.into(), id.as_str().to_string());
    meta.insert(S3_PARTS_KEY.into(), encode_sizes(&sizes));
    let mut dest = ctx.write_dest(loc, &job.bucket, key);
    dest.create_only = cond.create_only;
    let put = Put::begin(app, dest, Some(sizes.iter().sum()))?;
    Ok(Ready::Copy(Box::new(Assembly {
        area,
        id,
        parts,
        put,
        meta,
        etag,
    })))
}

/// Copies the parts into the object, puts it in place and removes the
/// upload: the object's S3 ETag.
fn assemble(app: &App, a: Assembly) -> Result<String, S3Error> {
    let Assembly {
        area,
        id,
        parts,
        mut put,
        meta,
        etag,
    } = a;
    for p in &parts {
        copy_part(&area, &id, p, &mut put)?;
    }
    match put.commit(app, meta, None) {
        // Overtaken by a newer write of the key: done, as S3 answers it.
        Ok(_) | Err(ApiError::Superseded) => {}
        Err(e) => return Err(e.into()),
    }
    if let Err(e) = parts::remove(&area, &id) {
        tracing::warn!("completed upload {}: parts not removed: {e}", id.as_str());
    }
    Ok(etag)
}

fn copy_part(area: &ContainerLoc, id: &UploadId, p: &Part, put: &mut Put) -> Result<(), S3Error> {
    // Gone since the list was checked: aborted, or reaped meanwhile.
    let file = match sobj::open_data(area, &parts::part_name(id, p.number)) {
        Err(crate::store::Error::NotFound) => return Err(no_such_upload(id.as_str())),
        other => other.map_err(store_err)?,
    };
    put.writer()
        .copy_range(&file, 0, p.info.size)
        .map_err(store_err)
}

/// The checks a Complete's part list takes: all but an `x-amz-checksum-*`
/// header, which Swift's s3api does not compare (a wrong one completes,
/// and its suites check that it does).
fn body_checks(mut expect: Expect) -> Expect {
    if matches!(expect.checksum, Some((_, Some(_)))) {
        expect.checksum = None;
    }
    expect
}

/// CompleteMultipartUpload.
pub async fn handle(
    app: Arc<App>,
    mut req: S3Request,
    id: &str,
) -> Result<Response<Body>, S3Error> {
    let n = names(&app, &req)?;
    let key = n.key.clone().ok_or_else(S3Error::internal_error)?;
    let cond = conditions(&req.headers)?;
    let ctx = ctx_of(&app, &req, HeaderMap::new()).await?;
    let expect = body_checks(req.expect.take().unwrap_or_default());
    let wanted = match upload::read_document(&mut req, expect).await {
        Ok(b) => parse(&b),
        Err(e) => Err(e),
    };
    let S3Request {
        target,
        headers,
        request_id: req_id,
        ..
    } = req;
    let job = Completion {
        bucket: n.bucket.clone(),
        key,
        id: id.to_string(),
        wanted,
        cond,
    };
    let ready = run(&app, move |app| {
        let loc = bucket(app, &ctx, &job.bucket, true)?;
        prepare(app, &ctx, loc, &job)
    })
    .await?;
    let host = header(&headers, "host").unwrap_or("localhost").to_string();
    let (bucket_name, key_shown) = (n.bucket, target.key.unwrap_or_default());
    let doc = move |etag: String| result_document(&host, &bucket_name, &key_shown, &etag);
    let a = match ready {
        Ready::Done(etag) => return xml::ok(doc(etag)),
        Ready::Copy(a) => a,
    };
    let grace = Duration::from_secs(app.cfg.s3.complete_heartbeat_secs);
    let patience = (grace, grace.max(MIN_BEAT));
    let job = async move { run(&app, move |app| assemble(app, *a)).await };
    keepalive::answer(job, patience, req_id, doc).await
}

/// CompleteMultipartUploadResult.
fn result_document(host: &str, bucket: &str, key: &str, etag: &str) -> String {
    let mut w = xml::Writer::new("CompleteMultipartUploadResult");
    w.elem(
        "Location",
        &format!("http://{host}/{bucket}/{}", super::list::url_encode(key)),
    )
    .elem("Bucket", bucket)
    .elem("Key", key)
    .elem("ETag", &format!("\"{etag}\""));
    w.finish()
}
