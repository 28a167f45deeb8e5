#!/usr/bin/env bash
# Measures what the test suite costs, for docs/benchmarks.md: the clean build of every test
# target, the rebuild after touching steward-core (mostly linking test binaries), and the wall
# time of the whole suite on SQLite.
#
#   bash scripts/bench-tests.sh [REVISION]    (default HEAD)
#
# Builds a clean checkout of REVISION with a fresh target directory, so the numbers are really
# cold and edits in the working tree do not disturb the run. Takes a quarter of an hour.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
revision="${1:-HEAD}"

work="$(mktemp -d /tmp/steward-bench-tests.XXXXXX)"
trap 'rm -rf "$work"' EXIT
git clone --quiet "$repo" "$work/src"
cd "$work/src"
git checkout --quiet "$revision"
export CARGO_TARGET_DIR="$work/target"
cargo fetch --locked >/dev/null 2>&1
# The browser and email tests' own dependencies, outside the measured steps.
bash scripts/setup-test-deps.sh >/dev/null

timed() { # runs a command, failing loudly, and prints its wall-clock duration in seconds
  local start end
  start=$(date +%s.%N)
  "$@" >"$work/step.log" 2>&1 || { cat "$work/step.log" >&2; exit 1; }
  end=$(date +%s.%N)
  printf '%.1f' "$(echo "$end - $start" | bc)"
}

echo "commit $(git rev-parse --short HEAD); $(nproc) cores; $(rustc --version)"
# Each step is timed into a variable first, so a failing step stops the script.
clean=$(timed cargo test --workspace --locked --no-run)
echo "clean build of every test target (cargo test --workspace --no-run): $clean s"
echo "test executables: $(grep -c 'Executable' "$work/step.log")"
touch backend/core/src/lib.rs
rebuild=$(timed cargo test --workspace --locked --no-run)
echo "test rebuild after touching steward-core: $rebuild s"
suite=$(timed env STEWARD_TEST_BACKEND=sqlite cargo test --workspace --locked)
echo "whole suite on SQLite, built (cargo test --workspace): $suite s"
echo "tests run: $(grep -Eo '^test result: ok\. [0-9]+ passed' "$work/step.log" | awk '{ sum += $4 } END { print sum }')"
