// The validated form of vipd.yaml (docs/config.md). Durations are milliseconds; addresses are canonical.
import type { Family } from "../core/types.js";

export type ChecksumForm = "pseudo-header" | "message-only";

export interface VipdConfig {
  /** The file this config was read from (as given to the loader). */
  file: string;
  global: GlobalConfig;
  trackScripts: Record<string, TrackScriptConfig>;
  trackFiles: Record<string, TrackFileConfig>;
  /** Built-in HTTP checks (issue 4). */
  trackHttp: Record<string, TrackHttpConfig>;
  /** Built-in TCP connect checks (issue 4). */
  trackTcp: Record<string, TrackTcpConfig>;
  instances: Record<string, InstanceConfig>;
  syncGroups: Record<string, SyncGroupConfig>;
}

export interface AnnounceConfig {
  /** Delay before the second announcement burst after takeover; 0 = no second burst. */
  garpMasterDelayMs: number;
  /** Announcements (GARP / unsolicited NA) per burst. */
  garpMasterRepeat: number;
  /** Spacing between the announcements of one burst. */
  garpIntervalMs: number;
  /** Periodic re-announce while master; 0 = off. */
  garpMasterRefreshMs: number;
}

export interface GlobalConfig extends AnnounceConfig {
  /** This node's name (default: the host name). */
  routerId: string;
  vrrpVersion: 2 | 3;
  checksum: ChecksumForm;
  controlSocket: string;
  /** Group (name or numeric gid as text) allowed read-only status, or null for root only. */
  controlGroup: string | null;
  /** Prometheus listen address, or null when turned off. */
  metricsListen: { host: string; port: number } | null;
  scriptUser: string;
  enableScriptSecurity: boolean;
  /** Default fencing for every instance (an instance may override or turn it off with null). */
  fence: FenceConfig | null;
  witness: WitnessConfig | null;
  /** Per notify script run; a timed-out script's process group is killed. */
  notifyTimeoutMs: number;
  /** Extra attempts after a failed notify script run. */
  notifyRetries: number;
  /** SCHED_RR priority (1..99) of every vipd thread; 0 leaves the scheduling alone. */
  realtimePriority: number;
  /** Nice value (-20..19) of every vipd thread, or null to leave it alone. */
  nice: number | null;
}

/** One fence agent run: the fence-agent stdin protocol (key=value lines), exit 0 = fenced. */
export interface FenceAgentConfig {
  agent: string;
  /** Extra key=value lines, values as text. They override the defaults vipd sends. */
  args: Record<string, string>;
  timeoutMs: number;
}

export interface FenceConfig {
  /** Level 1 first; a level succeeds when all its agents do, in order. */
  levels: FenceAgentConfig[][];
  delayMs: number;
  /** A random part in [0, randomDelayMs) added to delayMs. */
  randomDelayMs: number;
  /** Back-off before the next attempt after a failure; doubles up to retryMaxMs. */
  retryMs: number;
  retryMaxMs: number;
  /** Peer address -> node name, passed to agents as nodename/plug. */
  nodes: Record<string, string>;
}

/** A third party that must answer before a takeover (and, in mode always, to stay in service). */
export type WitnessConfig = (
  | { type: "tcp"; host: string; port: number }
  | { type: "http"; url: string; status: number }
  | { type: "ping"; host: string }
) & { intervalMs: number; timeoutMs: number; mode: "takeover" | "always" };

interface CheckConfig {
  name: string;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  /** -253..253; 0 means a failing check puts the instance in Fault. */
  weight: number;
}

export interface TrackHttpConfig extends CheckConfig {
  url: string;
  /** Statuses that count as success. */
  statuses: number[];
}

export interface TrackTcpConfig extends CheckConfig {
  host: string;
  port: number;
}

export interface TrackScriptConfig {
  name: string;
  /** argv, never run through a shell. */
  argv: string[];
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  /** -253..253; 0 means a failing script puts the instance in Fault. */
  weight: number;
}

export interface TrackFileConfig {
  name: string;
  file: string;
  /** The integer read from the file is multiplied by this. */
  weight: number;
}

/** A tracker reference from an instance; weight null = the tracker's own weight (or Fault for interfaces). */
export interface TrackRef {
  name: string;
  weight: number | null;
}

/** track_interfaces entry: optional debounce before a change counts. */
export interface InterfaceTrackRef extends TrackRef {
  upDelayMs: number;
  downDelayMs: number;
}

export interface VirtualIpConfig {
  /** "192.0.2.100/24", canonical. */
  cidr: string;
  address: string;
  prefixLength: number;
  /** Interface to put it on (default: the instance's interface). */
  dev: string;
  label: string | null;
}

export interface NotifyConfig {
  /** Generic script: argv INSTANCE name state priority (keepalived's). */
  any: string | null;
  master: string | null;
  backup: string | null;
  fault: string | null;
  stop: string | null;
  /** Every event, argv INSTANCE|GROUP name EVENT priority (issue 4). */
  event: string | null;
  fenceStarted: string | null;
  fenceFailed: string | null;
  splitBrain: string | null;
  masterRxLowerPri: string | null;
}

export interface InstanceConfig extends AnnounceConfig {
  name: string;
  interface: string;
  vrid: number;
  family: Family;
  version: 2 | 3;
  priority: number;
  adverIntervalMs: number;
  /** keepalived's start hint, informational. */
  initialState: "MASTER" | "BACKUP" | null;
  preempt: boolean;
  preemptDelayMs: number;
  accept: boolean;
  /** Send form for v3 IPv4 adverts (v3 IPv6 always uses the pseudo-header). */
  checksum: ChecksumForm;
  /** Source address override, canonical, or null (the interface's primary address). */
  unicastSrcIp: string | null;
  /** Peers for unicast mode, or null for multicast. Never empty. */
  unicastPeers: string[] | null;
  virtualIps: VirtualIpConfig[];
  /** Configured on the host but not carried in adverts. */
  virtualIpsExcluded: VirtualIpConfig[];
  trackInterfaces: InterfaceTrackRef[];
  trackScripts: TrackRef[];
  trackFiles: TrackRef[];
  trackHttp: TrackRef[];
  trackTcp: TrackRef[];
  /** Effective fencing (the instance's, else global's), or null = plain VRRP takeover. */
  fence: FenceConfig | null;
  witness: WitnessConfig | null;
  notify: NotifyConfig;
  /** The sync group this instance belongs to, or null. */
  syncGroup: string | null;
}

export interface SyncGroupConfig {
  name: string;
  instances: string[];
  notify: NotifyConfig;
}
