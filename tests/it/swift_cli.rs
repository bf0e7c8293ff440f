//! The real `swift` command line client (python-swiftclient) against the
//! server: upload, list, stat, download, post, delete. Its path comes from
//! `SOFGATE_SWIFT_CLI`, which scripts/test.sh sets up.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn swift_cli() -> PathBuf {
    let p = std::env::var_os("SOFGATE_SWIFT_CLI").unwrap_or_else(|| {
        panic!(
            "SOFGATE_SWIFT_CLI is not set: run scripts/test.sh, which installs \
             python-swiftclient into .venv-test and points SOFGATE_SWIFT_CLI at its `swift`"
        )
    });
    let p = PathBuf::from(p);
    assert!(
        p.is_file(),
        "SOFGATE_SWIFT_CLI={} does not exist",
        p.display()
    );
    p
}

/// Runs `swift <args>` in `cwd` as test:tester; returns stdout, asserting success.
fn swift(s: &Server, cwd: &Path, args: &[&str]) -> String {
    let auth = format!("http://{}/auth/v1.0", s.addr());
    let mut child = Command::new(swift_cli())
        .args(["-A", &auth, "-U", "test:tester", "-K", "testing"])
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cwd)
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run swift");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("swift {args:?} timed out");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "swift {args:?} failed: {}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    stdout
}

/// `Key: value` lines of `swift stat`.
fn stat_field(out: &str, key: &str) -> Option<String> {
    out.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

#[test]
fn swift_cli_upload_list_stat_download_post_delete() {
    let cli = swift_cli();
    let s = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(w.join("file.bin"), &big).unwrap();
    std::fs::create_dir_all(w.join("tree/sub/deep")).unwrap();
    std::fs::write(w.join("tree/top.txt"), b"top").unwrap();
    std::fs::write(w.join("tree/sub/mid.txt"), b"middle").unwrap();
    std::fs::write(w.join("tree/sub/deep/low.txt"), b"low").unwrap();
    assert!(cli.is_file());

    swift(&s, w, &["upload", "photos", "file.bin"]);
    swift(&s, w, &["upload", "photos", "tree"]);
    let dir = s.cont_dir("photos");
    assert_eq!(std::fs::read(dir.join("file.bin")).unwrap(), big);
    assert_eq!(
        std::fs::read(dir.join("tree/sub/deep/low.txt")).unwrap(),
        b"low"
    );
    let m = swift_meta(&dir.join("file.bin")).unwrap();
    assert_eq!(meta_str(&m, "ETag").unwrap(), md5_hex(&big));

    let list = swift(&s, w, &["list", "photos"]);
    let names: Vec<&str> = list.lines().collect();
    assert_eq!(
        names,
        [
            "file.bin",
            "tree/sub/deep/low.txt",
            "tree/sub/mid.txt",
            "tree/top.txt"
        ]
    );
    assert_eq!(
        swift(&s, w, &["list"]).lines().collect::<Vec<_>>(),
        ["photos"]
    );
    let sub = swift(&s, w, &["list", "photos", "--prefix", "tree/", "-d", "/"]);
    assert_eq!(
        sub.lines().collect::<Vec<_>>(),
        ["tree/sub/", "tree/top.txt"]
    );

    let st = swift(&s, w, &["stat"]);
    assert_eq!(stat_field(&st, "Account").as_deref(), Some("AUTH_test"));
    assert_eq!(stat_field(&st, "Containers").as_deref(), Some("1"));
    assert_eq!(stat_field(&st, "Objects").as_deref(), Some("4"));
    let bytes = big.len() + 3 + 6 + 3;
    assert_eq!(
        stat_field(&st, "Bytes").as_deref(),
        Some(bytes.to_string().as_str())
    );
    let st = swift(&s, w, &["stat", "photos", "file.bin"]);
    assert_eq!(
        stat_field(&st, "Content Length").as_deref(),
        Some(big.len().to_string().as_str())
    );
    assert_eq!(
        stat_field(&st, "ETag").as_deref(),
        Some(md5_hex(&big).as_str())
    );

    let out = w.join("out");
    std::fs::create_dir(&out).unwrap();
    swift(
        &s,
        &out,
        &["download", "photos", "file.bin", "-o", "copy.bin"],
    );
    assert!(std::fs::read(out.join("copy.bin")).unwrap() == big);
    swift(&s, &out, &["download", "photos", "--prefix", "tree/"]);
    assert_eq!(std::fs::read(out.join("tree/top.txt")).unwrap(), b"top");
    assert_eq!(
        std::fs::read(out.join("tree/sub/mid.txt")).unwrap(),
        b"middle"
    );
    assert_eq!(
        std::fs::read(out.join("tree/sub/deep/low.txt")).unwrap(),
        b"low"
    );

    swift(&s, w, &["post", "-m", "project:sofgate"]);
    let st = swift(&s, w, &["stat"]);
    assert_eq!(stat_field(&st, "Meta Project").as_deref(), Some("sofgate"));
    swift(&s, w, &["post", "photos", "-m", "color:blue"]);
    let st = swift(&s, w, &["stat", "photos"]);
    assert_eq!(stat_field(&st, "Meta Color").as_deref(), Some("blue"));
    swift(&s, w, &["post", "photos", "file.bin", "-m", "kind:binary"]);
    let st = swift(&s, w, &["stat", "photos", "file.bin"]);
    assert_eq!(stat_field(&st, "Meta Kind").as_deref(), Some("binary"));

    swift(&s, w, &["delete", "photos", "file.bin"]);
    assert!(!dir.join("file.bin").exists());
    let list = swift(&s, w, &["list", "photos"]);
    assert!(!list.contains("file.bin"), "{list}");
    swift(&s, w, &["delete", "photos"]);
    assert!(!dir.exists(), "container left: {:?}", walk(&dir));
    assert_eq!(swift(&s, w, &["list"]).trim(), "");
    assert!(temp_files(s.device()).is_empty());
}

#[test]
fn swift_cli_uploads_empty_directories_as_directory_markers() {
    let s = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::create_dir_all(w.join("tree/empty")).unwrap();
    std::fs::write(w.join("tree/f.txt"), b"f").unwrap();
    swift(&s, w, &["upload", "c", "tree"]);
    let marker = s.cont_dir("c").join("tree/empty");
    assert!(marker.is_dir());
    let m = swift_meta(&marker).expect("marker metadata");
    assert_eq!(meta_str(&m, "X-Object-Type").as_deref(), Some("marker_dir"));
    let list = swift(&s, w, &["list", "c"]);
    assert_eq!(
        list.lines().collect::<Vec<_>>(),
        ["tree/empty/", "tree/f.txt"]
    );
}

#[test]
fn swift_cli_slo_upload_download_delete() {
    let s = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let big: Vec<u8> = (0..250_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(w.join("big.bin"), &big).unwrap();

    swift(
        &s,
        w,
        &["upload", "--use-slo", "-S", "100000", "vids", "big.bin"],
    );
    let segs = swift(&s, w, &["list", "vids_segments"]);
    assert_eq!(segs.lines().count(), 3, "{segs}");
    let stat = swift(&s, w, &["stat", "vids", "big.bin"]);
    assert_eq!(
        stat_field(&stat, "Content Length").as_deref(),
        Some("250000")
    );

    std::fs::create_dir(w.join("out")).unwrap();
    swift(&s, &w.join("out"), &["download", "vids", "big.bin"]);
    assert_eq!(std::fs::read(w.join("out/big.bin")).unwrap(), big);

    // The CLI deletes an SLO with its segments.
    swift(&s, w, &["delete", "vids", "big.bin"]);
    assert_eq!(swift(&s, w, &["list", "vids_segments"]).trim(), "");
}
