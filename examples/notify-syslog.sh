#!/bin/sh
# vipd notify script: one line per event to syslog / the journal through logger(1), with the VIPD_*
# context as structured fields when journald is there. Use as notify_event (every event).
set -eu
name=${VIPD_INSTANCE:-${VIPD_GROUP:-unknown}}
case "${VIPD_EVENT:-}" in
  fault|fence_failed|split_brain) prio=user.crit ;;
  master|backup|fence_started|master_rx_lower_pri) prio=user.notice ;;
  *) prio=user.info ;;
esac
msg="vipd: $name ${VIPD_EVENT:-?}: ${VIPD_OLD_STATE:-?} -> ${VIPD_NEW_STATE:-?} (priority ${VIPD_PRIORITY:-?}, peer ${VIPD_PEER:--}, #${VIPD_EVENT_SEQ:-?}): ${VIPD_REASON:-}"
exec logger --id=$$ -t vipd-notify -p "$prio" -- "$msg"
