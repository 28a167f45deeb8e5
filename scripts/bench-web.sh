#!/usr/bin/env bash
# Measures `steward demo` start-up time and the dashboard's render time with 100 tenants, for
# docs/benchmarks.md. Uses the release binary and wrk (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

port="${BENCH_PORT:-18081}"
runs="${BENCH_RUNS:-5}"
if ! command -v wrk >/dev/null 2>&1; then
  apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --locked --bin steward >/dev/null
steward="${CARGO_TARGET_DIR:-target}/release/steward"
export RUST_LOG=warn

work="$(mktemp -d /tmp/steward-bench-web.XXXXXX)"
server=""
stop() { if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; server=""; fi; }
trap 'stop; rm -rf "$work"' EXIT

now_ms() { date +%s%3N; }
# Starts the demo on $1 and sets $elapsed to the milliseconds until /readyz answers 200.
# (Not run in a subshell: the server's pid must stay known to `stop`.)
start_demo() {
  local started
  if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
    echo "error: something already answers on port $port" >&2
    exit 1
  fi
  started=$(now_ms)
  "$steward" --data-dir "$1" demo --listen "127.0.0.1:$port" >/dev/null &
  server=$!
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    kill -0 "$server" 2>/dev/null || { echo "error: steward demo exited" >&2; exit 1; }
    sleep 0.005
  done
  elapsed=$(($(now_ms) - started))
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "commit $(git rev-parse --short HEAD); $(nproc) cores; SQLite"
first=""
for i in $(seq 1 "$runs"); do
  rm -rf "$work/fresh"
  start_demo "$work/fresh"
  first="$first $elapsed"
  stop
done
echo "demo start-up on an empty data directory (migrate, seed, serve), median of $runs: $(echo $first | tr ' ' '\n' | median) ms (runs:$first)"
again=""
for i in $(seq 1 "$runs"); do
  start_demo "$work/fresh"
  again="$again $elapsed"
  stop
done
echo "demo start-up on an existing data directory, median of $runs: $(echo $again | tr ' ' '\n' | median) ms (runs:$again)"

start_demo "$work/fresh"
token="$("$steward" --data-dir "$work/fresh" token create --email admin@harbor-it.example 2>/dev/null)"
for n in $(seq 4 100); do
  curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'content-type: application/json' \
    -d "{\"name\": \"Bench customer $n\"}" "http://127.0.0.1:$port/api/v1/tenants"
done
jar="$work/cookies"
csrf=$(curl -sf -c "$jar" "http://127.0.0.1:$port/login" | grep -o 'name="csrf_token" value="[^"]*"' | sed 's/.*value="//;s/"$//')
curl -sf -o /dev/null -b "$jar" -c "$jar" --data-urlencode "csrf_token=$csrf" \
  --data-urlencode "email=admin@harbor-it.example" --data-urlencode "password=steward-demo" \
  "http://127.0.0.1:$port/login"
session=$(awk '$6 == "steward_session" {print $7}' "$jar")
rows=$(curl -sf -H "Cookie: steward_session=$session" "http://127.0.0.1:$port/" | grep -o '<tr><td><a href="/tenants/' | wc -l)
echo "dashboard rows rendered: $rows"
wrk -t2 -c8 -d15s --latency -H "Cookie: steward_session=$session" "http://127.0.0.1:$port/" |
  sed -n '/Latency Distribution/,/Requests\/sec/p'
