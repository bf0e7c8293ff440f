//! Shared by the integration tests: starts the real `sofgate` binary on a
//! temporary device, a raw HTTP/1.1 client that sends exactly the bytes it is
//! given, and helpers that look at the device (files, xattrs, temp files).

#![allow(dead_code)]

pub mod s3;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Bound on every socket read and write, and on server start.
pub const IO_TIMEOUT: Duration = Duration::from_secs(15);

pub const SECRET: &str = "integration-test-secret-0123456789";

/// `/v1/AUTH_test/<rest>`.
pub fn v1(rest: &str) -> String {
    if rest.is_empty() {
        "/v1/AUTH_test".to_string()
    } else {
        format!("/v1/AUTH_test/{rest}")
    }
}

/// One `[[policy]]` of a test config.
#[derive(Clone)]
pub struct PolicySpec {
    pub name: String,
    pub mount_check: bool,
    pub default: bool,
}

/// Builds a config in a fresh tempdir and starts a server on it.
pub struct Builder {
    secret: String,
    max_file_size: Option<u64>,
    policies: Vec<PolicySpec>,
    storage: String,
    extra: String,
    /// Run the server as this (uid, gid) instead of the test's user.
    user: Option<(u32, u32)>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    pub fn new() -> Self {
        Builder {
            secret: SECRET.to_string(),
            max_file_size: None,
            policies: Vec::new(),
            storage: String::new(),
            extra: String::new(),
            user: None,
        }
    }

    /// Runs the server as `uid`/`gid` (the test must be root): its devices
    /// are given to that user.
    pub fn run_as(mut self, uid: u32, gid: u32) -> Self {
        self.user = Some((uid, gid));
        self
    }

    pub fn secret(mut self, s: &str) -> Self {
        self.secret = s.to_string();
        self
    }

    /// Adds a `key = value` line to the `[storage]` table.
    pub fn storage(mut self, line: &str) -> Self {
        self.storage.push_str(line);
        self.storage.push('\n');
        self
    }

    /// Appends TOML text (whole tables, e.g. `[cors]` with its keys).
    pub fn toml(mut self, text: &str) -> Self {
        self.extra.push_str(text);
        self.extra.push('\n');
        self
    }

    pub fn max_file_size(mut self, n: u64) -> Self {
        self.max_file_size = Some(n);
        self
    }

    /// Adds a policy whose device is `<tempdir>/<name>` (created).
    pub fn policy(mut self, name: &str, mount_check: bool, default: bool) -> Self {
        self.policies.push(PolicySpec {
            name: name.to_string(),
            mount_check,
            default,
        });
        self
    }

    pub fn start(mut self) -> Server {
        if self.policies.is_empty() {
            self = self.policy("gold", false, true);
        }
        let root = tempfile::tempdir().expect("tempdir");
        let mut toml = String::from("listen = \"127.0.0.1:0\"\n");
        let mut devices = Vec::new();
        for p in &self.policies {
            let dev = root.path().join(&p.name);
            std::fs::create_dir_all(&dev).unwrap();
            toml.push_str(&format!(
                "[[policy]]\nname = \"{}\"\ndevice = \"{}\"\nmount_check = {}\ndefault = {}\n",
                p.name,
                dev.display(),
                p.mount_check,
                p.default
            ));
            devices.push((p.name.clone(), dev));
        }
        toml.push_str(&format!(
            "[auth]\nsecret = \"{}\"\n\
             [[auth.user]]\naccount = \"test\"\nuser = \"tester\"\nkey = \"testing\"\nadmin = true\n\
             [[auth.user]]\naccount = \"test2\"\nuser = \"tester2\"\nkey = \"testing2\"\nadmin = true\n\
             [[auth.user]]\naccount = \"test\"\nuser = \"tester3\"\nkey = \"testing3\"\n\
             [[auth.user]]\naccount = \"admin\"\nuser = \"admin\"\nkey = \"admin\"\nreseller_admin = true\n",
            self.secret
        ));
        if !self.storage.is_empty() {
            toml.push_str(&format!("[storage]\n{}", self.storage));
        }
        if let Some(m) = self.max_file_size {
            toml.push_str(&format!("[limits]\nmax_file_size = {m}\n"));
        }
        toml.push_str(&self.extra);
        let config = root.path().join("sofgate.toml");
        std::fs::write(&config, toml).unwrap();
        if let Some((uid, gid)) = self.user {
            use std::os::unix::fs::PermissionsExt;
            let open = std::fs::Permissions::from_mode(0o755);
            std::fs::set_permissions(root.path(), open).unwrap();
            for (_, dev) in &devices {
                std::os::unix::fs::chown(dev, Some(uid), Some(gid)).unwrap();
            }
        }
        let mut s = Server::spawn_as(&config, devices, self.user);
        s.root = Some(root);
        s
    }
}

/// A running `sofgate serve`; killed on drop.
pub struct Server {
    child: Child,
    addr: SocketAddr,
    config: PathBuf,
    devices: Vec<(String, PathBuf)>,
    log: PathBuf,
    root: Option<tempfile::TempDir>,
    admin: OnceLock<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            if let Ok(log) = std::fs::read_to_string(&self.log) {
                eprintln!("--- sofgate log ---\n{log}");
            }
        }
    }
}

impl Server {
    /// A server with one policy `gold` on a fresh tempdir.
    pub fn start() -> Server {
        Builder::new().start()
    }

    /// Another server on an existing config file (same devices, same secret).
    pub fn start_with_config_of(other: &Server) -> Server {
        Server::spawn(&other.config, other.devices.clone())
    }

    fn spawn(config: &Path, devices: Vec<(String, PathBuf)>) -> Server {
        Server::spawn_as(config, devices, None)
    }

    fn spawn_as(
        config: &Path,
        devices: Vec<(String, PathBuf)>,
        user: Option<(u32, u32)>,
    ) -> Server {
        let log = config.with_file_name(format!(
            "sofgate-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sofgate"));
        cmd.arg("serve")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some((uid, gid)) = user {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        let mut child = cmd.spawn().expect("start sofgate");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Keeps draining stdout so that later prints never hit a closed pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(a) = line.strip_prefix("sofgate listening on http://") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(a.trim().to_string());
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(IO_TIMEOUT) {
            Ok(a) => a.parse().expect("listen address"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "sofgate did not start: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Server {
            child,
            addr,
            config: config.to_path_buf(),
            devices,
            log,
            root: None,
            admin: OnceLock::new(),
        }
    }

    /// Process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Device of the first policy.
    pub fn device(&self) -> &Path {
        &self.devices[0].1
    }

    /// Device of the policy `name`.
    pub fn device_of(&self, name: &str) -> &Path {
        &self
            .devices
            .iter()
            .find(|(n, _)| n == name)
            .expect("policy")
            .1
    }

    /// `<device>/AUTH_test/<container>`.
    pub fn cont_dir(&self, container: &str) -> PathBuf {
        self.device().join("AUTH_test").join(container)
    }

    /// Logs in and returns the token.
    pub fn token(&self, user: &str, key: &str) -> String {
        let r = self
            .anon("GET", "/auth/v1.0")
            .header("X-Auth-User", user)
            .header("X-Auth-Key", key)
            .send();
        assert_eq!(r.status, 200, "login {user}: {r:?}");
        r.header("x-auth-token").expect("token").to_string()
    }

    /// Token of `test:tester` (.admin of AUTH_test).
    pub fn admin_token(&self) -> &str {
        self.admin
            .get_or_init(|| self.token("test:tester", "testing"))
    }

    /// A request as `test:tester`.
    pub fn req(&self, method: &str, path: &str) -> Req {
        let t = self.admin_token().to_string();
        self.anon(method, path).header("X-Auth-Token", &t)
    }

    /// A request with no token.
    pub fn anon(&self, method: &str, path: &str) -> Req {
        Req::new(self.addr, method, path)
    }

    /// PUTs a container of AUTH_test; asserts 201.
    pub fn put_container(&self, c: &str) {
        let r = self.req("PUT", &v1(c)).send();
        assert_eq!(r.status, 201, "PUT container {c}: {r:?}");
    }

    /// PUTs an object (`container/name`) of AUTH_test; asserts 201.
    pub fn put_object(&self, path: &str, data: &[u8]) -> Resp {
        let r = self.req("PUT", &v1(path)).body(data).send();
        assert_eq!(r.status, 201, "PUT {path}: {r:?}");
        r
    }

    /// GET of an AUTH_test path as the admin.
    pub fn get(&self, path: &str) -> Resp {
        self.req("GET", &v1(path)).send()
    }

    pub fn is_alive(&self) -> bool {
        self.anon("GET", "/healthcheck").send().status == 200
    }
}

/// How a request body is framed.
enum Framing {
    /// Content-Length of the data (0 for PUT/POST/COPY with no data).
    Length(Vec<u8>),
    /// Transfer-Encoding: chunked, one chunk per element.
    Chunked(Vec<Vec<u8>>),
    /// Neither header: the data is sent as is.
    Bare(Vec<u8>),
}

/// One HTTP/1.1 request with `Connection: close`.
pub struct Req {
    addr: SocketAddr,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Framing,
}

impl Req {
    pub fn new(addr: SocketAddr, method: &str, path: &str) -> Req {
        Req {
            addr,
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            body: Framing::Length(Vec::new()),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, data: &[u8]) -> Req {
        self.body = Framing::Length(data.to_vec());
        self
    }

    pub fn chunked(mut self, chunks: &[&[u8]]) -> Req {
        self.body = Framing::Chunked(chunks.iter().map(|c| c.to_vec()).collect());
        self
    }

    /// No Content-Length and no Transfer-Encoding.
    pub fn no_length(mut self) -> Req {
        self.body = Framing::Bare(Vec::new());
        self
    }

    /// The request's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("host"))
        {
            head.push_str(&format!("Host: {}\r\n", self.addr));
        }
        head.push_str("Connection: close\r\n");
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let mut out = Vec::new();
        match &self.body {
            Framing::Length(d) => {
                let has_body_method = matches!(self.method.as_str(), "PUT" | "POST" | "COPY");
                if !d.is_empty() || has_body_method {
                    head.push_str(&format!("Content-Length: {}\r\n", d.len()));
                }
                head.push_str("\r\n");
                out.extend_from_slice(head.as_bytes());
                out.extend_from_slice(d);
            }
            Framing::Chunked(chunks) => {
                head.push_str("Transfer-Encoding: chunked\r\n\r\n");
                out.extend_from_slice(head.as_bytes());
                for c in chunks.iter().filter(|c| !c.is_empty()) {
                    out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                    out.extend_from_slice(c);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            Framing::Bare(d) => {
                head.push_str("\r\n");
                out.extend_from_slice(head.as_bytes());
                out.extend_from_slice(d);
            }
        }
        out
    }

    pub fn send(self) -> Resp {
        let head = self.method == "HEAD";
        raw(self.addr, &self.to_bytes(), head)
    }

    /// Sends and asserts the response's status; on a mismatch the message
    /// names the request and shows the response (headers, start of the
    /// body), and the panic points at the caller's line.
    #[track_caller]
    pub fn send_expect(self, status: u16) -> Resp {
        let what = format!("{} {}", self.method, self.path);
        let r = self.send();
        assert_eq!(r.status, status, "{what}: {r:?}");
        r
    }
}

/// Connects with every read and write bounded by [`IO_TIMEOUT`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// Sends exactly `bytes` and reads the response until the server closes.
pub fn raw(addr: SocketAddr, bytes: &[u8], head: bool) -> Resp {
    let mut s = connect(addr);
    // The server may answer (and close) before reading everything: the
    // response is what counts, so a failed write is not fatal here.
    let _ = s.write_all(bytes);
    read_response(&mut s, head)
}

/// Reads one response from a `Connection: close` stream.
pub fn read_response(s: &mut TcpStream, head: bool) -> Resp {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A reset after the response arrived (early answer to a body the
            // server did not read) still leaves a complete response.
            Err(e) if !buf.is_empty() && e.kind() != std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("reading response: {e}"),
        }
    }
    parse_response(&buf, head)
}

/// A parsed response.
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?} ", self.status, self.headers)?;
        let b = String::from_utf8_lossy(&self.body);
        let b: String = b.chars().take(500).collect();
        write!(f, "{b:?}")
    }
}

impl Resp {
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// Lines of a plain listing.
    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_string).collect()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn parse_response(buf: &[u8], head: bool) -> Resp {
    let end = find(buf, b"\r\n\r\n").unwrap_or_else(|| {
        panic!(
            "no complete response head in {:?}",
            String::from_utf8_lossy(buf)
        )
    });
    let text = std::str::from_utf8(&buf[..end]).expect("ASCII head");
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').expect("header line");
            (k.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    let rest = &buf[end + 4..];
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let body = if head || status == 204 || status == 304 || status < 200 {
        Vec::new()
    } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)
    } else if let Some(n) = get("content-length") {
        let n: usize = n.parse().expect("Content-Length");
        assert!(
            rest.len() >= n,
            "body shorter ({}) than Content-Length {n}",
            rest.len()
        );
        rest[..n].to_vec()
    } else {
        rest.to_vec()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let i = find(b, b"\r\n").expect("chunk size line");
        let size_str = std::str::from_utf8(&b[..i]).unwrap();
        let size = usize::from_str_radix(size_str.split(';').next().unwrap().trim(), 16).unwrap();
        b = &b[i + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// Polls `f` until it is true or `within` passes; returns its last answer.
pub fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() > within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One xattr of a path (symlinks not followed), read with libc.
pub fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    // SAFETY: NUL-terminated strings; a null buffer with size 0 asks the size.
    let size = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) };
    if size < 0 {
        return None;
    }
    let mut buf = vec![0u8; size as usize];
    // SAFETY: `buf` is writable for `buf.len()` bytes.
    let got =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    assert!(got >= 0, "getxattr {}", path.display());
    buf.truncate(got as usize);
    Some(buf)
}

/// The Swift-on-File metadata JSON of a path (chunks joined).
pub fn swift_meta(path: &Path) -> Option<serde_json::Map<String, Value>> {
    let mut buf = xattr(path, "user.swift.metadata")?;
    let mut i = 1;
    while let Some(more) = xattr(path, &format!("user.swift.metadata{i}")) {
        buf.extend_from_slice(&more);
        i += 1;
    }
    Some(serde_json::from_slice(&buf).expect("metadata is JSON"))
}

/// A metadata value as a string (containers store `[value, ts]` pairs).
pub fn meta_str(m: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match m.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => a.first().and_then(|v| v.as_str()).map(str::to_string),
        v => Some(v.to_string()),
    }
}

/// Every path under `root` (relative, sorted).
pub fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.path().strip_prefix(root).unwrap().to_path_buf())
        .collect();
    out.sort();
    out
}

/// Temp files (`.*.sgtmp`) anywhere under `root`.
pub fn temp_files(root: &Path) -> Vec<PathBuf> {
    walk(root)
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with('.') && n.ends_with(".sgtmp")
        })
        .collect()
}

/// Everything observable about a tree: names, kinds, sizes, contents' MD5,
/// and metadata xattrs. Two equal snapshots mean nothing changed.
pub fn snapshot(root: &Path) -> Vec<String> {
    use md5::{Digest, Md5};
    // Entries may vanish while we look (a server tidying up): they are
    // simply not part of the snapshot.
    walk(root)
        .into_iter()
        .filter_map(|rel| {
            let p = root.join(&rel);
            let st = std::fs::symlink_metadata(&p).ok()?;
            let content = if st.is_file() {
                hex::encode(Md5::digest(std::fs::read(&p).ok()?))
            } else {
                "dir".to_string()
            };
            let meta = xattr(&p, "user.swift.metadata")
                .map(|m| String::from_utf8_lossy(&m).into_owned())
                .unwrap_or_default();
            Some(format!(
                "{} {} {} {}",
                rel.display(),
                st.len(),
                content,
                meta
            ))
        })
        .collect()
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(data))
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An HTTP date `secs` from now (negative: in the past).
pub fn http_date_from_now(secs: i64) -> String {
    let t = now() as i64 + secs;
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(t as u64))
}
