#!/usr/bin/env bash
# sofgate on a real GlusterFS volume: scripts/gluster-up.sh (installs GlusterFS when missing),
# mount-tests/gluster_suite.py on its two mounts, scripts/gluster-down.sh on any exit.
# With --replica 3: a replica-3 volume (scripts/gluster-up.sh --replica 3) and
# mount-tests/gluster_replica_suite.py (brick and node failures) instead.
# Needs root and SOFGATE_BIN; run by mount-tests/run.sh. A volume that cannot be installed or
# started is a failure, never a skip. Prints "N passed, M failed".
set -u

HERE="$(cd "$(dirname "$0")/.." && pwd)"
: "${SOFGATE_BIN:?set SOFGATE_BIN to the sofgate binary}"
MODE=()
NAME=gluster
if [ "${1:-}" = --replica ]; then
  [ "${2:-}" = 3 ] || { echo "gluster.sh: only --replica 3 is supported"; exit 2; }
  MODE=(--replica 3)
  NAME=gluster-replica
fi
if [ -z "${MT_WORK:-}" ]; then
  MT_WORK="$(mktemp -d /tmp/sofgate-gluster-mt.XXXXXX)"
  OWN_WORK=1
fi
export MT_WORK PYTHONDONTWRITEBYTECODE=1
STATE="$MT_WORK/$NAME"
PY=""

cleanup() {
  if [ -n "$PY" ] && kill -0 "$PY" 2>/dev/null; then
    kill -TERM "$PY" 2>/dev/null
    wait "$PY" 2>/dev/null
  fi
  if ! "$HERE/scripts/gluster-down.sh" "$STATE"; then
    echo "FAIL - scripts/gluster-down.sh left something behind"
    exit 1
  fi
  if [ -n "${OWN_WORK:-}" ]; then rm -rf "$MT_WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! "$HERE/scripts/gluster-up.sh" "${MODE[@]}" "$STATE"; then
  echo "FAIL - GlusterFS could not be installed or brought up (see above)"
  echo "0 passed, 1 failed"
  exit 1
fi
# shellcheck disable=SC1091
. "$STATE/env"
echo "gluster: install ${INSTALL_SECS} s, bring-up ${BRINGUP_SECS} s"
if [ "$NAME" = gluster-replica ]; then
  python3 "$HERE/mount-tests/gluster_replica_suite.py" "$SOFGATE_BIN" "$STATE" &
else
  python3 "$HERE/mount-tests/gluster_suite.py" "$SOFGATE_BIN" "$MOUNT_A" "$MOUNT_B" &
fi
PY=$!
wait "$PY"
rc=$?
PY=""
exit "$rc"
