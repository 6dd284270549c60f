#!/usr/bin/env bash
# Memory benchmark (issue 25 item 4): idle RSS of a worker-only node and of an all-roles node, split into
# anonymous and file-backed pages and by mapping (the binary, Swift runtime, Foundation+ICU, other libraries),
# next to reference processes in the same run: a Swift program that only sleeps, the same importing Foundation,
# and redis-server. Then the peak RSS of the dispatch layout (node A with every role but worker, two worker
# nodes, noop executor) while it drains N jobs. Goal: idle ≤ 40 MB for both node kinds.
#   bench/memory/run.sh [--jobs N] [--owners M] [--settle S] [--bin PATH] [--env K=V]...
# Private Redis/PostgreSQL (bench/lib/private.sh, ports 7401/7402). --env passes settings to every node
# (e.g. --env MALLOC_ARENA_MAX=8 to compare).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
source bench/lib/private.sh
N=10000 M=100 SETTLE=15 EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --jobs) N="$2"; shift 2 ;;
    --owners) M="$2"; shift 2 ;;
    --settle) SETTLE="$2"; shift 2 ;;
    --bin) BENCH_BIN="$2"; shift 2 ;;
    --env) EXTRA+=("$2"); shift 2 ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
(( N % M == 0 )) || { echo "--jobs must be a multiple of --owners" >&2; exit 2; }
BIN=$(bench_bin)
private_services
DB=$(fresh_db memory) PREFIX="bm$(date -u +%H%M%S)$$"
WORK="$ROOT/.conveyor/bench-memory/$DB"; mkdir -p "$WORK"
trap 'stop_nodes; kill "${REF_PIDS[@]}" 2>/dev/null || true' EXIT
say "$(machine_line); binary $BIN ($(du -m "$BIN" | cut -f1) MB); settle ${SETTLE}s; extra env: ${EXTRA[*]:-none}; work $WORK"

say "references: Swift programs that sleep (swiftc -O), redis-server"
printf 'import Glibc\nwhile true { sleep(3600) }\n' >"$WORK/floor.swift"
printf 'import Foundation\nlet d = Date(); print(d.timeIntervalSince1970 > 0 ? "up" : "", JSONEncoder().outputFormatting.rawValue)\nwhile true { Thread.sleep(forTimeInterval: 3600) }\n' >"$WORK/floor-foundation.swift"
swiftc -O "$WORK/floor.swift" -o "$WORK/floor" 2>/dev/null
swiftc -O "$WORK/floor-foundation.swift" -o "$WORK/floor-foundation" 2>/dev/null
REF_PIDS=()
"$WORK/floor" & REF_PIDS+=($!)
"$WORK/floor-foundation" >/dev/null & REF_PIDS+=($!)
REDIS_PID=$(redis-cli -p "$BENCH_REDIS_PORT" info server | tr -d '\r' | sed -n 's/^process_id://p')

COMMON=(CONVEYOR_REDIS_URL=redis://127.0.0.1:$BENCH_REDIS_PORT/0 CONVEYOR_POSTGRES_URL=postgres://conveyor@127.0.0.1:$BENCH_PG_PORT/$DB
        CONVEYOR_KEY_PREFIX=$PREFIX CONVEYOR_API_TOKEN=bench-token CONVEYOR_EXECUTOR=noop CONVEYOR_WORK_DIRECTORY=$WORK/work
        CONVEYOR_DEFAULT_OWNER_LIMIT=5 CONVEYOR_MAX_JOBS_PER_BUILD=$((N / M > 200 ? N / M : 200)) "${EXTRA[@]}")
say "idle: a worker-only node and an all-roles node, ${SETTLE}s after ready"
start_node "$WORK/idle-all.log" "${COMMON[@]}" CONVEYOR_NODE_ID=$PREFIX-all CONVEYOR_ROLES=all CONVEYOR_HTTP_PORT=7420; ALL=$NODE_PID
wait_ready 7420
start_node "$WORK/idle-worker.log" "${COMMON[@]}" CONVEYOR_NODE_ID=$PREFIX-worker CONVEYOR_ROLES=worker CONVEYOR_METRICS_PORT=7421; WORKER=$NODE_PID
wait_ready 7421
sleep "$SETTLE"
RSS_JSON="$WORK/idle.json" python3 bench/memory/rss.py snapshot worker-only=$WORKER all-roles=$ALL swift-sleep=${REF_PIDS[0]} swift+Foundation-sleep=${REF_PIDS[1]} redis-server=$REDIS_PID
python3 bench/memory/rss.py mappings $WORKER >"$WORK/mappings-worker.txt"
python3 bench/memory/rss.py mappings $ALL >"$WORK/mappings-all.txt"
echo "(largest mappings: $WORK/mappings-*.txt)"
stop_nodes

say "under load: the dispatch layout draining $N jobs ($M owners × $((N / M)), limit 5, 2 workers × 16 slots, noop)"
REPO="$WORK/repo"; git init -q -b main "$REPO"
{ echo "language: generic"; echo "script: true"; echo "env:"; echo "  jobs:"; for i in $(seq 1 $((N / M))); do echo "    - I=$i"; done; } >"$REPO/.conveyor.yml"
git -C "$REPO" add .conveyor.yml && git -C "$REPO" -c user.name=bench -c user.email=bench@localhost commit -qm jobs
"${PSQL[@]}" -d "$DB" -c "TRUNCATE requests, builds, jobs, job_events CASCADE" >/dev/null
start_node "$WORK/node-a.log" "${COMMON[@]}" CONVEYOR_NODE_ID=$PREFIX-a CONVEYOR_ROLES=web,gatekeeper,scheduler,hub,logs,reaper CONVEYOR_HTTP_PORT=7420 \
  CONVEYOR_POSTGRES_POOL_SIZE=4 CONVEYOR_REDIS_POOL_SIZE=4; A=$NODE_PID
wait_ready 7420
start_node "$WORK/node-b.log" "${COMMON[@]}" CONVEYOR_NODE_ID=$PREFIX-b CONVEYOR_ROLES=worker CONVEYOR_WORKER_SLOTS=16 CONVEYOR_METRICS_PORT=7421 \
  CONVEYOR_POSTGRES_POOL_SIZE=4 CONVEYOR_REDIS_POOL_SIZE=4; B=$NODE_PID
start_node "$WORK/node-c.log" "${COMMON[@]}" CONVEYOR_NODE_ID=$PREFIX-c CONVEYOR_ROLES=worker CONVEYOR_WORKER_SLOTS=16 CONVEYOR_METRICS_PORT=7422 \
  CONVEYOR_POSTGRES_POOL_SIZE=4 CONVEYOR_REDIS_POOL_SIZE=4; C=$NODE_PID
wait_ready 7421; wait_ready 7422; sleep 2
python3 bench/memory/rss.py snapshot node-a=$A node-b=$B node-c=$C
python3 bench/memory/rss.py sample 900 "$WORK/peak.json" node-a=$A node-b=$B node-c=$C redis-server=$REDIS_PID & SAMPLER=$!
T0=$(date +%s.%N)
seq 1 "$M" | xargs -P 8 -I{} curl -fsS -o /dev/null -H 'Authorization: Bearer bench-token' -H 'Content-Type: application/json' \
  -d "{\"branch\":\"main\",\"url\":\"file://$REPO\"}" "http://127.0.0.1:7420/api/v1/repos/o{}/r/requests"
for _ in $(seq 1 900); do
  done_=$("${PSQL[@]}" -d "$DB" -tAc "SELECT count(*) FROM jobs WHERE state IN ('passed', 'failed', 'errored', 'canceled')")
  [[ "$done_" -ge "$N" ]] && break; sleep 1
done
T1=$(date +%s.%N)
touch "$WORK/peak.json.stop"; wait $SAMPLER
echo "$done_/$N jobs finished in $(awk -v a=$T0 -v b=$T1 'BEGIN {printf "%.1f", b - a}') s (submit to last finish)"
python3 - "$WORK/peak.json" <<'PY'
import json, sys
peak = json.load(open(sys.argv[1]))
print("| process | peak VmRSS MB | peak RssAnon MB | peak threads |")
print("| --- | ---: | ---: | ---: |")
for name, p in peak.items():
    print(f"| {name} | {p['VmRSS'] / 1024:.1f} | {p['RssAnon'] / 1024:.1f} | {p['Threads']} |")
PY
say "after the drain"
python3 bench/memory/rss.py snapshot node-a=$A node-b=$B node-c=$C
echo "(node logs: $WORK)"
