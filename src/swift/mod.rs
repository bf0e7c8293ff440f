//! The Swift API: authenticate, authorize and dispatch each request to the
//! handler of its target (account, container, object, auth, info).

pub mod account;
pub mod account_acl;
pub mod acl;
pub mod auth;
pub mod bulk;
pub mod container;
mod copy;
pub mod cors;
pub mod dlo;
pub mod domain_remap;
pub mod etag_quoter;
pub mod expirer;
pub mod feature;
mod features;
pub mod formpost;
pub mod headers;
pub mod health;
pub mod info;
pub mod info_cache;
pub mod keystone;
pub mod keystone_auth;
pub mod listing;
pub mod object;
pub mod object_core;
pub mod object_meta;
pub mod quota;
pub mod range;
pub mod receive;
pub mod report;
pub mod slo;
pub mod staticweb;
pub mod symlink;
pub mod tempurl;
pub mod versioned_writes;
pub mod versioning;
pub mod write;

use std::collections::HashMap;
use std::sync::Arc;

use crate::http::incoming::Incoming;
use http::{HeaderMap, HeaderValue, Method, Request, Response};

use crate::config::Config;
use crate::http::body::{self, Body};
use crate::http::error::{ApiError, ApiResult, Finish};
use crate::http::request::{parse_query, parse_target, Target};
use crate::store::{self, ContainerLoc, ObjPath, Store};
use acl::Access;
use auth::{Auth, Identity};

/// The running service: config, store and auth.
pub struct App {
    pub cfg: Config,
    pub store: Store,
    pub auth: Auth,
    /// Container and account metadata as last read (quotas, versioned
    /// writes, the ETag quoter).
    pub info: info_cache::InfoCache,
    /// Keystone token validation, when `[keystone]` is configured.
    pub keystone: Option<keystone::Keystone>,
    /// Device probes of `/healthcheck?deep` still running.
    pub health: health::Probes,
    /// The features that are on, in order (`features.rs`).
    pub features: feature::Pipeline,
    /// What features do on the write path (`features.rs`).
    pub hooks: write::Hooks,
    /// What features add to object listings' rows (`features.rs`).
    pub listing: listing::RowHooks,
}

/// One request's parsed parts, handed to every handler.
#[derive(Clone)]
pub struct Ctx {
    pub method: Method,
    pub headers: HeaderMap,
    pub query: HashMap<String, String>,
    pub id: Option<Identity>,
    pub account: String,
    /// What the account's ACL grants a caller who does not own it.
    pub grant: Option<account_acl::Grant>,
    /// What the request's metrics report (the policy it reaches).
    pub note: crate::metrics::Note,
    /// The metadata key of the ETag this caller's door shows, where an
    /// object has it (Swift's `X-Backend-Etag-Is-At`; the S3 door's
    /// multipart ETag): conditions compare it, answers show it. Never set
    /// from a request header.
    pub etag_is_at: Option<&'static str>,
}

impl Ctx {
    pub fn header(&self, name: &str) -> ApiResult<Option<&str>> {
        headers::header_str(&self.headers, name)
    }

    /// Where this caller's write of `object` into `container` (at `loc`,
    /// authorized) goes, as the write path takes it.
    pub fn write_dest(&self, loc: ContainerLoc, container: &str, object: &ObjPath) -> write::Dest {
        write::Dest {
            loc,
            account: self.account.clone(),
            container: container.to_string(),
            object: object.clone(),
            quota_exempt: self.id.as_ref().is_some_and(|i| i.reseller_admin),
            create_only: false,
        }
    }

    /// Does the caller own the account (no ACL needed)?
    pub fn is_owner(&self) -> bool {
        self.id.as_ref().is_some_and(|id| id.owns(&self.account))
            || self.grant == Some(account_acl::Grant::Admin)
    }

    /// Authorizes access to `container` given its ACL; `Ok(true)` for owners.
    pub fn authorize(
        &self,
        container: Option<&str>,
        is_object: bool,
        writes: bool,
        acl: Option<&str>,
    ) -> ApiResult<bool> {
        auth::authorize(
            self.id.as_ref(),
            &Access {
                account: &self.account,
                container,
                is_object,
                writes,
                acl,
                referer: self.headers.get("referer").and_then(|v| v.to_str().ok()),
                grant: self.grant,
            },
        )
    }
}

impl App {
    /// Builds the service from a validated config.
    pub fn new(cfg: Config) -> Result<App, String> {
        cfg.validate()?;
        let store = cfg.store()?;
        let info = info_cache::InfoCache::new(store.opts.usage_ttl);
        let features = features::pipeline(&cfg.features.off)?;
        Ok(App {
            auth: Auth::new(cfg.auth.clone()),
            store,
            info,
            keystone: cfg.keystone.clone().map(keystone::Keystone::new),
            health: health::Probes::new(cfg.policies.len()),
            hooks: features::write_hooks(&features),
            listing: features::listing_hooks(&features),
            features,
            cfg,
        })
    }

    /// What the HTTP server needs of the configuration.
    pub fn server_settings(&self) -> crate::http::server::Settings {
        crate::http::server::Settings {
            server: self.cfg.server.clone(),
            log: self.cfg.log.clone(),
            policies: self.cfg.policies.iter().map(|p| p.name.clone()).collect(),
        }
    }

    /// Handles one request; never fails (errors become Swift responses).
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        if self.is_scrape(&req) {
            return crate::metrics::listen::on_api_port(&self.cfg.metrics, req.method());
        }
        // The S3 door: requests carrying AWS authentication (src/s3).
        if crate::s3::is_s3(&self.cfg, &req) {
            return crate::s3::handle(self, req).await;
        }
        let head = req.method() == Method::HEAD;
        let trans_id = format!("tx{:021x}", rand::random::<u128>() >> 44);
        let keep_alive = req
            .headers()
            .get("connection")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("keep-alive"));
        // Swift names the account (still URL-quoted) as the auth realm.
        let realm = req
            .uri()
            .path()
            .strip_prefix("/v1/")
            .and_then(|r| r.split('/').next())
            .filter(|a| !a.is_empty())
            .map(|a| format!("Swift realm=\"{}\"", a.replace('"', "%22")));
        // A cross-origin request (not a preflight) gets CORS headers added.
        let cors = req
            .headers()
            .get("origin")
            .and_then(|v| v.to_str().ok())
            .filter(|_| req.method() != Method::OPTIONS)
            .and_then(|o| Some((o.to_string(), parse_target(req.uri().path()).ok()?)));
        let mut resp = match self.clone().route(req).await {
            Ok(r) => r,
            Err(e) => e.into_response(head),
        };
        if let Some((origin, target)) = cors {
            cors::decorate(&self, &target, &origin, &mut resp).await;
        }
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&trans_id) {
            h.insert("x-trans-id", v.clone());
            h.insert("x-openstack-request-id", v);
        }
        if keep_alive {
            h.insert("connection", HeaderValue::from_static("keep-alive"));
        }
        if h.contains_key("www-authenticate") {
            if let Some(v) = realm.and_then(|r| HeaderValue::from_str(&r).ok()) {
                h.insert("www-authenticate", v);
            }
        }
        resp
    }

    /// `/metrics` on this port: not an S3 bucket of that name, nor an
    /// object of a host that domain_remap names.
    fn is_scrape(&self, req: &Request<Incoming>) -> bool {
        if req.uri().path() != crate::metrics::listen::PATH || crate::s3::is_s3(&self.cfg, req) {
            return false;
        }
        let host = req.headers().get("host").and_then(|v| v.to_str().ok());
        domain_remap::remap(&self.cfg, host, req.uri()).is_none()
    }

    async fn route(self: Arc<Self>, mut req: Request<Incoming>) -> ApiResult<Response<Body>> {
        // Host names may carry UTF-8 container names.
        let host = req
            .headers()
            .get("host")
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok());
        if let Some(uri) = domain_remap::remap(&self.cfg, host, req.uri()) {
            *req.uri_mut() = uri;
        }
        let max = self.cfg.limits.max_header_size;
        if let Some((name, _)) = req.headers().iter().find(|(_, v)| v.len() > max) {
            return Err(ApiError::BadRequest(format!(
                "Header value too long: {}",
                &name.as_str()[..name.as_str().len().min(128)]
            )));
        }
        let target = parse_target(req.uri().path())?;
        let note = crate::metrics::Note::of(&req);
        note.resource(crate::metrics::Resource::of(&target));
        let account = match &target {
            Target::Info => return info::get(&self, req.method()),
            Target::Healthcheck => {
                return health::answer(&self, req.method(), req.uri().query()).await
            }
            Target::Auth => return self.login(&req),
            _ if req.method() == Method::OPTIONS => {
                return cors::preflight(&self, &target, req.headers()).await
            }
            Target::Account { account }
            | Target::Container { account, .. }
            | Target::Object { account, .. } => account.clone(),
        };
        let token = req
            .headers()
            .get("x-auth-token")
            .or_else(|| req.headers().get("x-storage-token"))
            .map(|v| v.to_str().unwrap_or(""));
        let query = parse_query(req.uri().query())?;
        // A temp URL stands in for a token (Swift's tempurl runs before auth).
        let temp_url =
            self.features.on(feature::Name::Tempurl) && tempurl::requested(req.method(), &query);
        let mut id = match token {
            Some(t) if !temp_url => {
                let service = req.headers().get("x-service-token");
                let service = service.and_then(|v| v.to_str().ok());
                match self.keystone_caller(t, service).await {
                    keystone::Caller::Tempauth => Some(
                        self.auth
                            .identify(t, service)
                            .ok_or(ApiError::Unauthorized)?,
                    ),
                    keystone::Caller::Keystone(id) => id,
                    keystone::Caller::Unavailable => {
                        return Ok(keystone::unavailable(req.method()))
                    }
                }
            }
            _ => None,
        };
        let l = &self.store.opts.limits;
        if !self.serves_account(&account) {
            return Err(if id.is_some() {
                ApiError::Forbidden
            } else {
                ApiError::Unauthorized
            });
        }
        store::name::check_account(&account, l)?;
        // Keystone keeps the domain of an account's project in its metadata.
        let makes_account = match &target {
            Target::Container { .. } => req.method() == Method::PUT,
            Target::Account { .. } => req.method() == Method::POST,
            _ => false,
        };
        let caller = id.as_mut().and_then(|i| i.keystone.as_mut());
        keystone_auth::account_facts(&self, caller, &account, &req, makes_account).await?;
        // An account ACL may grant a token's holder some access.
        let grant = match &id {
            Some(i) if !i.owns(&account) && i.keystone.is_none() => {
                let acct = account.clone();
                let i = i.clone();
                blocking(&self, move |app| Ok(app.account_grant(&acct, Some(&i)))).await?
            }
            _ => None,
        };
        let temp = match temp_url {
            true => Some(tempurl::check(&self, &req, &query).await?),
            false => None,
        };
        if let Some(t) = &temp {
            id = Some(t.identity.clone());
        }
        let (parts, body) = req.into_parts();
        let mut ctx = Ctx {
            method: parts.method,
            headers: parts.headers,
            query,
            id,
            account,
            grant,
            note,
            etag_is_at: None,
        };
        if let Some(g) = &temp {
            g.restrict(&mut ctx);
        }
        if let Some(take) = self.features.takes_request(&ctx, temp.is_some())? {
            let (container, object) = match target {
                Target::Container { container, .. } => (Some(container), None),
                Target::Object {
                    container, object, ..
                } => (Some(container), Some(object)),
                _ => (None, None),
            };
            let path = parts.uri.path().to_string();
            let r = feature::Request {
                app: self,
                ctx,
                path,
                container,
                object,
                body,
            };
            return take(r).await;
        }
        let web = self.features.on(feature::Name::Staticweb) && staticweb::applies(&ctx);
        let resp = match target {
            Target::Account { .. } => account::handle(self, ctx).await,
            Target::Container { container, .. } => {
                store::name::check_container(&container, l)?;
                if web {
                    staticweb::container(self, ctx, container, parts.uri.path()).await
                } else {
                    container::handle(self, ctx, container).await
                }
            }
            Target::Object {
                container, object, ..
            } => {
                store::name::check_container(&container, l)?;
                let object = store::ObjPath::new(&object, l)?;
                if web {
                    // Staticweb looks at the plain answer first, as Swift's does.
                    let (c, o) = (container.clone(), object.clone());
                    let plain = object::handle(self.clone(), ctx.clone(), c, o, body).await;
                    staticweb::object(self, ctx, container, object, parts.uri.path(), plain).await
                } else {
                    object::handle(self, ctx, container, object, body).await
                }
            }
            _ => unreachable!("handled above"),
        };
        match temp {
            Some(g) => g.finish(resp),
            None => resp,
        }
    }

    /// `GET /auth/v1.0`: tempauth login.
    fn login(&self, req: &Request<Incoming>) -> ApiResult<Response<Body>> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(ApiError::MethodNotAllowed);
        }
        let h = req.headers();
        let get = |a: &str, b: &str| {
            h.get(a)
                .or_else(|| h.get(b))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (Some(user), Some(key)) = (
            get("x-auth-user", "x-storage-user"),
            get("x-auth-key", "x-storage-pass"),
        ) else {
            return Err(ApiError::Unauthorized);
        };
        let (token, id, life) = self.auth.login(&user, &key).ok_or(ApiError::Unauthorized)?;
        let host = h
            .get("host")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| self.cfg.listen.to_string());
        let url = format!("http://{host}/v1/{}", id.account);
        Response::builder()
            .header("X-Auth-Token", &token)
            .header("X-Storage-Token", &token)
            .header("X-Storage-Url", url)
            .header("X-Auth-Token-Expires", life.to_string())
            .header("Content-Type", "text/plain; charset=UTF-8")
            .header("Content-Length", "0")
            .finish(body::empty())
    }

    /// What `account`'s ACL grants a caller who does not own it (blocking).
    pub fn account_grant(
        &self,
        account: &str,
        id: Option<&Identity>,
    ) -> Option<account_acl::Grant> {
        // Account ACLs are tempauth's alone (keystoneauth has none).
        let id = id.filter(|i| !i.owns(account) && i.keystone.is_none())?;
        let m = store::container::account_meta(&self.store, account).unwrap_or_default();
        account_acl::grant(m.get(account_acl::SYSMETA_KEY).map(String::as_str), id)
    }

    /// A GET or HEAD of an object as the object dispatch answers it (a
    /// link followed, a large object assembled): how a feature reads
    /// another object through the whole path (a link's target, a version, a
    /// static web page), as Swift's subrequests go through its pipeline,
    /// without naming the dispatch it is called from.
    pub async fn get_object(
        self: Arc<Self>,
        ctx: Ctx,
        container: String,
        object: ObjPath,
    ) -> ApiResult<Response<Body>> {
        object::get(self, ctx, container, object).await
    }

    /// Finds a container on its device and opens it (checking the mount):
    /// every lookup of its objects is made beneath it.
    pub fn locate(&self, account: &str, container: &str) -> ApiResult<ContainerLoc> {
        Ok(self.store.locate(account, container)?)
    }
}

impl crate::http::server::Handler for App {
    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> impl std::future::Future<Output = Response<Body>> + Send {
        App::handle(self, req)
    }
}

/// Runs blocking filesystem work off the async threads.
pub async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || f(&app))
        .await
        .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?
}

/// A response with no body (`Content-Length: 0`).
pub fn empty_response(status: http::StatusCode) -> http::response::Builder {
    Response::builder()
        .status(status)
        .header("Content-Length", "0")
        .header("Content-Type", "text/html; charset=UTF-8")
}
