"""Checks shared by the testfs and GlusterFS suites: ordinary API use on one
node, and two nodes (two mounts of one volume, one sofgate on each)."""

import os
import time

from harness import md5, swift_meta, temp_files


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
