// Each from its own module, not the index: in dist/bundle/run.cjs, load.js is replaced
// (src/cli/config-bundle.ts) and its errors come from another copy of errors.js.
import { formatDurationMs } from "../config/duration.js";
import { formatIssue, isConfigError } from "../config/errors.js";
import { loadConfigFile } from "../config/load.js";
import type { VipdConfig } from "../config/types.js";
import { EX_CONFIG, EXIT_OK } from "./exit-codes.js";
import type { CliIo } from "./io.js";

/** Loads a config, printing its issues on failure. */
export async function loadOrReport(path: string, io: CliIo): Promise<VipdConfig | null> {
  try {
    return await loadConfigFile(path);
  } catch (e) {
    if (!isConfigError(e)) throw e;
    for (const issue of e.issues) io.stderr(`${formatIssue(issue)}\n`);
    const n = e.issues.length;
    io.stderr(`${path}: ${n} problem${n === 1 ? "" : "s"}; vipd did not start anything\n`);
    return null;
  }
}

export function summarize(config: VipdConfig): string {
  const instances = Object.values(config.instances);
  const lines = [
    `${config.file}: OK (router_id ${config.global.routerId}, ${instances.length} instance${instances.length === 1 ? "" : "s"})`,
  ];
  for (const i of instances) {
    const mode = i.unicastPeers === null ? "multicast" : `unicast to ${i.unicastPeers.join(", ")}`;
    const preempt = i.preempt
      ? i.preemptDelayMs > 0
        ? `preempt after ${formatDurationMs(i.preemptDelayMs)}`
        : "preempt"
      : "nopreempt";
    lines.push(
      `  ${i.name}: ${i.interface} vrid ${i.vrid} ${i.family === "ipv4" ? "IPv4" : "IPv6"} VRRPv${i.version} ` +
        `priority ${i.priority} advert ${formatDurationMs(i.adverIntervalMs)} ${mode}, ${preempt}`,
    );
    lines.push(`    VIPs ${i.virtualIps.map((v) => v.cidr).join(", ")}`);
    const trackers = [
      ...i.trackInterfaces.map((t) => `interface ${t.name}`),
      ...i.trackScripts.map((t) => `script ${t.name}`),
      ...i.trackFiles.map((t) => `file ${t.name}`),
    ];
    if (trackers.length > 0) lines.push(`    tracks ${trackers.join(", ")}`);
  }
  for (const g of Object.values(config.syncGroups)) {
    lines.push(`  sync group ${g.name}: ${g.instances.join(", ")}`);
  }
  return `${lines.join("\n")}\n`;
}

export async function checkCommand(o: { config: string }, io: CliIo): Promise<number> {
  const config = await loadOrReport(o.config, io);
  if (!config) return EX_CONFIG;
  io.stdout(summarize(config));
  return EXIT_OK;
}
