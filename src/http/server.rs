//! The accept loop: HTTP/1.1 connections handed to a [`Handler`] (the
//! API: sofgate's Swift and S3 doors), each held to the deadlines of
//! [`super::idle`], at most [`connection_limit`] at a time, and stopped
//! gracefully.

use std::convert::Infallible;
use std::future::Future;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::access_log::AccessLog;
use super::body::{Body, MAX_FRAME};
use super::idle::{Activity, Deadlines, Guarded, IdleIo};
use super::incoming;
use crate::config::{LogConfig, ServerConfig};
use crate::metrics;

/// What the server hands each request to; it answers every request (its
/// errors are responses).
pub trait Handler: Send + Sync + 'static {
    fn handle(
        self: Arc<Self>,
        req: Request<incoming::Incoming>,
    ) -> impl Future<Output = Response<Body>> + Send;
}

/// What the server itself takes from the configuration.
pub struct Settings {
    pub server: ServerConfig,
    pub log: LogConfig,
    /// Storage policy names, by index, for the access log.
    pub policies: Vec<String>,
}

/// The client's address, kept in each request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

/// File descriptors kept free of connections: the listener, standard
/// streams, devices, the expirer, refusals in progress.
const RESERVED_FDS: u64 = 64;
/// Descriptors one connection may hold: its socket, an object file and a
/// directory (a PUT's temp file and the anchor of its directory).
const FDS_PER_CONNECTION: u64 = 3;
/// Refused connections kept open a moment to read what their client sends.
const MAX_REFUSING: usize = 32;
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: text/plain; charset=UTF-8\r\nContent-Length: 33\r\nRetry-After: 1\r\n\
Connection: close\r\n\r\nToo many connections; try again.\n";

/// The connections to allow: the configured count, lowered to what the
/// open-file limit `nofile` leaves room for.
pub fn connection_limit(configured: usize, nofile: u64) -> usize {
    let by_fds = nofile.saturating_sub(RESERVED_FDS) / FDS_PER_CONNECTION;
    configured
        .min(usize::try_from(by_fds).unwrap_or(usize::MAX))
        .max(1)
}

/// Raises the soft open-file limit to the hard one and returns it: each
/// connection takes descriptors, and the soft default (1024) is far below
/// what a server needs.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// Serves connections until `shutdown` resolves, then stops gracefully:
/// no new connections, idle ones closed, in-flight requests given
/// `shutdown_grace_secs` to finish before their connections are dropped.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    app: Arc<H>,
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let cfg = settings.server;
    let limit = connection_limit(cfg.max_connections, raise_fd_limit());
    tracing::info!("serving at most {limit} connections at once");
    let slots = Arc::new(Semaphore::new(limit));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let closed = Arc::new(Notify::new());
    let (stop, stopping) = watch::channel(false);
    let deadlines = Deadlines::from_config(&cfg);
    let log = AccessLog::start(&settings.log, settings.policies)?;
    let mut conns = JoinSet::new();
    let mut backoff = Backoff::default();
    tokio::pin!(shutdown);
    loop {
        while conns.try_join_next().is_some() {}
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff.reset();
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    refuse(stream, &refusing);
                    continue;
                };
                let slot = Slot {
                    _permit: slot,
                    closed: closed.clone(),
                };
                let conn = Conn {
                    app: app.clone(),
                    log: log.clone(),
                    deadlines,
                    read_buffer: cfg.read_buffer_kib * 1024,
                    stopping: stopping.clone(),
                };
                conns.spawn(conn.run(stream, peer, slot));
            }
            Err(e) => {
                if backoff.first() {
                    tracing::warn!("accept: {e}; backing off until a connection closes");
                }
                tokio::select! {
                    () = backoff.wait(&closed) => {}
                    () = &mut shutdown => break,
                }
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let grace = Duration::from_secs(cfg.shutdown_grace_secs);
    let drained =
        tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            "{} connections still busy after {grace:?}: closing them",
            conns.len()
        );
        // Dropping a request drops its upload's writer, which removes the
        // temp file (in a blocking task the runtime waits for at exit).
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
    Ok(())
}

/// A connection's place among `max_connections`; freed (and the accept loop
/// told, in case it waits for descriptors) when the connection is gone.
struct Slot {
    _permit: OwnedSemaphorePermit,
    closed: Arc<Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.closed.notify_one();
    }
}

/// What every connection shares.
struct Conn<H> {
    app: Arc<H>,
    log: AccessLog,
    deadlines: Deadlines,
    /// Bytes of each connection's read buffer (`[server] read_buffer_kib`).
    read_buffer: usize,
    stopping: watch::Receiver<bool>,
}

impl<H: Handler> Conn<H> {
    async fn run(mut self, stream: TcpStream, peer: std::net::SocketAddr, slot: Slot) {
        let _ = stream.set_nodelay(true);
        limit_unsent(&stream);
        let _open = metrics::request::Connection::open();
        let activity = Arc::new(Activity::default());
        let stream = metrics::request::CountedIo::new(stream);
        let io = IdleIo::new(stream, self.deadlines, activity.clone());
        let (app, log) = (self.app.clone(), self.log.clone());
        let svc = service_fn(move |mut req: Request<Incoming>| {
            let running = activity.begin();
            req.extensions_mut().insert(Peer(peer));
            let app = app.clone();
            let (mut req, logged) = log.begin(req, peer);
            async move {
                let probe = metrics::Probe::start(&mut req);
                let resp = probe.respond(logged.finish(app.handle(req).await));
                Ok::<_, Infallible>(resp.map(|b| Guarded::new(b, running)))
            }
        });
        let conn =
            builder(&self.deadlines, self.read_buffer).serve_connection(TokioIo::new(io), svc);
        tokio::pin!(conn);
        let done = tokio::select! {
            r = conn.as_mut() => r,
            () = stopped(&mut self.stopping) => {
                // Idle: closed now; busy: closed after its response.
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = done {
            tracing::debug!("connection from {peer}: {e}");
        }
        // The socket is closed before the slot says so.
        drop(slot);
    }
}

/// Unsent bytes a socket may queue (`TCP_NOTSENT_LOWAT`): enough to keep a
/// fast client's pipe full between two wake-ups, while a client that stops
/// reading pins this much kernel memory beyond its window, not the
/// autotuned send buffer (4 MiB each here: 500 such clients put every TCP
/// socket of the machine under memory pressure).
const UNSENT_LOWAT: libc::c_int = 256 * 1024;

fn limit_unsent(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    // SAFETY: a socket option on a descriptor `stream` owns, from a local.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NOTSENT_LOWAT,
            (&UNSENT_LOWAT as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Resolves once the server stops (or its sender is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}

fn builder(d: &Deadlines, read_buffer: usize) -> http1::Builder {
    let mut b = http1::Builder::new();
    // The read buffer bounds both a request's head (Swift's own limits
    // keep heads far smaller) and each frame of an upload's body: at
    // 256 KiB a large upload went 28% faster on GlusterFS, and 500 stalled
    // uploads held 3.7x the memory.
    b.max_buf_size(read_buffer.clamp(8 * 1024, MAX_FRAME))
        .max_headers(512)
        .title_case_headers(true)
        // Hyper then reads a request's socket only for its body, so a read
        // that waits is a body that stalls (see `idle`).
        .half_close(true)
        .timer(TokioTimer::new())
        // Hyper's own clock starts when a connection waits for a request,
        // not at the head's first byte: it cannot tell a keep-alive pause
        // from a slow head, so it only backs up `IdleIo`'s two limits.
        .header_read_timeout(d.header + d.keepalive);
    b
}

/// Answers a connection past `max_connections` with a 503 and closes it.
/// The answer goes out at once (a fresh socket's send buffer is empty), so
/// refusing costs the accept loop a few calls and no wait. What the client
/// sent is read before the close, which would otherwise be a reset that
/// can discard the answer: what is there now, and, while fewer than
/// [`MAX_REFUSING`] refusals linger, what comes within a moment.
fn refuse(stream: TcpStream, refusing: &Arc<Semaphore>) {
    let Ok(s) = stream.into_std() else {
        return;
    };
    let _ = (&s).write(REFUSAL);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 4096];
    // Non-blocking: stops at the first read that would wait.
    while matches!((&s).read(&mut sink), Ok(n) if n > 0) {}
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return;
    };
    let Ok(mut s) = TcpStream::from_std(s) else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let linger = async { while s.read(&mut sink).await.is_ok_and(|n| n > 0) {} };
        let _ = tokio::time::timeout(Duration::from_millis(500), linger).await;
    });
}

/// Waiting after a failed accept (out of descriptors, most often): until a
/// connection closes, or a delay that doubles from 10 ms to 1 s, so the
/// loop never spins while the listener stays readable.
struct Backoff {
    delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            delay: Backoff::FIRST,
        }
    }
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    /// The first wait since the last success.
    fn first(&self) -> bool {
        self.delay == Backoff::FIRST
    }

    fn reset(&mut self) {
        self.delay = Backoff::FIRST;
    }

    async fn wait(&mut self, closed: &Notify) {
        let d = self.delay;
        self.delay = (d * 2).min(Backoff::MAX);
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = closed.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn the_connection_limit_leaves_descriptors_for_files() {
        assert_eq!(connection_limit(4096, 1_048_576), 4096);
        // ulimit -n 1024: a third of what is left after the reserve.
        assert_eq!(connection_limit(4096, 1024), 320);
        assert_eq!(connection_limit(100, 1024), 100);
        assert_eq!(connection_limit(4096, 10), 1);
    }

    #[tokio::test]
    async fn backoff_waits_doubling_delays_and_a_closed_connection_ends_one() {
        let closed = Notify::new();
        let mut b = Backoff::default();
        let t0 = Instant::now();
        b.wait(&closed).await;
        b.wait(&closed).await;
        // 10 + 20 ms: waits, not a spin.
        assert!(t0.elapsed() >= Duration::from_millis(30));
        assert!(!b.first());
        for _ in 0..10 {
            // A connection closed: the wait ends at once, the delay still grows.
            closed.notify_one();
            let t0 = Instant::now();
            b.wait(&closed).await;
            assert!(t0.elapsed() < Duration::from_millis(500));
        }
        assert_eq!(b.delay, Backoff::MAX);
        b.reset();
        assert!(b.first());
    }
}
