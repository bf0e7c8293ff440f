//! A request body (any `http_body::Body` of `Bytes`: Swift's as it
//! arrives, the S3 door's once decoded and checked) streamed into the write
//! path's [`Put`]: frames gather while the previous batch is written in the
//! blocking pool, under one memory budget shared by all uploads.

use bytes::Bytes;
use http_body_util::BodyExt;

use super::write::Put;
use crate::http::body::MAX_FRAME;
use crate::http::error::{ApiError, ApiResult};

/// The most request body one upload gathers while its previous write runs
/// (then the socket waits): the next write takes it all in one blocking
/// call, so a slow disk gets large writes and one upload holds little.
const WRITE_BATCH: usize = 1 << 20;
/// Bytes of request body held between the socket and the writers, all PUTs
/// together: with many fast uploads and a slower disk, this (not the count
/// of uploads) bounds the memory they take.
static PUT_BUFFERED: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(PUT_BUFFER_BYTES);
const PUT_BUFFER_BYTES: usize = 16 << 20;

/// Frames of one upload on their way to its writer, with their share of
/// [`PUT_BUFFERED`], given back once written.
#[derive(Default)]
struct Batch {
    data: Vec<Bytes>,
    len: usize,
    share: Option<tokio::sync::SemaphorePermit<'static>>,
}

impl Batch {
    fn push(&mut self, data: Bytes, share: tokio::sync::SemaphorePermit<'static>) {
        self.len += data.len();
        self.data.push(data);
        match self.share.as_mut() {
            Some(s) => s.merge(share),
            None => self.share = Some(share),
        }
    }
}

/// An upload's writer: at hand, or writing a batch in the blocking pool.
struct Disk {
    put: Option<Put>,
    busy: Option<tokio::task::JoinHandle<ApiResult<Put>>>,
}

impl Disk {
    /// Waits for the batch being written, if any. Cancel-safe: the write
    /// stays in `busy` until it is done.
    async fn settle(&mut self) -> ApiResult<()> {
        if let Some(h) = self.busy.as_mut() {
            let done = h.await;
            self.busy = None;
            self.put = Some(done.map_err(|e| ApiError::Internal(format!("writer failed: {e}")))??);
        }
        Ok(())
    }

    /// Gives the upload up: waits for the batch being written, then drops
    /// the writer (which removes the temp file) in the blocking pool.
    async fn discard(&mut self) {
        let _ = self.settle().await;
        if let Some(put) = self.put.take() {
            let _ = tokio::task::spawn_blocking(move || drop(put)).await;
        }
    }

    /// Starts writing `batch` (the disk must be free: see [`Disk::settle`]).
    fn start(&mut self, batch: Batch) -> ApiResult<()> {
        if batch.data.is_empty() {
            return Ok(());
        }
        let Some(mut put) = self.put.take() else {
            return Err(ApiError::Internal("upload writer busy or lost".into()));
        };
        self.busy = Some(tokio::task::spawn_blocking(move || {
            // A failure drops `put` here, which removes the temp file.
            put.writer().write_batch(batch.data)?;
            // The MD5 thread may still hash the last frame: one frame per
            // upload outside the budget, for a moment.
            drop(batch.share);
            Ok(put)
        }));
        Ok(())
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        // An upload given up: its writer's drop removes the temp file, a
        // filesystem call that belongs in the blocking pool.
        if let Some(put) = self.put.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(h) => drop(h.spawn_blocking(move || drop(put))),
                Err(_) => drop(put),
            }
        }
    }
}

/// Streams a request body into `put` and hands it back with everything
/// written (at most `max` bytes, else 413); a body that fails is answered
/// with `failed` (the Swift door: [`body_failed`]; the S3 door: its own
/// decoding and checksum errors). Whenever the disk is free, what has
/// arrived goes to it in one short blocking call, and frames gather
/// meanwhile (up to [`WRITE_BATCH`]): writes are as large as the disk's
/// pace allows, no thread ever waits on the client, and a stalled upload
/// holds none of the shared budget. A body that pauses for
/// `client_timeout` fails in the socket (`http::idle`).
pub async fn body<B, E>(
    body: B,
    put: Put,
    max: u64,
    failed: impl Fn(B::Error) -> E,
) -> Result<Put, E>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    E: From<ApiError>,
{
    let mut disk = Disk {
        put: Some(put),
        busy: None,
    };
    if let Err(e) = fill(&mut disk, body, max, failed).await {
        // The temp file is gone before the error is answered.
        disk.discard().await;
        return Err(e);
    }
    disk.put
        .take()
        .ok_or_else(|| ApiError::Internal("upload writer lost".into()).into())
}

/// Streams the body through `disk`, everything written when it returns
/// `Ok`.
async fn fill<B, E>(
    disk: &mut Disk,
    mut body: B,
    max: u64,
    failed: impl Fn(B::Error) -> E,
) -> Result<(), E>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    E: From<ApiError>,
{
    let mut batch = Batch::default();
    let mut received = 0u64;
    loop {
        if disk.busy.is_none() {
            disk.start(std::mem::take(&mut batch))?;
        }
        if batch.len >= WRITE_BATCH {
            // Enough gathered: the socket waits until the disk is free.
            disk.settle().await?;
            continue;
        }
        let frame = tokio::select! {
            f = body.frame() => f,
            r = disk.settle(), if disk.busy.is_some() => {
                r?;
                continue;
            }
        };
        let data = match frame {
            None => break,
            Some(Err(e)) => return Err(failed(e)),
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue, // trailers
            },
        };
        received += data.len() as u64;
        if received > max {
            return Err(ApiError::TooLarge("Your request is too large.".into()).into());
        }
        let n = data.len().clamp(1, MAX_FRAME) as u32;
        let share = match PUT_BUFFERED.try_acquire_many(n) {
            Ok(s) => s,
            Err(_) => {
                // The budget is spent: this upload's own share goes to the
                // disk (to be given back) before it waits for more.
                disk.settle().await?;
                disk.start(std::mem::take(&mut batch))?;
                PUT_BUFFERED
                    .acquire_many(n)
                    .await
                    .map_err(|_| E::from(ApiError::Internal("upload budget closed".into())))?
            }
        };
        batch.push(data, share);
    }
    disk.settle().await?;
    disk.start(batch)?;
    disk.settle().await?;
    Ok(())
}

/// The Swift answer to a request body that broke off: 408 when it stalled
/// past `client_timeout`, else 400.
pub fn body_failed(e: hyper::Error) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return ApiError::RequestTimeout;
        }
        cause = c.source();
    }
    tracing::debug!("PUT body read failed: {e}");
    ApiError::BadRequest("Request body incomplete".into())
}
