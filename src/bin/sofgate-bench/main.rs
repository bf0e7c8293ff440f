//! sofgate-bench: the load generator and filesystem baseline behind
//! `scripts/bench`.
//!
//! Every subcommand does a bounded amount of work (a count limit and a time
//! limit, or one transfer of a given size) and prints one JSON object on
//! stdout. HTTP goes over plain keep-alive `TcpStream`s, one thread per
//! connection, so the client costs little of the CPU the server needs.

mod client;
mod hostile;
mod mpu;
mod phase;
mod raw;
mod s3sign;
mod stats;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use client::{Conn, Sink};

#[derive(Parser)]
#[command(about = "Load generator and filesystem baseline for scripts/bench")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Http {
    /// Server address, host:port (loopback).
    #[arg(long)]
    addr: String,
    /// X-Auth-Token to send.
    #[arg(long, default_value = "")]
    token: String,
    /// Speak S3 instead, signing with ACCESS:SECRET (the path names the
    /// bucket); http-small only.
    #[arg(long)]
    s3: Option<String>,
}

#[derive(Args, Clone)]
struct Bounds {
    /// Time limit of each phase, in seconds.
    #[arg(long, default_value_t = 2.0)]
    secs: f64,
    /// Count limit of each phase (all connections together).
    #[arg(long, default_value_t = 100_000)]
    max_ops: u64,
}

#[derive(Args, Clone)]
struct Small {
    /// Phases to run, in order: put, get, head, delete.
    #[arg(long, default_value = "put,get,head,delete", value_delimiter = ',')]
    phases: Vec<String>,
    /// Object size in bytes.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// Object names are PREFIX + an 8-digit number.
    #[arg(long, default_value = "o")]
    prefix: String,
    /// Objects PREFIX00000000.. that exist already (for phases without put).
    #[arg(long, default_value_t = 0)]
    existing: u64,
    /// testfs control file: counters are reset before and read after each phase.
    #[arg(long)]
    control: Option<PathBuf>,
    /// NAME=PID (repeatable): CPU time of process PID per request of each
    /// phase, as `cpu_us_per_op.NAME` (this load generator's own is `load`).
    #[arg(long = "cpu")]
    cpu: Vec<String>,
    #[command(flatten)]
    bounds: Bounds,
}

#[derive(Subcommand)]
enum Cmd {
    /// Small objects over HTTP: PUT, GET, HEAD, DELETE phases over N connections.
    HttpSmall {
        #[command(flatten)]
        http: Http,
        /// Container path, e.g. /v1/AUTH_test/bench.
        #[arg(long)]
        path: String,
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = 1)]
        conns: usize,
        /// Check each PUT's ETag against the MD5 of what was sent.
        #[arg(long)]
        verify: bool,
        #[command(flatten)]
        small: Small,
    },
    /// The same small-object work straight on the filesystem.
    RawSmall {
        /// Directory to work in (it must exist).
        #[arg(long)]
        dir: PathBuf,
        /// Concurrent threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Leave out the fsync of the directory after each rename.
        #[arg(long)]
        no_fsync_dir: bool,
        /// GET reads the metadata xattr too (open / fgetxattr / read).
        #[arg(long)]
        get_xattr: bool,
        #[command(flatten)]
        small: Small,
    },
    /// Large objects over HTTP: one PUT or GET per connection, streamed.
    Big {
        #[command(flatten)]
        http: Http,
        /// Object path; with several connections, PATH.000, PATH.001, …
        #[arg(long)]
        path: String,
        /// put or get.
        #[arg(long)]
        op: String,
        /// Bytes per object.
        #[arg(long)]
        size: u64,
        #[arg(long, default_value_t = 1)]
        conns: usize,
        /// Per-connection upload rate limit in MiB/s (0: as fast as possible).
        #[arg(long, default_value_t = 0.0)]
        rate_mib_s: f64,
        /// Hash GET bodies and compare with what was PUT (costs client CPU).
        #[arg(long)]
        verify: bool,
        /// The MD5 of the body (from an earlier run), so it is not computed again.
        #[arg(long)]
        md5: Option<String>,
    },
    /// One large object through S3 multipart upload (Create, parts over a
    /// few connections, Complete), then GET and DELETE; each step timed.
    S3Mpu {
        /// Server address, host:port (loopback).
        #[arg(long)]
        addr: String,
        /// ACCESS:SECRET to sign with.
        #[arg(long)]
        s3: String,
        /// /bucket/key (the bucket must exist).
        #[arg(long)]
        path: String,
        /// Bytes of the object.
        #[arg(long)]
        size: u64,
        /// Part size in MiB (the last part takes the rest).
        #[arg(long, default_value_t = 10)]
        part_mib: u64,
        /// Parts uploaded at once.
        #[arg(long, default_value_t = 4)]
        conns: usize,
        /// Check the part ETags, the multipart ETag and the GET body's MD5.
        #[arg(long)]
        verify: bool,
    },
    /// One large file written (as sofgate writes) or read straight on the filesystem.
    RawBig {
        /// write or read.
        #[arg(long)]
        op: String,
        #[arg(long)]
        path: PathBuf,
        /// Bytes to write.
        #[arg(long, default_value_t = 0)]
        size: u64,
        #[arg(long)]
        no_fsync_dir: bool,
    },
    /// Drop a file's pages from the page cache (posix_fadvise DONTNEED).
    Evict {
        #[arg(long)]
        path: PathBuf,
    },
    /// One URL fetched again and again over one or more connections (a
    /// container listing, or /healthcheck for the floor of the HTTP stack).
    Repeat {
        #[command(flatten)]
        http: Http,
        /// Path with query, e.g. /v1/AUTH_test/c?format=json&limit=10000.
        #[arg(long)]
        path: String,
        /// The body is a JSON array: report its length (from the first response).
        #[arg(long)]
        json_count: bool,
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = 1)]
        conns: usize,
        #[command(flatten)]
        bounds: Bounds,
    },
    /// Hostile connections held open (slowloris heads, GETs never read,
    /// stalled uploads) while one normal connection measures GET, PUT and
    /// listing latency.
    Hostile {
        #[command(flatten)]
        http: Http,
        /// none, slowloris, noread-get or stalled-put.
        #[arg(long)]
        kind: String,
        /// Hostile connections.
        #[arg(long, default_value_t = 500)]
        conns: usize,
        /// Large public object the never-reading GETs ask for.
        #[arg(long)]
        target: String,
        /// Container of the normal client (and of the stalled uploads).
        #[arg(long)]
        container: String,
        /// Objects o00000000.. in the container, for the normal GETs.
        #[arg(long)]
        objects: u64,
        #[command(flatten)]
        bounds: Bounds,
    },
    /// The same listing straight on the filesystem: readdir, sort, stat and getxattr each.
    RawList {
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        bounds: Bounds,
    },
    /// MD5 throughput of one core (md-5 crate, as in sofgate).
    Md5 {
        #[arg(long, default_value_t = 1.0)]
        secs: f64,
    },
}

fn main() {
    let cli = Cli::parse();
    let out = match cli.cmd {
        Cmd::HttpSmall {
            http,
            path,
            conns,
            verify,
            small,
        } => http_small(&http, &path, conns, verify, &small),
        Cmd::RawSmall {
            dir,
            threads,
            no_fsync_dir,
            get_xattr,
            small,
        } => raw_small(&dir, threads, !no_fsync_dir, get_xattr, &small),
        Cmd::Big {
            http,
            path,
            op,
            size,
            conns,
            rate_mib_s,
            verify,
            md5,
        } => big(&http, &path, &op, size, conns, rate_mib_s, verify, md5),
        Cmd::S3Mpu {
            addr,
            s3,
            path,
            size,
            part_mib,
            conns,
            verify,
        } => s3sign::Signer::parse(&s3, &addr).and_then(|signer| {
            mpu::run(&mpu::Plan {
                addr: &addr,
                signer: &signer,
                path: &path,
                size,
                part_size: part_mib << 20,
                conns,
                verify,
            })
        }),
        Cmd::RawBig {
            op,
            path,
            size,
            no_fsync_dir,
        } => match op.as_str() {
            "write" => raw::big_write(&path, size, !no_fsync_dir).map_err(|e| e.to_string()),
            "read" => raw::big_read(&path).map_err(|e| e.to_string()),
            o => Err(format!("unknown op {o}")),
        },
        Cmd::Evict { path } => raw::evict(&path).map_err(|e| format!("{}: {e}", path.display())),
        Cmd::Repeat {
            http,
            path,
            json_count,
            conns,
            bounds,
        } => repeat(&http, &path, json_count, conns, &bounds),
        Cmd::RawList { dir, bounds } => raw_list(&dir, &bounds),
        Cmd::Hostile {
            http,
            kind,
            conns,
            target,
            container,
            objects,
            bounds,
        } => hostile::Kind::parse(&kind).and_then(|kind| {
            hostile::run(&hostile::Plan {
                addr: &http.addr,
                token: &http.token,
                kind,
                conns,
                target: &target,
                container: container.trim_end_matches('/'),
                objects,
                secs: bounds.secs,
                max_ops: bounds.max_ops,
            })
        }),
        Cmd::Md5 { secs } => Ok(raw::md5_speed(secs)),
    };
    match out {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("sofgate-bench: {e}");
            std::process::exit(1);
        }
    }
}

/// Body of small object number `k`: a fixed pattern with k stamped at the front.
fn small_body(base: &[u8], k: u64) -> Vec<u8> {
    let mut b = base.to_vec();
    let stamp = format!("{k:016}");
    let n = b.len().min(stamp.len());
    b[..n].copy_from_slice(&stamp.as_bytes()[..n]);
    b
}

fn obj_name(prefix: &str, k: u64) -> String {
    format!("{prefix}{k:08}")
}

/// testfs counters: `reset` before a phase, a snapshot after it.
struct Control<'a>(Option<&'a Path>);

impl Control<'_> {
    fn reset(&self) -> Result<(), String> {
        let Some(p) = self.0 else { return Ok(()) };
        // Let the closes of the previous phase land first.
        std::thread::sleep(Duration::from_millis(200));
        std::fs::write(p, "reset\n").map_err(|e| format!("{}: {e}", p.display()))
    }

    fn read(&self) -> Result<Option<Value>, String> {
        let Some(p) = self.0 else { return Ok(None) };
        std::thread::sleep(Duration::from_millis(300));
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let mut m = Map::new();
        for line in text.lines() {
            if let Some((k, v)) = line.split_once(' ') {
                if let Ok(n) = v.trim().parse::<u64>() {
                    m.insert(k.to_string(), json!(n));
                }
            }
        }
        Ok(Some(Value::Object(m)))
    }
}

/// CPU time (user + system) used so far by the processes named in `--cpu`,
/// and by this one, in microseconds; a process that is gone reads 0.
fn cpu_times(named: &[String]) -> Result<Vec<(String, f64)>, String> {
    let tick = 1e6 / clock_ticks_per_sec();
    let mut out = vec![("load".to_string(), proc_cpu_ticks("self") * tick)];
    for spec in named {
        let (name, pid) = spec
            .split_once('=')
            .filter(|(_, p)| p.split(',').all(|p| p.parse::<u32>().is_ok()))
            .ok_or_else(|| format!("--cpu {spec:?}: want NAME=PID[,PID...]"))?;
        let ticks: f64 = pid.split(',').map(proc_cpu_ticks).sum();
        out.push((name.to_string(), ticks * tick));
    }
    Ok(out)
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        t if t > 0 => t as f64,
        _ => 100.0,
    }
}

/// utime + stime of /proc/PID/stat, in clock ticks (every thread).
fn proc_cpu_ticks(pid: &str) -> f64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The fields after the command name (which may hold spaces) in parentheses.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    field(11) + field(12)
}

/// Runs the small-object phases with `op(state, phase, k)`; `created` tracks
/// how many objects exist (PREFIX00000000..).
fn small_phases<S: Send>(
    states: &mut [S],
    small: &Small,
    op: impl Fn(&mut S, &str, u64, u64) -> Result<u64, String> + Sync,
) -> Result<Value, String> {
    let control = Control(small.control.as_deref());
    let mut created = small.existing;
    let mut deleted = 0u64;
    let mut phases = Map::new();
    for ph in &small.phases {
        let limit = match ph.as_str() {
            "put" => small.bounds.max_ops,
            "get" | "head" => {
                if created == 0 {
                    return Err(format!("phase {ph} needs objects: put first"));
                }
                small.bounds.max_ops
            }
            "delete" => created.min(small.bounds.max_ops),
            o => return Err(format!("unknown phase {o}")),
        };
        control.reset()?;
        let n_objects = created;
        let cpu_before = cpu_times(&small.cpu)?;
        let done = phase::run(states, small.bounds.secs, limit, |s, k| {
            op(s, ph, k, n_objects)
        });
        let cpu_after = cpu_times(&small.cpu)?;
        let mut summary = done.summary;
        if let Some(c) = control.read()? {
            summary["counters"] = c;
        }
        let ops = done.attempted.max(1) as f64;
        let per_op: Map<String, Value> = cpu_before
            .iter()
            .zip(&cpu_after)
            .map(|((name, a), (_, b))| (name.clone(), json!(((b - a) / ops * 10.0).round() / 10.0)))
            .collect();
        summary["cpu_us_per_op"] = Value::Object(per_op);
        match ph.as_str() {
            "put" => created = created.max(done.attempted),
            "delete" => deleted = done.attempted,
            _ => {}
        }
        phases.insert(ph.clone(), summary);
    }
    Ok(json!({"phases": phases, "created": created, "left": created - deleted}))
}

fn http_small(
    http: &Http,
    path: &str,
    conns: usize,
    verify: bool,
    small: &Small,
) -> Result<Value, String> {
    let mut cs = (0..conns)
        .map(|_| Conn::connect(&http.addr))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("connect {}: {e}", http.addr))?;
    let base = raw::pattern(small.size, 11);
    let tok = http.token.as_str();
    let path = path.trim_end_matches('/');
    let s3 = match &http.s3 {
        Some(spec) => Some(s3sign::Signer::parse(spec, &http.addr)?),
        None => None,
    };
    let out = small_phases(&mut cs, small, |c, ph, k, n| {
        let (method, idx, want) = match ph {
            "put" if s3.is_some() => ("PUT", k, 200),
            "put" => ("PUT", k, 201),
            "get" => ("GET", k % n, 200),
            "head" => ("HEAD", k % n, 200),
            _ => ("DELETE", k, 204),
        };
        let url = format!("{path}/{}", obj_name(&small.prefix, idx));
        let body = (method == "PUT" || method == "GET").then(|| small_body(&base, idx));
        let sent = if method == "PUT" {
            body.as_deref()
        } else {
            None
        };
        let signed = s3.as_ref().map(|s| s.headers(method, &url));
        let mut headers: Vec<(&str, &str)> = match &signed {
            Some(h) => h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            None => vec![("X-Auth-Token", tok)],
        };
        if method == "PUT" {
            headers.push(("Content-Type", "application/octet-stream"));
        }
        let r = match c.call(method, &url, &headers, sent) {
            Ok(r) => r,
            Err(e) => {
                let _ = c.reconnect();
                return Err(format!("{method} {url}: {e}"));
            }
        };
        if r.status != want {
            return Err(format!("{method} {url}: status {} (want {want})", r.status));
        }
        match method {
            "GET" if Some(&r.body) != body.as_ref() => {
                Err(format!("GET {url}: body differs from what was PUT"))
            }
            "PUT" if verify => {
                let md5 = hex::encode(Md5::digest(sent.unwrap_or_default()));
                if r.etag.as_deref() == Some(md5.as_str()) {
                    Ok(small.size as u64)
                } else {
                    Err(format!("PUT {url}: ETag {:?}, MD5 {md5}", r.etag))
                }
            }
            "PUT" | "GET" => Ok(small.size as u64),
            _ => Ok(0),
        }
    })?;
    Ok(out)
}

fn raw_small(
    dir: &Path,
    threads: usize,
    fsync_dir: bool,
    get_xattr: bool,
    small: &Small,
) -> Result<Value, String> {
    struct W {
        dir: std::os::fd::OwnedFd,
        buf: Vec<u8>,
    }
    let mut ws = (0..threads)
        .map(|_| {
            raw::open_dir(dir).map(|d| W {
                dir: d,
                buf: vec![0u8; 64 * 1024],
            })
        })
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let base = raw::pattern(small.size, 11);
    let size = small.size as u64;
    small_phases(&mut ws, small, |w, ph, k, n| {
        let r = match ph {
            "put" => {
                let name = obj_name(&small.prefix, k);
                let body = small_body(&base, k);
                raw::put_file(
                    &w.dir,
                    &name,
                    &mut std::iter::once(body.as_slice()),
                    &raw::meta_json(size, k),
                    fsync_dir,
                )
            }
            "get" => raw::get_file(
                &dir.join(obj_name(&small.prefix, k % n)),
                &mut w.buf,
                size,
                get_xattr,
            )
            .and_then(|got| {
                if got == size {
                    Ok(got)
                } else {
                    Err(std::io::Error::other(format!("read {got} of {size} bytes")))
                }
            }),
            "head" => {
                raw::head_file(&dir.join(obj_name(&small.prefix, k % n)), &mut w.buf).map(|_| 0)
            }
            _ => std::fs::remove_file(dir.join(obj_name(&small.prefix, k))).map(|_| 0),
        };
        r.map_err(|e| format!("{ph} {k}: {e}"))
    })
}

#[allow(clippy::too_many_arguments)]
fn big(
    http: &Http,
    path: &str,
    op: &str,
    size: u64,
    conns: usize,
    rate_mib_s: f64,
    verify: bool,
    md5: Option<String>,
) -> Result<Value, String> {
    let buf = raw::pattern(1 << 20, 7);
    let want_md5 = match md5 {
        Some(m) => Some(m),
        None if op == "put" || verify => Some(raw::stream_md5(&buf, size)),
        None => None,
    };
    let paths: Vec<String> = if conns == 1 {
        vec![path.to_string()]
    } else {
        (0..conns).map(|i| format!("{path}.{i:03}")).collect()
    };
    let mut cs = paths
        .iter()
        .map(|p| Conn::connect(&http.addr).map(|c| (c, p.clone())))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("connect {}: {e}", http.addr))?;
    let tok = http.token.as_str();
    let want_md5 = want_md5.as_deref();
    let buf = buf.as_slice();
    // Exactly one transfer per connection, all at once.
    let done = phase::each(&mut cs, |(c, p)| {
        let mut one = || -> std::io::Result<Result<u64, String>> {
            if op == "put" {
                c.send_head(
                    "PUT",
                    p,
                    &[
                        ("X-Auth-Token", tok),
                        ("Content-Type", "application/octet-stream"),
                    ],
                    size,
                )?;
                let t0 = Instant::now();
                let mut sent = 0u64;
                for chunk in raw::stream_chunks(buf, size) {
                    c.write_body(chunk)?;
                    sent += chunk.len() as u64;
                    if rate_mib_s > 0.0 {
                        let due = Duration::from_secs_f64(sent as f64 / (rate_mib_s * 1048576.0));
                        if let Some(wait) = due.checked_sub(t0.elapsed()) {
                            std::thread::sleep(wait);
                        }
                    }
                }
                let r = c.read_response(false, Sink::Discard)?;
                if r.status != 201 {
                    return Ok(Err(format!("PUT {p}: status {}", r.status)));
                }
                if r.etag.as_deref() != want_md5 {
                    return Ok(Err(format!("PUT {p}: ETag {:?}, MD5 {want_md5:?}", r.etag)));
                }
                Ok(Ok(size))
            } else {
                c.send("GET", p, &[("X-Auth-Token", tok)], None)?;
                let mut h = Md5::new();
                let r = c.read_response(
                    false,
                    if verify {
                        Sink::Hash(&mut h)
                    } else {
                        Sink::Discard
                    },
                )?;
                if r.status != 200 || r.body_len != size {
                    return Ok(Err(format!(
                        "GET {p}: status {}, {} bytes of {size}",
                        r.status, r.body_len
                    )));
                }
                if verify && Some(hex::encode(h.finalize()).as_str()) != want_md5 {
                    return Ok(Err(format!("GET {p}: body MD5 differs from what was PUT")));
                }
                Ok(Ok(size))
            }
        };
        match one() {
            Ok(r) => r,
            Err(e) => Err(format!("{op} {p}: {e}")),
        }
    });
    let mut v = done.summary;
    v["md5"] = json!(want_md5);
    Ok(v)
}

fn repeat(
    http: &Http,
    url: &str,
    json_count: bool,
    conns: usize,
    bounds: &Bounds,
) -> Result<Value, String> {
    let mut c = (0..conns.max(1))
        .map(|_| Conn::connect(&http.addr))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("connect {}: {e}", http.addr))?;
    let tok = http.token.as_str();
    let entries = std::sync::Mutex::new(None::<u64>);
    let done = phase::run(&mut c, bounds.secs, bounds.max_ops, |c, _| {
        let r = match c.call("GET", url, &[("X-Auth-Token", tok)], None) {
            Ok(r) => r,
            Err(e) => {
                let _ = c.reconnect();
                return Err(format!("GET {url}: {e}"));
            }
        };
        if r.status != 200 {
            return Err(format!("GET {url}: status {}", r.status));
        }
        let mut seen = entries.lock().unwrap_or_else(|e| e.into_inner());
        if json_count && seen.is_none() {
            let v: Vec<Value> = serde_json::from_slice(&r.body)
                .map_err(|e| format!("GET {url}: not a JSON array: {e}"))?;
            *seen = Some(v.len() as u64);
        }
        Ok(r.body_len)
    });
    let mut v = done.summary;
    v["entries"] = json!(*entries.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(v)
}

fn raw_list(dir: &Path, bounds: &Bounds) -> Result<Value, String> {
    let mut st = [vec![0u8; 64 * 1024]];
    let entries = std::sync::atomic::AtomicU64::new(0);
    let done = phase::run(&mut st, bounds.secs, bounds.max_ops, |buf, _| {
        let n = raw::list_dir(dir, buf).map_err(|e| format!("{}: {e}", dir.display()))?;
        entries.store(n, std::sync::atomic::Ordering::Relaxed);
        Ok(0)
    });
    let mut v = done.summary;
    v["entries"] = json!(entries.load(std::sync::atomic::Ordering::Relaxed));
    Ok(v)
}
