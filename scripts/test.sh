#!/usr/bin/env bash
# The project's test command: unit and integration tests, including the one
# that drives the real `swift` CLI (python-swiftclient, installed into a
# private venv on first use), a short pass of every fuzz target, then the
# mount tests (root: testfs and GlusterFS), then OpenStack Swift's functional
# suite against sofgate (with tempauth, then again with a real Keystone
# started on loopback), then its browser
# CORS suite (installs chromium from Debian when missing), then a few-second
# smoke run of every benchmark workload (no targets) so scripts/bench never rots.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests need from Debian, installed when missing (as root, the way
# scripts/gluster-up.sh installs GlusterFS): FUSE for the mount tests, venv
# for the swift CLI and Swift's suites.
need=()
command -v fusermount3 >/dev/null || need+=(fuse3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "test.sh: missing ${need[*]}: install them or run as root" >&2; exit 1; }
  echo "test.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -qq >/dev/null
  timeout 600 apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The lint gate: formatting and clippy, warnings as errors. (rustup's
# components cannot be fetched here: where one is missing, say so and go on.)
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --all -- --check || { echo "test.sh: cargo fmt --check failed: run cargo fmt" >&2; exit 1; }
else
  echo "test.sh: SKIPPED the format check: rustfmt is not installed" >&2
fi
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --quiet --all-targets -- -D warnings
else
  echo "test.sh: SKIPPED clippy: it is not installed" >&2
fi

venv=.venv-test
if [ ! -x "$venv/bin/swift" ]; then
  echo "setting up $venv with python-swiftclient" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check python-swiftclient
fi
export SOFGATE_SWIFT_CLI="$PWD/$venv/bin/swift"

cargo build --quiet --all-targets
# contrib/sofgate.service, by systemd-analyze verify (SKIPPED without it).
scripts/check-service.sh
# tests/it/keystone.rs starts a real Keystone (scripts/keystone-up.sh installs it
# from PyPI on first use): here a Keystone that cannot start is a failure.
export SOFGATE_REQUIRE_KEYSTONE=${SOFGATE_REQUIRE_KEYSTONE:-1}
# tests/it/metrics.rs has a real Prometheus scrape sofgate (Debian's package,
# installed by scripts/prometheus-up.sh when missing): here one that cannot
# be installed is a failure, not a skip.
export SOFGATE_REQUIRE_PROMETHEUS=${SOFGATE_REQUIRE_PROMETHEUS:-1}
# Every stage runs even when one before it failed, so one run shows every
# failure; the command fails at the end if any stage did.
failed=()
stage() {
  local name=$1; shift
  local t0=$SECONDS
  echo "=== test.sh: $name" >&2
  if "$@"; then
    echo "=== test.sh: $name passed ($((SECONDS - t0)) s)" >&2
  else
    echo "=== test.sh: $name FAILED ($((SECONDS - t0)) s)" >&2
    failed+=("$name")
  fi
}
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/sofgate"
stage "cargo test" cargo test --all-targets -- --test-threads=4
stage "fuzz" scripts/fuzz 5
stage "mount-tests" env SOFGATE_BIN="$bin" mount-tests/run.sh
stage "Swift functional (tempauth)" env SOFGATE_BIN="$bin" scripts/functests.sh
stage "Swift functional (Keystone)" env SOFGATE_BIN="$bin" scripts/functests.sh --keystone
stage "Swift S3 suites" env SOFGATE_BIN="$bin" scripts/functests.sh --s3
stage "S3 clients" env SOFGATE_BIN="$bin" scripts/s3-clients.sh
stage "CORS suite" env SOFGATE_BIN="$bin" scripts/cors-tests.sh
stage "bench smoke" scripts/bench --smoke
if [ ${#failed[@]} -gt 0 ]; then
  printf 'test.sh: FAILED stages:' >&2
  printf ' [%s]' "${failed[@]}" >&2
  echo >&2
  exit 1
fi
echo "test.sh: every stage passed" >&2
