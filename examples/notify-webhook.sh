#!/bin/sh
# vipd notify script: posts the event as JSON to a webhook (Alertmanager's /api/v2/alerts shape, or a
# Slack-style {"text": ...} with FORMAT=slack). Use it as notify_event (every event) or as any
# per-event script. The URL comes from the environment file, never from the command line:
#   /etc/vipd/webhook.env:  WEBHOOK_URL=http://alertmanager.example:9093/api/v2/alerts
#                           FORMAT=alertmanager   # or slack
# vipd passes the event in VIPD_* variables (see docs/config.md); argv is keepalived's
# (INSTANCE|GROUP name STATE priority) and is not needed here.
set -eu

ENV_FILE=${VIPD_WEBHOOK_ENV:-/etc/vipd/webhook.env}
# shellcheck disable=SC1090
[ -r "$ENV_FILE" ] && . "$ENV_FILE"
: "${WEBHOOK_URL:?set WEBHOOK_URL in $ENV_FILE}"
FORMAT=${FORMAT:-alertmanager}

# JSON string escaping for the few characters that can occur in vipd's texts.
esc() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr '\n\t' '  '; }

event=$(esc "${VIPD_EVENT:-unknown}")
name=$(esc "${VIPD_INSTANCE:-${VIPD_GROUP:-unknown}}")
host=$(esc "${VIPD_ROUTER_ID:-$(hostname)}")
reason=$(esc "${VIPD_REASON:-}")
peer=$(esc "${VIPD_PEER:-}")
state=$(esc "${VIPD_NEW_STATE:-}")
seq=$(esc "${VIPD_EVENT_SEQ:-0}")
ts=$(esc "${VIPD_TIMESTAMP:-}")
case "$event" in
  fault|fence_failed|split_brain) severity=critical ;;
  master|fence_started|master_rx_lower_pri) severity=warning ;;
  *) severity=info ;;
esac

if [ "$FORMAT" = slack ]; then
  body="{\"text\":\"vipd $host: $name $event (state $state, peer $peer, #$seq): $reason\"}"
else
  body="[{\"labels\":{\"alertname\":\"vipd_$event\",\"instance\":\"$name\",\"host\":\"$host\",\"severity\":\"$severity\"},\"annotations\":{\"summary\":\"$name $event on $host\",\"description\":\"$reason\",\"peer\":\"$peer\",\"state\":\"$state\",\"seq\":\"$seq\"},\"startsAt\":\"$ts\"}]"
fi

# --fail: an HTTP error is a failure, so vipd retries and logs it.
exec curl --silent --show-error --fail --max-time 5 -H 'Content-Type: application/json' \
  --data-binary "$body" "$WEBHOOK_URL"
