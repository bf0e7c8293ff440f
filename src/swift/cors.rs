//! Cross-origin resource sharing, as Swift's proxy does it: each container
//! names the origins it trusts (`X-Container-Meta-Access-Control-Allow-Origin`,
//! space-separated, `*` for any), how long a preflight may be cached
//! (`…-Max-Age`) and extra headers to expose (`…-Expose-Headers`); the config's
//! `[cors]` adds origins and headers for every container.
//!
//! `OPTIONS` is a preflight and needs no token: 200 with the allowed methods
//! when the origin and method are allowed, 401 otherwise. Other requests that
//! carry `Origin` get `Access-Control-Allow-Origin` and
//! `Access-Control-Expose-Headers` added (in strict mode, only when the
//! container allows the origin). A response about another container (a
//! large object's segment listing) follows that container's rules, as Swift's
//! sub-requests carry the `Origin` there: see [`RulesFrom`]. `/info` answers
//! any origin, exposing only `X-Trans-Id`, as Swift's info controller does.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Response, StatusCode};

use super::{blocking, App};
use crate::http::body::{self, Body};
use crate::http::error::{ApiResult, Finish};
use crate::http::request::Target;
use crate::store::meta::Meta;

/// The container metadata naming its trusted origins.
pub const ALLOW_ORIGIN_KEY: &str = "X-Container-Meta-Access-Control-Allow-Origin";
/// The container metadata with its preflight cache time.
pub const MAX_AGE_KEY: &str = "X-Container-Meta-Access-Control-Max-Age";
/// The container metadata with its extra exposed headers.
pub const EXPOSE_HEADERS_KEY: &str = "X-Container-Meta-Access-Control-Expose-Headers";

/// Methods the API allows on accounts, containers and objects.
const ALLOWED_METHODS: &str = "DELETE, GET, HEAD, OPTIONS, POST, PUT";
/// Headers every CORS response exposes.
pub const EXPOSED: [&str; 10] = [
    "cache-control",
    "content-language",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
    "etag",
    "x-timestamp",
    "x-trans-id",
    "x-openstack-request-id",
];

/// A container's CORS settings.
#[derive(Debug, Default, Clone)]
pub struct Rules {
    allow_origin: String,
    max_age: Option<String>,
    expose_headers: String,
}

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(' ').map(str::trim).filter(|w| !w.is_empty())
}

impl Rules {
    /// Reads the rules of `account/container` (blocking); none when the
    /// container does not exist.
    pub fn of(app: &App, account: &str, container: &str) -> Rules {
        container_meta(app, account, container)
            .map(|m| Rules::from_meta(&m))
            .unwrap_or_default()
    }

    /// The rules a container's metadata holds.
    pub fn from_meta(m: &Meta) -> Rules {
        let get = |k: &str| {
            m.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        Rules {
            allow_origin: get(ALLOW_ORIGIN_KEY).unwrap_or_default(),
            max_age: get(MAX_AGE_KEY),
            expose_headers: get(EXPOSE_HEADERS_KEY).unwrap_or_default(),
        }
    }

    /// The container's own trusted origins.
    pub fn own_origins(&self) -> impl Iterator<Item = &str> {
        words(&self.allow_origin)
    }

    /// The container's own origins, as stored (space-separated).
    pub fn allow_origin(&self) -> &str {
        &self.allow_origin
    }

    /// The preflight cache time, as stored.
    pub fn max_age(&self) -> Option<&str> {
        self.max_age.as_deref()
    }

    /// The container's extra exposed headers.
    pub fn expose_headers(&self) -> impl Iterator<Item = &str> {
        words(&self.expose_headers)
    }

    fn allows(&self, app: &App, origin: &str) -> bool {
        self.own_origins()
            .chain(app.cfg.cors.allow_origin.iter().map(String::as_str))
            .any(|o| o == "*" || o == origin)
    }

    /// What `Access-Control-Allow-Origin` says to `origin`.
    fn allow_origin_value<'a>(&self, origin: &'a str) -> &'a str {
        if self.allow_origin.trim() == "*" {
            "*"
        } else {
            origin
        }
    }
}

/// The metadata of `account/container` as the info cache has it
/// (blocking); none when the container does not exist or cannot be read.
pub fn container_meta(app: &App, account: &str, container: &str) -> Option<Arc<Meta>> {
    app.info
        .container_named(&app.store, account, container)
        .ok()
}

/// The headers that grant a cross-origin request, rendered in one place
/// for Swift's preflights and the S3 door's preflights and requests.
#[derive(Debug, Default)]
pub struct Grant {
    /// `Access-Control-Allow-Origin`: the origin, or `*`.
    pub allow_origin: String,
    pub allow_methods: Option<String>,
    pub allow_headers: Option<String>,
    pub max_age: Option<String>,
    pub expose_headers: Option<String>,
    /// `Access-Control-Allow-Credentials: true` (S3 says so to an origin
    /// it names).
    pub credentials: bool,
    pub vary: String,
}

impl Grant {
    /// Sets the grant's headers on `h` (values that cannot be header
    /// values are left out).
    pub fn apply(&self, h: &mut HeaderMap) {
        let credentials = self.credentials.then_some("true");
        for (name, value) in [
            (
                "access-control-allow-origin",
                Some(self.allow_origin.as_str()),
            ),
            (
                "access-control-allow-methods",
                self.allow_methods.as_deref(),
            ),
            (
                "access-control-allow-headers",
                self.allow_headers.as_deref(),
            ),
            ("access-control-max-age", self.max_age.as_deref()),
            (
                "access-control-expose-headers",
                self.expose_headers.as_deref(),
            ),
            ("access-control-allow-credentials", credentials),
            ("vary", Some(self.vary.as_str()).filter(|v| !v.is_empty())),
        ] {
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                h.insert(name, v);
            }
        }
    }
}

/// Put in a response's extensions when its CORS headers follow another
/// container's rules than the request's.
#[derive(Debug, Clone)]
pub struct RulesFrom {
    pub account: String,
    pub container: String,
}

/// Marks `resp` as following the CORS rules of `account/container`.
pub fn rules_from(mut resp: Response<Body>, account: &str, container: &str) -> Response<Body> {
    resp.extensions_mut().insert(RulesFrom {
        account: account.to_string(),
        container: container.to_string(),
    });
    resp
}

/// The container a request's CORS rules come from, if any.
fn container_of(target: &Target) -> Option<(&str, &str)> {
    match target {
        Target::Container { account, container }
        | Target::Object {
            account, container, ..
        } => Some((account, container)),
        _ => None,
    }
}

/// A container's rules, and whether they allow `origin` (read off the
/// async threads).
async fn rules_for(
    app: &Arc<App>,
    account: String,
    container: String,
    origin: &str,
) -> ApiResult<(Rules, bool)> {
    let o = origin.to_string();
    blocking(app, move |app| {
        let r = Rules::of(app, &account, &container);
        let allowed = r.allows(app, &o);
        Ok((r, allowed))
    })
    .await
}

/// Answers an `OPTIONS` request (no token needed).
pub async fn preflight(
    app: &Arc<App>,
    target: &Target,
    headers: &HeaderMap,
) -> ApiResult<Response<Body>> {
    let ok = || {
        Response::builder()
            .header("Allow", ALLOWED_METHODS)
            .header("Content-Length", "0")
    };
    let origin = headers.get("origin").and_then(|v| v.to_str().ok());
    let (Some(origin), Some((account, container))) = (origin, container_of(target)) else {
        return ok().finish(body::empty());
    };
    let (rules, allowed) = rules_for(app, account.into(), container.into(), origin).await?;
    let method = headers
        .get("access-control-request-method")
        .and_then(|v| v.to_str().ok());
    if !allowed || !method.is_some_and(|m| ALLOWED_METHODS.split(", ").any(|a| a == m)) {
        return ok().status(StatusCode::UNAUTHORIZED).finish(body::empty());
    }
    let requested = headers
        .get("access-control-request-headers")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let grant = Grant {
        allow_origin: rules.allow_origin_value(origin).to_string(),
        allow_methods: Some(ALLOWED_METHODS.to_string()),
        allow_headers: requested.map(str::to_string),
        max_age: rules.max_age.clone(),
        vary: match requested {
            Some(_) => "Origin, Access-Control-Request-Headers",
            None => "Origin",
        }
        .to_string(),
        ..Grant::default()
    };
    let mut b = ok();
    if let Some(h) = b.headers_mut() {
        grant.apply(h);
    }
    b.finish(body::empty())
}

/// Adds CORS headers to the response of a request that carried `Origin`.
pub async fn decorate(app: &Arc<App>, target: &Target, origin: &str, resp: &mut Response<Body>) {
    if *target == Target::Info {
        return info(origin, resp);
    }
    let (account, container) = match resp.extensions().get::<RulesFrom>() {
        Some(r) => (r.account.clone(), r.container.clone()),
        None => match container_of(target) {
            Some((a, c)) => (a.to_string(), c.to_string()),
            None => return,
        },
    };
    let Ok((rules, allowed)) = rules_for(app, account, container, origin).await else {
        return;
    };
    if app.cfg.cors.strict && !allowed {
        return;
    }
    let h = resp.headers_mut();
    if !h.contains_key("access-control-expose-headers") {
        let mut expose: Vec<String> = EXPOSED.iter().map(|s| s.to_string()).collect();
        for name in h.keys() {
            let n = name.as_str();
            if n.starts_with("x-container-meta-") || n.starts_with("x-object-meta-") {
                expose.push(n.to_string());
            }
        }
        expose.extend(words(&rules.expose_headers).map(str::to_string));
        expose.extend(app.cfg.cors.expose_headers.iter().cloned());
        let mut seen = std::collections::HashSet::new();
        expose.retain(|e| seen.insert(e.to_ascii_lowercase()));
        if let Ok(v) = HeaderValue::from_str(&expose.join(", ")) {
            h.insert("access-control-expose-headers", v);
        }
    }
    if !h.contains_key("access-control-allow-origin") {
        if let Ok(v) = HeaderValue::from_str(rules.allow_origin_value(origin)) {
            h.insert("access-control-allow-origin", v);
        }
        if rules.allow_origin_value(origin) != "*" {
            h.append("vary", HeaderValue::from_static("Origin"));
        }
    }
}

/// `/info` is readable from any origin; only `X-Trans-Id` is exposed.
fn info(origin: &str, resp: &mut Response<Body>) {
    if !resp.status().is_success() {
        return;
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert("access-control-allow-origin", v);
        h.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("x-trans-id"),
        );
    }
}
