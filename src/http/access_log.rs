//! The access log (`[log] access`): a [`Record`] per request, taken when
//! the request arrives and completed when its response body ends, fails
//! or is dropped (bytes sent are counted as the body streams), then handed
//! through a bounded queue to a thread of its own that formats and writes
//! it. A request never waits for the log: when the queue is full the line
//! is dropped and counted. SIGHUP reopens the file (logrotate).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Request, Response, Version};
use http_body::{Body as HttpBody, Frame, SizeHint};

use super::access_line::{self, Record};
use super::body::Body;
use super::incoming::{Incoming, Received};
use crate::config::{LogConfig, LogFormat};

/// Lines waiting for the writer at most; past it lines are dropped.
const QUEUE: usize = 8192;
/// Bytes of lines gathered before a write to the sink.
const BUFFER: usize = 256 * 1024;

/// The running access log; cheap to clone. Off when `[log] access` is
/// empty (requests then pass through untouched).
#[derive(Clone, Default)]
pub struct AccessLog(Option<Arc<Shared>>);

struct Shared {
    tx: SyncSender<Box<Record>>,
    headers: bool,
    /// Policy names (lowercase), by index.
    policies: Vec<String>,
    dropped: AtomicU64,
    reopen: AtomicBool,
}

/// Where lines go.
enum Sink {
    Stderr(BufWriter<io::Stderr>),
    File { path: PathBuf, out: BufWriter<File> },
}

impl AccessLog {
    /// Opens the sink (an error here stops the start) and starts the
    /// writer thread; SIGHUP is watched from now on, log or not, so that a
    /// reload never kills the server.
    pub fn start(cfg: &LogConfig, policies: Vec<String>) -> io::Result<AccessLog> {
        let log = if cfg.access.is_empty() {
            AccessLog(None)
        } else {
            let sink = match cfg.access.as_str() {
                "-" => Sink::Stderr(BufWriter::with_capacity(BUFFER, io::stderr())),
                p => Sink::open(PathBuf::from(p))?,
            };
            let (tx, rx) = mpsc::sync_channel(QUEUE);
            let shared = Arc::new(Shared {
                tx,
                headers: cfg.headers,
                policies: policies.iter().map(|p| p.to_lowercase()).collect(),
                dropped: AtomicU64::new(0),
                reopen: AtomicBool::new(false),
            });
            let format = cfg.format;
            let weak = Arc::downgrade(&shared);
            std::thread::Builder::new()
                .name("access-log".into())
                .spawn(move || write_lines(rx, sink, format, weak))?;
            AccessLog(Some(shared))
        };
        log.watch_sighup();
        Ok(log)
    }

    /// Lines dropped so far because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.0
            .as_ref()
            .map_or(0, |s| s.dropped.load(Ordering::Relaxed))
    }

    fn watch_sighup(&self) {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot watch SIGHUP: {e}");
                return;
            }
        };
        let shared = self.0.as_ref().map(Arc::downgrade);
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let Some(s) = shared.as_ref().and_then(|w| w.upgrade()) else {
                    continue;
                };
                // The writer reopens at its next tick.
                s.reopen.store(true, Ordering::Relaxed);
            }
        });
    }

    /// Takes what the log needs of a request as it arrives, and gives the
    /// handler its body (counting what it reads).
    pub fn begin(
        &self,
        req: Request<hyper::body::Incoming>,
        peer: SocketAddr,
    ) -> (Request<Incoming>, Pending) {
        // Swift's healthcheck sits before proxy-logging: not logged.
        let Some(shared) = self
            .0
            .as_ref()
            .filter(|_| req.uri().path() != "/healthcheck")
        else {
            return (req.map(|b| Incoming::new(b, None)), Pending(None));
        };
        let tally = Arc::new(Received::default());
        let rec = record_of(&req, peer, shared.headers);
        let req = req.map(|b| Incoming::new(b, Some(tally.clone())));
        (req, Pending(Some((Box::new(rec), tally, shared.clone()))))
    }
}

/// A request being logged: completed by [`Pending::finish`].
pub struct Pending(Option<(Box<Record>, Arc<Received>, Arc<Shared>)>);

impl Pending {
    /// Notes the answer and wraps its body, which logs the line when it
    /// ends or is dropped.
    pub fn finish(self, resp: Response<Body>) -> Response<Logged> {
        let Some((mut rec, tally, shared)) = self.0 else {
            return resp.map(|inner| Logged { inner, open: None });
        };
        let h = resp.headers();
        rec.status = resp.status().as_u16();
        rec.transaction_id = access_line::header(h, "x-trans-id")
            .or_else(|| access_line::header(h, "x-amz-request-id"));
        rec.policy_index = policy_index(&rec.path, h, &shared.policies);
        let head = rec.method == Method::HEAD.as_str();
        let open = Open {
            rec,
            tally,
            shared,
            head,
        };
        resp.map(|inner| Logged {
            inner,
            open: Some(Box::new(open)),
        })
    }
}

fn record_of(req: &Request<hyper::body::Incoming>, peer: SocketAddr, headers: bool) -> Record {
    let h = req.headers();
    let text = |n: &str| access_line::header(h, n);
    // Swift's get_remote_client: a proxy in front names the client.
    let client_ip = text("x-cluster-client-ip")
        .or_else(|| {
            Some(
                text("x-forwarded-for")?
                    .split(',')
                    .next()?
                    .trim()
                    .to_string(),
            )
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| peer.ip().to_string());
    Record {
        client_ip,
        remote_addr: peer.ip(),
        method: req.method().as_str().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().map(str::to_string),
        protocol: match req.version() {
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_2 => "HTTP/2.0",
            _ => "HTTP/1.1",
        },
        status: 0,
        referer: text("referer"),
        user_agent: text("user-agent"),
        auth_token: text("x-auth-token").map(|t| access_line::cap(&t)),
        bytes_recvd: 0,
        bytes_sent: 0,
        client_etag: text("etag"),
        transaction_id: None,
        headers: headers.then(|| access_line::logged_headers(h)),
        start: SystemTime::now(),
        end: SystemTime::now(),
        policy_index: None,
    }
}

/// The policy a Swift container or object request used: the only one, or
/// the one the response names (`X-Storage-Policy`); none for accounts and
/// the rest.
fn policy_index(path: &str, h: &http::HeaderMap, policies: &[String]) -> Option<usize> {
    let rest = path.strip_prefix("/v1/")?;
    let (_, container) = rest.split_once('/')?;
    if container.is_empty() {
        return None;
    }
    if policies.len() == 1 {
        return Some(0);
    }
    let name = access_line::header(h, "x-storage-policy")?.to_lowercase();
    policies.iter().position(|p| *p == name)
}

/// A response body that counts what it sends and logs its request when
/// it ends.
pub struct Logged {
    inner: Body,
    open: Option<Box<Open>>,
}

struct Open {
    rec: Box<Record>,
    tally: Arc<Received>,
    shared: Arc<Shared>,
    head: bool,
}

impl Logged {
    /// Logs with `status` unless the request body broke (499, as Swift).
    fn done(&mut self, status: u16) {
        let Some(mut o) = self.open.take() else {
            return;
        };
        o.rec.status = if o.tally.broken() { 499 } else { status };
        o.rec.bytes_recvd = o.tally.bytes();
        o.rec.end = SystemTime::now();
        match o.shared.tx.try_send(o.rec) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                o.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl HttpBody for Logged {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let Some(o) = self.open.as_mut() else {
            return polled;
        };
        match &polled {
            Poll::Ready(Some(Ok(f))) => {
                o.rec.bytes_sent += f.data_ref().map_or(0, |d| d.len() as u64);
            }
            Poll::Ready(Some(Err(_))) => self.done(500),
            Poll::Ready(None) => {
                let status = o.rec.status;
                self.done(status);
            }
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

impl Drop for Logged {
    fn drop(&mut self) {
        let Some(o) = self.open.as_ref() else {
            return;
        };
        // Hyper drops a HEAD's or an empty body without reading it; any
        // other body dropped before its end lost its client (Swift's 499).
        let whole = o.head || self.inner.is_end_stream();
        let status = if whole { o.rec.status } else { 499 };
        self.done(status);
    }
}

impl Sink {
    fn open(path: PathBuf) -> io::Result<Sink> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(Sink::File {
            path,
            out: BufWriter::with_capacity(BUFFER, f),
        })
    }

    fn write(&mut self, line: &str) -> io::Result<()> {
        let out: &mut dyn Write = match self {
            Sink::Stderr(out) => out,
            Sink::File { out, .. } => out,
        };
        // One write per line: a line is never split around another
        // writer's (stderr is shared with the server's own messages).
        out.write_all(line.as_bytes())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stderr(out) => out.flush(),
            Sink::File { out, .. } => out.flush(),
        }
    }

    /// Opens the path anew (logrotate moved the old file away); on failure
    /// keeps writing to the old one.
    fn reopen(&mut self) {
        let Sink::File { path, out } = self else {
            return;
        };
        let _ = out.flush();
        match Sink::open(path.clone()) {
            Ok(new) => *self = new,
            Err(e) => tracing::warn!("access log: reopen failed, keeping the old file: {e}"),
        }
    }
}

/// How often the writer looks for lines. It never waits in the queue, so
/// no request has to wake it: lines are written and flushed in batches.
const TICK: Duration = Duration::from_millis(20);

/// The writer thread: formats and writes what is queued, flushes, says
/// how many lines were dropped meanwhile, sleeps a tick; ends when the
/// log is gone and its queue drained.
fn write_lines(rx: Receiver<Box<Record>>, mut sink: Sink, format: LogFormat, shared: Weak<Shared>) {
    let mut reported = 0;
    let mut failed = false;
    loop {
        let mut wrote = false;
        loop {
            let rec = match rx.try_recv() {
                Ok(r) => r,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    let _ = sink.flush();
                    return;
                }
            };
            let mut line = match format {
                LogFormat::Swift => rec.swift_line(),
                LogFormat::Json => rec.json_line(),
            };
            line.push('\n');
            wrote = true;
            if let Err(e) = sink.write(&line) {
                if !failed {
                    tracing::warn!("access log: {e}");
                }
                failed = true;
            }
        }
        if wrote && sink.flush().is_ok() {
            failed = false;
        }
        if let Some(s) = shared.upgrade() {
            if s.reopen.swap(false, Ordering::Relaxed) {
                sink.reopen();
            }
            let dropped = s.dropped.load(Ordering::Relaxed);
            if dropped > reported {
                tracing::warn!(
                    "access log: {} lines dropped (the writer fell behind)",
                    dropped - reported
                );
                reported = dropped;
            }
        }
        std::thread::sleep(TICK);
    }
}
