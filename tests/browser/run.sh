#!/usr/bin/env bash
# Runs the browser tests of the web client against a built `confab` binary.
#   CONFAB_BIN   server binary (default: ../../target/debug/confab, relative to this script)
#   CHROMIUM     browser binary (default: /usr/bin/chromium; Debian's chromium package)
# Builds nothing: build the server first (cargo build -p confab-server). scripts/test
# points CONFAB_BIN at the e2e test binary, which runs the same command line.
set -euo pipefail
cd "$(dirname "$0")"
export CONFAB_BIN="${CONFAB_BIN:-$PWD/../../target/debug/confab}"
case "$CONFAB_BIN" in /*) ;; *) CONFAB_BIN="$PWD/$CONFAB_BIN" ;; esac
if [ ! -x "$CONFAB_BIN" ]; then
  echo "no server binary at $CONFAB_BIN: build it (cargo build -p confab-server) or set CONFAB_BIN" >&2
  exit 2
fi
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "no Chromium at ${CHROMIUM:-/usr/bin/chromium}: apt-get install -y chromium, or set CHROMIUM" >&2
  exit 2
fi
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/typescript ] || [ ! -d node_modules/axe-core ]; then
  npm ci --no-audit --no-fund
fi
mkdir -p screenshots
# One file at a time: each test starts its own server, and the machine may have 2 cores.
exec node --test --test-concurrency=1 "$@" ./*.test.js
