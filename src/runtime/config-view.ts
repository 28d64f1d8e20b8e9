// VipdConfig -> the runtime's instance specs. The only runtime file that reads the config shape.

import { toRouterOptions } from "../config/router-options.js";
import type { VipdConfig } from "../config/types.js";
import type { InstanceSpec } from "./instance-spec.js";

export function configToSpecs(config: VipdConfig): InstanceSpec[] {
  return Object.values(config.instances).map((inst): InstanceSpec => {
    const toVip = (v: { cidr: string; dev: string; label: string | null }) => ({
      cidr: v.cidr,
      dev: v.dev,
      label: v.label,
    });
    return {
      name: inst.name,
      ifname: inst.interface,
      family: inst.family,
      vrid: inst.vrid,
      version: inst.version,
      checksumForm: inst.checksum,
      unicastSrcIp: inst.unicastSrcIp,
      unicastPeers: inst.unicastPeers === null ? null : [...inst.unicastPeers],
      vips: inst.virtualIps.map(toVip),
      excludedVips: inst.virtualIpsExcluded.map(toVip),
      advertAddresses: inst.virtualIps.map((v) => v.address),
      announce: {
        repeat: inst.garpMasterRepeat,
        intervalMs: inst.garpIntervalMs,
        secondBurstDelayMs: inst.garpMasterDelayMs,
        refreshMs: inst.garpMasterRefreshMs,
      },
      routerOptions: (host) => toRouterOptions(config, inst.name, host),
    };
  });
}
