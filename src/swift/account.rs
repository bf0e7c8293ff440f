//! Account requests: HEAD/GET (container listing merged from every policy's
//! device) and POST (metadata). The account directory appears on first use.

use std::sync::Arc;

use http::{Method, Response, StatusCode};

use super::headers::{check_totals, collect_meta, is_owner_only};
use super::listing::{self, ContainerRow, Format};
use super::{account_acl, blocking, empty_response, App, Ctx};
use crate::http::body::{self, Body};
use crate::http::error::{ApiError, ApiResult, Finish};
use crate::store::container as scont;
use crate::store::meta::{self, keys};

pub async fn handle(app: Arc<App>, ctx: Ctx) -> ApiResult<Response<Body>> {
    // No account management: like Swift's proxy with
    // allow_account_management off, PUT and DELETE are no methods of an
    // account, 405 before anyone is asked who the caller is.
    if !matches!(ctx.method, Method::GET | Method::HEAD | Method::POST) {
        return Err(ApiError::MethodNotAllowed);
    }
    // Owners and account ACLs (read-only, read-write: reads; admin: all);
    // container ACLs never apply here.
    ctx.authorize(
        None,
        false,
        ctx.method != Method::GET && ctx.method != Method::HEAD,
        None,
    )?;
    match ctx.method {
        Method::GET | Method::HEAD => get(app, ctx).await,
        _ => post(app, ctx).await,
    }
}

async fn post(app: Arc<App>, ctx: Ctx) -> ApiResult<Response<Body>> {
    let mut m = collect_meta(&ctx.headers, "account", &app.cfg.limits)?;
    let acl = ctx.header(account_acl::HEADER)?.map(str::to_string);
    if let Some(a) = &acl {
        account_acl::validate(a).map_err(|e| {
            ApiError::BadRequest(format!(
                "{} invalid: {e}\n\nInput: {a}\n",
                account_acl::HEADER
            ))
        })?;
    }
    app.features.account_request(&app, &ctx, &mut m)?;
    blocking(&app, move |app| {
        let mut merged = scont::account_meta(&app.store, &ctx.account).unwrap_or_default();
        scont::apply_user_meta(&mut merged, m.clone());
        check_totals(&merged, "account", &app.cfg.limits)?;
        scont::update_account_meta(&app.store, &ctx.account, |old| {
            scont::apply_user_meta(old, m);
            match acl {
                Some(a) if !a.is_empty() => {
                    old.insert(account_acl::SYSMETA_KEY.into(), a);
                }
                Some(_) => {
                    old.remove(account_acl::SYSMETA_KEY);
                }
                None => {}
            }
        })?;
        app.info.forget_account(&ctx.account);
        empty_response(StatusCode::NO_CONTENT).finish(body::empty())
    })
    .await
}

async fn get(app: Arc<App>, ctx: Ctx) -> ApiResult<Response<Body>> {
    let head = ctx.method == Method::HEAD;
    let fmt = listing::format(&ctx.query, &ctx.headers)?;
    let (q, _) = listing::query(&ctx.query, app.cfg.limits.account_listing_limit)?;
    blocking(&app, move |app| {
        let store = &app.store;
        scont::ensure_account(store, store.default_policy(), &ctx.account)?;
        let m = scont::account_meta(store, &ctx.account)?;
        let names = scont::list_containers(store, &ctx.account)?;
        // Totals need every container's usage; rows only the page's.
        let mut total = scont::Usage::default();
        let mut usage = std::collections::HashMap::new();
        for n in &names {
            if let Ok(loc) = store.find_container(&ctx.account, n) {
                let u = store.usage.get(&loc)?;
                total.objects += u.objects;
                total.bytes += u.bytes;
                let ts = scont::container_meta(&loc)
                    .ok()
                    .and_then(|m| {
                        m.get(keys::PUT_TIMESTAMP)
                            .and_then(|t| meta::parse_timestamp(t))
                    })
                    .unwrap_or(0.0);
                let policy = store.policies[loc.policy].name.clone();
                usage.insert(n.clone(), (u, ts, policy));
            }
        }
        let mut b = Response::builder()
            .header("X-Account-Container-Count", names.len())
            .header("X-Account-Object-Count", total.objects)
            .header("X-Account-Bytes-Used", total.bytes)
            .header("Accept-Ranges", "bytes")
            .header("Content-Type", fmt.content_type());
        if let Some(ts) = m.get(keys::TIMESTAMP) {
            b = b
                .header("X-Timestamp", ts)
                .header("X-PUT-Timestamp", m.get(keys::PUT_TIMESTAMP).unwrap_or(ts));
        }
        let owner = ctx.is_owner();
        if owner {
            if let Some(v) = m
                .get(account_acl::SYSMETA_KEY)
                .and_then(|a| account_acl::display(a))
            {
                b = b.header(account_acl::HEADER, v);
            }
        }
        b = app.features.account_headers(app, b, &m);
        if let Some(d) = m.get(super::keystone_auth::DOMAIN_SYSMETA) {
            b = b.header("X-Account-Project-Domain-Id", d); // as keystoneauth shows it
        }
        for (k, v) in &m {
            if k.starts_with("X-Account-Meta-") && (owner || !is_owner_only(k)) {
                if let Ok(v) = http::HeaderValue::from_bytes(v.as_bytes()) {
                    b = b.header(k.as_str(), v);
                }
            }
        }
        if head {
            return b
                .status(StatusCode::NO_CONTENT)
                .header("Content-Length", "0")
                .finish(body::empty());
        }
        let rows = page(&names, &q, |n| {
            let (u, ts, policy) = usage.get(n).cloned().unwrap_or_default();
            (u.objects, u.bytes, ts, policy)
        });
        let (status, text) = listing::render_containers(&rows, fmt, &ctx.account);
        let _ = Format::Plain;
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

/// Applies prefix, delimiter, markers, reverse and limit to sorted names.
fn page(
    names: &[String],
    q: &crate::store::listing::Query,
    stats: impl Fn(&str) -> (u64, u64, f64, String),
) -> Vec<ContainerRow> {
    let (lo, hi) = if q.reverse {
        (q.end_marker.as_str(), q.marker.as_str())
    } else {
        (q.marker.as_str(), q.end_marker.as_str())
    };
    let iter: Box<dyn Iterator<Item = &String>> = if q.reverse {
        Box::new(names.iter().rev())
    } else {
        Box::new(names.iter())
    };
    let mut rows: Vec<ContainerRow> = Vec::new();
    for n in iter {
        if rows.len() >= q.limit {
            break;
        }
        if !n.starts_with(&q.prefix)
            || (!lo.is_empty() && n.as_str() <= lo)
            || (!hi.is_empty() && n.as_str() >= hi)
        {
            continue;
        }
        if let Some(d) = q.delimiter.as_deref() {
            if let Some(i) = n[q.prefix.len()..].find(d) {
                let sub = &n[..q.prefix.len() + i + d.len()];
                if rows.last().is_some_and(|r| r.name == sub) || sub == lo {
                    continue;
                }
                rows.push(ContainerRow {
                    name: sub.to_string(),
                    count: 0,
                    bytes: 0,
                    last_modified: 0.0,
                    subdir: true,
                    policy: String::new(),
                });
                continue;
            }
        }
        let (count, bytes, last_modified, policy) = stats(n);
        rows.push(ContainerRow {
            name: n.clone(),
            count,
            bytes,
            last_modified,
            subdir: false,
            policy,
        });
    }
    rows
}
