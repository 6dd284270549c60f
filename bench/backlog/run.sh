#!/usr/bin/env bash
# Backlog benchmark (issue 25 item 1), two parts on private Redis/PostgreSQL (bench/lib/private.sh, 7401/7402):
#  1. `conveyor-bench backlog`: per waiting job, against backlog size (1k/10k/100k jobs over 100/1k/10k owners):
#     the Redis rebuild of a fresh prefix, Redis memory, created → queued (first sweep), the steady sweep.
#  2. API latency with a million job rows (generated with generate_series: 10,000 owners and repositories,
#     100,000 builds, 900,000 finished jobs and 100,000 waiting): GET /api/v1/builds, /builds?repo=,
#     /owners/{login}/queue, /queues, /owners, p50/p99 over one keep-alive connection, next to the same SQL
#     through pgbench. EXPLAIN ANALYZE of the statements goes to the work folder. Goal: p99 < 100 ms.
#   bench/backlog/run.sh [--sizes 1000x100,...] [--requests N] [--no-scaling] [--no-api] [--bin PATH] [--bench-bin PATH]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
source bench/lib/private.sh
SIZES="1000x100,10000x1000,100000x10000,100000x100" REQUESTS=300 SCALING=1 API=1
BENCH="$ROOT/.build-rel/release/conveyor-bench"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sizes) SIZES="$2"; shift 2 ;;
    --requests) REQUESTS="$2"; shift 2 ;;
    --no-scaling) SCALING=0; shift ;;
    --no-api) API=0; shift ;;
    --bin) BENCH_BIN="$2"; shift 2 ;;
    --bench-bin) BENCH="$2"; shift 2 ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
BIN=$(bench_bin)
private_services
say "$(machine_line); binaries $BIN, $BENCH"
if [[ $SCALING -eq 1 ]]; then
  say "scaling: conveyor-bench backlog --sizes $SIZES"
  CONVEYOR_TEST_REDIS_URL=redis://127.0.0.1:$BENCH_REDIS_PORT/0 CONVEYOR_TEST_POSTGRES_URL=postgres://conveyor@127.0.0.1:$BENCH_PG_PORT/conveyor \
    "$BENCH" backlog --sizes "$SIZES"
fi
[[ $API -eq 1 ]] || exit 0

DB=$(fresh_db backlog_api) PREFIX="bb$(date -u +%H%M%S)$$"
WORK="$ROOT/.conveyor/bench-backlog/$DB"; mkdir -p "$WORK"
trap stop_nodes EXIT
ENV=(CONVEYOR_REDIS_URL=redis://127.0.0.1:$BENCH_REDIS_PORT/0 CONVEYOR_POSTGRES_URL=postgres://conveyor@127.0.0.1:$BENCH_PG_PORT/$DB
     CONVEYOR_KEY_PREFIX=$PREFIX CONVEYOR_API_TOKEN=bench-token)
say "API: a million job rows in $DB (work $WORK)"
env "${ENV[@]}" "$BIN" migrate >/dev/null 2>&1 || start_node "$WORK/migrate.log" "${ENV[@]}" CONVEYOR_ROLES=web CONVEYOR_HTTP_PORT=7440
T0=$(date +%s.%N)
"${PSQL[@]}" -d "$DB" <<'SQL'
INSERT INTO owners (login) SELECT 'b' || i FROM generate_series(1, 10000) i;
INSERT INTO repositories (owner_id, slug, url) SELECT id, login || '/app', 'file:///bench' FROM owners;
INSERT INTO requests (repository_id, event_type, branch, sha, state, created_at)
  SELECT r.id, 'push', 'main', md5(r.id || '.' || n), 'accepted', now() - make_interval(mins => 11 - n) FROM repositories r, generate_series(1, 10) n;
INSERT INTO builds (repository_id, request_id, number, event_type, branch, sha, config, state, created_at, started_at, finished_at)
  SELECT q.repository_id, q.id, row_number() OVER (PARTITION BY q.repository_id ORDER BY q.id), 'push', 'main', q.sha, '{}', 'passed', q.created_at, q.created_at, q.created_at
  FROM requests q;
UPDATE builds SET state = 'created', started_at = NULL, finished_at = NULL WHERE number = 10;
INSERT INTO jobs (build_id, repository_id, owner_id, number, position, queue, config, state, created_at, queued_at, started_at, finished_at)
  SELECT b.id, b.repository_id, r.owner_id, b.number || '.' || n, n, 'default', '{"script": ["true"]}'::jsonb,
         CASE WHEN b.number = 10 THEN 'created' ELSE 'passed' END, b.created_at,
         CASE WHEN b.number = 10 THEN NULL ELSE b.created_at END, CASE WHEN b.number = 10 THEN NULL ELSE b.created_at END,
         CASE WHEN b.number = 10 THEN NULL ELSE b.created_at END
  FROM builds b JOIN repositories r ON r.id = b.repository_id, generate_series(1, 10) n;
VACUUM ANALYZE;
SQL
stop_nodes
echo "generated in $(awk -v a=$T0 -v b=$(date +%s.%N) 'BEGIN {printf "%.0f", b - a}') s: $("${PSQL[@]}" -d "$DB" -tAc "SELECT count(*) || ' jobs, ' || count(*) FILTER (WHERE state = 'created') || ' waiting' FROM jobs")"
T0=$(date +%s.%N)
if env "${ENV[@]}" "$BIN" repair >"$WORK/repair.log" 2>&1; then
  echo "conveyor repair (Redis rebuilt from PostgreSQL, as the first admission of a fresh prefix does): $(awk -v a=$T0 -v b=$(date +%s.%N) 'BEGIN {printf "%.2f", b - a}') s; $(grep -E 'owners|waiting' "$WORK/repair.log" | tr -s ' \n' ' ')"
else
  echo "conveyor repair failed (a binary older than the command?): $(head -1 "$WORK/repair.log"); the waiting sets stay empty"
fi
start_node "$WORK/web.log" "${ENV[@]}" CONVEYOR_ROLES=web CONVEYOR_HTTP_PORT=7440 CONVEYOR_NODE_ID=$PREFIX-web
wait_ready 7440

OWNER=b5000 REPO=b5000/app
python3 bench/backlog/api.py http 127.0.0.1 7440 bench-token "$REQUESTS" /api/v1/builds "/api/v1/builds?repo=$REPO" /api/v1/owners/$OWNER/queue /api/v1/queues /api/v1/owners \
  | tee "$WORK/http.jsonl"

# The same statements as bare SQL (copied from ReadRoutes.builds, OwnerQueueReport.make, ClusterInspector.owners).
ISO() { echo "to_char($1 AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS $(echo "$1" | cut -d. -f2)"; }
COLS="b.id, b.number, r.slug AS repo, b.state, b.branch, b.sha, b.tag, b.commit_message, b.event_type, b.fast_finish, b.stages::text AS stages, $(ISO b.created_at), $(ISO b.started_at), $(ISO b.finished_at)"
declare -A SQL
SQL[builds]="SELECT $COLS FROM builds b JOIN repositories r ON r.id = b.repository_id WHERE (NULL::text IS NULL OR r.slug = NULL) AND (true OR NOT r.private) ORDER BY b.id DESC LIMIT 25"
SQL[builds_repo]="SELECT $COLS FROM builds b JOIN repositories r ON r.id = b.repository_id WHERE ('$REPO'::text IS NULL OR r.slug = '$REPO') AND (true OR NOT r.private) ORDER BY b.id DESC LIMIT 25"
SQL[owner_queue]="SELECT j.id, j.queue, r.slug, j.stage FROM jobs j JOIN owners o ON o.id = j.owner_id JOIN repositories r ON r.id = j.repository_id
  WHERE o.login = '$OWNER' AND j.state = 'created' AND j.stage_index > (SELECT min(k.stage_index) FROM jobs k WHERE k.build_id = j.build_id
  AND k.state NOT IN ('passed', 'failed', 'errored', 'canceled')) ORDER BY j.id LIMIT 200"
SQL[owners]="SELECT o.login, o.concurrency_limit, count(j.id) FILTER (WHERE j.state IN ('queued','received','started')) AS running,
  count(j.id) FILTER (WHERE j.state = 'created') AS waiting FROM owners o LEFT JOIN jobs j ON j.owner_id = o.id GROUP BY o.login, o.concurrency_limit ORDER BY o.login"
for k in builds builds_repo owner_queue owners; do
  echo "${SQL[$k]};" >"$WORK/$k.sql"
  (cd "$WORK" && "$PGBIN/pgbench" -n -h 127.0.0.1 -p $BENCH_PG_PORT -U conveyor -c 1 -t "$REQUESTS" -f "$k.sql" -l --log-prefix="pg-$k" "$DB" >"pgbench-$k.out" 2>&1) \
    || { cat "$WORK/pgbench-$k.out"; exit 1; }
  echo "{\"sql\": \"$k\", $(python3 bench/backlog/api.py pgbench-log "$WORK"/pg-$k.* | tr -d '{}')}" | tee -a "$WORK/sql.jsonl"
  "${PSQL[@]}" -d "$DB" -c "EXPLAIN (ANALYZE, BUFFERS) ${SQL[$k]}" >"$WORK/explain-$k.txt"
done
say "API p99 with a million job rows (goal < 100 ms)"
python3 - "$WORK/http.jsonl" "$WORK/sql.jsonl" <<'PY'
import json, sys
http = [json.loads(l) for l in open(sys.argv[1])]
sql = {j["sql"]: j for j in map(json.loads, open(sys.argv[2]))}
ref = {"/api/v1/builds": "builds", "/api/v1/builds?repo=": "builds_repo", "/queue": "owner_queue", "/api/v1/owners": "owners"}
print("| endpoint | status | bytes | p50 ms | p99 ms | bare SQL p50 / p99 ms (pgbench) | goal |")
print("| --- | ---: | ---: | ---: | ---: | --- | --- |")
for h in http:
    key = next((v for k, v in ref.items() if (h["path"].startswith(k) if k.endswith("=") else h["path"].endswith(k) if k == "/queue" else h["path"] == k)), None)
    s = sql.get(key)
    r = f"{s['p50_ms']} / {s['p99_ms']}" if s else "– (Redis only)"
    print(f"| {h['path']} | {h['status']} | {h['bytes']} | {h['p50_ms']} | {h['p99_ms']} | {r} | {'met' if h['p99_ms'] < 100 else 'NOT met'} |")
PY
echo "(EXPLAIN ANALYZE: $WORK/explain-*.txt)"
