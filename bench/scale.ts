// Scale: host a runs N VRIDs as master (priority 200), host b the same N as backup (priority 100);
// after both settled, the CPU use and RSS of each host's processes are read from /proc over a window.
import type { Lab } from "../test/lab/netns.js";
import { type AgentKind, type BenchAgent, type BenchInstance, startAgent } from "./agents.js";
import { cpuPercent, machineStealMs, sampleNamespace } from "./proc.js";
import { masterDownIntervalMs } from "./stats.js";

export interface ScaleResult {
  agent: AgentKind;
  vrids: number;
  intervalMs: number;
  windowS: number;
  masterCpuPercent: number;
  backupCpuPercent: number;
  /**
   * The same over the window's second half only: start-up work (JIT compilation, the garbage
   * collections after it) still falls in the first seconds of the window.
   */
  masterCpuLatePercent: number;
  backupCpuLatePercent: number;
  masterRssMiB: number;
  backupRssMiB: number;
  settleMs: number;
  /**
   * State changes each host's agent logged during the window (none is expected: both settled before
   * it). A machine stall past Master_Down_Interval shows here, with the takeovers' work in the
   * figures above.
   */
  transitionsInWindow: { master: number; backup: number };
  /** The machine's steal time over the window (every CPU, ms, in 10 ms ticks). */
  stealMs: number;
  /** vipd only: the global.realtime_priority it ran with; null: the config default. */
  realtimePriority: number | null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** VIP of VRID i (1..255): 198.51.100.i/32, and 192.0.2.254/32 for 255. */
export function scaleVip(vrid: number): string {
  return vrid <= 254 ? `198.51.100.${vrid}/32` : "192.0.2.254/32";
}

/** RSS of every process of a namespace, KiB. */
function rssOf(ns: string): number {
  return sampleNamespace(ns).rssKiB;
}

export async function scaleRun(
  lab: Lab,
  kind: AgentKind,
  vrids: number,
  intervalMs: number,
  windowS: number,
  vipdRealtime: number | null = null,
): Promise<ScaleResult> {
  const a = lab.host("a");
  const b = lab.host("b");
  const set = (priority: number): BenchInstance[] =>
    Array.from({ length: vrids }, (_, i) => ({
      name: `VI_${i + 1}`,
      vrid: i + 1,
      priority,
      advertIntMs: intervalMs,
      vip: scaleVip(i + 1),
    }));
  const t0 = Date.now();
  const agents: BenchAgent[] = [];
  const global =
    kind === "vipd" && vipdRealtime !== null ? { vipdGlobal: { realtime_priority: vipdRealtime } } : {};
  try {
    const started = await Promise.all([
      startAgent(kind, a, { instances: set(200), startTimeoutMs: 60_000, ...global }),
      startAgent(kind, b, { instances: set(100), startTimeoutMs: 60_000, ...global }),
    ]);
    agents.push(...started);
    const [ma, mb] = started;
    const deadline = Date.now() + 2 * masterDownIntervalMs(intervalMs, 1) + 60_000;
    const names = set(0).map((i) => i.name);
    while (!names.every((n) => ma.state(n) === "master" && mb.state(n) === "backup")) {
      if (Date.now() > deadline) {
        const bad = names.filter((n) => !(ma.state(n) === "master" && mb.state(n) === "backup")).length;
        const states = (x: BenchAgent) => {
          const count = new Map<string, number>();
          for (const n of names) {
            const s = x.state(n) ?? "none";
            count.set(s, (count.get(s) ?? 0) + 1);
          }
          return [...count].map(([s, c]) => `${s} ${c}`).join(", ");
        };
        throw new Error(
          `${kind} ${vrids} VRIDs at ${intervalMs} ms: ${bad} not settled ` +
            `(a: ${states(ma)}${ma.exited() ? ", exited" : ""}; b: ${states(mb)}${mb.exited() ? ", exited" : ""})\n` +
            `a:\n${ma.tail()}\nb:\n${mb.tail()}`,
        );
      }
      await sleep(50);
    }
    const settleMs = Date.now() - t0;
    await sleep(Math.max(1000, 3 * intervalMs)); // past the start-up work and the first GARP burst
    const windowStartMs = Date.now();
    const steal0 = machineStealMs();
    const s0 = [sampleNamespace(a.ns), sampleNamespace(b.ns)];
    // RSS is the peak of one sample a second over the window, not just its two ends: a heap that
    // grows between major GCs shows at its top.
    let masterRssKiB = s0[0]!.rssKiB;
    let backupRssKiB = s0[1]!.rssKiB;
    const end = Date.now() + windowS * 1000;
    const half = Date.now() + (windowS * 1000) / 2;
    let sHalf: typeof s0 | null = null;
    for (let left = end - Date.now(); left > 0; left = end - Date.now()) {
      // Woken at the half too, to sample it there.
      await sleep(sHalf === null ? Math.max(1, Math.min(1000, half - Date.now())) : Math.min(1000, left));
      if (sHalf === null && Date.now() >= half) sHalf = [sampleNamespace(a.ns), sampleNamespace(b.ns)];
      masterRssKiB = Math.max(masterRssKiB, rssOf(a.ns));
      backupRssKiB = Math.max(backupRssKiB, rssOf(b.ns));
    }
    const s1 = [sampleNamespace(a.ns), sampleNamespace(b.ns)];
    const stealMs = machineStealMs() - steal0;
    const inWindow = (x: BenchAgent) => x.transitions().filter((t) => t.atMs >= windowStartMs).length;
    // The half comes before the end, so the loop always took it.
    if (sHalf === null) throw new Error("scale: no sample at the window's half");
    return {
      agent: kind,
      vrids,
      intervalMs,
      windowS,
      masterCpuPercent: cpuPercent(s0[0]!, s1[0]!),
      backupCpuPercent: cpuPercent(s0[1]!, s1[1]!),
      masterCpuLatePercent: cpuPercent(sHalf[0]!, s1[0]!),
      backupCpuLatePercent: cpuPercent(sHalf[1]!, s1[1]!),
      masterRssMiB: Math.max(masterRssKiB, s1[0]!.rssKiB) / 1024,
      backupRssMiB: Math.max(backupRssKiB, s1[1]!.rssKiB) / 1024,
      settleMs,
      transitionsInWindow: { master: inWindow(ma), backup: inWindow(mb) },
      stealMs,
      realtimePriority: kind === "vipd" ? vipdRealtime : null,
    };
  } finally {
    await Promise.all(agents.map((x) => x.stop()));
    for (const h of [a, b])
      await h.exec(["ip", "addr", "flush", "dev", h.ifname, "scope", "global", "to", "198.51.100.0/24"]);
  }
}
