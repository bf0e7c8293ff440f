#!/usr/bin/env bash
# The mount tests: sofgate on real mounts, over HTTP.
#
#   mount-tests/run.sh          (root; /dev/fuse, fusermount3 and python3 must be there)
#
#   1. testfs-smoke.sh    the testfs FUSE filesystem itself, with ordinary tools
#   2. testfs_suite.py    two testfs mounts of one directory, a sofgate on each: API use,
#                         ENOSPC / EIO / latency faults, filesystem calls per request, mount_check
#   3. gluster.sh         the node-A/node-B checks on a real GlusterFS volume mounted twice
#                         (scripts/gluster-up.sh installs and starts it, gluster-down.sh stops it)
#   4. gluster.sh --replica 3
#                         three nodes on a replica-3 volume: a brick killed and restarted under
#                         load (heal, scrub), a node killed mid-upload
#
# Builds sofgate once (cargo build --release) unless SOFGATE_BIN names a binary. Each part is
# bounded in time; every process is stopped by its pid and every mount (all under one temp
# directory) unmounted, also on failure or a signal. Missing root or /dev/fuse, or a GlusterFS
# that cannot be installed or started, is a failure, never a skip. Ends with a summary and
# "total: N passed, M failed"; exits non-zero on any failure.
set -u

HERE="$(cd "$(dirname "$0")/.." && pwd)"
cd "$HERE" || exit 1

fatal() {
  echo "mount-tests: FAILED: $*"
  echo "total: 0 passed, 1 failed"
  exit 1
}
[ "$(id -u)" = 0 ] || fatal "must run as root (FUSE mounts for other users, GlusterFS)"
[ -c /dev/fuse ] || fatal "/dev/fuse is missing: this machine cannot mount FUSE filesystems"
command -v fusermount3 >/dev/null || fatal "fusermount3 is missing (Debian package fuse3)"
command -v python3 >/dev/null || fatal "python3 is missing"

if [ -z "${SOFGATE_BIN:-}" ]; then
  echo "mount-tests: cargo build --release"
  cargo build --release --quiet || fatal "cargo build --release"
  SOFGATE_BIN="${CARGO_TARGET_DIR:-$HERE/target}/release/sofgate"
fi
[ -x "$SOFGATE_BIN" ] || fatal "no sofgate binary at $SOFGATE_BIN"
export SOFGATE_BIN

WORK="$(mktemp -d /tmp/sofgate-mt.XXXXXX)"
export MT_WORK="$WORK"
export PYTHONDONTWRITEBYTECODE=1
PART=""
FAILED_ANY=0

mounts_under() { awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/self/mounts; }
# Stops the running part, then whatever it left: processes by their pid files, mounts by path.
cleanup() {
  trap '' INT TERM
  if [ -n "$PART" ] && kill -0 "$PART" 2>/dev/null; then
    kill -TERM "$PART" 2>/dev/null
    for _ in $(seq 300); do kill -0 "$PART" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PART" 2>/dev/null
    wait "$PART" 2>/dev/null
  fi
  for g in gluster gluster-replica; do
    [ -d "$WORK/$g" ] && scripts/gluster-down.sh "$WORK/$g"
  done
  for f in "$WORK"/pids/*; do
    [ -e "$f" ] || continue
    pid="${f##*/}"
    if { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$WORK"; then
      echo "mount-tests: stopping leftover process $pid"
      kill -TERM "$pid" 2>/dev/null
      sleep 1
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  for m in $(mounts_under); do
    echo "mount-tests: unmounting leftover $m"
    fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m"
  done
  if [ -n "$(mounts_under)" ]; then
    echo "mount-tests: mounts are left under $WORK; not removing it"
  elif [ "$FAILED_ANY" = 0 ]; then
    rm -rf "$WORK"
  else
    echo "mount-tests: logs kept in $WORK"
  fi
}
trap cleanup EXIT
trap 'echo "mount-tests: interrupted"; exit 130' INT TERM

SUMMARY=()
TOTAL_PASSED=0
TOTAL_FAILED=0
# part NAME LIMIT_SECS COMMAND...: runs one part in the background (so a signal stops it at
# once), streams its output, and adds its "N passed, M failed" line to the totals.
part() {
  local name="$1" limit="$2"
  shift 2
  local out="$WORK/$name.out" t0=$SECONDS rc p f line
  echo
  echo "=== $name"
  timeout -k 30 "$limit" "$@" > "$out" 2>&1 &
  PART=$!
  tail -n +1 -f --pid="$PART" "$out" &
  local tailpid=$!
  wait "$PART"
  rc=$?
  PART=""
  wait "$tailpid" 2>/dev/null
  line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)"
  p="$(echo "$line" | awk '{ print $1 }')"
  f="$(echo "$line" | awk '{ print $3 }')"
  p="${p:-0}"
  f="${f:-0}"
  [ "$rc" = 124 ] && echo "FAIL - $name did not finish within $limit s"
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
  [ "$rc" != 0 ] && FAILED_ANY=1
  TOTAL_PASSED=$((TOTAL_PASSED + p))
  TOTAL_FAILED=$((TOTAL_FAILED + f))
  SUMMARY+=("$(printf '%-16s %4d passed, %2d failed  %4d s  exit %d' "$name" "$p" "$f" $((SECONDS - t0)) "$rc")")
}

T0=$SECONDS
part testfs-smoke 180 mount-tests/testfs-smoke.sh
part testfs-suite 180 python3 mount-tests/testfs_suite.py "$SOFGATE_BIN"
part gluster 420 mount-tests/gluster.sh
# The replica-3 suite (MT_REPLICA=0 skips it). Its two rare failures under
# load were a listing answering 500 to ESTALE (another node's rename) and a
# row with hash "" when that ESTALE hid fresh metadata: listing rows now look
# the name up again (testfs_suite's ESTALE checks).
if [ "${MT_REPLICA:-1}" = 1 ]; then
  part gluster-replica 240 mount-tests/gluster.sh --replica 3
else
  echo "mount-tests: SKIPPED gluster-replica (MT_REPLICA=0)" >&2
fi

echo
echo "=== summary ($((SECONDS - T0)) s)"
printf '%s\n' "${SUMMARY[@]}"
[ -f "$WORK/fs-calls.txt" ] && cat "$WORK/fs-calls.txt"
grep -h '^gluster: install' "$WORK/gluster.out" "$WORK/gluster-replica.out" 2>/dev/null
grep -h '^# time: ' "$WORK/gluster-replica.out" 2>/dev/null
[ "$TOTAL_FAILED" = 0 ] || FAILED_ANY=1
echo "total: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
exit "$FAILED_ANY"
