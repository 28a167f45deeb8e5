#!/usr/bin/env bash
# Measures GET /api/v1/tenants under load with 100 tenants, and the server's memory at idle and
# after load, for docs/benchmarks.md. Uses the release binary and wrk (installed if missing).
#
#   STEWARD_BENCH_DATABASE_URL  run against this PostgreSQL database instead of SQLite
#   BENCH_DURATION              seconds of load (default 20)
#   BENCH_CONNECTIONS           concurrent connections (default 16)
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${BENCH_DURATION:-20}"
connections="${BENCH_CONNECTIONS:-16}"
port="${BENCH_PORT:-18080}"

if ! command -v wrk >/dev/null 2>&1; then
  apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --locked --bin steward >/dev/null
steward="${CARGO_TARGET_DIR:-target}/release/steward"

data="$(mktemp -d /tmp/steward-bench-api.XXXXXX)"
cleanup() { [ -n "${server:-}" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT
if [ -n "${STEWARD_BENCH_DATABASE_URL:-}" ]; then
  export STEWARD_DATABASE_URL="$STEWARD_BENCH_DATABASE_URL"
  backend="PostgreSQL"
else
  backend="SQLite"
fi
export RUST_LOG=warn

"$steward" --data-dir "$data" demo --listen "127.0.0.1:$port" >"$data/demo.log" &
server=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
token="$("$steward" --data-dir "$data" token create --email admin@harbor-it.example 2>/dev/null)"
existing=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/tenants?limit=200" | grep -o '"slug"' | wc -l)
for n in $(seq $((existing + 1)) 100); do
  curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'content-type: application/json' \
    -d "{\"name\": \"Bench customer $n\"}" "http://127.0.0.1:$port/api/v1/tenants"
done
count=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/tenants?limit=200" | grep -o '"slug"' | wc -l)

rss() { awk '/VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$server/status"; }
sleep 2
idle=$(rss)

echo "commit $(git rev-parse --short HEAD); $(nproc) cores; $backend; $count tenants"
echo "RSS at idle after start-up and seeding: $idle"
wrk -t2 -c"$connections" -d"${duration}s" --latency \
  -H "Authorization: Bearer $token" \
  "http://127.0.0.1:$port/api/v1/tenants?limit=100" |
  sed -n '/Latency Distribution/,/Requests\/sec/p'
echo "RSS after load: $(rss)"
sleep 5
echo "RSS idle again 5 s after load: $(rss)"
