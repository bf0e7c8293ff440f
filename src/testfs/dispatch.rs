//! The `fuser::Filesystem` implementation: routes control-file requests, counts every other request, and hands it to `Core` through `gated!`.

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::time::SystemTime;

use fuser::{
    AccessFlags, BsdFileFlags, Errno, FileHandle, Filesystem, FopenFlags, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyLock, ReplyOpen, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use crate::testfs::faults::Op;
use crate::testfs::gate::{
    attr, caller, created, empty, entry, gated, opened, statfs, written, TestFs, CTL, GEN, TTL,
};
use crate::testfs::locks;
use crate::testfs::state::{Core, SetAttr};

impl Filesystem for TestFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        // Parallel lookups in one directory, O_TRUNC handled by open instead of a setattr, and
        // byte-range locks that every mount of the backing directory sees (see `locks`).
        let wanted = InitFlags::FUSE_PARALLEL_DIROPS
            | InitFlags::FUSE_ATOMIC_O_TRUNC
            | InitFlags::FUSE_POSIX_LOCKS;
        let _ = config.add_capabilities(wanted & config.capabilities());
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if self.core.control.is_entry(parent, name) {
            return reply.entry(&TTL, &self.core.control.attr(), GEN);
        }
        gated!(self, Op::Lookup, [name]; |c| entry(reply, c.lookup(parent.0, name)));
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        if ino != CTL {
            self.core.counters.bump(Op::Forget);
        }
        self.core.table.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        if ino == CTL {
            return reply.attr(&TTL, &self.core.control.attr());
        }
        let fh = fh.map(|f| f.0);
        gated!(self, Op::Getattr, []; |c| attr(reply, c.getattr(ino.0, fh)));
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        if ino == CTL {
            // `echo cmd > control` may truncate it first; there is nothing to change.
            return reply.attr(&TTL, &self.core.control.attr());
        }
        let change = SetAttr {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
            fh: fh.map(|f| f.0),
        };
        gated!(self, Op::Setattr, []; |c| attr(reply, c.setattr(ino.0, change)));
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        if ino == CTL {
            return reply.error(Errno::EINVAL);
        }
        gated!(self, Op::Readlink, []; |c| c.readlink(ino.0, reply));
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        if self.core.control.is_entry(parent, name) {
            return reply.error(Errno::EEXIST);
        }
        let who = caller(req);
        gated!(self, Op::Mkdir, [name]; |c| entry(reply, c.mkdir(parent.0, name, mode, who)));
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if self.core.control.is_entry(parent, name) {
            return reply.error(Errno::EPERM);
        }
        gated!(self, Op::Unlink, [name]; |c| empty(reply, c.unlink(parent.0, name)));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if self.core.control.is_entry(parent, name) {
            return reply.error(Errno::ENOTDIR);
        }
        gated!(self, Op::Rmdir, [name]; |c| empty(reply, c.rmdir(parent.0, name)));
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        if self.core.control.is_entry(parent, link_name) {
            return reply.error(Errno::EEXIST);
        }
        let who = caller(req);
        gated!(self, Op::Symlink, [link_name, target]; |c| {
            entry(reply, c.symlink(parent.0, link_name, target, who))
        });
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let control = &self.core.control;
        if control.is_entry(parent, name) || control.is_entry(newparent, newname) {
            return reply.error(Errno::EPERM);
        }
        let flags = flags.bits();
        gated!(self, Op::Rename, [name, newname]; |c| {
            empty(reply, c.rename(parent.0, name, newparent.0, newname, flags))
        });
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if ino == CTL {
            // Direct I/O: reads reach us although the file's size is 0, and nothing is cached.
            let fh = self.core.control.open(&self.core.counters);
            return reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO);
        }
        gated!(self, Op::Open, []; |c| opened(reply, c.open(ino.0, flags.0)));
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        if ino == CTL {
            return self.core.control.read(fh.0, offset, size, reply);
        }
        gated!(self, Op::Read, []; |c| c.read(fh.0, offset, size, reply));
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        if ino == CTL {
            let core = &self.core;
            return written(
                reply,
                core.control.write(data, &core.counters, &core.faults),
            );
        }
        gated!(self, Op::Write, [data]; |c| written(reply, c.write(fh.0, offset, data)));
    }

    fn flush(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        if ino == CTL {
            return reply.ok();
        }
        // Data goes straight to the backing file, so there is nothing to flush.
        gated!(self, Op::Flush, []; |_c| reply.ok());
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if ino == CTL {
            self.core.control.release(fh.0);
            return reply.ok();
        }
        gated!(self, Op::Release, []; |c| {
            c.release(ino.0, fh.0);
            reply.ok()
        });
    }

    fn getlk(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        start: u64,
        end: u64,
        typ: i32,
        _pid: u32,
        reply: ReplyLock,
    ) {
        if ino == CTL {
            return reply.error(Errno::EINVAL);
        }
        gated!(self, Op::Getlk, []; |_c| locks::getlk(fh.0, start, end, typ, reply));
    }

    fn setlk(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        start: u64,
        end: u64,
        typ: i32,
        _pid: u32,
        sleep: bool,
        reply: ReplyEmpty,
    ) {
        if ino == CTL {
            return reply.error(Errno::EINVAL);
        }
        gated!(self, Op::Setlk, []; |_c| locks::setlk(fh.0, start, end, typ, sleep, reply));
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        if ino == CTL {
            return reply.ok();
        }
        gated!(self, Op::Fsync, []; |c| empty(reply, c.fsync(fh.0, datasync)));
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if ino == CTL {
            return reply.error(Errno::EOPNOTSUPP);
        }
        gated!(self, Op::Fallocate, []; |c| {
            empty(reply, c.fallocate(fh.0, offset, length, mode))
        });
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if ino == CTL {
            return reply.error(Errno::ENOTDIR);
        }
        gated!(self, Op::Opendir, []; |c| opened(reply, c.opendir(ino.0)));
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        gated!(self, Op::Readdir, []; |c| {
            let mut reply = reply;
            match c.readdir(fh.0, offset, &mut reply) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        gated!(self, Op::Releasedir, []; |c| {
            c.releasedir(fh.0);
            reply.ok()
        });
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        gated!(self, Op::Fsyncdir, []; |c| empty(reply, c.fsyncdir(ino.0, datasync)));
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        gated!(self, Op::Statfs, []; |c| statfs(reply, c.statfs()));
    }

    fn access(&self, _req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        if ino == CTL {
            return reply.ok();
        }
        let mask = mask.bits();
        gated!(self, Op::Access, []; |c| empty(reply, c.access(ino.0, mask)));
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        if ino == CTL {
            return reply.error(Errno::ENODATA);
        }
        gated!(self, Op::Getxattr, [name]; |c| c.getxattr(ino.0, name, size, reply));
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        if ino == CTL {
            return reply.error(Errno::ENOTSUP);
        }
        gated!(self, Op::Setxattr, [name, value]; |c| {
            empty(reply, c.setxattr(ino.0, name, value, flags))
        });
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        if ino == CTL {
            return if size == 0 {
                reply.size(0)
            } else {
                reply.data(&[])
            };
        }
        gated!(self, Op::Listxattr, []; |c| c.listxattr(ino.0, size, reply));
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if ino == CTL {
            return reply.error(Errno::ENODATA);
        }
        gated!(self, Op::Removexattr, [name]; |c| empty(reply, c.removexattr(ino.0, name)));
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        if self.core.control.is_entry(parent, name) {
            return reply.error(Errno::EEXIST);
        }
        let who = caller(req);
        gated!(self, Op::Create, [name]; |c| {
            created(reply, c.create(parent.0, name, mode, flags, who))
        });
    }
}
