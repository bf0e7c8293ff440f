#!/usr/bin/env bash
# Brings up a private one-brick GlusterFS volume on this machine and FUSE-mounts it twice
# (two "nodes" sharing a volume), for the mount tests:
#
#   scripts/gluster-up.sh [STATE_DIR]     (default /tmp/sofgate-gluster; needs root)
#
# Installs glusterfs-server/-client from Debian when missing, starts glusterd by hand on
# loopback with a private glusterd.vol (working and run directories under STATE_DIR), creates
# and starts volume "sofgate" with its brick at STATE_DIR/brick, turns off the client caches
# that make a second mount see renames late (see README.md, "Operators: GlusterFS"), and mounts
# it at STATE_DIR/mnt-a and STATE_DIR/mnt-b. Every process started leaves a pid file in
# STATE_DIR/pids; STATE_DIR/env gives MOUNT_A, MOUNT_B and the timings. Exits non-zero, loudly,
# when anything fails (after undoing what it did); scripts/gluster-down.sh STATE_DIR stops it.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"   # glusterd, gluster

HERE="$(cd "$(dirname "$0")" && pwd)"
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
mkdir -p "$S"/{wd,run,log,pids,brick,mnt-a,mnt-b}
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
# `force`: the brick is on the root filesystem.
"${G[@]}" volume create "$VOL" "$HOST:$S/brick/data" force >/dev/null || die "volume create"
# Without these a second mount sees a rename about 1 s late and gets ESTALE from open-behind.
for opt in performance.open-behind performance.quick-read performance.stat-prefetch \
    performance.io-cache performance.read-ahead performance.readdir-ahead; do
  "${G[@]}" volume set "$VOL" "$opt" off >/dev/null || die "volume set $opt off"
done
"${G[@]}" volume start "$VOL" >/dev/null || die "volume start"
brick_pidfile=$(find "$S/run/vols/$VOL" -name '*.pid' 2>/dev/null | head -n 1)
[ -n "$brick_pidfile" ] || die "no brick pid file under $S/run/vols/$VOL"
# glusterd removes its own pid file on `volume stop`: keep a copy, and the brick's files outside $S.
cp "$brick_pidfile" "$S/pids/brick.pid"
brick_pid=$(cat "$S/pids/brick.pid")
tr '\0' '\n' < "/proc/$brick_pid/cmdline" | awk 'prev == "-S" || prev == "-l" { print } { prev = $0 }' \
  > "$S/brick-files" || true

for n in a b; do
  glusterfs --volfile-server="$HOST" --volfile-id="$VOL" --pid-file="$S/pids/mount-$n.pid" \
    --log-file="$S/log/mount-$n.log" "$S/mnt-$n" || die "mount $n"
done
for n in a b; do
  for _ in $(seq 100); do
    grep -qs " $S/mnt-$n fuse.glusterfs " /proc/self/mounts && timeout 5 stat "$S/mnt-$n/." >/dev/null 2>&1 \
      && break
    sleep 0.1
  done
  grep -qs " $S/mnt-$n fuse.glusterfs " /proc/self/mounts || die "mount $n did not appear"
done
# Both mounts must see each other's writes before anyone relies on it.
echo probe > "$S/mnt-a/.gluster-up-probe" && test "$(timeout 5 cat "$S/mnt-b/.gluster-up-probe")" = probe \
  || die "mount b does not see a file written on mount a"
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
echo "gluster-up: volume $VOL mounted at $S/mnt-a and $S/mnt-b" \
  "(install ${install_secs} s, bring-up ${bringup_secs} s); stop with scripts/gluster-down.sh $S" >&2
