// One simulated run per seed: the seed picks the cluster (2-5 nodes, 1 s / 100 ms / 10 ms adverts,
// priorities, preempt, fencing) and the fault profile, then the simulation runs it.

import { type CanaryKind, canaryCore } from "./canary.js";
import { ChaosDriver, PROFILES } from "./faults.js";
import { Prng } from "./prng.js";
import { formatTime } from "./trace.js";
import {
  type CoreApi,
  type FenceMode,
  type NodeSpec,
  type RunResult,
  type SimConfig,
  Simulation,
} from "./world.js";

export const INTERVALS_MS = [1000, 100, 10] as const;

export interface GeneratedRun {
  config: SimConfig;
  profileName: string;
}

export function generateRun(seed: number): GeneratedRun {
  const rng = new Prng((seed ^ 0x5bd1e995) >>> 0);
  const interval = rng.pick(INTERVALS_MS);
  const count = rng.int(2, 5);
  const family = rng.chance(0.75) ? "ipv4" : "ipv6";
  const version = interval === 1000 && family === "ipv4" && rng.chance(0.3) ? 2 : 3;
  const nodes: NodeSpec[] = [];
  for (let k = 0; k < count; k++) {
    let priority = rng.int(1, 254);
    const previous = nodes[k - 1];
    if (previous !== undefined && rng.chance(0.2)) priority = previous.priority; // ties
    nodes.push({
      priority,
      preempt: rng.chance(0.8),
      preemptDelayMs: rng.chance(0.15) ? interval * rng.int(1, 5) : 0,
    });
  }
  if (rng.chance(0.1)) rng.pick(nodes).priority = 255; // an address owner
  let fencing: SimConfig["fencing"] = null;
  if (rng.chance(0.35)) {
    const mode = rng.weighted<FenceMode>({ ok: 6, fail: 2, flaky: 2 });
    fencing = {
      mode,
      okRate: 0.5,
      delayMs: [0.2 * interval, 3 * interval],
      rebootMs: [5 * interval, 30 * interval],
      retryMs: interval,
      retryMaxMs: 8 * interval,
    };
  }
  const profile = rng.pick(PROFILES);
  const config: SimConfig = {
    seed,
    family,
    version,
    adverIntervalMs: interval,
    nodes,
    fencing,
    lanDelayMs: [0.01, Math.min(1, interval / 50)],
    durationMs: interval * rng.int(600, 2000),
  };
  return { config, profileName: profile.name };
}

export interface RunOptions {
  canary?: CanaryKind;
  keepTrace?: boolean;
  /** Fail on every VIP overlap with fencing on, even the tolerated causes (see checkers.ts). */
  strictFencing?: boolean;
}

export function runSeed(core: CoreApi, seed: number, options: RunOptions = {}): RunResult & GeneratedRun {
  const generated = generateRun(seed);
  const profile = PROFILES.find((p) => p.name === generated.profileName)!;
  const api = options.canary === undefined ? core : canaryCore(core, options.canary);
  const sim = new Simulation(generated.config, api, {
    chaos: new ChaosDriver(profile),
    keepTrace: options.keepTrace ?? false,
    strictFencing: options.strictFencing ?? false,
  });
  return { ...sim.run(), ...generated };
}

export function describeRun(g: GeneratedRun): string {
  const c = g.config;
  const nodes = c.nodes
    .map(
      (n, k) =>
        `n${k}:p${n.priority}${n.preempt ? "" : "/nopreempt"}${n.preemptDelayMs ? `/delay${n.preemptDelayMs}` : ""}`,
    )
    .join(" ");
  const fence = c.fencing === null ? "off" : c.fencing.mode;
  return `${c.nodes.length} nodes (${nodes}), ${c.family} v${c.version}, advert ${c.adverIntervalMs}ms, fencing ${fence}, profile ${g.profileName}, ${formatTime(c.durationMs).trim()} simulated`;
}

export function formatFailure(r: RunResult & GeneratedRun, canary?: CanaryKind): string {
  const v = r.violation;
  if (v === null) return `seed ${r.seed}: ok`;
  const replay = `npm run sim -- --seed ${r.seed}${canary === undefined ? "" : ` --canary ${canary}`}`;
  return [
    `seed ${r.seed} FAILED at ${formatTime(v.timeMs).trim()}: ${v.invariant}`,
    `  ${v.message}`,
    `  run: ${describeRun(r)}`,
    `  replay: ${replay}`,
    "  last events:",
    ...r.traceTail.map((l) => `    ${l}`),
  ].join("\n");
}
