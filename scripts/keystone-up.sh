#!/usr/bin/env bash
# Brings up a private OpenStack Keystone on loopback, for the Keystone tests:
#
#   scripts/keystone-up.sh [STATE_DIR]     (default /tmp/sofgate-keystone)
#
# Keystone comes from PyPI (pinned: scripts/keystone-constraints.txt) into a venv kept in
# KEYSTONE_VENV (default .keystone-venv in the repo), installed on first use. Its state lives in
# STATE_DIR: keystone.conf, an SQLite database, fernet and credential keys, logs. The first run
# there does `keystone-manage db_sync`, `fernet_setup`, `credential_setup` and `bootstrap` (user
# admin, project admin, roles admin/member/reader/service, region RegionOne, identity endpoint);
# then gunicorn serves the WSGI app on 127.0.0.1:KEYSTONE_PORT (default: a free port). Its pid is
# in STATE_DIR/pids/keystone.pid; STATE_DIR/env gives KEYSTONE_URL, KEYSTONE_ADMIN_PASSWORD and
# the timings. Running it again while that Keystone answers does nothing; on a stopped state
# directory it starts the server again on the same data (same port). Each step is bounded in
# time; on any failure it says what failed, shows the logs, stops what it started and exits
# non-zero. scripts/keystone-down.sh STATE_DIR stops it.
#
# For tests only: passwords are hashed with few bcrypt rounds so logins are quick.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
S="${1:-/tmp/sofgate-keystone}"
VENV="${KEYSTONE_VENV:-$ROOT/.keystone-venv}"
KEYSTONE_VERSION=30.0.0
ADMIN_PASSWORD="${KEYSTONE_ADMIN_PASSWORD:-sofgate-keystone-admin}"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "keystone-up: $*" >&2; }
die() {
  say "FAILED: $*"
  for log in "$S"/log/*.log; do
    [ -f "$log" ] && { echo "--- $log (tail)" >&2; tail -n 25 "$log" >&2; }
  done
  [ -n "${started:-}" ] && "$HERE/keystone-down.sh" --keep "$S" >&2 || true
  exit 1
}
# up URL: Keystone answers its version document.
up() {
  "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
    sys.exit(0 if b'"v3' in r.read() else 1)
PY
}
# ours: the pid in the pid file, when that process still runs for this state directory.
ours() {
  local pid
  pid=$(cat "$S/pids/keystone.pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$S" || return 1
  echo "$pid"
}

mkdir -p "$S"/{pids,log}
S="$(cd "$S" && pwd)"

# --- already running? -------------------------------------------------------------------------
if ours >/dev/null && [ -f "$S/env" ]; then
  # shellcheck disable=SC1091
  url=$(. "$S/env" && echo "$KEYSTONE_URL")
  if up "$url"; then
    say "already running at $url"
    exit 0
  fi
  die "a Keystone of $S runs (pid $(ours)) but does not answer at $url"
fi

# --- install ----------------------------------------------------------------------------------
t0=$(now)
# Several bring-ups may start at once (parallel tests): one installs, the others wait.
mkdir -p "$(dirname "$VENV")" || die "cannot make $(dirname "$VENV")"
exec 9>"$VENV.lock"
flock -w 900 9 || die "waited 900 s for another install into $VENV"
if ! "$VENV/bin/python" -c 'import keystone, gunicorn' 2>/dev/null \
    || [ "$(cat "$VENV/.keystone-version" 2>/dev/null)" != "$KEYSTONE_VERSION" ]; then
  say "installing keystone $KEYSTONE_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv $VENV (install python3-venv)"
  timeout 900 "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    -c "$HERE/keystone-constraints.txt" "keystone==$KEYSTONE_VERSION" gunicorn \
    || die "pip install keystone==$KEYSTONE_VERSION gunicorn"
  echo "$KEYSTONE_VERSION" > "$VENV/.keystone-version"
fi
exec 9>&-
install_secs=$(secs "$t0" "$(now)")

# --- configuration and database (first run only) ------------------------------------------------
t1=$(now)
if [ -f "$S/port" ]; then
  port=$(cat "$S/port")
else
  port=${KEYSTONE_PORT:-$("$VENV/bin/python" -c \
    'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
  echo "$port" > "$S/port"
fi
url="http://127.0.0.1:$port/v3"
if ! [ -f "$S/bootstrapped" ]; then
  cat > "$S/keystone.conf" <<EOF
[DEFAULT]
log_file = $S/log/keystone.log
[database]
connection = sqlite:///$S/keystone.db
[token]
provider = fernet
expiration = 3600
[fernet_tokens]
key_repository = $S/fernet-keys
[fernet_receipts]
key_repository = $S/fernet-keys
[credential]
key_repository = $S/credential-keys
[identity]
# Test data only: cheap bcrypt, so each login costs milliseconds, not a quarter second.
password_hash_rounds = 4
[cache]
enabled = false
EOF
  # keystone parses the process's arguments as its own options: give it none.
  cat > "$S/keystone_wsgi.py" <<'EOF'
import sys
sys.argv = sys.argv[:1]
from keystone.server import wsgi  # noqa: E402
application = wsgi.initialize_public_application()
EOF
  K=(timeout 120 nice -n 10 "$VENV/bin/keystone-manage" --config-file "$S/keystone.conf")
  "${K[@]}" db_sync >/dev/null 2>&1 || die "keystone-manage db_sync"
  "${K[@]}" fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" >/dev/null 2>&1 \
    || die "keystone-manage fernet_setup"
  "${K[@]}" credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" \
    >/dev/null 2>&1 || die "keystone-manage credential_setup"
  "${K[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" --bootstrap-region-id RegionOne \
    --bootstrap-admin-url "$url" --bootstrap-public-url "$url" --bootstrap-internal-url "$url" \
    >/dev/null 2>&1 || die "keystone-manage bootstrap"
  touch "$S/bootstrapped"
fi
setup_secs=$(secs "$t1" "$(now)")

# --- the server -------------------------------------------------------------------------------
t2=$(now)
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  die "port $port is in use"
fi
started=1
# One worker, one thread: requests are served one at a time. SQLite lets one
# writer in, and a login writes (last-active, failed-auth bookkeeping), so two
# at once sometimes failed with "database is locked" (a 500 to the client;
# tests/it/keystone.rs saw it about one run in three with 8 threads).
OS_KEYSTONE_CONFIG_FILES="$S/keystone.conf" nice -n 10 "$VENV/bin/gunicorn" \
  --chdir "$S" --bind "127.0.0.1:$port" --workers 1 --threads 1 --timeout 60 \
  --pid "$S/pids/keystone.pid" --daemon --no-control-socket \
  --error-logfile "$S/log/gunicorn.log" --capture-output keystone_wsgi:application \
  || die "gunicorn did not start"
for _ in $(seq 600); do
  up "$url" && break
  sleep 0.1
done
up "$url" || die "Keystone does not answer at $url within 60 s"
ours >/dev/null || die "no pid file for the Keystone at $url"
start_secs=$(secs "$t2" "$(now)")

cat > "$S/env" <<EOF
KEYSTONE_URL=$url
KEYSTONE_PORT=$port
KEYSTONE_ADMIN_USER=admin
KEYSTONE_ADMIN_PASSWORD=$ADMIN_PASSWORD
KEYSTONE_ADMIN_PROJECT=admin
INSTALL_SECS=$install_secs
SETUP_SECS=$setup_secs
START_SECS=$start_secs
EOF
say "Keystone at $url (install ${install_secs} s, setup ${setup_secs} s, start ${start_secs} s);" \
  "stop with scripts/keystone-down.sh $S"
