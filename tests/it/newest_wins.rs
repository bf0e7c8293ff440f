//! Newest write wins across nodes (issue 15 item 2): two sofgate processes
//! on one device; a slow upload that began first finishes last and is
//! dropped with a 202, as Swift's proxy answers when its object servers
//! hold a newer object. With `newest_wins = false` the last rename wins.
//!
//! DELETE against PUT: a PUT that began before a DELETE and finishes after
//! it is dropped (the DELETE's tombstone), and a DELETE that arrived before
//! a PUT it meets at the name leaves that newer object (409, Swift's
//! proxy's answer). With `tombstone_secs = 0` neither holds.

use crate::common;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::{connect, read_response, v1, Builder, Server};

/// Starts a PUT of `total` bytes on `server` and sends only `first` of
/// them: the request has begun, its body is not done.
fn begin_put(server: &Server, path: &str, first: &[u8], total: usize) -> std::net::TcpStream {
    let mut s = connect(server.addr());
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {}\r\nContent-Length: {total}\r\n\
         Connection: close\r\n\r\n",
        v1(path),
        server.admin_token()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(first).unwrap();
    s.flush().unwrap();
    s
}

/// The race: an old upload begins on node A, a new one begins later on
/// node B and completes, then A's completes. Returns A's status and the
/// object's bytes afterwards.
fn race(a: &Server, b: &Server) -> (u16, Vec<u8>, Vec<u8>, Vec<u8>) {
    a.put_container("c");
    let old = vec![b'o'; 200_000];
    let new = vec![b'n'; 1000];
    let mut slow = begin_put(a, "c/obj", &old[..1000], old.len());
    // A's X-Timestamp is taken when its write begins; B's must be later.
    std::thread::sleep(Duration::from_millis(50));
    b.req("PUT", &v1("c/obj")).body(&new).send_expect(201);
    slow.write_all(&old[1000..]).unwrap();
    let done = read_response(&mut slow, false);
    let got = b.get("c/obj");
    assert_eq!(got.status, 200, "{got:?}");
    (done.status, got.body, old, new)
}

fn temp_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn an_older_upload_that_finishes_last_is_dropped_with_202() {
    let a = Server::start();
    let b = Server::start_with_config_of(&a);
    let (status, body, _, new) = race(&a, &b);
    assert_eq!(status, 202, "the older PUT is accepted and dropped");
    assert!(body == new, "the newer object stays");
    assert_eq!(temp_files(&a.cont_dir("c")), Vec::<String>::new());
    // A later write still replaces it, on either node.
    a.req("PUT", &v1("c/obj")).body(b"later").send_expect(201);
    assert_eq!(b.get("c/obj").body, b"later");
}

#[test]
fn an_object_put_there_as_a_file_later_than_a_write_began_is_kept() {
    let a = Server::start();
    a.put_container("c");
    let data = vec![b'w'; 100_000];
    let mut slow = begin_put(&a, "c/f", &data[..10], data.len());
    std::thread::sleep(Duration::from_millis(50));
    // Someone copies a file onto the mount meanwhile (no metadata: its
    // mtime is its time).
    std::fs::write(a.cont_dir("c").join("f"), b"copied in").unwrap();
    slow.write_all(&data[10..]).unwrap();
    let done = read_response(&mut slow, false);
    assert_eq!(done.status, 202, "{done:?}");
    assert_eq!(a.get("c/f").body, b"copied in");
}

#[test]
fn with_newest_wins_off_the_last_rename_wins() {
    let a = Builder::new().storage("newest_wins = false").start();
    let b = Server::start_with_config_of(&a);
    let (status, body, old, _) = race(&a, &b);
    assert_eq!(status, 201);
    assert!(body == old, "the older upload replaced the newer object");
}

/// A slow PUT begins on A; B deletes the object; A's PUT completes.
/// Returns A's status and what B then serves.
fn put_delete_race(a: &Server, b: &Server) -> (u16, common::Resp) {
    a.put_container("c");
    assert_eq!(b.put_object("c/obj", b"first").status, 201);
    let data = vec![b'p'; 100_000];
    let mut slow = begin_put(a, "c/obj", &data[..1000], data.len());
    std::thread::sleep(Duration::from_millis(50));
    b.req("DELETE", &v1("c/obj")).send_expect(204);
    slow.write_all(&data[1000..]).unwrap();
    let done = read_response(&mut slow, false);
    (done.status, b.get("c/obj"))
}

#[test]
fn a_put_that_began_before_a_delete_does_not_bring_the_object_back() {
    let a = Server::start();
    let b = Server::start_with_config_of(&a);
    let (status, got) = put_delete_race(&a, &b);
    assert_eq!(status, 202, "the older PUT is accepted and dropped");
    assert_eq!(got.status, 404, "{got:?}");
    assert_eq!(a.get("c/obj").status, 404);
    assert_eq!(temp_files(&a.cont_dir("c")), Vec::<String>::new());
    // The tombstone is no object: not listed, not counted.
    let l = a.req("GET", &v1("c")).send();
    assert_eq!((l.status, l.text()), (204, String::new()), "{l:?}");
    let acct = a.req("GET", &v1("")).send();
    assert_eq!(acct.lines(), ["c"], "{acct:?}");
    let tombs = std::fs::read_dir(a.device().join(".sofgate/tombstones")).unwrap();
    assert_eq!(tombs.count(), 1);
    // A write that began after the DELETE creates it again, on either node.
    a.req("PUT", &v1("c/obj")).body(b"again").send_expect(201);
    assert_eq!(b.get("c/obj").body, b"again");
}

#[test]
fn with_tombstones_off_an_older_put_brings_the_object_back() {
    let a = Builder::new().storage("tombstone_secs = 0").start();
    let b = Server::start_with_config_of(&a);
    let (status, got) = put_delete_race(&a, &b);
    assert_eq!(status, 201);
    assert_eq!(got.status, 200, "{got:?}");
    assert!(!a.device().join(".sofgate/tombstones").exists());
}

/// Takes an open-file-description write lock on `f`, as a node replacing
/// or deleting it holds one.
fn ofd_lock(f: &std::fs::File) {
    // SAFETY: a zeroed flock is valid; fcntl on an fd `f` owns.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    let r = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
}

#[test]
fn a_delete_older_than_the_object_it_meets_leaves_it_with_409() {
    let a = Server::start();
    let b = Server::start_with_config_of(&a);
    a.put_container("c");
    assert_eq!(a.put_object("c/obj", b"first").status, 201);
    // A DELETE on B arrives and is held up at the object's lock (the test
    // holds it, as a slow node would) ...
    let path = a.cont_dir("c").join("obj");
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    ofd_lock(&held);
    let (addr, token) = (b.addr(), b.admin_token().to_string());
    let del = std::thread::spawn(move || {
        common::Req::new(addr, "DELETE", &v1("c/obj"))
            .header("X-Auth-Token", &token)
            .send()
    });
    std::thread::sleep(Duration::from_millis(100));
    // ... while the file goes (another node's doing) and a PUT that began
    // after the DELETE arrived writes the object anew on A.
    std::fs::remove_file(&path).unwrap();
    a.req("PUT", &v1("c/obj")).body(b"newer").send_expect(201);
    drop(held);
    let d = del.join().unwrap();
    assert_eq!(
        d.status, 409,
        "the older DELETE leaves the newer object: {d:?}"
    );
    assert_eq!(b.get("c/obj").body, b"newer");
    // A DELETE that arrives later removes it.
    b.req("DELETE", &v1("c/obj")).send_expect(204);
    assert_eq!(a.get("c/obj").status, 404);
}

#[test]
fn a_delete_older_than_a_file_put_on_the_mount_leaves_it() {
    let a = Server::start();
    a.put_container("c");
    // A file whose time (its mtime: it has no metadata) is after now.
    let path = a.cont_dir("c").join("f");
    std::fs::write(&path, b"made on the mount").unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(600);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    a.req("DELETE", &v1("c/f")).send_expect(409);
    assert_eq!(a.get("c/f").body, b"made on the mount");
}
