#!/usr/bin/env bash
# Runs Conveyor's whole test suite against real servers it starts itself:
# Redis and PostgreSQL (scripts/services.sh), sshd and an S3-compatible server (scripts/test-servers.sh).
#   scripts/test.sh [extra swift test arguments, e.g. --filter ConveyorModelTests]
# Without arguments it then runs the cluster-level suites on real node processes:
#   scripts/test-ops.sh (headless Chromium on the web UI, a real Prometheus on every dashboard panel)
#   scripts/chaos.sh    (nodes killed, stopped and restarted mid-build; invariants checked)
#   scripts/chaos.sh failover (Sentinel failover, Redis emptied, PostgreSQL standby promoted; "all" runs both)
#   scripts/security.sh (hostile builds against the sandbox; docs/security.md)
#   scripts/test-shutdown.sh (a node exits within drain_grace_seconds + 5 s of SIGTERM, servers stopped or frozen)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export PATH="/opt/swift/usr/bin:$PATH"

bash scripts/install-deps.sh
bash scripts/services.sh start
bash scripts/test-servers.sh start
eval "$(bash scripts/services.sh env)"
eval "$(bash scripts/test-servers.sh env)"
export CONVEYOR_TEST_REDIS_URL="$CONVEYOR_REDIS_URL" CONVEYOR_TEST_POSTGRES_URL="$CONVEYOR_POSTGRES_URL"

echo "test: building"
swift build --build-tests 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Linking|Write|Building)' || { echo "test: build failed" >&2; exit 1; }
echo "test: running"
swift test --skip-build "$@"
if [[ $# -eq 0 ]]; then
  echo "test: cluster suites"
  bash scripts/test-ops.sh
  bash scripts/chaos.sh all
  bash scripts/security.sh
  bash scripts/test-shutdown.sh --no-build
fi
