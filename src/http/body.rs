//! Response bodies: small ones in memory, objects streamed from their file by
//! a blocking reader that stays a few chunks ahead of the socket.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::pin::Pin;
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
    /// A slice of another file, opened when reached (large-object segments).
    Path {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

/// Read size per chunk.
const CHUNK: usize = 256 * 1024;
/// Chunks buffered ahead of the socket.
const AHEAD: usize = 4;

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

/// Sends `len` bytes of `file` from `offset`; false when the body is over
/// (the client left, or a read failed and the error was sent).
fn send_slice(tx: &mpsc::Sender<io::Result<Bytes>>, file: &File, offset: u64, len: u64) -> bool {
    // `read_to_end` fills spare capacity without zeroing it first: a fresh
    // zeroed buffer per chunk cost about a tenth of a hot large GET.
    let mut f = file;
    if let Err(e) = f.seek(SeekFrom::Start(offset)) {
        let _ = tx.blocking_send(Err(e));
        return false;
    }
    let mut left = len;
    while left > 0 {
        let want = left.min(CHUNK as u64);
        let mut buf = Vec::with_capacity(want as usize);
        let msg = match f.take(want).read_to_end(&mut buf) {
            Ok(n) if n as u64 == want => Ok(Bytes::from(buf)),
            Ok(_) => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Err(e) => Err(e),
        };
        let failed = msg.is_err();
        if tx.blocking_send(msg).is_err() || failed {
            return false;
        }
        left -= want;
    }
    true
}

/// Streams `parts` of `file`; `total` is the exact body length.
pub fn stream_file(file: File, parts: Vec<Part>, total: u64) -> Body {
    let (tx, rx) = mpsc::channel(AHEAD);
    tokio::task::spawn_blocking(move || {
        for p in parts {
            match p {
                Part::Bytes(b) => {
                    if tx.blocking_send(Ok(b)).is_err() {
                        return;
                    }
                }
                Part::File { offset, len } => {
                    if !send_slice(&tx, &file, offset, len) {
                        return;
                    }
                }
                Part::Path { path, offset, len } => {
                    let sent = match File::open(&path) {
                        Ok(f) => send_slice(&tx, &f, offset, len),
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
pub fn read_small(file: &File, parts: &[Part], total: u64) -> io::Result<Bytes> {
    let mut out = Vec::with_capacity(total as usize);
    for p in parts {
        match p {
            Part::Bytes(b) => out.extend_from_slice(b),
            Part::File { offset, len } => {
                let start = out.len();
                out.resize(start + *len as usize, 0);
                file.read_exact_at(&mut out[start..], *offset)?;
            }
            Part::Path { path, offset, len } => {
                let start = out.len();
                out.resize(start + *len as usize, 0);
                File::open(path)?.read_exact_at(&mut out[start..], *offset)?;
            }
        }
    }
    Ok(Bytes::from(out))
}
