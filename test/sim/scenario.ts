// Hand-scripted runs for the named scenario tests: a small cluster, no random faults, and the
// operations the test schedules with `sim.at(...)`.

import { realCore } from "./core.js";
import type { CoreApi, FenceMode, NodeSpec, SimConfig } from "./world.js";
import { Simulation } from "./world.js";

export interface ScriptOptions {
  intervalMs: number;
  nodes: Array<Partial<NodeSpec> & { priority: number }>;
  fencing?: { mode: FenceMode; delayMs: number; rebootMs?: number };
  core?: CoreApi;
  seed?: number;
  strictFencing?: boolean;
}

/** LAN latency in scripted runs: 50..200 µs. */
export const SCRIPT_LAN_DELAY_MS = [0.05, 0.2] as const;

export function scripted(o: ScriptOptions): Simulation {
  const i = o.intervalMs;
  const config: SimConfig = {
    seed: o.seed ?? 1,
    family: "ipv4",
    version: 3,
    adverIntervalMs: i,
    nodes: o.nodes.map((n) => ({ preempt: true, preemptDelayMs: 0, ...n })),
    fencing:
      o.fencing === undefined
        ? null
        : {
            mode: o.fencing.mode,
            okRate: 0.5,
            delayMs: [o.fencing.delayMs, o.fencing.delayMs],
            rebootMs: [o.fencing.rebootMs ?? 1000 * i, o.fencing.rebootMs ?? 1000 * i],
            retryMs: i,
            retryMaxMs: 8 * i,
          },
    lanDelayMs: SCRIPT_LAN_DELAY_MS,
    durationMs: 1000 * i,
  };
  return new Simulation(config, o.core ?? realCore, {
    keepTrace: true,
    strictFencing: o.strictFencing ?? false,
  });
}

/** Starts every node at time 0, in index order. */
export function startAll(sim: Simulation, at = 0): Simulation {
  for (const n of sim.nodes) sim.at(at, { type: "start", node: n.index });
  return sim;
}

/** The first time `node` entered `state` at or after `from`, or null. */
export function firstEntry(sim: Simulation, node: number, state: string, from: number): number | null {
  const t = sim.transitions.find((x) => x.node === node && x.to === state && x.timeMs >= from);
  return t?.timeMs ?? null;
}

/** RFC 9568 §6.1 timers (v3), written out here so the tests do not lean on the core's own arithmetic. */
export function skewMs(priority: number, intervalMs: number): number {
  return ((256 - priority) * intervalMs) / 256;
}

export function masterDownMs(priority: number, intervalMs: number): number {
  return 3 * intervalMs + skewMs(priority, intervalMs);
}
