//! `/metrics`: the answer on the API port, and the separate listener of
//! `[metrics] listen` (which then alone serves it).

use std::convert::Infallible;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::config::MetricsConfig;
use crate::http::body::{self, Body};

pub const PATH: &str = "/metrics";
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The answer to a request for [`PATH`] on the API port: the scrape, or
/// 404 when metrics are off or served on a port of their own.
pub fn on_api_port(cfg: &MetricsConfig, method: &Method) -> Response<Body> {
    if !cfg.enabled || cfg.listen.is_some() {
        return plain(StatusCode::NOT_FOUND, "Not Found\n");
    }
    scrape(method)
}

fn scrape(method: &Method) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    }
    let Some(m) = super::get() else {
        return plain(StatusCode::NOT_FOUND, "Not Found\n");
    };
    let text = m.scrape();
    let len = text.len();
    let mut resp = Response::new(if method == Method::HEAD {
        body::empty()
    } else {
        body::full(text)
    });
    let h = resp.headers_mut();
    h.insert("content-type", http::HeaderValue::from_static(CONTENT_TYPE));
    h.insert("content-length", http::HeaderValue::from(len));
    resp
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut resp = Response::new(body::full(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Connections the separate listener serves at once; more wait in the
/// kernel's backlog (a scraper needs one).
const MAX_CONNECTIONS: usize = 16;

/// Serves `/metrics` (and 404 for anything else) on `listener` until the
/// process ends.
pub fn spawn(listener: TcpListener) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("metrics listener: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            tokio::spawn(async move {
                let _slot = slot;
                let svc = service_fn(|req: Request<hyper::body::Incoming>| async move {
                    let resp = match req.uri().path() {
                        PATH => scrape(req.method()),
                        _ => plain(StatusCode::NOT_FOUND, "Not Found\n"),
                    };
                    Ok::<_, Infallible>(resp)
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), svc);
                // A client that stops reading is dropped after a minute.
                let _ = tokio::time::timeout(Duration::from_secs(60), conn).await;
            });
        }
    });
}
