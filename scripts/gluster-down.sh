#!/usr/bin/env bash
# Stops what scripts/gluster-up.sh STATE_DIR started and removes STATE_DIR:
#
#   scripts/gluster-down.sh [STATE_DIR]   (default /tmp/sofgate-gluster)
#
# Unmounts the mounts (two, or three with --replica 3), stops the volume, then stops the mount
# clients, the bricks, the self-heal daemon and glusterd by their pid files (a pid is signalled
# only while its command line still names STATE_DIR or its brick). Safe to run more than once,
# and after a partial bring-up. Exits non-zero if something is still mounted or running
# afterwards.
set -uo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

S="${1:-/tmp/sofgate-gluster}"
[ -d "$S" ] || exit 0
S="$(cd "$S" && pwd)"
VOL=sofgate
left=0

mounted() { grep -qs " $1 fuse.glusterfs " /proc/self/mounts; }
# ours PIDFILE: the pid in it, when that process still runs with $S in its command line.
ours() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$S" || return 1
  echo "$pid"
}
# stop PIDFILE: SIGTERM, up to 10 s, then SIGKILL.
stop() {
  local pid
  pid=$(ours "$1") || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  sleep 0.2
}

for n in a b c; do
  m="$S/mnt-$n"
  [ -d "$m" ] || continue
  if mounted "$m"; then
    timeout 20 umount "$m" 2>/dev/null || timeout 20 umount -l "$m" \
      || { echo "gluster-down: could not unmount $m" >&2; left=1; }
  fi
  # The client exits by itself once unmounted; give it a moment first.
  for _ in $(seq 30); do ours "$S/pids/mount-$n.pid" >/dev/null || break; sleep 0.1; done
  stop "$S/pids/mount-$n.pid"
done

if ours "$S/pids/glusterd.pid" >/dev/null; then
  timeout 30 gluster --mode=script --glusterd-sock="$S/glusterd.socket" volume stop "$VOL" \
    >/dev/null 2>&1 || true
fi
# Copies made at bring-up, then glusterd's own (a brick restarted since, the self-heal daemon).
for f in "$S"/pids/brick*.pid $(find "$S/run" -name '*.pid' 2>/dev/null); do
  [ -e "$f" ] && stop "$f"
done
stop "$S/pids/glusterd.pid"

# The brick's socket and log live outside $S (paths chosen by glusterd).
if [ -f "$S/brick-files" ]; then
  while read -r f; do
    case "$f" in
      /var/run/gluster/*.socket|/run/gluster/*.socket|/var/log/glusterfs/bricks/*.log) rm -f "$f" ;;
    esac
  done < "$S/brick-files"
fi

for f in "$S"/pids/*.pid; do
  [ -e "$f" ] || continue
  if pid=$(ours "$f"); then
    echo "gluster-down: process $pid ($f) is still running" >&2
    left=1
  fi
done
for n in a b c; do
  mounted "$S/mnt-$n" && { echo "gluster-down: $S/mnt-$n is still mounted" >&2; left=1; }
done
if [ "$left" = 0 ]; then
  rm -rf "$S"
else
  echo "gluster-down: left $S in place" >&2
fi
exit "$left"
