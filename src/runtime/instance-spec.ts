// What the runtime needs to know about one configured instance, beyond the core's RouterOptions.
// Built from VipdConfig by config-view.ts; the daemon never reads the config shape directly.

import type { ChecksumForm } from "../codec/advert.js";
import type { Family, RouterOptions } from "../core/types.js";
import type { AnnounceSettings } from "./announce.js";

export interface VipSpec {
  /** Address with prefix length, as the core carries it ("192.0.2.100/24"). */
  cidr: string;
  /** Interface the address goes on (the instance's interface unless `dev` was given). */
  dev: string;
  label: string | null;
}

export interface InstanceSpec {
  name: string;
  ifname: string;
  family: Family;
  vrid: number;
  version: 2 | 3;
  /** Send form for v3 IPv4 (v3 IPv6 is always pseudo-header; v2 ignores it). */
  checksumForm: ChecksumForm;
  unicastSrcIp: string | null;
  /** null = multicast (224.0.0.18 / ff02::12). */
  unicastPeers: string[] | null;
  /** virtual_ips: the addresses the core manages (RouterOptions.vips), with where they go. */
  vips: VipSpec[];
  /** virtual_ips_excluded: installed and removed together with the VIPs, never in adverts. */
  excludedVips: VipSpec[];
  /** Plain addresses carried in adverts (virtual_ips without the excluded ones). */
  advertAddresses: string[];
  announce: AnnounceSettings;
  /** The core's options once the host's primary address is known. */
  routerOptions(host: { primaryAddress: string }): RouterOptions;
}

/** Instances that differ in any of these are replaced on reload, not reconfigured. */
export function identityKey(spec: InstanceSpec): string {
  const devs = [...new Set([...spec.vips, ...spec.excludedVips].map((v) => v.dev))].sort().join(",");
  const mode = spec.unicastPeers === null ? "multicast" : "unicast";
  return `${spec.ifname}|${spec.family}|${spec.vrid}|${mode}|${devs}`;
}

/** Runtime-only settings that can change without touching the router. */
export function runtimeSettingsKey(spec: InstanceSpec): string {
  return JSON.stringify({
    version: spec.version,
    checksumForm: spec.checksumForm,
    unicastSrcIp: spec.unicastSrcIp,
    unicastPeers: spec.unicastPeers,
    vips: spec.vips,
    excludedVips: spec.excludedVips,
    advertAddresses: spec.advertAddresses,
    announce: spec.announce,
  });
}
