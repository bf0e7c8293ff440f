#!/usr/bin/env bash
# Runs OpenStack Swift's browser CORS suite (test/cors/ of the pinned Swift
# sdist) against a sofgate started here: main.py creates the test containers
# with swiftclient, serves the test page on localhost and drives a headless
# Debian chromium through Selenium (scripts/cors_run.py adapts it). Its S3 tests
# sign with the tempauth user's key pair (S3_USER/S3_KEY below) and go to the
# S3 door on the same port. Usage:
#   scripts/cors-tests.sh
# Env: SOFGATE_BIN (default target/debug/sofgate, built if missing),
#      FUNCTESTS_DIR (cache of the sdist and venvs, default .functests),
#      CORS_KEEP_LOG=FILE keeps main.py's full TAP output.
# Installs chromium and chromium-driver from Debian when missing (needs root).
# Fails on any "not ok" not listed in scripts/cors-known-failures.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
SWIFT_VERSION=2.38.3
cache=${FUNCTESTS_DIR:-$root/.functests}
mkdir -p "$cache"
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

t0=$(now)
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "cors-tests: installing chromium and chromium-driver" >&2
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -qq >/dev/null \
    || { echo "cors-tests: FAILED: apt-get update" >&2; exit 1; }
  timeout 600 apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null \
    || { echo "cors-tests: FAILED: apt-get install chromium chromium-driver" >&2; exit 1; }
fi
venv="$cache/venv-cors"
if ! "$venv/bin/python" -c 'import selenium, swiftclient' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check selenium python-swiftclient
fi
# The suite ships in Swift's sdist (the one scripts/functests.sh unpacks).
src="$cache/swift-$SWIFT_VERSION"
if [ ! -f "$src/test/cors/main.py" ]; then
  "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    "swift==$SWIFT_VERSION" -d "$cache"
  tar xzf "$cache/swift-$SWIFT_VERSION.tar.gz" -C "$cache"
fi
install_secs=$(secs "$t0" "$(now)")

bin=${SOFGATE_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/sofgate}
[ -x "$bin" ] || cargo build --quiet

work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/dev"
cat > "$work/sofgate.toml" <<CONF
listen = "127.0.0.1:0"
[[policy]]
name = "gold"
device = "$work/dev"
default = true
[storage]
fsync_dir = false
[auth]
secret = "cors-tests-secret-0123456789abcdef"
[[auth.user]]
account = "test"
user = "tester"
key = "testing"
admin = true
CONF
"$bin" serve --config "$work/sofgate.toml" > "$work/out" 2> "$work/log" &
pid=$!
addr=
for _ in $(seq 100); do
  addr=$(sed -n 's|^sofgate listening on http://||p' "$work/out")
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "sofgate did not start:"; cat "$work/log"; exit 1; }

# The test page's origin: localhost on a free port.
port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
t1=$(now)
status=0
mkdir -p "$work/tmp"   # the browser's profile and sockets go away with $work
TMPDIR="$work/tmp" OS_AUTH_URL="http://$addr/auth/v1.0" OS_USERNAME=test:tester OS_PASSWORD=testing \
  S3_ENDPOINT="http://$addr" S3_USER=test:tester S3_KEY=testing \
  timeout 600 "$venv/bin/python" "$root/scripts/cors_run.py" "$src/test/cors/main.py" \
  --hostname localhost --port "$port" --output "$work/tap" chrome \
  > "$work/run.out" 2>&1 || status=$?
run_secs=$(secs "$t1" "$(now)")
if [ -n "${CORS_KEEP_LOG:-}" ]; then cat "$work/run.out" "$work/tap" > "$CORS_KEEP_LOG" 2>/dev/null || true; fi
[ -s "$work/tap" ] || { echo "cors-tests: no TAP output (exit $status):"; tail -n 40 "$work/run.out"; exit 1; }
echo "cors-tests: install/check ${install_secs}s, run ${run_secs}s (main.py exit $status)"
"$venv/bin/python" - "$work/tap" "$root/scripts/cors-known-failures.txt" <<'PY'
import re, sys
known = {}
for line in open(sys.argv[2]):
    line = line.strip()
    if line and not line.startswith('#'):
        name, _, cause = line.partition('  ')
        known[name] = cause.strip()
results, details = [], {}
for line in open(sys.argv[1]):
    m = re.match(r'(not ok|ok) \d+ - (?:chrome: )?(.*?)(?: # skip (.*))?$', line.rstrip('\n'))
    if m:
        kind = 'skip' if m.group(3) is not None else ('pass' if m.group(1) == 'ok' else 'fail')
        results.append((kind, m.group(2), m.group(3)))
    elif line.startswith('  ') and results:
        details.setdefault(results[-1][1], []).append(line.rstrip('\n'))
counts = {k: sum(1 for r in results if r[0] == k) for k in ('pass', 'fail', 'skip')}
for kind, name, why in results:
    if kind == 'skip':
        print(f"skip: {name}: {why}")
failed = [name for kind, name, _ in results if kind == 'fail']
passed = {name for kind, name, _ in results if kind == 'pass'}
for name in sorted(set(known) & passed):
    print(f"now passing (remove from the known list): {name}")
unexpected = [n for n in failed if n not in known]
for n in failed:
    if n in known:
        print(f"known failure: {n}: {known[n]}")
for n in unexpected:
    print(f"UNEXPECTED FAILURE: {n}")
    print('\n'.join(details.get(n, [])[:12]))
print(f"CORS browser suite: {len(results)} tests, pass {counts['pass']}, "
      f"fail {counts['fail']}, skip {counts['skip']}")
sys.exit(1 if unexpected or not results else 0)
PY
