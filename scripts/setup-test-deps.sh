#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust and the databases, once: Debian's chromium for
# the browser tests, the npm packages of frontend/e2e (playwright-core, oidc-provider), and
# PyPI's aiosmtpd, the SMTP server the email tests send to.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo "==> Installing Chromium (Debian package) for the browser tests"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "error: the browser tests need Node.js 20 or newer with npm" >&2
  exit 1
fi

lock=frontend/e2e/package-lock.json
stamp=frontend/e2e/node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
  echo "==> Installing the browser tests' npm packages"
  npm ci --prefix frontend/e2e --no-audit --no-fund --loglevel=error >/dev/null
fi

if ! python3 -c "import aiosmtpd" >/dev/null 2>&1; then
  echo "==> Installing aiosmtpd (PyPI) for the email tests"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore aiosmtpd
fi
