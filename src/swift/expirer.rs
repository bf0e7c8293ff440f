//! Object expiry on disk: writes that set `X-Delete-At` queue the object
//! (store::expiry), and a background task on every node removes the objects
//! whose time has come, every `[storage] expirer_interval_secs` (0: never).
//! Until then an expired object already answers 404, unless
//! `[storage] allow_open_expired` is on and the request says
//! `X-Open-Expired: true` (GET, HEAD, POST, and the segments and link
//! targets they read): then it is served as if it had not expired, and a POST
//! can give it a new `X-Delete-At`.

use std::sync::Arc;
use std::time::Duration;

use super::App;
use crate::store::expiry::{self, Entry};
use crate::store::meta::Meta;
use crate::store::ContainerLoc;

/// Does the request reach expired objects still on disk
/// (`X-Open-Expired: true` with `allow_open_expired` on)?
pub fn open_expired(app: &App, ctx: &super::Ctx) -> bool {
    app.cfg.storage.allow_open_expired
        && ctx
            .headers
            .get("x-open-expired")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "true" | "1" | "yes" | "on" | "t" | "y"
                )
            })
}

/// Queues an object just written or updated if its metadata sets
/// `X-Delete-At`. A failure is logged: the object still answers 404 once
/// expired, it only stays on disk.
pub fn note(app: &App, loc: &ContainerLoc, account: &str, container: &str, object: &str, m: &Meta) {
    let Some(at) = m.get("X-Delete-At").and_then(|v| v.parse::<u64>().ok()) else {
        return;
    };
    let e = Entry {
        account: account.to_string(),
        container: container.to_string(),
        object: object.to_string(),
        delete_at: at,
    };
    if let Err(err) = expiry::record(&app.store, &loc.root, &e) {
        tracing::warn!("could not queue {account}/{container}/{object} for expiry: {err}");
    }
}

/// Starts the reaper (when its interval is not 0).
pub fn spawn(app: Arc<App>) {
    let secs = app.cfg.storage.expirer_interval_secs;
    if secs == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(secs));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let app = app.clone();
            let reaped = tokio::task::spawn_blocking(move || {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                expiry::reap(&app.store, now)
            })
            .await;
            if let Ok(n) = reaped {
                crate::metrics::expirer_swept(n);
                if n > 0 {
                    tracing::info!("removed {n} expired objects");
                }
            }
        }
    });
}
