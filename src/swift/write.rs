//! The one write path. Every object write (PUT, COPY and `X-Copy-From`, a
//! symlink, an SLO manifest, a form upload, an archive member, and the S3
//! door's writes to come) runs the same sequence:
//!
//! `If-None-Match: *` → quota check → the store's atomic writer → commit
//! hooks (legacy versioned writes keeps the object replaced, object
//! versioning gives the new one its id) → usage cache → expiry queue.
//!
//! Each door authorizes and locates the container its own way, then hands
//! plain values ([`Dest`], metadata): no request type crosses this line.
//! Names arrive checked (`ObjPath`); what a door refuses of a name ending
//! in `/` (a directory marker's) it says in its own words first.
//! A write with its data still to come is a [`Put`]; bytes at hand go
//! through [`put_bytes`], a directory marker through [`put_dir_marker`];
//! a version linked back into place (object versioning's restore) takes
//! the last steps through [`linked`].
//!
//! The features on the path (quotas, both kinds of versioning, the expiry
//! queue) plug in as [`Hooks`], which the [`App`] holds: this file names
//! none of them (`features.rs` lists them, in order).

use super::App;
use crate::http::error::{ApiError, ApiResult};
use crate::store::meta::{keys, Meta};
use crate::store::object::{self as sobj, ObjectInfo};
use crate::store::write::{self as swrite, Writer};
use crate::store::{ContainerLoc, ObjPath};

/// What features do on the write path, given to it by the [`App`].
pub struct Hooks {
    /// The first steps: 413 when one more object of `size` bytes at the
    /// destination would exceed a quota.
    pub quota: Vec<QuotaHook>,
    /// Steps around the rename, in order: each runs before it (and may edit
    /// the metadata), and what it returns is finished after it, or undone
    /// when dropped (the commit failed).
    pub commit: Vec<CommitHook>,
    /// After the object is in place (a commit, a directory marker, a
    /// restore): the usage is refreshed, then this runs (the expiry queue).
    pub placed: fn(&App, &Dest, &ObjectInfo),
}

/// One quota check (see [`Hooks::quota`]).
pub type QuotaHook = fn(&App, &Dest, u64) -> ApiResult<()>;

/// One step around the rename (see [`Hooks::commit`]).
pub type CommitHook = fn(&App, &Dest, &mut Meta) -> ApiResult<Option<Box<dyn Pending>>>;

/// What a commit hook still has to do once the object is in place;
/// dropped instead when the commit failed.
pub trait Pending {
    fn committed(self: Box<Self>, app: &App, d: &Dest) -> ApiResult<()>;
}

/// Where a write goes, and on whose behalf.
pub struct Dest {
    /// The container, located and authorized by the caller.
    pub loc: ContainerLoc,
    pub account: String,
    pub container: String,
    pub object: ObjPath,
    /// Not held to account quotas (a reseller admin).
    pub quota_exempt: bool,
    /// Only if no object has the name yet (`If-None-Match: *`): 412 else,
    /// checked first and again, atomically, at the rename.
    pub create_only: bool,
}

/// A write whose data is on its way: quota checked for what was declared,
/// the temp file open. Dropped without [`Put::commit`], nothing changes
/// (the writer removes its temp file).
pub struct Put {
    dest: Dest,
    w: Writer,
    declared: Option<u64>,
    /// When the write began: its X-Timestamp, unless the metadata names
    /// one (newest-wins compares it with the object it replaces).
    began: String,
}

impl Put {
    /// Checks `create_only`, the quotas for `declared` bytes (`None`: not
    /// known yet, checked again at commit), and opens the store's writer
    /// (blocking).
    pub fn begin(app: &App, dest: Dest, declared: Option<u64>) -> ApiResult<Put> {
        if dest.create_only && sobj::head(&app.store, &dest.loc, &dest.object).is_ok() {
            return Err(ApiError::PreconditionFailed(
                "The object exists (If-None-Match: *).".into(),
            ));
        }
        check_quota(app, &dest, declared.unwrap_or(0))?;
        let began = crate::store::meta::now_timestamp();
        let w = Writer::create(&app.store, &dest.loc, &dest.object)?.no_replace(dest.create_only);
        Ok(Put {
            dest,
            w,
            declared,
            began,
        })
    }

    /// The store's writer, for the data.
    pub fn writer(&mut self) -> &mut Writer {
        &mut self.w
    }

    /// Where the write goes.
    pub fn dest(&self) -> &Dest {
        &self.dest
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.w.size()
    }

    /// Commits the data as the object with `meta` (422 when `etag` is given
    /// and differs), then runs the hooks, refreshes the usage and queues the
    /// expiry (blocking).
    pub fn commit(self, app: &App, mut meta: Meta, etag: Option<&str>) -> ApiResult<ObjectInfo> {
        let Put {
            dest,
            w,
            declared,
            began,
        } = self;
        meta.entry(keys::TIMESTAMP.into()).or_insert(began);
        if w.size() > app.cfg.limits.max_file_size {
            return Err(ApiError::TooLarge("Your request is too large.".into()));
        }
        if declared.is_none() {
            check_quota(app, &dest, w.size())?;
        }
        commit_hooked(app, &dest, w, meta, etag)
    }
}

/// Writes `data` (generated: a manifest, an empty link) as the object.
pub fn put_bytes(app: &App, dest: Dest, data: &[u8], meta: Meta) -> ApiResult<ObjectInfo> {
    let mut put = Put::begin(app, dest, Some(data.len() as u64))?;
    put.writer().write(data)?;
    put.commit(app, meta, None)
}

/// Creates or updates a directory marker (no data, never versioned).
pub fn put_dir_marker(app: &App, dest: Dest, meta: Meta) -> ApiResult<ObjectInfo> {
    check_quota(app, &dest, 0)?;
    let info = swrite::put_dir_marker(&app.store, &dest.loc, &dest.object, meta)?;
    Ok(done(app, &dest, info))
}

/// The path's first step alone, for a writer with checks of its own to
/// make between the quota and the data (a symlink's target): 413 when one
/// more object of `size` bytes would exceed a quota.
pub fn check_quota(app: &App, d: &Dest, size: u64) -> ApiResult<()> {
    app.hooks.quota.iter().try_for_each(|q| q(app, d, size))
}

/// The commit with its hooks (for instance: the object replaced is kept
/// by legacy versioned writes, undone if the commit fails; object
/// versioning gives the new object its version id before and links it
/// after).
fn commit_hooked(
    app: &App,
    d: &Dest,
    w: Writer,
    mut meta: Meta,
    etag: Option<&str>,
) -> ApiResult<ObjectInfo> {
    let mut pending = Vec::new();
    for hook in &app.hooks.commit {
        pending.extend(hook(app, d, &mut meta)?);
    }
    let info = w.commit(meta, etag)?;
    let mut failed = None;
    for p in pending {
        if let Err(e) = p.committed(app, d) {
            failed.get_or_insert(e);
        }
    }
    let info = done(app, d, info);
    failed.map_or(Ok(info), Err)
}

/// A kept version linked back into place (a restore) went around the
/// writer: the path's last steps all the same, for `info` now at `d`.
pub fn linked(app: &App, d: &Dest, info: &ObjectInfo) {
    app.store.usage.invalidate(&d.loc);
    (app.hooks.placed)(app, d, info);
}

/// After any commit: the container's usage is stale, and an `X-Delete-At`
/// goes to the expiry queue.
fn done(app: &App, d: &Dest, info: ObjectInfo) -> ObjectInfo {
    linked(app, d, &info);
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::sync::atomic::{AtomicBool, Ordering};

    static LATER_RAN: AtomicBool = AtomicBool::new(false);

    struct Fails;
    impl Pending for Fails {
        fn committed(self: Box<Self>, _: &App, _: &Dest) -> ApiResult<()> {
            Err(ApiError::Internal("hook failed".into()))
        }
    }

    struct Records;
    impl Pending for Records {
        fn committed(self: Box<Self>, _: &App, _: &Dest) -> ApiResult<()> {
            LATER_RAN.store(true, Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn a_failing_hook_after_the_rename_skips_no_later_hook() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::embedded();
        cfg.auth.secret = "s".repeat(32);
        cfg.policies[0].device = dir.path().to_path_buf();
        let mut app = App::new(cfg).unwrap();
        app.hooks.commit = vec![
            |_, _, _| Ok(Some(Box::new(Fails) as Box<dyn Pending>)),
            |_, _, _| Ok(Some(Box::new(Records) as Box<dyn Pending>)),
        ];
        let policy = app.store.default_policy();
        crate::store::container::create(&app.store, "AUTH_t", "c", policy, Meta::new()).unwrap();
        let dest = Dest {
            loc: app.locate("AUTH_t", "c").unwrap(),
            account: "AUTH_t".into(),
            container: "c".into(),
            object: ObjPath::new("o", &app.store.opts.limits).unwrap(),
            quota_exempt: false,
            create_only: false,
        };
        let r = put_bytes(&app, dest, b"data", Meta::new());
        assert!(matches!(r, Err(ApiError::Internal(_))), "{r:?}");
        assert!(
            LATER_RAN.load(Ordering::SeqCst),
            "the hook after the failing one ran"
        );
        assert_eq!(
            std::fs::read(dir.path().join("AUTH_t/c/o")).unwrap(),
            b"data"
        );
    }
}
