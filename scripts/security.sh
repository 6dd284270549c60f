#!/usr/bin/env bash
# Security suite (issue 18): hostile builds on a real one-node cluster — its own Redis (ACL user and
# password) and PostgreSQL (password) on free loopback ports — try to read the node's credentials,
# reach Redis and PostgreSQL, write outside their directory, fork 2,000 processes, allocate past
# the memory limit and leave a daemon behind. Every attempt must fail, a limit hit must be named in
# the log, the node must stay healthy and the next build pass. Needs root (build users, cgroups).
#   scripts/security.sh        (CONVEYOR_SECURITY_BIN=path/to/conveyor to test another build)
# Last line: "security: N passed, M failed"; exits non-zero on any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BIN="${CONVEYOR_SECURITY_BIN:-$ROOT/.build/debug/conveyor}"
if [[ ! -x "$BIN" ]]; then
  swift build --product conveyor
  BIN="$ROOT/.build/debug/conveyor"
fi
if [[ $(id -u) -ne 0 ]]; then echo "security: needs root (jobs run as build users, in cgroups)" >&2; exit 2; fi
for tool in redis-server bwrap slirp4netns nft; do
  command -v "$tool" >/dev/null || { echo "security: $tool missing; run scripts/install-deps.sh" >&2; exit 2; }
done
export CONVEYOR_SECURITY_BIN="$BIN"
python3 "$ROOT/scripts/security/security.py" "$@" &
DRIVER=$!
trap 'kill -TERM $DRIVER 2>/dev/null; wait $DRIVER' INT TERM
wait $DRIVER
