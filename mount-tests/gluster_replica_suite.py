#!/usr/bin/env python3
"""sofgate on a replica-3 GlusterFS volume (three bricks, three mounts, a node
on each), under failures:

1. a brick dies under load: PUT/GET/DELETE/listing from all three nodes while
   one brick's glusterfsd is killed (SIGKILL) and later restarted (`volume
   start force`). Every request must be served (each 5xx is printed), no
   acknowledged object lost or changed; self-heal must finish (heal info: no
   entries, bounded wait), the three bricks must then hold the same files,
   and `sofgate scrub --json` must find every object's MD5 equal to its ETag.
2. a node dies mid-upload: node C is killed (SIGKILL) with an upload half
   sent; nodes A and B keep serving, the cut object is never visible, and its
   temp file is removed by the periodic sweep ([storage] reap_temp_after_secs).

Usage: gluster_replica_suite.py SOFGATE_BIN STATE_DIR (with MT_WORK set;
mount-tests/gluster.sh --replica 3 brings the volume up with
scripts/gluster-up.sh --replica 3 STATE_DIR and passes it). Prints timings.
"""

import glob
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter

from harness import HttpError, Sofgate, main, md5, swift_meta, temp_files, wait_for

if len(sys.argv) != 3:
    sys.exit(__doc__)
BIN, STATE = sys.argv[1:]
ENV = dict(
    line.strip().split("=", 1) for line in open(os.path.join(STATE, "env")) if "=" in line
)
VOL = ENV["GLUSTER_VOLUME"]
MOUNTS = [ENV["MOUNT_A"], ENV["MOUNT_B"], ENV["MOUNT_C"]]
BRICKS = [ENV["BRICK_1"], ENV["BRICK_2"], ENV["BRICK_3"]]
SOCK = ENV["GLUSTERD_SOCK"]
GLUSTER = ["gluster", "--mode=script", f"--glusterd-sock={SOCK}"]
XATTR_CHUNK = 3800
# Short, so that the sweep runs (and may remove a cut upload's temp file) every 3 s.
REAP_SECS = 3
C = "load"

# Phases of the brick failure, in seconds of load.
BEFORE_KILL = 4.0
OUTAGE = 8.0
AFTER_RESTART = 5.0
HEAL_LIMIT = 120.0
# While entries remain, ask for an index heal this often (`gluster volume heal VOL`).
HEAL_NUDGE = 10.0
WORKERS_PER_NODE = 2


def timing(what, secs):
    print(f"# time: {what} {secs:.1f} s", flush=True)


def gluster(*args, timeout=60):
    return subprocess.run(
        GLUSTER + list(args), capture_output=True, text=True, timeout=timeout, check=True
    ).stdout


def glfsheal():
    """glusterfs' heal-info helper, which (unlike `gluster volume heal VOL info`) can be told
    where this private glusterd's socket is."""
    for p in glob.glob("/usr/lib/*/glusterfs/glfsheal") + glob.glob("/usr/libexec/glusterfs/glfsheal"):
        if os.access(p, os.X_OK):
            return p
    raise RuntimeError("glfsheal (package glusterfs-common) not found")


def brick_pid(brick):
    """The pid of the glusterfsd serving `brick`, from `volume status --xml` (None if down)."""
    root = ET.fromstring(gluster("volume", "status", VOL, "--xml"))
    for node in root.iter("node"):
        if node.findtext("path") == brick:
            pid = node.findtext("pid")
            up = node.findtext("status") == "1"
            return int(pid) if up and pid and pid.isdigit() and int(pid) > 0 else None
    raise RuntimeError(f"brick {brick} not in volume status")


def heal_info():
    return subprocess.run(
        [glfsheal(), VOL, "glusterd-sock", SOCK], capture_output=True, text=True, timeout=30
    ).stdout


def heal_entries():
    """Entries left to heal over all bricks, or None while a brick is not connected."""
    out = heal_info()
    counts = [line.split(":", 1)[1].strip() for line in out.splitlines()
              if line.startswith("Number of entries:")]
    if len(counts) != len(BRICKS) or not all(c.isdigit() for c in counts):
        return None
    return sum(int(c) for c in counts)


# --- the load -------------------------------------------------------------------------------------


class Load:
    """Workers that PUT, GET, DELETE and list their own names through random nodes and keep
    what each name may hold: one value once acknowledged (bytes, or None for deleted), more
    while a request on it failed (its outcome is unknown)."""

    def __init__(self, nodes, tag):
        self.nodes = nodes
        self.tag = tag
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.model = {}  # name -> set of acceptable values
        self.statuses = Counter()  # "METHOD status"
        self.failures = []  # 5xx or no answer: (secs, node, method, name, detail)
        self.unhashed = 0  # listing rows of acknowledged objects shown with hash ""
        self.wrong = []  # acknowledged state not served
        self.t0 = time.monotonic()
        self.threads = []

    def start(self, per_node=WORKERS_PER_NODE):
        for i in range(len(self.nodes) * per_node):
            t = threading.Thread(target=self._worker, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)
        return sum(self.statuses.values())

    def _call(self, node, method, name, **kw):
        path = f"{C}/{name}" if name else C
        try:
            resp = node.req(method, path, **kw)
        except HttpError as e:
            with self.lock:
                self.statuses[f"{method} no answer"] += 1
            self._failed(node, method, name, str(e))
            return None
        with self.lock:
            self.statuses[f"{method} {resp.status}"] += 1
        if resp.status >= 500:
            self._failed(node, method, name, f"{resp.status} {resp.body[:200]!r}")
        return resp

    def _failed(self, node, method, name, detail):
        with self.lock:
            self.failures.append((time.monotonic() - self.t0, node.name, method, name, detail))

    def _wrong(self, what):
        with self.lock:
            self.wrong.append(what)

    def _worker(self, wid):
        rnd = random.Random(f"{self.tag}-{wid}")
        mine = {}
        k = 0
        while not self.stop.is_set():
            node = rnd.choice(self.nodes)
            op = rnd.random()
            live = [n for n, v in mine.items() if v != {None}]
            if op < 0.45 or not live:
                if live and rnd.random() < 0.3:
                    name = rnd.choice(live)
                else:
                    k += 1
                    name = f"{self.tag}{wid}-{k:04}" if k % 4 else f"{self.tag}{wid}-d{k % 3}/o{k}"
                size = rnd.choice([0, 100, 4096, 30_000]) if rnd.random() < 0.9 else 400_000
                data = rnd.randbytes(size)
                resp = self._call(node, "PUT", name, body=data)
                if resp is not None and resp.status == 201:
                    if resp.header("etag") != md5(data):
                        self._wrong(f"PUT {name}: ETag {resp.header('etag')} != {md5(data)}")
                    mine[name] = {data}
                else:
                    mine[name] = mine.get(name, {None}) | {data}
            elif op < 0.75:
                name = rnd.choice(live)
                resp = self._call(node, "GET", name)
                if resp is None or resp.status >= 500:
                    continue
                got = resp.body if resp.status == 200 else None if resp.status == 404 else "?"
                if got not in mine[name]:
                    self._wrong(f"GET {name} on {node.name}: {resp!r}, "
                                f"wanted one of {[md5(v) if v else v for v in mine[name]]}")
                else:
                    mine[name] = {got}
            elif op < 0.9:
                name = rnd.choice(live)
                resp = self._call(node, "DELETE", name)
                if resp is not None and resp.status == 204:
                    mine[name] = {None}
                else:
                    mine[name] = mine[name] | {None}
            else:
                resp = self._call(node, "GET", f"?prefix={self.tag}{wid}-&format=json")
                if resp is not None and resp.status == 200:
                    listed = {o["name"]: o["hash"] for o in resp.json()}
                    for n, v in mine.items():
                        if len(v) != 1:
                            continue
                        (val,) = v
                        want = None if val is None else md5(val)
                        got = listed.get(n)
                        if got == "" and want is not None:
                            # "not known yet" (the listing's hash budget, see README):
                            # counted and printed, never a wrong value; after the heal
                            # every listing is checked exactly.
                            self.unhashed += 1
                        elif got != want:
                            self._wrong(f"listing on {node.name}: {n} {got} != {want}")
        with self.lock:
            self.model.update(mine)

    def report(self, r, what):
        n = sum(self.statuses.values())
        secs = time.monotonic() - self.t0
        print(f"# {what}: {n} requests in {secs:.1f} s ({n / secs:.0f}/s): "
              + ", ".join(f"{k} x{v}" for k, v in sorted(self.statuses.items())), flush=True)
        print(f"# {what}: listing rows without a hash yet (\"\"): {self.unhashed}", flush=True)
        for f in self.failures[:20]:
            print(f"#   not served at {f[0]:.2f} s: {f[1]} {f[2]} {f[3]}: {f[4]}", flush=True)
        r.check(f"{what}: every request served (no 5xx, every request answered)",
                not self.failures, f"{len(self.failures)} not served (listed above)")
        r.check(f"{what}: every GET and listing served the acknowledged state",
                not self.wrong, self.wrong[:5])


def verify_objects(r, load, nodes, what):
    """Every name of `load` is served as acknowledged by each of `nodes` in turn, and the
    container listing has exactly the live ones."""
    bad = []
    live = {}
    for i, (name, vals) in enumerate(sorted(load.model.items())):
        node = nodes[i % len(nodes)]
        resp = node.req("GET", f"{C}/{name}")
        got = resp.body if resp.status == 200 else None if resp.status == 404 else "?"
        if got not in vals:
            bad.append(f"{name} on {node.name}: {resp!r}")
        elif got is not None:
            if resp.header("etag") != md5(got):
                bad.append(f"{name} on {node.name}: ETag {resp.header('etag')}")
            live[name] = md5(got)
    r.check(f"{what}: all {len(load.model)} names served as acknowledged "
            f"({len(live)} objects, the rest deleted)", not bad, bad[:5])
    for node in nodes:
        listed, relists = list_settled(node, load.tag)
        if relists:
            print(f"# {what}: {node.name} listed again {relists} time(s) for rows "
                  "not hashed yet (\"\")", flush=True)
        r.check(f"{what}: {node.name} lists exactly the live objects with their MD5",
                listed == live, sorted(set(listed.items()) ^ set(live.items()))[:5])
    return live


def list_all(node, prefix):
    """The container's rows under `prefix`, every page: name -> hash."""
    listed = {}
    marker = ""
    while True:
        resp = node.req("GET", f"{C}?format=json&prefix={prefix}&marker={marker}")
        page = resp.json()
        listed.update({o["name"]: o["hash"] for o in page})
        if not page:
            return listed
        marker = page[-1]["name"]


def list_settled(node, prefix, limit=20.0):
    """The listing once no row says "not hashed yet" (""), within `limit` seconds, and
    how many times it was listed again. A heal changes every healed file's ctime, which
    this node has seen, so it hashes them again; a page's time budget may end before a
    row is reached, and the background hasher fills it in. Past the limit the last
    listing is returned as it is, and the exact check fails on it."""
    deadline = time.monotonic() + limit
    relists = 0
    while True:
        listed = list_all(node, prefix)
        if "" not in listed.values() or time.monotonic() > deadline:
            return listed, relists
        relists += 1
        time.sleep(0.5)


def bricks_agree(r, live):
    """After the heal the three bricks hold the same files, data and metadata."""
    differ = []
    for name in live:
        copies = []
        for b in BRICKS:
            p = os.path.join(b, "AUTH_test", C, name)
            try:
                with open(p, "rb") as f:
                    copies.append((md5(f.read()), json.dumps(swift_meta(p), sort_keys=True)))
            except OSError as e:
                copies.append((f"error {e.errno}", None))
        if len(set(copies)) != 1 or copies[0][0] != live[name]:
            differ.append((name, [c[0] for c in copies]))
    r.check(f"the three bricks hold identical copies of all {len(live)} objects "
            "(data, MD5 and user.swift.metadata)", not differ, differ[:5])


def scrub(r, node, want_objects, what):
    t0 = time.monotonic()
    p = subprocess.run([BIN, "scrub", "--config", node.config, "--json"],
                       capture_output=True, text=True, timeout=120)
    timing(f"{what}: sofgate scrub", time.monotonic() - t0)
    try:
        s = json.loads(p.stdout)
    except ValueError:
        return r.check(f"{what}: sofgate scrub --json prints JSON", False, p.stdout + p.stderr)
    counts = {k: s.get(k) for k in ("objects", "good", "mismatches", "unreadable_metadata",
                                    "orphan_temp", "orphan_sidecars", "errors")}
    print(f"# {what}: scrub {counts}", flush=True)
    r.check(f"{what}: sofgate scrub exits 0 (clean)", p.returncode == 0, p.stdout[-2000:] + p.stderr)
    r.check(f"{what}: scrub read every object and found each MD5 = its ETag",
            s.get("objects", 0) >= want_objects and s.get("good") == s.get("objects")
            and s.get("mismatches") == 0 and s.get("unreadable_metadata") == 0
            and s.get("errors") == 0, counts)


# --- 1. a brick dies under load -------------------------------------------------------------------


def brick_failure(r, nodes):
    victim = BRICKS[1]
    pid = brick_pid(victim)
    r.check(f"brick {victim} runs (glusterfsd pid {pid})", pid is not None)
    r.status("PUT container", nodes[0].req("PUT", C), 201)
    load = Load(nodes, "b")
    load.start()
    time.sleep(BEFORE_KILL)
    before = sum(load.statuses.values())
    os.kill(pid, 9)
    t_kill = time.monotonic()
    wait_for("the killed brick to be reported down", lambda: brick_pid(victim) is None, 20, 0.2)
    print(f"# killed glusterfsd {pid} of {victim} after {before} requests", flush=True)
    time.sleep(OUTAGE)
    during = sum(load.statuses.values()) - before
    t_start = time.monotonic()
    gluster("volume", "start", VOL, "force")
    wait_for("the brick to run again", lambda: brick_pid(victim) is not None, 30, 0.2)
    new_pid = brick_pid(victim)
    with open(os.path.join(STATE, "pids", "brick2.pid"), "w") as f:
        f.write(f"{new_pid}\n")  # for scripts/gluster-down.sh
    timing("brick outage (SIGKILL to volume start force)", t_start - t_kill)
    print(f"# {during} requests during the outage; brick restarted as pid {new_pid}", flush=True)
    time.sleep(AFTER_RESTART)
    load.finish()
    load.report(r, "load with a brick killed and restarted")
    r.check("requests were served while the brick was down", during > 0, during)

    t_heal = time.monotonic()
    left = []

    nudged = [time.monotonic()]

    def healed():
        n = heal_entries()
        left.append(n)
        if n and time.monotonic() - nudged[0] > HEAL_NUDGE:
            nudged[0] = time.monotonic()
            subprocess.run(GLUSTER + ["volume", "heal", VOL], capture_output=True, timeout=60)
            print(f"# {n} entries left: index heal requested", flush=True)
        return n == 0

    try:
        wait_for("self-heal", healed, HEAL_LIMIT, 0.5)
        ok = True
    except TimeoutError:
        ok = False
    timing("self-heal (restart to 0 entries in heal info)", time.monotonic() - t_start)
    r.check(f"self-heal completes within {HEAL_LIMIT:.0f} s of the load ending",
            ok, f"entries left: {left[-5:]}")
    if not ok:
        print("# heal info at the limit:\n" + "".join(f"#   {l}\n" for l in heal_info().splitlines()),
              flush=True)
    print(f"# heal info polls after the load: {len(left)}, entries seen: "
          f"max {max((n for n in left if n is not None), default=0)}", flush=True)
    timing("heal wait after the load ended", time.monotonic() - t_heal)

    live = verify_objects(r, load, nodes, "after the heal")
    bricks_agree(r, live)
    scrub(r, nodes[0], len(live), "after the heal")
    r.check("no temp files left on the volume", temp_files(MOUNTS[0]) == [], temp_files(MOUNTS[0]))


# --- 2. a node dies mid-upload --------------------------------------------------------------------


def start_upload(node, name, size, first):
    """Sends a PUT's head and the first `first` bytes of a `size`-byte body; returns the socket."""
    s = socket.create_connection(node.addr, timeout=10)
    head = (f"PUT /v1/AUTH_test/{C}/{name} HTTP/1.1\r\nHost: x\r\n"
            f"X-Auth-Token: {node.token}\r\nContent-Length: {size}\r\n\r\n")
    s.sendall(head.encode() + os.urandom(first))
    return s


def node_failure(r, nodes):
    a, b, c = nodes
    name = "cut/upload.bin"
    cdir = os.path.join(MOUNTS[0], "AUTH_test", C, "cut")
    load = Load([a, b], "n")
    load.start(per_node=1)
    sock = start_upload(c, name, 8 << 20, 1 << 20)

    def temp_there():
        return [f for f in (os.listdir(cdir) if os.path.isdir(cdir) else [])
                if f.endswith(".sgtmp") and os.path.getsize(os.path.join(cdir, f)) > 0]

    wait_for("the upload's temp file to appear", temp_there, 20, 0.05)
    tmp = temp_there()[0]
    c.proc.kill()
    c.proc.wait(10)
    t_kill = time.monotonic()
    print(f"# node C killed (SIGKILL) with 1 MiB of 8 MiB sent; temp file {tmp}", flush=True)
    with sock:
        sock.settimeout(5)
        try:
            answer = sock.recv(100)
        except OSError:
            answer = b""
    r.check("the cut upload got no answer", answer == b"", answer)

    seen = []

    def reaped():
        for n in (a, b):
            seen.append(n.req("HEAD", f"{C}/{name}").status)
        return not os.path.exists(os.path.join(cdir, tmp))

    try:
        wait_for("the temp file to be reaped", reaped, 6 * REAP_SECS + 10, 0.25)
        gone = True
    except TimeoutError:
        gone = False
    timing("cut upload's temp file removed after the kill", time.monotonic() - t_kill)
    r.check(f"its temp file is removed by the sweep (reap_temp_after_secs = {REAP_SECS})", gone,
            os.listdir(cdir) if os.path.isdir(cdir) else "no directory")
    r.check(f"the cut object is never visible: {len(seen)} HEADs on A and B all 404",
            seen and set(seen) == {404}, Counter(seen))
    listed = a.req("GET", f"{C}?prefix=cut/").body.decode().split()
    r.check("... nor listed", listed == [], listed)
    time.sleep(1.0)  # load on A and B after the kill, too
    load.finish()
    load.report(r, "load on A and B with node C killed")
    verify_objects(r, load, [a, b], "after the node failure")
    r.check("node C's death left no temp file", temp_files(MOUNTS[0]) == [], temp_files(MOUNTS[0]))


def suite(r):
    t0 = time.monotonic()
    nodes = [
        Sofgate(BIN, f"replica-node-{n}", m, mount_check=True, xattr_chunk=XATTR_CHUNK,
                storage={"reap_temp_after_secs": REAP_SECS})
        for n, m in zip("abc", MOUNTS)
    ]
    for n, m in zip(nodes, MOUNTS):
        print(f"# {n.name} http://{n.addr[0]}:{n.addr[1]} on {m}", flush=True)
    with r.section("replica 3: a brick killed and restarted under load from three nodes"):
        t = time.monotonic()
        brick_failure(r, nodes)
        timing("brick failure part", time.monotonic() - t)
    with r.section("replica 3: a node killed mid-upload"):
        t = time.monotonic()
        node_failure(r, nodes)
        timing("node failure part", time.monotonic() - t)
    for node in nodes[:2]:
        r.check(f"sofgate {node.name} still running", node.proc.poll() is None, node.log())
    timing("suite", time.monotonic() - t0)


if __name__ == "__main__":
    sys.exit(main(suite))
