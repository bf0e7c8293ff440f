//! The aws-chunked body decoder, as a body adapter: an `http_body::Body`
//! in, the object's data frames out (then the aws-chunked trailers as one
//! trailers frame). It holds at most the inner body's current frame, whose
//! pieces it passes on without copying, plus one chunk header or trailer
//! line (at most [`MAX_LINE`] bytes): never a whole chunk.
//!
//! Signed chunks (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`): each
//! chunk's SHA-256 is fed as its bytes pass, and its signature, chained
//! from the request's, is checked when its last byte arrives, before that
//! last piece is passed on. Data of a chunk is thus released before its
//! signature is known. That is safe because of how the write path commits:
//! it renames the object into place only after the body ended cleanly, and
//! any failure here (a bad signature, a chunk under 8 KiB that is not the
//! last, a missing final 0-size chunk, a length that differs from
//! `x-amz-decoded-content-length`, malformed trailers) ends the body with
//! an error instead of its end, so the writer discards what it has.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame};
use sha2::{Digest, Sha256};

use super::error::{hex_bytes, S3Error};
use super::sigv4::ChunkChain;
use super::trailers::Trailers;

/// Chunks before the last must hold at least this many bytes.
pub const MIN_CHUNK: u64 = 8192;
/// Longest chunk header or trailer line.
pub const MAX_LINE: usize = 4096;

/// Why an aws-chunked body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    /// Cut short or malformed framing.
    Incomplete,
    /// The data is not `x-amz-decoded-content-length` long.
    Size {
        expected: u64,
        provided: u64,
    },
    /// A chunk before the last was under [`MIN_CHUNK`].
    TooSmall {
        chunk: u64,
        size: u64,
    },
    /// A chunk's or the trailers' signature does not hold.
    Signature {
        string_to_sign: String,
        provided: String,
        canonical_request: Vec<u8>,
    },
    MalformedTrailer,
    /// The connection failed.
    Body(String),
}

impl std::fmt::Display for ChunkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "aws-chunked body refused: {self:?}")
    }
}

impl std::error::Error for ChunkError {}

/// A signature of `chain` that does not hold, with what it should have
/// signed.
pub(super) fn mismatch(chain: &ChunkChain, string_to_sign: String, provided: &str) -> ChunkError {
    ChunkError::Signature {
        string_to_sign,
        provided: provided.to_string(),
        canonical_request: chain.canonical_request().to_vec(),
    }
}

impl ChunkError {
    /// The S3 error response (`access_key` for a signature mismatch).
    pub fn to_s3(&self, access_key: &str) -> S3Error {
        match self {
            ChunkError::Incomplete | ChunkError::Body(_) => S3Error::incomplete_body_terminated(""),
            ChunkError::Size { expected, provided } => {
                S3Error::incomplete_body(*expected, *provided)
            }
            ChunkError::TooSmall { chunk, size } => S3Error::invalid_chunk_size(*chunk, *size),
            ChunkError::MalformedTrailer => S3Error::malformed_trailer(),
            ChunkError::Signature {
                string_to_sign,
                provided,
                canonical_request,
            } => S3Error::signature_does_not_match(vec![
                ("AWSAccessKeyId", access_key.to_string()),
                ("StringToSign", string_to_sign.clone()),
                ("SignatureProvided", provided.clone()),
                ("StringToSignBytes", hex_bytes(string_to_sign.as_bytes())),
                (
                    "CanonicalRequest",
                    String::from_utf8_lossy(canonical_request).into_owned(),
                ),
                ("CanonicalRequestBytes", hex_bytes(canonical_request)),
            ]),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Data {
        left: u64,
    },
    /// The CRLF after a chunk's data.
    DataEnd,
    Trailers,
    /// All checked; the trailers frame (if any) is still to be sent.
    Done,
    Over,
}

/// Decodes an aws-chunked body.
pub struct AwsChunked<B> {
    inner: B,
    inner_done: bool,
    pending: Bytes,
    line: Vec<u8>,
    state: State,
    chain: Option<ChunkChain>,
    sha: Sha256,
    signature: String,
    chunk_no: u64,
    last_size: Option<u64>,
    decoded_len: u64,
    seen: u64,
    trailers: Trailers,
}

impl<B> AwsChunked<B> {
    /// `chain`: the signature chain (signed chunks), `None` for
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`. `trailers`: the names
    /// declared in `x-amz-trailer` (lower case). `signed_trailer`
    /// (`…-PAYLOAD-TRAILER`): an `x-amz-trailer-signature` must end them.
    pub fn new(
        inner: B,
        decoded_len: u64,
        chain: Option<ChunkChain>,
        trailers: Vec<String>,
        signed_trailer: bool,
    ) -> Self {
        AwsChunked {
            inner,
            inner_done: false,
            pending: Bytes::new(),
            line: Vec::new(),
            state: State::Header,
            chain,
            sha: Sha256::new(),
            signature: String::new(),
            chunk_no: 0,
            last_size: None,
            decoded_len,
            seen: 0,
            trailers: Trailers::new(trailers, signed_trailer),
        }
    }
}

impl<B> AwsChunked<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    /// Gets more input into `pending`; `false` at the inner body's end.
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, ChunkError>> {
        while self.pending.is_empty() && !self.inner_done {
            match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.pending = data;
                    }
                }
                Some(Err(e)) => return Poll::Ready(Err(ChunkError::Body(e.to_string()))),
                None => self.inner_done = true,
            }
        }
        Poll::Ready(Ok(!self.pending.is_empty()))
    }

    /// Moves bytes into `line` up to a `\n`; `Some(true)` once complete,
    /// `Some(false)` when more input is needed.
    fn take_line(&mut self) -> Result<bool, ChunkError> {
        let n = self.pending.iter().position(|b| *b == b'\n');
        let upto = n.map_or(self.pending.len(), |i| i + 1);
        if self.line.len() + upto > MAX_LINE {
            return Err(ChunkError::Incomplete);
        }
        self.line.extend_from_slice(&self.pending[..upto]);
        self.pending.advance(upto);
        Ok(n.is_some())
    }

    /// Moves bytes into `line` until it holds two (a CRLF being read);
    /// true once it does.
    fn take_two(&mut self) -> bool {
        let k = (2 - self.line.len()).min(self.pending.len());
        self.line.extend_from_slice(&self.pending.split_to(k));
        self.line.len() == 2
    }

    /// One step of the decoder: a data piece to send, or `None` to go on.
    fn step(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, ChunkError>> {
        if let State::Data { left } = self.state {
            if left == 0 {
                self.end_chunk()?;
                return Poll::Ready(Ok(None));
            }
            if !ready!(self.fill(cx))? {
                return Poll::Ready(Err(ChunkError::Incomplete));
            }
            let k = (left.min(self.pending.len() as u64)) as usize;
            let piece = self.pending.split_to(k);
            self.sha.update(&piece);
            self.seen += k as u64;
            self.state = State::Data {
                left: left - k as u64,
            };
            if left == k as u64 {
                self.end_chunk()?;
            }
            return Poll::Ready(Ok(Some(piece)));
        }
        let more = ready!(self.fill(cx))?;
        match self.state {
            State::Header => {
                if !more {
                    return Poll::Ready(Err(ChunkError::Incomplete));
                }
                if self.take_line()? {
                    let line = std::mem::take(&mut self.line);
                    self.header(&line)?;
                }
            }
            State::DataEnd => {
                if !more {
                    return Poll::Ready(Err(ChunkError::Incomplete));
                }
                if self.take_two() {
                    if self.line != b"\r\n" {
                        return Poll::Ready(Err(ChunkError::Incomplete));
                    }
                    self.line.clear();
                    self.state = State::Header;
                }
            }
            State::Trailers => self.trailers_step(more)?,
            _ => {}
        }
        Poll::Ready(Ok(None))
    }

    /// Parses a chunk header line (`<hex size>[;chunk-signature=<sig>]\r\n`).
    fn header(&mut self, line: &[u8]) -> Result<(), ChunkError> {
        self.chunk_no += 1;
        let line = line.strip_suffix(b"\r\n").ok_or(ChunkError::Incomplete)?;
        let line = std::str::from_utf8(line).map_err(|_| ChunkError::Incomplete)?;
        let (size, params) = line.split_once(';').unwrap_or((line, ""));
        let size = size.trim();
        if size.is_empty() || size.len() > 15 {
            return Err(ChunkError::Incomplete);
        }
        let size = u64::from_str_radix(size, 16).map_err(|_| ChunkError::Incomplete)?;
        if let Some(last) = self.last_size.filter(|l| *l < MIN_CHUNK && size != 0) {
            return Err(ChunkError::TooSmall {
                chunk: self.chunk_no,
                size: last,
            });
        }
        self.last_size = Some(size);
        if size > self.decoded_len - self.seen {
            return Err(ChunkError::Size {
                expected: self.decoded_len,
                provided: self.seen + size,
            });
        }
        if let Some(chain) = &self.chain {
            let (name, sig) = params.split_once('=').unwrap_or((params, ""));
            if params.is_empty() {
                return Err(ChunkError::Incomplete);
            }
            if name.trim() != "chunk-signature" {
                // Swift's s3api signs an empty hash then, and shows that.
                return Err(mismatch(chain, chain.chunk_string(""), ""));
            }
            let sig = sig.trim();
            if sig.is_empty() || sig.contains(';') {
                return Err(ChunkError::Incomplete);
            }
            self.signature = sig.to_string();
        }
        self.sha = Sha256::new();
        self.state = State::Data { left: size };
        Ok(())
    }

    /// A chunk's data is in: check its signature; the 0-size chunk ends
    /// the data.
    fn end_chunk(&mut self) -> Result<(), ChunkError> {
        let sha = hex::encode(std::mem::take(&mut self.sha).finalize());
        if let Some(chain) = &mut self.chain {
            let sts = chain.chunk_string(&sha);
            if !chain.advance(&sts, &self.signature) {
                return Err(mismatch(chain, sts, &self.signature));
            }
        }
        self.state = if self.last_size == Some(0) {
            State::Trailers
        } else {
            State::DataEnd
        };
        Ok(())
    }

    /// Reads the trailers (or the final CRLF), then checks the length.
    fn trailers_step(&mut self, more: bool) -> Result<(), ChunkError> {
        if self.trailers.none_expected() {
            if !self.take_two() && more {
                return Ok(());
            }
            if !self.line.is_empty() && self.line != b"\r\n" {
                return Err(ChunkError::Incomplete);
            }
            return self.finish();
        }
        if !more {
            // The end of the body ends the trailers too, at a line's end.
            if !self.line.is_empty() {
                return Err(ChunkError::Incomplete);
            }
            return self.check_trailers();
        }
        if !self.take_line()? {
            return Ok(());
        }
        let line = std::mem::take(&mut self.line);
        let line = line.strip_suffix(b"\r\n").ok_or(ChunkError::Incomplete)?;
        if line.is_empty() {
            return self.check_trailers();
        }
        self.trailers.add_line(line)
    }

    fn check_trailers(&mut self) -> Result<(), ChunkError> {
        self.trailers.check(self.chain.as_mut())?;
        self.finish()
    }

    fn finish(&mut self) -> Result<(), ChunkError> {
        if self.seen != self.decoded_len {
            return Err(ChunkError::Size {
                expected: self.decoded_len,
                provided: self.seen,
            });
        }
        self.state = State::Done;
        Ok(())
    }
}

impl<B> Body for AwsChunked<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = ChunkError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ChunkError>>> {
        loop {
            match self.state {
                State::Over => return Poll::Ready(None),
                State::Done => {
                    self.state = State::Over;
                    return Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))));
                }
                _ => {}
            }
            match ready!(self.step(cx)) {
                Ok(Some(piece)) => return Poll::Ready(Some(Ok(Frame::data(piece)))),
                Ok(None) => continue,
                Err(e) => {
                    self.state = State::Over;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "chunked_tests.rs"]
mod tests;
