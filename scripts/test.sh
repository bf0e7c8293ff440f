#!/usr/bin/env bash
# The project's test command: unit and integration tests, including the one
# that drives the real `swift` CLI (python-swiftclient, installed into a
# private venv on first use), a short pass of every fuzz target, then the
# mount tests (root: testfs and GlusterFS),
# then OpenStack Swift's functional suite against sofgate, then its browser
# CORS suite (installs chromium from Debian when missing), then a few-second
# smoke run of every benchmark workload (no targets) so scripts/bench never rots.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-test
if [ ! -x "$venv/bin/swift" ]; then
  echo "setting up $venv with python-swiftclient" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check python-swiftclient
fi
export SOFGATE_SWIFT_CLI="$PWD/$venv/bin/swift"

cargo build --quiet --all-targets
cargo test --all-targets -- --test-threads=4
scripts/fuzz 5
SOFGATE_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/sofgate" mount-tests/run.sh
SOFGATE_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/sofgate" scripts/functests.sh
SOFGATE_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/sofgate" scripts/cors-tests.sh
scripts/bench --smoke
