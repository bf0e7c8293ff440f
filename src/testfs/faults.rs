//! Per-operation counters and the run-time fault switches (ENOSPC, EIO, latency, hang) shared by all request threads.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use fuser::Errno;

use crate::testfs::sys::Res;

macro_rules! ops {
    ($($variant:ident => $name:literal,)*) => {
        /// A counted operation (plus the byte totals of read and write).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Op { $($variant,)* }

        impl Op {
            /// Every counter, in the order the control file lists them.
            pub(crate) const ALL: &'static [Op] = &[$(Op::$variant,)*];

            /// The counter's name in the control file.
            pub(crate) fn name(self) -> &'static str {
                match self { $(Op::$variant => $name,)* }
            }
        }
    };
}

ops! {
    Lookup => "lookup",
    Forget => "forget",
    Getattr => "getattr",
    Setattr => "setattr",
    Readlink => "readlink",
    Symlink => "symlink",
    Mkdir => "mkdir",
    Unlink => "unlink",
    Rmdir => "rmdir",
    Rename => "rename",
    Open => "open",
    Create => "create",
    Read => "read",
    Write => "write",
    Flush => "flush",
    Release => "release",
    Fsync => "fsync",
    Fallocate => "fallocate",
    Opendir => "opendir",
    Readdir => "readdir",
    Releasedir => "releasedir",
    Fsyncdir => "fsyncdir",
    Statfs => "statfs",
    Access => "access",
    Getxattr => "getxattr",
    Setxattr => "setxattr",
    Listxattr => "listxattr",
    Removexattr => "removexattr",
    Getlk => "getlk",
    Setlk => "setlk",
    ReadBytes => "read_bytes",
    WriteBytes => "write_bytes",
}

const N_OPS: usize = Op::ALL.len();

/// Lock-free operation counters.
pub(crate) struct Counters {
    values: [AtomicU64; N_OPS],
}

impl Counters {
    pub(crate) fn new() -> Counters {
        Counters {
            values: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    #[inline]
    pub(crate) fn bump(&self, op: Op) {
        self.add(op, 1);
    }

    #[inline]
    pub(crate) fn add(&self, op: Op, n: u64) {
        self.values[op as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self, op: Op) -> u64 {
        self.values[op as usize].load(Ordering::Relaxed)
    }

    pub(crate) fn reset(&self) {
        for v in &self.values {
            v.store(0, Ordering::Relaxed);
        }
    }

    /// All counters as `name value` lines.
    pub(crate) fn render(&self) -> Vec<u8> {
        let mut out = String::with_capacity(N_OPS * 16);
        for &op in Op::ALL {
            out.push_str(op.name());
            out.push(' ');
            out.push_str(&self.get(op).to_string());
            out.push('\n');
        }
        out.into_bytes()
    }
}

/// Operations that `eio OP` can make fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EioOp {
    Read,
    Write,
    Fsync,
    Rename,
    Setxattr,
}

impl EioOp {
    pub(crate) fn parse(s: &str) -> Option<EioOp> {
        Some(match s {
            "read" => EioOp::Read,
            "write" => EioOp::Write,
            "fsync" => EioOp::Fsync,
            "rename" => EioOp::Rename,
            "setxattr" => EioOp::Setxattr,
            _ => return None,
        })
    }

    fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// Marks "no ENOSPC fault" in `Faults::space_left`.
const UNLIMITED: u64 = u64::MAX;

/// Fault switches. Reads on the hot path are single relaxed atomic loads.
pub(crate) struct Faults {
    eio: AtomicU32,
    /// getxattr calls on regular files still to fail with ESTALE.
    estale: AtomicU32,
    space_left: AtomicU64,
    latency_ms: AtomicU64,
    hang: AtomicBool,
    stopping: AtomicBool,
    gate: Mutex<()>,
    released: Condvar,
}

impl Faults {
    pub(crate) fn new() -> Faults {
        Faults {
            eio: AtomicU32::new(0),
            estale: AtomicU32::new(0),
            space_left: AtomicU64::new(UNLIMITED),
            latency_ms: AtomicU64::new(0),
            hang: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            gate: Mutex::new(()),
            released: Condvar::new(),
        }
    }

    /// True when requests must wait (latency or hang) and so are served off the session thread.
    #[inline]
    pub(crate) fn must_delay(&self) -> bool {
        self.latency_ms.load(Ordering::Relaxed) != 0 || self.hang.load(Ordering::Relaxed)
    }

    /// Sleeps the configured latency, then blocks while a hang is set.
    pub(crate) fn wait(&self) {
        let ms = self.latency_ms.load(Ordering::Relaxed);
        if ms > 0 {
            std::thread::sleep(Duration::from_millis(ms));
        }
        let mut guard = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        while self.hang.load(Ordering::Acquire) {
            guard = self
                .released
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Fails with EIO if `eio OP` is active for `op`.
    #[inline]
    pub(crate) fn check_eio(&self, op: EioOp) -> Res<()> {
        if self.eio.load(Ordering::Relaxed) & op.bit() != 0 {
            Err(Errno::EIO)
        } else {
            Ok(())
        }
    }

    /// Reserves room for a write of `want` bytes: all of it, what is left of the ENOSPC budget, or
    /// ENOSPC.
    pub(crate) fn take_space(&self, want: usize) -> Res<usize> {
        let want = want as u64;
        let mut left = self.space_left.load(Ordering::Acquire);
        loop {
            if left == UNLIMITED || want == 0 {
                return Ok(want as usize);
            }
            if left == 0 {
                return Err(Errno::ENOSPC);
            }
            let grant = left.min(want);
            match self.space_left.compare_exchange_weak(
                left,
                left - grant,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(grant as usize),
                Err(now) => left = now,
            }
        }
    }

    /// Gives back budget reserved by [`Faults::take_space`] but not written.
    pub(crate) fn refund_space(&self, n: usize) {
        if n == 0 {
            return;
        }
        let _ = self
            .space_left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                (left != UNLIMITED).then(|| left.saturating_add(n as u64).min(UNLIMITED - 1))
            });
    }

    pub(crate) fn set_enospc_after(&self, bytes: u64) {
        self.space_left
            .store(bytes.min(UNLIMITED - 1), Ordering::Release);
    }

    pub(crate) fn set_eio(&self, op: EioOp) {
        self.eio.fetch_or(op.bit(), Ordering::Relaxed);
    }

    /// The next `n` getxattr calls on regular files fail with ESTALE, as a
    /// network filesystem answers when another client replaced the file.
    pub(crate) fn set_estale(&self, n: u32) {
        self.estale.store(n, Ordering::Relaxed);
    }

    /// Takes one pending ESTALE, if any; `is_file` is asked only then.
    pub(crate) fn take_estale(&self, is_file: impl FnOnce() -> bool) -> bool {
        self.estale.load(Ordering::Relaxed) != 0
            && is_file()
            && self
                .estale
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
    }

    pub(crate) fn set_latency_ms(&self, ms: u64) {
        self.latency_ms.store(ms, Ordering::Relaxed);
    }

    pub(crate) fn set_hang(&self) {
        let _guard = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.stopping.load(Ordering::Relaxed) {
            self.hang.store(true, Ordering::Release);
        }
    }

    /// Switches every fault off and wakes all hung requests.
    pub(crate) fn clear(&self) {
        self.eio.store(0, Ordering::Relaxed);
        self.estale.store(0, Ordering::Relaxed);
        self.space_left.store(UNLIMITED, Ordering::Release);
        self.latency_ms.store(0, Ordering::Relaxed);
        let _guard = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        self.hang.store(false, Ordering::Release);
        self.released.notify_all();
    }

    /// Like [`Faults::clear`], and refuses new hangs: used while unmounting.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_every_name() {
        let c = Counters::new();
        c.bump(Op::Getxattr);
        c.add(Op::WriteBytes, 10);
        let text = String::from_utf8(c.render()).unwrap();
        assert!(text.contains("getxattr 1\n"));
        assert!(text.contains("write_bytes 10\n"));
        assert_eq!(text.lines().count(), Op::ALL.len());
        c.reset();
        assert_eq!(c.get(Op::Getxattr), 0);
    }

    #[test]
    fn enospc_budget() {
        let f = Faults::new();
        assert_eq!(f.take_space(100), Ok(100));
        f.set_enospc_after(10);
        assert_eq!(f.take_space(4), Ok(4));
        assert_eq!(f.take_space(100), Ok(6));
        assert_eq!(f.take_space(1), Err(Errno::ENOSPC));
        f.refund_space(3);
        assert_eq!(f.take_space(5), Ok(3));
        f.clear();
        assert_eq!(f.take_space(5), Ok(5));
    }

    #[test]
    fn eio_and_hang_switches() {
        let f = std::sync::Arc::new(Faults::new());
        f.set_eio(EioOp::Fsync);
        assert_eq!(f.check_eio(EioOp::Fsync), Err(Errno::EIO));
        assert_eq!(f.check_eio(EioOp::Write), Ok(()));
        f.set_hang();
        assert!(f.must_delay());
        let waiter = {
            let f = f.clone();
            std::thread::spawn(move || f.wait())
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished());
        f.clear();
        waiter.join().unwrap();
        assert!(!f.must_delay());
    }
}
