//! Container requests: create, metadata and ACLs, delete, and listings.

use std::sync::Arc;

use http::{Method, Response, StatusCode};

use super::auth::validate_acl;
use super::headers::{check_totals, collect_meta, is_owner_only};
use super::listing::{self, Format};
use super::{blocking, empty_response, App, Ctx};
use crate::http::body::{self, Body};
use crate::http::error::{ApiError, ApiResult, Finish};
use crate::store::container::{self as scont, Usage};
use crate::store::listing as slist;
use crate::store::meta::{keys, Meta};
use crate::store::Error as StoreError;

pub async fn handle(app: Arc<App>, ctx: Ctx, container: String) -> ApiResult<Response<Body>> {
    match ctx.method {
        Method::GET | Method::HEAD => get(app, ctx, container).await,
        Method::PUT => put(app, ctx, container).await,
        Method::POST => post(app, ctx, container).await,
        Method::DELETE => delete(app, ctx, container).await,
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// Metadata and ACL headers of a PUT or POST, as stored keys. ACLs, the sync
/// key and tempurl keys are changed by owners only; others' are ignored, as
/// Swift does.
fn request_meta(app: &App, ctx: &Ctx, owner: bool) -> ApiResult<Meta> {
    let mut m = collect_meta(&ctx.headers, "container", &app.cfg.limits)?;
    app.features.container_request(ctx, owner, &mut m)?;
    if !owner {
        m.retain(|k, _| !is_owner_only(k));
        return Ok(m);
    }
    for (h, key) in [
        ("x-container-read", "X-Container-Read"),
        ("x-container-write", "X-Container-Write"),
        ("x-container-sync-key", "X-Container-Sync-Key"),
    ] {
        if let Some(v) = ctx.header(h)? {
            if h != "x-container-sync-key" {
                validate_acl(v).map_err(ApiError::BadRequest)?;
            }
            m.insert(key.into(), v.trim().to_string());
        }
        if ctx
            .headers
            .contains_key(format!("x-remove-{}", &h[2..]).as_str())
        {
            m.insert(key.into(), String::new());
        }
    }
    Ok(m)
}

/// Authorizes a change to the container; `Ok(true)` for its owners.
fn may_change(ctx: &Ctx, container: &str) -> ApiResult<bool> {
    ctx.authorize(Some(container), false, true, None)
}

async fn put(app: Arc<App>, ctx: Ctx, container: String) -> ApiResult<Response<Body>> {
    let owner = may_change(&ctx, &container)?;
    let m = request_meta(&app, &ctx, owner)?;
    let policy_name = ctx
        .header("x-storage-policy")?
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty());
    blocking(&app, move |app| {
        let store = &app.store;
        let policy = match &policy_name {
            Some(n) => store.policy_by_name(n)?,
            None => store.default_policy(),
        };
        let existing = match store.find_container(&ctx.account, &container) {
            Ok(loc) => Some(loc),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let policy = match existing {
            Some(loc) if policy_name.is_some() && loc.policy != policy.index => {
                return Err(ApiError::Conflict(format!(
                    "Container exists with storage policy {}",
                    store.policies[loc.policy].name
                )))
            }
            Some(loc) => {
                let mut merged = scont::container_meta(&loc)?;
                scont::apply_user_meta(&mut merged, m.clone());
                check_totals(&merged, "container", &app.cfg.limits)?;
                app.features.container_merged(&merged, &m)?;
                &store.policies[loc.policy]
            }
            None => policy,
        };
        ctx.note.policy(policy.index);
        let created = scont::create(store, &ctx.account, &container, policy, m)?;
        forget_put(app, &ctx.account, &container, created);
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::ACCEPTED
        };
        empty_response(status).finish(body::empty())
    })
    .await
}

async fn post(app: Arc<App>, ctx: Ctx, container: String) -> ApiResult<Response<Body>> {
    let owner = may_change(&ctx, &container)?;
    let m = request_meta(&app, &ctx, owner)?;
    blocking(&app, move |app| {
        let policy = update_meta(app, &ctx.account, &container, m)?;
        ctx.note.policy(policy);
        empty_response(StatusCode::NO_CONTENT).finish(body::empty())
    })
    .await
}

/// Forgets what was known of a container a PUT found or `created`: its
/// metadata; when created, also its usage (a container of the same name
/// deleted elsewhere may be cached) and the account list (its account may
/// be new).
pub fn forget_put(app: &App, account: &str, container: &str, created: bool) {
    app.info.forget_container(account, container);
    if created {
        if let Ok(loc) = app.store.find_container(account, container) {
            app.store.usage.forget(&loc);
        }
        app.info.forget_account_names();
    }
}

/// Merges `m` into the container's metadata (blocking; "" removes a key)
/// when the result keeps Swift's limits, in one write, and forgets what
/// the info cache knew of it. Returns the container's policy index. The
/// caller has authorized the change.
pub fn update_meta(app: &App, account: &str, container: &str, m: Meta) -> ApiResult<usize> {
    let loc = app.store.find_container(account, container)?;
    let mut merged = scont::container_meta(&loc)?;
    scont::apply_user_meta(&mut merged, m.clone());
    check_totals(&merged, "container", &app.cfg.limits)?;
    app.features.container_merged(&merged, &m)?;
    scont::update_container_meta(&app.store, &loc, m)?;
    app.info.forget_container(account, container);
    Ok(loc.policy)
}

async fn delete(app: Arc<App>, ctx: Ctx, container: String) -> ApiResult<Response<Body>> {
    may_change(&ctx, &container)?;
    blocking(&app, move |app| {
        let loc = app.store.find_container(&ctx.account, &container)?;
        ctx.note.policy(loc.policy);
        app.features.container_delete(app, &loc)?;
        scont::delete(&loc)?;
        app.store.usage.forget(&loc);
        app.info.forget_container(&ctx.account, &container);
        empty_response(StatusCode::NO_CONTENT).finish(body::empty())
    })
    .await
}

async fn get(app: Arc<App>, ctx: Ctx, container: String) -> ApiResult<Response<Body>> {
    let head = ctx.method == Method::HEAD;
    let fmt = listing::format(&ctx.query, &ctx.headers)?;
    let (mut q, no_subdirs) = listing::query(&ctx.query, app.cfg.limits.container_listing_limit)?;
    q.with_meta = fmt != Format::Plain;
    blocking(&app, move |app| {
        let loc = match app.store.find_container(&ctx.account, &container) {
            Ok(loc) => loc,
            // As Swift's proxy: the missing container's (absent) read ACL
            // is asked first, so only those who could read it learn that
            // it is not there.
            Err(StoreError::NotFound) => {
                ctx.authorize(Some(&container), false, false, None)?;
                return Err(ApiError::NotFound);
            }
            Err(e) => return Err(e.into()),
        };
        ctx.note.policy(loc.policy);
        let m = scont::container_meta(&loc)?;
        let owner = ctx.authorize(
            Some(&container),
            false,
            false,
            m.get("X-Container-Read").map(String::as_str),
        )?;
        let mut usage: Usage = app.store.usage.get(&loc)?;
        usage.bytes += app.features.container_bytes(app, &loc);
        let mut b = Response::builder()
            .header("X-Container-Object-Count", usage.objects)
            .header("X-Container-Bytes-Used", usage.bytes)
            .header("X-Storage-Policy", &app.store.policies[loc.policy].name)
            .header("Accept-Ranges", "bytes")
            .header("Content-Type", fmt.content_type());
        if let Some(ts) = m.get(keys::TIMESTAMP) {
            b = b
                .header("X-Timestamp", ts)
                .header("X-PUT-Timestamp", m.get(keys::PUT_TIMESTAMP).unwrap_or(ts));
            let put = m.get(keys::PUT_TIMESTAMP).unwrap_or(ts);
            if let Some(t) = crate::store::meta::parse_timestamp(put) {
                b = b.header("Last-Modified", super::headers::http_date(t));
            }
        }
        for (k, v) in &m {
            let shown = k.starts_with("X-Container-Meta-")
                || k == "X-Container-Read"
                || k == "X-Container-Write"
                || k == "X-Container-Sync-Key";
            if shown && (owner || !is_owner_only(k)) {
                if let Ok(v) = http::HeaderValue::from_bytes(v.as_bytes()) {
                    b = b.header(k.as_str(), v);
                }
            }
        }
        b = app.features.container_headers(b, &m);
        if head {
            return b
                .status(StatusCode::NO_CONTENT)
                .header("Content-Length", "0")
                .finish(body::empty());
        }
        let (status, text) = match app.features.container_listing(app, &ctx, &loc)? {
            Some(v) => {
                if let Some(h) = b.headers_mut() {
                    let json = http::HeaderValue::from_static("application/json; charset=utf-8");
                    h.insert(http::header::CONTENT_TYPE, json);
                }
                v
            }
            None => {
                let mut entries = slist::list(&app.store, &loc, &q)?;
                if no_subdirs {
                    entries.retain(|e| matches!(e, slist::Entry::Object { .. }));
                }
                listing::render_objects(&entries, fmt, &ctx.account, &container, &app.listing)
            }
        };
        b.status(status)
            .header("Content-Length", text.len())
            .finish(if status == StatusCode::NO_CONTENT {
                body::empty()
            } else {
                body::full(text)
            })
    })
    .await
}
