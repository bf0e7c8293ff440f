#!/usr/bin/env bash
# Starts a private Prometheus on loopback that scrapes one target every second, for the
# metrics tests (and for a look by hand):
#
#   scripts/prometheus-up.sh STATE_DIR TARGET [METRICS_PATH]   (TARGET: host:port; path /metrics)
#
# Installs Debian's `prometheus` package when missing (as root, without its recommended node
# exporter, the way scripts/gluster-up.sh installs GlusterFS), writes STATE_DIR/prometheus.yml
# (scrape_interval 1s, one job "sofgate"), starts the server on a free 127.0.0.1 port with its
# database in STATE_DIR/data, and waits (bounded) until it is ready. Its pid is in
# STATE_DIR/pids/prometheus.pid; STATE_DIR/env gives PROMETHEUS_URL. Exit status: 0 up;
# 2 Prometheus is not installed and could not be (apt failed, not root): callers may skip;
# 1 any other failure (logs shown, what was started stopped). scripts/prometheus-down.sh
# STATE_DIR stops it.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

HERE="$(cd "$(dirname "$0")" && pwd)"
S="${1:?usage: prometheus-up.sh STATE_DIR TARGET [METRICS_PATH]}"
TARGET="${2:?usage: prometheus-up.sh STATE_DIR TARGET [METRICS_PATH]}"
MPATH="${3:-/metrics}"
BIN=/usr/bin/prometheus

say() { echo "prometheus-up: $*" >&2; }
die() {
  say "FAILED: $*"
  [ -f "$S/log/prometheus.log" ] && { echo "--- prometheus.log (tail)" >&2; tail -n 25 "$S/log/prometheus.log" >&2; }
  "$HERE/prometheus-down.sh" "$S" >&2 || true
  exit 1
}

# --- install -------------------------------------------------------------------------------
if [ ! -x "$BIN" ]; then
  [ "$(id -u)" = 0 ] || { say "NOT INSTALLED: prometheus is missing and this is not root"; exit 2; }
  say "installing prometheus from Debian"
  export DEBIAN_FRONTEND=noninteractive
  # No service of the package's own: it would listen on every address (port 9090).
  policy=/usr/sbin/policy-rc.d
  made_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=1
  fi
  ok=1
  timeout 300 apt-get update -qq >/dev/null || ok=
  [ -n "$ok" ] && { timeout 600 apt-get install -y -qq --no-install-recommends prometheus >/dev/null || ok=; }
  [ -n "$made_policy" ] && rm -f "$policy"
  [ -n "$ok" ] && [ -x "$BIN" ] || { say "NOT INSTALLED: apt-get could not install prometheus"; exit 2; }
fi

# --- config and start ----------------------------------------------------------------------
if [ -e "$S/pids/prometheus.pid" ] && kill -0 "$(cat "$S/pids/prometheus.pid")" 2>/dev/null; then
  die "$S is in use (run scripts/prometheus-down.sh $S first)"
fi
mkdir -p "$S"/{data,log,pids}
S="$(cd "$S" && pwd)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$S/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: sofgate
    metrics_path: $MPATH
    static_configs:
      - targets: ["$TARGET"]
YML
"$BIN" --config.file="$S/prometheus.yml" --storage.tsdb.path="$S/data" \
  --web.listen-address="127.0.0.1:$PORT" --log.level=warn \
  >"$S/log/prometheus.log" 2>&1 &
echo $! > "$S/pids/prometheus.pid"
URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 150); do
  if python3 - "$URL/-/ready" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=1) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
  then
    echo "PROMETHEUS_URL=$URL" > "$S/env"
    say "ready at $URL, scraping http://$TARGET$MPATH every 1s"
    exit 0
  fi
  kill -0 "$(cat "$S/pids/prometheus.pid")" 2>/dev/null || die "prometheus exited"
  sleep 0.1
done
die "not ready within 15 s"
