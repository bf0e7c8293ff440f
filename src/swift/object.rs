//! The object dispatch: which feature, if any, answers an object request
//! (a version, one a feature takes whole, a link or a large object read) and the plain
//! requests themselves on the object core (`object_core.rs`): GET/HEAD with
//! the quick path, PUT (streamed into the write path), POST, DELETE; COPY
//! and X-Copy-From are `copy.rs`'s. No feature names this file: one that reads another object
//! through the whole dispatch does so through `App::get_object`.

use std::sync::Arc;

use crate::http::incoming::Incoming;
use http::{Method, Response, StatusCode};

use super::feature::{Name, ObjectRequest, Read};
use super::headers::collect_meta;
use super::object_core::{
    authorize, created, delete_at, expired, get_response, head_response, is_user_key, request_meta,
    user_headers,
};
use super::write::{self, Put};
use super::{blocking, copy, empty_response, receive, App, Ctx};
use super::{dlo, symlink};
use crate::http::body::{self, Body};
use crate::http::error::{ApiError, ApiResult, Finish};
use crate::store::meta::{self, keys, Meta};
use crate::store::object::{self as sobj, ObjectInfo};
use crate::store::ObjPath;

pub async fn handle(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: ObjPath,
    body: Incoming,
) -> ApiResult<Response<Body>> {
    if !app.features.on(Name::EtagQuoter) {
        return dispatch(app, ctx, container, object, body).await;
    }
    let (a, c, arc) = (ctx.account.clone(), container.clone(), app.clone());
    let r = dispatch(app, ctx, container, object, body).await?;
    Ok(super::etag_quoter::apply(&arc, a, c, r).await)
}

async fn dispatch(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: ObjPath,
    body: Incoming,
) -> ApiResult<Response<Body>> {
    let versions = app.features.on(Name::ObjectVersioning);
    if versions {
        let r = super::versioning::object_request(&app, &ctx, &container, &object).await?;
        if let Some(r) = r {
            return Ok(r);
        }
    }
    if let Some(take) = app.features.takes_object(&ctx)? {
        let r = ObjectRequest {
            app,
            ctx,
            container,
            object,
            body,
        };
        return take(r).await;
    }
    match ctx.method {
        Method::GET | Method::HEAD if versions => {
            let (c, o, x) = (container.clone(), object.clone(), ctx.clone());
            let r = get(app, ctx, container, object).await?;
            Ok(super::versioning::decorate(r, &x, &c, &o))
        }
        Method::GET | Method::HEAD => get(app, ctx, container, object).await,
        Method::PUT => put(app, ctx, container, object, body).await,
        Method::POST => post(app, ctx, container, object).await,
        Method::DELETE => delete(app, ctx, container, object).await,
        ref m if m.as_str() == "COPY" => {
            let (c, o) = match versions {
                true => super::versioning::copy_source(&ctx, container, object.to_string()),
                false => (container, object.to_string()),
            };
            copy::copy(app, ctx, c, o).await
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

pub(super) async fn get(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: ObjPath,
) -> ApiResult<Response<Body>> {
    let head = ctx.method == Method::HEAD;
    let arc = app.clone();
    // A version shares its file with the object it was, but not the
    // object's expiry: versions never expire (as in Swift).
    let expires =
        !super::versioning::is_hidden(&container) && !super::expirer::open_expired(&app, &ctx);
    // Most reads take a few microseconds of system calls (open, fgetxattr,
    // read; or getxattr, stat): cheaper run right here than handed to the
    // blocking pool and back. Anything slower, and links and large objects,
    // go there.
    let (mut located, mut opened) = (None, None);
    if app.store.opts.quick_reads {
        let loc = authorize(&app, &ctx, &container, false)?;
        if head {
            if let Some(info) = sobj::head_quick(&app.store, &loc, &object)? {
                if is_plain(&app, &ctx, &info) {
                    return head_response(&ctx, info, expires);
                }
            }
        } else if let Some(obj) = sobj::open_quick(&app.store, &loc, &object)? {
            if is_plain(&app, &ctx, &obj.info) {
                return get_response(&ctx, obj, expires);
            }
            opened = Some(obj);
        }
        // Authorized once: the slow path goes on from here.
        located = Some(loc);
    }
    let res = blocking(&app, move |app| {
        let loc = match located {
            Some(loc) => loc,
            None => authorize(app, &ctx, &container, false)?,
        };
        let expired = |i: &ObjectInfo| expires && expired(i);
        if head {
            let info = sobj::head(&app.store, &loc, &object)?;
            if expired(&info) {
                return Err(ApiError::NotFound);
            }
            let read = Read {
                info: &info,
                file: None,
                loc: &loc,
                object: &object,
                head,
            };
            if let Some(r) = app.features.read(&arc, &ctx, &read)? {
                return Ok(r);
            }
            return head_response(&ctx, info, expires);
        }
        let obj = match opened {
            Some(o) => o,
            None => sobj::open(&app.store, &loc, &object)?,
        };
        let info = &obj.info;
        if expired(info) {
            return Err(ApiError::NotFound);
        }
        let read = Read {
            info,
            file: Some(&obj.file),
            loc: &loc,
            object: &object,
            head,
        };
        if let Some(r) = app.features.read(&arc, &ctx, &read)? {
            return Ok(r);
        }
        get_response(&ctx, obj, expires)
    })
    .await;
    symlink::finish(app, res).await
}

/// Can the quick path answer: no feature (a link to follow, a large
/// object) answers this read?
fn is_plain(app: &App, ctx: &Ctx, info: &ObjectInfo) -> bool {
    !app.features.reads(ctx, info)
}

async fn put(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: ObjPath,
    body: Incoming,
) -> ApiResult<Response<Body>> {
    if ctx.headers.contains_key("x-copy-from") {
        let len = ctx.header("content-length")?.unwrap_or("0");
        if len.trim() != "0" {
            return Err(ApiError::BadRequest(
                "Copy requests require a zero byte body".into(),
            ));
        }
        let src = ctx.header("x-copy-from")?.unwrap_or_default().to_string();
        let (sc, so) = copy::split_copy_path(&src)?;
        let src_account = ctx.header("x-copy-from-account")?.map(str::to_string);
        return copy::do_copy(app, ctx, src_account, sc, so, container, object.to_string()).await;
    }
    let te = ctx
        .header("transfer-encoding")?
        .map(str::to_ascii_lowercase);
    if te
        .as_deref()
        .is_some_and(|v| v.split(',').any(|c| c.trim() != "chunked"))
    {
        return Err(ApiError::NotImplemented);
    }
    let chunked = te.is_some();
    let length = match ctx.header("content-length")? {
        Some(v) => Some(
            v.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::BadRequest("Invalid Content-Length".into()))?,
        ),
        None if chunked => None,
        None => return Err(ApiError::LengthRequired),
    };
    let max = app.cfg.limits.max_file_size;
    if length.is_some_and(|l| l > max) {
        return Err(ApiError::TooLarge("Your request is too large.".into()));
    }
    let meta = request_meta(&app, &ctx, &object)?;
    let expected = ctx
        .header("etag")?
        .map(|e| e.trim().trim_matches('"').to_ascii_lowercase());
    let if_none_match = ctx.header("if-none-match")?.map(str::to_string);
    if if_none_match.as_deref().is_some_and(|v| v.trim() != "*") {
        return Err(ApiError::BadRequest("If-None-Match only supports *".into()));
    }

    let marker_name = object.ends_with('/');
    if marker_name && length != Some(0) {
        return Err(ApiError::BadRequest(
            "A name ending in / is a directory marker and takes no data".into(),
        ));
    }
    if marker_name
        || (meta.get(keys::CONTENT_TYPE).map(String::as_str) == Some(meta::DIR_CONTENT_TYPE)
            && length == Some(0))
    {
        return blocking(&app, move |app| {
            let loc = authorize(app, &ctx, &container, true)?;
            let info = write::put_dir_marker(app, ctx.write_dest(loc, &container, &object), meta)?;
            Ok(created(&info))
        })
        .await;
    }

    let put = blocking(&app, move |app| {
        let loc = authorize(app, &ctx, &container, true)?;
        let mut dest = ctx.write_dest(loc, &container, &object);
        dest.create_only = if_none_match.is_some();
        Put::begin(app, dest, length)
    })
    .await?;
    let put = receive::body(body, put, max, receive::body_failed).await?;
    let info = blocking(&app, move |app| {
        if length.is_some_and(|l| l != put.size()) {
            return Err(ApiError::BadRequest(
                "Request body shorter than Content-Length".into(),
            ));
        }
        put.commit(app, meta, expected.as_deref())
    })
    .await?;
    Ok(created(&info))
}

async fn post(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: ObjPath,
) -> ApiResult<Response<Body>> {
    let links = app.features.on(Name::Symlink);
    if links {
        symlink::check_post(&ctx)?;
    }
    let mut new = collect_meta(&ctx.headers, "object", &app.cfg.limits)?;
    new.retain(|_, v| !v.is_empty());
    let ct = ctx.header("content-type")?.map(str::to_string);
    let mut extra = user_headers(&ctx)?;
    // Like user metadata, a manifest is replaced by POST: set, or gone.
    if let Some(v) = ctx.header("x-object-manifest")? {
        dlo::check_manifest_header(v)?;
        extra.insert(dlo::MANIFEST_KEY.into(), v.to_string());
    }
    let delete_at = delete_at(&ctx)?;
    let remove_delete_at = ctx.headers.contains_key("x-remove-delete-at");
    blocking(&app, move |app| {
        let loc = authorize(app, &ctx, &container, true)?;
        let mut gone = false;
        let open = super::expirer::open_expired(app, &ctx);
        let info = sobj::update_meta(&app.store, &loc, &object, |old| {
            gone = !open && expired(old);
            // Swift POST semantics: user metadata is replaced, not merged.
            let mut m: Meta = old
                .meta
                .iter()
                .filter(|(k, _)| {
                    !is_user_key(k)
                        && *k != dlo::MANIFEST_KEY
                        && (*k != "X-Delete-At" || !remove_delete_at)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            m.extend(new);
            m.extend(extra);
            if let Some(ct) = ct.filter(|c| !c.trim().is_empty()) {
                if !old.is_dir_marker() {
                    m.insert(keys::CONTENT_TYPE.into(), ct);
                }
            }
            if let Some(at) = delete_at {
                m.insert("X-Delete-At".into(), at.to_string());
            }
            m.insert(keys::TIMESTAMP.into(), meta::now_timestamp());
            if gone {
                old.meta.clone()
            } else {
                m
            }
        })?;
        if gone {
            return Err(ApiError::NotFound);
        }
        super::expirer::note(app, &loc, &ctx.account, &container, &object, &info.meta);
        if let Some(r) = symlink::post_redirect(&ctx.account, &info).filter(|_| links) {
            return Ok(r);
        }
        empty_response(StatusCode::ACCEPTED).finish(body::empty())
    })
    .await
}

async fn delete(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: ObjPath,
) -> ApiResult<Response<Body>> {
    let if_delete_at = match ctx.header("x-if-delete-at")? {
        Some(v) => Some(
            v.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::BadRequest("Bad X-If-Delete-At header value".into()))?,
        ),
        None => None,
    };
    // When it arrived: an object written later stays (newest-wins).
    let arrived = crate::store::meta::now_secs();
    blocking(&app, move |app| {
        let loc = authorize(app, &ctx, &container, true)?;
        if let Some(want) = if_delete_at {
            let info = sobj::head(&app.store, &loc, &object)?;
            let at = info
                .meta
                .get("X-Delete-At")
                .and_then(|v| v.parse::<u64>().ok());
            if at != Some(want) {
                return Err(ApiError::PreconditionFailed(
                    "X-If-Delete-At does not match the object's X-Delete-At".into(),
                ));
            }
        }
        // Object versioning leaves a delete marker; legacy versioned
        // writes may archive or restore.
        if let Some(r) = app.features.object_delete(app, &ctx, &loc, &object)? {
            return Ok(r);
        }
        sobj::delete_as_of(&app.store, &loc, &object, arrived)?;
        app.store.usage.invalidate(&loc);
        empty_response(StatusCode::NO_CONTENT).finish(body::empty())
    })
    .await
}
