//! Legacy object versioning, as Swift's versioned_writes middleware: a
//! container's owner sets `X-Versions-Location` (stack mode) or
//! `X-History-Location` (history mode) to the name of another container of
//! the account, the archive.
//!
//! - A write over an existing object (PUT, COPY, `X-Copy-From`, an SLO
//!   manifest) first keeps the old object in the archive as
//!   `<3 hex digits: byte length of name><name>/<its X-Timestamp>`. On disk
//!   that is a hard link to the old file (its sidecar too), made just before
//!   the new data is renamed into place: no data is copied, and the archived
//!   version keeps its inode and metadata to itself. Across devices (archive
//!   on another policy) the object is copied through the store's writer.
//!   POST changes metadata only and keeps no version.
//! - DELETE in stack mode puts the newest version back (a rename, or a copy
//!   across devices) in place of the object; with none, it deletes. In
//!   history mode it moves the object into the archive, adds a delete marker
//!   (an empty object of type `application/x-deleted;swift_versions_deleted=1`)
//!   and answers 404 when there was no object to delete.
//! - As in Swift, the caller needs write access to the versioned container
//!   only; the archive is written on its behalf, and it must exist (412
//!   otherwise). Directory markers are not versioned.
//!
//! The settings are container sysmeta, kept in memory for the usage cache's
//! lifetime like the quota settings (a change through this node applies at
//! once).

use http::response::Builder;
use http::Response;

use crate::http::body::Body;

use super::{App, Ctx};
use crate::http::error::{ApiError, ApiResult, Finish};
use crate::store::listing::{self as slist, Entry};
use crate::store::meta::{self, keys, Meta};
use crate::store::object as sobj;
use crate::store::versions::{self as svers, Moved};
use crate::store::write::Writer;
use crate::store::{ContainerLoc, Error as StoreError, ObjPath};

/// Content-Type of a history-mode delete marker.
pub const DELETE_MARKER: &str = "application/x-deleted;swift_versions_deleted=1";
const LOCATION_KEY: &str = "X-Container-Sysmeta-Versions-Location";
const MODE_KEY: &str = "X-Container-Sysmeta-Versions-Mode";

/// How DELETE treats a versioned object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Stack,
    History,
}

/// A container's legacy versioning: where versions go, and the mode.
#[derive(Debug, Clone)]
pub struct Setting {
    /// The archive container's name (decoded).
    pub location: String,
    pub mode: Mode,
}

/// `/info` entry.
pub fn info() -> serde_json::Value {
    serde_json::json!({ "allowed_flags": ["x-versions-location", "x-history-location"] })
}

/// The versioning keys of a container's metadata (blocking; cached).
pub fn settings(app: &App, loc: &ContainerLoc) -> ApiResult<Meta> {
    let m = app.info.container(loc)?;
    Ok(m.iter()
        .filter(|(k, _)| k.contains("Versions-"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect())
}

fn setting_of(m: &Meta) -> Option<Setting> {
    let raw = m.get(LOCATION_KEY).filter(|v| !v.is_empty())?;
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned();
    let location = decoded.split('/').next().unwrap_or("").to_string();
    let mode = match m.get(MODE_KEY).map(String::as_str) {
        Some("history") => Mode::History,
        _ => Mode::Stack,
    };
    (!location.is_empty()).then_some(Setting { location, mode })
}

/// True when `m` (container metadata) sets a legacy versions location.
pub fn has_location(m: &Meta) -> bool {
    setting_of(m).is_some()
}

/// The container's legacy versioning, if any (blocking; cached).
pub fn setting(app: &App, loc: &ContainerLoc) -> ApiResult<Option<Setting>> {
    Ok(setting_of(&settings(app, loc)?))
}

/// Turns `X-Versions-Location` / `X-History-Location` (and their
/// `X-Remove-` forms) of a container PUT or POST into stored keys, checked
/// as Swift does. Only owners change them.
pub fn container_headers(ctx: &Ctx, owner: bool, m: &mut Meta) -> ApiResult<()> {
    let get = |h: &str| ctx.header(h).map(|v| v.map(str::trim));
    let mut versions = get("x-versions-location")?;
    let mut history = get("x-history-location")?;
    if let (Some(v), Some(h)) = (versions, history) {
        if h.is_empty() {
            history = None;
        } else if !v.is_empty() {
            return Err(ApiError::BadRequest(
                "Only one of x-versions-location or x-history-location may be specified".into(),
            ));
        } else {
            versions = None;
        }
    }
    let set = match (versions, history) {
        (Some(v), _) => Some((v, "stack")),
        (None, Some(h)) => Some((h, "history")),
        (None, None) => None,
    };
    let removing = ["x-remove-versions-location", "x-remove-history-location"]
        .iter()
        .any(|h| ctx.header(h).ok().flatten().is_some_and(|v| !v.is_empty()));
    if !owner {
        return Ok(());
    }
    match set {
        Some((v, mode)) if !v.is_empty() => {
            if v.contains('/') {
                return Err(ApiError::PreconditionFailed(
                    "Container name cannot contain slashes".into(),
                ));
            }
            m.insert(LOCATION_KEY.into(), v.to_string());
            m.insert(MODE_KEY.into(), mode.into());
        }
        Some(_) => remove(m),
        None if removing => remove(m),
        None => {}
    }
    Ok(())
}

fn remove(m: &mut Meta) {
    m.insert(LOCATION_KEY.into(), String::new());
    m.insert(MODE_KEY.into(), String::new());
}

/// Adds the versioning header to a container HEAD or GET.
pub fn container_response(b: Builder, m: &Meta) -> Builder {
    let Some(v) = m.get(LOCATION_KEY).filter(|v| !v.is_empty()) else {
        return b;
    };
    match m.get(MODE_KEY).map(String::as_str) {
        Some("history") => b.header("X-History-Location", v),
        _ => b.header("X-Versions-Location", v),
    }
}

/// The archive name of `object`'s version made at `ts`.
pub fn version_name(object: &str, ts: f64) -> String {
    format!("{}{}", prefix(object), meta::normalize_timestamp(ts))
}

fn prefix(object: &str) -> String {
    format!("{:03x}{object}/", object.len())
}

/// [`version_name`] as the object name it is in the archive.
fn version_path(object: &ObjPath, ts: f64) -> ApiResult<ObjPath> {
    Ok(ObjPath::from_parts(version_name(object, ts))?)
}

/// The archive container of `setting` (412 when it does not exist).
fn archive_loc(app: &App, account: &str, s: &Setting) -> ApiResult<ContainerLoc> {
    match app.store.find_container(account, &s.location) {
        Ok(l) => Ok(l),
        Err(StoreError::NotFound) => Err(ApiError::PreconditionFailed(
            "The versions container does not exist".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// A version kept in the archive for a write in progress; dropped without
/// [`Archived::keep`], it is removed again (the write failed: the object
/// stays as it was, and no extra name shares its inode).
pub struct Archived {
    loc: ContainerLoc,
    name: ObjPath,
    kept: bool,
}

impl Archived {
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Archived {
    fn drop(&mut self) {
        if !self.kept {
            let _ = sobj::delete(&self.loc, &self.name);
        }
    }
}

/// Keeps the current `object` of `loc` (of `account`) in the archive before
/// it is replaced, when the container is versioned and the object exists:
/// a commit hook of the write path (`swift::write`, given by `features.rs`).
pub fn archive(
    app: &App,
    account: &str,
    loc: &ContainerLoc,
    object: &ObjPath,
) -> ApiResult<Option<Archived>> {
    let Some(s) = setting(app, loc)? else {
        return Ok(None);
    };
    let info = match sobj::head(&app.store, loc, object) {
        Ok(i) if !i.is_dir_marker() && !super::object_core::expired(&i) => i,
        Ok(_) | Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let vloc = archive_loc(app, account, &s)?;
    let name = version_path(object, info.timestamp())?;
    let how = keep_copy(app, loc, object, &vloc, &name, false)?;
    app.store.usage.invalidate(&vloc);
    if how == Moved::Existed {
        return Ok(None);
    }
    // The version keeps the object's X-Delete-At (as Swift's archived
    // copy does), so it is queued under its own name.
    super::expirer::note(app, &vloc, account, &s.location, &name, &info.meta);
    Ok(Some(Archived {
        loc: vloc,
        name,
        kept: false,
    }))
}

/// Puts `src_rel` of `src` at `dst_rel` of `dst`: linked (or moved, with
/// `moving`) when both are on one device, else copied through the writer
/// (and the source then deleted, when moving).
fn keep_copy(
    app: &App,
    src: &ContainerLoc,
    src_rel: &ObjPath,
    dst: &ContainerLoc,
    dst_rel: &ObjPath,
    moving: bool,
) -> ApiResult<Moved> {
    let store = &app.store;
    let how = if moving {
        svers::rename(store, src, src_rel, dst, dst_rel)?
    } else {
        svers::link(store, src, src_rel, dst, dst_rel)?
    };
    if how == Moved::CrossDevice {
        let mut o = sobj::open(store, src, src_rel)?;
        let mut w = Writer::create(store, dst, dst_rel)?;
        w.copy_from(&mut o.file)?;
        w.commit(o.info.meta, None)?;
        if moving {
            sobj::delete(src, src_rel)?;
        }
    }
    Ok(how)
}

fn is_marker(e: &Entry) -> bool {
    matches!(e, Entry::Object { info: Some(i), .. }
        if i.meta.get(keys::CONTENT_TYPE).map(String::as_str) == Some(DELETE_MARKER))
}

/// Handles a DELETE of `object` in a container with legacy versioning
/// (already authorized; the caller asks object versioning first). `None`
/// when the container is not versioned or the plain delete is what remains
/// to do.
pub fn delete(
    app: &App,
    ctx: &Ctx,
    loc: &ContainerLoc,
    object: &ObjPath,
) -> ApiResult<Option<Response<Body>>> {
    let Some(s) = setting(app, loc)? else {
        return Ok(None);
    };
    let vloc = match archive_loc(app, &ctx.account, &s) {
        Ok(l) => l,
        // Nothing to restore from a missing archive: a plain delete.
        Err(ApiError::PreconditionFailed(_)) if s.mode == Mode::Stack => return Ok(None),
        Err(e) => return Err(e),
    };
    let done = match s.mode {
        Mode::History => delete_push(app, loc, object, &vloc),
        Mode::Stack => delete_pop(app, loc, object, &vloc),
    };
    app.store.usage.invalidate(&vloc);
    app.store.usage.invalidate(loc);
    done?
        .map(|()| {
            super::empty_response(http::StatusCode::NO_CONTENT).finish(crate::http::body::empty())
        })
        .transpose()
}

/// History mode: the object goes to the archive, followed by a marker.
fn delete_push(
    app: &App,
    loc: &ContainerLoc,
    object: &ObjPath,
    vloc: &ContainerLoc,
) -> ApiResult<Option<()>> {
    let existed = match sobj::head(&app.store, loc, object) {
        Ok(i) if i.is_dir_marker() => return Ok(None),
        Ok(i) if super::object_core::expired(&i) => false,
        Ok(i) => {
            let name = version_path(object, i.timestamp())?;
            keep_copy(app, loc, object, vloc, &name, true)?;
            true
        }
        Err(StoreError::NotFound) => false,
        Err(e) => return Err(e.into()),
    };
    let now = meta::parse_timestamp(&meta::now_timestamp()).unwrap_or(0.0);
    let w = Writer::create(&app.store, vloc, &version_path(object, now)?)?;
    let mut m = Meta::new();
    m.insert(keys::CONTENT_TYPE.into(), DELETE_MARKER.into());
    w.commit(m, None)?;
    if existed {
        Ok(Some(()))
    } else {
        Err(ApiError::NotFound)
    }
}

/// Moves a version back in place of the object; false when it is gone.
fn restore(
    app: &App,
    vloc: &ContainerLoc,
    version: &str,
    loc: &ContainerLoc,
    object: &ObjPath,
) -> ApiResult<bool> {
    let Ok(version) = ObjPath::from_parts(version.to_string()) else {
        return Ok(false);
    };
    match keep_copy(app, vloc, &version, loc, object, true) {
        Ok(_) => Ok(true),
        Err(ApiError::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Stack mode: the newest version (if any) replaces the object.
fn delete_pop(
    app: &App,
    loc: &ContainerLoc,
    object: &ObjPath,
    vloc: &ContainerLoc,
) -> ApiResult<Option<()>> {
    let q = slist::Query {
        prefix: prefix(object),
        reverse: true,
        limit: 10_000,
        with_meta: true,
        ..Default::default()
    };
    let items = slist::list(&app.store, vloc, &q)?;
    let mut iter = items.iter().filter(|e| matches!(e, Entry::Object { .. }));
    while let Some(top) = iter.next() {
        if is_marker(top) {
            // The object was deleted in history mode: with data back in
            // place since, that is what goes; else the version before the
            // marker comes back and the marker goes.
            match sobj::head(&app.store, loc, object) {
                Ok(_) => return Ok(None),
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
            for v in iter.by_ref() {
                if is_marker(v) || restore(app, vloc, v.name(), loc, object)? {
                    break;
                }
            }
            if let Ok(top) = ObjPath::from_parts(top.name().to_string()) {
                sobj::delete(vloc, &top)?;
            }
            return Ok(Some(()));
        }
        if restore(app, vloc, top.name(), loc, object)? {
            return Ok(Some(()));
        }
    }
    Ok(None)
}
