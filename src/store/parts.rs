//! The parts of multipart uploads in progress (the S3 door's), kept where no
//! client can name them: `<account>/.sofgate-uploads/<container>/<upload
//! id>/` on the container's device, beside the versions area
//! ([`super::versions`]). `.sofgate-uploads` is a reserved container name,
//! so it is never a container, never listed or counted, and the upload id
//! is 32 hex digits checked here ([`UploadId`]), so nothing a client sends
//! names anything else.
//!
//! An upload's directory holds its record `upload` (JSON: the key and the
//! metadata the final object gets; its `X-Timestamp` is when it was
//! started) and one file per part, named by its number, each written by
//! the atomic writer (its xattrs have its MD5 and size). An upload is gone
//! when its directory is: aborted, completed, or idle past an age
//! ([`Store::reap_uploads`]).

use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::beneath::{Dir, Kind};
use super::meta::{self, Meta};
use super::object::{self as sobj, ObjectInfo};
use super::{is_not_found, ContainerLoc, Error, ObjPath, Result, Store};

use super::name::UPLOADS_DIR as UPLOADS;
/// The record's name in an upload's directory.
const RECORD: &str = "upload";
/// The largest record read back (metadata is bounded far below this).
const MAX_RECORD: u64 = 1 << 20;
/// Part numbers S3 allows.
pub const MAX_PART: u32 = 10_000;

/// An upload id: 32 lowercase hex digits, nothing else.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UploadId(String);

impl UploadId {
    /// A new random id.
    pub fn new() -> UploadId {
        UploadId(format!("{:032x}", rand::random::<u128>()))
    }

    /// `s` when it is an id's form; `None` for anything else.
    pub fn parse(s: &str) -> Option<UploadId> {
        let ok = s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| UploadId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for UploadId {
    fn default() -> Self {
        UploadId::new()
    }
}

/// What an upload is for: the key, and the final object's metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    pub meta: Meta,
}

/// An upload in progress, as listed.
#[derive(Debug, Clone)]
pub struct Upload {
    pub id: UploadId,
    pub record: Record,
    /// When it was started (seconds).
    pub initiated: f64,
}

/// One stored part.
#[derive(Debug, Clone)]
pub struct Part {
    pub number: u32,
    pub info: ObjectInfo,
}

/// The internal container name of `container`'s uploads.
pub fn area_name(container: &str) -> String {
    format!("{UPLOADS}/{container}")
}

/// The upload area of `c`, if it exists.
pub fn area(store: &Store, c: &ContainerLoc) -> Result<Option<ContainerLoc>> {
    match store.open_container(&store.policies[c.policy], &c.account, &area_name(&c.name)) {
        Ok(a) => Ok(Some(a)),
        Err(Error::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The upload area of `c`, made when missing.
pub fn ensure_area(store: &Store, c: &ContainerLoc) -> Result<ContainerLoc> {
    if let Some(a) = area(store, c)? {
        return Ok(a);
    }
    let acct = c.root.open_dir(&c.account)?;
    store.make_dir_in(&acct, UPLOADS, &c.account)?;
    let all = acct.open_dir(UPLOADS)?;
    store.make_dir_in(&all, &c.name, &c.account)?;
    area(store, c)?.ok_or(Error::NotFound)
}

/// The name, in the area, of the upload's record.
pub fn record_name(id: &UploadId) -> ObjPath {
    name(format!("{}/{RECORD}", id.0))
}

/// The name, in the area, of part `n` of the upload.
pub fn part_name(id: &UploadId, n: u32) -> ObjPath {
    name(format!("{}/{n}", id.0))
}

fn name(s: String) -> ObjPath {
    // Hex digits, a slash and a number or a fixed word: always a valid name.
    ObjPath::from_parts(s).unwrap_or_else(|_| unreachable!("upload names are valid"))
}

/// The record of upload `id` in `area`; `NotFound` when there is none.
pub fn record(area: &ContainerLoc, id: &UploadId) -> Result<Upload> {
    let dir = area.dir.open_dir(id.as_str()).map_err(not_found)?;
    let bytes = dir
        .read_small_file(RECORD, MAX_RECORD)?
        .ok_or(Error::NotFound)?;
    let record: Record = serde_json::from_slice(&bytes).map_err(|_| Error::NotFound)?;
    let initiated = dir.stat_at(RECORD).map(|st| st.mtime_secs()).unwrap_or(0.0);
    Ok(Upload {
        id: id.clone(),
        record,
        initiated,
    })
}

/// The record's bytes (the writer stores them, so a record is never seen
/// half written).
pub fn record_bytes(r: &Record) -> Vec<u8> {
    serde_json::to_vec(r).unwrap_or_default()
}

fn not_found(e: io::Error) -> Error {
    if is_not_found(&e) || super::beneath::is_refused(&e) {
        Error::NotFound
    } else {
        e.into()
    }
}

/// Every upload of the area, by key then start time.
pub fn uploads(area: &ContainerLoc) -> Result<Vec<Upload>> {
    let mut out = Vec::new();
    for (n, kind) in area.dir.entries()? {
        if !matches!(kind, Some(Kind::Dir) | None) {
            continue;
        }
        let Some(id) = UploadId::parse(&n) else {
            continue;
        };
        match record(area, &id) {
            Ok(u) => out.push(u),
            Err(Error::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| {
        a.record
            .key
            .as_bytes()
            .cmp(b.record.key.as_bytes())
            .then(a.initiated.total_cmp(&b.initiated))
    });
    Ok(out)
}

/// The stored parts of upload `id`, by number.
pub fn parts(store: &Store, area: &ContainerLoc, id: &UploadId) -> Result<Vec<Part>> {
    let dir = area.dir.open_dir(id.as_str()).map_err(not_found)?;
    let mut out = Vec::new();
    for (n, kind) in dir.entries()? {
        if kind.is_some_and(|k| k != Kind::File) {
            continue;
        }
        let Some(number) = part_number(&n) else {
            continue;
        };
        match sobj::head(store, area, &part_name(id, number)) {
            Ok(info) => out.push(Part { number, info }),
            Err(Error::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_by_key(|p| p.number);
    Ok(out)
}

/// A part's number from its file name (`1`..`10000`, no leading zero).
fn part_number(n: &str) -> Option<u32> {
    if n.starts_with('0') {
        return None;
    }
    n.parse().ok().filter(|x| (1..=MAX_PART).contains(x))
}

/// Removes upload `id` (its parts, its record, its directory); `NotFound`
/// when it is not there. A temp file of a part still arriving is removed
/// too: that upload's commit then fails, as it should.
pub fn remove(area: &ContainerLoc, id: &UploadId) -> Result<()> {
    remove_in(&area.dir, id.as_str())
}

fn remove_in(parent: &Dir, id: &str) -> Result<()> {
    let dir = parent.open_dir(id).map_err(not_found)?;
    for (n, kind) in dir.entries()? {
        // Only what sofgate puts there: files (parts, record, temp files,
        // sidecars). Anything else keeps the directory.
        if kind.is_none_or(|k| k == Kind::File) {
            let _ = dir.unlink(&n);
        }
    }
    match parent.rmdir(id) {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Err(Error::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// The metadata stored for a new part (the writer adds size and MD5).
pub fn part_meta() -> Meta {
    let mut m = Meta::new();
    m.insert(meta::keys::TIMESTAMP.into(), meta::now_timestamp());
    m
}

impl Store {
    /// Removes uploads nothing has touched for `age` (their directory's
    /// mtime and ctime: every part stored moves them) on every mounted
    /// device. Returns how many went.
    pub fn reap_uploads(&self, age: Duration) -> usize {
        self.sum_over_devices("upload sweep", |root| reap_device(root, age))
    }
}

/// [`Store::reap_uploads`] on one device root.
fn reap_device(root: &Dir, age: Duration) -> usize {
    let mut n = 0;
    let subdirs = |d: &Dir| -> Vec<String> {
        d.entries()
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, k)| matches!(k, Some(Kind::Dir) | None))
            .map(|(name, _)| name)
            .collect()
    };
    for account in subdirs(root) {
        let Ok(all) = root.open_dir(&format!("{account}/{UPLOADS}")) else {
            continue;
        };
        for container in subdirs(&all) {
            let Ok(area) = all.open_dir(&container) else {
                continue;
            };
            for id in subdirs(&area) {
                let idle = area
                    .stat_at(&id)
                    .ok()
                    .filter(|st| st.is_dir())
                    .and_then(|st| st.idle())
                    .is_some_and(|d| d > age);
                if idle && UploadId::parse(&id).is_some() && remove_in(&area, &id).is_ok() {
                    n += 1;
                }
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_are_hex_only() {
        let id = UploadId::new();
        assert_eq!(UploadId::parse(id.as_str()), Some(id));
        for bad in [
            "",
            "../x",
            &"0".repeat(31),
            &"G".repeat(32),
            &"a".repeat(33),
        ] {
            assert!(UploadId::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(part_number("1"), Some(1));
        assert_eq!(part_number("10000"), Some(10000));
        for bad in ["0", "01", "10001", "upload", "-1", "1.sgtmp"] {
            assert!(part_number(bad).is_none(), "{bad}");
        }
    }
}
