#!/usr/bin/env bash
# Runs Steward's whole test suite on every supported database: first on SQLite (a temporary file
# per test), then on PostgreSQL (a fresh database per test on the server below). Installs the
# browser tests' Chromium and npm packages first if they are missing.
#
#   STEWARD_TEST_DATABASE_URL  PostgreSQL server to create test databases on
#                              (default postgres://postgres@127.0.0.1:5432/postgres)
#   STEWARD_TEST_BACKENDS      which passes to run (default "sqlite postgres")
#
# Extra arguments go to `cargo test` (for example a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

pg_url="${STEWARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
backends="${STEWARD_TEST_BACKENDS:-sqlite postgres}"

ensure_postgres() {
  if pg_isready -d "$pg_url" -q 2>/dev/null; then
    return 0
  fi
  echo "==> PostgreSQL is not answering at ${pg_url%%\?*}; trying to start the local cluster"
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for version in $(ls /etc/postgresql); do
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
  fi
  for _ in $(seq 1 30); do
    pg_isready -d "$pg_url" -q 2>/dev/null && return 0
    sleep 1
  done
  echo "error: PostgreSQL is unreachable at ${pg_url}; start it or set STEWARD_TEST_DATABASE_URL," >&2
  echo "       or run only the SQLite pass with STEWARD_TEST_BACKENDS=sqlite" >&2
  exit 1
}

drop_leftover_test_databases() {
  # Databases of test runs that were killed before they could clean up.
  command -v psql >/dev/null 2>&1 || return 0
  psql "$pg_url" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'steward\_test\_%'" |
    while read -r name; do
      psql "$pg_url" -qc "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null
    done
}

timed() { # timed NAME COMMAND...: runs one step and prints how long it took
  local name="$1" start=$SECONDS
  shift
  echo "==> $name"
  "$@"
  echo "==> $name: $((SECONDS - start)) s"
}

bash scripts/setup-test-deps.sh

# Building first keeps the compile time apart from each backend's run time in the output.
timed "Building the tests" cargo test --workspace --locked --no-run "$@"

for backend in $backends; do
  case "$backend" in
    sqlite)
      timed "Tests on SQLite" env -u STEWARD_TEST_DATABASE_URL STEWARD_TEST_BACKEND=sqlite \
        cargo test --workspace --locked "$@"
      ;;
    postgres)
      ensure_postgres
      drop_leftover_test_databases
      timed "Tests on PostgreSQL" env STEWARD_TEST_DATABASE_URL="$pg_url" \
        STEWARD_TEST_BACKEND=postgres cargo test --workspace --locked "$@"
      ;;
    *)
      echo "error: unknown backend '$backend' in STEWARD_TEST_BACKENDS (expected sqlite, postgres)" >&2
      exit 2
      ;;
  esac
done
echo "==> All tests passed on: $backends"
