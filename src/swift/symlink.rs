//! Symlinks, as Swift's symlink middleware: a zero-byte object whose
//! metadata names another object (`X-Symlink-Target: container/object`,
//! optionally `X-Symlink-Target-Account`). GET/HEAD answer with the target
//! (authorized as the caller, `Content-Location` naming it) unless
//! `?symlink=get` asks for the link itself; COPY copies the target's content
//! under the same rule; POST applies to the link and answers 307 to the
//! target; DELETE removes the link.
//!
//! A static link (`X-Symlink-Target-Etag`) checks the target's ETag at PUT
//! and at every GET (409 when it changed) and lists the target's ETag and
//! size. The target is kept in the link's xattr metadata under Swift's
//! sysmeta keys, quoted as Swift quotes it, so Swift-on-File volumes keep
//! the same shape.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::http::incoming::Incoming;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::object_core::{authorize, created, expired, request_meta};
use super::object_meta::SHOWN;
pub use super::object_meta::{link_headers, TARGET, TARGET_ACCOUNT, TARGET_BYTES, TARGET_ETAG};
use super::write;
use super::{blocking, App, Ctx};
use crate::http::body::Body;
use crate::http::error::{ApiError, ApiResult};
use crate::store::meta::{keys, Meta};
use crate::store::object::{self as sobj, ObjectInfo, OpenObject};
use crate::store::{ContainerLoc, ObjPath};

/// Swift's keys of a static large object's length and ETag: a static link
/// to a manifest records these (as Swift's symlink middleware does).
const SLO_SIZE: &str = "X-Object-Sysmeta-Slo-Size";
const SLO_ETAG: &str = "X-Object-Sysmeta-Slo-Etag";
/// Where Swift keeps what a container listing shows instead of an object's
/// own ETag; a static link to a manifest keeps the manifest's `slo_etag` here.
const LISTING_ETAG: &str = "X-Object-Sysmeta-Container-Update-Override-Etag";

/// Links followed by one request before it fails with 409 (Swift's default
/// `symloop_max`).
pub const SYMLOOP_MAX: usize = 2;

/// What Python's `quote(s, safe='/')` leaves alone.
const QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

const FORM: &str = "X-Symlink-Target header must be of the form <container name>/<object name>";

fn md5_of_empty() -> &'static str {
    "d41d8cd98f00b204e9800998ecf8427e"
}

fn quote(s: &str) -> String {
    utf8_percent_encode(s, QUOTE).to_string()
}

fn unquote(s: &str) -> Option<String> {
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// `/v1/<account>/<container>/<object>`, quoted.
fn location(account: &str, container: &str, object: &str) -> String {
    format!(
        "/v1/{}/{}",
        quote(account),
        quote(&format!("{container}/{object}"))
    )
}

/// Account, container and object of a target (decoded).
type TargetPath = (String, String, String);

/// True unless `?symlink=get` asks for a link itself.
pub fn follows(ctx: &Ctx) -> bool {
    ctx.query.get("symlink").map(String::as_str) != Some("get")
}

/// True when the object is a symlink.
pub fn is_link(info: &ObjectInfo) -> bool {
    info.meta.contains_key(TARGET)
}

/// Where a link stored in `account` points: account, container, object.
fn target_of(info: &ObjectInfo, account: &str) -> Option<TargetPath> {
    let t = unquote(info.meta.get(TARGET)?)?;
    let (c, o) = t.split_once('/')?;
    let a = match info.meta.get(TARGET_ACCOUNT) {
        Some(a) => unquote(a)?,
        None => account.to_string(),
    };
    Some((a, c.to_string(), o.to_string()))
}

/// A request context for the same caller on `account`.
fn ctx_on(app: &App, ctx: &Ctx, account: String) -> Ctx {
    Ctx {
        method: ctx.method.clone(),
        headers: ctx.headers.clone(),
        query: ctx.query.clone(),
        id: ctx.id.clone(),
        grant: app.account_grant(&account, ctx.id.as_ref()),
        account,
        note: ctx.note.clone(),
        etag_is_at: ctx.etag_is_at,
    }
}

/// The object a chain of links ends at.
pub(super) struct End {
    pub ctx: Ctx,
    pub container: String,
    pub loc: ContainerLoc,
    pub object: ObjPath,
    pub info: ObjectInfo,
}

/// A failure while following links, with the path of the last target tried
/// (Swift's `Content-Location`).
pub(super) struct Broken {
    pub error: ApiError,
    pub location: Option<String>,
    /// Account and container of that target: its CORS rules apply.
    pub target: Option<(String, String)>,
}

fn too_many() -> ApiError {
    ApiError::Conflict(format!(
        "Too many levels of symbolic links, maximum allowed is {SYMLOOP_MAX}"
    ))
}

/// Reads `account/container/object` and follows links from there: every
/// link when `dynamic`, else only static ones. `want_etag` is the ETag the
/// previous static link expects; `hops` the links already followed.
fn walk(
    app: &App,
    ctx: &Ctx,
    (mut account, mut container, mut object): TargetPath,
    mut want_etag: Option<String>,
    dynamic: bool,
    mut hops: usize,
) -> Result<(End, String), Broken> {
    loop {
        let here = location(&account, &container, &object);
        let fail = |error| Broken {
            error,
            location: Some(here.clone()),
            target: Some((account.clone(), container.clone())),
        };
        if !app.auth.serves(&account) {
            // tempauth is no authority there: it denies every caller.
            return Err(fail(super::auth::denied(ctx.id.as_ref())));
        }
        let tctx = ctx_on(app, ctx, account.clone());
        let l = &app.store.opts.limits;
        // A target is a name from disk: checked as a client's would be.
        let valid = crate::store::name::check_account(&account, l).is_ok()
            && crate::store::name::check_container(&container, l).is_ok();
        let Some(obj) = ObjPath::new(&object, l).ok().filter(|_| valid) else {
            return Err(fail(ApiError::NotFound));
        };
        let loc = authorize(app, &tctx, &container, false).map_err(fail)?;
        let info = sobj::head(&app.store, &loc, &obj).map_err(|e| fail(e.into()))?;
        if expired(&info) && !super::expirer::open_expired(app, ctx) {
            return Err(fail(ApiError::NotFound));
        }
        let link_etag = info.meta.get(TARGET_ETAG).cloned();
        if is_link(&info) && (link_etag.is_some() || dynamic) {
            let found = link_etag.as_deref().unwrap_or(info.etag());
            if want_etag.as_deref().is_some_and(|w| w != found) {
                return Err(fail(ApiError::Conflict(
                    "X-Symlink-Target-Etag headers do not match".into(),
                )));
            }
            if hops >= SYMLOOP_MAX {
                return Err(Broken {
                    error: too_many(),
                    location: None,
                    target: None,
                });
            }
            hops += 1;
            (account, container, object) =
                target_of(&info, &account).ok_or_else(|| fail(ApiError::NotFound))?;
            want_etag = link_etag;
            continue;
        }
        if let Some(w) = want_etag.filter(|w| w != info.etag()) {
            return Err(fail(ApiError::Conflict(format!(
                "Object Etag '{}' does not match X-Symlink-Target-Etag header '{w}'",
                info.etag()
            ))));
        }
        let end = End {
            ctx: tctx,
            container,
            loc,
            object: obj,
            info,
        };
        return Ok((end, here));
    }
}

/// Follows the link `info` (in `ctx.account`) to the object it ends at.
pub(super) fn follow(app: &App, ctx: &Ctx, info: &ObjectInfo) -> Result<(End, String), Broken> {
    let target = target_of(info, &ctx.account).ok_or(Broken {
        error: ApiError::NotFound,
        location: None,
        target: None,
    })?;
    walk(
        app,
        ctx,
        target,
        info.meta.get(TARGET_ETAG).cloned(),
        true,
        1,
    )
}

/// The object `obj` ends at when it is a link (followed as `ctx`'s caller,
/// `ctx.account` being where `obj` is); `obj` itself otherwise. For readers
/// of objects other than GET: copies, large-object segments.
pub fn open_followed(
    app: &App,
    ctx: &Ctx,
    obj: OpenObject,
) -> ApiResult<(Option<Ctx>, OpenObject)> {
    if !is_link(&obj.info) {
        return Ok((None, obj));
    }
    let (end, _) = follow(app, ctx, &obj.info).map_err(|b| b.error)?;
    let target = sobj::open(&app.store, &end.loc, &end.object)?;
    Ok((Some(end.ctx), target))
}

/// A followed link's target, still to be served: the placeholder answer of
/// [`get`] carries it to [`finish`], out of the blocking thread.
#[derive(Clone)]
struct Pending(Arc<Mutex<Option<(End, String)>>>);

/// GET/HEAD of the link `info`: the target's answer, naming it in
/// `Content-Location` (errors too, once a target was tried). A target found
/// is served by [`finish`]; this answer only carries it there.
pub(super) fn get(app: &App, ctx: &Ctx, info: &ObjectInfo, head: bool) -> Response<Body> {
    match follow(app, ctx, info) {
        Ok(found) => {
            let mut r = Response::new(crate::http::body::empty());
            r.extensions_mut()
                .insert(Pending(Arc::new(Mutex::new(Some(found)))));
            r
        }
        Err(b) => {
            let r = with_location(b.error.into_response(head), b.location);
            match b.target {
                // The target's container decides on CORS, as in Swift.
                Some((a, c)) => super::cors::rules_from(r, &a, &c),
                None => r,
            }
        }
    }
}

/// An answer still to come (boxed: a target's GET may end in [`finish`]
/// again, when a link replaced its target meanwhile).
type Later = Pin<Box<dyn Future<Output = ApiResult<Response<Body>>> + Send>>;

/// Serves the target a [`get`] found (as the caller, from the target's own
/// container); any other answer passes through.
pub(super) fn finish(app: Arc<App>, res: ApiResult<Response<Body>>) -> Later {
    Box::pin(async move {
        let pending = match &res {
            Ok(r) => r.extensions().get::<Pending>().cloned(),
            Err(_) => None,
        };
        let Some((end, here)) = pending.and_then(|p| p.0.lock().ok()?.take()) else {
            return res;
        };
        let head = end.ctx.method == http::Method::HEAD;
        let (account, container) = (end.ctx.account.clone(), end.container.clone());
        let r = app
            .get_object(end.ctx, end.container, end.object)
            .await
            .unwrap_or_else(|e| e.into_response(head));
        let r = super::cors::rules_from(r, &account, &container);
        Ok(with_location(r, Some(here)))
    })
}

fn with_location(mut r: Response<Body>, location: Option<String>) -> Response<Body> {
    if let Some(v) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        r.headers_mut().insert("content-location", v);
    }
    r
}

/// Checks the `X-Symlink-Target*` headers of a PUT; returns the target
/// (account, container, object), whether the account was given, and the
/// static ETag.
fn parse_put(
    ctx: &Ctx,
    container: &str,
    object: &str,
) -> ApiResult<(TargetPath, bool, Option<String>)> {
    let raw = ctx.header("x-symlink-target")?.unwrap_or_default();
    let bad = || ApiError::PreconditionFailed(FORM.into());
    let t = unquote(raw).ok_or_else(bad)?;
    if t.starts_with('/') {
        return Err(bad());
    }
    let (tc, to) = t.split_once('/').ok_or_else(bad)?;
    if tc.is_empty() || to.is_empty() {
        return Err(bad());
    }
    let given = ctx.header("x-symlink-target-account")?;
    let account = match given {
        Some(a) => {
            let a = unquote(a).ok_or_else(|| {
                ApiError::PreconditionFailed("Invalid UTF8 or contains NULL".into())
            })?;
            if a.is_empty() {
                return Err(ApiError::BadRequest("Account name cannot be empty".into()));
            }
            if a.contains('/') {
                return Err(ApiError::BadRequest(
                    "Account name cannot contain slashes".into(),
                ));
            }
            a
        }
        None => ctx.account.clone(),
    };
    if (account.as_str(), tc, to) == (ctx.account.as_str(), container, object) {
        return Err(ApiError::BadRequest("Symlink cannot target itself".into()));
    }
    let etag = ctx
        .header("x-symlink-target-etag")?
        .map(|e| e.trim().trim_matches('"').to_string())
        .filter(|e| !e.is_empty());
    if etag
        .as_deref()
        .is_some_and(|e| e.contains([';', '"', '\\']))
    {
        return Err(ApiError::BadRequest(
            "Bad X-Symlink-Target-Etag format".into(),
        ));
    }
    Ok(((account, tc.into(), to.into()), given.is_some(), etag))
}

/// PUT with `X-Symlink-Target`: stores a zero-byte link.
pub(super) async fn put(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: ObjPath,
    body: Incoming,
) -> ApiResult<Response<Body>> {
    let zero = || ApiError::BadRequest("Symlink requests require a zero byte body".into());
    match ctx.header("content-length")? {
        Some(l) if l.trim() != "0" => return Err(zero()),
        Some(_) => {}
        None => {
            let mut body = body;
            while let Some(f) = body.frame().await {
                let f = f.map_err(|_| ApiError::BadRequest("Request body incomplete".into()))?;
                if f.data_ref().is_some_and(|d| !d.is_empty()) {
                    return Err(zero());
                }
            }
        }
    }
    if object.ends_with('/') {
        return Err(ApiError::BadRequest(
            "A name ending in / is a directory marker and cannot be a symlink".into(),
        ));
    }
    let (target, account_given, etag) = parse_put(&ctx, &container, &object)?;
    let mut meta = request_meta(&app, &ctx, &object)?;
    let typed = ctx
        .header("content-type")?
        .is_some_and(|c| !c.trim().is_empty());
    blocking(&app, move |app| {
        let loc = authorize(app, &ctx, &container, true)?;
        // A link is a zero-byte object: it counts as one against the quotas,
        // checked before the target is.
        let dest = ctx.write_dest(loc, &container, &object);
        write::check_quota(app, &dest, 0)?;
        let (ta, tc, to) = &target;
        meta.insert(TARGET.into(), quote(&format!("{tc}/{to}")));
        if account_given {
            meta.insert(TARGET_ACCOUNT.into(), quote(ta));
        }
        if let Some(etag) = etag {
            let (end, _) = walk(app, &ctx, target, Some(etag.clone()), false, 0).map_err(|b| {
                match b.error {
                    ApiError::NotFound => {
                        ApiError::Conflict("X-Symlink-Target does not exist".into())
                    }
                    e => e,
                }
            })?;
            let m = &end.info.meta;
            let bytes = m.get(SLO_SIZE).cloned();
            meta.insert(TARGET_ETAG.into(), etag);
            meta.insert(
                TARGET_BYTES.into(),
                bytes.unwrap_or_else(|| end.info.size.to_string()),
            );
            if let Some(e) = m.get(SLO_ETAG) {
                meta.insert(
                    LISTING_ETAG.into(),
                    format!("{}; slo_etag={e}", md5_of_empty()),
                );
            }
            if !typed {
                // A manifest's stored type carries `;swift_bytes=N`.
                let ct = end.info.content_type();
                let ct = ct.split(";swift_bytes=").next().unwrap_or(ct);
                meta.insert(keys::CONTENT_TYPE.into(), ct.into());
            }
        } else if !typed {
            meta.insert(keys::CONTENT_TYPE.into(), "application/symlink".into());
        }
        // A link over an object keeps the old one, as any other write does.
        let info = write::put_bytes(app, dest, b"", meta)?;
        Ok(created(&info))
    })
    .await
}

/// Metadata a copy of the link `src` keeps (`?symlink=get` copies the link
/// itself): its target, re-pointed to `X-Symlink-Target-Account` if given.
pub(super) fn copy_meta(ctx: &Ctx, src: &ObjectInfo, m: &mut Meta) -> ApiResult<()> {
    for (key, _) in SHOWN {
        if let Some(v) = src.meta.get(key) {
            m.insert(key.into(), v.clone());
        }
    }
    if let Some(a) = ctx.header("x-symlink-target-account")? {
        m.insert(
            TARGET_ACCOUNT.into(),
            quote(&unquote(a).unwrap_or_default()),
        );
    }
    Ok(())
}

/// POST that named a target: Swift only sets targets by PUT.
pub(super) fn check_post(ctx: &Ctx) -> ApiResult<()> {
    if ctx.headers.contains_key("x-symlink-target") {
        return Err(ApiError::BadRequest(
            "A PUT request is required to set a symlink target".into(),
        ));
    }
    Ok(())
}

/// After a POST applied to a link: 307 to its target (the metadata stays on
/// the link, as in Swift).
pub(super) fn post_redirect(account: &str, info: &ObjectInfo) -> Option<Response<Body>> {
    let (a, c, o) = target_of(info, account)?;
    let msg = "The requested POST was applied to a symlink. POST directly to the target to apply requested metadata.";
    let mut b = Response::builder()
        .status(StatusCode::TEMPORARY_REDIRECT)
        .header("Content-Type", "text/plain; charset=UTF-8")
        .header("Content-Length", msg.len())
        .header("Location", location(&a, &c, &o));
    if let Some(e) = info.meta.get(TARGET_ETAG) {
        b = b.header("X-Symlink-Target-Etag", e.as_str());
    }
    b.body(crate::http::body::full(msg)).ok()
}

/// Extra JSON members of a link's container-listing row: `symlink_path`,
/// and for static links `symlink_etag` and `symlink_bytes`.
pub fn listing_fields(info: &ObjectInfo, account: &str) -> Option<String> {
    let t = info.meta.get(TARGET)?;
    let a = match info.meta.get(TARGET_ACCOUNT) {
        Some(a) => a.clone(),
        None => quote(account),
    };
    let path = serde_json::to_string(&format!("/v1/{a}/{t}")).ok()?;
    let mut s = format!(",\"symlink_path\":{path}");
    if let Some(e) = info.meta.get(TARGET_ETAG) {
        s.push_str(&format!(
            ",\"symlink_etag\":{}",
            serde_json::to_string(e).ok()?
        ));
        let bytes: u64 = info
            .meta
            .get(TARGET_BYTES)
            .and_then(|b| b.parse().ok())
            .unwrap_or(0);
        s.push_str(&format!(",\"symlink_bytes\":{bytes}"));
    }
    let slo_etag = info.meta.get(LISTING_ETAG).and_then(|v| {
        v.split(';')
            .find_map(|p| p.trim().strip_prefix("slo_etag="))
    });
    if let Some(e) = slo_etag {
        s.push_str(&format!(
            ",\"slo_etag\":{}",
            serde_json::to_string(&format!("\"{e}\"")).ok()?
        ));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_as_python() {
        assert_eq!(quote("c/a b%/é~_.-"), "c/a%20b%25/%C3%A9~_.-");
        assert_eq!(unquote("a%20b").as_deref(), Some("a b"));
    }

    #[test]
    fn targets_default_to_the_link_account() {
        let mut m = Meta::new();
        m.insert(TARGET.into(), "c/a%20b/x".into());
        let info = ObjectInfo { size: 0, meta: m };
        assert_eq!(
            target_of(&info, "AUTH_a"),
            Some(("AUTH_a".into(), "c".into(), "a b/x".into()))
        );
        let row = listing_fields(&info, "AUTH_a").unwrap();
        assert_eq!(row, ",\"symlink_path\":\"/v1/AUTH_a/c/a%20b/x\"");
    }

    #[test]
    fn static_links_to_manifests_list_the_slo_etag() {
        let mut m = Meta::new();
        m.insert(TARGET.into(), "c/m".into());
        m.insert(TARGET_ACCOUNT.into(), "AUTH_b".into());
        m.insert(TARGET_ETAG.into(), "abc".into());
        m.insert(TARGET_BYTES.into(), "42".into());
        m.insert(
            LISTING_ETAG.into(),
            format!("{}; slo_etag=def", md5_of_empty()),
        );
        let info = ObjectInfo { size: 0, meta: m };
        let row = listing_fields(&info, "AUTH_a").unwrap();
        assert_eq!(
            row,
            ",\"symlink_path\":\"/v1/AUTH_b/c/m\",\"symlink_etag\":\"abc\",\"symlink_bytes\":42,\"slo_etag\":\"\\\"def\\\"\""
        );
    }
}
