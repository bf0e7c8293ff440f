"""Checks shared by the testfs and GlusterFS suites: ordinary API use on one
node, and two nodes (two mounts of one volume, one sofgate on each)."""

import functools
import json
import os
import re
import socket
import stat
import subprocess
import threading
import time

from harness import http, md5, swift_meta, temp_files


def ordinary_api(r, node, files):
    """PUT/GET/HEAD/listing/DELETE through `node`; `files` is where its device's files are seen."""
    c = "api"
    cdir = os.path.join(files, "AUTH_test", c)
    r.status("PUT container", node.req("PUT", c), 201)
    r.status("HEAD container", node.req("HEAD", c), 204)
    small = b"hello, shared filesystem\n"
    big = os.urandom(300_000)
    resp = node.req(
        "PUT", f"{c}/dir/sub/hello.txt", {"X-Object-Meta-Color": "blue"}, small
    )
    r.status("PUT nested object with user metadata", resp, 201)
    r.check("PUT returns the MD5 as ETag", resp.header("etag") == md5(small), resp.headers)
    r.status("PUT 300 KB object", node.req("PUT", f"{c}/a.bin", body=big), 201)

    resp = node.req("GET", f"{c}/dir/sub/hello.txt")
    r.status("GET object", resp, 200)
    r.check("GET returns the data", resp.body == small, resp)
    r.check("GET has ETag and user metadata",
            resp.header("etag") == md5(small) and resp.header("x-object-meta-color") == "blue",
            resp.headers)
    r.check("GET of 300 KB object returns it", node.req("GET", f"{c}/a.bin").body == big)
    resp = node.req("GET", f"{c}/a.bin", {"Range": "bytes=1000-1999"})
    r.check("ranged GET", resp.status == 206 and resp.body == big[1000:2000], resp)
    resp = node.req("HEAD", f"{c}/dir/sub/hello.txt")
    r.status("HEAD object", resp, 200)
    r.check("HEAD has length, ETag, type and no body",
            resp.header("content-length") == str(len(small))
            and resp.header("etag") == md5(small)
            and resp.header("content-type").startswith("text/plain")
            and resp.body == b"", resp.headers)

    resp = node.req("GET", f"{c}?format=json")
    r.status("GET listing", resp, 200)
    listing = {o["name"]: o for o in resp.json()}
    r.check("listing names both objects", sorted(listing) == ["a.bin", "dir/sub/hello.txt"], listing)
    r.check("listing has sizes and hashes",
            listing.get("a.bin", {}).get("bytes") == len(big)
            and listing.get("a.bin", {}).get("hash") == md5(big)
            and listing.get("dir/sub/hello.txt", {}).get("bytes") == len(small), listing)
    resp = node.req("GET", f"{c}?delimiter=/")
    r.check("listing with delimiter", resp.body.decode().split() == ["a.bin", "dir/"], resp)
    resp = node.req("GET", f"{c}?prefix=dir/sub/")
    r.check("listing with prefix", resp.body.decode().split() == ["dir/sub/hello.txt"], resp)
    resp = node.req("HEAD", c)
    r.check("container counts objects and bytes",
            resp.header("x-container-object-count") == "2"
            and resp.header("x-container-bytes-used") == str(len(big) + len(small)), resp.headers)
    resp = node.req("GET", "")
    r.check("account listing names the container", c in resp.body.decode().split(), resp)

    path = os.path.join(cdir, "dir", "sub", "hello.txt")
    r.check("object is a plain file", open(path, "rb").read() == small)
    meta = swift_meta(path) or {}
    r.check("its xattr user.swift.metadata has ETag and user metadata",
            meta.get("ETag") == md5(small) and meta.get("X-Object-Meta-Color") == "blue", meta)

    r.status("DELETE object", node.req("DELETE", f"{c}/dir/sub/hello.txt"), 204)
    r.status("GET deleted object", node.req("GET", f"{c}/dir/sub/hello.txt"), 404)
    r.status("HEAD deleted object", node.req("HEAD", f"{c}/dir/sub/hello.txt"), 404)
    r.status("DELETE it again", node.req("DELETE", f"{c}/dir/sub/hello.txt"), 404)
    r.check("listing no longer has it", node.req("GET", c).body.decode().split() == ["a.bin"])
    r.check("its empty parent directories are gone", not os.path.exists(os.path.join(cdir, "dir")))
    r.status("DELETE of a non-empty container", node.req("DELETE", c), 409)
    r.status("DELETE last object", node.req("DELETE", f"{c}/a.bin"), 204)
    r.status("DELETE container", node.req("DELETE", c), 204)
    r.status("HEAD deleted container", node.req("HEAD", c), 404)
    r.check("no temp files left", temp_files(files) == [], temp_files(files))


def two_nodes(r, a, b, files_a, files_b, settle=0.0):
    """Node A and node B serve one volume: each sees the other's writes.

    `settle` seconds are allowed for a change to show on the other node (polled);
    the time it took is printed.
    """
    c = "shared"
    lag = []

    def eventually(desc, fn):
        t0 = time.monotonic()
        while True:
            ok, detail = fn()
            took = time.monotonic() - t0
            if ok or took > settle:
                lag.append(took)
                return r.check(desc, ok, detail)
            time.sleep(0.01)

    r.status("PUT container on A", a.req("PUT", c), 201)
    eventually("B sees the container, with a token from node A",
               lambda: ((s := b.req("HEAD", c, token=a.token).status) == 204, s))

    v1 = b"version one " * 100
    r.status("PUT object on A", a.req("PUT", f"{c}/obj", {"X-Object-Meta-Who": "a"}, v1), 201)

    def b_lists(name, present):
        def probe():
            names = b.req("GET", c).body.decode().split()
            return (name in names) == present, names
        return probe

    eventually("B lists the object", b_lists("obj", True))

    def b_serves(path, data):
        def probe():
            g = b.req("GET", path)
            return g.status == 200 and g.body == data and g.header("etag") == md5(data), g
        return probe

    eventually("B serves it (data and ETag)", b_serves(f"{c}/obj", v1))
    resp = b.req("HEAD", f"{c}/obj")
    r.check("B serves A's user metadata", resp.header("x-object-meta-who") == "a", resp.headers)

    for i in range(2, 7):
        v = f"version {i} ".encode() * (50 * i)
        r.status(f"overwrite on A (version {i})", a.req("PUT", f"{c}/obj", body=v), 201)
        eventually(f"B serves version {i}", b_serves(f"{c}/obj", v))

    direct = b"written as a file on mount A\n"
    d = os.path.join(files_a, "AUTH_test", c, "direct")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "plain.txt"), "wb") as f:
        f.write(direct)
    eventually("B serves a file written directly on mount A (derived metadata)",
               b_serves(f"{c}/direct/plain.txt", direct))
    resp = b.req("HEAD", f"{c}/direct/plain.txt")
    r.check("... with a Content-Type from its extension",
            (resp.header("content-type") or "").startswith("text/plain"), resp.headers)
    def b_lists_direct():
        lst = b.req("GET", f"{c}?format=json").json()
        want = {"bytes": len(direct), "hash": md5(direct)}
        return any(o["name"] == "direct/plain.txt" and o["bytes"] == want["bytes"]
                   and o["hash"] == want["hash"] for o in lst), lst

    eventually("B lists it with its size and MD5", b_lists_direct)
    meta = swift_meta(os.path.join(files_b, "AUTH_test", c, "direct", "plain.txt")) or {}
    r.check("derived metadata is stored in its xattr", meta.get("ETag") == md5(direct), meta)

    r.status("POST metadata on B", b.req("POST", f"{c}/obj", {"X-Object-Meta-Who": "b"}), 202)
    eventually("A sees B's metadata", lambda: (
        (h := a.req("HEAD", f"{c}/obj")).header("x-object-meta-who") == "b", h.headers))

    r.status("DELETE on B", b.req("DELETE", f"{c}/obj"), 204)
    eventually("A no longer serves it", lambda: ((s := a.req("GET", f"{c}/obj").status) == 404, s))
    eventually("A no longer lists it", lambda: (
        (n := a.req("GET", c).body.decode().split()) == ["direct/plain.txt"], n))
    r.check("the file is gone on mount A",
            not os.path.exists(os.path.join(files_a, "AUTH_test", c, "obj")))
    r.status("DELETE the plain file on A", a.req("DELETE", f"{c}/direct/plain.txt"), 204)
    r.status("DELETE container on B", b.req("DELETE", c), 204)
    eventually("A sees the container gone", lambda: ((s := a.req("HEAD", c).status) == 404, s))
    r.check("no temp files left", temp_files(files_a) == [], temp_files(files_a))
    if lag:
        print(f"    cross-node visibility: max {max(lag) * 1000:.1f} ms over {len(lag)} probes")


# --- the shared tree is hostile ------------------------------------------------------------------

OUTSIDE = b"root:x:0:0:a file outside the device\n"
OUTSIDE_SECRET = b"a secret file outside the device\n"
PRIVATE = b"another account's private object\n"


def fingerprint(root):
    """Names, kinds, modes, sizes, inodes, mtimes, contents and user xattrs of a tree
    (symlinks not followed, FIFOs and devices never opened)."""
    out = []
    for d, dirs, files in os.walk(root, followlinks=False):
        for n in sorted(dirs + files):
            p = os.path.join(d, n)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    content = md5(f.read())
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(p)
            else:
                content = "-"
            try:
                xa = sorted((k, os.getxattr(p, k, follow_symlinks=False))
                            for k in os.listxattr(p, follow_symlinks=False) if k.startswith("user."))
            except OSError:
                xa = []
            out.append((os.path.relpath(p, root), st.st_mode, st.st_size, st.st_ino,
                        st.st_mtime_ns, content, xa))
    return sorted(out)


def _no_leak(resp):
    return not any(s in resp.body for s in (OUTSIDE, OUTSIDE_SECRET, PRIVATE))


def hostile_tree(r, node, plant, settle=0.0):
    """Things planted on the shared tree with ordinary system calls (`plant` is the tree as
    another user of the volume sees it) never lead `node` outside the container, block it,
    or let one account change another's objects."""
    c = "hostile"
    r.status("PUT container", node.req("PUT", c), 201)
    r.status("PUT an object beside what is planted", node.req("PUT", f"{c}/real", body=b"real"), 201)
    out = os.path.join(os.path.dirname(os.path.abspath(plant)), f"outside-{node.name}")
    os.makedirs(os.path.join(out, "dir"), exist_ok=True)
    with open(os.path.join(out, "passwd"), "wb") as f:
        f.write(OUTSIDE)
    with open(os.path.join(out, "dir", "secret"), "wb") as f:
        f.write(OUTSIDE_SECRET)
    other = os.path.join(plant, "AUTH_other")
    os.makedirs(os.path.join(other, "priv"), exist_ok=True)
    secret = os.path.join(other, "priv", "secret")
    with open(secret, "wb") as f:
        f.write(PRIVATE)
    cdir = os.path.join(plant, "AUTH_test", c)
    os.symlink(os.path.join(out, "passwd"), os.path.join(cdir, "abs"))
    os.symlink("../../AUTH_other/priv/secret", os.path.join(cdir, "rel"))
    os.symlink(os.path.join(out, "dir"), os.path.join(cdir, "d"))
    os.symlink("../../AUTH_other/priv", os.path.join(cdir, "x"))
    os.mkfifo(os.path.join(cdir, "fifo"))
    specials = ["fifo"]
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(os.path.join(cdir, "sock"))
        specials.append("sock")
    except OSError as e:
        print(f"    (no socket file on this mount: {e})")
    try:
        os.mknod(os.path.join(cdir, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        specials.append("null")
    except OSError as e:
        print(f"    (no device node on this mount: {e})")
    os.link(secret, os.path.join(cdir, "hl"))
    before = fingerprint(out) + fingerprint(other)
    time.sleep(settle)

    for name in ("abs", "rel"):
        for m in ("GET", "HEAD", "POST", "DELETE"):
            resp = node.req(m, f"{c}/{name}")
            r.check(f"{m} of a symlink to a file outside ({name}) -> 404, nothing leaked",
                    resp.status == 404 and _no_leak(resp), resp)
        r.status(f"PUT over the symlink {name}", node.req("PUT", f"{c}/{name}", body=b"x"), 409)
        r.check(f"... {name} is still the symlink",
                os.path.islink(os.path.join(cdir, name)))
    for name in ("d/secret", "x/secret"):
        for m in ("GET", "HEAD", "DELETE"):
            resp = node.req(m, f"{c}/{name}")
            r.check(f"{m} through a symlinked directory ({name}) -> 404, nothing leaked",
                    resp.status == 404 and _no_leak(resp), resp)
        d = name.split("/")[0]
        r.status(f"PUT through the symlinked directory {d}",
                 node.req("PUT", f"{c}/{d}/new", body=b"x"), 409)
    for q in ("", "?format=json"):
        resp = node.req("GET", c + q)
        names = [o["name"] for o in resp.json()] if q else resp.body.decode().split()
        r.check(f"listing{q or ' (plain)'} shows only regular files", names == ["hl", "real"],
                names)
    resp = node.req("GET", f"{c}?prefix=d/")
    r.check("listing under a symlinked directory is empty", resp.status == 204, resp)

    # A FIFO: GETs of it never hold a worker; the server keeps answering.
    results = []
    getters = [threading.Thread(target=lambda: results.append(node.req("GET", f"{c}/fifo").status))
               for _ in range(16)]
    for t in getters:
        t.start()
    slowest = 0.0
    for _ in range(5):
        t0 = time.monotonic()
        resp = http(node.addr, "GET", "/healthcheck")
        slowest = max(slowest, time.monotonic() - t0)
        r.check("/healthcheck answers while 16 GETs of a FIFO run", resp.status == 200, resp)
    for t in getters:
        t.join(30)
    r.check(f"... within 100 ms (slowest {slowest * 1000:.1f} ms)", slowest < 0.1, slowest)
    r.check("16 GETs of the FIFO -> 404", results == [404] * 16, results)
    for name in specials:
        for m in ("GET", "HEAD", "DELETE"):
            r.status(f"{m} of a special file ({name})", node.req(m, f"{c}/{name}"), 404)
        r.status(f"PUT over a special file ({name})", node.req("PUT", f"{c}/{name}", body=b"x"), 409)

    # A hard link into another account: read as its maker chose, never changed through it.
    resp = node.req("GET", f"{c}/hl")
    r.check("GET of a hard link made on the mount reads it", resp.status == 200 and resp.body == PRIVATE,
            resp)
    r.status("POST to the hard-linked file", node.req("POST", f"{c}/hl", {"X-Object-Meta-A": "1"}), 409)
    r.status("PUT over the hard link", node.req("PUT", f"{c}/hl", body=b"replaced"), 201)
    r.status("DELETE it", node.req("DELETE", f"{c}/hl"), 204)
    r.check("the other account's file is unchanged", open(secret, "rb").read() == PRIVATE)
    resp = node.req("HEAD", c)
    r.check("the container counts only its real object",
            resp.header("x-container-object-count") == "1", resp.headers)
    r.check("nothing outside the container changed", fingerprint(out) + fingerprint(other) == before)
    sock.close()
    for name in ["abs", "rel", "d", "x"] + specials:
        os.unlink(os.path.join(cdir, name))
    r.status("DELETE the object", node.req("DELETE", f"{c}/real"), 204)
    time.sleep(settle)
    r.status("DELETE the container once the planted things are gone", node.req("DELETE", c), 204)


def index_then_list(r, node, plant, sofgate_bin, settle=0.0, fs=None):
    """`sofgate index` on files copied in; a listing afterwards shows every true MD5 (and, with
    testfs counters, reads no file data)."""
    c = "indexed"
    r.status("PUT container", node.req("PUT", c), 201)
    cdir = os.path.join(plant, "AUTH_test", c)
    want = {}
    for i in range(20):
        name = f"copied/{i % 4}/f{i:02}.bin"
        data = os.urandom(1000 + i * 5000)
        os.makedirs(os.path.dirname(os.path.join(cdir, name)), exist_ok=True)
        with open(os.path.join(cdir, name), "wb") as f:
            f.write(data)
        want[name] = md5(data)
    if fs:
        # The counter does count: a listing of a file without metadata reads it.
        r.status("PUT container", node.req("PUT", "probe"), 201)
        probe = os.path.join(plant, "AUTH_test", "probe", "new")
        with open(probe, "wb") as f:
            f.write(b"x" * 10000)
        time.sleep(0.2)
        fs.control("reset")
        node.req("GET", "probe?format=json")
        read = fs.counters().get("read_bytes")
        r.check(f"a listing hashing a new file reads it (read_bytes {read})", read >= 10000, read)
        os.unlink(probe)
        node.req("DELETE", "probe")
    time.sleep(settle)
    run = subprocess.run([sofgate_bin, "index", "--config", node.config, "--json", f"AUTH_test/{c}"],
                         capture_output=True, timeout=120)
    r.check("sofgate index exits 0", run.returncode == 0, run)
    summary = json.loads(run.stdout or b"{}")
    r.check("... and indexed all 20 files", summary.get("indexed") == 20, summary)
    if fs:
        time.sleep(0.2)
        fs.control("reset")
    resp = node.req("GET", f"{c}?format=json")
    got = {o["name"]: o["hash"] for o in resp.json()}
    r.check("the listing afterwards has every true MD5", got == want, got)
    if fs:
        read = fs.counters().get("read_bytes")
        r.check(f"... and read no file data (read_bytes {read})", read == 0, read)
    for name in want:
        node.req("DELETE", f"{c}/{name}")
    r.status("DELETE container", node.req("DELETE", c), 204)


def conditional_create_race(r, a, b, files, rounds=20, size=256 * 1024):
    """Nodes A and B PUT the same new name with If-None-Match: * at the same moment,
    `rounds` times: each time exactly one gets 201, the other 412, and the name then holds
    the winner's data (both nodes serve it); `files` is where the volume's files are seen.
    The body is large enough that both requests
    are past any existence check before either finishes."""
    c = "race"
    r.status("PUT container", a.req("PUT", c), 201)
    bad = []
    for i in range(rounds):
        name = f"{c}/new-{i}"
        bodies = {a: os.urandom(size), b: os.urandom(size)}
        got = at_once(a, b, lambda n: n.req("PUT", name, {"If-None-Match": "*"}, bodies[n]))
        statuses = sorted(got[n].status for n in got)
        winners = [n for n in got if got[n].status == 201]
        if statuses != [201, 412]:
            bad.append((i, "statuses", statuses))
            continue
        for node in (a, b):
            g = node.req("GET", name)
            if g.body != bodies[winners[0]] or g.header("etag") != md5(bodies[winners[0]]):
                bad.append((i, f"{node.name} serves", g.status, g.header("etag")))
    r.check(f"If-None-Match: * from two nodes at once, {rounds} times: one 201 and one 412 "
            "each time, and the winner's data served by both", not bad, bad[:6])
    if bad:
        print(f"    {len(bad)} of {rounds} rounds wrong: {bad[:10]}")
    lst = a.req("GET", c).body.decode().split()
    for n in lst:
        a.req("DELETE", f"{c}/{n}")
    r.status("DELETE container", a.req("DELETE", c), 204)
    r.check("no temp files left", temp_files(files) == [], temp_files(files))


def at_once(a, b, fn):
    """`fn(node)` for nodes A and B from two threads released together: {node: result}."""
    got = {}
    start = threading.Barrier(2)

    def run(node):
        start.wait(10)
        got[node] = fn(node)

    threads = [threading.Thread(target=run, args=(n,)) for n in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return got


def s3_conditional_races(r, a, b, files, rounds=8, size=256 * 1024):
    """The S3 door's conditional writes from nodes A and B at once, `rounds` times each:
    PutObject with `If-None-Match: *` of a new key, PutObject with `If-Match` on the ETag
    both read, and CompleteMultipartUpload with `If-None-Match: *` of two uploads of one
    key, one begun on each node. Each time exactly one 200 and one 412, and both nodes then
    serve the winner's bytes."""
    bucket = "s3race"
    r.status("CreateBucket on A", a.s3("PUT", bucket), 200)
    bad = {"create": [], "replace": [], "complete": []}

    def status(g):
        # A Complete past its grace period reports an error in a 200's body.
        if g.status == 200 and b"<Error>" in g.body:
            return 412 if b"<Code>PreconditionFailed</Code>" in g.body else 500
        return g.status

    def judge(kind, i, key, got, bodies):
        statuses = sorted(status(g) for g in got.values())
        if statuses != [200, 412]:
            bad[kind].append((i, statuses, [g.body[:120] for g in got.values()]))
            return
        won = bodies[next(n for n in got if status(got[n]) == 200)]
        for node in (a, b):
            g = node.s3("GET", key)
            if g.status != 200 or g.body != won:
                bad[kind].append((i, f"{node.name} serves", g.status, len(g.body)))

    def upload(node, key, body):
        begun = node.s3("POST", key, query=[("uploads", "")])
        found = re.search(rb"<UploadId>([^<]+)</UploadId>", begun.body)
        if begun.status != 200 or not found:
            raise RuntimeError(f"CreateMultipartUpload on {node.name}: {begun}")
        uid = found.group(1).decode()
        part = node.s3("PUT", key, body=body, query=[("partNumber", "1"), ("uploadId", uid)])
        xml = (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
               f"<ETag>{part.header('etag')}</ETag></Part></CompleteMultipartUpload>")
        return uid, xml.encode()

    for i in range(rounds):
        key = f"{bucket}/k{i}"
        bodies = {a: os.urandom(size), b: os.urandom(size)}
        got = at_once(a, b, lambda n: n.s3("PUT", key, {"If-None-Match": "*"}, bodies[n]))
        judge("create", i, key, got, bodies)
        etag = a.s3("HEAD", key).header("etag")
        bodies = {a: os.urandom(size), b: os.urandom(size)}
        got = at_once(a, b, lambda n: n.s3("PUT", key, {"If-Match": etag}, bodies[n]))
        judge("replace", i, key, got, bodies)
        key = f"{bucket}/mpu{i}"
        bodies = {a: os.urandom(size), b: os.urandom(size)}
        ups = {n: upload(n, key, bodies[n]) for n in (a, b)}
        got = at_once(a, b, lambda n: n.s3("POST", key, {"If-None-Match": "*"}, ups[n][1],
                                           query=[("uploadId", ups[n][0])]))
        judge("complete", i, key, got, bodies)
        for n, (uid, _) in ups.items():
            if got.get(n) is None or status(got[n]) != 200:
                n.s3("DELETE", key, query=[("uploadId", uid)])
    for kind, what in (("create", "PutObject If-None-Match: *"),
                       ("replace", "PutObject If-Match on the ETag both read"),
                       ("complete", "CompleteMultipartUpload If-None-Match: *")):
        r.check(f"S3 {what} from two nodes at once, {rounds} times: one 200 and one 412 "
                "each time, and the winner's bytes served by both", not bad[kind], bad[kind][:4])
    for i in range(rounds):
        for key in (f"{bucket}/k{i}", f"{bucket}/mpu{i}"):
            a.s3("DELETE", key)
    r.status("DeleteBucket", a.s3("DELETE", bucket), 204)
    r.check("no temp files left", temp_files(files) == [], temp_files(files))


def slow_put_begin(node, path, first, total):
    """Begins a PUT of `total` bytes on `node` with only `first` sent; the socket."""
    sock = socket.create_connection(node.addr, timeout=30)
    head = (f"PUT /v1/AUTH_test/{path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {node.token}\r\n"
            f"Content-Length: {total}\r\nConnection: close\r\n\r\n")
    sock.sendall(head.encode() + first)
    return sock


def slow_put_end(sock, rest):
    """Sends the rest of a body begun by slow_put_begin; the response's status."""
    sock.sendall(rest)
    buf = b""
    while b"\r\n" not in buf:
        got = sock.recv(4096)
        if not got:
            break
        buf += got
    sock.close()
    return int(buf.split(b" ", 2)[1]) if buf.startswith(b"HTTP/") else 0


def delete_put_race(r, a, b, rounds=5):
    """An upload begins on node A; node B then DELETEs the object of that name and answers
    204; A's upload completes after the DELETE: it began before the DELETE, so it is dropped
    with a 202 (the tombstone B left, read through A's own mount) and neither node serves it.
    A PUT that begins after the DELETE is not held back."""
    c = "tombstone"
    r.status("PUT container", a.req("PUT", c), 201)
    bad = []
    for i in range(rounds):
        name = f"{c}/obj{i}"
        b.req("PUT", name, body=b"first")
        old = os.urandom(64 * 1024)
        sock = slow_put_begin(a, name, old[:1024], len(old))
        time.sleep(0.05)
        del_b = b.req("DELETE", name)
        status_a = slow_put_end(sock, old[1024:])
        gone = [node.req("GET", name).status == 404 for node in (a, b)]
        if del_b.status != 204 or status_a != 202 or not all(gone):
            bad.append((i, del_b.status, status_a, gone))
    r.check(f"an upload on A that began before B's DELETE and completes after it, {rounds} "
            "times: DELETE 204, the upload 202, the object gone on both nodes", not bad, bad)
    later = a.req("PUT", f"{c}/obj0", body=b"later")
    r.status("a PUT on A that began after the DELETE creates the object", later, 201)
    r.check("... and node B serves it", b.req("GET", f"{c}/obj0").body == b"later")
    for i in range(rounds):
        a.req("DELETE", f"{c}/obj{i}")
    r.status("DELETE container", a.req("DELETE", c), 204)


def newest_wins_race(r, a, b, rounds=5, s3=False):
    """An upload begins on node A (through S3 with `s3`); a later PUT of the same name on node
    B completes first; then A's completes. A's is dropped and both nodes serve B's data, every
    round; A is told 202 through Swift (Swift's answer) and 200 through S3 (S3 answers both
    writes of such a race with 200 and keeps the newer; Swift's s3api passes its proxy's 202
    on as 200)."""
    c = "s3newest" if s3 else "newest"
    r.status("PUT container", a.req("PUT", c), 201)
    name, bad, want = f"{c}/obj", [], 200 if s3 else 202
    for i in range(rounds):
        old, new = os.urandom(256 * 1024), os.urandom(1000 + i)
        begin = a.s3_begin_put if s3 else functools.partial(slow_put_begin, a)
        sock = begin(name, old[:1024], len(old))
        time.sleep(0.05)
        put_b = b.req("PUT", name, body=new)
        status_a = slow_put_end(sock, old[1024:])
        served = [node.req("GET", name).body == new for node in (a, b)]
        if put_b.status != 201 or status_a != want or not all(served):
            bad.append((i, put_b.status, status_a, served))
    r.check(f"an older upload on A{' through S3' if s3 else ''} finishing after a newer one on "
            f"B, {rounds} times: A gets {want} and both nodes serve B's data", not bad, bad)
    a.req("DELETE", name)
    r.status("DELETE container", a.req("DELETE", c), 204)
