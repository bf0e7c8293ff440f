#!/usr/bin/env bash
# Brings up a private one-brick GlusterFS volume on this machine and FUSE-mounts it twice
# (two "nodes" sharing a volume), for the mount tests:
#
#   scripts/gluster-up.sh [--replica 3] [STATE_DIR]   (default /tmp/sofgate-gluster; needs root)
#
# With --replica 3 the volume is replica 3 instead: three bricks on loopback (STATE_DIR/brick1..3,
# each served by its own glusterfsd, so that one can be killed alone) and three mounts
# (mnt-a, mnt-b, mnt-c), with the same client options and no kernel caching of names and
# attributes (see below); STATE_DIR/env then also gives MOUNT_C,
# BRICK_1..3 and GLUSTERD_SOCK (for `gluster --glusterd-sock=...`).
#
# Installs glusterfs-server/-client from Debian when missing, starts glusterd by hand on
# loopback with a private glusterd.vol (working and run directories under STATE_DIR), creates
# and starts volume "sofgate" with its brick at STATE_DIR/brick, turns off the client caches
# that make a second mount see renames late (see README.md, "Operators: GlusterFS"), and mounts
# it at STATE_DIR/mnt-a and STATE_DIR/mnt-b. Every process started leaves a pid file in
# STATE_DIR/pids; STATE_DIR/env gives MOUNT_A, MOUNT_B and the timings. Exits non-zero, loudly,
# when anything fails (after undoing what it did); scripts/gluster-down.sh STATE_DIR stops it.
#
# GLUSTER_VOLUME_OPTS="key=value ..." sets more volume options after those (to measure a client
# cache: e.g. "performance.stat-prefetch=on performance.md-cache-timeout=10"); FUSE_MOUNT_OPTS
# adds options to every mount (e.g. "--attribute-timeout=0").
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"   # glusterd, gluster

HERE="$(cd "$(dirname "$0")" && pwd)"
REPLICA=1
if [ "${1:-}" = --replica ]; then
  [ "${2:-}" = 3 ] || { echo "gluster-up: FAILED: only --replica 3 is supported" >&2; exit 1; }
  REPLICA=3
  shift 2
fi
S="${1:-/tmp/sofgate-gluster}"
VOL=sofgate
HOST=sofgate-gluster          # the gluster CLI refuses 127.0.0.1 and localhost as a brick host
PORT=24007

die() {
  echo "gluster-up: FAILED: $*" >&2
  for log in "$S"/log/*.log; do
    [ -f "$log" ] && { echo "--- $log (tail)" >&2; tail -n 15 "$log" >&2; }
  done
  "$HERE/gluster-down.sh" "$S" >&2 || true
  exit 1
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || { echo "gluster-up: FAILED: must run as root" >&2; exit 1; }
[ -c /dev/fuse ] || { echo "gluster-up: FAILED: /dev/fuse is missing" >&2; exit 1; }
if [ -e "$S/pids/glusterd.pid" ]; then
  echo "gluster-up: FAILED: $S is in use (run scripts/gluster-down.sh $S first)" >&2
  exit 1
fi

# --- install -------------------------------------------------------------------------------
t0=$(now)
if ! command -v glusterd >/dev/null || ! command -v gluster >/dev/null \
    || ! command -v glusterfs >/dev/null; then
  echo "gluster-up: installing glusterfs-server and glusterfs-client" >&2
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -qq >/dev/null \
    || { echo "gluster-up: FAILED: apt-get update" >&2; exit 1; }
  timeout 300 apt-get install -y -qq glusterfs-server glusterfs-client >/dev/null \
    || { echo "gluster-up: FAILED: apt-get install glusterfs-server glusterfs-client" >&2; exit 1; }
fi
install_secs=$(secs "$t0" "$(now)")

# --- glusterd on loopback, private state ---------------------------------------------------
t1=$(now)
if [ "$REPLICA" = 3 ]; then
  BRICKS=(brick1 brick2 brick3)
  MOUNTS=(a b c)
  # No kernel caching of names and attributes: with the default 1 s, a directory removed and
  # made again through another mount is still the old one here, and calls in it fail with
  # ESTALE (the node answers 500: 93 of ~1,000 requests in one run of the replica suite).
  FUSE_OPTS=(--entry-timeout=0 --attribute-timeout=0)
else
  BRICKS=(brick)
  MOUNTS=(a b)
  FUSE_OPTS=()
fi
# shellcheck disable=SC2206  # split on purpose: one option per word
FUSE_OPTS+=(${FUSE_MOUNT_OPTS:-})
mkdir -p "$S"/{wd,run,log,pids}
for b in "${BRICKS[@]}"; do mkdir -p "$S/$b"; done
for n in "${MOUNTS[@]}"; do mkdir -p "$S/mnt-$n"; done
S="$(cd "$S" && pwd)"
if ! getent ahostsv4 "$HOST" | awk '{ print $1 }' | grep -qx 127.0.0.1; then
  getent hosts "$HOST" >/dev/null && die "$HOST resolves, but not to 127.0.0.1"
  echo "127.0.0.1 $HOST   # added by sofgate scripts/gluster-up.sh" >> /etc/hosts
fi
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  die "port $PORT is in use (another glusterd?)"
fi
cat > "$S/glusterd.vol" <<EOF
volume management
    type mgmt/glusterd
    option working-directory $S/wd
    option run-directory $S/run
    option glusterd-sockfile $S/glusterd.socket
    option transport-type socket
    option transport.socket.bind-address 127.0.0.1
    option transport.socket.listen-port $PORT
    option transport.socket.read-fail-log off
    option ping-timeout 0
    option event-threads 1
    option max-port 60999
end-volume
EOF
glusterd -f "$S/glusterd.vol" -p "$S/pids/glusterd.pid" -l "$S/log/glusterd.log" \
  || die "glusterd did not start"
G=(timeout 60 gluster --mode=script --glusterd-sock="$S/glusterd.socket")
for _ in $(seq 100); do
  "${G[@]}" volume list >/dev/null 2>&1 && break
  sleep 0.1
done
"${G[@]}" volume list >/dev/null 2>&1 || die "glusterd does not answer the CLI"

# --- the volume ----------------------------------------------------------------------------
# `force`: the bricks are on the root filesystem (and, with replica 3, on one server).
brick_args=()
for b in "${BRICKS[@]}"; do brick_args+=("$HOST:$S/$b/data"); done
if [ "$REPLICA" = 3 ]; then
  "${G[@]}" volume create "$VOL" replica 3 "${brick_args[@]}" force >/dev/null || die "volume create"
else
  "${G[@]}" volume create "$VOL" "${brick_args[@]}" force >/dev/null || die "volume create"
fi
# Without these a second mount sees a rename about 1 s late and gets ESTALE from open-behind.
for opt in performance.open-behind performance.quick-read performance.stat-prefetch \
    performance.io-cache performance.read-ahead performance.readdir-ahead; do
  "${G[@]}" volume set "$VOL" "$opt" off >/dev/null || die "volume set $opt off"
done
for kv in ${GLUSTER_VOLUME_OPTS:-}; do
  "${G[@]}" volume set "$VOL" "${kv%%=*}" "${kv#*=}" >/dev/null || die "volume set $kv"
done
if [ "$REPLICA" = 3 ]; then
  # The self-heal daemon heals what a returning brick missed when it reconnects, then only on
  # its periodic crawl (default every 600 s): an entry marked after that first pass waited ten
  # minutes (one did in a CI run). Crawl every 10 s instead.
  "${G[@]}" volume set "$VOL" cluster.heal-timeout 10 >/dev/null || die "volume set cluster.heal-timeout"
fi
"${G[@]}" volume start "$VOL" >/dev/null || die "volume start"
# glusterd removes its own pid files on `volume stop`: keep copies, and the bricks' files
# outside $S. A brick's pid file is named after its host and path (slashes as dashes).
: > "$S/brick-files"
for b in "${BRICKS[@]}"; do
  brick_pidfile="$S/run/vols/$VOL/$HOST-$(echo "${S#/}/$b/data" | tr / -).pid"
  [ -s "$brick_pidfile" ] || die "no brick pid file $brick_pidfile"
  cp "$brick_pidfile" "$S/pids/$b.pid"
  brick_pid=$(cat "$S/pids/$b.pid")
  tr '\0' '\n' < "/proc/$brick_pid/cmdline" | awk 'prev == "-S" || prev == "-l" { print } { prev = $0 }' \
    >> "$S/brick-files" || true
done

for n in "${MOUNTS[@]}"; do
  glusterfs "${FUSE_OPTS[@]}" --volfile-server="$HOST" --volfile-id="$VOL" --pid-file="$S/pids/mount-$n.pid" \
    --log-file="$S/log/mount-$n.log" "$S/mnt-$n" || die "mount $n"
done
for n in "${MOUNTS[@]}"; do
  for _ in $(seq 100); do
    grep -qs " $S/mnt-$n fuse.glusterfs " /proc/self/mounts && timeout 5 stat "$S/mnt-$n/." >/dev/null 2>&1 \
      && break
    sleep 0.1
  done
  grep -qs " $S/mnt-$n fuse.glusterfs " /proc/self/mounts || die "mount $n did not appear"
done
# Every mount must see the others' writes before anyone relies on it.
echo probe > "$S/mnt-a/.gluster-up-probe" || die "cannot write on mount a"
for n in "${MOUNTS[@]}"; do
  test "$(timeout 5 cat "$S/mnt-$n/.gluster-up-probe")" = probe \
    || die "mount $n does not see a file written on mount a"
done
rm -f "$S/mnt-a/.gluster-up-probe"
bringup_secs=$(secs "$t1" "$(now)")

cat > "$S/env" <<EOF
GLUSTER_VOLUME=$VOL
GLUSTER_HOST=$HOST
MOUNT_A=$S/mnt-a
MOUNT_B=$S/mnt-b
INSTALL_SECS=$install_secs
BRINGUP_SECS=$bringup_secs
EOF
if [ "$REPLICA" = 3 ]; then
  cat >> "$S/env" <<EOF
MOUNT_C=$S/mnt-c
BRICK_1=$S/brick1/data
BRICK_2=$S/brick2/data
BRICK_3=$S/brick3/data
GLUSTERD_SOCK=$S/glusterd.socket
EOF
fi
echo "gluster-up: volume $VOL (replica $REPLICA) mounted at $(printf "$S/mnt-%s " "${MOUNTS[@]}")" \
  "(install ${install_secs} s, bring-up ${bringup_secs} s); stop with scripts/gluster-down.sh $S" >&2
