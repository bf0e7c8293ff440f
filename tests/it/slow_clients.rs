//! Slow and hostile clients: idle and half-sent connections are closed, a
//! stalled upload gets 408 and leaves nothing behind, a client that never
//! reads is dropped without holding up anyone else, connections past the
//! limit get 503, and SIGTERM lets uploads in flight finish within the grace.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{connect, temp_files, v1, wait_until, Builder, Server};

const MIB: usize = 1 << 20;

/// A server with short limits: heads 1 s, bodies and readers `client` s,
/// keep-alive 2 s, plus `extra` lines of `[server]`.
fn server(client: u64, extra: &str) -> Server {
    Builder::new()
        .toml(&format!(
            "[server]\nheader_timeout_secs = 1\nclient_timeout_secs = {client}\n\
             keepalive_timeout_secs = 2\n{extra}"
        ))
        .start()
}

/// Reads until the server closes the connection (EOF or reset); returns the
/// bytes read and when it closed, or None if it stays open for `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> Option<(usize, Duration)> {
    let t0 = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some((got, t0.elapsed())),
            Ok(n) => got += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some((got, t0.elapsed())),
        }
        if t0.elapsed() > within {
            return None;
        }
    }
}

/// Reads one response with a Content-Length body from a keep-alive connection.
fn read_one(s: &mut TcpStream) -> (u16, Vec<u8>) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "closed mid-head: {head:?}");
        head.push(b[0]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = text[9..12].parse().unwrap();
    let len: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (status, body)
}

/// The head of an upload of `len` bytes to `path`, as the admin.
fn put_head(s: &Server, path: &str, len: usize) -> Vec<u8> {
    format!(
        "PUT {path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {}\r\nContent-Length: {len}\r\n\r\n",
        s.admin_token()
    )
    .into_bytes()
}

fn sigterm(s: &Server) {
    // SAFETY: a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(s.pid() as i32, libc::SIGTERM) }, 0);
}

/// The server process has exited (it stays a zombie until reaped).
fn exited(s: &Server) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", s.pid())) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => true,
    }
}

#[test]
fn an_idle_keepalive_connection_is_closed_after_the_keepalive_timeout() {
    let s = server(5, "");
    let mut c = connect(s.addr());
    c.write_all(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_one(&mut c).0, 200);
    // Still open past the 1 s head limit (keep-alive is 2 s), closed after.
    let (_, took) = closed_within(&mut c, Duration::from_secs(6)).expect("closed");
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_millis(2800),
        "closed after {took:?}"
    );
    // A request in time is served on the same connection.
    let mut c = connect(s.addr());
    for _ in 0..3 {
        c.write_all(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(read_one(&mut c).0, 200);
        std::thread::sleep(Duration::from_millis(1200));
    }
}

#[test]
fn silent_and_partial_heads_are_closed_after_the_header_timeout() {
    let s = server(5, "");
    let mut silent = connect(s.addr());
    let mut partial = connect(s.addr());
    partial.write_all(b"GET /healthcheck HTTP/1.1\r\n").unwrap();
    // A slowloris that keeps sending keeps nothing open: the limit is on
    // the whole head.
    let mut drip = connect(s.addr());
    drip.write_all(b"GET /healthcheck HTTP/1.1\r\nX-A: ")
        .unwrap();
    let t0 = Instant::now();
    let dripper = std::thread::spawn(move || {
        for _ in 0..30 {
            std::thread::sleep(Duration::from_millis(100));
            if drip.write_all(b"a").is_err() {
                return Some(t0.elapsed());
            }
        }
        None
    });
    for c in [&mut silent, &mut partial] {
        let (_, took) = closed_within(c, Duration::from_secs(4)).expect("closed");
        assert!(took < Duration::from_millis(2500), "closed after {took:?}");
    }
    let cut = dripper.join().unwrap().expect("slowloris cut off");
    assert!(
        cut < Duration::from_millis(2500),
        "slowloris cut after {cut:?}"
    );
    assert!(s.is_alive());
}

#[test]
fn stalled_uploads_get_408_leave_no_temp_file_and_hold_up_no_one() {
    // Four blocking threads: a writer that waits for its client in one
    // would leave none for anyone else.
    let s = server(3, "max_blocking_threads = 4");
    s.put_container("c");
    s.put_object("c/o", b"old");
    // 3 bytes of 1000, as the attack; 1 MiB of 10 MiB over the old object.
    let mut stalled: Vec<TcpStream> = (0..8)
        .map(|i| (v1(&format!("c/s{i}")), 1000, 3))
        .chain([(v1("c/o"), 10 * MIB, MIB)])
        .map(|(path, len, sent)| {
            let mut c = connect(s.addr());
            c.write_all(&put_head(&s, &path, len)).unwrap();
            c.write_all(&vec![b'x'; sent]).unwrap();
            c
        })
        .collect();
    assert!(wait_until(Duration::from_secs(2), || temp_files(
        s.device()
    )
    .len()
        == 9));
    let t0 = Instant::now();
    s.put_object("c/n", b"new");
    assert_eq!(s.get("c/o").body, b"old");
    assert_eq!(s.get("c").lines(), ["n", "o"]);
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(1500), "others waited {took:?}");
    for c in &mut stalled {
        let r = common::read_response(c, false);
        assert_eq!(r.status, 408, "{r:?}");
    }
    assert!(t0.elapsed() < Duration::from_secs(6), "{:?}", t0.elapsed());
    assert!(
        wait_until(Duration::from_secs(5), || temp_files(s.device()).is_empty()),
        "temp files left: {:?}",
        temp_files(s.device())
    );
    assert_eq!(s.get("c/o").body, b"old");
    assert_eq!(s.get("c").lines(), ["n", "o"]);
}

#[test]
fn a_client_that_never_reads_is_dropped_and_others_are_served_meanwhile() {
    // Four blocking threads: a design that parks one per slow reader would
    // starve every request below.
    let s = server(3, "max_blocking_threads = 4");
    s.put_container("c");
    let big: Vec<u8> = (0..32 * MIB).map(|i| (i % 251) as u8).collect();
    s.put_object("c/big", &big);
    let get = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {}\r\n\r\n",
        v1("c/big"),
        s.admin_token()
    );
    let mut stalled: Vec<TcpStream> = (0..16)
        .map(|_| {
            let mut c = connect(s.addr());
            c.write_all(get.as_bytes()).unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    let r = s.get("c/big");
    assert_eq!(r.status, 200);
    assert!(r.body == big, "GET body differs");
    s.put_object("c/small", b"small");
    assert_eq!(s.get("c?format=json").status, 200);
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(2), "others waited {took:?}");
    // After 3 s without reading, each is dropped: what arrived is less
    // than the object, then the connection ends.
    std::thread::sleep(Duration::from_secs(4));
    for c in &mut stalled {
        let (got, _) = closed_within(c, Duration::from_secs(15)).expect("dropped");
        assert!(got < big.len(), "a stalled client got the whole object");
    }
    assert!(s.is_alive());
}

#[test]
fn connections_past_max_connections_get_503_until_one_closes() {
    let s = Builder::new()
        .toml("[server]\nmax_connections = 4\nheader_timeout_secs = 30")
        .start();
    let held: Vec<TcpStream> = (0..4).map(|_| connect(s.addr())).collect();
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let r = s.anon("GET", "/healthcheck").send_expect(503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(t0.elapsed() < Duration::from_secs(2));
    drop(held);
    assert!(wait_until(Duration::from_secs(5), || s
        .anon("GET", "/healthcheck")
        .send()
        .status
        == 200));
}

#[test]
fn sigterm_lets_an_upload_in_flight_finish_within_the_grace_and_exits() {
    let s = server(10, "shutdown_grace_secs = 20");
    s.put_container("c");
    let mut idle = connect(s.addr());
    idle.write_all(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_one(&mut idle).0, 200);
    let mut up = connect(s.addr());
    up.write_all(&put_head(&s, &v1("c/o"), 2 * MIB)).unwrap();
    up.write_all(&vec![b'a'; MIB]).unwrap();
    assert!(wait_until(Duration::from_secs(5), || !temp_files(
        s.device()
    )
    .is_empty()));
    sigterm(&s);
    // The idle keep-alive connection closes at once, new ones are refused.
    let (_, took) = closed_within(&mut idle, Duration::from_secs(5)).expect("idle closed");
    assert!(took < Duration::from_secs(1), "idle closed after {took:?}");
    assert!(wait_until(Duration::from_secs(2), || TcpStream::connect(
        s.addr()
    )
    .is_err()));
    std::thread::sleep(Duration::from_millis(500));
    up.write_all(&vec![b'b'; MIB]).unwrap();
    let r = common::read_response(&mut up, false);
    assert_eq!(r.status, 201, "{r:?}");
    assert!(
        wait_until(Duration::from_secs(10), || exited(&s)),
        "still running"
    );
    let data = std::fs::read(s.cont_dir("c").join("o")).unwrap();
    assert_eq!(data.len(), 2 * MIB);
    assert!(temp_files(s.device()).is_empty());
}

#[test]
fn sigterm_past_the_grace_drops_the_upload_and_its_temp_file() {
    let s = server(30, "shutdown_grace_secs = 1");
    s.put_container("c");
    s.put_object("c/o", b"old");
    let mut up = connect(s.addr());
    up.write_all(&put_head(&s, &v1("c/o"), 2 * MIB)).unwrap();
    up.write_all(&vec![b'a'; MIB]).unwrap();
    assert!(wait_until(Duration::from_secs(5), || !temp_files(
        s.device()
    )
    .is_empty()));
    let t0 = Instant::now();
    sigterm(&s);
    assert!(
        wait_until(Duration::from_secs(10), || exited(&s)),
        "still running"
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    let mut rest = Vec::new();
    let _ = up.read_to_end(&mut rest);
    assert!(
        !String::from_utf8_lossy(&rest).contains(" 201 "),
        "{rest:?}"
    );
    assert!(
        temp_files(s.device()).is_empty(),
        "temp files left: {:?}",
        temp_files(s.device())
    );
    assert_eq!(std::fs::read(s.cont_dir("c").join("o")).unwrap(), b"old");
}

/// The read buffer (`[server] read_buffer_kib`) bounds a request's head:
/// one of ~150 KiB is refused by default and served with 256 KiB.
#[test]
fn the_read_buffer_bounds_a_head_and_can_be_raised() {
    let mut head = String::from("GET /healthcheck HTTP/1.1\r\nHost: x\r\n");
    for i in 0..150 {
        head.push_str(&format!("X-Filler-{i}: {}\r\n", "f".repeat(1000)));
    }
    head.push_str("Connection: close\r\n\r\n");
    let default = Server::start();
    let r = common::raw(default.addr(), head.as_bytes(), false);
    assert_eq!(r.status, 431, "default buffer");
    let big = server(5, "read_buffer_kib = 256");
    let r = common::raw(big.addr(), head.as_bytes(), false);
    assert_eq!(r.status, 200, "256 KiB buffer");
}
