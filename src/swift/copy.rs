//! COPY and `X-Copy-From`: an object (or the content of a large object,
//! or a link, followed or not) copied through the write path, within an
//! account or across accounts, with the source read as its own caller may.

use std::io::{Read, Seek};
use std::sync::Arc;

use http::{Method, Response, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use super::feature::Name;
use super::headers::{collect_meta, http_date};
use super::object_core::{authorize, delete_at, expired, is_user_key, user_headers};
use super::range::{resolve, Ranges};
use super::write::{self, Put};
use super::{blocking, dlo, empty_response, slo, symlink, App, Ctx};
use crate::http::body::{self, Body, Part};
use crate::http::error::{ApiError, ApiResult, Finish};
use crate::store::meta::{keys, Meta};
use crate::store::object as sobj;
use crate::store::{container as scont, ObjPath};

const PATH_SET: &AsciiSet = &CONTROLS.add(b' ').add(b'%').add(b'?').add(b'#').add(b'"');

/// `container/object` of X-Copy-From or Destination, percent-decoded.
pub(super) fn split_copy_path(v: &str) -> ApiResult<(String, String)> {
    let v = crate::http::request::decode_path(v.trim())?;
    let v = v.trim_start_matches('/');
    match v.split_once('/') {
        Some((c, o)) if !c.is_empty() && !o.is_empty() => Ok((c.to_string(), o.to_string())),
        _ => Err(ApiError::PreconditionFailed(
            "Bad header value: must be in the form container/object".into(),
        )),
    }
}

pub(super) async fn copy(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: String,
) -> ApiResult<Response<Body>> {
    let dest = ctx
        .header("destination")?
        .ok_or_else(|| ApiError::PreconditionFailed("Destination header required".into()))?
        .to_string();
    let (dc, dobj) = split_copy_path(&dest)?;
    let dest_account = ctx.header("destination-account")?.map(str::to_string);
    let mut ctx = ctx;
    let src_account = ctx.account.clone();
    if let Some(a) = dest_account.filter(|a| *a != ctx.account) {
        // Another account: a name of ours, and the caller's rights there
        // (its own ACL), not those held in the source account.
        crate::store::name::check_account(&a, &app.store.opts.limits)?;
        if !app.auth.serves(&a) {
            return Err(ApiError::Forbidden);
        }
        let (acct, id) = (a.clone(), ctx.id.clone());
        ctx.grant = blocking(&app, move |app| Ok(app.account_grant(&acct, id.as_ref()))).await?;
        ctx.account = a;
    }
    do_copy(app, ctx, Some(src_account), container, object, dc, dobj).await
}

/// Copies an object; `ctx.account` is the destination account.
pub(super) async fn do_copy(
    app: Arc<App>,
    ctx: Ctx,
    src_account: Option<String>,
    src_container: String,
    src_object: String,
    container: String,
    object: String,
) -> ApiResult<Response<Body>> {
    {
        let l = &app.store.opts.limits;
        if !super::versioning::is_hidden(&src_container) {
            crate::store::name::check_container(&src_container, l)?;
        }
        crate::store::name::check_container(&container, l)?;
    }
    let (src_object, object) = {
        let l = &app.store.opts.limits;
        (ObjPath::new(&src_object, l)?, ObjPath::new(&object, l)?)
    };
    let fresh = ctx
        .header("x-fresh-metadata")?
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let req_meta = collect_meta(&ctx.headers, "object", &app.cfg.limits)?;
    let req_ct = ctx.header("content-type")?.map(str::to_string);
    let req_extra = user_headers(&ctx)?;
    let range = ctx.header("range")?.map(str::to_string);
    let delete_at = delete_at(&ctx)?;
    blocking(&app, move |app| {
        let src_account = src_account.unwrap_or_else(|| ctx.account.clone());
        let src_ctx = Ctx {
            method: Method::GET,
            headers: ctx.headers.clone(),
            query: Default::default(),
            id: ctx.id.clone(),
            grant: app.account_grant(&src_account, ctx.id.as_ref()),
            account: src_account.clone(),
            note: ctx.note.clone(),
            etag_is_at: ctx.etag_is_at,
        };
        crate::store::name::check_account(&src_account, &app.store.opts.limits)?;
        if !app.auth.serves(&src_account) {
            return Err(ApiError::Forbidden);
        }
        // The source is read first, as Swift's copy does: a missing source
        // is 404 even where the destination would be refused.
        let src_loc = authorize(app, &src_ctx, &src_container, false)?;
        let src = sobj::open(&app.store, &src_loc, &src_object)?;
        // Versions never expire (they share the object's file, not its expiry).
        if !super::versioning::is_hidden(&src_container) && expired(&src.info) {
            return Err(ApiError::NotFound);
        }
        let links = app.features.on(Name::Symlink);
        let follows = links && symlink::follows(&ctx);
        let copies_link = links && symlink::is_link(&src.info);
        let (src_ctx, mut src) = if follows {
            let (end_ctx, obj) = symlink::open_followed(app, &src_ctx, src)?;
            (end_ctx.unwrap_or(src_ctx), obj)
        } else {
            (src_ctx, src)
        };
        let dst_loc = authorize(app, &ctx, &container, true)?;
        let mut m: Meta = if fresh {
            Meta::new()
        } else {
            src.info
                .meta
                .iter()
                .filter(|(k, _)| is_user_key(k) || *k == keys::CONTENT_TYPE)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        if copies_link && !follows {
            symlink::copy_meta(&ctx, &src.info, &mut m)?;
        }
        scont::apply_user_meta(&mut m, req_meta);
        m.extend(req_extra);
        if let Some(ct) = req_ct.filter(|c| !c.trim().is_empty()) {
            m.insert(keys::CONTENT_TYPE.into(), ct);
        }
        m.entry(keys::CONTENT_TYPE.into())
            .or_insert_with(|| src.info.content_type().to_string());
        if let Some(at) = delete_at {
            m.insert("X-Delete-At".into(), at.to_string());
        }
        let src_ts = src.info.timestamp();
        // A large object copies as its content, unless the manifest itself
        // is asked for (`multipart-manifest=get`), which copies as it is.
        let manifest = dlo::manifest(&ctx, &src.info).filter(|_| app.features.on(Name::Dlo));
        if manifest.is_none() {
            if let Some(v) = src.info.meta.get(dlo::MANIFEST_KEY) {
                m.insert(dlo::MANIFEST_KEY.into(), v.clone());
            }
        }
        let dest = ctx.write_dest(dst_loc, &container, &object);
        let info = if app.features.on(Name::Slo) && slo::is_slo(&src.info) {
            if let Some(ct) = m.get_mut(keys::CONTENT_TYPE) {
                *ct = slo::strip_swift_bytes(ct).to_string();
            }
            if slo::wants_manifest(&ctx) {
                slo::copy_manifest(app, &ctx, &src, dest, m)?
            } else {
                // The assembled size is known once copied: the quota is
                // checked then.
                let mut put = Put::begin(app, dest, None)?;
                let part = ctx.query.get("part-number");
                slo::copy_content(app, &src_ctx, &src, range.as_deref(), part, put.writer())?;
                put.commit(app, m, None)?
            }
        } else if let Some(man) = manifest {
            let (segs, _, total) = dlo::segments(app, &src_ctx, &man)?;
            let (start, len) = match resolve(range.as_deref(), total) {
                Ranges::Parts(r) if r.len() == 1 => (r[0].0, r[0].1 - r[0].0),
                Ranges::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(total)),
                _ => (0, total),
            };
            let mut put = Put::begin(app, dest, Some(len))?;
            for part in dlo::slice(&segs, start, len) {
                if let Part::Open { open, offset, len } = part {
                    let mut f = open().map_err(crate::store::Error::from)?;
                    f.seek(std::io::SeekFrom::Start(offset))
                        .map_err(crate::store::Error::from)?;
                    put.writer().copy_from(&mut f.take(len))?;
                }
            }
            put.commit(app, m, None)?
        } else if src.info.is_dir_marker() {
            write::put_dir_marker(app, dest, m)?
        } else {
            // A Range on a copy copies just that part, as Swift's copy does.
            let (start, len) = match resolve(range.as_deref(), src.info.size) {
                Ranges::Whole => (0, src.info.size),
                Ranges::Parts(r) if r.len() == 1 => (r[0].0, r[0].1 - r[0].0),
                Ranges::Parts(_) => {
                    return Err(ApiError::BadRequest(
                        "A copy takes at most one range".into(),
                    ))
                }
                Ranges::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(src.info.size)),
            };
            let mut put = Put::begin(app, dest, Some(len))?;
            src.file
                .seek(std::io::SeekFrom::Start(start))
                .map_err(crate::store::Error::from)?;
            put.writer().copy_from(&mut (&src.file).take(len))?;
            put.commit(app, m, None)?
        };
        let from = format!(
            "{src_container}/{}",
            utf8_percent_encode(&src_object, PATH_SET)
        );
        let mut b = super::object_meta::version_header(empty_response(StatusCode::CREATED), &info)
            .header("Etag", info.etag())
            .header("Last-Modified", http_date(info.timestamp()))
            .header("X-Copied-From", from)
            .header("X-Copied-From-Account", src_account)
            .header("X-Copied-From-Last-Modified", http_date(src_ts));
        let src_vid = src.info.meta.get(super::object_meta::VID_KEY);
        if let Some(v) = src_vid.and_then(|v| http::HeaderValue::from_str(v).ok()) {
            b = b.header("X-Copied-From-Version-Id", v);
        }
        b.finish(body::empty())
    })
    .await
}
