//! Per-request recording: a [`Probe`] taken when a request's head has been
//! read, a [`Note`] the handlers fill in (what the request named, which
//! policy), the response body wrapped to see its bytes and its end, and the
//! client socket wrapped to count bytes in and out.
//!
//! Cost: the label set of a request is one of a few hundred combinations
//! (method × resource × status class × policy); each is resolved from the
//! families once, on its first use, into a slot of [`Resolved`], so a
//! request after that costs a handful of atomic adds and two histogram
//! observations, with no hashing and no allocation but the note's.

use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::{Body as HttpBody, Frame, SizeHint};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{get, Metrics, RequestLabels};

/// What a request names, as Swift's proxy-logging `type`: S3 requests map
/// to the same (the service, a bucket, a key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Resource {
    Other = 0,
    Account = 1,
    Container = 2,
    Object = 3,
}

impl Resource {
    /// What a Swift request names.
    pub fn of(t: &crate::http::request::Target) -> Resource {
        use crate::http::request::Target as T;
        match t {
            T::Account { .. } => Resource::Account,
            T::Container { .. } => Resource::Container,
            T::Object { .. } => Resource::Object,
            _ => Resource::Other,
        }
    }

    /// What an S3 request names: the service, a bucket or a key.
    pub fn of_s3(bucket: bool, key: bool) -> Resource {
        match (bucket, key) {
            (_, true) => Resource::Object,
            (true, false) => Resource::Container,
            (false, false) => Resource::Account,
        }
    }
}

const RESOURCES: [&str; 4] = ["other", "account", "container", "object"];
/// Swift's valid methods; any other is counted as `BAD_METHOD`.
const METHODS: [&str; 8] = [
    "GET",
    "HEAD",
    "PUT",
    "POST",
    "DELETE",
    "COPY",
    "OPTIONS",
    "BAD_METHOD",
];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn method_index(m: &Method) -> usize {
    let i = match *m {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::PUT => 2,
        Method::POST => 3,
        Method::DELETE => 4,
        Method::OPTIONS => 6,
        _ if m.as_str() == "COPY" => 5,
        _ => 7,
    };
    debug_assert!(i < METHODS.len());
    i
}

fn class_index(s: StatusCode) -> usize {
    usize::from(s.as_u16() / 100).clamp(1, CLASSES.len()) - 1
}

/// What handlers learn about a request that its metrics (and log) report:
/// the resource it names and the storage policy it reached. Empty (every
/// call a no-op) when metrics are off.
#[derive(Clone, Default)]
pub struct Note(Option<Arc<Noted>>);

#[derive(Default)]
struct Noted {
    resource: AtomicU8,
    /// Policy index + 1; 0: none reached.
    policy: AtomicU8,
}

impl Note {
    /// The note of a request (put there by [`Probe::start`]).
    pub fn of<B>(req: &Request<B>) -> Note {
        Note::in_extensions(req.extensions())
    }

    pub fn in_extensions(ext: &http::Extensions) -> Note {
        ext.get::<Note>().cloned().unwrap_or_default()
    }

    pub fn resource(&self, r: Resource) {
        if let Some(n) = &self.0 {
            n.resource.store(r as u8, Ordering::Relaxed);
        }
    }

    /// The first policy a request reaches is its own (a copy's source, a
    /// manifest's container), as Swift's log line has one.
    pub fn policy(&self, index: usize) {
        if let Some(n) = &self.0 {
            let v = u8::try_from(index + 1).unwrap_or(u8::MAX);
            let _ = n
                .policy
                .compare_exchange(0, v, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}

/// One resolved label set: the metrics a request of that kind records.
#[derive(Clone)]
pub(crate) struct Handles {
    requests: Counter,
    timing: Histogram,
    ttfb: Histogram,
    body_out: Counter,
}

/// Slots for every label set, filled on first use.
pub(crate) struct Resolved {
    slots: Vec<OnceLock<Handles>>,
    /// Policies + 1 (the "" of requests that reached none).
    policies: usize,
}

impl Resolved {
    pub(crate) fn new(policies: usize) -> Resolved {
        // More than 254 policies share the last slot (a policy index past
        // what `Note` keeps); no configuration comes near.
        let policies = policies.min(254) + 1;
        let n = METHODS.len() * RESOURCES.len() * CLASSES.len() * policies;
        Resolved {
            slots: (0..n).map(|_| OnceLock::new()).collect(),
            policies,
        }
    }
}

impl Metrics {
    fn handles(&self, method: usize, resource: usize, class: usize, policy: usize) -> &Handles {
        let r = &self.resolved;
        let policy = policy.min(r.policies - 1);
        let i =
            ((method * RESOURCES.len() + resource) * CLASSES.len() + class) * r.policies + policy;
        r.slots[i].get_or_init(|| {
            let labels = RequestLabels {
                method: METHODS[method],
                resource: RESOURCES[resource],
                status: CLASSES[class],
                policy: match policy {
                    0 => String::new(),
                    p => (p - 1).to_string(),
                },
            };
            Handles {
                requests: self.requests.get_or_create_owned(&labels),
                timing: self.timing.get_or_create_owned(&labels),
                ttfb: self.ttfb.get_or_create_owned(&labels),
                body_out: self.body_out.get_or_create_owned(&labels),
            }
        })
    }
}

/// A request being measured, from its head to the end of its response.
pub struct Probe(Option<Started>);

struct Started {
    m: &'static Metrics,
    at: Instant,
    method: usize,
    note: Arc<Noted>,
}

impl Probe {
    /// Starts measuring `req` (and gives it its [`Note`]).
    pub fn start<B>(req: &mut Request<B>) -> Probe {
        let Some(m) = get() else {
            return Probe(None);
        };
        let note = Arc::new(Noted::default());
        req.extensions_mut().insert(Note(Some(note.clone())));
        m.in_flight.inc();
        Probe(Some(Started {
            m,
            at: Instant::now(),
            method: method_index(req.method()),
            note,
        }))
    }

    /// The response head is ready: records the time to it, and wraps the
    /// body to record the rest when it ends.
    pub fn respond<B>(mut self, resp: Response<B>) -> Response<Metered<B>> {
        let Some(s) = self.0.take() else {
            return resp.map(|b| Metered {
                inner: b,
                end: None,
            });
        };
        let resource = usize::from(s.note.resource.load(Ordering::Relaxed)).min(3);
        let policy = usize::from(s.note.policy.load(Ordering::Relaxed));
        let h =
            s.m.handles(s.method, resource, class_index(resp.status()), policy);
        h.ttfb.observe(s.at.elapsed().as_secs_f64());
        let end = End {
            m: s.m,
            at: s.at,
            h: h.clone(),
            sent: 0,
        };
        resp.map(|b| Metered {
            inner: b,
            end: Some(end),
        })
    }
}

impl Drop for Probe {
    /// A request dropped before its answer (its client gone): no longer in
    /// flight, and not counted as answered.
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            s.m.in_flight.dec();
        }
    }
}

/// What is recorded when a response body ends (or is dropped: a client gone).
struct End {
    m: &'static Metrics,
    at: Instant,
    h: Handles,
    sent: u64,
}

impl Drop for End {
    fn drop(&mut self) {
        self.h.timing.observe(self.at.elapsed().as_secs_f64());
        self.h.requests.inc();
        self.h.body_out.inc_by(self.sent);
        self.m.in_flight.dec();
    }
}

/// A response body that counts its bytes and records the request when it
/// is done.
pub struct Metered<B> {
    inner: B,
    end: Option<End>,
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for Metered<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(f))) => {
                if let (Some(d), Some(e)) = (f.data_ref(), self.end.as_mut()) {
                    e.sent += d.len() as u64;
                }
            }
            // The end (or a failure): recorded now, not when hyper drops
            // the body.
            Poll::Ready(_) => self.end = None,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An open client connection, counted while it lives.
pub struct Connection(Option<&'static Metrics>);

impl Connection {
    pub fn open() -> Connection {
        let m = get();
        if let Some(m) = m {
            m.connections.inc();
        }
        Connection(m)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(m) = self.0 {
            m.connections.dec();
        }
    }
}

/// A client socket whose bytes in and out are counted.
pub struct CountedIo<T> {
    io: T,
    m: Option<&'static Metrics>,
}

impl<T> CountedIo<T> {
    pub fn new(io: T) -> CountedIo<T> {
        CountedIo { io, m: get() }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CountedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if let (Some(m), Poll::Ready(Ok(()))) = (self.m, &r) {
            m.received.inc_by((buf.filled().len() - before) as u64);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CountedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.count_sent(&r);
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.count_sent(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl<T> CountedIo<T> {
    fn count_sent(&self, r: &Poll<std::io::Result<usize>>) {
        if let (Some(m), Poll::Ready(Ok(n))) = (self.m, r) {
            m.sent.inc_by(*n as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_and_methods_map_to_their_labels() {
        assert_eq!(CLASSES[class_index(StatusCode::OK)], "2xx");
        assert_eq!(CLASSES[class_index(StatusCode::CONTINUE)], "1xx");
        assert_eq!(
            CLASSES[class_index(StatusCode::INSUFFICIENT_STORAGE)],
            "5xx"
        );
        let odd = StatusCode::from_u16(999).unwrap();
        assert_eq!(CLASSES[class_index(odd)], "5xx");
        let copy = Method::from_bytes(b"COPY").unwrap();
        assert_eq!(METHODS[method_index(&copy)], "COPY");
        let odd = Method::from_bytes(b"PROPFIND").unwrap();
        assert_eq!(METHODS[method_index(&odd)], "BAD_METHOD");
    }

    /// What recording costs one request: run with
    /// `cargo test --release --lib -- --ignored --nocapture recording_cost`.
    #[test]
    #[ignore = "a timing, not a check"]
    fn recording_cost() {
        use http_body_util::{BodyExt, Full};
        let serve = |probe: Option<Probe>| {
            let mut req = Request::get("/v1/AUTH_a/c/o").body(()).unwrap();
            // The server puts the client's address there first.
            req.extensions_mut().insert(0u64);
            let probe = probe.map(|_| Probe::start(&mut req));
            let note = Note::of(&req);
            note.resource(Resource::Object);
            note.policy(0);
            let resp = Response::new(Full::new(Bytes::from_static(&[7; 4096])));
            match probe {
                Some(p) => drop(futures_util::FutureExt::now_or_never(
                    p.respond(resp).into_body().collect(),
                )),
                None => drop(futures_util::FutureExt::now_or_never(
                    resp.into_body().collect(),
                )),
            }
        };
        super::super::install(2, Default::default());
        let n = 1_000_000u32;
        let mut best = [f64::MAX; 2];
        for _ in 0..5 {
            for (i, on) in [false, true].into_iter().enumerate() {
                let t = Instant::now();
                for _ in 0..n {
                    serve(on.then_some(Probe(None)));
                }
                best[i] = best[i].min(t.elapsed().as_nanos() as f64 / f64::from(n));
            }
        }
        println!(
            "per request: {:.0} ns without a probe, {:.0} ns with: recording costs {:.0} ns",
            best[0],
            best[1],
            best[1] - best[0]
        );
    }

    #[test]
    fn a_note_keeps_the_first_policy() {
        let n = Note(Some(Arc::default()));
        n.policy(1);
        n.policy(0);
        n.resource(Resource::Object);
        let inner = n.0.as_ref().unwrap();
        assert_eq!(inner.policy.load(Ordering::Relaxed), 2);
        assert_eq!(
            inner.resource.load(Ordering::Relaxed),
            Resource::Object as u8
        );
        // Without metrics, a note is empty and ignores everything.
        Note::default().policy(3);
    }
}
