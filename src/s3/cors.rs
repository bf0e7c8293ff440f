//! CORS on the S3 door, answered from the bucket's rules
//! ([`super::bucket::cors`]) as S3 answers.
//!
//! A preflight (`OPTIONS`, which carries no authentication: see
//! [`is_preflight`] for when one is S3's) is granted by the first rule
//! that allows its `Origin`, its `Access-Control-Request-Method` and every
//! header of its `Access-Control-Request-Headers`: 200 with the rule's
//! methods, the requested headers, its exposed headers and cache time;
//! otherwise 403 `AccessForbidden`. A grant opens nothing: the actual
//! request is signed and authorized as any other. An authenticated
//! request that carries `Origin` gets the headers of the first rule of
//! its own bucket that allows its origin and method. When the bucket's
//! CORS is Swift's metadata (no S3 configuration, or one a Swift POST
//! overrode), that answer exposes what Swift's s3api exposes there
//! ([`swift_exposed`]) rather than the container's extra headers alone.
//!
//! A preflight names no account, and bucket names are per account here,
//! so the bucket is looked for in the accounts this node serves, in byte
//! order, and the first rule that allows the preflight grants it. That
//! search is bounded and cheap: the account list comes from the info
//! cache (listed at most once per `usage_cache_secs`, and again after a
//! container is created through this node), at most [`MAX_ACCOUNTS`]
//! accounts are looked in (a bucket in an account past them gets no
//! preflight grant), and each costs one lookup per device or a cached
//! answer; measured on a local disk of a shared machine, a preflight that
//! looks in 1,000 accounts took 6.5 to 9.3 ms, 0.5 to 0.6 ms with one, and
//! as long with 5,000 as with 1,000. The lookups stay beneath
//! the device (accounts that are symlinks are not listed, and the
//! container is opened beneath the device root), the bucket name is
//! checked as any S3 bucket name, and a preflight writes nothing.

use std::sync::Arc;

use http::{HeaderMap, Method, Request, Response, StatusCode};

use super::bucket::cors::{rules, Rule, METHODS};
use super::error::S3Error;
use super::target;
use crate::config::Config;
use crate::http::body::{self, Body};
use crate::http::error::{ApiResult, Finish};
use crate::http::incoming::Incoming;
use crate::swift::cors::{container_meta, Grant, EXPOSED};
use crate::swift::{blocking, domain_remap, App};

/// The most accounts a preflight looks in for its bucket (see the module
/// documentation).
const MAX_ACCOUNTS: usize = 1000;
/// The most headers a preflight may ask for (a browser asks for a few).
const MAX_REQUESTED: usize = 100;
/// What S3 varies a CORS answer on.
const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

/// The bucket an authenticated request is about, for its CORS headers.
pub struct Scope {
    pub account: String,
    pub bucket: String,
}

/// Is an unauthenticated request an S3 preflight? An `OPTIONS` is, when
/// its `Host` names a bucket under `[s3] domain`, or else when neither
/// its `Host` (an account or container of domain_remap) nor its path
/// (`/v1/…`, `/v1.0…`, `/auth/…`, `/info`, `/healthcheck`) is Swift's.
/// So a bucket named `auth` gets no preflight answers by path style.
pub fn is_preflight(cfg: &Config, req: &Request<Incoming>) -> bool {
    if req.method() != Method::OPTIONS {
        return false;
    }
    let host = req.headers().get("host").and_then(|v| v.to_str().ok());
    if target::bucket_in_host(host, &cfg.s3.domain).is_some() {
        return true;
    }
    if domain_remap::remap(cfg, host, req.uri()).is_some() {
        return false;
    }
    let path = percent_encoding::percent_decode_str(req.uri().path()).decode_utf8_lossy();
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    !(matches!(&*path, "/info" | "/healthcheck") || matches!(first, "v1" | "v1.0" | "auth"))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn bad_request(m: &str) -> S3Error {
    S3Error {
        code: "BadRequest",
        status: StatusCode::BAD_REQUEST,
        message: m.to_string(),
        extra: Vec::new(),
    }
}

/// The refusal of a preflight, for `method` on an object or a bucket.
fn forbidden(why: &str, method: &str, object: bool) -> S3Error {
    S3Error {
        code: "AccessForbidden",
        status: StatusCode::FORBIDDEN,
        message: format!("CORSResponse: {why}"),
        extra: Vec::new(),
    }
    .with("Method", method)
    .with("ResourceType", if object { "OBJECT" } else { "BUCKET" })
}

const NOT_ENABLED: &str = "CORS is not enabled for this bucket.";
const NOT_ALLOWED: &str = "This CORS request is not allowed. This is usually because the \
     evaluation of Origin, request method / Access-Control-Request-Method or \
     Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

/// What a preflight asks for.
struct Asked {
    origin: String,
    method: String,
    /// The requested headers, lowercase.
    headers: Vec<String>,
}

/// Reads what a preflight asks for: 400 `BadRequest` without an origin,
/// with a method a rule cannot allow, or with more than [`MAX_REQUESTED`]
/// headers.
fn asked(h: &HeaderMap) -> Result<Asked, S3Error> {
    let origin = header(h, "origin")
        .ok_or_else(|| bad_request("Insufficient information. Origin request header needed."))?;
    let method = header(h, "access-control-request-method").ok_or_else(|| {
        bad_request("Insufficient information. Access-Control-Request-Method header needed.")
    })?;
    if !METHODS.contains(&method) {
        return Err(bad_request(&format!(
            "Invalid Access-Control-Request-Method: {method}"
        )));
    }
    let headers: Vec<String> = header(h, "access-control-request-headers")
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    if headers.len() > MAX_REQUESTED {
        return Err(bad_request(&format!(
            "More than {MAX_REQUESTED} Access-Control-Request-Headers."
        )));
    }
    Ok(Asked {
        origin: origin.to_string(),
        method: method.to_string(),
        headers,
    })
}

/// Answers a preflight.
pub async fn preflight(app: &Arc<App>, req: &Request<Incoming>) -> Result<Response<Body>, S3Error> {
    let asked = Arc::new(asked(req.headers())?);
    let host_bucket = target::bucket_in_host(header(req.headers(), "host"), &app.cfg.s3.domain);
    let t = target::parse(req.uri().path(), host_bucket, &app.store.opts.limits)?;
    let object = t.key.is_some();
    let Some(bucket) = t.bucket else {
        return Err(forbidden(NOT_ENABLED, &asked.method, object));
    };
    let a = asked.clone();
    let (configured, rule) = blocking(app, move |app| search(app, &bucket, &a)).await?;
    let Some(rule) = rule else {
        let why = if configured { NOT_ALLOWED } else { NOT_ENABLED };
        return Err(forbidden(why, &asked.method, object));
    };
    let mut b = Response::builder().header("Content-Length", "0");
    if let Some(hm) = b.headers_mut() {
        grant(&rule, &asked.origin, &asked.headers).apply(hm);
    }
    b.finish(body::empty()).map_err(S3Error::from)
}

/// Looks for `bucket` in the first [`MAX_ACCOUNTS`] accounts this node
/// serves (blocking): whether any of them has CORS rules for it, and the
/// first rule that grants `asked`.
fn search(app: &App, bucket: &str, asked: &Asked) -> ApiResult<(bool, Option<Rule>)> {
    let accounts = app.info.account_names(&app.store)?;
    let mut configured = false;
    let served = accounts.iter().filter(|a| app.serves_account(a));
    for account in served.take(MAX_ACCOUNTS) {
        let Some(meta) = container_meta(app, account, bucket) else {
            continue;
        };
        let Some(rs) = rules(&meta, &app.cfg.cors.allow_origin) else {
            continue;
        };
        configured = true;
        let granted = |r: &Rule| r.allows_preflight(&asked.origin, &asked.method, &asked.headers);
        if let Some(r) = rs.into_iter().find(granted) {
            return Ok((true, Some(r)));
        }
    }
    Ok((configured, None))
}

/// What `rule` grants `origin` (with the `requested` headers of a
/// preflight): the origin itself, or `*` for a rule open to all (then
/// without credentials).
fn grant(rule: &Rule, origin: &str, requested: &[String]) -> Grant {
    let any = rule.any_origin();
    let list = |v: &[String]| Some(v.join(", ")).filter(|s| !s.is_empty());
    Grant {
        allow_origin: if any { "*".into() } else { origin.into() },
        allow_methods: list(&rule.methods),
        allow_headers: list(requested),
        max_age: rule.max_age.map(|a| a.to_string()),
        expose_headers: list(&rule.expose),
        credentials: !any,
        vary: VARY.into(),
    }
}

/// Adds the CORS headers of the first rule of the request's bucket that
/// allows `origin` and `method` (none when no rule does).
pub async fn decorate(
    app: &Arc<App>,
    scope: Scope,
    origin: &str,
    method: &Method,
    resp: &mut Response<Body>,
) {
    let (o, m) = (origin.to_string(), method.as_str().to_string());
    let found = blocking(app, move |app| {
        let meta = container_meta(app, &scope.account, &scope.bucket).unwrap_or_default();
        let rs = rules(&meta, &app.cfg.cors.allow_origin).unwrap_or_default();
        Ok(rs.into_iter().find(|r| r.allows(&o, &m)))
    })
    .await;
    if let Ok(Some(rule)) = found {
        let mut g = grant(&rule, origin, &[]);
        if rule.swift {
            let exposed = swift_exposed(&rule, &app.cfg.cors.expose_headers, resp.headers());
            g.expose_headers = Some(exposed);
        }
        g.apply(resp.headers_mut());
    }
}

/// What Swift's s3api exposes to a request on a bucket whose CORS is
/// Swift's: the headers Swift's proxy exposes on every CORS response, the
/// response's user metadata (`x-amz-meta-*`, Swift's `x-object-meta-*`),
/// the container's and the config's extra headers, and S3's request ids
/// (`x-amz-request-id`, `x-amz-id-2`), each once.
fn swift_exposed(rule: &Rule, extra: &[String], resp: &HeaderMap) -> String {
    let meta = resp
        .keys()
        .map(|n| n.as_str())
        .filter(|n| n.starts_with("x-amz-meta-"));
    let all = EXPOSED
        .into_iter()
        .chain(meta)
        .chain(rule.expose.iter().map(String::as_str))
        .chain(extra.iter().map(String::as_str))
        .chain(["x-amz-request-id", "x-amz-id-2"]);
    let mut seen = std::collections::HashSet::new();
    all.filter(|h| seen.insert(h.to_ascii_lowercase()))
        .collect::<Vec<_>>()
        .join(", ")
}
