#!/usr/bin/env bash
# Quick-start lab demo: two vipd hosts and a client in network namespaces, an election, a cable
# cut on the master and the failover timeline. Needs root (namespaces, raw sockets).
# Installs what the demo needs on a fresh Debian machine with Node 20, then runs `npm run demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "the demo builds network namespaces: run it as root (sudo $0)" >&2
  exit 77
fi
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
exec npm run demo
