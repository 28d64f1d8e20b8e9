// Runs consecutive seeds until a wall-clock budget is spent, and tallies what was covered.

import type { CanaryKind } from "./canary.js";
import { type GeneratedRun, runSeed } from "./run.js";
import type { CoreApi, RunResult } from "./world.js";

export interface SweepOptions {
  startSeed: number;
  wallMs: number;
  /** Stop after this many seeds even if time remains. */
  maxSeeds?: number;
  canary?: CanaryKind;
  strictFencing?: boolean;
  stopOnFailure?: boolean;
  onFailure?: (r: RunResult & GeneratedRun) => void;
}

export interface SweepSummary {
  startSeed: number;
  seeds: number;
  failures: (RunResult & GeneratedRun)[];
  simulatedNodeHours: number;
  /** Node-hours per advert interval (ms). */
  nodeHoursByInterval: Record<string, number>;
  events: number;
  wallMs: number;
  /** VIP overlaps seen (tolerated ones included), by cause. */
  overlapCauses: Record<string, number>;
}

export function sweep(core: CoreApi, o: SweepOptions): SweepSummary {
  const t0 = performance.now();
  const byInterval: Record<string, number> = {};
  let nodeMs = 0;
  let events = 0;
  let seeds = 0;
  const failures: (RunResult & GeneratedRun)[] = [];
  const overlapCauses: Record<string, number> = {};
  while (performance.now() - t0 < o.wallMs && (o.maxSeeds === undefined || seeds < o.maxSeeds)) {
    const seed = (o.startSeed + seeds) >>> 0;
    const r = runSeed(core, seed, {
      strictFencing: o.strictFencing ?? false,
      ...(o.canary === undefined ? {} : { canary: o.canary }),
    });
    seeds++;
    nodeMs += r.stats.nodeRunningMs;
    events += r.stats.events;
    for (const [cause, n] of Object.entries(r.stats.overlapCauses))
      overlapCauses[cause] = (overlapCauses[cause] ?? 0) + n;
    const key = `${r.config.adverIntervalMs}ms`;
    byInterval[key] = (byInterval[key] ?? 0) + r.stats.nodeRunningMs / 3_600_000;
    if (r.violation !== null) {
      failures.push(r);
      o.onFailure?.(r);
      if (o.stopOnFailure) break;
    }
  }
  return {
    startSeed: o.startSeed,
    seeds,
    failures,
    simulatedNodeHours: nodeMs / 3_600_000,
    nodeHoursByInterval: byInterval,
    events,
    wallMs: performance.now() - t0,
    overlapCauses,
  };
}

export function formatSummary(s: SweepSummary): string {
  const per = Object.entries(s.nodeHoursByInterval)
    .sort()
    .map(([k, v]) => `${k}: ${v.toFixed(1)}`)
    .join(", ");
  return (
    `${s.seeds} seeds (${s.startSeed}..${(s.startSeed + s.seeds - 1) >>> 0}) in ${(s.wallMs / 1000).toFixed(1)}s, ` +
    `${s.failures.length} failed, ${s.simulatedNodeHours.toFixed(1)} simulated node-hours (${per}), ` +
    `${s.events} events; VIP overlaps by cause: ${JSON.stringify(s.overlapCauses)}`
  );
}
