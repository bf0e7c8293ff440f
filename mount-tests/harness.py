"""Harness of the mount tests: a bounded raw HTTP client, sofgate and testfs
processes that are always stopped and unmounted (by pid, by path), and check
reporting that ends with "N passed, M failed".

Every process started here is recorded as a file named by its pid in
$MT_WORK/pids, so that mount-tests/run.sh can stop it even if this Python
process is killed; every mount point is under $MT_WORK.
"""

import contextlib
import datetime
import hashlib
import hmac
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse

HTTP_TIMEOUT = 15.0
SECRET = "mount-tests-secret-0123456789abcdef"
S3_REGION = "us-east-1"
CONTROL = ".testfs-control"


def md5(data):
    return hashlib.md5(data).hexdigest()


def work_dir():
    w = os.environ.get("MT_WORK")
    if not w:
        sys.exit("MT_WORK is not set (run mount-tests/run.sh)")
    return w


# --- cleanup ------------------------------------------------------------------------------------

_cleanups = []


def on_cleanup(desc, fn):
    """Registers fn to run at exit (last registered runs first)."""
    _cleanups.append((desc, fn))


def run_cleanups():
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while _cleanups:
        desc, fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # keep going: every later cleanup must still run
            print(f"cleanup of {desc} failed: {e}", flush=True)


def _on_signal(signo, _frame):
    raise SystemExit(128 + signo)


def install_signal_handlers():
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)


def _record_pid(pid):
    d = os.path.join(work_dir(), "pids")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, str(pid)), "w").close()


def _forget_pid(pid):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(work_dir(), "pids", str(pid)))


def stop_process(proc, grace=10.0):
    """SIGTERM, then SIGKILL after `grace` seconds; always reaps."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    _forget_pid(proc.pid)


def is_mounted(path):
    """From /proc/self/mounts only: never touches the (maybe hung) mount."""
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


def wait_for(what, cond, timeout, step=0.05):
    """Polls cond() until true; raises TimeoutError naming `what`."""
    end = time.monotonic() + timeout
    while True:
        if cond():
            return
        if time.monotonic() > end:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(step)


def unmount(path):
    """fusermount3 -u, retried while busy, then lazily; True when unmounted."""
    for _ in range(10):
        if not is_mounted(path):
            return True
        subprocess.run(["fusermount3", "-u", path], timeout=10, stderr=subprocess.DEVNULL)
        if not is_mounted(path):
            return True
        time.sleep(0.2)
    subprocess.run(["fusermount3", "-u", "-z", path], timeout=10, stderr=subprocess.DEVNULL)
    return not is_mounted(path)


# --- HTTP ---------------------------------------------------------------------------------------


class HttpError(Exception):
    pass


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:200]!r}>"


def http(addr, method, path, headers=None, body=b"", chunks=None, timeout=HTTP_TIMEOUT):
    """One request with Connection: close, bounded by `timeout` overall.

    The body is sent from a thread while the response is read, so an early
    answer (e.g. 507 in the middle of an upload) is always seen. `chunks`
    sends the body with Transfer-Encoding: chunked instead.
    """
    deadline = time.monotonic() + timeout
    head = [f"{method} {path} HTTP/1.1", f"Host: {addr[0]}:{addr[1]}", "Connection: close"]
    for k, v in (headers or {}).items():
        head.append(f"{k}: {v}")
    if chunks is not None:
        head.append("Transfer-Encoding: chunked")
        payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n\r\n"
    else:
        if body or method in ("PUT", "POST"):
            head.append(f"Content-Length: {len(body)}")
        payload = body
    data = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
    try:
        sock = socket.create_connection(addr, timeout=timeout)
    except OSError as e:
        raise HttpError(f"{method} {path}: connect: {e}") from None

    def send():
        with contextlib.suppress(OSError):
            sock.sendall(data)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    buf = bytearray()
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HttpError(f"{method} {path}: no complete response within {timeout} s")
            sock.settimeout(left)
            try:
                got = sock.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:
                if buf:
                    break  # a reset after the answer arrived
                raise
            if not got:
                break
            buf += got
    finally:
        sock.close()
        sender.join(1)
    return _parse(bytes(buf), method == "HEAD", f"{method} {path}")


def _parse(buf, head_only, what):
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        raise HttpError(f"{what}: no response head in {buf[:200]!r}")
    lines = buf[:end].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    rest = buf[end + 4 :]
    if head_only or status in (204, 304) or status < 200:
        body = b""
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            i = rest.index(b"\r\n")
            n = int(rest[:i].split(b";")[0], 16)
            if n == 0:
                break
            body += rest[i + 2 : i + 2 + n]
            rest = rest[i + 2 + n + 2 :]
        body = bytes(body)
    elif "content-length" in headers:
        n = int(headers["content-length"])
        if len(rest) < n:
            raise HttpError(f"{what}: body {len(rest)} bytes, Content-Length {n}")
        body = rest[:n]
    else:
        body = rest
    return Resp(status, headers, body)


# --- processes ----------------------------------------------------------------------------------


class TestFs:
    """A testfs mount of `backing` at `mountpoint`, unmounted at exit."""

    def __init__(self, binary, backing, mountpoint, xattr_room=4096):
        self.mountpoint = os.path.realpath(mountpoint)
        self.control_path = os.path.join(self.mountpoint, CONTROL)
        os.makedirs(backing, exist_ok=True)
        os.makedirs(mountpoint, exist_ok=True)
        log = open(f"{mountpoint}.testfs.log", "wb")
        cmd = [binary, "testfs", "--backing", backing]
        if xattr_room:
            cmd += ["--xattr-room", str(xattr_room)]
        self.proc = subprocess.Popen(
            cmd + [mountpoint], stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        _record_pid(self.proc.pid)
        on_cleanup(f"testfs {mountpoint}", self.stop)

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"testfs exited {self.proc.returncode}: {self.log()}")
            return is_mounted(self.mountpoint) and os.path.exists(self.control_path)

        wait_for(f"testfs mount at {mountpoint}", up, 10)

    def log(self):
        with open(f"{self.mountpoint}.testfs.log", errors="replace") as f:
            return f.read()[-2000:]

    def control(self, *commands):
        with open(self.control_path, "w") as f:
            f.write("".join(c + "\n" for c in commands))

    def counters(self):
        with open(self.control_path) as f:
            return {k: int(v) for k, v in (line.split() for line in f if line.strip())}

    def stop(self):
        if is_mounted(self.mountpoint):
            with contextlib.suppress(OSError):
                self.control("clear")
            unmount(self.mountpoint)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        stop_process(self.proc)


class Sofgate:
    """`sofgate serve` on a generated config; stopped at exit. `storage` adds keys to its
    [storage] table (values written as they are)."""

    def __init__(self, binary, name, device, mount_check=True, xattr_chunk=None, storage=None):
        self.name = name
        w = work_dir()
        self.config = os.path.join(w, f"{name}.toml")
        self.log_path = os.path.join(w, f"{name}.log")
        keys = {**({"xattr_chunk": xattr_chunk} if xattr_chunk else {}), **(storage or {})}
        storage = "".join(f"{k} = {v}\n" for k, v in keys.items())
        storage = f"[storage]\n{storage}" if storage else ""
        with open(self.config, "w") as f:
            f.write(
                'listen = "127.0.0.1:0"\n'
                f'[[policy]]\nname = "gold"\ndevice = "{device}"\n'
                f"mount_check = {str(mount_check).lower()}\ndefault = true\n"
                f"{storage}"
                f'[auth]\nsecret = "{SECRET}"\n'
                '[[auth.user]]\naccount = "test"\nuser = "tester"\nkey = "testing"\nadmin = true\n'
            )
        self.proc = subprocess.Popen(
            [binary, "serve", "--config", self.config],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=open(self.log_path, "wb"),
            env={**os.environ, "SOFGATE_LOG": "info"},
        )
        _record_pid(self.proc.pid)
        on_cleanup(f"sofgate {name}", lambda: stop_process(self.proc))
        lines = queue.Queue()

        def drain():  # keeps reading so later prints never hit a full or closed pipe
            for line in self.proc.stdout:
                lines.put(line.decode(errors="replace"))
            lines.put(None)

        threading.Thread(target=drain, daemon=True).start()
        end = time.monotonic() + 15
        while True:
            try:
                line = lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise RuntimeError(f"sofgate {name} did not start: {self.log()}")
            if line.startswith("sofgate listening on http://"):
                host, port = line.split("http://")[1].strip().rsplit(":", 1)
                self.addr = (host, int(port))
                break
        self._token = None

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-3000:]

    def login(self):
        r = http(
            self.addr, "GET", "/auth/v1.0", {"X-Auth-User": "test:tester", "X-Auth-Key": "testing"}
        )
        if r.status != 200:
            raise RuntimeError(f"login on {self.name}: {r}")
        return r.header("x-auth-token")

    @property
    def token(self):
        if self._token is None:
            self._token = self.login()
        return self._token

    def req(self, method, path, headers=None, body=b"", token=None, **kw):
        """A request on /v1/AUTH_test/<path> with a token (this node's by default)."""
        h = {"X-Auth-Token": token or self.token, **(headers or {})}
        full = "/v1/AUTH_test" + ("/" + path if path else "")
        return http(self.addr, method, full, h, body, **kw)

    def s3_begin_put(self, path, first, total):
        """Begins an S3 PutObject of `total` bytes to `bucket/key` with only `first` of them
        sent; the socket."""
        target = "/" + _s3_quote(path, "/-_.~")
        host = f"{self.addr[0]}:{self.addr[1]}"
        head = [f"PUT {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {total}",
                "Connection: close"]
        head += [f"{k}: {v}" for k, v in s3_sign("PUT", target, "", host, "test:tester",
                                                 "testing").items()]
        sock = socket.create_connection(self.addr, timeout=30)
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + first)
        return sock

    def s3(self, method, path, headers=None, body=b"", query=(), **kw):
        """An S3 request, path style (`bucket/key`), SigV4-signed as test:tester; `query`
        as (name, value) pairs."""
        target = "/" + _s3_quote(path, "/-_.~")
        q = "&".join(sorted(f"{_s3_quote(k, '-_.~')}={_s3_quote(v, '-_.~')}" for k, v in query))
        host = f"{self.addr[0]}:{self.addr[1]}"
        h = {**s3_sign(method, target, q, host, "test:tester", "testing"), **(headers or {})}
        return http(self.addr, method, target + ("?" + q if q else ""), h, body, **kw)


def _s3_quote(s, safe):
    return urllib.parse.quote(s, safe=safe)


def s3_sign(method, target, query, host, access, secret, now=None):
    """SigV4 headers of a header-signed request with an unsigned payload: `target` the
    encoded path, `query` the encoded, sorted query string as it is sent."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    signed = {"host": host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "x-amz-date": stamp}
    names = ";".join(sorted(signed))
    canonical = "\n".join([method, target, query, *(f"{k}:{signed[k]}" for k in sorted(signed)),
                           "", names, "UNSIGNED-PAYLOAD"])
    scope = f"{day}/{S3_REGION}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (day, S3_REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "x-amz-date": stamp,
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={access}/{scope}, "
                         f"SignedHeaders={names}, Signature={sig}",
    }


# --- reporting ----------------------------------------------------------------------------------


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, desc, cond, detail=""):
        if cond:
            self.passed += 1
            print(f"ok   - {desc}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL - {desc}" + (f": {detail}" if detail else ""), flush=True)
        return bool(cond)

    def status(self, desc, resp, want):
        """Checks a response status (`want` an int or a collection of ints)."""
        ok = resp.status in want if isinstance(want, (set, tuple, list, range)) else resp.status == want
        return self.check(f"{desc} -> {resp.status}", ok, f"wanted {want}, got {resp!r}")

    @contextlib.contextmanager
    def section(self, name):
        """Runs a group of checks; an exception fails the group but not the run."""
        print(f"# {name}", flush=True)
        try:
            yield
        except SystemExit:
            raise
        except Exception as e:
            self.check(f"{name}: completes", False, f"{type(e).__name__}: {e}")
            traceback.print_exc(limit=4, file=sys.stdout)

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0


def main(body):
    """Runs body(report) with cleanups on any exit; returns the exit code."""
    install_signal_handlers()
    r = Report()
    try:
        body(r)
    except SystemExit as e:
        r.check("suite runs to the end", False, f"stopped by exit status {e.code}")
    except Exception as e:
        r.check("suite runs to the end", False, f"{type(e).__name__}: {e}")
        traceback.print_exc(limit=6, file=sys.stdout)
    finally:
        run_cleanups()
    return r.finish()


def temp_files(root):
    """What a failed or finished request must not leave under root: sofgate temp files
    (.<name>.<16 hex>.sgtmp) and sidecars (.<name>.sgmeta) whose object is gone."""
    out = []
    for d, dirs, files in os.walk(root):
        for f in files:
            if f.startswith(".") and f.endswith(".sgtmp") and len(f) > 24:
                out.append(os.path.join(d, f))
            elif f.startswith(".") and f.endswith(".sgmeta"):
                obj = f[1 : -len(".sgmeta")]
                if obj not in files and obj not in dirs and len(obj) != 32:
                    out.append(os.path.join(d, f))
    return out


def swift_meta(path):
    """The Swift-on-File metadata of a file (user.swift.metadata, chunks joined), or None."""
    try:
        buf = os.getxattr(path, "user.swift.metadata")
    except OSError:
        return None
    i = 1
    while True:
        try:
            buf += os.getxattr(path, f"user.swift.metadata{i}")
        except OSError:
            return json.loads(buf)
        i += 1
