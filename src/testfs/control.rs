//! The virtual control file at the mount root: reading it shows the counters, writing command lines to it switches faults.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use fuser::{Errno, FileAttr, FileType, INodeNo, ReplyData};

use crate::testfs::faults::{Counters, EioOp, Faults};
use crate::testfs::inodes::{CONTROL_INO, ROOT_INO};
use crate::testfs::sys::Res;

/// One line written to the control file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// `reset`: zero all counters.
    Reset,
    /// `enospc_after BYTES`: writes fail with ENOSPC once BYTES more bytes were written.
    EnospcAfter(u64),
    /// `enospc_now`: every write fails with ENOSPC.
    EnospcNow,
    /// `eio OP`: OP fails with EIO until `clear`.
    Eio(EioOp),
    /// `estale N`: the next N getxattr calls on regular files fail with ESTALE.
    Estale(u32),
    /// `latency_ms N`: every request waits N ms first (0 turns it off).
    LatencyMs(u64),
    /// `hang`: every request except those on the control file blocks until `clear`.
    Hang,
    /// `clear`: all faults off (counters are kept).
    Clear,
}

/// Why a control command was refused (the write then fails with EINVAL).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CommandError {
    #[error("control commands must be UTF-8 text")]
    NotText,
    #[error("unknown control command `{0}`")]
    Unknown(String),
    #[error("`{command}` expects {expected}")]
    BadArgument {
        command: &'static str,
        expected: &'static str,
    },
}

fn number(command: &'static str, arg: Option<&str>) -> Result<u64, CommandError> {
    arg.and_then(|a| a.parse().ok())
        .ok_or(CommandError::BadArgument {
            command,
            expected: "a non-negative integer",
        })
}

impl Command {
    /// Parses one command line; surrounding whitespace is ignored.
    pub(crate) fn parse(line: &str) -> Result<Command, CommandError> {
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or("");
        let arg = words.next();
        let takes_arg = matches!(command, "enospc_after" | "latency_ms" | "eio" | "estale");
        if words.next().is_some() || (!takes_arg && arg.is_some()) {
            return Err(CommandError::Unknown(line.trim().to_owned()));
        }
        let cmd = match command {
            "reset" => Command::Reset,
            "enospc_after" => Command::EnospcAfter(number("enospc_after", arg)?),
            "enospc_now" => Command::EnospcNow,
            "latency_ms" => Command::LatencyMs(number("latency_ms", arg)?),
            "estale" => Command::Estale(u32::try_from(number("estale", arg)?).map_err(|_| {
                CommandError::BadArgument {
                    command: "estale",
                    expected: "a count below 2^32",
                }
            })?),
            "hang" => Command::Hang,
            "clear" => Command::Clear,
            "eio" => Command::Eio(
                arg.and_then(EioOp::parse)
                    .ok_or(CommandError::BadArgument {
                        command: "eio",
                        expected: "one of read, write, fsync, rename, setxattr",
                    })?,
            ),
            other => return Err(CommandError::Unknown(other.to_owned())),
        };
        Ok(cmd)
    }

    /// Parses every non-blank line of `data`; all or nothing.
    pub(crate) fn parse_all(data: &[u8]) -> Result<Vec<Command>, CommandError> {
        let text = std::str::from_utf8(data).map_err(|_| CommandError::NotText)?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(Command::parse)
            .collect()
    }

    pub(crate) fn apply(self, counters: &Counters, faults: &Faults) {
        match self {
            Command::Reset => counters.reset(),
            Command::EnospcAfter(n) => faults.set_enospc_after(n),
            Command::EnospcNow => faults.set_enospc_after(0),
            Command::Eio(op) => faults.set_eio(op),
            Command::Estale(n) => faults.set_estale(n),
            Command::LatencyMs(ms) => faults.set_latency_ms(ms),
            Command::Hang => faults.set_hang(),
            Command::Clear => faults.clear(),
        }
    }
}

/// State of the control file: its name and the counter snapshots of open handles.
pub(crate) struct ControlFile {
    name: OsString,
    snapshots: Mutex<HashMap<u64, Vec<u8>>>,
    next_fh: AtomicU64,
    created: SystemTime,
    uid: u32,
    gid: u32,
}

impl ControlFile {
    pub(crate) fn new(name: OsString) -> ControlFile {
        // SAFETY: geteuid/getegid cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        ControlFile {
            name,
            snapshots: Mutex::new(HashMap::new()),
            // High bit set: never confused with a backing fd or a directory handle.
            next_fh: AtomicU64::new(1 << 61),
            created: SystemTime::now(),
            uid,
            gid,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Vec<u8>>> {
        self.snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Is `parent/name` the control file?
    #[inline]
    pub(crate) fn is_entry(&self, parent: INodeNo, name: &OsStr) -> bool {
        parent.0 == ROOT_INO && name == self.name.as_os_str()
    }

    pub(crate) fn name(&self) -> &OsStr {
        &self.name
    }

    /// Attributes of the control file. Its size is 0: it is opened with direct I/O, so reads are
    /// not cut at the size.
    pub(crate) fn attr(&self) -> FileAttr {
        FileAttr {
            ino: INodeNo(CONTROL_INO),
            size: 0,
            blocks: 0,
            atime: self.created,
            mtime: self.created,
            ctime: self.created,
            crtime: self.created,
            kind: FileType::RegularFile,
            perm: 0o666,
            nlink: 1,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    /// Opens a handle holding a snapshot of the counters, so one `cat` sees one consistent text.
    pub(crate) fn open(&self, counters: &Counters) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(fh, counters.render());
        fh
    }

    pub(crate) fn read(&self, fh: u64, offset: u64, size: u32, reply: ReplyData) {
        let snapshots = self.lock();
        let Some(text) = snapshots.get(&fh) else {
            return reply.error(Errno::EBADF);
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(text.len());
        let end = start.saturating_add(size as usize).min(text.len());
        reply.data(&text[start..end]);
    }

    /// Applies the commands in `data`; returns the byte count to acknowledge.
    pub(crate) fn write(&self, data: &[u8], counters: &Counters, faults: &Faults) -> Res<u32> {
        match Command::parse_all(data) {
            Ok(commands) => {
                for cmd in commands {
                    tracing::info!(?cmd, "testfs control command");
                    cmd.apply(counters, faults);
                }
                Ok(data.len() as u32)
            }
            Err(err) => {
                tracing::warn!(%err, "testfs control command refused");
                Err(Errno::EINVAL)
            }
        }
    }

    pub(crate) fn release(&self, fh: u64) {
        self.lock().remove(&fh);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command() {
        let all = Command::parse_all(
            b"reset\nenospc_after 4096\nenospc_now\neio fsync\n\n latency_ms 2 \nhang\nclear\n",
        )
        .unwrap();
        assert_eq!(
            all,
            vec![
                Command::Reset,
                Command::EnospcAfter(4096),
                Command::EnospcNow,
                Command::Eio(EioOp::Fsync),
                Command::LatencyMs(2),
                Command::Hang,
                Command::Clear,
            ]
        );
    }

    #[test]
    fn refuses_bad_commands() {
        assert!(matches!(
            Command::parse("bogus"),
            Err(CommandError::Unknown(_))
        ));
        assert!(Command::parse("eio unlink").is_err());
        assert!(Command::parse("latency_ms").is_err());
        assert!(Command::parse("latency_ms -1").is_err());
        assert!(Command::parse("hang now").is_err());
        assert!(Command::parse_all(b"reset\nbogus\n").is_err());
        assert_eq!(Command::parse_all(&[0xff]), Err(CommandError::NotText));
    }

    #[test]
    fn write_applies_and_read_slices_snapshot() {
        let (counters, faults) = (Counters::new(), Faults::new());
        let ctl = ControlFile::new(".testfs-control".into());
        assert_eq!(ctl.write(b"eio write\n", &counters, &faults), Ok(10));
        assert_eq!(faults.check_eio(EioOp::Write), Err(Errno::EIO));
        assert_eq!(ctl.write(b"nope", &counters, &faults), Err(Errno::EINVAL));
        assert!(ctl.is_entry(INodeNo(ROOT_INO), OsStr::new(".testfs-control")));
        assert!(!ctl.is_entry(INodeNo(5), OsStr::new(".testfs-control")));
    }
}
