#!/usr/bin/env bash
# Stops what scripts/keystone-up.sh STATE_DIR started and removes STATE_DIR:
#
#   scripts/keystone-down.sh [--keep] [STATE_DIR]   (default /tmp/sofgate-keystone)
#
# Stops the server by its pid file (signalled only while its command line still names
# STATE_DIR): SIGTERM, up to 10 s, then SIGKILL. With --keep the state directory stays, so
# keystone-up.sh can start the same Keystone again. Safe to run more than once, and after a
# partial bring-up. Exits non-zero if the server is still running afterwards.
set -uo pipefail

keep=
if [ "${1:-}" = --keep ]; then keep=1; shift; fi
S="${1:-/tmp/sofgate-keystone}"
[ -d "$S" ] || exit 0
S="$(cd "$S" && pwd)"

ours() {
  local pid
  pid=$(cat "$S/pids/keystone.pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$S" || return 1
  echo "$pid"
}

if pid=$(ours); then
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    # The workers are the server's children: stop them with it.
    pkill -KILL -P "$pid" 2>/dev/null
    kill -KILL "$pid" 2>/dev/null
    sleep 0.2
  fi
fi
if pid=$(ours); then
  echo "keystone-down: Keystone (pid $pid) is still running; left $S in place" >&2
  exit 1
fi
rm -f "$S/pids/keystone.pid"
[ -n "$keep" ] || rm -rf "$S"
exit 0
