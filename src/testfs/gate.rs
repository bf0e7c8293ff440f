//! How a request is run — at once, or under a latency or hang fault on a helper thread — plus the small helpers that turn results into fuser replies.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use fuser::{
    FileAttr, FileHandle, FopenFlags, Generation, INodeNo, ReplyAttr, ReplyCreate, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request,
};

use crate::testfs::inodes::CONTROL_INO;
use crate::testfs::state::{Caller, Core};
use crate::testfs::sys::Res;

/// Entry and attribute TTL: zero, so every mount of one backing directory sees the others' changes
/// at once.
pub(crate) const TTL: Duration = Duration::ZERO;
/// Inode numbers are never reused, so the generation can stay 0.
pub(crate) const GEN: Generation = Generation(0);
/// The control file's inode.
pub(crate) const CTL: INodeNo = INodeNo(CONTROL_INO);

/// Counts `$op`, then evaluates `$body` with `$core: &Core` — here on the session thread, or, while
/// a
/// latency or hang fault is on, on a helper thread (see [`TestFs::delay`]). The borrowed request
/// arguments listed in `[...]` are copied for the helper thread; the fast path copies nothing.
/// (The `;` keeps rustfmt from spreading each call over several lines.)
macro_rules! gated {
    ($fs:ident, $op:expr, [$($arg:ident),*]; |$core:ident| $body:expr) => {{
        $fs.core.counters.bump($op);
        if $fs.core.faults.must_delay() {
            $(let $arg = $arg.to_owned();)*
            $fs.delay(move |$core: &Core| {
                $(let $arg = &*$arg;)*
                $body
            });
        } else {
            let $core: &Core = &$fs.core;
            $body
        }
    }};
}
pub(crate) use gated;

/// The mounted filesystem as fuser sees it (its `Filesystem` impl is in `dispatch`).
pub(crate) struct TestFs {
    pub(crate) core: Arc<Core>,
}

impl TestFs {
    pub(crate) fn new(core: Arc<Core>) -> TestFs {
        TestFs { core }
    }

    /// Runs a delayed request on a thread of its own: it sleeps the latency, waits out a hang, then
    /// does the work and replies. A thread per request rather than blocking a session thread,
    /// because the session threads must stay free for the control file — writing `clear` to it is
    /// what ends a hang — and a pool of N threads would be exhausted by N hung requests. fuser's
    /// reply objects are `Send`, so answering from another thread is fine. Only delayed requests
    /// take this path; if the thread cannot be spawned the job is dropped and its reply sends EIO.
    pub(crate) fn delay(&self, job: impl FnOnce(&Core) + Send + 'static) {
        let core = Arc::clone(&self.core);
        let spawned = thread::Builder::new()
            .name("testfs-delay".into())
            .stack_size(512 * 1024)
            .spawn(move || {
                core.faults.wait();
                job(&core);
            });
        if let Err(err) = spawned {
            tracing::error!(%err, "testfs: no thread for a delayed request; it fails with EIO");
        }
    }
}

pub(crate) fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
    }
}

pub(crate) fn entry(reply: ReplyEntry, result: Res<FileAttr>) {
    match result {
        Ok(attr) => reply.entry(&TTL, &attr, GEN),
        Err(e) => reply.error(e),
    }
}

pub(crate) fn attr(reply: ReplyAttr, result: Res<FileAttr>) {
    match result {
        Ok(attr) => reply.attr(&TTL, &attr),
        Err(e) => reply.error(e),
    }
}

pub(crate) fn empty(reply: ReplyEmpty, result: Res<()>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

pub(crate) fn opened(reply: ReplyOpen, result: Res<u64>) {
    match result {
        Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
        Err(e) => reply.error(e),
    }
}

pub(crate) fn created(reply: ReplyCreate, result: Res<(FileAttr, u64)>) {
    match result {
        Ok((attr, fh)) => reply.created(&TTL, &attr, GEN, FileHandle(fh), FopenFlags::empty()),
        Err(e) => reply.error(e),
    }
}

pub(crate) fn written(reply: ReplyWrite, result: Res<u32>) {
    match result {
        Ok(n) => reply.written(n),
        Err(e) => reply.error(e),
    }
}

pub(crate) fn statfs(reply: ReplyStatfs, result: Res<libc::statvfs>) {
    match result {
        Ok(st) => reply.statfs(
            st.f_blocks,
            st.f_bfree,
            st.f_bavail,
            st.f_files,
            st.f_ffree,
            st.f_bsize as u32,
            st.f_namemax as u32,
            st.f_frsize as u32,
        ),
        Err(e) => reply.error(e),
    }
}
