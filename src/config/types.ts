// The validated form of vipd.yaml (docs/config.md). Durations are milliseconds; addresses are canonical.
import type { Family } from "../core/types.js";

export type ChecksumForm = "pseudo-header" | "message-only";

export interface VipdConfig {
  /** The file this config was read from (as given to the loader). */
  file: string;
  global: GlobalConfig;
  trackScripts: Record<string, TrackScriptConfig>;
  trackFiles: Record<string, TrackFileConfig>;
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
  trackInterfaces: TrackRef[];
  trackScripts: TrackRef[];
  trackFiles: TrackRef[];
  notify: NotifyConfig;
  /** The sync group this instance belongs to, or null. */
  syncGroup: string | null;
}

export interface SyncGroupConfig {
  name: string;
  instances: string[];
  notify: NotifyConfig;
}
