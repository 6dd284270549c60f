#!/usr/bin/env bash
# Conveyor's first minute: a local two-node cluster that runs a real build and shows its live log.
#   scripts/demo.sh          install what is missing, build, start Redis + PostgreSQL + 2 nodes,
#                            push an example repository through the GitHub webhook, follow the log
#   scripts/demo.sh stop     stop the nodes and the private servers
#   scripts/demo.sh status   what is running
# Run again, it reuses what is there (servers, nodes, the example repository) and builds a new commit.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export PATH="/opt/swift/usr/bin:$PATH"
DIR="$ROOT/.conveyor/demo"
PORT="${CONVEYOR_DEMO_PORT:-8080}"
BIN="$ROOT/.build/debug/conveyor"
mkdir -p "$DIR"

export CONVEYOR_API_TOKEN="${CONVEYOR_API_TOKEN:-demo-token}"
export CONVEYOR_WEBHOOK_SECRET="${CONVEYOR_WEBHOOK_SECRET:-demo-secret}"
export CONVEYOR_API_URL="http://127.0.0.1:$PORT"
export CONVEYOR_WORK_DIRECTORY="$DIR/work"

node_alive() { [[ -f "$DIR/$1.pid" ]] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

stop() {
  for n in node-a node-b; do
    if node_alive $n; then kill -TERM "$(cat "$DIR/$n.pid")" 2>/dev/null || true; fi
  done
  for _ in $(seq 1 50); do node_alive node-a || node_alive node-b || break; sleep 0.2; done
  for n in node-a node-b; do node_alive $n && kill -KILL "$(cat "$DIR/$n.pid")" 2>/dev/null || true; rm -f "$DIR/$n.pid"; done
  bash scripts/services.sh stop
}

case "${1:-run}" in
  stop) stop; exit 0 ;;
  status) for n in node-a node-b; do node_alive $n && echo "$n: running (pid $(cat "$DIR/$n.pid"))" || echo "$n: stopped"; done
          bash scripts/services.sh status; exit 0 ;;
  run) ;;
  *) echo "usage: $0 [run|stop|status]" >&2; exit 2 ;;
esac

say() { printf '\033[1;34m==> %s\033[0m\n' "$*"; }

say "1/8 installing what is missing"
bash scripts/install-deps.sh
say "2/8 building conveyor"
swift build --product conveyor 2>&1 | grep -E "error|warning: [^p]|Compiling conveyor|Build" || true
[[ -x "$BIN" ]] || { echo "build failed" >&2; exit 1; }
say "3/8 starting private Redis and PostgreSQL"
bash scripts/services.sh start
eval "$(bash scripts/services.sh env)"

say "4/8 starting a two-node cluster"
start_node() { # name roles extra-env...
  local name=$1 roles=$2; shift 2
  if node_alive "$name"; then echo "$name already running"; return; fi
  env CONVEYOR_NODE_ID="$name" CONVEYOR_ROLES="$roles" "$@" nohup "$BIN" node >"$DIR/$name.log" 2>&1 &
  echo $! >"$DIR/$name.pid"
  echo "$name started (pid $!, roles $roles, log $DIR/$name.log)"
}
start_node node-a all CONVEYOR_HTTP_PORT="$PORT" CONVEYOR_WORKER_SLOTS=1
start_node node-b worker CONVEYOR_METRICS_PORT=$((PORT + 1)) CONVEYOR_WORKER_SLOTS=2
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.3; done
curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "node-a did not become ready; see $DIR/node-a.log" >&2; tail -20 "$DIR/node-a.log" >&2; exit 1; }

say "5/8 preparing the example repository"
REPO="$DIR/example"
if [[ ! -d "$REPO/.git" ]]; then
  mkdir -p "$REPO" && git -C "$REPO" init -q -b main
  cat >"$REPO/.conveyor.yml" <<'YML'
language: shell
env:
  jobs:
    - FLAVOUR=plain
    - FLAVOUR=colours
script:
  - echo "Hello from Conveyor, job with $FLAVOUR output"
  - |
    if [ "$FLAVOUR" = colours ]; then
      for i in 1 2 3 4 5; do
        printf '\033[3%dmline %d in colour %d\033[0m\n' "$i" "$i" "$i"
        sleep 1
      done
    fi
  - uname -a
YML
  git -C "$REPO" add . && git -C "$REPO" -c user.name=demo -c user.email=demo@example.invalid commit -qm "Add .conveyor.yml"
fi
git -C "$REPO" -c user.name=demo -c user.email=demo@example.invalid commit -q --allow-empty -m "Demo build at $(date -u +%H:%M:%S)"
SHA="$(git -C "$REPO" rev-parse HEAD)"

say "6/8 pushing it through the GitHub webhook endpoint"
PAYLOAD=$(printf '{"ref":"refs/heads/main","after":"%s","repository":{"full_name":"conveyor-demo/example","clone_url":"file://%s"},"head_commit":{"message":"%s"},"sender":{"login":"demo"}}' \
  "$SHA" "$REPO" "$(git -C "$REPO" log -1 --format=%s)")
SIG="sha256=$(printf '%s' "$PAYLOAD" | openssl dgst -sha256 -hmac "$CONVEYOR_WEBHOOK_SECRET" | sed 's/^.*= //')"
REPLY=$(curl -fsS -X POST "http://127.0.0.1:$PORT/webhooks/github" -H "X-GitHub-Event: push" -H "X-Hub-Signature-256: $SIG" \
  -H "Content-Type: application/json" --data "$PAYLOAD")
echo "webhook answered: $REPLY"
REQUEST=$(echo "$REPLY" | sed -n 's/.*"request":\([0-9]*\).*/\1/p')
BUILD=""
for _ in $(seq 1 100); do
  BUILD=$(curl -fs "http://127.0.0.1:$PORT/api/v1/requests/$REQUEST" | sed -n 's/.*"build_id":\([0-9]*\).*/\1/p')
  [[ -n "$BUILD" ]] && break; sleep 0.3
done
[[ -n "$BUILD" ]] || { echo "no build for request $REQUEST:"; curl -s "http://127.0.0.1:$PORT/api/v1/requests/$REQUEST"; exit 1; }
"$BIN" jobs "$BUILD"
JOB=$(curl -fs "http://127.0.0.1:$PORT/api/v1/builds/$BUILD" | grep -o '"id":[0-9]*' | sed -n '3p' | cut -d: -f2)

say "7/8 live log of job $JOB (the one with colours)"
"$BIN" logs "$JOB" --follow

say "8/8 result"
for _ in $(seq 1 200); do
  STATE=$(curl -fs "http://127.0.0.1:$PORT/api/v1/builds/$BUILD" | grep -o '"state":"[a-z]*"' | head -1 | cut -d'"' -f4)
  case "$STATE" in passed|failed|errored|canceled) break ;; esac; sleep 0.3
done
"$BIN" jobs "$BUILD"
echo
echo "Web UI:      http://127.0.0.1:$PORT/#/builds/$BUILD"
echo "Build state: $STATE"
echo "Stop everything with: scripts/demo.sh stop"
