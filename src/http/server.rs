//! The accept loop: HTTP/1.1 connections handed to the Swift API.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::swift::App;

/// The client's address, kept in each request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

/// Serves connections until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                let app = app.clone();
                async move { Ok::<_, Infallible>(app.handle(req).await) }
            });
            let mut builder = http1::Builder::new();
            // The read buffer bounds both a request's head (Swift's own limits
            // keep heads far smaller) and each frame of an upload's body: a
            // larger one made 100 concurrent uploads hold 2-3x the memory.
            builder
                .max_buf_size(crate::swift::object::MAX_FRAME)
                .max_headers(512)
                .title_case_headers(true);
            if let Err(e) = builder.serve_connection(TokioIo::new(stream), svc).await {
                tracing::debug!("connection from {peer}: {e}");
            }
        });
    }
}
