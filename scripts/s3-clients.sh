#!/usr/bin/env bash
# Real S3 clients against sofgate's S3 door: the AWS CLI (a 50 MiB `s3 cp`,
# which uploads in parts; `s3 sync`; `s3api list-objects-v2`), boto3
# (presigned GET and PUT, a multipart upload with UploadPartCopy) and
# rclone's S3 backend (`sync` + `check`), each object compared through the
# Swift API and on disk too. Usage: scripts/s3-clients.sh
# Env: SOFGATE_BIN (default target/release/sofgate, built if missing),
#      S3_CLIENTS_DIR (the venv of awscli and boto3, default .s3-clients).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

venv=${S3_CLIENTS_DIR:-$root/.s3-clients}
if [ ! -x "$venv/bin/aws" ] || ! "$venv/bin/python" -c 'import boto3' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check awscli boto3
fi
if ! command -v rclone >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone > /dev/null
fi

bin=${SOFGATE_BIN:-$root/target/release/sofgate}
[ -x "$bin" ] || cargo build --release --quiet

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
secret = "s3-clients-secret-0123456789abcdef"
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

status=0
PATH="$venv/bin:$PATH" timeout 600 "$venv/bin/python" scripts/s3_clients.py \
  "http://$addr" "$work/dev" "$work/scratch" || status=$?
[ "$status" = 0 ] || { echo "--- sofgate log (last 40 lines)"; tail -n 40 "$work/log"; }
exit "$status"
