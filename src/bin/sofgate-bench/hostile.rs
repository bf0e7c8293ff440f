//! Hostile clients held open while a normal client measures: heads that are
//! never finished (slowloris), GETs whose response is never read, uploads
//! that stall after a few bytes. All from this one process over loopback,
//! bounded in count and time; at the end every hostile socket is closed.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::Conn;
use crate::stats::Tally;

/// What the hostile connections do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No hostile connections: the normal client alone.
    None,
    /// A request head, one more header line every second, never finished.
    Slowloris,
    /// A GET of a large public object; the response is never read.
    NoReadGet,
    /// A PUT announcing 1000 bytes that sends 3.
    StalledPut,
}

impl Kind {
    pub fn parse(s: &str) -> Result<Kind, String> {
        Ok(match s {
            "none" => Kind::None,
            "slowloris" => Kind::Slowloris,
            "noread-get" => Kind::NoReadGet,
            "stalled-put" => Kind::StalledPut,
            o => return Err(format!("unknown kind {o}")),
        })
    }
}

/// One hostile run.
pub struct Plan<'a> {
    pub addr: &'a str,
    pub token: &'a str,
    pub kind: Kind,
    pub conns: usize,
    /// The large public object the never-reading GETs ask for.
    pub target: &'a str,
    /// The normal client's container: it GETs `o00000000..` (`objects` of
    /// them), PUTs `h…`, and lists it.
    pub container: &'a str,
    pub objects: u64,
    pub secs: f64,
    pub max_ops: u64,
}

/// No normal request may wait longer than this (the run stays bounded
/// even when the server stalls).
const NORMAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Raises this process's open-file limit to its hard limit: one socket per
/// hostile connection.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The bytes a hostile connection sends first.
fn opening(p: &Plan, i: usize) -> Vec<u8> {
    let host = p.addr;
    match p.kind {
        Kind::None => Vec::new(),
        Kind::Slowloris => format!("GET /healthcheck HTTP/1.1\r\nHost: {host}\r\n").into_bytes(),
        Kind::NoReadGet => {
            format!("GET {} HTTP/1.1\r\nHost: {host}\r\n\r\n", p.target).into_bytes()
        }
        Kind::StalledPut => format!(
            "PUT {}/hostile-{i:05} HTTP/1.1\r\nHost: {host}\r\nX-Auth-Token: {}\r\n\
             Content-Length: 1000\r\n\r\nabc",
            p.container, p.token
        )
        .into_bytes(),
    }
}

/// Receive buffer of each hostile socket. A remote client's buffer is on
/// its own machine; on loopback the default (autotuned up to
/// `tcp_rmem`'s maximum, 32 MiB here) would park the whole object in this
/// kernel, 500 times over, and put all TCP sockets under memory pressure.
const HOSTILE_RCVBUF: libc::c_int = 64 * 1024;

/// Connects with a small receive buffer (set before the handshake, so the
/// window it advertises follows it).
fn connect_small(addr: SocketAddr) -> std::io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(v4) = addr else {
        return TcpStream::connect_timeout(&addr, Duration::from_secs(5));
    };
    // SAFETY: plain socket calls on a descriptor this function owns until
    // it is handed to `TcpStream`; the sockaddr is built in full.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let s = TcpStream::from_raw_fd(fd);
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&HOSTILE_RCVBUF as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        // Linux bounds connect() by the send timeout.
        let tv = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*v4.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let r = libc::connect(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(s)
    }
}

/// Opens the hostile connections; those that fail to connect are counted.
fn open_hostile(p: &Plan, addr: SocketAddr) -> (Vec<TcpStream>, u64) {
    let mut held = Vec::with_capacity(p.conns);
    let mut failed = 0;
    for i in 0..p.conns {
        let s = match connect_small(addr) {
            Ok(s) => s,
            Err(_) => {
                failed += 1;
                continue;
            }
        };
        let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
        if (&s).write_all(&opening(p, i)).is_err() {
            failed += 1;
            continue;
        }
        held.push(s);
    }
    (held, failed)
}

/// How the hostile connections stand at the end: still open, answered 503,
/// answered otherwise (408 for a stalled upload), or closed by the server.
fn census(held: &[TcpStream]) -> Value {
    let (mut open, mut refused, mut answered, mut closed) = (0, 0, 0, 0);
    let mut buf = [0u8; 16];
    for s in held {
        let _ = s.set_nonblocking(true);
        match s.peek(&mut buf) {
            Ok(0) => closed += 1,
            Ok(n) if buf[..n].starts_with(b"HTTP/1.1 503") => refused += 1,
            // A never-read GET has its 200 waiting: still open.
            Ok(n) if buf[..n].starts_with(b"HTTP/1.1 200") => open += 1,
            Ok(_) => answered += 1,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => open += 1,
            Err(_) => closed += 1,
        }
    }
    json!({"open": open, "refused_503": refused, "answered": answered, "closed": closed})
}

/// One normal request; its latency goes to `tally`.
fn normal_op(c: &mut Conn, p: &Plan, k: u64, body: &[u8], tally: &mut Tally) {
    let tok = p.token;
    let (method, url, want) = match k % 3 {
        0 => (
            "GET",
            format!("{}/o{:08}", p.container, (k / 3) % p.objects.max(1)),
            200,
        ),
        1 => ("PUT", format!("{}/h{:08}", p.container, k / 3), 201),
        _ => (
            "GET",
            format!("{}?format=json&limit=1000", p.container),
            200,
        ),
    };
    let sent = (method == "PUT").then_some(body);
    let t0 = Instant::now();
    match c.call(method, &url, &[("X-Auth-Token", tok)], sent) {
        Ok(r) if r.status == want => tally.ok(t0.elapsed(), r.body_len),
        Ok(r) => tally.err(|| format!("{method} {url}: status {}", r.status)),
        Err(e) => {
            tally.err(|| format!("{method} {url}: {e}"));
            let _ = c.reconnect();
        }
    }
}

/// Holds the hostile connections while a normal client measures GET, PUT
/// and listing latency over one keep-alive connection.
pub fn run(p: &Plan) -> Result<Value, String> {
    raise_fd_limit();
    let addr = p
        .addr
        .to_socket_addrs()
        .map_err(|e| format!("{}: {e}", p.addr))?
        .next()
        .ok_or_else(|| format!("no address for {}", p.addr))?;
    let t_open = Instant::now();
    let (held, failed) = open_hostile(p, addr);
    let opened_in = t_open.elapsed().as_secs_f64();
    // Let the server take them all in before measuring.
    std::thread::sleep(Duration::from_millis(500));
    let stop = AtomicBool::new(false);
    let body = vec![b'n'; 4096];
    let mut tallies = [Tally::default(), Tally::default(), Tally::default()];
    let start = Instant::now();
    std::thread::scope(|sc| {
        if p.kind == Kind::Slowloris {
            let (held, stop) = (&held, &stop);
            sc.spawn(move || {
                // One more header line per connection each second.
                while !stop.load(Ordering::Relaxed) {
                    for s in held {
                        let _ = s.set_nonblocking(true);
                        let _ = (&*s).write(b"X-Drip: a\r\n");
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
        }
        let mut measure = || -> Result<(), String> {
            let mut c = Conn::connect(p.addr).map_err(|e| format!("connect: {e}"))?;
            c.set_timeout(NORMAL_TIMEOUT).map_err(|e| e.to_string())?;
            let deadline = start + Duration::from_secs_f64(p.secs);
            let mut k = 0;
            while Instant::now() < deadline && k < p.max_ops {
                normal_op(&mut c, p, k, &body, &mut tallies[(k % 3) as usize]);
                k += 1;
            }
            Ok(())
        };
        let r = measure();
        stop.store(true, Ordering::Relaxed);
        r
    })?;
    let wall = start.elapsed();
    let census = census(&held);
    // Closed with their unread data: the server sees a reset at once.
    drop(held);
    let [get, put, list] = tallies;
    Ok(json!({
        "conns": p.conns,
        "connect_failed": failed,
        "opened_secs": opened_in,
        "hostile": census,
        "get": get.summary(wall),
        "put": put.summary(wall),
        "list": list.summary(wall),
    }))
}
