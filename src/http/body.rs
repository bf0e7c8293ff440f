//! Response bodies: small ones in memory, objects streamed from their file
//! one chunk at a time as the socket takes them. No thread waits on a client:
//! a chunk whose pages are cached is read on the async worker, any other in a
//! short blocking call, so a client that stops reading costs its buffers only
//! (and those go when the connection's write timeout drops it).

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The most one request body frame holds: the largest read buffer
/// `[server] read_buffer_kib` allows (the buffer also bounds a request's
/// head).
pub const MAX_FRAME: usize = 1024 * 1024;

/// The body type of every response.
pub type Body = BoxBody<Bytes, io::Error>;

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A body fed from a channel by a task that makes it (`len`: its exact
/// length, when known); it ends when the sender is dropped.
pub fn channel(rx: mpsc::Receiver<io::Result<Bytes>>, len: Option<u64>) -> Body {
    ChannelBody { rx, left: len }.boxed()
}

/// The body of an answer that must start before its outcome is known:
/// `first`, then a space every `every` while `job` runs (so that neither
/// the client nor a proxy gives up on a silent connection), then what
/// `last` makes of the outcome. The job is spawned: it runs to its end
/// even when the client has gone.
pub fn heartbeat<T, F>(
    first: &'static [u8],
    every: Duration,
    job: F,
    last: impl FnOnce(T) -> Bytes + Send + 'static,
) -> Body
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(2);
    let mut job = tokio::spawn(job);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let mut listening = tx.send(Ok(Bytes::from_static(first))).await.is_ok();
        let outcome = loop {
            tokio::select! {
                done = &mut job => break done,
                _ = tick.tick(), if listening => {
                    listening = tx.send(Ok(Bytes::from_static(b" "))).await.is_ok();
                }
            }
        };
        let end = match outcome {
            Ok(t) => Ok(last(t)),
            Err(e) => Err(io::Error::other(format!("the answer's job failed: {e}"))),
        };
        let _ = tx.send(end).await;
    });
    channel(rx, None)
}

/// See [`channel`].
struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    left: Option<u64>,
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let got = ready!(self.rx.poll_recv(cx));
        if let (Some(Ok(b)), Some(left)) = (&got, self.left.as_mut()) {
            *left = left.saturating_sub(b.len() as u64);
        }
        Poll::Ready(got.map(|r| r.map(Frame::data)))
    }

    fn size_hint(&self) -> SizeHint {
        self.left.map(SizeHint::with_exact).unwrap_or_default()
    }
}

/// An empty body that keeps a response's `Content-Length: 0`, even on a
/// 204: hyper leaves the header off a body that says it has ended before
/// it is polled (RFC 9110 wants none on a 204), but Swift's proxy sends it
/// there and s3api clients check it (AbortMultipartUpload).
pub fn empty_with_length() -> Body {
    ZeroLength.boxed()
}

/// See [`empty_with_length`]: ends when polled, not before.
struct ZeroLength;

impl HttpBody for ZeroLength {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        false
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(0)
    }
}

/// A piece of a streamed body: literal bytes (multipart headers) or a slice
/// of the file.
pub enum Part {
    Bytes(Bytes),
    File {
        offset: u64,
        len: u64,
    },
    /// A slice of another file, opened when reached (large-object
    /// segments): `open` finds it where it belongs (beneath its container).
    Open {
        open: Opener,
        offset: u64,
        len: u64,
    },
}

/// Opens the file of a [`Part::Open`] when the body reaches it.
pub type Opener = Box<dyn FnOnce() -> io::Result<File> + Send + Sync>;

/// Bytes read per step. A chunk is read when hyper asks for one, which it
/// does once its queue holds less than its buffer size (64 KiB), and where
/// no chunk is read inline the next is read at once: a client that stops
/// reading holds about two chunks and a spare (three there), and no thread.
const CHUNK: usize = 128 * 1024;
/// Bytes read per step of a slice longer than [`PREFETCH`] where no chunk
/// is read inline: each chunk costs two thread hops and a wake-up, and on
/// a FUSE mount the socket side, not the filesystem, is what a large GET
/// waits for. A client that stops reading such a body holds 1.5 MiB.
const BIG_CHUNK: usize = 512 * 1024;
/// How far ahead of the reader the kernel is asked to fetch a file's pages
/// (`POSIX_FADV_WILLNEED`): the disk works while the chunks in hand go out,
/// and the next reads find their pages in the cache.
const PREFETCH: u64 = 4 << 20;

/// Whether chunks already in the page cache are read on the async worker
/// (`preadv2` with `RWF_NOWAIT`, which fails rather than wait for the disk)
/// instead of in a blocking call: `[storage] quick_reads`. Process-wide, set
/// once at start.
static INLINE_READS: AtomicBool = AtomicBool::new(true);

/// Turns inline page-cache reads on or off (see [`INLINE_READS`]).
pub fn set_inline_reads(on: bool) {
    INLINE_READS.store(on, Ordering::Relaxed);
}

/// Read buffers of one streamed body, handed back once the socket has taken
/// them: a fresh buffer per chunk costs page faults (glibc hands large blocks
/// back to the kernel and maps them anew) on every chunk.
#[derive(Clone, Default)]
struct Pool(Arc<Mutex<Vec<Vec<u8>>>>);

impl Pool {
    /// A buffer of at least `len` bytes ([`CHUNK`] or [`BIG_CHUNK`]),
    /// reused when one is back.
    fn take(&self, len: usize) -> Vec<u8> {
        let spare = self.0.lock().ok().and_then(|mut p| p.pop());
        match spare {
            Some(b) if b.len() >= len => b,
            _ => vec![0u8; if len > CHUNK { BIG_CHUNK } else { CHUNK }],
        }
    }

    /// `len` bytes of `buf` as a chunk that returns `buf` when dropped.
    fn chunk(&self, buf: Vec<u8>, len: usize) -> Bytes {
        Bytes::from_owner(Pooled {
            buf,
            len,
            pool: self.clone(),
        })
    }
}

/// A chunk of a body: `len` bytes of a pooled buffer, returned on drop.
struct Pooled {
    buf: Vec<u8>,
    len: usize,
    pool: Pool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Ok(mut p) = self.pool.0.lock() {
            // One spare: the reader takes a buffer only after the socket
            // has let go of an earlier one.
            if p.is_empty() {
                p.push(std::mem::take(&mut self.buf));
            }
        }
    }
}

/// The part of a file being sent.
struct Slice {
    file: Arc<File>,
    pos: u64,
    end: u64,
    /// Pages up to here are asked for already.
    fetched: u64,
    /// The slice is long enough for read-ahead hints to pay.
    hint: bool,
}

impl Slice {
    fn new(file: Arc<File>, offset: u64, len: u64) -> Slice {
        Slice {
            file,
            pos: offset,
            end: offset + len,
            fetched: offset,
            hint: len > PREFETCH,
        }
    }

    /// The next chunk's length; `blocking`: no chunk is read inline.
    fn want(&self, blocking: bool) -> usize {
        let chunk = if blocking && self.hint {
            BIG_CHUNK
        } else {
            CHUNK
        };
        (self.end - self.pos).min(chunk as u64) as usize
    }

    /// The range to hint now, when the reader is within `PREFETCH` of the
    /// pages asked for so far.
    fn hint_due(&mut self) -> Option<(u64, u64)> {
        if !self.hint || self.fetched >= self.pos + PREFETCH || self.fetched >= self.end {
            return None;
        }
        let upto = (self.pos + 2 * PREFETCH).min(self.end);
        let range = (self.fetched, upto - self.fetched);
        self.fetched = upto;
        Some(range)
    }
}

/// What a blocking step hands back.
enum Step {
    /// A `Part::Open` file, opened.
    Opened(Slice),
    /// A chunk read.
    Chunk(Bytes),
}

/// A streamed file body: one chunk at a time, each read when hyper asks.
struct FileBody {
    file: Arc<File>,
    parts: VecDeque<Part>,
    current: Option<Slice>,
    /// A blocking open or read in flight.
    step: Option<JoinHandle<io::Result<Step>>>,
    remaining: u64,
    pool: Pool,
    inline: bool,
}

impl FileBody {
    /// Takes the result of the blocking step in flight.
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
        let Some(h) = self.step.as_mut() else {
            return Poll::Ready(Ok(None));
        };
        let r = ready!(Pin::new(h).poll(cx));
        self.step = None;
        match r {
            Ok(Ok(Step::Opened(s))) => {
                self.current = Some(s);
                Poll::Ready(Ok(None))
            }
            Ok(Ok(Step::Chunk(b))) => {
                if let Some(s) = self.current.as_mut() {
                    s.pos += b.len() as u64;
                }
                Poll::Ready(Ok(Some(b)))
            }
            Ok(Err(e)) => Poll::Ready(Err(e)),
            Err(e) => Poll::Ready(Err(io::Error::other(format!("read task failed: {e}")))),
        }
    }

    /// The next chunk of the current slice: read here when its pages are
    /// cached, else started in a blocking call (`None`: poll the step).
    fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        let Some(s) = self.current.as_mut() else {
            return Ok(None);
        };
        let want = s.want(!self.inline);
        let hint = s.hint_due();
        let mut buf = self.pool.take(want);
        if self.inline && hint.is_none() {
            match read_cached(&s.file, &mut buf[..want], s.pos) {
                Ok(n) if n > 0 => {
                    s.pos += n as u64;
                    return Ok(Some(self.pool.chunk(buf, n)));
                }
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {}
                // This filesystem cannot tell: always the blocking way.
                Err(_) => self.inline = false,
            }
        }
        self.start_read(want, hint, buf);
        Ok(None)
    }

    /// Reads the current slice's next chunk into `buf` in a blocking call:
    /// `want` bytes, after hinting `hint`.
    fn start_read(&mut self, want: usize, hint: Option<(u64, u64)>, mut buf: Vec<u8>) {
        let Some(s) = self.current.as_ref() else {
            return;
        };
        let (file, pos, pool) = (s.file.clone(), s.pos, self.pool.clone());
        self.step = Some(tokio::task::spawn_blocking(move || {
            if let Some((from, len)) = hint {
                // Only a hint: a filesystem that ignores it reads on demand.
                let _ = nix::fcntl::posix_fadvise(
                    file.as_raw_fd(),
                    from as i64,
                    len as i64,
                    nix::fcntl::PosixFadviseAdvice::POSIX_FADV_WILLNEED,
                );
            }
            file.read_exact_at(&mut buf[..want], pos)?;
            Ok(Step::Chunk(pool.chunk(buf, want)))
        }));
    }

    /// Where chunks cannot come from the page cache inline (FUSE has no
    /// `RWF_NOWAIT`; `quick_reads` off), after a chunk: starts reading the
    /// next one at once, so that the filesystem works while the socket
    /// takes this one. Elsewhere the next chunk tries the cache first.
    fn read_ahead(&mut self) {
        if self.inline {
            return;
        }
        let Some(s) = self.current.as_mut() else {
            return;
        };
        if s.pos >= s.end {
            return;
        }
        let (want, hint) = (s.want(true), s.hint_due());
        let buf = self.pool.take(want);
        self.start_read(want, hint, buf);
    }

    /// Moves to the next part; a literal part is the next frame.
    fn next_part(&mut self) -> Option<Bytes> {
        match self.parts.pop_front()? {
            Part::Bytes(b) => return Some(b),
            Part::File { offset, len } => {
                self.current = Some(Slice::new(self.file.clone(), offset, len));
            }
            Part::Open { open, offset, len } => {
                self.step = Some(tokio::task::spawn_blocking(move || {
                    let f = open()?;
                    Ok(Step::Opened(Slice::new(Arc::new(f), offset, len)))
                }));
            }
        }
        None
    }

    fn frame(&mut self, b: Bytes) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        self.remaining = self.remaining.saturating_sub(b.len() as u64);
        Poll::Ready(Some(Ok(Frame::data(b))))
    }
}

impl HttpBody for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        loop {
            match ready!(this.poll_step(cx)) {
                Ok(Some(b)) => {
                    this.read_ahead();
                    return this.frame(b);
                }
                Ok(None) => {}
                Err(e) => {
                    this.parts.clear();
                    this.current = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            if this.current.as_ref().is_some_and(|s| s.pos >= s.end) {
                this.current = None;
            }
            if this.current.is_some() {
                match this.next_chunk() {
                    Ok(Some(b)) => return this.frame(b),
                    Ok(None) => continue,
                    Err(e) => return Poll::Ready(Some(Err(e))),
                }
            }
            if this.parts.is_empty() {
                return Poll::Ready(None);
            }
            if let Some(b) = this.next_part() {
                return this.frame(b);
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0 && self.step.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Reads at `pos` what the page cache holds, without waiting for the disk:
/// `EAGAIN` when the first page is not cached.
fn read_cached(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: one iovec over `buf`, which is writable for its length and
    // outlives the call; the fd is owned by `file`.
    let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, pos as i64, libc::RWF_NOWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Streams `parts` of `file`; `total` is the exact body length.
pub fn stream_file(file: File, parts: Vec<Part>, total: u64) -> Body {
    FileBody {
        file: Arc::new(file),
        parts: parts.into(),
        current: None,
        step: None,
        remaining: total,
        pool: Pool::default(),
        inline: INLINE_READS.load(Ordering::Relaxed),
    }
    .boxed()
}

/// Reads `parts` into memory; for bodies small enough that a thread hop
/// costs more than the copy.
pub fn read_small(file: &File, parts: Vec<Part>, total: u64) -> io::Result<Bytes> {
    let mut out = Vec::with_capacity(total as usize);
    for p in parts {
        match p {
            Part::Bytes(b) => out.extend_from_slice(&b),
            Part::File { offset, len } => {
                let start = out.len();
                out.resize(start + len as usize, 0);
                file.read_exact_at(&mut out[start..], offset)?;
            }
            Part::Open { open, offset, len } => {
                let start = out.len();
                out.resize(start + len as usize, 0);
                open()?.read_exact_at(&mut out[start..], offset)?;
            }
        }
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opener(p: std::path::PathBuf) -> Opener {
        Box::new(move || File::open(p))
    }

    fn body_of(file: File, parts: Vec<Part>, total: u64, inline: bool) -> FileBody {
        FileBody {
            file: Arc::new(file),
            parts: parts.into(),
            current: None,
            step: None,
            remaining: total,
            pool: Pool::default(),
            inline,
        }
    }

    #[tokio::test]
    async fn parts_stream_in_order_from_the_cache_and_from_blocking_reads() {
        let dir = tempfile::tempdir().unwrap();
        let a: Vec<u8> = (0..3 * CHUNK + 123).map(|i| (i % 253) as u8).collect();
        let b: Vec<u8> = (0..100u8).collect();
        std::fs::write(dir.path().join("a"), &a).unwrap();
        std::fs::write(dir.path().join("b"), &b).unwrap();
        let mut want = b"head".to_vec();
        want.extend_from_slice(&a[5..5 + 2 * CHUNK + 7]);
        want.extend_from_slice(&b[3..13]);
        want.extend_from_slice(b"tail");
        for inline in [true, false] {
            let parts = vec![
                Part::Bytes(Bytes::from_static(b"head")),
                Part::File {
                    offset: 5,
                    len: 2 * CHUNK as u64 + 7,
                },
                Part::Open {
                    open: opener(dir.path().join("b")),
                    offset: 3,
                    len: 10,
                },
                Part::Bytes(Bytes::from_static(b"tail")),
            ];
            let file = File::open(dir.path().join("a")).unwrap();
            let body = body_of(file, parts, want.len() as u64, inline);
            let got = body.collect().await.unwrap().to_bytes();
            assert!(got == want, "inline {inline}: the body differs");
        }
    }

    #[tokio::test]
    async fn a_large_slice_read_blocking_goes_in_big_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let len = PREFETCH as usize + 3 * BIG_CHUNK + 11;
        let a: Vec<u8> = (0..len + 7).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("a"), &a).unwrap();
        for inline in [true, false] {
            let file = File::open(dir.path().join("a")).unwrap();
            let parts = vec![Part::File {
                offset: 7,
                len: len as u64,
            }];
            let mut body = body_of(file, parts, len as u64, inline);
            let (mut got, mut largest) = (Vec::new(), 0);
            while let Some(f) = BodyExt::frame(&mut body).await {
                let b = f.unwrap().into_data().unwrap();
                largest = largest.max(b.len());
                got.extend_from_slice(&b);
            }
            assert!(got == a[7..], "inline {inline}: the body differs");
            let want = if inline { CHUNK } else { BIG_CHUNK };
            assert_eq!(largest, want, "inline {inline}");
        }
    }

    #[tokio::test]
    async fn a_file_shorter_than_its_part_ends_the_body_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), vec![1u8; 1000]).unwrap();
        for inline in [true, false] {
            let file = File::open(dir.path().join("a")).unwrap();
            let parts = vec![Part::File {
                offset: 0,
                len: 5000,
            }];
            let r = body_of(file, parts, 5000, inline).collect().await;
            assert!(r.is_err(), "inline {inline}: a short file passed");
        }
        let missing = vec![Part::Open {
            open: opener(dir.path().join("gone")),
            offset: 0,
            len: 10,
        }];
        let file = File::open(dir.path().join("a")).unwrap();
        assert!(body_of(file, missing, 10, true).collect().await.is_err());
    }
}
