#!/usr/bin/env python3
"""sofgate over HTTP on testfs: two testfs mounts of one backing directory
(node A, node B, one sofgate on each), ordinary API use, a hostile tree
(symlinks, FIFO, socket, device node, hard link planted on the backing
directory), `sofgate index` then a listing that reads nothing, faults injected
through mount A's control file (ENOSPC, EIO, ESTALE, latency), the filesystem calls
of one request, byte-range locks seen through both mounts, and mount_check after
mount A is unmounted.

Usage: testfs_suite.py SOFGATE_BIN (with MT_WORK set; run.sh does both).
"""

import errno
import fcntl
import json
import os
import struct
import sys
import time

import checks
from harness import Sofgate, TestFs, main, md5, temp_files, unmount, wait_for, work_dir

BIN = sys.argv[1] if len(sys.argv) > 1 else sys.exit(__doc__)


def put_expecting_failure(r, node, fs, fault, path, data, want, desc, chunked=False):
    """Turns `fault` on, PUTs, turns it off, checks the status."""
    fs.control(*fault)
    try:
        if chunked:
            chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
            resp = node.req("PUT", path, chunks=chunks)
        else:
            resp = node.req("PUT", path, body=data)
    finally:
        fs.control("clear")
    r.status(desc, resp, want)


def ofd_lock(fd, typ):
    """An open-file-description lock of the whole file (what sofgate takes): True when it
    was granted, False when another holds a conflicting one."""
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hh4xqqi4x", typ, os.SEEK_SET, 0, 0, 0))
        return True
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise


def shared_locks(r, dev_a, dev_b):
    """A lock taken through mount A holds against mount B, as a network filesystem's
    locks hold for all its clients (newest-wins and S3's If-Match rely on them)."""
    name = "lock-probe"
    with open(os.path.join(dev_a, name), "wb") as f:
        f.write(b"x")
    fa = os.open(os.path.join(dev_a, name), os.O_RDWR)
    fb = os.open(os.path.join(dev_b, name), os.O_RDWR)
    try:
        r.check("write lock through mount A", ofd_lock(fa, fcntl.F_WRLCK))
        r.check("... refused through mount B", not ofd_lock(fb, fcntl.F_WRLCK))
        r.check("... and a read lock too", not ofd_lock(fb, fcntl.F_RDLCK))
        os.close(fa)
        fa = None
        # The kernel sends the release after close() returns: the lock goes a moment later.
        end = time.monotonic() + 5
        while not ofd_lock(fb, fcntl.F_WRLCK) and time.monotonic() < end:
            time.sleep(0.01)
        r.check("closed on A: granted through mount B", ofd_lock(fb, fcntl.F_WRLCK))
    finally:
        for fd in (fa, fb):
            if fd is not None:
                os.close(fd)
        os.unlink(os.path.join(dev_a, name))


def enospc(r, a, fs, backing):
    c = "full"
    r.status("PUT container", a.req("PUT", c), 201)
    v1 = b"the previous version\n"
    r.status("PUT version 1", a.req("PUT", f"{c}/obj", body=v1), 201)
    big = os.urandom(1 << 20)
    put_expecting_failure(r, a, fs, ["enospc_after 100000"], f"{c}/obj", big, 507,
                          "ENOSPC after 100 KB of a 1 MiB overwrite: 507")
    resp = a.req("GET", f"{c}/obj")
    r.check("... the previous version is served intact",
            resp.status == 200 and resp.body == v1 and resp.header("etag") == md5(v1), resp)
    put_expecting_failure(r, a, fs, ["enospc_after 100000"], f"{c}/new", big, 507,
                          "ENOSPC in the middle of a chunked 1 MiB upload: 507", chunked=True)
    r.status("... no partial object", a.req("GET", f"{c}/new"), 404)
    put_expecting_failure(r, a, fs, ["enospc_now"], f"{c}/deep/er/new", b"x" * 5000, 507,
                          "ENOSPC on the first write of a nested new name: 507")
    r.status("... no partial object", a.req("HEAD", f"{c}/deep/er/new"), 404)
    r.check("... no directories left from it",
            not os.path.exists(os.path.join(backing, "AUTH_test", c, "deep")))
    r.check("listing shows only the old object", a.req("GET", c).body.decode().split() == ["obj"])
    r.check("no temp file left", temp_files(backing) == [], temp_files(backing))
    r.status("after clear, the overwrite succeeds", a.req("PUT", f"{c}/obj", body=big), 201)
    r.check("... and is served", a.req("GET", f"{c}/obj").body == big)


def eio(r, a, fs, backing):
    c = "eio"
    r.status("PUT container", a.req("PUT", c), 201)
    v1 = b"the previous version\n" * 10
    r.status("PUT version 1", a.req("PUT", f"{c}/obj", body=v1), 201)
    for op in ("fsync", "write", "setxattr", "rename"):
        put_expecting_failure(r, a, fs, [f"eio {op}"], f"{c}/obj", os.urandom(200_000),
                              range(500, 600), f"EIO on {op} during an overwrite: 5xx")
        resp = a.req("GET", f"{c}/obj")
        r.check(f"... the previous version is intact after EIO on {op}",
                resp.status == 200 and resp.body == v1 and resp.header("etag") == md5(v1), resp)
        r.check(f"... no temp file left after EIO on {op}",
                temp_files(backing) == [], temp_files(backing))
    r.check("listing shows only the object", a.req("GET", c).body.decode().split() == ["obj"])


def estale(r, a, fs):
    """ESTALE, as a network filesystem answers a client whose cached handle
    another node's rename made stale: the name is looked up afresh, the
    request served."""
    c = "stale"
    r.status("PUT container", a.req("PUT", c), 201)
    objs = {f"o{i}": os.urandom(1000 + i) for i in range(3)}
    for name, data in objs.items():
        r.status(f"PUT {name}", a.req("PUT", f"{c}/{name}", body=data), 201)
    want = sorted((n, md5(d)) for n, d in objs.items())
    for n in (1, 2, 5):
        fs.control(f"estale {n}")
        try:
            resp = a.req("GET", f"{c}/o1")
        finally:
            fs.control("clear")
        r.check(f"estale {n}: GET of the object answers 200 with its data",
                 resp.status == 200 and resp.body == objs["o1"], resp)
        fs.control(f"estale {n}")
        try:
            resp = a.req("GET", f"{c}?format=json")
        finally:
            fs.control("clear")
        rows = sorted((o["name"], o["hash"]) for o in json.loads(resp.body)) \
            if resp.status == 200 else None
        r.check(f"estale {n}: the JSON listing answers 200 with every row and hash",
                 rows == want, (resp, rows))


def latency(r, a, fs):
    c = "slow"
    data = os.urandom(100_000)
    steps = [
        ("PUT container", lambda: a.req("PUT", c), 201),
        ("PUT object", lambda: a.req("PUT", f"{c}/o", body=data), 201),
        ("GET object", lambda: a.req("GET", f"{c}/o"), 200),
        ("HEAD object", lambda: a.req("HEAD", f"{c}/o"), 200),
        ("GET listing", lambda: a.req("GET", f"{c}?format=json"), 200),
        ("DELETE object", lambda: a.req("DELETE", f"{c}/o"), 204),
        ("DELETE container", lambda: a.req("DELETE", c), 204),
    ]
    fs.control("latency_ms 2")
    try:
        for desc, call, want in steps:
            t0 = time.monotonic()
            resp = call()
            ms = (time.monotonic() - t0) * 1000
            r.status(f"latency_ms 2: {desc} completes in {ms:.0f} ms", resp, want)
            if desc == "GET object":
                r.check("latency_ms 2: GET returns the data", resp.body == data)
    finally:
        fs.control("latency_ms 0")


def fs_calls(r, a, fs):
    """Filesystem calls of one request of each kind, from mount A's counters."""
    c = "count"
    r.status("PUT container", a.req("PUT", c), 201)
    for i in range(10):
        a.req("PUT", f"{c}/o{i:02}", body=b"x" * 4096)
    data = os.urandom(4096)
    requests = [
        ("PUT", lambda: a.req("PUT", f"{c}/new", body=data), 201),
        ("PUT over", lambda: a.req("PUT", f"{c}/new", body=data), 201),
        ("GET", lambda: a.req("GET", f"{c}/new"), 200),
        ("HEAD", lambda: a.req("HEAD", f"{c}/new"), 200),
        # The first listing after a write also walks the container for its usage headers.
        ("(warm-up)", lambda: a.req("GET", f"{c}?format=json"), 200),
        ("list json", lambda: a.req("GET", f"{c}?format=json"), 200),
        ("list plain", lambda: a.req("GET", c), 200),
        ("DELETE", lambda: a.req("DELETE", f"{c}/new"), 204),
        # A write or DELETE within the last second keeps the tombstone directory open.
        ("(warm-up)", lambda: a.req("PUT", f"{c}/new2", body=data), 201),
        ("DELETE soon", lambda: a.req("DELETE", f"{c}/new2"), 204),
    ]
    a.token  # log in before counting
    table = {}
    for name, call, want in requests:
        time.sleep(0.2)
        fs.control("reset")
        resp = call()
        time.sleep(0.2)  # let the close of a streamed body land
        if not name.startswith("("):
            table[name] = fs.counters()
        r.status(f"{name} for the count", resp, want)
    cols = list(table)
    ops = [k for k in table[cols[0]] if k not in ("read_bytes", "write_bytes")
           and any(table[col][k] for col in cols)]
    lines = ["filesystem calls per request (4 KiB object; listings of a container of 11 objects):",
             f"    {'call':<11}" + "".join(f"{col:>12}" for col in cols)]
    for k in ops:
        lines.append(f"    {k:<11}" + "".join(f"{table[col][k]:>12}" for col in cols))
    lines.append(f"    {'total':<11}" + "".join(
        f"{sum(table[col][k] for k in ops):>12}" for col in cols))
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(work_dir(), "fs-calls.txt"), "w") as f:
        f.write(text + "\n")
    for i in range(10):
        a.req("DELETE", f"{c}/o{i:02}")
    r.status("DELETE container", a.req("DELETE", c), 204)


def mount_check(r, a, b, fs, dev_a):
    r.status("PUT container on A while mounted", a.req("PUT", "mc"), 201)
    r.status("PUT object on A while mounted", a.req("PUT", "mc/kept", body=b"kept"), 201)
    r.check("fusermount3 -u of node A's device", unmount(dev_a))
    wait_for("testfs exits after the unmount", lambda: fs.proc.poll() is not None, 10)
    r.check("testfs exited 0", fs.proc.returncode == 0, fs.proc.returncode)
    r.status("unmounted: PUT object on A", a.req("PUT", "mc/new", body=b"data"), 507)
    r.status("unmounted: PUT container on A", a.req("PUT", "mc2"), 507)
    r.status("unmounted: GET object on A", a.req("GET", "mc/kept"), 507)
    r.status("unmounted: POST object on A", a.req("POST", "mc/kept", {"X-Object-Meta-A": "1"}), 507)
    r.check("nothing written under the bare directory", os.listdir(dev_a) == [], os.listdir(dev_a))
    resp = b.req("GET", "mc/kept")
    r.check("node B still serves the volume", resp.status == 200 and resp.body == b"kept", resp)
    r.status("DELETE object on B", b.req("DELETE", "mc/kept"), 204)
    r.status("DELETE container on B", b.req("DELETE", "mc"), 204)


def suite(r):
    w = work_dir()
    backing = os.path.join(w, "backing")
    dev_a, dev_b = os.path.join(w, "node-a"), os.path.join(w, "node-b")
    fs_a = TestFs(BIN, backing, dev_a)
    fs_b = TestFs(BIN, backing, dev_b)
    a = Sofgate(BIN, "testfs-node-a", dev_a, mount_check=True)
    b = Sofgate(BIN, "testfs-node-b", dev_b, mount_check=True)
    print(f"# node A http://{a.addr[0]}:{a.addr[1]} on {dev_a}, "
          f"node B http://{b.addr[0]}:{b.addr[1]} on {dev_b}, backing {backing}")
    with r.section("ordinary API use on node A"):
        checks.ordinary_api(r, a, backing)
    with r.section("node A and node B on two mounts of one backing directory"):
        checks.two_nodes(r, a, b, dev_a, dev_b)
    with r.section("byte-range locks across the two mounts"):
        shared_locks(r, dev_a, dev_b)
    with r.section("conditional create (If-None-Match: *) racing from node A and node B"):
        checks.conditional_create_race(r, a, b, dev_a)
    with r.section("S3 conditional writes racing from node A and node B"):
        checks.s3_conditional_races(r, a, b, dev_a)
    with r.section("newest write wins: an older upload on A finishing after a newer one on B"):
        checks.newest_wins_race(r, a, b)
        checks.newest_wins_race(r, a, b, rounds=3, s3=True)
    with r.section("DELETE vs PUT: an upload on A that began before a DELETE on B"):
        checks.delete_put_race(r, a, b)
    with r.section("the shared tree is hostile (planted on the backing directory)"):
        checks.hostile_tree(r, a, backing)
    with r.section("sofgate index, then a listing that reads no file data"):
        checks.index_then_list(r, a, dev_a, BIN, fs=fs_a)
    with r.section("filesystem calls per request"):
        fs_calls(r, a, fs_a)
    with r.section("ENOSPC mid-upload"):
        enospc(r, a, fs_a, backing)
    with r.section("EIO"):
        eio(r, a, fs_a, backing)
    with r.section("ESTALE from the filesystem"):
        estale(r, a, fs_a)
    with r.section("latency_ms 2"):
        latency(r, a, fs_a)
    with r.section("mount_check after node A's device is unmounted"):
        mount_check(r, a, b, fs_a, dev_a)
    for node in (a, b):
        r.check(f"sofgate {node.name} still running", node.proc.poll() is None, node.log())
    r.check("node B's testfs still running", fs_b.proc.poll() is None, fs_b.log())


if __name__ == "__main__":
    sys.exit(main(suite))
