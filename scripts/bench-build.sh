#!/usr/bin/env bash
# Measures build times and the binary size, for docs/benchmarks.md.
# Builds a clean checkout of HEAD with a fresh target directory, so the cold numbers are really
# cold and edits in the working tree do not disturb the run. Takes several minutes.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

work="$(mktemp -d /tmp/steward-bench-build.XXXXXX)"
trap 'rm -rf "$work"' EXIT
git clone --quiet "$repo" "$work/src"
cd "$work/src"
export CARGO_TARGET_DIR="$work/target"
cargo fetch --locked >/dev/null

timed() { # runs a command, failing loudly, and prints its wall-clock duration in seconds
  local start end
  start=$(date +%s.%N)
  "$@" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
  end=$(date +%s.%N)
  printf '%.1f' "$(echo "$end - $start" | bc)"
}

echo "commit $(git rev-parse --short HEAD); $(nproc) cores; $(rustc --version)"
echo "cold debug build (cargo build --workspace): $(timed cargo build --workspace --locked) s"
touch backend/core/src/lib.rs
echo "incremental debug build after touching steward-core: $(timed cargo build --workspace --locked) s"
touch backend/server/src/main.rs
echo "incremental debug build after touching the binary: $(timed cargo build --workspace --locked) s"
echo "cold release build (cargo build --release --bin steward): $(timed cargo build --release --locked --bin steward) s"
size=$(stat -c %s "$CARGO_TARGET_DIR/release/steward")
strip -o "$work/steward.stripped" "$CARGO_TARGET_DIR/release/steward"
stripped=$(stat -c %s "$work/steward.stripped")
echo "release binary: $((size / 1024 / 1024)) MiB, stripped $((stripped / 1024 / 1024)) MiB"
echo "debug target directory: $(du -sh "$CARGO_TARGET_DIR/debug" | cut -f1)"
