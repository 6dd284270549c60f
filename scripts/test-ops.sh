#!/usr/bin/env bash
# Operations tests against a real two-node cluster (issues 8 and 9):
#   - UI: a real headless Chromium (DevTools protocol) opens a job page while its build runs, sees log
#     lines appear (#log .line grows) and the state badge (#job-state[data-state]) end at passed;
#     screenshot in .conveyor/test-ops/job.png.
#   - Prometheus: a real `prometheus` scrapes both nodes every second; every Grafana panel expression
#     and template variable query in grafana/dashboards/*.json must be valid and return data.
#     The cluster exercises the reaper (kill -9 of the worker node mid-job, then a restart).
#   - promtool check rules / test rules on deploy/alerts.yml; promtool check metrics on every node.
# Uses the servers of scripts/services.sh with a fresh key prefix and a fresh database.
# Env: CONVEYOR_OPS_BIN (default .build/debug/conveyor), CONVEYOR_OPS_PORT (18280),
#      CONVEYOR_OPS_PROM_PORT (19090). Last line: "ops: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT="$ROOT/.conveyor/test-ops"
mkdir -p "$OUT"
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
log() { echo "--- $(date -u +%H:%M:%S) $*"; }
finish() {
  echo "ops: $PASSED passed, $FAILED failed"
  [[ $FAILED -eq 0 ]]
  exit $?
}

# ---------------------------------------------------------------- packages
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null || ! command -v chromium >/dev/null; then
  log "installing chromium and prometheus"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get install -y --no-install-recommends chromium prometheus >/dev/null 2>&1 \
    || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends chromium prometheus >/dev/null; } \
    || { fail "apt-get install chromium prometheus"; finish; }
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || $SUDO service prometheus stop >/dev/null 2>&1 || true
fi

BIN="${CONVEYOR_OPS_BIN:-$ROOT/.build/debug/conveyor}"
if [[ ! -x "$BIN" ]]; then
  log "building conveyor"
  swift build --product conveyor >/dev/null || { fail "swift build"; finish; }
  BIN="$ROOT/.build/debug/conveyor"
fi
if [[ -n "$(find Sources -newer "$BIN" -name '*.swift' -print -quit 2>/dev/null)" ]]; then
  echo "warning: $BIN is older than Sources/ (rebuild it to test the current code)"
fi
scripts/services.sh start >/dev/null || { fail "scripts/services.sh start"; finish; }

# ---------------------------------------------------------------- fresh prefix, database, directories
RUN="ops$(date +%s)$$"
TMP=$(mktemp -d /tmp/conveyor-ops.XXXXXX)
chmod 0755 "$TMP"   # jobs run as build users (docs/security.md): they must reach their directory and the repos
PORT="${CONVEYOR_OPS_PORT:-18280}"
PROM_PORT="${CONVEYOR_OPS_PROM_PORT:-19090}"
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
while ! port_free "$PORT"; do PORT=$((PORT + 2)); done
METRICS_PORT=$((PORT + 1))
while ! port_free "$METRICS_PORT"; do METRICS_PORT=$((METRICS_PORT + 1)); done
while ! port_free "$PROM_PORT"; do PROM_PORT=$((PROM_PORT + 1)); done

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
PSQL="${PG_BIN:+$PG_BIN/}psql"
"${PG_BIN:+$PG_BIN/}createdb" -h 127.0.0.1 -p 5441 -U conveyor "$RUN" || { fail "createdb $RUN"; finish; }

export CONVEYOR_API_TOKEN="ops-token-$RUN"
export CONVEYOR_KEY_PREFIX="$RUN"
export CONVEYOR_POSTGRES_URL="postgres://conveyor@127.0.0.1:5441/$RUN"
export CONVEYOR_REDIS_URL="redis://127.0.0.1:6391/0"
export CONVEYOR_WORK_DIRECTORY="$TMP/work"
export CONVEYOR_LEASE_SECONDS=10
export CONVEYOR_SWEEP_INTERVAL_SECONDS=1
export CONVEYOR_EXECUTOR=local
API="http://127.0.0.1:$PORT"

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  redis-cli -p 6391 --scan --pattern "$RUN:*" 2>/dev/null | xargs -r -n 500 redis-cli -p 6391 DEL >/dev/null 2>&1
  redis-cli -p 6391 --scan --pattern "*{$RUN}*" 2>/dev/null | xargs -r -n 500 redis-cli -p 6391 DEL >/dev/null 2>&1
  "${PG_BIN:+$PG_BIN/}dropdb" -h 127.0.0.1 -p 5441 -U conveyor --if-exists --force "$RUN" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap 'cleanup' EXIT
trap 'fail "interrupted"; finish' INT TERM

start_node() { # name roles env...
  local name=$1 roles=$2; shift 2
  env CONVEYOR_NODE_ID="$RUN-$name" CONVEYOR_ROLES="$roles" "$@" "$BIN" node >>"$OUT/$name.log" 2>&1 &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
}
wait_http() { # url seconds
  for _ in $(seq 1 $(($2 * 10))); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
api() { curl -sS -H "Authorization: Bearer $CONVEYOR_API_TOKEN" -H 'Content-Type: application/json' "$@"; }
jq_() { python3 "$ROOT/scripts/ops/ops.py" json "$@"; }

make_repo() { # name script
  local dir="$TMP/repos/$1"
  mkdir -p "$dir"
  git -C "$dir" init -q -b main
  printf 'language: shell\nscript:\n  - %s\n' "$2" >"$dir/.conveyor.yml"
  git -C "$dir" add .conveyor.yml
  git -C "$dir" -c user.name=ops -c user.email=ops@example.com commit -q -m "$1"
  echo "$dir"
}
submit() { # slug dir -> prints the first job id
  local reply request build job
  reply=$(api -X POST "$API/api/v1/repos/$1/requests" -d "{\"branch\":\"main\",\"url\":\"file://$2\"}")
  request=$(jq_ request <<<"$reply")
  [[ -n "$request" ]] || { echo "submit $1: $reply" >&2; return 1; }
  for _ in $(seq 1 200); do
    build=$(api "$API/api/v1/requests/$request" | jq_ build_id)
    if [[ -n "$build" ]]; then
      job=$(api "$API/api/v1/builds/$build" | jq_ jobs 0 id)
      [[ -n "$job" ]] && { echo "$job"; return 0; }
    fi
    sleep 0.1
  done
  echo "submit $1: no job for request $request" >&2
  return 1
}
job_field() { api "$API/api/v1/jobs/$1" | jq_ job "$2"; }
wait_state() { # job seconds states-regex
  local s=""
  for _ in $(seq 1 $(($2 * 5))); do
    s=$(job_field "$1" state)
    [[ "$s" =~ ^($3)$ ]] && { echo "$s"; return 0; }
    sleep 0.2
  done
  echo "$s"
  return 1
}

log "run $RUN: node A :$PORT, node B metrics :$METRICS_PORT, prometheus :$PROM_PORT, binary $BIN"
: >"$OUT/node-a.log"; : >"$OUT/node-b.log"
# Node A takes one job at a time, so the slow UI job runs on A and the rest on B.
start_node node-a all CONVEYOR_HTTP_PORT="$PORT" CONVEYOR_WORKER_SLOTS=1
A_PID=$NODE_PID
wait_http "$API/healthz" 60 || { fail "node A serves $API/healthz"; tail -20 "$OUT/node-a.log"; finish; }

# ---------------------------------------------------------------- Prometheus, scraping from the start
RULES=""
if promtool check rules deploy/alerts.yml >"$OUT/promtool-check.log" 2>&1; then
  pass "promtool check rules deploy/alerts.yml"
  RULES="rule_files: [\"$ROOT/deploy/alerts.yml\"]"
else
  fail "promtool check rules deploy/alerts.yml"; cat "$OUT/promtool-check.log"
fi
if promtool test rules deploy/alerts_test.yml >"$OUT/promtool-test.log" 2>&1; then
  pass "promtool test rules deploy/alerts_test.yml"
else
  fail "promtool test rules deploy/alerts_test.yml"; cat "$OUT/promtool-test.log"
fi
cat >"$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
$RULES
scrape_configs:
  - job_name: conveyor-web
    static_configs: [{targets: ["127.0.0.1:$PORT"], labels: {tier: control}}]
  - job_name: conveyor-nodes
    static_configs: [{targets: ["127.0.0.1:$METRICS_PORT"], labels: {tier: worker}}]
EOF
promtool check config "$TMP/prometheus.yml" >/dev/null 2>&1 || { fail "promtool check config (test config)"; promtool check config "$TMP/prometheus.yml"; }
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$OUT/prometheus.log" 2>&1 &
PIDS+=("$!")
PROM_START=$(date +%s)
PROM="http://127.0.0.1:$PROM_PORT"
wait_http "$PROM/-/ready" 30 && pass "prometheus ready" || { fail "prometheus ready"; tail -20 "$OUT/prometheus.log"; }

# ---------------------------------------------------------------- builds
SLOW=$(make_repo slow 'for i in $(seq 1 15); do echo "line $i"; sleep 1; done')
QUICK=$(make_repo quick 'echo quick build passes')
FAILING=$(make_repo failing 'echo about to fail; false')
REAP=$(make_repo reap 'echo reaper job; sleep 6; echo done')

# The slow job starts on node A before node B exists; node A (1 slot) stays busy with it, so the
# other builds run on node B.
SLOW_JOB=$(submit ops/slow "$SLOW") || { fail "submit slow build"; finish; }
st=$(wait_state "$SLOW_JOB" 30 'started|passed|failed|errored') || true
w=$(job_field "$SLOW_JOB" worker)
log "slow job $SLOW_JOB: $st on $w"
[[ "$st" == started && "$w" == "$RUN-node-a" ]] || fail "slow job started on node A (state $st, worker $w)"
start_node node-b worker CONVEYOR_METRICS_PORT="$METRICS_PORT" CONVEYOR_WORKER_SLOTS=3
B_PID=$NODE_PID
wait_http "http://127.0.0.1:$METRICS_PORT/metrics" 60 || { fail "node B serves /metrics"; tail -20 "$OUT/node-b.log"; finish; }
pass "cluster: node A (all) and node B (worker) up"

# UI test in the background while the rest of the cluster work happens.
python3 scripts/ops/ops.py ui "$API/#/jobs/$SLOW_JOB" "$OUT/job.png" >"$OUT/ui.out" 2>&1 &
UI_PID=$!

QUICK_JOB=$(submit ops/quick "$QUICK") || fail "submit quick build"
FAIL_JOB=$(submit ops/failing "$FAILING") || fail "submit failing build"
REAP_JOB=$(submit ops/reap "$REAP") || fail "submit reaper build"
[[ -n "${QUICK_JOB:-}" ]] && { s=$(wait_state "$QUICK_JOB" 60 'passed|failed|errored|canceled'); [[ "$s" == passed ]] && pass "quick build passed" || fail "quick build: $s"; }
[[ -n "${FAIL_JOB:-}" ]] && { s=$(wait_state "$FAIL_JOB" 60 'passed|failed|errored|canceled'); [[ "$s" == failed ]] && pass "failing build failed" || fail "failing build: $s"; }

# Every node's /metrics passes promtool's lint (HELP and TYPE lines, names, suffixes), after builds
# ran so that the per-job metrics exist.
for target in "node A=127.0.0.1:$PORT" "node B=127.0.0.1:$METRICS_PORT"; do
  if curl -fsS "http://${target#*=}/metrics" | promtool check metrics >"$OUT/promtool-metrics.log" 2>&1; then
    pass "promtool check metrics on ${target%%=*}"
  else
    fail "promtool check metrics on ${target%%=*}"; cat "$OUT/promtool-metrics.log"
  fi
done

# Reaper: SIGKILL node B while the reap job runs on it, restart B; the reaper reclaims after the lease.
if [[ -n "${REAP_JOB:-}" ]]; then
  s=$(wait_state "$REAP_JOB" 30 'started|passed|failed|errored')
  w=$(job_field "$REAP_JOB" worker)
  log "reap job $REAP_JOB: $s on $w; kill -9 node B"
  [[ "$s" == started && "$w" == "$RUN-node-b" ]] || fail "reap job runs on node B when it is killed (state $s, worker $w)"
  kill -9 "$B_PID" 2>/dev/null
  wait "$B_PID" 2>/dev/null
  # Restarted under a new node id (a replacement machine): a node restarted under its old id resets
  # its own previous life's jobs at startup, and the reaper would have nothing to reclaim.
  # The replacement reads its Postgres results on one loop (event_loop_threads: 0 counts as 1).
  start_node node-b worker CONVEYOR_METRICS_PORT="$METRICS_PORT" CONVEYOR_WORKER_SLOTS=3 CONVEYOR_NODE_ID="$RUN-node-b2" \
    CONVEYOR_EVENT_LOOP_THREADS=0
  B_PID=$NODE_PID
  wait_http "http://127.0.0.1:$METRICS_PORT/metrics" 60 || fail "node B restarts"
  s=$(wait_state "$REAP_JOB" 60 'passed|failed|errored|canceled')
  attempt=$(job_field "$REAP_JOB" attempt)
  [[ "$s" == passed && "${attempt:-1}" -ge 2 ]] && pass "reaped job passed on attempt $attempt" || fail "reaped job: state $s attempt $attempt"
fi

# Cancel and restart (hub paths).
CANCEL_JOB=$(submit ops/slow "$SLOW") && {
  wait_state "$CANCEL_JOB" 30 'started' >/dev/null
  api -X POST "$API/api/v1/jobs/$CANCEL_JOB/cancel" -o /dev/null
  s=$(wait_state "$CANCEL_JOB" 30 'canceled|passed|failed|errored'); [[ "$s" == canceled ]] && pass "job canceled" || fail "cancel: $s"
}
if [[ -n "${QUICK_JOB:-}" ]]; then
  api -X POST "$API/api/v1/jobs/$QUICK_JOB/restart" -o /dev/null
  s=$(wait_state "$QUICK_JOB" 60 'passed|failed|errored|canceled')
  attempt=$(job_field "$QUICK_JOB" attempt)
  [[ "$s" == passed ]] && pass "restarted job passed (attempt $attempt)" || fail "restart: $s"
fi

wait "$UI_PID"; ui_status=$?
cat "$OUT/ui.out"
PASSED=$((PASSED + $(grep -c '^PASS' "$OUT/ui.out")))
FAILED=$((FAILED + $(grep -c '^FAIL' "$OUT/ui.out")))
[[ $ui_status -eq 0 || $(grep -c '^FAIL' "$OUT/ui.out") -gt 0 ]] || fail "ui helper exited $ui_status"

# ---------------------------------------------------------------- dashboards against Prometheus
# rate()[5m] needs two samples in the window: wait until Prometheus has scraped for ≥ 30 s and for
# a few seconds since the last build finished.
sleep_until=$((PROM_START + 30))
[[ $sleep_until -ge $(($(date +%s) + 5)) ]] || sleep_until=$(($(date +%s) + 5))
log "waiting $((sleep_until - $(date +%s))) s for samples"
while [[ $(date +%s) -lt $sleep_until ]]; do sleep 1; done
up=$(curl -fsS "$PROM/api/v1/query?query=up" | python3 -c 'import json,sys; print(" ".join(r["metric"]["job"]+"="+r["value"][1] for r in json.load(sys.stdin)["data"]["result"]))')
[[ "$up" == *conveyor-web=1* && "$up" == *conveyor-nodes=1* ]] && pass "prometheus scrapes both nodes ($up)" || fail "prometheus targets: $up"
python3 scripts/ops/ops.py prom "$PROM" grafana/dashboards/*.json >"$OUT/prom.out" 2>&1
grep -v '^PASS' "$OUT/prom.out"
echo "($(grep -c '^PASS' "$OUT/prom.out") panel/variable queries returned data; full list in $OUT/prom.out)"
PASSED=$((PASSED + $(grep -c '^PASS' "$OUT/prom.out")))
FAILED=$((FAILED + $(grep -c '^FAIL' "$OUT/prom.out")))
# The panels that end in `or vector(0)` return data anyway; check the reaper really counted the reclaim.
reclaimed=$(curl -fsS "$PROM/api/v1/query" --data-urlencode 'query=sum(max_over_time(conveyor_reaper_reclaimed_total[5m]))' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")')
[[ "$reclaimed" =~ ^[0-9.]+$ && "$reclaimed" != 0 ]] && pass "conveyor_reaper_reclaimed_total counted the reclaim ($reclaimed)" || fail "conveyor_reaper_reclaimed_total after the kill -9: $reclaimed"
finished=$(curl -fsS "$PROM/api/v1/query" --data-urlencode 'query=count(max by (state) (conveyor_jobs_finished_total{state=~"passed|failed|canceled"}) > 0)' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "0")')
[[ "$finished" == 3 ]] && pass "conveyor_jobs_finished_total has passed, failed and canceled" || fail "conveyor_jobs_finished_total states with counts: $finished of 3"
if [[ -n "$RULES" ]]; then
  n=$(curl -fsS "$PROM/api/v1/rules" | python3 -c 'import json,sys; g=json.load(sys.stdin)["data"]["groups"]; print(sum(len(x["rules"]) for x in g))')
  [[ "${n:-0}" -gt 0 ]] && pass "prometheus loaded $n alert rules from deploy/alerts.yml" || fail "prometheus loaded no rules"
fi

# Nodes drain and exit 0 on SIGTERM (systemd would mark a unit failed otherwise).
stop_node() { # name pid
  kill -TERM "$2" 2>/dev/null
  for _ in $(seq 1 400); do kill -0 "$2" 2>/dev/null || break; sleep 0.1; done
  wait "$2" 2>/dev/null
  local status=$?
  [[ $status -eq 0 ]] && pass "$1 exits 0 on SIGTERM" || { fail "$1 exits $status on SIGTERM"; tail -c 600 "$OUT/$1.log"; echo; }
}
stop_node node-b "$B_PID"
stop_node node-a "$A_PID"

finish
