//! The filesystem baseline: the same work as sofgate's object requests done
//! straight with system calls, with nothing else around them. A PUT is
//! create temp / write / fsetxattr / fsync / rename (/ fsync of the
//! directory); a GET is open / read; a HEAD is getxattr / stat; a DELETE is
//! unlink. Also page-cache eviction and residency, and MD5 speed.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use serde_json::{json, Value};

/// The xattr sofgate (and Swift-on-File) keeps object metadata in.
pub const META_XATTR: &str = "user.swift.metadata";

fn cstr(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Opens a directory for use with the *at calls.
pub fn open_dir(dir: &Path) -> io::Result<OwnedFd> {
    let p = cstr(dir.as_os_str().as_bytes())?;
    // SAFETY: `p` is a valid NUL-terminated path.
    let fd = check(unsafe {
        libc::open(
            p.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `open` just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Metadata much like what sofgate stores for an object of `len` bytes.
pub fn meta_json(len: u64, k: u64) -> String {
    format!(
        concat!(
            "{{\"Content-Type\":\"application/octet-stream\",",
            "\"X-Timestamp\":\"1732566000.{:05}\",\"X-Object-PUT-Mtime\":\"1732566000.{:05}\",",
            "\"ETag\":\"{:032x}\",\"Content-Length\":\"{}\",",
            "\"X-Type\":\"Object\",\"X-Object-Type\":\"file\"}}"
        ),
        k % 100_000,
        k % 100_000,
        k,
        len
    )
}

/// Writes one object atomically the way sofgate does (temp file in the
/// target directory, data, metadata xattr, fsync, rename, fsync of the
/// directory if asked); returns bytes written.
pub fn put_file(
    dir: &OwnedFd,
    name: &str,
    chunks: &mut dyn Iterator<Item = &[u8]>,
    meta: &str,
    fsync_dir: bool,
) -> io::Result<u64> {
    let tmp = cstr(format!(".{name}.{:016x}.tmp", rand::random::<u64>()).as_bytes())?;
    let dst = cstr(name.as_bytes())?;
    // SAFETY: valid dir fd and NUL-terminated name.
    let fd = check(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            tmp.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            0o644 as libc::c_uint,
        )
    })?;
    // SAFETY: `openat` just returned this fd and nothing else owns it.
    let mut f = unsafe { File::from_raw_fd(fd) };
    let result = (|| {
        let mut n = 0u64;
        for c in chunks {
            f.write_all(c)?;
            n += c.len() as u64;
        }
        let key = cstr(META_XATTR.as_bytes())?;
        // SAFETY: valid fd, name and value buffer of the given length.
        check(unsafe {
            libc::fsetxattr(
                f.as_raw_fd(),
                key.as_ptr(),
                meta.as_ptr().cast(),
                meta.len(),
                0,
            )
        })?;
        f.sync_all()?;
        // SAFETY: valid dir fds and NUL-terminated names.
        check(unsafe {
            libc::renameat(dir.as_raw_fd(), tmp.as_ptr(), dir.as_raw_fd(), dst.as_ptr())
        })?;
        if fsync_dir {
            // SAFETY: valid fd.
            check(unsafe { libc::fsync(dir.as_raw_fd()) })?;
        }
        Ok(n)
    })();
    if result.is_err() {
        // SAFETY: valid dir fd and name; failure to unlink is harmless here.
        unsafe { libc::unlinkat(dir.as_raw_fd(), tmp.as_ptr(), 0) };
    }
    result
}

/// open / read until `want` bytes (the length a server knows from the
/// metadata) or EOF, with an fgetxattr of the metadata first if `xattr`;
/// returns bytes read.
pub fn get_file(path: &Path, buf: &mut [u8], want: u64, xattr: bool) -> io::Result<u64> {
    let mut f = File::open(path)?;
    if xattr {
        let key = cstr(META_XATTR.as_bytes())?;
        // SAFETY: valid fd, name and buffer of the given length.
        check(unsafe {
            libc::fgetxattr(
                f.as_raw_fd(),
                key.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        } as libc::c_int)?;
    }
    let mut n = 0u64;
    while n < want {
        let k = f.read(buf)?;
        if k == 0 {
            break;
        }
        n += k as u64;
    }
    Ok(n)
}

/// getxattr / stat.
pub fn head_file(path: &Path, xbuf: &mut [u8]) -> io::Result<u64> {
    let p = cstr(path.as_os_str().as_bytes())?;
    let key = cstr(META_XATTR.as_bytes())?;
    // SAFETY: valid path, name and buffer of the given length.
    let r = unsafe {
        libc::getxattr(
            p.as_ptr(),
            key.as_ptr(),
            xbuf.as_mut_ptr().cast(),
            xbuf.len(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let st = std::fs::metadata(path)?;
    Ok(st.len())
}

/// Directory listing the way a server needs it for a JSON page: readdir,
/// sort, then stat and getxattr of each entry. Returns the entry count.
pub fn list_dir(dir: &Path, xbuf: &mut [u8]) -> io::Result<u64> {
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort_unstable();
    for n in &names {
        head_file(&dir.join(n), xbuf)?;
    }
    Ok(names.len() as u64)
}

/// Drops `path`'s pages from the page cache; reports the resident share
/// before and after (mincore), so a "cold" read is known to be cold.
pub fn evict(path: &Path) -> io::Result<Value> {
    let f = File::open(path)?;
    let before = resident(&f)?;
    // SAFETY: valid fd.
    check(unsafe { libc::fdatasync(f.as_raw_fd()) })?;
    // SAFETY: valid fd; offset 0 and length 0 mean the whole file.
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    let after = resident(&f)?;
    Ok(json!({"path": path, "resident_before": before, "resident_after": after}))
}

/// Share of the file's pages in the page cache (0.0–1.0).
pub fn resident(f: &File) -> io::Result<f64> {
    let len = f.metadata()?.len() as usize;
    if len == 0 {
        return Ok(1.0);
    }
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    // SAFETY: mapping a regular file read-only and shared; unmapped below.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let pages = len.div_ceil(page);
    let mut vec = vec![0u8; pages];
    // SAFETY: `addr` maps `len` bytes; `vec` has one byte per page.
    let r = unsafe { libc::mincore(addr, len, vec.as_mut_ptr()) };
    let err = io::Error::last_os_error();
    // SAFETY: unmapping exactly what was mapped above.
    unsafe { libc::munmap(addr, len) };
    if r != 0 {
        return Err(err);
    }
    let n = vec.iter().filter(|b| **b & 1 == 1).count();
    Ok(n as f64 / pages as f64)
}

/// Pseudo-random, incompressible bytes (xorshift), the same on every run.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Chunks of a `size`-byte stream made of `buf` repeated.
pub fn stream_chunks(buf: &[u8], size: u64) -> impl Iterator<Item = &[u8]> {
    let n = buf.len() as u64;
    (0..size.div_ceil(n)).map(move |i| {
        let left = size - i * n;
        &buf[..left.min(n) as usize]
    })
}

/// MD5 of a `size`-byte stream made of `buf` repeated.
pub fn stream_md5(buf: &[u8], size: u64) -> String {
    let mut h = Md5::new();
    for c in stream_chunks(buf, size) {
        h.update(c);
    }
    hex::encode(h.finalize())
}

/// One large file written the way sofgate writes an object.
pub fn big_write(path: &Path, size: u64, fsync_dir: bool) -> io::Result<Value> {
    let (dir, name) = split(path)?;
    let buf = pattern(1 << 20, 7);
    let d = open_dir(&dir)?;
    let t0 = Instant::now();
    let n = put_file(
        &d,
        &name,
        &mut stream_chunks(&buf, size),
        &meta_json(size, 1),
        fsync_dir,
    )?;
    Ok(rate(n, t0.elapsed()))
}

/// One large file read sequentially (1 MiB reads).
pub fn big_read(path: &Path) -> io::Result<Value> {
    let mut buf = vec![0u8; 1 << 20];
    let t0 = Instant::now();
    let mut f = File::open(path)?;
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += k as u64;
    }
    Ok(rate(n, t0.elapsed()))
}

pub fn rate(bytes: u64, took: Duration) -> Value {
    let s = took.as_secs_f64();
    json!({"bytes": bytes, "secs": s, "mb_per_s": if s > 0.0 { bytes as f64 / s / 1e6 } else { 0.0 }})
}

/// MD5 throughput of one core (the md-5 crate, as sofgate uses it), over a
/// 16 KiB buffer as `openssl speed -bytes 16384` measures it.
pub fn md5_speed(secs: f64) -> Value {
    let buf = pattern(16 << 10, 3);
    let mut h = Md5::new();
    let t0 = Instant::now();
    let mut n = 0u64;
    while n == 0 || t0.elapsed().as_secs_f64() < secs {
        h.update(&buf);
        n += buf.len() as u64;
    }
    let took = t0.elapsed();
    let digest = hex::encode(h.finalize());
    let mut v = rate(n, took);
    v["digest"] = json!(digest);
    v
}

fn split(path: &Path) -> io::Result<(PathBuf, String)> {
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad file name"))?
        .to_string();
    Ok((dir, name))
}
