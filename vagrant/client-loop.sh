#!/usr/bin/env bash
# The drill client on the Vagrant client VM: GET URL every INTERVAL ms for at most MAX ms, one line
# per request: "<epoch ms> ok <server>" or "<epoch ms> fail <curl exit code>" (same format as
# test/lab/drills/client-loop.ts). Args: URL INTERVAL_MS MAX_MS.
set -u
url=${1:?url}
interval_ms=${2:-20}
max_ms=${3:-30000}
now_ms() { date +%s%3N; }
deadline=$(( $(now_ms) + max_ms ))
while [ "$(now_ms)" -lt "$deadline" ]; do
  start=$(now_ms)
  if body=$(curl -fsS --max-time 0.4 "$url" 2>/dev/null); then
    echo "$start ok $body"
  else
    echo "$start fail $?"
  fi
  left=$(( interval_ms - ($(now_ms) - start) ))
  if [ "$left" -gt 0 ]; then sleep "0.$(printf '%03d' "$left")"; fi
done
