//! Newest write wins across nodes (issue 15 item 2): two sofgate processes
//! on one device; a slow upload that began first finishes last and is
//! dropped with a 202, as Swift's proxy answers when its object servers
//! hold a newer object. With `newest_wins = false` the last rename wins.

mod common;

use std::io::Write;
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
    let r = b.req("PUT", &v1("c/obj")).body(&new).send();
    assert_eq!(r.status, 201, "{r:?}");
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
    let r = a.req("PUT", &v1("c/obj")).body(b"later").send();
    assert_eq!(r.status, 201, "{r:?}");
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
