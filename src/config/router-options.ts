import type { RouterOptions } from "../core/types.js";
import { parseAddress } from "./net.js";
import type { VipdConfig } from "./types.js";

const FENCE_RETRY_MS = 1000;
const FENCE_RETRY_MAX_MS = 60_000;

/**
 * The core's options for one instance. `host.primaryAddress` is the interface's primary address of the
 * instance's family; `unicast_src_ip`, when set, takes its place. Fencing is on when the instance has
 * a fence or a witness (the witness check is then the fencing step, see src/hooks/fence.ts).
 */
export function toRouterOptions(
  config: VipdConfig,
  instanceName: string,
  host: { primaryAddress: string },
): RouterOptions {
  const inst = config.instances[instanceName];
  if (!inst) throw new Error(`toRouterOptions: no instance "${instanceName}" in ${config.file}`);
  const primary = inst.unicastSrcIp ?? parseAddress(host.primaryAddress)?.address;
  if (primary === undefined) throw new Error(`toRouterOptions: "${host.primaryAddress}" is not an address`);
  const primaryFamily = parseAddress(primary)?.family;
  if (primaryFamily !== inst.family) {
    throw new Error(
      `toRouterOptions: primary address ${primary} is not ${inst.family} like instance "${inst.name}"`,
    );
  }
  return {
    name: inst.name,
    vrid: inst.vrid,
    family: inst.family,
    version: inst.version,
    priority: inst.priority,
    adverIntervalMs: inst.adverIntervalMs,
    preempt: inst.preempt,
    preemptDelayMs: inst.preemptDelayMs,
    acceptMode: inst.accept,
    primaryAddress: primary,
    vips: inst.virtualIps.map((v) => v.cidr),
    fencing: inst.fence !== null || inst.witness !== null,
    fenceRetryMs: inst.fence?.retryMs ?? FENCE_RETRY_MS,
    fenceRetryMaxMs: inst.fence?.retryMaxMs ?? FENCE_RETRY_MAX_MS,
  };
}
