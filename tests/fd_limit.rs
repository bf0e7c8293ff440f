//! More connections than the open-file limit allows: the excess is answered
//! 503 at once (not left hanging, not an accept loop spinning on EMFILE), and
//! service resumes when the idle connections time out.
//!
//! A test binary of its own: it lowers this process's RLIMIT_NOFILE (which
//! the server inherits), for good.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{connect, Builder, Server};

/// Open-file limit of the test process and the server it starts: room for
/// (160 - 64) / 3 = 32 connections.
const NOFILE: u64 = 160;

fn lower_fd_limit() {
    let lim = libc::rlimit {
        rlim_cur: NOFILE,
        rlim_max: NOFILE,
    };
    // SAFETY: a plain system call on a local struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

/// CPU seconds the process has used (user + system).
fn cpu_secs(s: &Server) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", s.pid())).unwrap();
    let rest = stat.rsplit_once(") ").unwrap().1;
    let f: Vec<&str> = rest.split(' ').collect();
    // Fields 14 and 15 of stat (utime, stime), counted from the state (3).
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

#[test]
fn connections_beyond_the_fd_limit_get_503_and_service_resumes() {
    lower_fd_limit();
    let s = Builder::new()
        .toml("[server]\nheader_timeout_secs = 2")
        .start();
    assert!(s.is_alive());
    let held: Vec<TcpStream> = (0..100).map(|_| connect(s.addr())).collect();
    std::thread::sleep(Duration::from_millis(300));
    let cpu0 = cpu_secs(&s);
    let t0 = Instant::now();
    s.anon("GET", "/healthcheck").send_expect(503);
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    std::thread::sleep(Duration::from_millis(1000));
    let busy = cpu_secs(&s) - cpu0;
    assert!(busy < 0.5, "the server used {busy} s of CPU while full");
    // The held connections never send a head: closed after 2 s, and the
    // server answers again.
    assert!(common::wait_until(Duration::from_secs(6), || s
        .anon("GET", "/healthcheck")
        .send()
        .status
        == 200));
    drop(held);
}
