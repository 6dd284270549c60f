#!/usr/bin/env bash
# Private Redis and PostgreSQL for Conveyor, on loopback, under .conveyor/services.
#   scripts/services.sh start|stop|status|env|wait
# Ports: CONVEYOR_REDIS_PORT (6391), CONVEYOR_PG_PORT (5441).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${CONVEYOR_SERVICES_DIR:-$ROOT/.conveyor/services}"
REDIS_PORT="${CONVEYOR_REDIS_PORT:-6391}"
PG_PORT="${CONVEYOR_PG_PORT:-5441}"
PG_USER=conveyor
PG_DB=conveyor

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [[ -x "$d/initdb" ]] && { echo "$d"; return; }; done
  echo "services: PostgreSQL server binaries not found; run scripts/install-deps.sh" >&2; exit 1
}

# initdb and postgres refuse to run as root: run them as the 'postgres' system user then.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; }
pg_up() { "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" >/dev/null 2>&1; }

start_redis() {
  mkdir -p "$DIR/redis"
  if redis_up; then return; fi
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR/redis" \
    --appendonly yes --appendfsync everysec --maxmemory-policy noeviction \
    --save "" --daemonize yes --pidfile "$DIR/redis/redis.pid" --logfile "$DIR/redis/redis.log"
}

start_pg() {
  local bin; bin="$(pg_bin)"
  local data="$DIR/postgres"
  if pg_up; then return; fi
  mkdir -p "$data"
  if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$data"; chmod 700 "$data"; fi
  if [[ ! -f "$data/PG_VERSION" ]]; then
    as_pg "$bin/initdb" -D "$data" -U "$PG_USER" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
      || { cat "$DIR/initdb.log" >&2; exit 1; }
  fi
  as_pg "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='$data' -c max_connections=300 -c fsync=on -c synchronous_commit=off -c shared_buffers=256MB" start >/dev/null
  "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$PG_DB'" | grep -q 1 \
    || "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$PG_DB"
}

wait_ready() {
  for _ in $(seq 1 100); do
    if redis_up && pg_up; then return 0; fi
    sleep 0.2
  done
  echo "services: Redis or PostgreSQL did not become ready; see $DIR" >&2; exit 1
}

print_env() {
  echo "export CONVEYOR_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
  echo "export CONVEYOR_POSTGRES_URL=postgres://$PG_USER@127.0.0.1:$PG_PORT/$PG_DB"
}

case "${1:-start}" in
  start) start_redis; start_pg; wait_ready; echo "services: redis on 127.0.0.1:$REDIS_PORT, postgres on 127.0.0.1:$PG_PORT" ;;
  stop)
    redis_up && redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    if [[ -f "$DIR/postgres/postmaster.pid" ]]; then as_pg "$(pg_bin)/pg_ctl" -D "$DIR/postgres" -m fast -w stop >/dev/null || true; fi
    echo "services: stopped" ;;
  status) redis_up && echo "redis: up" || echo "redis: down"; pg_up && echo "postgres: up" || echo "postgres: down" ;;
  wait) wait_ready ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|status|env|wait" >&2; exit 2 ;;
esac
