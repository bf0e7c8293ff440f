#!/usr/bin/env python3
"""sofgate over HTTP on a real GlusterFS volume mounted twice (node A on one
mount, node B on the other): ordinary API use, the node-A/node-B checks, a
hostile tree planted through mount B, `sofgate index`,
read-after-write across the nodes, and metadata at the ext4 brick's xattr limit.

Usage: gluster_suite.py SOFGATE_BIN MOUNT_A MOUNT_B (with MT_WORK set; run.sh
brings the volume up with scripts/gluster-up.sh and passes the mounts).
"""

import os
import sys

import checks
from harness import Sofgate, main, swift_meta, temp_files

if len(sys.argv) != 4:
    sys.exit(__doc__)
BIN, MOUNT_A, MOUNT_B = sys.argv[1:]
# An ext4 brick holds about 3.8 KB of xattrs per file beside gluster's own.
XATTR_CHUNK = 3800


def read_after_write(r, a, b):
    """Every version PUT on A is the one B serves right after (no retry)."""
    r.status("PUT container", a.req("PUT", "raw"), 201)
    stale = []
    for i in range(20):
        v = f"v{i} ".encode() * (100 + i)
        a.req("PUT", "raw/obj", body=v)
        g = b.req("GET", "raw/obj")
        if g.status != 200 or g.body != v:
            stale.append((i, g.status, g.body[:12]))
    r.check("B serves each of 20 successive versions PUT on A at once", not stale, stale)
    a.req("DELETE", "raw/obj")
    g = b.req("GET", "raw/obj")
    r.check("B answers 404 right after a DELETE on A", g.status == 404, g)
    r.status("DELETE container", a.req("DELETE", "raw"), 204)


def big_metadata(r, a, b):
    c = "meta"
    r.status("PUT container", a.req("PUT", c), 201)
    fits = {f"X-Object-Meta-K{i:02}": "v" * 200 for i in range(14)}  # ~3.2 KB of JSON
    r.status("PUT with ~3 KB of user metadata", a.req("PUT", f"{c}/o", fits, b"data"), 201)
    h = b.req("HEAD", f"{c}/o")
    r.check("B serves all of it", all(h.header(k) == v for k, v in fits.items()), h.headers)
    obj = os.path.join(MOUNT_A, "AUTH_test", c, "o")
    meta = swift_meta(obj) or {}
    r.check("... from the xattr itself", meta.get("X-Object-Meta-K13") == "v" * 200, meta)
    # ~4.2 KB in two chunks: the second does not fit beside gluster's own xattrs (ENOSPC).
    over = {f"X-Object-Meta-K{i:02}": "w" * 200 for i in range(19)}
    resp = a.req("PUT", f"{c}/o", over, b"new data")
    r.status("PUT with ~4 KB of user metadata (past the ext4 brick's xattr room)", resp, 201)
    h = b.req("GET", f"{c}/o")
    r.check("B serves the data and all of the metadata",
            h.body == b"new data" and all(h.header(k) == v for k, v in over.items()), h)
    sidecar = os.path.join(os.path.dirname(obj), ".o.sgmeta")
    r.check("... kept in a sidecar file", os.path.exists(sidecar), os.listdir(os.path.dirname(obj)))
    r.check("the sidecar is not listed", b.req("GET", c).body.decode().split() == ["o"])
    r.status("DELETE object on B", b.req("DELETE", f"{c}/o"), 204)
    # Checked on B's mount: A's kernel keeps a stat of the deleted name for up to 1 s.
    r.check("... removes the sidecar too",
            not os.path.exists(os.path.join(MOUNT_B, "AUTH_test", c, ".o.sgmeta")))
    r.status("DELETE container", a.req("DELETE", c), 204)
    r.check("no temp files left", temp_files(MOUNT_A) == [], temp_files(MOUNT_A))


def suite(r):
    a = Sofgate(BIN, "gluster-node-a", MOUNT_A, mount_check=True, xattr_chunk=XATTR_CHUNK)
    b = Sofgate(BIN, "gluster-node-b", MOUNT_B, mount_check=True, xattr_chunk=XATTR_CHUNK)
    print(f"# node A http://{a.addr[0]}:{a.addr[1]} on {MOUNT_A}, "
          f"node B http://{b.addr[0]}:{b.addr[1]} on {MOUNT_B}")
    with r.section("ordinary API use on node A (GlusterFS)"):
        checks.ordinary_api(r, a, MOUNT_A)
    with r.section("node A and node B on two GlusterFS mounts"):
        checks.two_nodes(r, a, b, MOUNT_A, MOUNT_B, settle=2.0)
    with r.section("conditional create (If-None-Match: *) racing from node A and node B"):
        checks.conditional_create_race(r, a, b, MOUNT_A)
    with r.section("S3 conditional writes racing from node A and node B"):
        checks.s3_conditional_races(r, a, b, MOUNT_A)
    with r.section("newest write wins: an older upload on A finishing after a newer one on B"):
        checks.newest_wins_race(r, a, b)
        checks.newest_wins_race(r, a, b, rounds=3, s3=True)
    with r.section("DELETE vs PUT: an upload on A that began before a DELETE on B"):
        checks.delete_put_race(r, a, b)
    with r.section("the shared tree is hostile (planted through mount B, served by node A)"):
        checks.hostile_tree(r, a, MOUNT_B, settle=1.5)
    with r.section("sofgate index on files copied in through mount B"):
        checks.index_then_list(r, a, MOUNT_B, BIN, settle=1.5)
    with r.section("read-after-write across the nodes"):
        read_after_write(r, a, b)
    with r.section("metadata and the ext4 brick's xattr room"):
        big_metadata(r, a, b)
    for node in (a, b):
        r.check(f"sofgate {node.name} still running", node.proc.poll() is None, node.log())


if __name__ == "__main__":
    sys.exit(main(suite))
