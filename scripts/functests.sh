#!/usr/bin/env bash
# Runs OpenStack Swift's own functional tests (PyPI `swift`, pinned) against a
# sofgate started here on a temp device. Usage:
#   scripts/functests.sh [pytest args...]     default: the whole suite but s3api
#   scripts/functests.sh --keystone [pytest args...]
#       the same against a real Keystone started here (scripts/keystone-up.sh;
#       auth_version = 3, users made by scripts/keystone_fixtures.py), checked
#       against its own known-failures file,
#       scripts/functests-keystone-known-failures.txt
#   scripts/functests.sh --s3 [pytest args...]
#       Swift's S3 suites (boto 2 and boto3) through the S3 door; default
#       test/functional/s3api and test/s3api; known failures are listed in
#       scripts/s3-known-failures.txt
#   scripts/functests.sh --against-swift [--s3] [pytest args...]
#       the same tests against OpenStack Swift 2.38.3 itself (one node, with
#       s3api and tempauth, started by `scripts/bench --serve-swift`), to
#       compare; prints the per-file counts, judges nothing (no known list)
#   scripts/functests.sh --against-swift --keystone [pytest args...]
#       the Keystone run against that Swift: its proxy has keystonemiddleware's
#       authtoken, s3token and keystoneauth in tempauth's place, with the service
#       user and SERVICE_ rule sofgate gets; keystonemiddleware (pinned in
#       scripts/keystone-constraints.txt) is installed into the venv first
# Env: SOFGATE_BIN (default target/release/sofgate, built if missing),
#      FUNCTESTS_DIR (cache of the sdist and venv, default .functests).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
s3=
keystone=
swift=
while true; do
  case "${1:-}" in
    --s3) s3=1; shift ;;
    --keystone) keystone=1; shift ;;
    --against-swift) swift=1; shift ;;
    *) break ;;
  esac
done
SWIFT_VERSION=2.38.3
cache=${FUNCTESTS_DIR:-$root/.functests}
mkdir -p "$cache"

src="$cache/swift-$SWIFT_VERSION"
if [ ! -d "$src/test/functional" ]; then
  pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    "swift==$SWIFT_VERSION" -d "$cache"
  tar xzf "$cache/swift-$SWIFT_VERSION.tar.gz" -C "$cache"
fi
venv="$cache/venv"
# boto 2 (the functional s3api tests) imports `imp`: Python 3.11 at most.
if [ ! -x "$venv/bin/pytest" ] || ! "$venv/bin/python" -c 'import swift, swiftclient, boto3, boto' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "$cache/swift-$SWIFT_VERSION.tar.gz" pytest pytest-subtests python-swiftclient boto3 boto
fi
# Keystone v3 logins (swiftclient) and test_access_control's lookups.
if [ -n "$keystone" ] && ! "$venv/bin/python" -c 'import keystoneclient.v3' 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check python-keystoneclient
fi
# Swift's own proxy with Keystone: keystonemiddleware as Keystone 30.0.0's
# install has it, its new dependencies at the versions pinned there (the
# packages already in the venv stay as they are).
if [ -n "$swift" ] && [ -n "$keystone" ] \
    && ! "$venv/bin/python" -c 'import keystonemiddleware.auth_token' 2>/dev/null; then
  "$venv/bin/python" - "$root/scripts/keystone-constraints.txt" > "$cache/keystonemiddleware-constraints.txt" <<'PY'
import re, sys, importlib.metadata as md
norm = lambda n: re.sub(r'[-_.]+', '-', n).lower()
have = {norm(d.metadata['Name']) for d in md.distributions()}
for line in open(sys.argv[1]):
    line = line.strip()
    if line and not line.startswith('#') and norm(line.split('==')[0]) not in have:
        print(line)
PY
  km=$(sed -n 's/^keystonemiddleware==//p' "$root/scripts/keystone-constraints.txt")
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    -c "$cache/keystonemiddleware-constraints.txt" "keystonemiddleware==$km"
fi

bin=${SOFGATE_BIN:-$root/target/release/sofgate}
[ -n "$swift" ] || [ -x "$bin" ] || cargo build --release --quiet

work=$(mktemp -d)
pid=
cleanup() {
  # scripts/bench --serve-swift stops its Swift servers on SIGTERM.
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ -z "$keystone" ] || "$root/scripts/keystone-down.sh" "$work/keystone" || true
  rm -rf "$work"
}
trap cleanup EXIT
if [ -n "$keystone" ]; then
  scripts/keystone-up.sh "$work/keystone"
  # shellcheck disable=SC1091
  . "$work/keystone/env"
  timeout 300 python3 scripts/keystone_fixtures.py "$KEYSTONE_URL" "$KEYSTONE_ADMIN_PASSWORD" users
fi
mkdir -p "$work/gold" "$work/silver"
cat > "$work/sofgate.toml" <<CONF
listen = "127.0.0.1:0"
[[policy]]
name = "gold"
device = "$work/gold"
default = true
[[policy]]
name = "silver"
device = "$work/silver"
[storage]
fsync_dir = false
# Swift's suite tests X-Open-Expired only with it on.
allow_open_expired = true
[domain_remap]
# Host names under example.com name accounts and containers; the tests send
# the Host header themselves, no DNS is involved.
storage_domain = ["example.com"]
[auth]
secret = "functional-tests-secret-0123456789"
# SERVICE_<project> needs the owner's token plus an X-Service-Token of a user
# in group "service" (tempauth: reseller_prefix = AUTH, SERVICE).
[[auth.service_prefix]]
prefix = "SERVICE_"
require_group = "service"
[[auth.user]]
account = "test"
user = "tester"
key = "testing"
admin = true
[[auth.user]]
account = "test2"
user = "tester2"
key = "testing2"
admin = true
[[auth.user]]
account = "test"
user = "tester3"
key = "testing3"
# The S3 suites' second user is in the first user's account.
[[auth.user]]
account = "test"
user = "tester2"
key = "testing2"
admin = true
[[auth.user]]
account = "admin"
user = "admin"
key = "admin"
reseller_admin = true
[[auth.user]]
account = "test5"
user = "tester5"
key = "testing5"
groups = ["service"]
CONF
if [ -n "$keystone" ]; then
  cat >> "$work/sofgate.toml" <<CONF
[keystone]
auth_url = "$KEYSTONE_URL"
username = "swift"
password = "swift-service"
project_name = "service"
# Keystone under a loaded test machine can take seconds per answer.
timeout_secs = 30
# SERVICE_<project> needs an X-Service-Token with role service.
[[keystone.service_prefix]]
prefix = "SERVICE_"
service_roles = ["service"]
CONF
fi
if [ -n "$swift" ]; then
  # Its tempauth has the users above (scripts/bench, SWIFT_PROXY); with
  # --keystone it asks the Keystone started here instead.
  FUNCTESTS_DIR=$cache python3 "$root/scripts/bench" --serve-swift "$work/swift.env" \
    ${keystone:+--swift-keystone "$KEYSTONE_URL"} > "$work/out" 2> "$work/log" &
  pid=$!
  for _ in $(seq 1200); do
    [ -s "$work/swift.env" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  addr=$(sed -n 's|^SWIFT_ADDR=||p' "$work/swift.env" 2>/dev/null || true)
  [ -n "$addr" ] || { echo "Swift did not start:"; cat "$work/log"; exit 1; }
else
"$bin" serve --config "$work/sofgate.toml" > "$work/out" 2> "$work/log" &
pid=$!
for _ in $(seq 100); do
  addr=$(sed -n 's|^sofgate listening on http://||p' "$work/out")
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "sofgate did not start:"; cat "$work/log"; exit 1; }
fi

if [ -n "$keystone" ]; then
  # The storage URL clients get comes from Keystone's catalog.
  timeout 300 python3 scripts/keystone_fixtures.py "$KEYSTONE_URL" "$KEYSTONE_ADMIN_PASSWORD" \
    endpoint "http://$addr"
  cat > "$work/test.conf" <<CONF
[func_test]
auth_uri = $KEYSTONE_URL
auth_version = 3
account = test
username = tester
password = testing
account2 = test2
username2 = tester2
password2 = testing2
username3 = tester3
password3 = testing3
account4 = test4
username4 = tester4
password4 = testing4
domain4 = test-domain
account5 = test5
username5 = tester5
password5 = testing5
service_prefix = SERVICE
account6 = test
username6 = tester6
password6 = testing6
normalized_urls = True
storage_domain = example.com
CONF
else
cat > "$work/test.conf" <<CONF
[func_test]
auth_uri = http://$addr/auth/v1.0
auth_version = 1
account = test
username = tester
password = testing
account2 = test2
username2 = tester2
password2 = testing2
username3 = tester3
password3 = testing3
account5 = test5
username5 = tester5
password5 = testing5
service_prefix = SERVICE
account6 = admin
username6 = admin
password6 = admin
# A filesystem has no empty path components: names are normalized as in
# Swift-on-File (leading and repeated slashes collapse).
normalized_urls = True
storage_domain = example.com
# S3 (access key account:user, secret key = the user's key); the endpoint
# defaults to the auth_uri's host.
s3_access_key = test:tester
s3_secret_key = testing
s3_access_key2 = test:tester2
s3_secret_key2 = testing2
s3_access_key3 = test:tester3
s3_secret_key3 = testing3
[s3api_test]
endpoint = http://$addr
region = us-east-1
access_key1 = test:tester
secret_key1 = testing
access_key2 = test:tester2
secret_key2 = testing2
access_key3 = test:tester3
secret_key3 = testing3
# S3 ACLs map onto Swift container ACLs (Swift's s3api with s3_acl = false).
s3_acl_tests_enabled = False
CONF
fi

export SWIFT_TEST_CONFIG_FILE="$work/test.conf" SWIFT_TEST_IN_PROCESS=0
cd "$src"
known="$root/scripts/functests-known-failures.txt"
if [ -n "$s3" ]; then
  known="$root/scripts/s3-known-failures.txt"
  [ $# -eq 0 ] && set -- test/functional/s3api test/s3api
elif [ $# -eq 0 ]; then
  # The whole suite but s3api (sofgate has no S3 API): tests.py and every
  # test_*.py; files of features /info does not advertise skip themselves.
  set -- test/functional/tests.py $(cd "$src" && ls test/functional/test_*.py)
fi
[ -z "$keystone" ] || known="$root/scripts/functests-keystone-known-failures.txt"
if [ -n "$swift" ]; then
  # Swift has none of sofgate's normalized names or domain remapping.
  sed -i '/^normalized_urls\|^storage_domain/d' "$work/test.conf"
  known=/dev/null
fi
status=0
"$venv/bin/pytest" -q -p no:cacheprovider -o addopts="" --junitxml="$work/junit.xml" "$@" \
  > "$work/pytest.out" 2>&1 || status=$?
tail -n 40 "$work/pytest.out"
if [ -n "${FUNCTESTS_KEEP_LOG:-}" ]; then cp "$work/pytest.out" "$FUNCTESTS_KEEP_LOG"; fi
if [ -n "${FUNCTESTS_KEEP_JUNIT:-}" ]; then cp "$work/junit.xml" "$FUNCTESTS_KEEP_JUNIT"; fi
[ -s "$work/junit.xml" ] || { echo "pytest produced no results (exit $status)"; exit 1; }
# Per-file counts, then the verdict: any failure not in the known list fails.
"$venv/bin/python" - "$work/junit.xml" "$known" <<'PY'
import sys, xml.etree.ElementTree as ET, collections
known = {}
for line in open(sys.argv[2]):
    line = line.strip()
    if line and not line.startswith('#'):
        tid, _, cause = line.partition('  ')
        known[tid] = cause.strip()
c = collections.defaultdict(lambda: [0, 0, 0])
failed, passed = [], set()
for tc in ET.parse(sys.argv[1]).iter('testcase'):
    # classname: the module's dotted path, then the class.
    parts = tc.get('classname', '').split('.')
    f = '/'.join(parts[:-1]) + '.py' if len(parts) > 1 else '?'
    tid = '%s::%s::%s' % (f, parts[-1], tc.get('name'))
    if tc.find('skipped') is not None:
        k = 2
    elif tc.find('failure') is not None or tc.find('error') is not None:
        k = 1
        failed.append(tid)
    else:
        k = 0
        passed.add(tid)
    c[f][k] += 1
w = max([len(f) for f in c] + [5]) + 2
print(f"{'file':<{w}}{'pass':>6}{'fail':>6}{'skip':>6}")
for f, (p, x, s) in sorted(c.items()):
    print(f"{f:<{w}}{p:>6}{x:>6}{s:>6}")
t = [sum(v[i] for v in c.values()) for i in range(3)]
print(f"{'total':<{w}}{t[0]:>6}{t[1]:>6}{t[2]:>6}")
unexpected = [t for t in failed if t not in known]
for t in sorted(set(known) & passed):
    print(f"now passing (remove from the known list): {t}")
for t in failed:
    if t in known:
        print(f"known failure: {t}: {known[t]}")
judged = sys.argv[2] != '/dev/null'
for t in unexpected:
    print(f"UNEXPECTED FAILURE: {t}" if judged else f"failed: {t}")
sys.exit(1 if unexpected and judged else 0)
PY
