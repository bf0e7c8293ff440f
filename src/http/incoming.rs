//! The request body handed to the handlers: hyper's, counting the bytes
//! read from it and whether the client broke off, for the access log.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

/// What a request's body delivered, shared with whoever logs the request.
#[derive(Debug, Default)]
pub struct Received {
    bytes: AtomicU64,
    broken: AtomicBool,
}

impl Received {
    /// Body bytes the handler read.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The body failed (the client went away, or stalled past its timeout).
    pub fn broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }
}

/// A request body: hyper's own, with an optional [`Received`] tally; or
/// none at all (a request the S3 door makes of the core on its own).
#[derive(Debug)]
pub struct Incoming {
    inner: Option<hyper::body::Incoming>,
    tally: Option<Arc<Received>>,
}

impl Incoming {
    pub fn new(inner: hyper::body::Incoming, tally: Option<Arc<Received>>) -> Incoming {
        Incoming {
            inner: Some(inner),
            tally,
        }
    }

    /// A body that has ended before its first byte.
    pub fn empty() -> Incoming {
        Incoming {
            inner: None,
            tally: None,
        }
    }
}

impl HttpBody for Incoming {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if let (Some(t), Poll::Ready(Some(r))) = (&self.tally, &polled) {
            match r {
                Ok(f) => {
                    let n = f.data_ref().map_or(0, |d| d.len() as u64);
                    t.bytes.fetch_add(n, Ordering::Relaxed);
                }
                Err(_) => t.broken.store(true, Ordering::Relaxed),
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|i| i.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(i) => i.size_hint(),
            None => SizeHint::with_exact(0),
        }
    }
}
