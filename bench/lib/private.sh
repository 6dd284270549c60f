# Shared by bench/{backlog,reclaim,memory}/run.sh: private Redis and PostgreSQL (scripts/services.sh with a
# services dir of their own), so the benchmarks never touch the shared test servers (6391/5441).
# Ports: BENCH_REDIS_PORT (7401), BENCH_PG_PORT (7402). Source after setting ROOT.
BENCH_REDIS_PORT="${BENCH_REDIS_PORT:-7401}" BENCH_PG_PORT="${BENCH_PG_PORT:-7402}"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$BENCH_PG_PORT" -U conveyor)
say() { printf '\n== %s\n' "$*"; }

private_services() {
  CONVEYOR_SERVICES_DIR="$ROOT/.conveyor/bench-services-$BENCH_REDIS_PORT" CONVEYOR_REDIS_PORT=$BENCH_REDIS_PORT CONVEYOR_PG_PORT=$BENCH_PG_PORT \
    bash "$ROOT/scripts/services.sh" start
}

# A fresh database; prints its name.
fresh_db() {
  local db="$1_$(date -u +%Y%m%d%H%M%S)_$$"
  "$PGBIN/createdb" -h 127.0.0.1 -p "$BENCH_PG_PORT" -U conveyor "$db"
  echo "$db"
}

# The release binary unless BENCH_BIN names another; warns about a debug build.
bench_bin() {
  local bin="${BENCH_BIN:-$ROOT/.build-rel/release/conveyor}"
  [[ -x "$bin" ]] || { echo "$bin missing: swift build -c release --scratch-path .build-rel --product conveyor" >&2; exit 1; }
  [[ "$bin" == *debug* ]] && echo "warning: $bin is a debug build; record release figures only" >&2
  echo "$bin"
}

machine_line() {
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- Sources || echo '+changes')"
}

# Nodes started with start_node are stopped on exit (TERM, then KILL after 10 s).
NODE_PIDS=()
start_node() { # start_node LOGFILE ENV=VALUE...   (the binary is $BIN)
  local log="$1"; shift
  env "$@" "$BIN" node >"$log" 2>&1 &
  NODE_PID=$!
  NODE_PIDS+=("$NODE_PID")
}
stop_nodes() {
  for p in "${NODE_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${NODE_PIDS[@]}"; do for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done; kill -KILL "$p" 2>/dev/null || true; done
  NODE_PIDS=()
}
wait_ready() { # wait_ready PORT
  for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "node on port $1 not ready" >&2; return 1
}
