//! The features, in the order they run — this file's [`pipeline`] reads
//! like Swift's `pipeline =` line — and what each adds to the core through
//! the [`Feature`] trait. A feature is turned off by naming it in
//! `[features] off` (then it is not on the list, and `/info` does not
//! show it); one is added by its own file, an impl here and one line in
//! the list. The core files name no feature, and no feature names this
//! file.

use std::sync::Arc;

use http::response::Builder;
use http::{Method, Response};
use serde_json::{json, Value};

use super::feature::{Feature, Listing, Name, ObjectRequest, Pipeline, Read, Request, Take};
use super::listing::{RowFields, SizeEtag};
use super::write::{CommitHook, Dest, Hooks, Pending, QuotaHook};
use super::{bulk, dlo, etag_quoter, expirer, formpost, quota, slo, symlink, tempurl};
use super::{versioned_writes, versioning, App, Ctx};
use crate::http::body::Body;
use crate::http::error::ApiResult;
use crate::store::meta::Meta;
use crate::store::object::ObjectInfo;
use crate::store::{ContainerLoc, ObjPath};

/// Every feature, in order, but those named in `off` (`[features] off`;
/// an unknown name is an error that lists the known ones). Reads are
/// answered by the first that claims them (a link before a large object),
/// writes commit through versioned writes before object versioning.
pub fn pipeline(off: &[String]) -> Result<Pipeline, String> {
    let off = off
        .iter()
        .map(|n| {
            Name::parse(n.trim()).ok_or_else(|| {
                let known: Vec<_> = Name::ALL.iter().map(|n| n.as_str()).collect();
                format!(
                    "[features] off: no feature {n:?} (known: {})",
                    known.join(", ")
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let all: Vec<Box<dyn Feature>> = vec![
        Box::new(Tempurl),
        Box::new(Formpost),
        Box::new(Bulk),
        Box::new(Staticweb),
        Box::new(Symlink),
        Box::new(Slo),
        Box::new(Dlo),
        Box::new(VersionedWrites),
        Box::new(ObjectVersioning),
        Box::new(ContainerQuotas),
        Box::new(AccountQuotas),
        Box::new(EtagQuoter),
    ];
    Ok(Pipeline::new(
        all.into_iter()
            .filter(|f| !off.contains(&f.name()))
            .collect(),
    ))
}

/// The write path's hooks from the features that are on; the expiry queue
/// (not a feature in Swift either) always runs once an object is placed.
pub fn write_hooks(p: &Pipeline) -> Hooks {
    Hooks {
        quota: p.quotas(),
        commit: p.commits(),
        placed: |app, d, info| {
            expirer::note(app, &d.loc, &d.account, &d.container, &d.object, &info.meta)
        },
    }
}

/// What listing rows show of large objects, versions and links.
pub fn listing_hooks(p: &Pipeline) -> super::listing::RowHooks {
    super::listing::RowHooks {
        size_etag: p.listing_size_etag().unwrap_or(|_| None),
        fields: p.listing_fields(),
    }
}

struct Tempurl;

impl Feature for Tempurl {
    fn name(&self) -> Name {
        Name::Tempurl
    }
    fn info(&self, _: &App) -> Vec<(&'static str, Value)> {
        vec![("tempurl", tempurl::info())]
    }
}

struct Formpost;

impl Feature for Formpost {
    fn name(&self) -> Name {
        Name::Formpost
    }
    fn info(&self, _: &App) -> Vec<(&'static str, Value)> {
        let v = json!({ "allowed_digests": tempurl::DIGESTS, "deprecated_digests": ["sha1"] });
        vec![("formpost", v)]
    }
    /// A form upload carries its own signature, whatever the path.
    fn takes_request(&self, ctx: &Ctx, signed: bool) -> ApiResult<Option<Take<Request>>> {
        if signed || !formpost::applies(ctx) {
            return Ok(None);
        }
        Ok(Some(Box::new(|r: Request| {
            Box::pin(async move { formpost::handle(r.app, r.ctx, &r.path, r.body).await })
        })))
    }
}

struct Bulk;

impl Feature for Bulk {
    fn name(&self) -> Name {
        Name::Bulk
    }
    fn info(&self, _: &App) -> Vec<(&'static str, Value)> {
        bulk::info().into()
    }
    fn takes_request(&self, ctx: &Ctx, _: bool) -> ApiResult<Option<Take<Request>>> {
        let Some(op) = bulk::operation(ctx)? else {
            return Ok(None);
        };
        Ok(Some(Box::new(move |r: Request| {
            Box::pin(bulk::handle(
                r.app,
                r.ctx,
                op,
                r.container,
                r.object,
                r.body,
            ))
        })))
    }
}

struct Staticweb;

impl Feature for Staticweb {
    fn name(&self) -> Name {
        Name::Staticweb
    }
    fn info(&self, _: &App) -> Vec<(&'static str, Value)> {
        vec![("staticweb", json!({}))]
    }
}

struct Symlink;

impl Feature for Symlink {
    fn name(&self) -> Name {
        Name::Symlink
    }
    fn info(&self, _: &App) -> Vec<(&'static str, Value)> {
        let v = json!({ "symloop_max": symlink::SYMLOOP_MAX, "static_links": true });
        vec![("symlink", v)]
    }
    /// A PUT naming a target (a copy, X-Copy-From, is a copy still).
    fn takes_object(&self, ctx: &Ctx) -> Option<Take<ObjectRequest>> {
        let h = &ctx.headers;
        let link = ctx.method == Method::PUT
            && h.contains_key("x-symlink-target")
            && !h.contains_key("x-copy-from");
        link.then(|| -> Take<ObjectRequest> {
            Box::new(|r: ObjectRequest| {
                Box::pin(symlink::put(r.app, r.ctx, r.container, r.object, r.body))
            })
        })
    }
    fn listing_fields(&self) -> Option<RowFields> {
        Some(|info, account, _, _| symlink::listing_fields(info, account))
    }
    fn reads(&self, ctx: &Ctx, info: &ObjectInfo) -> bool {
        symlink::follows(ctx) && symlink::is_link(info)
    }
    fn read(&self, app: &Arc<App>, ctx: &Ctx, r: &Read) -> ApiResult<Option<Response<Body>>> {
        Ok(Some(symlink::get(app, ctx, r.info, r.head)))
    }
}

struct Slo;

impl Feature for Slo {
    fn name(&self) -> Name {
        Name::Slo
    }
    fn info(&self, _: &App) -> Vec<(&'static str, Value)> {
        vec![("slo", slo::info())]
    }
    fn object_check(&self, ctx: &Ctx) -> ApiResult<()> {
        let reads = matches!(ctx.method, Method::GET | Method::HEAD);
        if reads || slo::is_manifest_put(ctx) || slo::is_manifest_delete(ctx) {
            return Ok(());
        }
        slo::check_reserved(ctx)
    }
    fn takes_object(&self, ctx: &Ctx) -> Option<Take<ObjectRequest>> {
        if slo::is_manifest_put(ctx) {
            return Some(Box::new(|r: ObjectRequest| {
                Box::pin(slo::put(r.app, r.ctx, r.container, r.object, r.body))
            }));
        }
        slo::is_manifest_delete(ctx).then(|| -> Take<ObjectRequest> {
            Box::new(|r: ObjectRequest| {
                Box::pin(slo::delete(r.app, r.ctx, r.container, r.object, None))
            })
        })
    }
    fn listing_size_etag(&self) -> Option<SizeEtag> {
        Some(slo::listing_attrs)
    }
    fn reads(&self, _: &Ctx, info: &ObjectInfo) -> bool {
        slo::is_slo(info)
    }
    fn read(&self, app: &Arc<App>, ctx: &Ctx, r: &Read) -> ApiResult<Option<Response<Body>>> {
        slo::get(app, ctx, r.info, r.file, r.loc, r.object, r.head)
    }
}

struct Dlo;

impl Feature for Dlo {
    fn name(&self) -> Name {
        Name::Dlo
    }
    fn info(&self, _: &App) -> Vec<(&'static str, Value)> {
        vec![("dlo", json!({ "max_segments": dlo::MAX_SEGMENTS }))]
    }
    fn reads(&self, ctx: &Ctx, info: &ObjectInfo) -> bool {
        dlo::manifest(ctx, info).is_some()
    }
    fn read(&self, app: &Arc<App>, ctx: &Ctx, r: &Read) -> ApiResult<Option<Response<Body>>> {
        match dlo::manifest(ctx, r.info) {
            Some(m) => dlo::respond(app, ctx, r.info, &m, r.head).map(Some),
            None => Ok(None),
        }
    }
}

struct VersionedWrites;

impl Feature for VersionedWrites {
    fn name(&self) -> Name {
        Name::VersionedWrites
    }
    fn info(&self, _: &App) -> Vec<(&'static str, Value)> {
        vec![("versioned_writes", versioned_writes::info())]
    }
    fn container_request(&self, ctx: &Ctx, owner: bool, m: &mut Meta) -> ApiResult<()> {
        versioned_writes::container_headers(ctx, owner, m)
    }
    fn container_headers(&self, b: Builder, m: &Meta) -> Builder {
        versioned_writes::container_response(b, m)
    }
    fn commit(&self) -> Option<CommitHook> {
        Some(archive_replaced)
    }
    fn object_delete(
        &self,
        app: &App,
        ctx: &Ctx,
        loc: &ContainerLoc,
        object: &ObjPath,
    ) -> ApiResult<Option<Response<Body>>> {
        versioned_writes::delete(app, ctx, loc, object)
    }
}

/// Legacy versioned writes: the object replaced goes to the archive, and
/// comes back out if the commit fails.
fn archive_replaced(app: &App, d: &Dest, _: &mut Meta) -> ApiResult<Option<Box<dyn Pending>>> {
    let kept = versioned_writes::archive(app, &d.account, &d.loc, &d.object)?;
    Ok(kept.map(|k| Box::new(k) as Box<dyn Pending>))
}

impl Pending for versioned_writes::Archived {
    fn committed(self: Box<Self>, _: &App, _: &Dest) -> ApiResult<()> {
        self.keep();
        Ok(())
    }
}

struct ObjectVersioning;

impl Feature for ObjectVersioning {
    fn name(&self) -> Name {
        Name::ObjectVersioning
    }
    fn info(&self, _: &App) -> Vec<(&'static str, Value)> {
        vec![("object_versioning", json!({}))]
    }
    fn container_request(&self, ctx: &Ctx, owner: bool, m: &mut Meta) -> ApiResult<()> {
        versioning::container_headers(ctx, owner, m)
    }
    fn container_merged(&self, merged: &Meta, change: &Meta) -> ApiResult<()> {
        versioning::check_merged(merged, change)
    }
    fn container_headers(&self, b: Builder, m: &Meta) -> Builder {
        versioning::container_response(b, m)
    }
    fn container_bytes(&self, app: &App, loc: &ContainerLoc) -> u64 {
        versioning::version_bytes(app, loc)
    }
    fn container_delete(&self, app: &App, loc: &ContainerLoc) -> ApiResult<()> {
        versioning::before_container_delete(app, loc)
    }
    fn container_listing(
        &self,
        app: &App,
        ctx: &Ctx,
        loc: &ContainerLoc,
    ) -> ApiResult<Option<Listing>> {
        versioning::listing(app, ctx, loc)
    }
    fn commit(&self) -> Option<CommitHook> {
        Some(version_new)
    }
    fn listing_fields(&self) -> Option<RowFields> {
        Some(versioning::listing_fields)
    }
    fn object_delete(
        &self,
        app: &App,
        _: &Ctx,
        loc: &ContainerLoc,
        object: &ObjPath,
    ) -> ApiResult<Option<Response<Body>>> {
        versioning::delete(app, loc, object)
    }
}

/// Object versioning: the new object's version id, in its metadata before
/// the commit, linked among the versions after.
fn version_new(app: &App, d: &Dest, meta: &mut Meta) -> ApiResult<Option<Box<dyn Pending>>> {
    let vid = versioning::before_commit(app, &d.loc, &d.object, meta)?;
    Ok(vid.map(|v| Box::new(VersionId(v)) as Box<dyn Pending>))
}

struct VersionId(String);

impl Pending for VersionId {
    fn committed(self: Box<Self>, app: &App, d: &Dest) -> ApiResult<()> {
        versioning::after_commit(app, &d.loc, &d.object, &self.0)
    }
}

struct ContainerQuotas;

impl Feature for ContainerQuotas {
    fn name(&self) -> Name {
        Name::ContainerQuotas
    }
    fn info(&self, _: &App) -> Vec<(&'static str, Value)> {
        vec![("container_quotas", json!({}))]
    }
    fn container_request(&self, ctx: &Ctx, _: bool, _: &mut Meta) -> ApiResult<()> {
        quota::check_container_headers(ctx)
    }
    fn quota(&self) -> Option<QuotaHook> {
        Some(|app, d, size| quota::check_container(app, &d.loc, size))
    }
}

struct AccountQuotas;

impl Feature for AccountQuotas {
    fn name(&self) -> Name {
        Name::AccountQuotas
    }
    fn info(&self, _: &App) -> Vec<(&'static str, Value)> {
        vec![("account_quotas", json!({}))]
    }
    fn account_request(&self, app: &App, ctx: &Ctx, m: &mut Meta) -> ApiResult<()> {
        m.extend(quota::account_updates(app, ctx)?);
        Ok(())
    }
    fn account_headers(&self, app: &App, b: Builder, m: &Meta) -> Builder {
        quota::account_headers(b, app, m)
    }
    fn quota(&self) -> Option<QuotaHook> {
        Some(|app, d, size| quota::check_account(app, &d.account, d.quota_exempt, &d.loc, size))
    }
}

struct EtagQuoter;

impl Feature for EtagQuoter {
    fn name(&self) -> Name {
        Name::EtagQuoter
    }
    fn info(&self, app: &App) -> Vec<(&'static str, Value)> {
        vec![("etag_quoter", etag_quoter::info(app))]
    }
    fn container_request(&self, ctx: &Ctx, owner: bool, m: &mut Meta) -> ApiResult<()> {
        match owner {
            true => etag_quoter::request_meta(ctx, "container", m),
            false => Ok(()),
        }
    }
    fn container_headers(&self, b: Builder, m: &Meta) -> Builder {
        etag_quoter::response_header(b, "container", m)
    }
    fn account_request(&self, _: &App, ctx: &Ctx, m: &mut Meta) -> ApiResult<()> {
        etag_quoter::request_meta(ctx, "account", m)
    }
    fn account_headers(&self, _: &App, b: Builder, m: &Meta) -> Builder {
        etag_quoter::response_header(b, "account", m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn app(off: &[&str]) -> Result<App, String> {
        let mut cfg = Config::embedded();
        cfg.auth.secret = "s".repeat(32);
        cfg.policies[0].device = std::env::temp_dir();
        cfg.features.off = off.iter().map(|s| s.to_string()).collect();
        App::new(cfg)
    }

    #[test]
    fn every_feature_is_on_unless_named_off() {
        let names = app(&[]).unwrap().features.names();
        assert_eq!(names.len(), Name::ALL.len());
        let app = app(&["slo", " symlink "]).unwrap();
        assert!(!app.features.on(Name::Slo) && !app.features.on(Name::Symlink));
        assert!(app.features.on(Name::Dlo));
        assert_eq!(app.features.names().len(), Name::ALL.len() - 2);
    }

    #[test]
    fn an_unknown_name_is_a_config_error() {
        let e = app(&["slo", "versioning"]).err().unwrap();
        assert!(
            e.contains("\"versioning\"") && e.contains("object_versioning"),
            "{e}"
        );
    }

    fn ctx(method: Method, query: &str, headers: &[(&'static str, &str)]) -> Ctx {
        let mut h = http::HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, http::HeaderValue::from_str(v).unwrap());
        }
        Ctx {
            method,
            headers: h,
            query: crate::http::request::parse_query(Some(query)).unwrap(),
            id: None,
            account: "AUTH_a".into(),
            grant: None,
            note: Default::default(),
            etag_is_at: None,
        }
    }

    #[test]
    fn takers_run_every_check_and_yield_to_a_copy_or_a_temp_url() {
        let p = pipeline(&[]).unwrap();
        let link = [("x-symlink-target", "c/t")];
        assert!(p
            .takes_object(&ctx(Method::PUT, "", &link))
            .unwrap()
            .is_some());
        // SLO's reserved header is refused whoever takes the request.
        let reserved = [("x-symlink-target", "c/t"), ("x-static-large-object", "1")];
        assert!(p.takes_object(&ctx(Method::PUT, "", &reserved)).is_err());
        // A link with X-Copy-From is a copy; a plain PUT is the core's.
        let copy = [("x-symlink-target", "c/t"), ("x-copy-from", "c/o")];
        assert!(p
            .takes_object(&ctx(Method::PUT, "", &copy))
            .unwrap()
            .is_none());
        assert!(p
            .takes_object(&ctx(Method::PUT, "", &[]))
            .unwrap()
            .is_none());
        let manifest = ctx(Method::PUT, "multipart-manifest=put", &[]);
        assert!(p.takes_object(&manifest).unwrap().is_some());
        assert!(pipeline(&["slo".into()])
            .unwrap()
            .takes_object(&manifest)
            .unwrap()
            .is_none());
        // A form upload with a temp URL is not formpost's; a bulk delete is bulk's either way.
        let form = [("content-type", "multipart/form-data; boundary=x")];
        assert!(p
            .takes_request(&ctx(Method::POST, "", &form), false)
            .unwrap()
            .is_some());
        assert!(p
            .takes_request(&ctx(Method::POST, "", &form), true)
            .unwrap()
            .is_none());
        let bulk = ctx(Method::POST, "bulk-delete", &[]);
        assert!(p.takes_request(&bulk, true).unwrap().is_some());
        assert!(p
            .takes_request(&ctx(Method::POST, "", &[]), false)
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_feature_off_leaves_the_write_path_and_listing() {
        let some = app(&["versioned_writes", "slo"]).unwrap();
        assert_eq!(some.hooks.commit.len(), 1);
        assert_eq!(some.hooks.quota.len(), 2);
        let all = app(&[]).unwrap();
        assert_eq!(all.hooks.commit.len(), 2);
        assert_eq!(all.listing.fields.len(), 2);
    }
}
