//! RFC-compliant (quoted) ETags, as Swift's etag_quoter middleware: object
//! responses send `ETag: "<md5>"` when the container says so
//! (`X-Container-Rfc-Compliant-Etags: true`), else when its account says so
//! (`X-Account-Rfc-Compliant-Etags`), else as `[etag_quoter]
//! enable_by_default` says. The settings are kept as sysmeta and shown back
//! under the client's header names; an empty value or `X-Remove-` unsets one.
//!
//! An object GET reads no container or account metadata: what a container
//! resolves to is kept in memory for the usage cache's lifetime
//! (`usage_cache_secs`), and a change through this node applies at once (as
//! the quota settings, see `quota.rs`). Only responses that carry an
//! unquoted ETag look it up.

use std::sync::Arc;

use http::response::Builder;
use http::{HeaderValue, Response};

use super::{blocking, App, Ctx};
use crate::http::body::Body;
use crate::http::error::ApiResult;
use crate::store::meta::Meta;

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on" | "t" | "y"
    )
}

/// `(client header, stored key)` of the setting of a `container` or an
/// `account`.
fn names(typ: &str) -> (String, String) {
    let t = if typ == "container" {
        "Container"
    } else {
        "Account"
    };
    (
        format!("X-{t}-Rfc-Compliant-Etags"),
        format!("X-{t}-Sysmeta-Rfc-Compliant-Etags"),
    )
}

/// The setting a container or account PUT/POST asks for, as a stored key
/// (`typ`: "container" or "account"); an empty value removes it.
pub fn request_meta(ctx: &Ctx, typ: &str, m: &mut Meta) -> ApiResult<()> {
    let (client, key) = names(typ);
    if let Some(v) = ctx.header(&client)? {
        let v = match v.trim() {
            "" => "",
            v if truthy(v) => "True",
            _ => "False",
        };
        m.insert(key.clone(), v.into());
    }
    let remove = format!("X-Remove-{}", &client[2..]);
    if ctx.header(&remove)?.is_some_and(|v| !v.trim().is_empty()) {
        m.insert(key, String::new());
    }
    Ok(())
}

/// Shows the stored setting of a container or account HEAD/GET.
pub fn response_header(b: Builder, typ: &str, m: &Meta) -> Builder {
    let (client, key) = names(typ);
    match m.get(&key) {
        Some(v) => b.header(client, v.as_str()),
        None => b,
    }
}

/// Whether objects of the container get quoted ETags (blocking). `None`
/// when the container or account cannot be read (left as it is, as Swift).
fn resolve(app: &App, account: &str, container: &str) -> Option<bool> {
    let loc = app.store.find_container(account, container).ok()?;
    let cm = app.info.container(&loc).ok()?;
    let am = || app.info.account(&app.store, account).ok();
    decide(app, &cm, am)
}

/// The container's setting, else the account's, else the default; `None`
/// when the account is needed and cannot be read.
fn decide(app: &App, cm: &Meta, am: impl FnOnce() -> Option<Arc<Meta>>) -> Option<bool> {
    let (_, ckey) = names("container");
    let flag = match cm.get(&ckey) {
        Some(v) => Some(v.clone()),
        None => {
            let (_, akey) = names("account");
            am()?.get(&akey).cloned()
        }
    };
    Some(flag.map_or(app.cfg.etag_quoter.enable_by_default, |v| truthy(&v)))
}

/// The answer from cached metadata alone, when it is there.
fn cached(app: &App, account: &str, container: &str) -> Option<bool> {
    let cm = app.info.cached_container(account, container)?;
    decide(app, &cm, || app.info.cached_account(account))
}

fn is_quoted(v: &[u8]) -> bool {
    (v.starts_with(b"\"") || v.starts_with(b"W/\"")) && v.len() >= 2 && v.ends_with(b"\"")
}

/// Quotes the ETag of an object response when its container wants it.
pub async fn apply(
    app: &Arc<App>,
    account: String,
    container: String,
    mut resp: Response<Body>,
) -> Response<Body> {
    let Some(etag) = resp.headers().get(http::header::ETAG) else {
        return resp;
    };
    if is_quoted(etag.as_bytes()) {
        return resp;
    }
    let on = match cached(app, &account, &container) {
        Some(on) => on,
        None => {
            let r = blocking(app, move |app| Ok(resolve(app, &account, &container))).await;
            match r {
                Ok(Some(on)) => on,
                _ => return resp,
            }
        }
    };
    if on {
        let quoted = [b"\"", etag.as_bytes(), b"\""].concat();
        if let Ok(v) = HeaderValue::from_bytes(&quoted) {
            resp.headers_mut().insert(http::header::ETAG, v);
        }
    }
    resp
}

/// The `/info` entry.
pub fn info(app: &App) -> serde_json::Value {
    serde_json::json!({ "enable_by_default": app.cfg.etag_quoter.enable_by_default })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_forms() {
        assert!(is_quoted(b"\"abc\""));
        assert!(is_quoted(b"W/\"abc\""));
        assert!(!is_quoted(b"abc"));
        assert!(!is_quoted(b"\""));
        assert!(!is_quoted(b"\"abc"));
    }
}
