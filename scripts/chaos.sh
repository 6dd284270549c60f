#!/usr/bin/env bash
# Chaos suite (issue 7): three nodes, private Redis (AOF) and PostgreSQL, real builds, and faults
# injected while they run — SIGKILL of a worker node and of a hub/logs node, SIGSTOP past the lease,
# Redis and PostgreSQL restarts — with the cluster's invariants checked after each.
#   scripts/chaos.sh            (CONVEYOR_CHAOS_BIN=path/to/conveyor to test another build)
#   scripts/chaos.sh failover   the failover scenarios (issue 24): Sentinel, Redis emptied, PostgreSQL standby promoted
#   scripts/chaos.sh all        both suites, one after the other
# Last line: "chaos: N passed, M failed"; exits non-zero on any violation.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BIN="${CONVEYOR_CHAOS_BIN:-$ROOT/.build/debug/conveyor}"
if [[ ! -x "$BIN" ]]; then
  swift build --product conveyor
  BIN="$ROOT/.build/debug/conveyor"
fi
if ! command -v redis-server >/dev/null || ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  echo "chaos: redis-server or PostgreSQL server binaries missing; run scripts/install-deps.sh" >&2; exit 2
fi
export CONVEYOR_CHAOS_BIN="$BIN"
# The driver kills everything it started on exit; make sure it gets the signal too.
run() {
  python3 "$ROOT/scripts/chaos/$1" &
  DRIVER=$!
  trap 'kill -TERM $DRIVER 2>/dev/null; wait $DRIVER' INT TERM
  wait $DRIVER
}
case "${1:-}" in
  failover) command -v redis-sentinel >/dev/null || { echo "chaos: redis-sentinel missing; run scripts/install-deps.sh" >&2; exit 2; }
            run failover.py ;;
  all)      status=0; run chaos.py || status=$?; run failover.py || status=$?; exit $status ;;
  *)        run chaos.py ;;
esac
