//! Deadlines on a connection's socket, which hyper does not keep: how long a
//! client may take to send a request head, to send the next piece of a body,
//! to read the next piece of a response, and how long an idle keep-alive
//! connection stays open.
//!
//! [`IdleIo`] wraps the socket and starts a timer whenever a read or a write
//! cannot go on; which limit applies depends on what the connection is doing,
//! which [`Activity`] tells it (the service marks each request from its call
//! to the end of its response body). Hyper is built with `half_close`, so it
//! reads the socket during a request only when the handler asks for body
//! data: a pending read while a request runs is always a body read, and a
//! handler that works for a long time before answering is never cut off.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The limits a connection's socket is held to.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// A whole request head, from its first byte; also a new connection's
    /// first request.
    pub header: Duration,
    /// A pause in a request body, or in the client's reading of a response.
    pub client: Duration,
    /// An idle keep-alive connection, between two requests.
    pub keepalive: Duration,
}

impl Deadlines {
    pub fn from_config(c: &crate::config::ServerConfig) -> Deadlines {
        Deadlines {
            header: Duration::from_secs(c.header_timeout_secs),
            client: Duration::from_secs(c.client_timeout_secs),
            keepalive: Duration::from_secs(c.keepalive_timeout_secs),
        }
    }
}

/// What a connection is doing, shared by its socket and its service.
#[derive(Debug)]
pub struct Activity(Mutex<State>);

#[derive(Debug)]
struct State {
    /// Requests between their service call and the end of their response.
    busy: usize,
    /// When the connection was accepted or its last response ended.
    idle_since: Instant,
    /// A response was sent: waiting now is keep-alive.
    served: bool,
    /// When the first byte of the next request head arrived.
    head_since: Option<Instant>,
}

/// How a wait ends when its deadline passes.
#[derive(Debug, PartialEq, Eq)]
enum Expiry {
    /// Nothing was asked of the client: the connection just closes.
    Close,
    /// The client left something half done: the read fails.
    Fail(&'static str),
}

impl Default for Activity {
    fn default() -> Self {
        Activity(Mutex::new(State {
            busy: 0,
            idle_since: Instant::now(),
            served: false,
            head_since: None,
        }))
    }
}

impl Activity {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: plain fields.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks a request as running until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> RequestGuard {
        let mut s = self.state();
        s.busy += 1;
        s.head_since = None;
        RequestGuard(self.clone())
    }

    fn end(&self) {
        let mut s = self.state();
        s.busy = s.busy.saturating_sub(1);
        if s.busy == 0 {
            s.idle_since = Instant::now();
            s.served = true;
            s.head_since = None;
        }
    }

    /// Bytes arrived: between requests, they start the next head.
    fn on_read(&self) {
        let mut s = self.state();
        if s.busy == 0 && s.head_since.is_none() {
            s.head_since = Some(Instant::now());
        }
    }

    /// When a read that has waited since `since` gives up, and how.
    fn read_deadline(&self, d: &Deadlines, since: Instant) -> (Instant, Expiry) {
        let s = self.state();
        if s.busy > 0 {
            (since + d.client, Expiry::Fail("request body timed out"))
        } else if let Some(t) = s.head_since {
            (t + d.header, Expiry::Fail("request head timed out"))
        } else if s.served {
            (s.idle_since + d.keepalive, Expiry::Close)
        } else {
            (s.idle_since + d.header, Expiry::Close)
        }
    }
}

/// A running request; dropping it (with its response body) ends it.
#[derive(Debug)]
pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A response body that keeps its request marked as running until hyper has
/// sent (or dropped) it.
pub struct Guarded<B> {
    inner: B,
    _guard: RequestGuard,
}

impl<B> Guarded<B> {
    pub fn new(inner: B, guard: RequestGuard) -> Self {
        Guarded {
            inner,
            _guard: guard,
        }
    }
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for Guarded<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One direction's wait: since when, and the timer that ends it.
#[derive(Default)]
struct Wait {
    since: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Wait {
    /// The operation went on: no wait any more.
    fn done(&mut self) {
        self.since = None;
    }

    /// The operation cannot go on; true once `deadline` (from the wait's
    /// start) has passed, else the task is woken when it does.
    fn expired(
        &mut self,
        cx: &mut Context<'_>,
        mut deadline: impl FnMut(Instant) -> Instant,
    ) -> bool {
        let since = *self.since.get_or_insert_with(Instant::now);
        // The deadline can move while waiting (a request ends, a head
        // starts), so it is computed afresh on every wake.
        loop {
            let at = deadline(since);
            if Instant::now() >= at {
                self.since = None;
                return true;
            }
            let timer = self
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
            if timer.deadline() != at {
                timer.as_mut().reset(at);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return false;
            }
        }
    }
}

/// A socket held to [`Deadlines`].
pub struct IdleIo<T> {
    io: T,
    deadlines: Deadlines,
    activity: Arc<Activity>,
    read: Wait,
    write: Wait,
}

impl<T> IdleIo<T> {
    pub fn new(io: T, deadlines: Deadlines, activity: Arc<Activity>) -> Self {
        IdleIo {
            io,
            deadlines,
            activity,
            read: Wait::default(),
            write: Wait::default(),
        }
    }

    /// A write has waited for the client too long.
    fn write_expired(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        let limit = self.deadlines.client;
        self.write.expired(cx, |since| since + limit).then(|| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the response",
            )
        })
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.read.done();
                if buf.filled().len() > before {
                    this.activity.on_read();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                let (d, activity) = (this.deadlines, &this.activity);
                let mut how = Expiry::Close;
                let expired = this.read.expired(cx, |since| {
                    let (at, e) = activity.read_deadline(&d, since);
                    how = e;
                    at
                });
                match (expired, how) {
                    (false, _) => Poll::Pending,
                    // End of stream: hyper closes an idle connection quietly.
                    (true, Expiry::Close) => Poll::Ready(Ok(())),
                    (true, Expiry::Fail(msg)) => {
                        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, msg)))
                    }
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.io).poll_write(cx, data) {
            Poll::Ready(r) => {
                self.write.done();
                Poll::Ready(r)
            }
            Poll::Pending => match self.write_expired(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                self.write.done();
                Poll::Ready(r)
            }
            Poll::Pending => match self.write_expired(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
        }
    }

    fn is_write_vectored(&self) -> bool {
        // Without this hyper copies every body chunk into one flat buffer.
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.io).poll_flush(cx) {
            Poll::Ready(r) => {
                self.write.done();
                Poll::Ready(r)
            }
            Poll::Pending => match self.write_expired(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.io).poll_shutdown(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => match self.write_expired(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const MS: Duration = Duration::from_millis(1);

    fn deadlines() -> Deadlines {
        Deadlines {
            header: 200 * MS,
            client: 300 * MS,
            keepalive: 500 * MS,
        }
    }

    /// `took` is `want`, give or take the scheduler.
    fn about(took: Duration, want: Duration) {
        assert!(
            took >= want && took < want + 150 * MS,
            "took {took:?}, want {want:?}"
        );
    }

    #[tokio::test]
    async fn a_silent_new_connection_closes_after_the_header_timeout() {
        let (_client, server) = tokio::io::duplex(1024);
        let mut io = IdleIo::new(server, deadlines(), Arc::new(Activity::default()));
        let t0 = Instant::now();
        let mut buf = [0u8; 16];
        assert_eq!(io.read(&mut buf).await.unwrap(), 0);
        about(t0.elapsed(), 200 * MS);
    }

    #[tokio::test]
    async fn a_started_head_fails_after_the_header_timeout() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut io = IdleIo::new(server, deadlines(), Arc::new(Activity::default()));
        tokio::time::sleep(100 * MS).await;
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        let t0 = Instant::now();
        assert!(io.read(&mut buf).await.unwrap() > 0);
        let e = io.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        // Counted from the head's first byte, not from the accept.
        about(t0.elapsed(), 200 * MS);
    }

    #[tokio::test]
    async fn body_reads_get_the_client_timeout_and_idle_ones_keepalive() {
        let (_client, server) = tokio::io::duplex(1024);
        let activity = Arc::new(Activity::default());
        let mut io = IdleIo::new(server, deadlines(), activity.clone());
        let mut buf = [0u8; 16];
        let guard = activity.begin();
        let t0 = Instant::now();
        let e = io.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        about(t0.elapsed(), 300 * MS);
        drop(guard);
        let t0 = Instant::now();
        assert_eq!(io.read(&mut buf).await.unwrap(), 0);
        about(t0.elapsed(), 500 * MS);
    }

    #[tokio::test]
    async fn a_write_the_client_does_not_take_fails_after_the_client_timeout() {
        let (_client, server) = tokio::io::duplex(16);
        let mut io = IdleIo::new(server, deadlines(), Arc::new(Activity::default()));
        let t0 = Instant::now();
        let e = io.write_all(&[0u8; 64]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        about(t0.elapsed(), 300 * MS);
    }

    #[tokio::test]
    async fn a_slow_but_steady_client_is_not_cut_off() {
        let (mut client, server) = tokio::io::duplex(1024);
        let activity = Arc::new(Activity::default());
        let mut io = IdleIo::new(server, deadlines(), activity.clone());
        let _guard = activity.begin();
        let feeder = tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(150 * MS).await;
                client.write_all(b"x").await.unwrap();
            }
        });
        let mut got = Vec::new();
        while got.len() < 5 {
            let mut buf = [0u8; 4];
            let n = io.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        feeder.await.unwrap();
    }
}
