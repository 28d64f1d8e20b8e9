// Status data the runtime keeps per instance and returns over the control socket (`vipd status`).

import type { Family, RouterState } from "../core/types.js";

export interface PeerEntry {
  address: string;
  priority: number;
  adverIntervalMs: number;
  version: 2 | 3;
  /** The checksum form the peer's last advert used ('v2' for VRRPv2). */
  checksumForm: "pseudo-header" | "message-only" | "v2";
  /** Monotonic time of the last valid advert, in ms. */
  lastSeenMs: number;
  /** Wall-clock time of the last valid advert (ISO 8601). */
  lastSeenAt: string;
  advertsReceived: number;
}

export interface InstanceCounters {
  advertsReceived: number;
  advertsSent: number;
  advertSendErrors: number;
  /** Datagrams dropped before the core, by reason (the codec's reasons plus the runtime's). */
  discarded: Record<string, number>;
  /** Adverts that disagree with our configuration (interval, version, addresses, checksum form), by field. */
  mismatches: Record<string, number>;
  announcementsSent: number;
  announceErrors: number;
  transitions: number;
  vipAddErrors: number;
  vipRemoveErrors: number;
  splitBrains: number;
}

/** One takeover: times are monotonic ms; the *AfterMs fields are relative to the down timer. */
export interface FailoverTimeline {
  instance: string;
  /** Wall-clock time the transition started (ISO 8601). */
  startedAt: string;
  from: RouterState;
  reason: string;
  lastAdvertFrom: string | null;
  lastAdvertMs: number | null;
  /** When the transition was caused by the Master_Down timer (null for other causes). */
  downTimerMs: number | null;
  transitionMs: number;
  fenceRequestedMs: number | null;
  fenceDoneMs: number | null;
  fenceOk: boolean | null;
  /**
   * When the VIPs were in the kernel: right after their adds were sent when each one went to the
   * kernel in the takeover's own turn (rtnetlink applies an add inside the send), else at their ACKs.
   */
  vipAddedMs: number | null;
  firstAnnounceMs: number | null;
  /** Derived durations in ms, null when a step did not happen. */
  durations: {
    lastAdvertToTransition: number | null;
    transitionToVipAdded: number | null;
    vipAddedToFirstAnnounce: number | null;
    lastAdvertToFirstAnnounce: number | null;
  };
  complete: boolean;
}

export interface InstanceStatus {
  name: string;
  interface: string;
  family: Family;
  vrid: number;
  version: 2 | 3;
  state: RouterState;
  priority: number;
  effectivePriority: number;
  primaryAddress: string;
  /** The master's address: ours when master, the followed master when backup, else null. */
  master: string | null;
  mode: "multicast" | "unicast";
  vips: string[];
  holdsVips: boolean;
  /** VIPs the runtime has successfully installed and not yet removed. */
  installedVips: string[];
  linkUp: boolean;
  peers: PeerEntry[];
  counters: InstanceCounters;
  lastTimeline: FailoverTimeline | null;
}

export interface DaemonStatus {
  pid: number;
  startedAt: string;
  configPath: string;
  /** Datagrams that could not be attributed to an instance, per interface/family and reason. */
  unattributed: Record<string, Record<string, number>>;
  timer: { kind: string; fires: number; worstLatenessMs: number };
  instances: InstanceStatus[];
}

export function emptyCounters(): InstanceCounters {
  return {
    advertsReceived: 0,
    advertsSent: 0,
    advertSendErrors: 0,
    discarded: {},
    mismatches: {},
    announcementsSent: 0,
    announceErrors: 0,
    transitions: 0,
    vipAddErrors: 0,
    vipRemoveErrors: 0,
    splitBrains: 0,
  };
}

/** "web: MASTER, db: BACKUP" for systemd's STATUS=. */
export function statusLine(instances: { name: string; state: RouterState }[]): string {
  if (instances.length === 0) return "no instances";
  return instances.map((i) => `${i.name}: ${i.state.toUpperCase()}`).join(", ");
}

// ------------------------------------------------------------------ hooks (trackers, fencing, notify)
// Filled by src/hooks (Hooks.status()) and merged into each instance by Operations.decorate.

export type TrackerKind = "script" | "file" | "http" | "tcp" | "interface" | "witness" | "sync_group";

/** One tracker as one instance sees it (a shared tracker appears under each instance with its weight). */
export interface TrackerState {
  /** The core's name for it in this instance ("script:chk_web", "sync_group:front", "witness"). */
  id: string;
  kind: TrackerKind;
  /** The configured name ("chk_web"); the group's name for sync_group, "witness" for the witness. */
  name: string;
  /** up / down for checks and interfaces; value for track_files. */
  status: "up" | "down" | "value";
  /** track_files: the integer read; null for the others. */
  value: number | null;
  /** Why it is down (or where a file value came from); null when up. */
  reason: string | null;
  /** The weight for this instance; null = down means Fault (interfaces without a weight). */
  weight: number | null;
  /** What it does to the instance now: a priority change, or Fault. */
  effect: { type: "weight"; weight: number } | { type: "fault"; reason: string };
  /** Wall-clock time of the last status change (ISO 8601), null before the first. */
  lastChangeAt: string | null;
  /** The last check that finished (periodic checks and files), null for event-driven trackers. */
  lastCheck: { ok: boolean; detail: string; at: string } | null;
  /** Checks finished since the tracker started (periodic checks and files; 0 for the others). */
  checks: number;
  /** Rise/fall hysteresis of periodic checks: results in a row and the thresholds; null otherwise. */
  successesInRow: number | null;
  failuresInRow: number | null;
  rise: number | null;
  fall: number | null;
}

/** How one fence agent run ended. */
export type FenceAgentOutcome = "ok" | "failed" | "timeout" | "spawn-error";

export interface FenceAgentRun {
  level: number;
  agent: string;
  outcome: FenceAgentOutcome;
  /** "exit 1 after 12 ms" and the like. */
  detail: string;
  durationMs: number;
}

/**
 * How a fence attempt ended: ok; failed (every level failed, at least one agent not by timeout);
 * timeout (every failing agent timed out); witness-down (the witness did not answer, no agent ran);
 * cancelled (the takeover was called off: the old master came back or the instance stopped).
 */
export type FenceOutcome = "ok" | "failed" | "timeout" | "witness-down" | "cancelled";

export interface FenceAttempt {
  /** Wall-clock start (ISO 8601). */
  startedAt: string;
  /** The peer fenced (its VRRP source address), its MAC when the neighbour table had one. */
  peer: string;
  peerMac: string | null;
  /** The node name agents got (fence.nodes, else the address); null when no agent was configured. */
  node: string | null;
  outcome: FenceOutcome;
  /** The level that succeeded, else the last level tried; null when no agent ran. */
  level: number | null;
  agents: FenceAgentRun[];
  durationMs: number;
  detail: string;
}

/** Notify delivery for one queue (an instance's or a sync group's). Counts are of script runs. */
export interface NotifyStats {
  /** Runs that exited 0 (after retries, if any). */
  delivered: number;
  /** Runs that still failed after the last retry. */
  failed: number;
  /** Attempts killed at notify_timeout (each attempt counts). */
  timedOut: number;
  /** Extra attempts made after a failure. */
  retried: number;
  /** Events dropped because the queue was full. */
  dropped: number;
  /** Events queued or running now. */
  pending: number;
  /** The number of the last event (VIPD_EVENT_SEQ), 0 before the first. */
  lastEventSeq: number;
  /** The number of the last event whose scripts all finished, null before the first. */
  lastDoneSeq: number | null;
}

export interface HooksInstanceStatus {
  trackers: TrackerState[];
  /** The last fence attempts, oldest first (at most FENCE_HISTORY_LIMIT in src/hooks). */
  fenceHistory: FenceAttempt[];
  notify: NotifyStats;
}

export interface HooksStatus {
  instances: Record<string, HooksInstanceStatus>;
  syncGroups: Record<string, { state: string; notify: NotifyStats }>;
}

export function emptyNotifyStats(): NotifyStats {
  return {
    delivered: 0,
    failed: 0,
    timedOut: 0,
    retried: 0,
    dropped: 0,
    pending: 0,
    lastEventSeq: 0,
    lastDoneSeq: null,
  };
}
