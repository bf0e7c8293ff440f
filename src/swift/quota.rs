//! Quotas, as Swift's container_quotas and account_quotas middleware:
//! `X-Container-Meta-Quota-Bytes` / `-Quota-Count` set by the container's
//! owner, and account quotas (`X-Account-Quota-Bytes`, `-Quota-Count`, per
//! policy `X-Account-Quota-Bytes-Policy-<name>` / `-Count-Policy-<name>`, and
//! the legacy `X-Account-Meta-Quota-Bytes`) that only a reseller admin may
//! set. An object write that would take a container or account over its
//! quota is refused with 413 before anything is written. Usage comes from
//! the store's usage cache, which a write through this node refreshes.
//!
//! The quota settings themselves are kept in memory for the usage cache's
//! lifetime (`usage_cache_secs`), so an ordinary PUT reads no container or
//! account metadata for them; a change made through this node applies at
//! once, one made through another node within that time (Swift's proxies
//! cache container and account info the same way).

use http::response::Builder;

use super::{App, Ctx};
use crate::http::error::{ApiError, ApiResult};
use crate::store::container::{self as scont, Usage};
use crate::store::meta::Meta;
use crate::store::ContainerLoc;

/// Account quotas are kept under these keys of the account metadata, which
/// listings and HEADs never show as they are (Swift's sysmeta).
const SYSMETA: &str = "X-Account-Sysmeta-";
const KINDS: [&str; 2] = ["Quota-Bytes", "Quota-Count"];

fn is_digits(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

/// Refuses non-integer container quotas on a container PUT or POST.
pub fn check_container_headers(ctx: &Ctx) -> ApiResult<()> {
    for (h, what) in [
        ("x-container-meta-quota-bytes", "bytes"),
        ("x-container-meta-quota-count", "count"),
    ] {
        if let Some(v) = ctx.header(h)? {
            if !v.is_empty() && !is_digits(v) {
                return Err(ApiError::BadRequest(format!("Invalid {what} quota.")));
            }
        }
    }
    Ok(())
}

/// The account quota changes an account POST asks for, as stored keys (an
/// empty value removes). Only a reseller admin may set or remove them (403
/// for anyone else); values must be integers (400).
pub fn account_updates(app: &App, ctx: &Ctx) -> ApiResult<Meta> {
    let mut asked: Vec<(String, Option<String>)> = Vec::new();
    for kind in KINDS {
        let mut v = ctx
            .header(&format!("x-account-{kind}"))?
            .map(str::to_string);
        // The legacy user-metadata header stands for the new one.
        if kind == "Quota-Bytes" && v.as_deref().is_none_or(str::is_empty) {
            if let Some(l) = ctx.header("x-account-meta-quota-bytes")? {
                v = Some(l.to_string());
            } else if ctx
                .headers
                .contains_key("x-remove-account-meta-quota-bytes")
            {
                v = Some(String::new());
            }
        }
        if ctx
            .headers
            .contains_key(format!("x-remove-account-{kind}").as_str())
        {
            v = Some(String::new());
        }
        asked.push((format!("{SYSMETA}{kind}"), v));
        for p in &app.store.policies {
            let tail = format!("account-{kind}-policy-{}", p.name);
            let v = if ctx
                .headers
                .contains_key(format!("x-remove-{tail}").as_str())
            {
                Some(String::new())
            } else {
                ctx.header(&format!("x-{tail}"))?.map(str::to_string)
            };
            asked.push((policy_key(kind, &p.name), v));
        }
    }
    let reseller = ctx.id.as_ref().is_some_and(|i| i.reseller_admin);
    if !reseller {
        if asked.iter().any(|(_, v)| v.is_some()) {
            return Err(ApiError::Forbidden);
        }
        return Ok(Meta::new());
    }
    let mut out = Meta::new();
    for (k, v) in asked {
        if let Some(v) = v {
            let v = v.trim().to_string();
            if !v.is_empty() && !is_digits(&v) {
                return Err(ApiError::BadRequest("Invalid quota.".into()));
            }
            out.insert(k, v);
        }
    }
    Ok(out)
}

fn policy_key(kind: &str, policy: &str) -> String {
    format!("{SYSMETA}{kind}-Policy-{}", policy.to_ascii_lowercase())
}

/// Adds the account's quotas to an account HEAD or GET.
pub fn account_headers(mut b: Builder, app: &App, m: &Meta) -> Builder {
    for kind in KINDS {
        if let Some(v) = m.get(&format!("{SYSMETA}{kind}")) {
            b = b.header(format!("X-Account-{kind}"), v);
        }
        for p in &app.store.policies {
            if let Some(v) = m.get(&policy_key(kind, &p.name)) {
                b = b.header(format!("X-Account-{kind}-Policy-{}", p.name), v);
            }
        }
    }
    b
}

fn quota(m: &Meta, key: &str) -> Option<u64> {
    m.get(key)
        .filter(|v| is_digits(v))
        .and_then(|v| v.parse().ok())
}

fn exceeded(msg: &str) -> ApiError {
    ApiError::TooLarge(msg.into())
}

/// Refuses (413) a write of one object of `size` bytes into `loc` that
/// would go over the container's quota (versions count, as in Swift).
pub fn check_container(app: &App, loc: &ContainerLoc, size: u64) -> ApiResult<()> {
    let cm = app.info.container(loc)?;
    let (cb, cc) = (
        quota(&cm, "X-Container-Meta-Quota-Bytes"),
        quota(&cm, "X-Container-Meta-Quota-Count"),
    );
    if cb.is_some() || cc.is_some() {
        let mut u = app.store.usage.get(loc)?;
        u.bytes += app.features.container_bytes(app, loc);
        if cb.is_some_and(|q| u.bytes + size > q) || cc.is_some_and(|q| u.objects + 1 > q) {
            return Err(exceeded("Upload exceeds quota."));
        }
    }
    Ok(())
}

/// Refuses (413) a write of one object of `size` bytes into `loc` (of
/// `account`) that would go over the account's quota; `exempt` (a reseller
/// admin) is not held to it.
pub fn check_account(
    app: &App,
    account: &str,
    exempt: bool,
    loc: &ContainerLoc,
    size: u64,
) -> ApiResult<()> {
    if exempt {
        return Ok(());
    }
    let am = app.info.account(&app.store, account).unwrap_or_default();
    if !am
        .keys()
        .any(|k| k.starts_with(SYSMETA) || k == "X-Account-Meta-Quota-Bytes")
    {
        return Ok(());
    }
    let policy = &app.store.policies[loc.policy].name;
    let (total, in_policy) = account_usage(app, account, loc.policy)?;
    let bytes = quota(&am, &format!("{SYSMETA}Quota-Bytes"))
        .or_else(|| quota(&am, "X-Account-Meta-Quota-Bytes"));
    if bytes.is_some_and(|q| total.bytes + size > q)
        || quota(&am, &format!("{SYSMETA}Quota-Count")).is_some_and(|q| total.objects + 1 > q)
    {
        return Err(exceeded("Upload exceeds quota."));
    }
    if quota(&am, &policy_key("Quota-Bytes", policy)).is_some_and(|q| in_policy.bytes + size > q)
        || quota(&am, &policy_key("Quota-Count", policy)).is_some_and(|q| in_policy.objects + 1 > q)
    {
        return Err(exceeded("Upload exceeds policy quota."));
    }
    Ok(())
}

/// Usage of the whole account and of its containers on one policy.
fn account_usage(app: &App, account: &str, policy: usize) -> ApiResult<(Usage, Usage)> {
    let store = &app.store;
    let (mut total, mut in_policy) = (Usage::default(), Usage::default());
    for n in scont::list_containers(store, account)? {
        if let Ok(loc) = store.find_container(account, &n) {
            let u = store.usage.get(&loc)?;
            total.objects += u.objects;
            total.bytes += u.bytes;
            if loc.policy == policy {
                in_policy.objects += u.objects;
                in_policy.bytes += u.bytes;
            }
        }
    }
    Ok((total, in_policy))
}
