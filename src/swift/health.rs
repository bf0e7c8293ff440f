//! `/healthcheck`, as Swift's healthcheck middleware: `200 OK`, or `503
//! DISABLED BY FILE` while `[health] disable_path` exists (to drain a node).
//! `/healthcheck?deep` also probes every policy's device ([`probe`]): each
//! on a thread of its own, awaited at most `probe_timeout_ms`, so a hung
//! mount answers 503 and never holds an async worker or a pool thread.
//! Probes that hang pile up to [`MAX_HUNG`] per device; past that the
//! device is reported at once without a new probe.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Response, StatusCode};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::App;
use crate::http::body::{self, Body};
use crate::http::error::{ApiResult, Finish};
use crate::store::probe::probe;

/// Probes of one device that may be running (hung) at once.
pub const MAX_HUNG: usize = 4;

/// Probes running, by policy index.
pub struct Probes(Vec<AtomicUsize>);

impl Probes {
    pub fn new(policies: usize) -> Probes {
        Probes((0..policies).map(|_| AtomicUsize::new(0)).collect())
    }
}

/// Answers `/healthcheck` (any method; HEAD without a body).
pub async fn answer(
    app: &Arc<App>,
    method: &Method,
    query: Option<&str>,
) -> ApiResult<Response<Body>> {
    let timeout = Duration::from_millis(app.cfg.health.probe_timeout_ms);
    let (status, text) = if disabled(app, timeout).await {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "DISABLED BY FILE".to_string(),
        )
    } else if wants_deep(query) {
        match deep(app, timeout).await {
            Ok(()) => (StatusCode::OK, "OK".to_string()),
            Err(problems) => (StatusCode::SERVICE_UNAVAILABLE, problems),
        }
    } else {
        (StatusCode::OK, "OK".to_string())
    };
    Response::builder()
        .status(status)
        .header("Content-Type", "text/plain")
        .finish(if method == Method::HEAD {
            body::empty()
        } else {
            body::full(text)
        })
}

/// A `deep` parameter in the query (`?deep`, `?deep=1`, ...).
fn wants_deep(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|p| p.split('=').next() == Some("deep")))
}

/// Does the disable file exist? A stat that does not answer in time
/// counts as disabled (something is wrong with that filesystem).
async fn disabled(app: &Arc<App>, timeout: Duration) -> bool {
    let Some(path) = app.cfg.health.disable_path.clone() else {
        return false;
    };
    let stat = tokio::task::spawn_blocking(move || std::fs::symlink_metadata(path).is_ok());
    !matches!(tokio::time::timeout(timeout, stat).await, Ok(Ok(false)))
}

/// Probes every device once (policies sharing a device share its probe);
/// `Err` lists the ones that failed, one line each.
async fn deep(app: &Arc<App>, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut seen = HashSet::new();
    let mut waits = Vec::new();
    for p in &app.store.policies {
        if seen.insert(p.device.clone()) {
            waits.push((p.name.clone(), start(app, p.index)));
        }
    }
    let mut problems = Vec::new();
    for (name, wait) in waits {
        let outcome = match wait {
            Err(e) => e,
            Ok(rx) => match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(Ok(()))) => continue,
                Ok(Ok(Err(e))) => e,
                Ok(Err(_)) => "probe failed".to_string(),
                Err(_) => format!("no answer within {} ms", timeout.as_millis()),
            },
        };
        problems.push(format!("policy {name}: {outcome}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n") + "\n")
    }
}

/// Starts a probe of policy `index`'s device on a thread of its own.
fn start(app: &Arc<App>, index: usize) -> Result<oneshot::Receiver<Result<(), String>>, String> {
    let running = &app.health.0[index];
    if running.fetch_add(1, Ordering::SeqCst) >= MAX_HUNG {
        running.fetch_sub(1, Ordering::SeqCst);
        return Err(format!("{MAX_HUNG} earlier probes have not returned"));
    }
    let (tx, rx) = oneshot::channel();
    let app2 = app.clone();
    let spawned = std::thread::Builder::new()
        .name("health-probe".into())
        .spawn(move || {
            let p = &app2.store.policies[index];
            let r = probe(&app2.store, p).map_err(|e| e.to_string());
            app2.health.0[index].fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send(r);
        });
    spawned.map(|_| rx).map_err(|e| {
        running.fetch_sub(1, Ordering::SeqCst);
        format!("cannot start a probe: {e}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_is_any_deep_parameter() {
        assert!(wants_deep(Some("deep")));
        assert!(wants_deep(Some("a=1&deep=yes")));
        assert!(!wants_deep(Some("deeper")));
        assert!(!wants_deep(None));
    }
}
