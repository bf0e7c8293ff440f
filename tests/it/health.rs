//! `/healthcheck`: `OK`, `DISABLED BY FILE` while the disable file exists,
//! and the deep check of every device (mounted, writable), which answers
//! 503 in time even when a mount hangs.

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn health(s: &Server, query: &str) -> Resp {
    s.anon("GET", &format!("/healthcheck{query}")).send()
}

#[test]
fn the_disable_file_flips_healthcheck_to_503_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("disabled");
    let s = Builder::new()
        .toml(&format!(
            "[health]\ndisable_path = \"{}\"\n",
            flag.display()
        ))
        .start();
    let r = health(&s, "");
    assert_eq!((r.status, r.text().as_str()), (200, "OK"));
    std::fs::write(&flag, b"").unwrap();
    for q in ["", "?deep"] {
        let r = health(&s, q);
        assert_eq!(
            (r.status, r.text().as_str()),
            (503, "DISABLED BY FILE"),
            "{q}"
        );
    }
    s.anon("HEAD", "/healthcheck").send_expect(503);
    // Only the health check: the API still answers.
    assert_eq!(s.get("").status, 204);
    std::fs::remove_file(&flag).unwrap();
    assert_eq!(health(&s, "").status, 200);
}

#[test]
fn the_deep_check_probes_every_device_and_leaves_nothing_behind() {
    // silver checks its mount, and a plain directory is none.
    let s = Builder::new()
        .policy("gold", false, true)
        .policy("silver", true, false)
        .start();
    let r = health(&s, "?deep");
    assert_eq!(r.status, 503, "{r:?}");
    let text = r.text();
    assert!(
        text.contains("policy silver: storage device silver is not mounted"),
        "{text}"
    );
    assert!(!text.contains("gold"), "{text}");
    // The shallow check says only that the process answers.
    assert_eq!(health(&s, "").status, 200);
    let probes = s.device_of("gold").join(".sofgate/health");
    assert_eq!(std::fs::read_dir(&probes).unwrap().count(), 0);
    assert!(!s.device_of("silver").join(".sofgate").exists());

    let one = Builder::new().start();
    let r = health(&one, "?deep");
    assert_eq!((r.status, r.text().as_str()), (200, "OK"));
    // A device gone from under the server fails the deep check.
    let dev = one.device().to_path_buf();
    std::fs::rename(&dev, dev.with_extension("away")).unwrap();
    let r = health(&one, "?deep");
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.text().starts_with("policy gold: "), "{r:?}");
}

/// A testfs mount of `backing` at `mountpoint`, unmounted on drop.
struct TestFs {
    child: Child,
    mountpoint: std::path::PathBuf,
}

impl TestFs {
    fn mount(backing: &Path, mountpoint: &Path) -> TestFs {
        let child = Command::new(env!("CARGO_BIN_EXE_sofgate"))
            .arg("testfs")
            .arg("--backing")
            .arg(backing)
            .arg(mountpoint)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start testfs");
        let fs = TestFs {
            child,
            mountpoint: mountpoint.to_path_buf(),
        };
        let up = wait_until(IO_TIMEOUT, || mountpoint.join(".testfs-control").exists());
        assert!(up, "testfs did not mount");
        fs
    }

    fn control(&self, command: &str) {
        std::fs::write(
            self.mountpoint.join(".testfs-control"),
            format!("{command}\n"),
        )
        .unwrap();
    }
}

impl Drop for TestFs {
    fn drop(&mut self) {
        self.control("clear");
        // Lazy: a probe the server still holds there must not keep it.
        let _ = Command::new("fusermount3")
            .arg("-uz")
            .arg(&self.mountpoint)
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_hung_mount_answers_503_in_time_and_recovers() {
    let fuse = Path::new("/dev/fuse").exists()
        && Command::new("fusermount3")
            .arg("--version")
            .output()
            .is_ok();
    // SAFETY: a plain system call.
    if unsafe { libc::geteuid() } != 0 || !fuse {
        eprintln!("SKIPPED: needs root, /dev/fuse and fusermount3");
        return;
    }
    let s = Builder::new()
        .policy("gold", true, true)
        .toml("[health]\nprobe_timeout_ms = 300\n")
        .start();
    let backing = tempfile::tempdir().unwrap();
    let fs = TestFs::mount(backing.path(), s.device());
    let r = health(&s, "?deep");
    assert_eq!((r.status, r.text().as_str()), (200, "OK"));

    fs.control("hang");
    for _ in 0..6 {
        let t0 = Instant::now();
        let r = health(&s, "?deep");
        assert_eq!(r.status, 503, "{r:?}");
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    }
    // Hung probes are bounded; the server itself answers.
    let r = health(&s, "?deep");
    assert!(
        r.text().contains("earlier probes have not returned"),
        "{r:?}"
    );
    assert_eq!(health(&s, "").status, 200);

    fs.control("clear");
    let back = wait_until(Duration::from_secs(10), || {
        health(&s, "?deep").status == 200
    });
    assert!(back, "the deep check did not recover");
}
