#!/usr/bin/env bash
# Dispatch benchmark (issue 11): Conveyor's whole path against RQ and BullMQ on the same Redis, and
# redis-benchmark EVALSHA / pgbench -N as physical references, in one run. See bench/README.md.
#   bench/dispatch/run.sh [--jobs N] [--owners M] [--limit L] [--slots K] [--no-build] [--no-peers] [--timeout S]
#                         [--private-services] [--results FILE] [--perf] [--job-ms MS] [--no-rq]
#                         [--redis-port P] [--pg-port P] [--http-port P]
# --job-ms: every job sleeps MS ms (Conveyor: noop_executor_sleep_ms; RQ and BullMQ: their job function), the
# limit-bound case of issue 25 (e.g. --owners 4 --limit 5 --job-ms 20: ideal 1,000 jobs/s).
# --redis-port/--pg-port: the private servers' ports (default 6392/5442); --http-port: node A's (B and C take the next two).
# --hub-lanes N: node A's hub_batch_lanes; --node-a-pool N: node A's Postgres pool (default 4, like B and C).
# --perf: perf record -g of node A for 15 s during the drain, report in .conveyor/bench-dispatch/<stamp>/.
# --private-services: scripts/services.sh with CONVEYOR_SERVICES_DIR=.conveyor/bench-services, Redis 6392,
# PostgreSQL 5442, so that another session stopping the shared servers (6391/5441) can't end the run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
N=10000 M=100 L=5 K=32 BUILD=1 PEERS=1 TIMEOUT=900 PROBE=6 PRIVATE=0 RESULTS= PERF=0 JOB_MS=0 RQ=1 HUB_LANES= POOL_A=4
PRIVATE_REDIS_PORT=6392 PRIVATE_PG_PORT=5442 HTTP_PORT=18480
while [[ $# -gt 0 ]]; do
  case "$1" in
    --jobs) N="$2"; shift 2 ;;
    --owners) M="$2"; shift 2 ;;
    --limit) L="$2"; shift 2 ;;
    --slots) K="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --probe-owners) PROBE="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-peers) PEERS=0; shift ;;
    --private-services) PRIVATE=1; shift ;;
    --results) RESULTS="$2"; shift 2 ;;
    --perf) PERF=1; shift ;;
    --job-ms) JOB_MS="$2"; shift 2 ;;
    --no-rq) RQ=0; shift ;;
    --hub-lanes) HUB_LANES="$2"; shift 2 ;;
    --node-a-pool) POOL_A="$2"; shift 2 ;;
    --redis-port) PRIVATE_REDIS_PORT="$2"; shift 2 ;;
    --pg-port) PRIVATE_PG_PORT="$2"; shift 2 ;;
    --http-port) HTTP_PORT="$2"; shift 2 ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
(( N % M == 0 )) || { echo "--jobs must be a multiple of --owners" >&2; exit 2; }
PER=$((N / M)) SLOTS_PER_NODE=$((K / 2))
REDIS_PORT=6391 PG_PORT=5441
if [[ $PRIVATE -eq 1 ]]; then
  REDIS_PORT=$PRIVATE_REDIS_PORT PG_PORT=$PRIVATE_PG_PORT
  export CONVEYOR_SERVICES_DIR="$ROOT/.conveyor/bench-services-$REDIS_PORT" CONVEYOR_REDIS_PORT=$REDIS_PORT CONVEYOR_PG_PORT=$PG_PORT
fi
STAMP=$(date -u +%Y%m%d%H%M%S) DATE=$(date -u +%Y-%m-%d)
RESULTS="${RESULTS:-bench/results/dispatch-$DATE.json}"
WORK="$ROOT/.conveyor/bench-dispatch/$STAMP"
mkdir -p "$WORK" bench/results
PY="$ROOT/.conveyor/bench-venv/bin/python"
say() { printf '\n== %s\n' "$*"; }

say "venv (.conveyor/bench-venv): pip install rq bullmq redis"
[[ -x "$PY" ]] || python3 -m venv "$ROOT/.conveyor/bench-venv"
"$PY" -m pip install -q --disable-pip-version-check rq bullmq redis
PIPV=$("$PY" -c 'import json; from importlib.metadata import version as v; print(json.dumps({p: v(p) for p in ["rq","bullmq","redis"]}))')
echo "$PIPV"

BIN="$ROOT/.build-bench/release/conveyor"
if [[ $BUILD -eq 1 ]]; then
  say "swift build -c release --scratch-path .build-bench --product conveyor"
  swift build -c release --scratch-path .build-bench --product conveyor 2>&1 | tail -3
fi
[[ -x "$BIN" ]] || { echo "$BIN missing" >&2; exit 1; }

say "servers (scripts/services.sh start)"
bash scripts/services.sh start
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
PSQL=("$PGBIN/psql" -X -q -h 127.0.0.1 -p $PG_PORT -U conveyor)
DB="conveyor_dispatch_$STAMP" PREFIX="bd$STAMP"
"$PGBIN/createdb" -h 127.0.0.1 -p $PG_PORT -U conveyor "$DB"
echo "database $DB, key prefix $PREFIX, work $WORK"

say "repository: .conveyor.yml with $PER jobs (branch main) and $L jobs (branch probe)"
REPO="$WORK/repo"
git init -q -b main "$REPO"
gen() { echo "language: generic"; echo "script: true"; echo "env:"; echo "  jobs:"; for i in $(seq 1 "$1"); do echo "    - I=$i"; done; }
gen "$PER" > "$REPO/.conveyor.yml"
git -C "$REPO" add .conveyor.yml && git -C "$REPO" -c user.name=bench -c user.email=bench@localhost commit -qm "$PER jobs"
git -C "$REPO" checkout -qb probe && gen "$L" > "$REPO/.conveyor.yml"
git -C "$REPO" -c user.name=bench -c user.email=bench@localhost commit -qam "$L jobs" && git -C "$REPO" checkout -q main
EXPANDED=$("$BIN" config expand "$REPO/.conveyor.yml" 2>&1 | grep -c 'I=' || true)
echo "config expand: $EXPANDED job lines (want $PER)"

PIDS=()
stop_nodes() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done; kill -KILL "$p" 2>/dev/null || true; done
  PIDS=()
}
trap stop_nodes EXIT
COMMON=(CONVEYOR_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 CONVEYOR_POSTGRES_URL=postgres://conveyor@127.0.0.1:$PG_PORT/$DB
        CONVEYOR_KEY_PREFIX=$PREFIX CONVEYOR_API_TOKEN=bench-token CONVEYOR_DEFAULT_OWNER_LIMIT=$L
        CONVEYOR_MAX_JOBS_PER_BUILD=$((PER > 200 ? PER : 200)) CONVEYOR_EXECUTOR=noop CONVEYOR_WORK_DIRECTORY=$WORK/work
        CONVEYOR_POSTGRES_POOL_SIZE=4 CONVEYOR_REDIS_POOL_SIZE=4)
say "nodes: A web,gatekeeper,scheduler,hub,logs,reaper; B and C worker x $SLOTS_PER_NODE (executor noop)"
env "${COMMON[@]}" CONVEYOR_NODE_ID=bench-a CONVEYOR_ROLES=web,gatekeeper,scheduler,hub,logs,reaper CONVEYOR_HTTP_PORT=$HTTP_PORT \
  CONVEYOR_POSTGRES_POOL_SIZE=$POOL_A ${HUB_LANES:+CONVEYOR_HUB_BATCH_LANES=$HUB_LANES} \
  "$BIN" node >"$WORK/node-a.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null || { echo "node A not ready"; tail -20 "$WORK/node-a.log"; exit 1; }
for n in b c; do
  [[ $n == b ]] && port=$((HTTP_PORT + 1)) || port=$((HTTP_PORT + 2))
  env "${COMMON[@]}" CONVEYOR_NODE_ID=bench-$n CONVEYOR_ROLES=worker CONVEYOR_WORKER_SLOTS=$SLOTS_PER_NODE CONVEYOR_METRICS_PORT=$port \
    CONVEYOR_NOOP_EXECUTOR_SLEEP_MS=$JOB_MS \
    "$BIN" node >"$WORK/node-$n.log" 2>&1 & PIDS+=($!)
done
for n in 1 2; do for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$((HTTP_PORT + n))/readyz" >/dev/null 2>&1 && break; sleep 0.2; done; done
sleep 1

say "Conveyor: $M builds x $PER jobs through POST /api/v1/repos/{owner}/r/requests"
cmdstats() { redis-cli -p $REDIS_PORT info commandstats | tr -d '\r' | awk -F'[:=,]' '/^cmdstat_/ {t+=$3; if ($1=="cmdstat_zcard") z=$3} END {print t, z+0}'; }
cpu() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }
read -r R0 Z0 < <(cmdstats)
CPU0=(); for p in "${PIDS[@]}"; do CPU0+=("$(cpu "$p")"); done
REDIS_PID=$(redis-cli -p $REDIS_PORT info server | tr -d '\r' | sed -n 's/^process_id://p'); RCPU0=$(cpu "$REDIS_PID")
if [[ $PERF -eq 1 ]]; then
  (sleep 5; perf record -q -F 499 -g -p "${PIDS[0]}" -o "$WORK/perf-a.data" -- sleep 15 >/dev/null 2>&1) & PERF_PID=$!
fi
X0=$("${PSQL[@]}" -d "$DB" -tAc "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
"$PY" bench/dispatch/dispatch.py conveyor --redis-port $REDIS_PORT --pg-port $PG_PORT --jobs "$N" --owners "$M" --limit "$L" --slots "$K" --db "$DB" --prefix "$PREFIX" \
  --api "http://127.0.0.1:$HTTP_PORT" --repo-url "file://$REPO" --timeout "$TIMEOUT" --probe-owners 0 --out "$WORK/conveyor.json" >"$WORK/conveyor.out"
read -r R1 Z1 < <(cmdstats)
CPUS=""; i=0; for p in "${PIDS[@]}"; do CPUS+="${CPUS:+, }\"node-$(echo a b c | cut -d' ' -f$((i + 1)))\": $(awk -v a="${CPU0[$i]}" -v b="$(cpu "$p")" 'BEGIN {printf "%.1f", b - a}')"; i=$((i + 1)); done
CPUS+=", \"redis-server\": $(awk -v a="$RCPU0" -v b="$(cpu "$REDIS_PID")" 'BEGIN {printf "%.1f", b - a}')"
echo "CPU seconds during the drain: {$CPUS}"
for n in 0 1 2; do curl -fs "http://127.0.0.1:$((HTTP_PORT + n))/metrics" >"$WORK/metrics-$n.txt" 2>/dev/null || true; done
# Node A's stream handlers: seconds busy and entries handled per consumer group, since the node started.
BUSY=$(awk -F'[{}" ]+' '/^conveyor_stream_handler_duration_seconds_sum/ {b[$3]=$4} /^conveyor_stream_entries_total/ {e[$3]=$4}
  END {for (g in b) {printf "%s\"%s\": {\"busy_seconds\": %.2f, \"entries\": %d}", sep, g, b[g], e[g]; sep=", "}}' "$WORK/metrics-0.txt" 2>/dev/null || true)
echo "node A stream handlers: {$BUSY}"
if [[ $PERF -eq 1 ]]; then
  wait "$PERF_PID" || true
  perf report -i "$WORK/perf-a.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -v '^$' | grep '%' | head -60 >"$WORK/perf-a.txt" || true
  perf report -i "$WORK/perf-a.data" --no-children --sort dso --stdio 2>/dev/null | grep '%' | head -15 >"$WORK/perf-a-dso.txt" || true
fi
X1=$("${PSQL[@]}" -d "$DB" -tAc "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
RCALLS=$(awk -v a=$R0 -v b=$R1 -v za=$Z0 -v zb=$Z1 -v n=$N 'BEGIN {printf "%.1f", ((b-a)-(zb-za))/n}')
PGTX=$(awk -v a=$X0 -v b=$X1 -v n=$N 'BEGIN {printf "%.2f", (b-a)/n}')
echo "measured during the drain: $RCALLS Redis commands per job (all clients of the server, sampler ZCARDs excluded), $PGTX committed Postgres transactions per job (database $DB, includes the bench's polling)"
# The unsaturated probe runs after the counters are read, so it doesn't skew them.
[[ $PROBE -gt 0 ]] && "$PY" bench/dispatch/dispatch.py conveyor-probe --redis-port $REDIS_PORT --pg-port $PG_PORT --owners "$M" --limit "$L" --db "$DB" --prefix "$PREFIX" --api "http://127.0.0.1:$HTTP_PORT" \
  --repo-url "file://$REPO" --probe-owners "$PROBE" --conveyor "$WORK/conveyor.json" --out "$WORK/conveyor.json" >/dev/null || echo "probe failed"
cat "$WORK/conveyor.json"
stop_nodes

if [[ $PEERS -eq 1 ]]; then
  if [[ $RQ -eq 1 ]]; then
  say "RQ on redis db 10: $K SimpleWorker processes"
  "$PY" bench/dispatch/dispatch.py rq --redis-port $REDIS_PORT --jobs "$N" --owners "$M" --limit "$L" --slots "$K" --db-index 10 --timeout "$TIMEOUT" \
    --job-ms "$JOB_MS" --logdir "$WORK" --out "$WORK/rq.json" | tail -25 || echo "RQ run failed"
  fi
  say "BullMQ on redis db 11"
  "$PY" bench/dispatch/dispatch.py bullmq --redis-port $REDIS_PORT --jobs "$N" --owners "$M" --limit "$L" --slots "$K" --db-index 11 --timeout "$TIMEOUT" \
    --job-ms "$JOB_MS" --logdir "$WORK" --out "$WORK/bullmq.json" | tail -25 || echo "BullMQ run failed"
fi

say "references: redis-benchmark EVALSHA, pgbench -N"
SHA=$(redis-cli -p $REDIS_PORT script load "return 1")
rb() { redis-benchmark -p $REDIS_PORT -n 200000 -c 50 --csv "$@" | tail -1 | cut -d, -f2 | tr -d '"'; }
LOADRPS=$(rb script load "return 1")
EVRPS=$(rb evalsha "$SHA" 0)
echo "SCRIPT LOAD $LOADRPS/s, EVALSHA $EVRPS/s"
SCRATCH="pgbench_dispatch_$STAMP"
"$PGBIN/createdb" -h 127.0.0.1 -p $PG_PORT -U conveyor "$SCRATCH"
"$PGBIN/pgbench" -h 127.0.0.1 -p $PG_PORT -U conveyor -i -q "$SCRATCH" >"$WORK/pgbench-init.log" 2>&1
"$PGBIN/pgbench" -h 127.0.0.1 -p $PG_PORT -U conveyor -N -c 12 -j 2 -T 10 "$SCRATCH" >"$WORK/pgbench.log" 2>&1
PGTPS=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$WORK/pgbench.log" | head -1)
echo "pgbench -N -c 12 -j 2 -T 10: $PGTPS tx/s"
"$PGBIN/dropdb" -h 127.0.0.1 -p $PG_PORT -U conveyor "$SCRATCH"
cat >"$WORK/refs.json" <<EOF
{"evalsha_rps": $EVRPS, "script_load_rps": $LOADRPS, "evalsha_command": "redis-benchmark -p $REDIS_PORT -n 200000 -c 50 evalsha $SHA 0",
 "pgbench_tps": $PGTPS, "pg_clients": 12, "pg_seconds": 10, "pgbench_command": "pgbench -N -c 12 -j 2 -T 10 (after pgbench -i)",
 "measured_redis_commands_per_job": $RCALLS, "cpu_seconds_during_drain": {$CPUS}, "node_a_stream_handlers": {$BUSY}, "measured_pg_commits_per_job": $PGTX}
EOF

VERS=$("$PY" -c "
import json, subprocess, sys
v = json.loads(sys.argv[1])
v['redis_server'] = subprocess.run(['redis-server', '--version'], capture_output=True, text=True).stdout.split()[2]
v['postgres'] = subprocess.run(['$PGBIN/postgres', '--version'], capture_output=True, text=True).stdout.strip()
v['conveyor_commit'] = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
v['python'] = sys.version.split()[0]
print(json.dumps(v))" "$PIPV")
say "results"
"$PY" bench/dispatch/dispatch.py report --redis-port $REDIS_PORT --pg-port $PG_PORT --jobs "$N" --owners "$M" --limit "$L" --slots "$K" --probe-owners "$PROBE" --date "$DATE" --job-ms "$JOB_MS" \
  --conveyor "$WORK/conveyor.json" --rq "$WORK/rq.json" --bullmq "$WORK/bullmq.json" --refs "$WORK/refs.json" --versions "$VERS" \
  --redis-calls-per-job "$RCALLS" --pg-tx-per-job "$PGTX" \
  --assumptions "Redis commands and Postgres commits per job are measured during the Conveyor drain (INFO commandstats and pg_stat_database deltas / N); other clients of the same servers during the run are counted too" \
  --out "$RESULTS"
echo "(json: $RESULTS; node logs: $WORK)"
