//! The metadata keys features keep on an object that the object core reads
//! or shows, and the headers they show as: a link's target (symlink), a
//! version id (object versioning), a DLO manifest. Features and the core
//! both build on this file; it names neither.

use http::response::Builder;
use http::HeaderValue;

use crate::http::error::{ApiError, ApiResult};
use crate::http::request::decode_path;
use crate::store::name;
use crate::store::object::ObjectInfo;
use crate::store::versions as svers;

// --- symlink ------------------------------------------------------------------

pub const TARGET: &str = "X-Object-Sysmeta-Symlink-Target";
pub const TARGET_ACCOUNT: &str = "X-Object-Sysmeta-Symlink-Target-Account";
pub const TARGET_ETAG: &str = "X-Object-Sysmeta-Symlink-Target-Etag";
pub const TARGET_BYTES: &str = "X-Object-Sysmeta-Symlink-Target-Bytes";

/// Sysmeta keys and the client-facing headers they show as on `?symlink=get`.
pub const SHOWN: [(&str, &str); 4] = [
    (TARGET, "X-Symlink-Target"),
    (TARGET_ACCOUNT, "X-Symlink-Target-Account"),
    (TARGET_ETAG, "X-Symlink-Target-Etag"),
    (TARGET_BYTES, "X-Symlink-Target-Bytes"),
];

/// The headers a link shows when asked for itself (`?symlink=get`).
pub fn link_headers(mut b: Builder, info: &ObjectInfo) -> Builder {
    for (key, shown) in SHOWN {
        if let Some(v) = info.meta.get(key) {
            if let Ok(v) = HeaderValue::from_str(v) {
                b = b.header(shown, v);
            }
        }
    }
    b
}

// --- object versioning --------------------------------------------------------

/// The version id of an object, in its metadata.
pub const VID_KEY: &str = svers::VERSION_ID_KEY;

/// Adds `X-Object-Version-Id` for an object that has one.
pub fn version_header(b: Builder, info: &ObjectInfo) -> Builder {
    match info.meta.get(VID_KEY).map(|v| HeaderValue::from_str(v)) {
        Some(Ok(v)) => b.header("X-Object-Version-Id", v),
        _ => b,
    }
}

// --- dynamic large objects ----------------------------------------------------

/// Where the manifest value is kept in the object's metadata.
pub const MANIFEST_KEY: &str = "X-Object-Manifest";

/// Checks an `X-Object-Manifest` header: `<container>/<prefix>`, with a
/// valid container name and a prefix whose directories could hold objects
/// (no `.`, `..` or empty component: such a prefix could only point
/// somewhere else).
pub fn check_manifest_header(v: &str) -> ApiResult<()> {
    let bad =
        || ApiError::BadRequest("X-Object-Manifest must be in the format container/prefix".into());
    let v = decode_path(v.trim())?;
    match v.split_once('/') {
        Some((c, prefix)) if !c.is_empty() && !v.starts_with('/') => {
            if c == "." || c == ".." || name::prefix_dir(prefix).is_none() {
                return Err(ApiError::BadRequest(
                    "X-Object-Manifest names a container or prefix that cannot exist".into(),
                ));
            }
            Ok(())
        }
        _ => Err(bad()),
    }
}
