//! Object versioning, as Swift's object_versioning middleware: a container
//! with `X-Versions-Enabled: true` keeps every version of its objects.
//!
//! - Versions live in a hidden container of the account on the same device
//!   (see `store::versions`): `<account>/.sofgate-versions/<container>/<object
//!   name>/<version id>`, plain files. The version id is the X-Timestamp of
//!   the write (`%016.05f`). The current object in the container is a hard
//!   link to its newest version (its metadata carries the id under
//!   `X-Object-Sysmeta-Version-Id`): reads of the object cost nothing extra,
//!   a POST updates that version's metadata as in Swift, and no data is
//!   copied, ever.
//! - A PUT (or COPY) writes the object as usual and links it into the
//!   versions; an object that was there without an id (a "null" version,
//!   written while versioning was off) is kept as a version first. A DELETE
//!   leaves a delete marker (an empty version of type
//!   `application/x-deleted;swift_versions_deleted=1`) and removes the
//!   current object (404 when there was none).
//! - `?version-id=<id>` reads (GET, HEAD), deletes, or with an empty PUT
//!   makes current, one version (with `If-None-Match: *`, only while no
//!   object is current: 412 else); owners only. `?versions` lists every
//!   version (JSON, with `version_id` and `is_latest`), paged by `marker`
//!   and `version_marker`.
//! - Disabling (`X-Versions-Enabled: false`) keeps the versions; new writes
//!   are null versions. A container with versions left cannot be deleted
//!   (409); its bytes used count them.

use std::sync::Arc;

use http::response::Builder;
use http::{Method, Response, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

pub use super::object_meta::{version_header, VID_KEY};
use super::versioned_writes::{self as vw, DELETE_MARKER};
use super::{blocking, empty_response, App, Ctx};
use crate::http::body::{self, Body};
use crate::http::error::{ApiError, ApiResult, Finish};
use crate::store::listing::{self as slist, Entry};
use crate::store::meta::{self, keys, Meta};
use crate::store::object::{self as sobj, ObjectInfo};
use crate::store::versions as svers;
use crate::store::write::Writer;
use crate::store::{container as scont, ContainerLoc, Error as StoreError, ObjPath};

const ENABLED_KEY: &str = "X-Container-Sysmeta-Versions-Enabled";

const PATH_SET: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'%')
    .add(b'?')
    .add(b'#')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on" | "t" | "y"
    )
}

/// `Some(enabled)` once versioning was ever set on the container.
fn enabled_of(m: &Meta) -> Option<bool> {
    m.get(ENABLED_KEY).map(|v| truthy(v))
}

/// The container's versioning state (blocking; cached).
pub fn state(app: &App, loc: &ContainerLoc) -> ApiResult<Option<bool>> {
    Ok(enabled_of(&vw::settings(app, loc)?))
}

/// `X-Versions-Enabled` of a container PUT or POST, as a stored key
/// (owners only).
pub fn container_headers(ctx: &Ctx, owner: bool, m: &mut Meta) -> ApiResult<()> {
    if let Some(v) = ctx.header("x-versions-enabled")? {
        if owner {
            let on = truthy(v);
            let legacy = ["x-versions-location", "x-history-location"]
                .iter()
                .any(|h| ctx.header(h).ok().flatten().is_some_and(|v| !v.is_empty()));
            if on && legacy {
                return Err(legacy_conflict());
            }
            m.insert(ENABLED_KEY.into(), if on { "True" } else { "False" }.into());
        }
    }
    Ok(())
}

fn legacy_conflict() -> ApiError {
    ApiError::BadRequest(
        "Cannot enable object versioning on a container that is already using the legacy versioned writes feature.".into(),
    )
}

/// Refuses container metadata that would turn on both kinds of versioning.
pub fn check_merged(merged: &Meta, update: &Meta) -> ApiResult<()> {
    if enabled_of(merged) == Some(true) && vw::has_location(merged) {
        if update.contains_key(ENABLED_KEY) {
            return Err(legacy_conflict());
        }
        return Err(ApiError::BadRequest(
            "Cannot set a versions location on a container using object versioning.".into(),
        ));
    }
    Ok(())
}

/// Adds `X-Versions-Enabled` to a container HEAD or GET.
pub fn container_response(b: Builder, m: &Meta) -> Builder {
    match enabled_of(m) {
        Some(on) => b.header("X-Versions-Enabled", if on { "True" } else { "False" }),
        None => b,
    }
}

/// Bytes held by the versions of a container besides its current objects
/// (blocking): files of the hidden container with no other link.
pub fn version_bytes(app: &App, loc: &ContainerLoc) -> u64 {
    match svers::hidden(&app.store, loc) {
        Ok(Some(h)) => scont::unshared_bytes(&h),
        _ => 0,
    }
}

/// Before a container is deleted: 409 while versions are left; else the
/// hidden versions container goes (blocking).
pub fn before_container_delete(app: &App, loc: &ContainerLoc) -> ApiResult<()> {
    let Some(h) = svers::hidden(&app.store, loc)? else {
        return Ok(());
    };
    if scont::usage(&h)?.objects > 0 {
        return Err(ApiError::Conflict(
            "Delete all versions before deleting container.".into(),
        ));
    }
    match scont::delete(&h) {
        Ok(()) | Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    app.store.usage.forget(&h);
    Ok(())
}

fn now() -> String {
    meta::now_timestamp()
}

fn parse_vid(v: &str) -> Option<f64> {
    let t = meta::parse_timestamp(v)?;
    (t >= 0.0 && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')).then_some(t)
}

/// The name of `object`'s version `vid` in the hidden container.
fn version_rel(object: &ObjPath, vid: &str) -> ApiResult<ObjPath> {
    Ok(object.child(vid)?)
}

fn is_marker_info(i: &ObjectInfo) -> bool {
    i.meta.get(keys::CONTENT_TYPE).map(String::as_str) == Some(DELETE_MARKER)
}

/// Keeps a current object without a version id (a "null" version) among the
/// versions, under its timestamp.
fn keep_null(app: &App, loc: &ContainerLoc, object: &ObjPath, info: &ObjectInfo) -> ApiResult<()> {
    if info.meta.contains_key(VID_KEY) || info.is_dir_marker() {
        return Ok(());
    }
    let h = svers::ensure_hidden(&app.store, loc)?;
    let vid = meta::normalize_timestamp(info.timestamp());
    svers::link(&app.store, loc, object, &h, &version_rel(object, &vid)?)?;
    app.store.usage.invalidate(&h);
    Ok(())
}

/// Before a write of `object` into `loc` commits: with versioning on, keeps
/// a null current object as a version and gives the new one its id
/// (returned, for [`after_commit`]).
pub fn before_commit(
    app: &App,
    loc: &ContainerLoc,
    object: &ObjPath,
    m: &mut Meta,
) -> ApiResult<Option<String>> {
    m.remove(VID_KEY);
    if state(app, loc)? != Some(true) || object.is_dir_name() {
        return Ok(None);
    }
    // The versions of `object` go in the directory `<hidden>/<object>/`: a
    // version file of another object on that path (`a`'s versions when
    // writing `a/<id>`) would make the link fail after the write, so refuse
    // before anything is written.
    let clash = svers::hidden(&app.store, loc)?.is_some_and(|h| svers::path_blocked(&h, object));
    if clash {
        return Err(ApiError::Conflict(
            "The name clashes with a kept version of another object".into(),
        ));
    }
    match sobj::head(&app.store, loc, object) {
        Ok(i) => keep_null(app, loc, object, &i)?,
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let vid = now();
    m.insert(keys::TIMESTAMP.into(), vid.clone());
    m.insert(VID_KEY.into(), vid.clone());
    Ok(Some(vid))
}

/// Links the object just written in as its version `vid`.
pub fn after_commit(app: &App, loc: &ContainerLoc, object: &ObjPath, vid: &str) -> ApiResult<()> {
    let h = svers::ensure_hidden(&app.store, loc)?;
    svers::link(&app.store, loc, object, &h, &version_rel(object, vid)?)?;
    app.store.usage.invalidate(&h);
    Ok(())
}

/// Adds `Content-Location` (the version's own URL) to a GET or HEAD of a
/// current object that has a version id.
pub fn decorate(
    mut resp: Response<Body>,
    ctx: &Ctx,
    container: &str,
    object: &str,
) -> Response<Body> {
    let Some(vid) = resp
        .headers()
        .get("x-object-version-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return resp;
    };
    let path = format!("/v1/{}/{container}/{object}", ctx.account);
    let loc = format!("{}?version-id={vid}", utf8_percent_encode(&path, PATH_SET));
    if let Ok(v) = http::HeaderValue::from_str(&loc) {
        resp.headers_mut().insert("content-location", v);
    }
    resp
}

/// DELETE of a current object (no version id) with versioning on: a delete
/// marker, then the object goes. `None` when versioning is not on.
pub fn delete(
    app: &App,
    loc: &ContainerLoc,
    object: &ObjPath,
) -> ApiResult<Option<Response<Body>>> {
    if state(app, loc)? != Some(true) {
        return Ok(None);
    }
    let existed = match sobj::head(&app.store, loc, object) {
        Ok(i) if i.is_dir_marker() => return Ok(None),
        Ok(i) => {
            keep_null(app, loc, object, &i)?;
            if let Some(v) = i.meta.get(VID_KEY) {
                // A current version whose link was lost is kept all the same.
                let h = svers::ensure_hidden(&app.store, loc)?;
                svers::link(&app.store, loc, object, &h, &version_rel(object, v)?)?;
            }
            !super::object_core::expired(&i)
        }
        Err(StoreError::NotFound) => false,
        Err(e) => return Err(e.into()),
    };
    let h = svers::ensure_hidden(&app.store, loc)?;
    let vid = now();
    let w = Writer::create(&app.store, &h, &version_rel(object, &vid)?)?;
    let mut m = Meta::new();
    m.insert(keys::CONTENT_TYPE.into(), DELETE_MARKER.into());
    m.insert(keys::TIMESTAMP.into(), vid.clone());
    w.commit(m, None)?;
    app.store.usage.invalidate(&h);
    match sobj::delete(loc, object) {
        Ok(()) | Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let status = if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    };
    Ok(Some(
        empty_response(status)
            .header("X-Object-Version-Id", vid)
            .finish(body::empty())?,
    ))
}

/// The extra fields of a JSON listing row of a current object that has a
/// version id: as in Swift, where such an object is a symlink to its
/// version, `version_symlink` and a `symlink_path` naming the version.
pub fn listing_fields(
    info: &ObjectInfo,
    account: &str,
    container: &str,
    object: &str,
) -> Option<String> {
    let vid = info.meta.get(VID_KEY)?;
    let path = format!("/v1/{account}/{container}/{object}");
    let path = format!("{}?version-id={vid}", utf8_percent_encode(&path, PATH_SET));
    Some(format!(
        ",\"version_symlink\":true,\"symlink_path\":{}",
        serde_json::to_string(&path).ok()?
    ))
}

/// Handles a request with `?version-id=`; `None` when there is none.
pub async fn object_request(
    app: &Arc<App>,
    ctx: &Ctx,
    container: &str,
    object: &ObjPath,
) -> ApiResult<Option<Response<Body>>> {
    let Some(vid) = ctx.query.get("version-id").cloned() else {
        return Ok(None);
    };
    if ctx.method == Method::POST {
        return Err(ApiError::BadRequest(
            "POST to a specific version is not allowed".into(),
        ));
    }
    if ctx.method == Method::OPTIONS {
        return Ok(None);
    }
    let (c, a) = (container.to_string(), ctx.clone());
    let versioned = blocking(app, move |app| {
        let loc = super::object_core::authorize(app, &a, &c, ctx_writes(&a))?;
        Ok(state(app, &loc)?.is_some())
    })
    .await?;
    // Without object versioning, DELETE of the null version is a plain
    // DELETE (legacy versioning may restore a version).
    if !versioned && vid == "null" && ctx.method == Method::DELETE {
        return Ok(None);
    }
    if !versioned && vid != "null" {
        return Err(ApiError::BadRequest(
            "version-aware operations require that the container is versioned".into(),
        ));
    }
    if vid != "null" && parse_vid(&vid).is_none() {
        return Err(ApiError::BadRequest("Invalid version parameter".into()));
    }
    // A version lives in the hidden container, which has no ACLs: as in
    // Swift, owners and account ACLs reach it (read-only: GET, HEAD and a
    // COPY's source; read-write: DELETE too), container ACLs do not. The
    // null version is the object itself, and making a version current is a
    // PUT of the object: the container's ACLs, checked above, decide those.
    if vid != "null" && ctx.method != Method::PUT {
        let hidden = svers::hidden_name(container);
        let deletes = ctx.method == Method::DELETE;
        ctx.authorize(Some(&hidden), true, deletes, None)?;
    }
    let mut plain = ctx.clone();
    plain.query.remove("version-id");
    match ctx.method {
        // The source is named by `copy_source`.
        ref m if m.as_str() == "COPY" => Ok(None),
        Method::GET | Method::HEAD => {
            if vid == "null" {
                let r = (app.clone())
                    .get_object(plain, container.into(), object.clone())
                    .await?;
                if r.headers().contains_key("x-object-version-id") {
                    return Err(ApiError::NotFound);
                }
                let mut r = r;
                r.headers_mut().insert(
                    "x-object-version-id",
                    http::HeaderValue::from_static("null"),
                );
                return Ok(Some(r));
            }
            let (c, o, v, a) = (
                container.to_string(),
                object.clone(),
                vid.clone(),
                ctx.account.clone(),
            );
            let marker = blocking(app, move |app| {
                let Some(h) = svers::hidden(&app.store, &app.locate(&a, &c)?)? else {
                    return Ok(false);
                };
                Ok(sobj::head(&app.store, &h, &version_rel(&o, &v)?)
                    .is_ok_and(|i| is_marker_info(&i)))
            })
            .await?;
            if marker {
                return Ok(Some(
                    empty_response(StatusCode::NOT_FOUND)
                        .header("X-Object-Version-Id", &vid)
                        .header("Content-Type", DELETE_MARKER)
                        .finish(body::empty())?,
                ));
            }
            let mut r = (app.clone())
                .get_object(
                    plain,
                    svers::hidden_name(container),
                    version_rel(object, &vid)?,
                )
                .await?;
            if let Ok(v) = http::HeaderValue::from_str(&vid) {
                r.headers_mut().insert("x-object-version-id", v);
            }
            r.headers_mut().remove("content-location");
            Ok(Some(r))
        }
        Method::DELETE if super::slo::is_manifest_delete(ctx) => super::slo::delete(
            app.clone(),
            plain,
            container.to_string(),
            object.clone(),
            Some(super::slo::Version {
                id: vid,
                open: open_version,
                delete: delete_version,
            }),
        )
        .await
        .map(Some),
        Method::DELETE => {
            let (c, o) = (container.to_string(), object.clone());
            blocking(app, move |app| delete_version(app, &plain, &c, &o, &vid))
                .await
                .map(Some)
        }
        Method::PUT => {
            if vid == "null" {
                return Err(ApiError::BadRequest("Invalid version parameter".into()));
            }
            let chunked = ctx.headers.contains_key("transfer-encoding");
            match ctx.header("content-length")? {
                Some(l) if l.trim() != "0" => {
                    return Err(ApiError::BadRequest(
                        "PUT version-id requests require a zero byte body".into(),
                    ))
                }
                None if !chunked => return Err(ApiError::LengthRequired),
                _ => {}
            }
            // `If-None-Match: *`: only while no object is current (the
            // S3 door's restore, which must not undo a newer write).
            let create_only = match ctx.header("if-none-match")? {
                Some(v) if v.trim() == "*" => true,
                Some(_) => {
                    return Err(ApiError::BadRequest("If-None-Match only supports *".into()))
                }
                None => false,
            };
            let (c, o) = (container.to_string(), object.clone());
            blocking(app, move |app| {
                make_current(app, &plain, (&c, &o), &vid, create_only)
            })
            .await
            .map(Some)
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// The source of a COPY: the version asked for by `?version-id` (checked by
/// [`object_request`]), else the object itself.
pub fn copy_source(ctx: &Ctx, container: String, object: String) -> (String, String) {
    match ctx.query.get("version-id").filter(|v| *v != "null") {
        Some(v) => (svers::hidden_name(&container), format!("{object}/{v}")),
        None => (container, object),
    }
}

/// True for the internal name of a hidden versions container.
pub fn is_hidden(container: &str) -> bool {
    container
        .strip_prefix(crate::store::name::VERSIONS_DIR)
        .is_some_and(|r| r.starts_with('/'))
}

fn ctx_writes(ctx: &Ctx) -> bool {
    ctx.method == Method::PUT || ctx.method == Method::DELETE
}

/// Opens the version `vid` (`null`: the current object when it has no
/// version id) of `object` for a reader with `ctx` (blocking).
pub fn open_version(
    app: &App,
    ctx: &Ctx,
    container: &str,
    object: &ObjPath,
    vid: &str,
) -> ApiResult<sobj::OpenObject> {
    let loc = super::object_core::authorize(app, ctx, container, false)?;
    if vid == "null" {
        let o = sobj::open(&app.store, &loc, object)?;
        if o.info.meta.contains_key(VID_KEY) {
            return Err(ApiError::NotFound);
        }
        return Ok(o);
    }
    let h = svers::hidden(&app.store, &loc)?.ok_or(ApiError::NotFound)?;
    Ok(sobj::open(&app.store, &h, &version_rel(object, vid)?)?)
}

/// The versions of `object` in `container`, newest first, each with
/// whether it is a delete marker, for a caller who may read them
/// (blocking). Only the files of the one directory that holds them are
/// read (`<hidden>/<object>/<id>`): a listing by prefix would also walk
/// the directories of every `<object>/...` name, which sit beside them.
pub fn versions_of(
    app: &App,
    ctx: &Ctx,
    container: &str,
    object: &ObjPath,
) -> ApiResult<Vec<(String, bool)>> {
    let loc = super::object_core::authorize(app, ctx, container, false)?;
    ctx.authorize(Some(&svers::hidden_name(container)), true, false, None)?;
    // A directory marker has no versions (`d/`'s would be `d`'s).
    if object.is_dir_name() {
        return Ok(Vec::new());
    }
    let Some(h) = svers::hidden(&app.store, &loc)? else {
        return Ok(Vec::new());
    };
    let prefix = format!("{}/", object.trimmed());
    // Version ids are digits and dots, all below `:`.
    let q = slist::Query {
        end_marker: format!("{prefix}:"),
        prefix,
        path: true,
        with_meta: true,
        limit: usize::MAX,
        ..Default::default()
    };
    let mut out = Vec::new();
    for e in slist::list(&app.store, &h, &q)? {
        if let Entry::Object {
            name,
            info: Some(i),
        } = e
        {
            match name.strip_prefix(q.prefix.as_str()) {
                Some(v) if parse_vid(v).is_some() => out.push((v.to_string(), is_marker_info(&i))),
                _ => {}
            }
        }
    }
    out.sort_by(|a, b| vid_cmp(&b.0, &a.0));
    Ok(out)
}

/// DELETE `?version-id=`: that version goes; the current object too when
/// it is that version.
pub fn delete_version(
    app: &App,
    ctx: &Ctx,
    container: &str,
    object: &ObjPath,
    vid: &str,
) -> ApiResult<Response<Body>> {
    let loc = super::object_core::authorize(app, ctx, container, true)?;
    let current = match sobj::head(&app.store, &loc, object) {
        Ok(i) => Some(i),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let cur_vid = current.as_ref().and_then(|i| i.meta.get(VID_KEY).cloned());
    if vid == "null" {
        sobj::delete(&loc, object)?;
        app.store.usage.invalidate(&loc);
        return empty_response(StatusCode::NO_CONTENT)
            .header("X-Object-Version-Id", "null")
            .finish(body::empty());
    }
    let mut now_current = cur_vid.clone().unwrap_or_else(|| "null".into());
    if cur_vid.as_deref() == Some(vid) {
        sobj::delete(&loc, object)?;
        app.store.usage.invalidate(&loc);
        now_current = "null".into();
    }
    let mut was_marker = false;
    let status = match svers::hidden(&app.store, &loc)? {
        Some(h) => {
            let rel = version_rel(object, vid)?;
            was_marker = sobj::head(&app.store, &h, &rel).is_ok_and(|i| is_marker_info(&i));
            let s = match sobj::delete(&h, &rel) {
                Ok(()) => StatusCode::NO_CONTENT,
                Err(StoreError::NotFound) => StatusCode::NOT_FOUND,
                Err(e) => return Err(e.into()),
            };
            app.store.usage.invalidate(&h);
            s
        }
        None => StatusCode::NOT_FOUND,
    };
    let mut r = empty_response(status)
        .header("X-Object-Version-Id", vid)
        .header("X-Object-Current-Version-Id", now_current)
        .finish(body::empty())?;
    // A delete marker deleted says so by its type, as its GET does (the
    // S3 door answers `x-amz-delete-marker: true`).
    if was_marker && status == StatusCode::NO_CONTENT {
        let t = http::HeaderValue::from_static(DELETE_MARKER);
        r.headers_mut().insert(http::header::CONTENT_TYPE, t);
    }
    Ok(r)
}

/// PUT `?version-id=` with no body: that version becomes the current object.
/// With `create_only`, only if no object is current: the version is linked
/// into place by a link(2) that fails on a taken name (412), so an object
/// another request or node writes meanwhile is never replaced.
fn make_current(
    app: &App,
    ctx: &Ctx,
    (container, object): (&str, &ObjPath),
    vid: &str,
    create_only: bool,
) -> ApiResult<Response<Body>> {
    let loc = super::object_core::authorize(app, ctx, container, true)?;
    let h = svers::hidden(&app.store, &loc)?.ok_or(ApiError::NotFound)?;
    let rel = version_rel(object, vid)?;
    let info = match sobj::head(&app.store, &h, &rel) {
        Ok(i) => i,
        Err(StoreError::NotFound) => return Err(ApiError::NotFound),
        Err(e) => return Err(e.into()),
    };
    if is_marker_info(&info) {
        // A marker made current means no current object: with
        // `create_only` that is only true if there is none already.
        if create_only {
            if sobj::head(&app.store, &loc, object).is_ok() {
                return Err(StoreError::Exists.into());
            }
        } else {
            sobj::delete(&loc, object).or_else(|e| match e {
                StoreError::NotFound => Ok(()),
                e => Err(e),
            })?;
            app.store.usage.invalidate(&loc);
        }
    } else {
        svers::link_over(&app.store, &h, &rel, &loc, object, !create_only)?;
        super::write::linked(app, &ctx.write_dest(loc, container, object), &info);
    }
    empty_response(StatusCode::CREATED)
        .header("Etag", info.etag())
        .header("X-Object-Version-Id", vid)
        .header("Last-Modified", super::headers::http_date(info.timestamp()))
        .finish(body::empty())
}

/// One row of a versions listing.
struct Row {
    name: String,
    vid: String,
    info: Option<ObjectInfo>,
    latest: bool,
    subdir: bool,
}

/// `GET ?versions` of a versioned container: every version, JSON (blocking).
pub fn listing(
    app: &App,
    ctx: &Ctx,
    loc: &ContainerLoc,
) -> ApiResult<Option<(StatusCode, String)>> {
    if !ctx.query.contains_key("versions") {
        return Ok(None);
    }
    let q = &ctx.query;
    let json_ok = match q.get("format") {
        Some(f) => f.eq_ignore_ascii_case("json"),
        None => ctx.header("accept")?.is_none_or(|a| {
            a.split(',').any(|t| {
                let t = t.split(';').next().unwrap_or("").trim();
                matches!(t, "*/*" | "application/*" | "application/json")
            })
        }),
    };
    if !json_ok {
        return Err(ApiError::NotAcceptable);
    }
    let prefix = q.get("prefix").cloned().unwrap_or_default();
    let marker = q.get("marker").cloned();
    let vmarker = q.get("version_marker").cloned();
    if vmarker.is_some() && marker.is_none() {
        return Err(ApiError::BadRequest(
            "version_marker param requires marker".into(),
        ));
    }
    if let Some(v) = vmarker.as_deref().filter(|v| *v != "null") {
        if parse_vid(v).is_none() {
            return Err(ApiError::BadRequest("invalid version_marker param".into()));
        }
    }
    let delim = q.get("delimiter").cloned().filter(|d| !d.is_empty());
    if delim
        .as_deref()
        .is_some_and(|d| d.chars().any(|c| c.is_ascii_digit() || c == '.'))
    {
        return Err(ApiError::BadRequest("invalid delimiter param".into()));
    }
    let max = app.cfg.limits.container_listing_limit;
    let limit = match q.get("limit") {
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| {
                ApiError::PreconditionFailed("Value of limit must be a positive integer".into())
            })?
            .min(max),
        None => max,
    };
    let reverse = q.get("reverse").is_some_and(|v| truthy(v));

    let all = slist::Query {
        prefix: prefix.clone(),
        limit: usize::MAX,
        with_meta: true,
        ..Default::default()
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut current = std::collections::HashMap::new();
    // Current objects are read as a plain listing from the marker on: one
    // named by the marker itself is not known as current (as in Swift).
    let past_marker = |n: &str| match &marker {
        Some(m) if reverse => n.as_bytes() < m.as_bytes(),
        Some(m) => n.as_bytes() > m.as_bytes(),
        None => true,
    };
    for e in slist::list(&app.store, loc, &all)? {
        if let Entry::Object {
            name,
            info: Some(i),
        } = e
        {
            if !past_marker(&name) {
                continue;
            }
            match i.meta.get(VID_KEY) {
                Some(v) => {
                    current.insert(name, v.clone());
                }
                None => rows.push(Row {
                    name,
                    vid: "null".into(),
                    info: Some(i),
                    latest: true,
                    subdir: false,
                }),
            }
        }
    }
    let mut versions: Vec<Row> = Vec::new();
    if let Some(h) = svers::hidden(&app.store, loc)? {
        for e in slist::list(&app.store, &h, &all)? {
            if let Entry::Object {
                name,
                info: Some(i),
            } = e
            {
                let Some((n, v)) = name.rsplit_once('/') else {
                    continue;
                };
                if parse_vid(v).is_none() {
                    continue;
                }
                versions.push(Row {
                    name: n.to_string(),
                    vid: v.to_string(),
                    info: Some(i),
                    latest: false,
                    subdir: false,
                });
            }
        }
    }
    // Within a name, newest first; the current version and a newest delete
    // marker are the latest.
    versions.sort_by(|a, b| {
        a.name
            .as_bytes()
            .cmp(b.name.as_bytes())
            .then_with(|| vid_cmp(&b.vid, &a.vid))
    });
    let mut latest_seen: std::collections::HashSet<String> =
        rows.iter().map(|r| r.name.clone()).collect();
    for r in &mut versions {
        let cur = current.get(&r.name).is_some_and(|v| *v == r.vid);
        let marker = r.info.as_ref().is_some_and(is_marker_info);
        if cur || (marker && !latest_seen.contains(&r.name)) {
            r.latest = true;
            latest_seen.insert(r.name.clone());
        }
    }
    rows.extend(versions);
    // Null versions first within a name (a stable sort keeps the rest).
    rows.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    if let Some(m) = &marker {
        rows.retain(|r| {
            let after = if reverse {
                r.name.as_bytes() < m.as_bytes()
            } else {
                r.name.as_bytes() > m.as_bytes()
            };
            if after {
                return true;
            }
            if r.name != *m {
                return false;
            }
            match vmarker.as_deref() {
                None => false,
                Some("null") => r.vid != "null",
                Some(v) if reverse => r.vid != "null" && vid_cmp(&r.vid, v).is_gt(),
                Some(v) => r.vid != "null" && vid_cmp(&r.vid, v).is_lt(),
            }
        });
    }
    if let Some(d) = &delim {
        let mut out: Vec<Row> = Vec::new();
        for r in rows {
            match r.name[prefix.len()..].find(d.as_str()) {
                Some(i) => {
                    let sd = r.name[..prefix.len() + i + d.len()].to_string();
                    if !out.iter().any(|o| o.subdir && o.name == sd) {
                        out.push(Row {
                            name: sd,
                            vid: String::new(),
                            info: None,
                            latest: false,
                            subdir: true,
                        });
                    }
                }
                None => out.push(r),
            }
        }
        rows = out;
        rows.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    }
    if reverse {
        // Python's sorted(reverse=True) keeps equal names in their order.
        let mut groups: Vec<Vec<Row>> = Vec::new();
        for r in rows {
            match groups.last_mut() {
                Some(g) if g[0].name == r.name => g.push(r),
                _ => groups.push(vec![r]),
            }
        }
        groups.reverse();
        // Within a name: the null version, then the others oldest first.
        for g in &mut groups {
            let nulls = g.iter().take_while(|r| r.vid == "null").count();
            g[nulls..].reverse();
        }
        rows = groups.into_iter().flatten().collect();
    }
    rows.truncate(limit);
    let mut s = String::from("[");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        if r.subdir {
            s.push_str(&serde_json::json!({ "subdir": r.name }).to_string());
            continue;
        }
        let info = r.info.as_ref();
        let slo = info.and_then(app.listing.size_etag);
        let mut o = serde_json::json!({
            "name": r.name,
            "hash": info.map(|i| i.etag()).unwrap_or(""),
            "bytes": slo.as_ref().map(|s| s.0).or(info.map(|i| i.size)).unwrap_or(0),
            "content_type": info.map(raw_content_type).unwrap_or_default(),
            "last_modified": super::headers::iso_date(info.map(|i| i.timestamp()).unwrap_or(0.0)),
            "version_id": r.vid,
            "is_latest": r.latest,
        });
        if let Some((_, etag)) = slo {
            o["slo_etag"] = etag.into();
        }
        if let Some(etag) = info.and_then(super::listing::s3_etag) {
            o["s3_etag"] = etag.into();
        }
        s.push_str(&o.to_string());
    }
    s.push(']');
    Ok(Some((StatusCode::OK, s)))
}

fn raw_content_type(i: &ObjectInfo) -> String {
    if is_marker_info(i) {
        DELETE_MARKER.to_string()
    } else {
        i.content_type().to_string()
    }
}

fn vid_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (x, y) = (parse_vid(a).unwrap_or(0.0), parse_vid(b).unwrap_or(0.0));
    x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
}
