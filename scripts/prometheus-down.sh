#!/usr/bin/env bash
# Stops the Prometheus that scripts/prometheus-up.sh started in STATE_DIR (SIGTERM, then
# SIGKILL after 10 s) and removes its database.
#
#   scripts/prometheus-down.sh STATE_DIR
set -euo pipefail
S="${1:?usage: prometheus-down.sh STATE_DIR}"
pidf="$S/pids/prometheus.pid"
if [ -f "$pidf" ]; then
  pid=$(cat "$pidf")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidf"
fi
rm -rf "$S/data"
