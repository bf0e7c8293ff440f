//! What a feature may add to the core, as one trait, and the running list
//! of features (the [`Pipeline`], built in `features.rs` from
//! `[features] off`). The core asks the pipeline, never a feature by name:
//! container and account requests and answers, `/info`, the write path's
//! hooks, listing rows, the deletes that versioning turns into something
//! else, the reads that a link or a large object answers, and the requests
//! a feature takes whole (a form upload, a bulk operation, a manifest or a
//! link PUT). What versioning and staticweb do around a request, and what
//! a copy reads of its source, still ask [`Pipeline::on`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::response::Builder;
use http::{Response, StatusCode};
use serde_json::Value;

use super::listing::{RowFields, SizeEtag};
use super::write::{CommitHook, QuotaHook};
use super::{App, Ctx};
use crate::http::body::Body;
use crate::http::error::ApiResult;
use crate::http::incoming::Incoming;
use crate::store::meta::Meta;
use crate::store::object::ObjectInfo;
use crate::store::{ContainerLoc, ObjPath};

/// The features, by the names of Swift's middleware (`/info` keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Name {
    Tempurl,
    Formpost,
    Staticweb,
    Bulk,
    Slo,
    Dlo,
    Symlink,
    VersionedWrites,
    ObjectVersioning,
    ContainerQuotas,
    AccountQuotas,
    EtagQuoter,
}

impl Name {
    pub const ALL: [Name; 12] = [
        Name::Tempurl,
        Name::Formpost,
        Name::Staticweb,
        Name::Bulk,
        Name::Slo,
        Name::Dlo,
        Name::Symlink,
        Name::VersionedWrites,
        Name::ObjectVersioning,
        Name::ContainerQuotas,
        Name::AccountQuotas,
        Name::EtagQuoter,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Name::Tempurl => "tempurl",
            Name::Formpost => "formpost",
            Name::Staticweb => "staticweb",
            Name::Bulk => "bulk",
            Name::Slo => "slo",
            Name::Dlo => "dlo",
            Name::Symlink => "symlink",
            Name::VersionedWrites => "versioned_writes",
            Name::ObjectVersioning => "object_versioning",
            Name::ContainerQuotas => "container_quotas",
            Name::AccountQuotas => "account_quotas",
            Name::EtagQuoter => "etag_quoter",
        }
    }

    pub fn parse(s: &str) -> Option<Name> {
        Name::ALL.into_iter().find(|n| n.as_str() == s)
    }

    fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// A read of an object that a feature may answer instead of the plain file.
pub struct Read<'a> {
    pub info: &'a ObjectInfo,
    /// The open file (GET); `None` for a HEAD.
    pub file: Option<&'a std::fs::File>,
    pub loc: &'a ContainerLoc,
    pub object: &'a ObjPath,
    pub head: bool,
}

/// An answer a feature gives to a listing of a container (a versions list).
pub type Listing = (StatusCode, String);

/// The answer to a request a feature takes whole.
pub type Answer = Pin<Box<dyn Future<Output = ApiResult<Response<Body>>> + Send>>;

/// A request taken whole before any dispatch: its raw path, and the
/// container and object it names (none for an account).
pub struct Request {
    pub app: Arc<App>,
    pub ctx: Ctx,
    pub path: String,
    pub container: Option<String>,
    pub object: Option<String>,
    pub body: Incoming,
}

/// An object request taken whole in place of the plain one.
pub struct ObjectRequest {
    pub app: Arc<App>,
    pub ctx: Ctx,
    pub container: String,
    pub object: ObjPath,
    pub body: Incoming,
}

/// How a feature answers a request it takes.
pub type Take<R> = Box<dyn FnOnce(R) -> Answer + Send>;

/// What one feature adds. Every method has a default that adds nothing,
/// so a feature implements only what it does.
pub trait Feature: Send + Sync {
    fn name(&self) -> Name;

    /// Its entries in `/info`.
    fn info(&self, _app: &App) -> Vec<(&'static str, Value)> {
        Vec::new()
    }

    /// Does it take this request whole, before any dispatch? `signed`: a
    /// temp URL stood in for the token.
    fn takes_request(&self, _ctx: &Ctx, _signed: bool) -> ApiResult<Option<Take<Request>>> {
        Ok(None)
    }

    /// Checks an object request before any feature takes it (every
    /// feature's check runs, whoever takes it).
    fn object_check(&self, _ctx: &Ctx) -> ApiResult<()> {
        Ok(())
    }

    /// Does it take this object request whole, in place of the plain one?
    fn takes_object(&self, _ctx: &Ctx) -> Option<Take<ObjectRequest>> {
        None
    }

    /// Checks a container PUT or POST and adds the keys it stores.
    fn container_request(&self, _ctx: &Ctx, _owner: bool, _m: &mut Meta) -> ApiResult<()> {
        Ok(())
    }

    /// Checks a container's metadata as a change would leave it.
    fn container_merged(&self, _merged: &Meta, _change: &Meta) -> ApiResult<()> {
        Ok(())
    }

    /// Adds its headers to a container HEAD or GET.
    fn container_headers(&self, b: Builder, _m: &Meta) -> Builder {
        b
    }

    /// Bytes it keeps for the container outside its listing (versions).
    fn container_bytes(&self, _app: &App, _loc: &ContainerLoc) -> u64 {
        0
    }

    /// Runs before a container is deleted; an error keeps it.
    fn container_delete(&self, _app: &App, _loc: &ContainerLoc) -> ApiResult<()> {
        Ok(())
    }

    /// Answers a container GET in place of its object listing.
    fn container_listing(
        &self,
        _app: &App,
        _ctx: &Ctx,
        _loc: &ContainerLoc,
    ) -> ApiResult<Option<Listing>> {
        Ok(None)
    }

    /// Checks an account POST and adds the keys it stores.
    fn account_request(&self, _app: &App, _ctx: &Ctx, _m: &mut Meta) -> ApiResult<()> {
        Ok(())
    }

    /// Adds its headers to an account HEAD or GET.
    fn account_headers(&self, _app: &App, b: Builder, _m: &Meta) -> Builder {
        b
    }

    /// Its first step on the write path.
    fn quota(&self) -> Option<QuotaHook> {
        None
    }

    /// Its step around the write path's rename.
    fn commit(&self) -> Option<CommitHook> {
        None
    }

    /// A field it adds to an object listing's JSON rows.
    fn listing_fields(&self) -> Option<RowFields> {
        None
    }

    /// The size and ETag an object listing shows for what it stores.
    fn listing_size_etag(&self) -> Option<SizeEtag> {
        None
    }

    /// Answers an object DELETE in place of the plain delete (a delete
    /// marker, a restore).
    fn object_delete(
        &self,
        _app: &App,
        _ctx: &Ctx,
        _loc: &ContainerLoc,
        _object: &ObjPath,
    ) -> ApiResult<Option<Response<Body>>> {
        Ok(None)
    }

    /// Does it answer a read of `info` (the quick path then steps aside)?
    fn reads(&self, _ctx: &Ctx, _info: &ObjectInfo) -> bool {
        false
    }

    /// Its answer to a read it [`reads`](Feature::reads); `None` leaves
    /// the read to the next feature and, last, the plain file.
    fn read(&self, _app: &Arc<App>, _ctx: &Ctx, _r: &Read) -> ApiResult<Option<Response<Body>>> {
        Ok(None)
    }
}

/// The features that are on, in the order they run.
pub struct Pipeline {
    list: Vec<Box<dyn Feature>>,
    /// One bit per [`Name`] on the list: [`Pipeline::on`] is asked on
    /// every object request.
    on: u32,
}

impl Pipeline {
    pub fn new(list: Vec<Box<dyn Feature>>) -> Pipeline {
        let on = list.iter().fold(0, |on, f| on | f.name().bit());
        Pipeline { list, on }
    }

    /// Is `name` on?
    pub fn on(&self, name: Name) -> bool {
        self.on & name.bit() != 0
    }

    /// The names that are on, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.list.iter().map(|f| f.name().as_str()).collect()
    }

    pub fn info(&self, app: &App) -> Vec<(&'static str, Value)> {
        self.list.iter().flat_map(|f| f.info(app)).collect()
    }

    /// The first feature's taking of a request, before any dispatch.
    pub fn takes_request(&self, ctx: &Ctx, signed: bool) -> ApiResult<Option<Take<Request>>> {
        for f in &self.list {
            if let Some(t) = f.takes_request(ctx, signed)? {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }

    /// Every feature's check of an object request, then the first that
    /// takes it.
    pub fn takes_object(&self, ctx: &Ctx) -> ApiResult<Option<Take<ObjectRequest>>> {
        self.list.iter().try_for_each(|f| f.object_check(ctx))?;
        Ok(self.list.iter().find_map(|f| f.takes_object(ctx)))
    }

    pub fn container_request(&self, ctx: &Ctx, owner: bool, m: &mut Meta) -> ApiResult<()> {
        self.list
            .iter()
            .try_for_each(|f| f.container_request(ctx, owner, m))
    }

    pub fn container_merged(&self, merged: &Meta, change: &Meta) -> ApiResult<()> {
        self.list
            .iter()
            .try_for_each(|f| f.container_merged(merged, change))
    }

    pub fn container_headers(&self, b: Builder, m: &Meta) -> Builder {
        self.list.iter().fold(b, |b, f| f.container_headers(b, m))
    }

    pub fn container_bytes(&self, app: &App, loc: &ContainerLoc) -> u64 {
        self.list.iter().map(|f| f.container_bytes(app, loc)).sum()
    }

    pub fn container_delete(&self, app: &App, loc: &ContainerLoc) -> ApiResult<()> {
        self.list
            .iter()
            .try_for_each(|f| f.container_delete(app, loc))
    }

    pub fn container_listing(
        &self,
        app: &App,
        ctx: &Ctx,
        loc: &ContainerLoc,
    ) -> ApiResult<Option<Listing>> {
        for f in &self.list {
            if let Some(l) = f.container_listing(app, ctx, loc)? {
                return Ok(Some(l));
            }
        }
        Ok(None)
    }

    pub fn account_request(&self, app: &App, ctx: &Ctx, m: &mut Meta) -> ApiResult<()> {
        self.list
            .iter()
            .try_for_each(|f| f.account_request(app, ctx, m))
    }

    pub fn account_headers(&self, app: &App, b: Builder, m: &Meta) -> Builder {
        self.list
            .iter()
            .fold(b, |b, f| f.account_headers(app, b, m))
    }

    pub fn quotas(&self) -> Vec<QuotaHook> {
        self.list.iter().filter_map(|f| f.quota()).collect()
    }

    pub fn commits(&self) -> Vec<CommitHook> {
        self.list.iter().filter_map(|f| f.commit()).collect()
    }

    pub fn listing_fields(&self) -> Vec<RowFields> {
        self.list
            .iter()
            .filter_map(|f| f.listing_fields())
            .collect()
    }

    pub fn listing_size_etag(&self) -> Option<SizeEtag> {
        self.list.iter().find_map(|f| f.listing_size_etag())
    }

    pub fn object_delete(
        &self,
        app: &App,
        ctx: &Ctx,
        loc: &ContainerLoc,
        object: &ObjPath,
    ) -> ApiResult<Option<Response<Body>>> {
        for f in &self.list {
            if let Some(r) = f.object_delete(app, ctx, loc, object)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// Does any feature answer a read of `info`?
    pub fn reads(&self, ctx: &Ctx, info: &ObjectInfo) -> bool {
        self.list.iter().any(|f| f.reads(ctx, info))
    }

    /// The first answer a feature gives to a read of `r.info`.
    pub fn read(&self, app: &Arc<App>, ctx: &Ctx, r: &Read) -> ApiResult<Option<Response<Body>>> {
        for f in self.list.iter().filter(|f| f.reads(ctx, r.info)) {
            if let Some(resp) = f.read(app, ctx, r)? {
                return Ok(Some(resp));
            }
        }
        Ok(None)
    }
}
