#!/usr/bin/env bash
# Smoke test of the testfs FUSE filesystem: builds it, mounts one backing directory at two
# mountpoints (two "nodes" sharing a volume) and checks it with ordinary tools.
# Needs root, /dev/fuse and fusermount3 (Debian package fuse3). Prints "N passed, M failed".
set -u

HERE="$(cd "$(dirname "$0")/.." && pwd)"
cd "$HERE" || exit 1
if [ -z "${SOFGATE_BIN:-}" ]; then
  cargo build --release --quiet || { echo "build failed"; exit 1; }
  SOFGATE_BIN="$HERE/target/release/sofgate"
fi
BIN="$SOFGATE_BIN"

WORK="$(mktemp -d /tmp/testfs-smoke.XXXXXX)"
B="$WORK/backing"; M1="$WORK/m1"; M2="$WORK/m2"
mkdir -p "$B" "$M1" "$M2"
chmod 0755 "$WORK"   # so the uid-1234 check below can reach the mounts
CTL1="$M1/.testfs-control"; CTL2="$M2/.testfs-control"
PID1=""; PID2=""

is_mounted() { grep -qs " $1 fuse" /proc/self/mounts; }   # no filesystem access: safe during a hang
cleanup() {
    # Release a hang first (the control file still answers during one), then unmount lazily.
    for c in "$CTL1" "$CTL2"; do timeout 2 sh -c "echo clear > '$c'" 2>/dev/null; done
    for m in "$M1" "$M2"; do
        if is_mounted "$m"; then
            fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
        fi
    done
    for p in $PID1 $PID2; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASSED=0; FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1"; }
# check DESCRIPTION COMMAND...: passes if the command succeeds (programs are limited to 20 s).
check() {
    local d="$1"; shift
    local run=(timeout 20)
    case "$(type -t "$1")" in function|builtin) run=() ;; esac
    if "${run[@]}" "$@"; then pass "$d"; else fail "$d"; fi
}
# py DESCRIPTION <<'EOF' ... EOF: passes if the Python snippet (run with M1 M2 B CTL1 CTL2 in env) exits 0.
py() { local d="$1"; if timeout 30 env M1="$M1" M2="$M2" B="$B" CTL1="$CTL1" CTL2="$CTL2" python3 -; then pass "$d"; else fail "$d"; fi; }
counter() { awk -v n="$2" '$1 == n { print $2 }' "$1"; }
wait_mounted() {
    for _ in $(seq 100); do [ -e "$1/.testfs-control" ] && return 0; sleep 0.05; done
    return 1
}

"$BIN" testfs --backing "$B" --xattr-room 4096 "$M1" & PID1=$!
# Mount 2 gets a small xattr room so the exact limit can be tested below the backing ext4's own.
"$BIN" testfs --backing "$B" --xattr-room 1000 "$M2" & PID2=$!
check "mount 1 comes up" wait_mounted "$M1"
check "mount 2 comes up" wait_mounted "$M2"
[ "$FAILED" -eq 0 ] || { echo "$PASSED passed, $FAILED failed"; exit 1; }

# --- plain file and directory operations -------------------------------------------------------
echo hello > "$M1/a.txt"
check "echo > creates a file, cat reads it" test "$(cat "$M1/a.txt")" = hello
check "file lands in the backing dir" test "$(cat "$B/a.txt")" = hello
check "second mount sees it at once" test "$(cat "$M2/a.txt")" = hello
echo world >> "$M2/a.txt"
check "append via mount 2 seen by mount 1" test "$(cat "$M1/a.txt")" = "$(printf 'hello\nworld')"
head -c 300000 /dev/urandom > "$WORK/big"
cp "$WORK/big" "$M1/big"
check "cp of a 300 KB file round-trips" cmp "$WORK/big" "$M2/big"
echo edited > "$M1/a.txt"
check "echo > overwrites (O_TRUNC)" test "$(cat "$M2/a.txt")" = edited
echo old > "$M1/target"; echo new > "$M1/source"
mv "$M1/source" "$M1/target"
check "mv over an existing file replaces it" test "$(cat "$M1/target")" = new
check "... and the source is gone" test ! -e "$M1/source"
check "... visible on mount 2 immediately" test "$(cat "$M2/target")" = new
mv "$M2/target" "$M2/renamed"
check "rename on mount 2 visible on mount 1 immediately (new name)" test "$(cat "$M1/renamed")" = new
check "rename on mount 2 visible on mount 1 immediately (old name gone)" test ! -e "$M1/target"
check "mkdir -p" mkdir -p "$M1/d1/sub"
check "mkdir visible on mount 2" test -d "$M2/d1/sub"
check "rmdir" rmdir "$M1/d1/sub"
check "rmdir visible on mount 2" test ! -e "$M2/d1/sub"
check "rmdir of non-empty dir fails" bash -c "echo x > '$M1/d1/f'; ! rmdir '$M1/d1' 2>/dev/null"
truncate -s 2 "$M1/a.txt"
check "truncate -s 2" test "$(stat -c %s "$B/a.txt")" = 2
chmod 0640 "$M1/a.txt"
check "chmod 0640" test "$(stat -c %a "$B/a.txt")" = 640
touch -d "2001-02-03 04:05:06 UTC" "$M1/a.txt"
check "touch -d sets mtime" test "$(stat -c %Y "$M2/a.txt")" = 981173106
check "ls lists files, hides the control file" bash -c "ls -a '$M1' | grep -qx a.txt && ! ls -a '$M1' | grep -q testfs-control"
check "control file is not in the backing dir" test ! -e "$B/.testfs-control"
check "rm" bash -c "rm '$M1/big' && test ! -e '$M2/big' && test ! -e '$B/big'"
check "file created by uid 1234 is owned by it" bash -c "setpriv --reuid=1234 --regid=1234 --clear-groups touch '$M1/owned' && test \"\$(stat -c %u:%g '$B/owned')\" = 1234:1234"
check "umask-free mode on create" bash -c "(umask 002; mkdir '$M1/grp'); test \"\$(stat -c %a '$B/grp')\" = 775"
df "$M1" >/dev/null && pass "statfs (df)" || fail "statfs (df)"

py "open handles survive renames of their directory; truncate through fh; fsync" <<'EOF'
import os
m1, b = os.environ["M1"], os.environ["B"]
os.makedirs(f"{m1}/p/q")
fd = os.open(f"{m1}/p/q/f", os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, b"abcdef")
os.rename(f"{m1}/p", f"{m1}/p2")
assert open(f"{m1}/p2/q/f", "rb").read() == b"abcdef"
assert os.listdir(f"{m1}/p2/q") == ["f"]
os.pwrite(fd, b"XY", 0)
os.ftruncate(fd, 4)
os.fsync(fd)
assert os.fstat(fd).st_size == 4
os.close(fd)
assert open(f"{b}/p2/q/f", "rb").read() == b"XYcd"
os.unlink(f"{m1}/p2/q/f")
fd = os.open(f"{m1}/p2/q/g", os.O_CREAT | os.O_RDWR, 0o644)
os.unlink(f"{m1}/p2/q/g")
os.write(fd, b"still works")
assert os.fstat(fd).st_size == 11
os.setxattr(fd, "user.k", b"v")
assert os.getxattr(fd, "user.k") == b"v" and os.listxattr(fd) == ["user.k"]
os.fchmod(fd, 0o600)
assert os.fstat(fd).st_mode & 0o777 == 0o600
os.close(fd)
EOF

py "rename flags: RENAME_NOREPLACE and RENAME_EXCHANGE" <<'EOF'
import ctypes, errno, os
m1 = os.environ["M1"]
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, NOREPLACE, EXCHANGE = -100, 1, 2
for n, v in (("x", b"1"), ("y", b"2")):
    open(f"{m1}/{n}", "wb").write(v)
r = libc.renameat2(AT_FDCWD, f"{m1}/x".encode(), AT_FDCWD, f"{m1}/y".encode(), NOREPLACE)
assert r == -1 and ctypes.get_errno() == errno.EEXIST, (r, ctypes.get_errno())
r = libc.renameat2(AT_FDCWD, f"{m1}/x".encode(), AT_FDCWD, f"{m1}/y".encode(), EXCHANGE)
assert r == 0, ctypes.get_errno()
assert open(f"{m1}/x", "rb").read() == b"2" and open(f"{m1}/y", "rb").read() == b"1"
EOF

# --- xattrs ----------------------------------------------------------------------------------------
py "xattrs: set/get/list/remove, ENODATA, size query, ERANGE, CREATE/REPLACE, cross-mount" <<'EOF'
import ctypes, errno, os
m1, m2 = os.environ["M1"], os.environ["M2"]
p = f"{m1}/x"
def fails(err, f, *a):
    try:
        f(*a)
    except OSError as e:
        assert e.errno == err, (e, err)
    else:
        raise AssertionError(f"{f.__name__}{a} did not fail")
fails(errno.ENODATA, os.getxattr, p, "user.missing")
os.setxattr(p, "user.etag", b"0123456789abcdef")
assert os.getxattr(p, "user.etag") == b"0123456789abcdef"
assert os.getxattr(f"{m2}/x", "user.etag") == b"0123456789abcdef", "seen on mount 2"
assert "user.etag" in os.listxattr(p)
fails(errno.EEXIST, os.setxattr, p, "user.etag", b"v", os.XATTR_CREATE)
fails(errno.ENODATA, os.setxattr, p, "user.none", b"v", os.XATTR_REPLACE)
os.setxattr(p, "user.etag", b"new", os.XATTR_REPLACE)
os.setxattr(p, "user.fresh", b"v", os.XATTR_CREATE)
libc = ctypes.CDLL(None, use_errno=True)
libc.getxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
libc.listxattr.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
assert libc.getxattr(p.encode(), b"user.etag", None, 0) == 3, "size query"
buf = ctypes.create_string_buffer(2)
assert libc.getxattr(p.encode(), b"user.etag", buf, 2) == -1 and ctypes.get_errno() == errno.ERANGE
assert libc.getxattr(p.encode(), b"user.missing", None, 0) == -1 and ctypes.get_errno() == errno.ENODATA
need = libc.listxattr(p.encode(), None, 0)
assert need == len(b"user.etag\0user.fresh\0"), need
assert libc.listxattr(p.encode(), buf, 2) == -1 and ctypes.get_errno() == errno.ERANGE
os.removexattr(f"{m2}/x", "user.fresh")
fails(errno.ENODATA, os.getxattr, p, "user.fresh")
fails(errno.ENODATA, os.removexattr, p, "user.fresh")
d = f"{m1}/d1"
os.setxattr(d, "user.dir", b"1")
assert os.getxattr(d, "user.dir") == b"1"
EOF

py "xattr room 1000 (mount 2): ENOSPC past the limit, exact fit and replacing within it are fine" <<'EOF'
import errno, os
m1, m2 = os.environ["M1"], os.environ["M2"]
p = f"{m2}/roomy"
open(p, "wb").close()
def enospc(name, value):
    try:
        os.setxattr(p, name, value)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    else:
        raise AssertionError(f"no ENOSPC for {name}={len(value)} bytes")
os.setxattr(p, "user.a", b"x" * 500)          # 6 + 1 + 500 = 507
enospc("user.b", b"y" * 494)                  # 507 + 501 > 1000
os.setxattr(p, "user.b", b"y" * 486)          # 507 + 493 = 1000 exactly
os.setxattr(p, "user.a", b"z" * 400)          # replacing shrinks
os.setxattr(p, "user.a", b"z" * 500)          # and grows back to exactly 1000
enospc("user.a", b"z" * 501)
os.setxattr(p, "trusted.other", b"t" * 600)   # only user.* counts
os.removexattr(p, "user.b")
os.setxattr(p, "user.c", b"c" * 486)          # room freed by removexattr
assert os.getxattr(f"{m1}/roomy", "user.c") == b"c" * 486
# Mount 1 has room 4096: a file cannot hold more than that in user.* xattrs.
q = f"{m1}/roomy4k"
open(q, "wb").close()
os.setxattr(q, "user.a", b"x" * 3000)
try:
    os.setxattr(q, "user.b", b"y" * 1100)
except OSError as e:
    assert e.errno == errno.ENOSPC, e
else:
    raise AssertionError("no ENOSPC at 4096")
EOF

# --- control file ----------------------------------------------------------------------------------
py "counters count requests and reset zeroes them" <<'EOF'
import os
m1, ctl = os.environ["M1"], os.environ["CTL1"]
def counters():
    return {k: int(v) for k, v in (l.split() for l in open(ctl).read().splitlines())}
before = counters()
for _ in range(5):
    try:
        os.getxattr(f"{m1}/x", "user.nope")
    except OSError:
        pass
after = counters()
assert after["getxattr"] >= before["getxattr"] + 5, (before["getxattr"], after["getxattr"])
assert counters()["getxattr"] == after["getxattr"], "reading the control file is not counted"
for name in ("lookup", "getattr", "setattr", "open", "create", "read", "write", "fsync", "rename",
             "unlink", "mkdir", "rmdir", "readdir", "getxattr", "setxattr", "listxattr",
             "removexattr", "statfs"):
    assert name in after, name
assert after["write"] > 0 and after["rename"] > 0 and after["setxattr"] > 0, after
open(ctl, "w").write("reset\n")
assert counters()["getxattr"] == 0
EOF
check "bad control command is refused (EINVAL)" bash -c "! echo 'frobnicate' > '$CTL1' 2>/dev/null"

echo enospc_now > "$CTL1"
check "enospc_now: write fails with ENOSPC" bash -c "! echo data > '$M1/full' 2>'$WORK/err' && grep -q 'No space left' '$WORK/err'"
check "enospc is per mount (mount 2 still writes)" bash -c "echo data > '$M2/full2'"
echo clear > "$CTL1"
check "after clear writes work again" bash -c "echo data > '$M1/full'"
echo "enospc_after 10" > "$CTL1"
py "enospc_after 10: a short write, then ENOSPC" <<'EOF'
import errno, os
fd = os.open(f"{os.environ['M1']}/partial", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
assert os.write(fd, b"12345678") == 8
assert os.write(fd, b"abcdef") == 2
try:
    os.write(fd, b"z")
except OSError as e:
    assert e.errno == errno.ENOSPC, e
else:
    raise AssertionError("no ENOSPC")
os.close(fd)
assert open(f"{os.environ['B']}/partial", "rb").read() == b"12345678ab"
EOF
echo clear > "$CTL1"

echo "eio fsync" > "$CTL1"
py "eio fsync: fsync fails with EIO, writes still work" <<'EOF'
import errno, os
fd = os.open(f"{os.environ['M1']}/synced", os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b"data")
try:
    os.fsync(fd)
except OSError as e:
    assert e.errno == errno.EIO, e
else:
    raise AssertionError("fsync succeeded")
os.close(fd)
EOF
echo "eio rename" > "$CTL1"
check "eio rename: mv fails" bash -c "! mv '$M1/synced' '$M1/synced2' 2>/dev/null"
echo "eio setxattr" > "$CTL1"
check "eio setxattr: setxattr fails with EIO" python3 -c "
import errno, os
try: os.setxattr('$M1/synced', 'user.k', b'v')
except OSError as e: raise SystemExit(0 if e.errno == errno.EIO else 1)
raise SystemExit(1)"
echo "eio write" > "$CTL1"
check "eio write: write fails" bash -c "! echo x >> '$M1/synced' 2>/dev/null"
echo clear > "$CTL1"
check "after clear fsync/rename/setxattr/write work" python3 -c "
import os
p = '$M1/synced'
fd = os.open(p, os.O_WRONLY | os.O_APPEND); os.write(fd, b'more'); os.fsync(fd); os.close(fd)
os.rename(p, p + '2'); os.setxattr(p + '2', 'user.k', b'v')"

py "latency_ms 2 slows every request" <<'EOF'
import os, time
m1, ctl = os.environ["M1"], os.environ["CTL1"]
def timed():
    t = time.monotonic()
    for _ in range(100):
        os.stat(f"{m1}/x")
    return time.monotonic() - t
base = timed()
open(ctl, "w").write("latency_ms 2\n")
slow = timed()
open(ctl, "w").write("latency_ms 0\n")
fast = timed()
print(f"    100 stats: {base:.3f}s normal, {slow:.3f}s with latency_ms 2, {fast:.3f}s after")
assert slow >= 0.2 and slow > base + 0.15, (base, slow)
assert fast < slow / 2
EOF

echo hang > "$CTL1"
timeout 30 cat "$M1/x" > "$WORK/hung.out" 2>&1 & HUNG=$!
sleep 0.5
check "hang: a request blocks" kill -0 "$HUNG"
check "hang: control file still readable" bash -c "grep -q '^lookup ' '$CTL1'"
check "hang: other mount unaffected" test "$(cat "$M2/x")" = 2
(echo clear > "$CTL1") & CLEARER=$!
check "hang: clear from another process" wait "$CLEARER"
check "hang: blocked request completes after clear" wait "$HUNG"
check "hang: and got the data" test "$(cat "$WORK/hung.out")" = 2

# --- unmount ----------------------------------------------------------------------------------------
kill -TERM "$PID2"
check "SIGTERM unmounts and exits 0" wait "$PID2"
check "mount 2 gone" bash -c "! grep -qs ' $M2 fuse' /proc/self/mounts"
PID2=""
check "fusermount3 -u unmounts" fusermount3 -u "$M1"
check "testfs exits 0 after external unmount" wait "$PID1"
PID1=""
check "backing data intact after unmount" test "$(cat "$B/x")" = 2

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
