//! Background work of a running server: listings hash new files only
//! within their budget and leave the rest to the background hasher; the
//! temp sweep removes leftovers of cut uploads without a restart and never
//! an upload still being written.

use crate::common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;

/// Files made on the mount (no metadata), `n` of `size` bytes each.
fn plant(s: &Server, c: &str, n: usize, size: usize) -> Vec<(String, Vec<u8>)> {
    let dir = s.cont_dir(c).join("new");
    std::fs::create_dir_all(&dir).unwrap();
    (0..n)
        .map(|i| {
            let data: Vec<u8> = (0..size).map(|j| (i * 31 + j * 7) as u8).collect();
            std::fs::write(dir.join(format!("f{i:02}")), &data).unwrap();
            (format!("new/f{i:02}"), data)
        })
        .collect()
}

fn hashes(s: &Server) -> Vec<(String, String)> {
    let r = s.get("c?format=json");
    assert_eq!(r.status, 200, "{r:?}");
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let (n, h) = (o["name"].as_str().unwrap(), o["hash"].as_str().unwrap());
            (n.to_string(), h.to_string())
        })
        .collect()
}

#[test]
fn a_listing_hashes_new_files_within_its_budget_and_the_rest_in_the_background() {
    // 1 MiB per page: two of the eight 512 KiB files.
    let s = Builder::new()
        .storage("listing_hash_budget_bytes = 1048576\nlisting_hash_budget_ms = 60000\n")
        .start();
    s.put_container("c");
    s.put_container("x");
    let files = plant(&s, "c", 8, 512 * 1024);
    plant(&s, "x", 8, 512 * 1024);
    let first = hashes(&s);
    assert_eq!(first.len(), 8);
    let unhashed = first.iter().filter(|(_, h)| h.is_empty()).count();
    assert_eq!(unhashed, 6, "{first:?}");
    for ((name, h), (want_name, data)) in first.iter().zip(&files) {
        assert_eq!(name, want_name);
        assert!(h.is_empty() || *h == md5_hex(data), "{name}: {h}");
    }
    // XML shows the same empty hash; GET and HEAD still send the true ETag.
    let r = s.get("x?format=xml");
    assert_eq!(r.text().matches("<hash></hash>").count(), 6, "{}", r.text());
    let (name, data) = &files[7];
    let r = s.get(&format!("c/{name}"));
    assert_eq!(r.header("etag"), Some(md5_hex(data).as_str()), "{r:?}");
    assert_eq!(r.body, *data);
    let (name, data) = &files[6];
    let r = s.req("HEAD", &v1(&format!("c/{name}"))).send();
    assert_eq!(r.header("etag"), Some(md5_hex(data).as_str()), "{r:?}");
    // The background hasher gives the rest their metadata, with no request
    // asking; a later listing shows every true MD5.
    let stored = |name: &str| swift_meta(&s.cont_dir("c").join(name)).is_some();
    let all_stored = wait_until(Duration::from_secs(20), || {
        files.iter().all(|(name, _)| stored(name))
    });
    assert!(all_stored, "not all files got metadata in the background");
    for ((name, h), (_, data)) in hashes(&s).iter().zip(&files) {
        assert_eq!(*h, md5_hex(data), "{name}");
        let m = swift_meta(&s.cont_dir("c").join(name)).expect("stored metadata");
        assert_eq!(meta_str(&m, "ETag"), Some(md5_hex(data)), "{name}");
    }
}

#[test]
fn a_time_budget_of_zero_hashes_nothing_inline() {
    let s = Builder::new()
        .storage("listing_hash_budget_ms = 0\n")
        .start();
    s.put_container("c");
    s.put_object("c/known", b"stored by a PUT");
    plant(&s, "c", 3, 1000);
    std::fs::write(s.cont_dir("c").join("empty"), b"").unwrap();
    let t = Instant::now();
    let rows = hashes(&s);
    let by_name = |n: &str| rows.iter().find(|r| r.0 == n).unwrap().1.clone();
    assert_eq!(by_name("known"), md5_hex(b"stored by a PUT"));
    // An empty file costs no read: always hashed.
    assert_eq!(by_name("empty"), md5_hex(b""));
    for i in 0..3 {
        assert_eq!(by_name(&format!("new/f{i:02}")), "", "{rows:?}");
    }
    assert!(t.elapsed() < Duration::from_secs(5));
}

/// A PUT that sends its body in `chunks` pieces, one every `every`; returns
/// the status.
fn slow_put(
    addr: std::net::SocketAddr,
    token: &str,
    path: &str,
    piece: &[u8],
    chunks: usize,
    every: Duration,
) -> u16 {
    let mut c = connect(addr);
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Auth-Token: {token}\r\nTransfer-Encoding: chunked\r\n\r\n",
        v1(path),
    );
    c.write_all(head.as_bytes()).unwrap();
    for _ in 0..chunks {
        c.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
            .unwrap();
        c.write_all(piece).unwrap();
        c.write_all(b"\r\n").unwrap();
        std::thread::sleep(every);
    }
    c.write_all(b"0\r\n\r\n").unwrap();
    read_response(&mut c, false).status
}

#[test]
fn the_sweep_removes_old_temp_files_while_running_and_never_a_live_upload() {
    let s = Builder::new().storage("reap_temp_after_secs = 2\n").start();
    s.put_container("c");
    // Left by an upload cut on some node: nothing writes to it any more.
    let planted = s.cont_dir("c").join(".cut.0123456789abcdef.sgtmp");
    std::fs::write(&planted, b"half an upload").unwrap();
    // A live upload writes a piece every 0.5 s for 6 s: three sweeps pass.
    let piece = vec![b'x'; 1000];
    let uploader = {
        let (addr, token) = (s.addr(), s.admin_token().to_string());
        let piece = piece.clone();
        std::thread::spawn(move || {
            slow_put(
                addr,
                &token,
                "c/slow",
                &piece,
                12,
                Duration::from_millis(500),
            )
        })
    };
    let mut seen_live = false;
    let gone = wait_until(Duration::from_secs(15), || {
        seen_live |= !temp_files(&s.cont_dir("c")).iter().all(|p| p == &planted);
        !planted.exists()
    });
    assert!(gone, "the planted temp file is still there");
    assert!(seen_live, "the upload's temp file was never seen");
    assert_eq!(uploader.join().unwrap(), 201);
    let r = s.get("c/slow");
    assert_eq!(r.body, piece.repeat(12), "{r:?}");
    assert_eq!(
        temp_files(&s.cont_dir("c")),
        Vec::<std::path::PathBuf>::new()
    );
}
