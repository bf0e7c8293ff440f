//! Response bodies: small ones in memory, objects streamed from their file by
//! a blocking reader that stays a few chunks ahead of the socket.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use tokio::sync::mpsc;

/// The body type of every response.
pub type Body = BoxBody<Bytes, io::Error>;

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
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
pub type Opener = Box<dyn FnOnce() -> io::Result<File> + Send>;

/// Read size per chunk.
const CHUNK: usize = 512 * 1024;
/// Chunks buffered ahead of the socket.
const AHEAD: usize = 2;
/// How far ahead of the reader the kernel is asked to fetch a file's pages
/// (`POSIX_FADV_WILLNEED`): the disk works while the chunks in hand go out.
const PREFETCH: u64 = 4 << 20;

struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    remaining: u64,
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => {
                self.remaining = self.remaining.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Read buffers of one streamed body, handed back once the socket has taken
/// them: a fresh buffer per chunk costs page faults (glibc hands large blocks
/// back to the kernel and maps them anew) on every chunk.
#[derive(Clone, Default)]
struct Pool(Arc<Mutex<Vec<Vec<u8>>>>);

impl Pool {
    /// A buffer of `CHUNK` bytes, reused when one is back.
    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_else(|| vec![0u8; CHUNK])
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
            if p.len() <= AHEAD {
                p.push(std::mem::take(&mut self.buf));
            }
        }
    }
}

/// Sends `len` bytes of `file` from `offset`; false when the body is over
/// (the client left, or a read failed and the error was sent).
fn send_slice(
    tx: &mpsc::Sender<io::Result<Bytes>>,
    pool: &Pool,
    file: &File,
    offset: u64,
    len: u64,
) -> bool {
    let mut left = len;
    let mut pos = offset;
    // Pages up to here are asked for already.
    let mut fetched = offset;
    while left > 0 {
        if len > PREFETCH && fetched < pos + PREFETCH && fetched < offset + len {
            let upto = (pos + 2 * PREFETCH).min(offset + len);
            // Only a hint: a filesystem that ignores it reads on demand.
            let _ = nix::fcntl::posix_fadvise(
                file.as_raw_fd(),
                fetched as i64,
                (upto - fetched) as i64,
                nix::fcntl::PosixFadviseAdvice::POSIX_FADV_WILLNEED,
            );
            fetched = upto;
        }
        let want = left.min(CHUNK as u64) as usize;
        let mut buf = pool.take();
        let msg = match file.read_exact_at(&mut buf[..want], pos) {
            Ok(()) => Ok(Bytes::from_owner(Pooled {
                buf,
                len: want,
                pool: pool.clone(),
            })),
            Err(e) => Err(e),
        };
        let failed = msg.is_err();
        if tx.blocking_send(msg).is_err() || failed {
            return false;
        }
        left -= want as u64;
        pos += want as u64;
    }
    true
}

/// Streams `parts` of `file`; `total` is the exact body length.
pub fn stream_file(file: File, parts: Vec<Part>, total: u64) -> Body {
    let (tx, rx) = mpsc::channel(AHEAD);
    let pool = Pool::default();
    tokio::task::spawn_blocking(move || {
        for p in parts {
            match p {
                Part::Bytes(b) => {
                    if tx.blocking_send(Ok(b)).is_err() {
                        return;
                    }
                }
                Part::File { offset, len } => {
                    if !send_slice(&tx, &pool, &file, offset, len) {
                        return;
                    }
                }
                Part::Open { open, offset, len } => {
                    let sent = match open() {
                        Ok(f) => send_slice(&tx, &pool, &f, offset, len),
                        Err(e) => {
                            let _ = tx.blocking_send(Err(e));
                            false
                        }
                    };
                    if !sent {
                        return;
                    }
                }
            }
        }
    });
    ChannelBody {
        rx,
        remaining: total,
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
