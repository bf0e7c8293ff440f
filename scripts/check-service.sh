#!/usr/bin/env bash
# Checks contrib/*.service with `systemd-analyze verify` (and prints the
# unit's exposure score), where systemd-analyze exists; says SKIPPED where
# it does not. verify wants ExecStart's binary to exist: the unit is
# checked as a copy naming the built binary (SOFGATE_BIN, default
# target/debug/sofgate) instead of /usr/local/bin/sofgate.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v systemd-analyze >/dev/null; then
  echo "check-service: SKIPPED: systemd-analyze is not installed"
  exit 0
fi
bin="${SOFGATE_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/debug/sofgate}"
[ -x "$bin" ] || { echo "check-service: no sofgate binary at $bin (build first)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for unit in contrib/*.service; do
  copy="$tmp/$(basename "$unit")"
  sed "s|/usr/local/bin/sofgate|$bin|g" "$unit" >"$copy"
  # verify prints problems and exits non-zero on errors; warnings count too.
  out="$(systemd-analyze verify "$copy" 2>&1)" || { echo "$out"; echo "check-service: $unit FAILED"; exit 1; }
  if [ -n "$out" ]; then
    echo "$out"
    echo "check-service: $unit FAILED (warnings)"
    exit 1
  fi
  score="$(systemd-analyze security --offline=yes "$copy" 2>/dev/null | tail -1 || true)"
  echo "check-service: $unit verified. ${score#→ }"
done
