//! The S3 door's way into the Swift core: an authenticated S3 request
//! becomes the core's [`Ctx`] (the caller's identity, its account and what
//! that account's ACL grants it), so the operations authorize, read and
//! write exactly as Swift requests do, as Swift's s3api does by handing
//! its requests to the proxy.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, Method};

use super::error::S3Error;
use super::S3Request;
use crate::http::error::ApiError;
use crate::swift::{blocking, App, Ctx};

/// The core's view of `req` as `method` with `headers` and `query` (the
/// operation's translation of its own): the caller acts on its account.
pub async fn ctx(
    app: &Arc<App>,
    req: &S3Request,
    method: Method,
    headers: HeaderMap,
    query: HashMap<String, String>,
) -> Result<Ctx, S3Error> {
    let id = req.caller.identity.clone();
    let account = id.account.clone();
    let grant = match id.owns(&account) {
        true => None,
        false => {
            let (a, i) = (account.clone(), id.clone());
            blocking(app, move |app| Ok(app.account_grant(&a, Some(&i))))
                .await
                .map_err(S3Error::from)?
        }
    };
    Ok(Ctx {
        method,
        headers,
        query,
        id: Some(id),
        account,
        grant,
        note: Default::default(),
        etag_is_at: Some(crate::store::meta::keys::S3_ETAG),
    })
}

impl From<ApiError> for S3Error {
    /// An error of the core where no bucket or key is at hand to name.
    fn from(e: ApiError) -> S3Error {
        S3Error::from_api(e, None, None)
    }
}
