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
