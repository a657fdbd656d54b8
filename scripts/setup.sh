#!/usr/bin/env bash
# Installs whatever a fresh Debian machine with Node 20 lacks: pnpm, node_modules, nats-server, chromium.
set -euo pipefail
PNPM_VERSION="${1:-10.34.8}"
cd "$(dirname "$0")/.."
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"

if ! command -v node >/dev/null 2>&1; then
  echo "setup: Node.js 20 is required (https://nodejs.org or 'apt-get install nodejs')" >&2; exit 1
fi
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm@$PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1 || {
    echo "setup: could not install pnpm with npm; try 'corepack enable'" >&2; exit 1; }
fi
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing nats-server (Debian package)"
    (apt-get install -y -q nats-server >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q nats-server >/dev/null; }) || {
      echo "setup: could not install nats-server with apt-get" >&2; exit 1; }
  else
    echo "setup: nats-server is missing; install it with 'sudo apt-get install nats-server' or put it on PATH" >&2
  fi
fi
# The dashboard's browser test (tests/dashboard.test.ts) drives Debian's Chromium through playwright-core.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing chromium (Debian package, for the dashboard's browser test)"
    (apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; }) ||
      echo "setup: could not install chromium with apt-get: the dashboard browser test will be skipped" >&2
  else
    echo "setup: chromium is missing; install it with 'sudo apt-get install chromium' (the dashboard browser test needs it)" >&2
  fi
fi
if [ ! -f node_modules/.modules.yaml ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  pnpm install --frozen-lockfile
fi
