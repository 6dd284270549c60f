#!/usr/bin/env bash
# A node exits within drain_grace_seconds + 5 s of SIGTERM whatever state PostgreSQL and Redis are
# in (issue 23, docs/runbook.md). Private servers (CONVEYOR_SERVICES_DIR=.conveyor/shutdown-services,
# Redis 6397, PostgreSQL 5447), one node with every role, drain_grace_seconds 3, for each case:
#   postgres-stopped  PostgreSQL stopped with -m immediate (connections refused)
#   postgres-frozen   every PostgreSQL process SIGSTOPped (connections and statements hang)
#   redis-frozen      redis-server SIGSTOPped (commands and blocking reads hang)
# The node is started, becomes ready, the server is put in that state, the node gets one SIGTERM 2 s
# later, and must have exited within the bound.
#   scripts/test-shutdown.sh [--no-build] [case...]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BUILD=1
CASES=()
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) CASES+=("$arg") ;;
  esac
done
[[ ${#CASES[@]} -gt 0 ]] || CASES=(postgres-stopped postgres-frozen redis-frozen)
GRACE=3
BOUND=$((GRACE + 5))
export CONVEYOR_SERVICES_DIR="$ROOT/.conveyor/shutdown-services" CONVEYOR_REDIS_PORT=6397 CONVEYOR_PG_PORT=5447
HTTP_PORT=18590
WORK="$ROOT/.conveyor/shutdown-test"
mkdir -p "$WORK"
[[ $BUILD -eq 1 ]] && swift build --product conveyor 2>&1 | tail -2
BIN="$ROOT/.build/debug/conveyor"
[[ -x "$BIN" ]] || { echo "$BIN missing: swift build --product conveyor" >&2; exit 1; }

PGBIN=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
PGDATA="$CONVEYOR_SERVICES_DIR/postgres"
FAILED=0 NODE=
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_pids() { pgrep -f "postgres.*-D $PGDATA" 2>/dev/null; pgrep -P "$(head -1 "$PGDATA/postmaster.pid" 2>/dev/null || echo 0)" 2>/dev/null || true; }
redis_pid() { cat "$CONVEYOR_SERVICES_DIR/redis/redis.pid" 2>/dev/null || true; }
thaw() {
  for p in $(pg_pids) $(redis_pid); do kill -CONT "$p" 2>/dev/null || true; done
}
cleanup() {
  [[ -n "$NODE" ]] && kill -KILL "$NODE" 2>/dev/null || true
  thaw
  bash scripts/services.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

for c in "${CASES[@]}"; do
  thaw
  bash scripts/services.sh start >/dev/null
  bash scripts/services.sh wait
  eval "$(bash scripts/services.sh env)"
  LOG="$WORK/node-$c.log"
  env CONVEYOR_NODE_ID="shutdown-$c" CONVEYOR_KEY_PREFIX="sd$(date +%s)" CONVEYOR_DRAIN_GRACE_SECONDS=$GRACE \
    CONVEYOR_HTTP_PORT=$HTTP_PORT CONVEYOR_EXECUTOR=noop CONVEYOR_WORK_DIRECTORY="$WORK/work" \
    CONVEYOR_API_TOKEN=shutdown-token "$BIN" node >"$LOG" 2>&1 &
  NODE=$!
  for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  if ! curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1; then
    echo "FAIL $c: the node did not become ready"; tail -20 "$LOG"; FAILED=1; kill -KILL "$NODE" 2>/dev/null; NODE=; continue
  fi
  case "$c" in
    postgres-stopped) as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null ;;
    postgres-frozen) for p in $(pg_pids); do kill -STOP "$p"; done ;;
    redis-frozen) kill -STOP "$(redis_pid)" ;;
    *) echo "unknown case $c" >&2; exit 2 ;;
  esac
  sleep 2
  START=$(date +%s.%N)
  kill -TERM "$NODE"
  EXITED=0
  for _ in $(seq 1 $((BOUND * 10 + 50))); do
    if ! kill -0 "$NODE" 2>/dev/null; then EXITED=1; break; fi
    sleep 0.1
  done
  ELAPSED=$(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  if [[ $EXITED -eq 1 ]] && awk -v e="$ELAPSED" -v b="$BOUND" 'BEGIN {exit !(e <= b)}'; then
    wait "$NODE" 2>/dev/null && STATUS=0 || STATUS=$?
    echo "PASS $c: exited ${ELAPSED}s after SIGTERM (bound ${BOUND}s, status $STATUS)"
  else
    echo "FAIL $c: still running or too slow ${ELAPSED}s after SIGTERM (bound ${BOUND}s)"; tail -20 "$LOG"; FAILED=1
    kill -KILL "$NODE" 2>/dev/null || true
  fi
  NODE=
  thaw
done
exit $FAILED
