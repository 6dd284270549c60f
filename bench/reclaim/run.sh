#!/usr/bin/env bash
# Reclaim benchmark (issue 25 item 3): kill -9 the worker node running a job, and time how long until the
# job's next attempt starts on another worker. Goal: within lease + 2 s, median and worst over the kills.
#   bench/reclaim/run.sh [--kills N] [--lease S] [--sweep S] [--bin PATH]
# Private Redis/PostgreSQL (bench/lib/private.sh, ports 7401/7402). Node A runs every role but worker;
# two worker nodes (local executor, no sandbox) run a job whose script sleeps; each kill lands at a random
# point of the lease renewal cycle (1 s + U(0, lease/3) after the attempt started) and a replacement
# worker starts under a new node id. Times are from PostgreSQL's rows (job_events, jobs).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
source bench/lib/private.sh
KILLS=10 LEASE=10 SWEEP=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --kills) KILLS="$2"; shift 2 ;;
    --lease) LEASE="$2"; shift 2 ;;
    --sweep) SWEEP="$2"; shift 2 ;;
    --bin) BENCH_BIN="$2"; shift 2 ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
BIN=$(bench_bin)
private_services
DB=$(fresh_db reclaim) PREFIX="br$(date -u +%H%M%S)$$"
WORK="$ROOT/.conveyor/bench-reclaim/$DB"; mkdir -p "$WORK"
HTTP=7410
# A SIGKILLed worker leaves its job's script (sleep) behind: those are found by their working directory.
orphans() { for d in /proc/[0-9]*; do [[ "$(readlink "$d/cwd" 2>/dev/null)" == "$WORK"/* ]] && kill -KILL "${d#/proc/}" 2>/dev/null; done; true; }
trap 'stop_nodes; orphans' EXIT
say "$(machine_line); lease ${LEASE}s, sweep ${SWEEP:-default}s, $KILLS kills; binary $BIN; work $WORK"

REPO="$WORK/repo"
git init -q -b main "$REPO"
printf 'language: generic\nscript: sleep 3600\n' >"$REPO/.conveyor.yml"
git -C "$REPO" add .conveyor.yml && git -C "$REPO" -c user.name=bench -c user.email=bench@localhost commit -qm sleep

COMMON=(CONVEYOR_REDIS_URL=redis://127.0.0.1:$BENCH_REDIS_PORT/0 CONVEYOR_POSTGRES_URL=postgres://conveyor@127.0.0.1:$BENCH_PG_PORT/$DB
        CONVEYOR_KEY_PREFIX=$PREFIX CONVEYOR_API_TOKEN=bench-token CONVEYOR_LEASE_SECONDS=$LEASE CONVEYOR_MAX_ATTEMPTS=$((KILLS + 5))
        CONVEYOR_EXECUTOR=local CONVEYOR_SANDBOX=none CONVEYOR_WORK_DIRECTORY=$WORK/work CONVEYOR_WORKER_SLOTS=2)
[[ -n "$SWEEP" ]] && COMMON+=(CONVEYOR_SWEEP_INTERVAL_SECONDS=$SWEEP)
start_node "$WORK/node-a.log" "${COMMON[@]}" CONVEYOR_NODE_ID=$PREFIX-a CONVEYOR_ROLES=web,gatekeeper,scheduler,hub,logs,reaper CONVEYOR_HTTP_PORT=$HTTP
wait_ready $HTTP
declare -A WPID WPORT
NEXT=0
start_worker() {
  NEXT=$((NEXT + 1))
  local id="$PREFIX-w$NEXT" port=$((HTTP + NEXT))
  start_node "$WORK/$id.log" "${COMMON[@]}" CONVEYOR_NODE_ID=$id CONVEYOR_ROLES=worker CONVEYOR_METRICS_PORT=$port
  WPID[$id]=$NODE_PID; WPORT[$id]=$port
  wait_ready "$port"
}
start_worker; start_worker

curl -fsS -H 'Authorization: Bearer bench-token' -H 'Content-Type: application/json' \
  -d "{\"branch\":\"main\",\"url\":\"file://$REPO\"}" "http://127.0.0.1:$HTTP/api/v1/repos/o1/r/requests" >/dev/null
q() { "${PSQL[@]}" -d "$DB" -tAc "$1"; }
JOB=
for _ in $(seq 1 300); do JOB=$(q "SELECT min(id) FROM jobs"); [[ -n "$JOB" ]] && break; sleep 0.1; done
[[ -n "$JOB" ]] || { echo "no job was created; see $WORK/node-a.log" >&2; exit 1; }

# Waits until attempt $1 of the job has started; prints "<worker> <started epoch>".
wait_started() {
  local row
  for _ in $(seq 1 1200); do
    row=$(q "SELECT worker || ' ' || extract(epoch from started_at) FROM jobs WHERE id = $JOB AND attempt = $1 AND state = 'started' AND worker IS NOT NULL")
    [[ -n "$row" ]] && { echo "$row"; return 0; }
    sleep 0.05
  done
  echo "attempt $1 did not start within 60 s (state: $(q "SELECT state || ' attempt ' || attempt FROM jobs WHERE id = $JOB"))" >&2; return 1
}

RESULTS="$WORK/kills.tsv"
printf 'kill\tafter_start_s\treset_applied_s\tqueued_s\treceived_s\tstarted_s\n' >"$RESULTS"
read -r W STARTED < <(wait_started 1)
for k in $(seq 1 "$KILLS"); do
  # A random point of the renewal cycle (renewals every lease/3 from the attempt's start).
  DELAY=$(awk -v l="$LEASE" -v s=$RANDOM 'BEGIN {srand(s); printf "%.3f", 1 + rand() * l / 3}')
  sleep "$DELAY"
  T=$(date +%s.%N)
  kill -KILL "${WPID[$W]}"; wait "${WPID[$W]}" 2>/dev/null || true
  start_worker
  read -r W2 STARTED2 < <(wait_started $((k + 1)))
  row=$(q "SELECT (SELECT extract(epoch from created_at) FROM job_events WHERE job_id = $JOB AND kind = 'reset' AND applied AND attempt = $k ORDER BY id LIMIT 1)
            || ' ' || extract(epoch from queued_at) || ' ' || extract(epoch from received_at) FROM jobs WHERE id = $JOB")
  read -r RESET QUEUED RECEIVED <<<"$row"
  awk -v k=$k -v t=$T -v s=$STARTED -v r=$RESET -v qd=$QUEUED -v rc=$RECEIVED -v st=$STARTED2 \
    'BEGIN {printf "%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n", k, t - s, r - t, qd - t, rc - t, st - t}' | tee -a "$RESULTS"
  W=$W2 STARTED=$STARTED2
done

say "kill -9 → new attempt started (lease ${LEASE}s, goal ≤ $((LEASE + 2)) s)"
python3 - "$RESULTS" "$LEASE" <<'PY'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])][1:]
lease = float(sys.argv[2])
started = [float(r[5]) for r in rows]; reset = [float(r[2]) for r in rows]; after = [float(r[1]) for r in rows]
print(f"kills {len(rows)}: new attempt started after the kill: median {statistics.median(started):.2f} s, best {min(started):.2f} s, "
      f"worst {max(started):.2f} s (reset applied: median {statistics.median(reset):.2f} s, worst {max(reset):.2f} s)")
print(f"kill landed {min(after):.2f}-{max(after):.2f} s after the attempt started; "
      f"goal lease + 2 = {lease + 2:.0f} s: {'met' if max(started) <= lease + 2 else 'NOT met'} (worst {max(started) - lease:+.2f} s against the lease)")
PY
echo "(per kill: $RESULTS; node logs: $WORK)"
