//! The features that plug into the core, in the order they run: what each
//! adds to the one write path (`write::Hooks`) and to an object listing's
//! rows (`listing::RowHooks`). The `App` takes these lists once; the core
//! files (`write.rs`, `listing.rs`) name no feature, and no feature names
//! this file.

use super::write::{CommitHook, Dest, Hooks, Pending};
use super::{expirer, listing, quota, slo, symlink, versioned_writes, versioning, App};
use crate::http::error::ApiResult;
use crate::store::meta::Meta;

/// The write path's hooks: quotas first; at the commit, legacy versioned
/// writes (keeps the object replaced) then object versioning (gives the
/// new object its id, links it after); once in place, the expiry queue.
pub fn write_hooks() -> Hooks {
    let commit: Vec<CommitHook> = vec![archive_replaced, version_new];
    Hooks {
        quota: |app, d, size| quota::check(app, &d.account, d.quota_exempt, &d.loc, size),
        commit,
        placed: |app, d, info| {
            expirer::note(app, &d.loc, &d.account, &d.container, &d.object, &info.meta)
        },
    }
}

/// What listing rows show of large objects, versions and links.
pub fn listing_hooks() -> listing::RowHooks {
    let fields: Vec<listing::RowFields> =
        vec![versioning::listing_fields, |info, account, _, _| {
            symlink::listing_fields(info, account)
        }];
    listing::RowHooks {
        size_etag: slo::listing_attrs,
        fields,
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
