//! The token secret is never a published constant: with no config the
//! server generates one on its device at first start (kept, mode 0600);
//! with a config file it refuses to start without a secret of 32 bytes.

use crate::common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use common::*;

/// `sofgate serve` on the embedded default (no config) with `--device`.
struct Embedded {
    child: Child,
    addr: std::net::SocketAddr,
}

impl Drop for Embedded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Embedded {
    fn start(device: &Path) -> Embedded {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sofgate"))
            .args(["serve", "--listen", "127.0.0.1:0", "--device"])
            .arg(device)
            .current_dir(device)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sofgate");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("sofgate listening on http://") {
                    let _ = tx.send(a.trim().to_string());
                }
            }
        });
        let addr = rx.recv_timeout(IO_TIMEOUT).expect("server started");
        Embedded {
            child,
            addr: addr.parse().unwrap(),
        }
    }

    fn token(&self) -> String {
        let r = Req::new(self.addr, "GET", "/auth/v1.0")
            .header("X-Auth-User", "test:tester")
            .header("X-Auth-Key", "testing")
            .send_expect(200);
        r.header("x-auth-token").unwrap().to_string()
    }

    fn head_account(&self, token: &str) -> u16 {
        Req::new(self.addr, "HEAD", "/v1/AUTH_test")
            .header("X-Auth-Token", token)
            .send()
            .status
    }
}

#[test]
fn the_embedded_default_generates_a_private_secret_per_device_and_keeps_it() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Embedded::start(d1.path());
    let token = a.token();
    assert_eq!(a.head_account(&token), 204);
    let secret = d1.path().join(".sofgate/secret");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let stored = std::fs::read_to_string(&secret).unwrap();
    assert!(stored.trim().len() >= 32);
    assert!(!stored.contains("sofgate-dev-secret"));
    // Another device, another secret: the token is worth nothing there
    // (with a shared constant it was accepted everywhere).
    let b = Embedded::start(d2.path());
    assert_eq!(b.head_account(&token), 401);
    drop(b);
    // A restart on the same device keeps the secret, and so the token.
    drop(a);
    let again = Embedded::start(d1.path());
    assert_eq!(again.head_account(&token), 204);
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), stored);
}

/// Runs `sofgate serve --config` with `auth` as the `[auth]` table; returns
/// the exit status and stderr (the server must not start).
fn refused(auth: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sofgate.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n[[policy]]\nname = \"gold\"\ndevice = \"{}\"\n{auth}",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sofgate"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .expect("run sofgate");
    assert!(!out.status.success(), "started with {auth:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_config_without_a_long_secret_does_not_start() {
    for auth in [
        "",
        "[auth]\ntoken_life = 60\n",
        "[auth]\nsecret = \"\"\n",
        "[auth]\nsecret = \"only-31-bytes-long-0123456789ab\"\n",
    ] {
        let err = refused(auth);
        assert!(
            err.contains("[auth] secret must be at least 32 bytes"),
            "{auth:?}: {err}"
        );
    }
    let err = refused("[auth]\nsecret = \"change-me-to-a-long-random-string\"\n");
    assert!(
        err.contains("[auth] secret is the example's placeholder"),
        "{err}"
    );
}
