// Seeded fault injection. A run alternates calm phases (long enough for the liveness checks to
// bite) with fault phases, in which a profile's mix of faults starts and ends. Every fault that
// makes the network unhealthy ends before its phase does, so healing is always checked.

import type { Prng } from "./prng.js";
import type { Op, Simulation } from "./world.js";

export type FaultKind =
  | "partition"
  | "oneWay"
  | "storm"
  | "crash"
  | "stop"
  | "stall"
  | "tracker"
  | "linkFlap"
  | "maintenance";

export interface FaultProfile {
  name: string;
  weights: Readonly<Record<FaultKind, number>>;
  /** Faults started per fault phase, inclusive range. */
  faultsPerPhase: readonly [number, number];
  /** Fault phase length in advert intervals, inclusive range. */
  phaseIntervals: readonly [number, number];
}

const none: Record<FaultKind, number> = {
  partition: 0,
  oneWay: 0,
  storm: 0,
  crash: 0,
  stop: 0,
  stall: 0,
  tracker: 0,
  linkFlap: 0,
  maintenance: 0,
};

export const PROFILES: readonly FaultProfile[] = [
  {
    name: "mixed",
    weights: {
      partition: 1,
      oneWay: 1,
      storm: 1,
      crash: 1,
      stop: 1,
      stall: 1,
      tracker: 1,
      linkFlap: 1,
      maintenance: 0.5,
    },
    faultsPerPhase: [1, 3],
    phaseIntervals: [2, 30],
  },
  {
    name: "lossy",
    weights: { ...none, storm: 4, stall: 1 },
    faultsPerPhase: [1, 2],
    phaseIntervals: [5, 40],
  },
  {
    name: "partitions",
    weights: { ...none, partition: 3, oneWay: 3, linkFlap: 1 },
    faultsPerPhase: [1, 2],
    phaseIntervals: [3, 30],
  },
  {
    name: "crashes",
    weights: { ...none, crash: 3, stop: 3, tracker: 1 },
    faultsPerPhase: [1, 2],
    phaseIntervals: [2, 20],
  },
  {
    name: "stalls",
    weights: { ...none, stall: 4, tracker: 1 },
    faultsPerPhase: [1, 3],
    phaseIntervals: [2, 20],
  },
  {
    name: "priorities",
    weights: { ...none, tracker: 4, stop: 1, crash: 1, maintenance: 1 },
    faultsPerPhase: [1, 3],
    phaseIntervals: [2, 15],
  },
];

export function profileByName(name: string): FaultProfile {
  const p = PROFILES.find((x) => x.name === name);
  if (p === undefined)
    throw new Error(`unknown fault profile "${name}" (have ${PROFILES.map((x) => x.name)})`);
  return p;
}

export class ChaosDriver {
  private sim: Simulation | null = null;
  private rng: Prng | null = null;
  private started = false;

  constructor(readonly profile: FaultProfile) {}

  attach(sim: Simulation, rng: Prng): void {
    this.sim = sim;
    this.rng = rng;
  }

  /** Called by the simulation at each phase boundary. */
  plan(): void {
    const sim = this.sim;
    const rng = this.rng;
    if (sim === null || rng === null) throw new Error("ChaosDriver.plan before attach");
    const i = sim.config.adverIntervalMs;
    const now = sim.now;
    if (!this.started) {
      this.started = true;
      // Nodes boot within two intervals of each other, in a random order.
      for (const n of sim.nodes) sim.at(rng.range(0, 2 * i), { type: "start", node: n.index });
      sim.scheduleChaos(2 * i + this.calmMs());
      return;
    }
    if (now >= sim.config.durationMs) return;
    const length = i * rng.int(this.profile.phaseIntervals[0], this.profile.phaseIntervals[1]);
    const count = rng.int(this.profile.faultsPerPhase[0], this.profile.faultsPerPhase[1]);
    const used = new Set<FaultKind>();
    for (let k = 0; k < count; k++) {
      const kind = rng.weighted(this.profile.weights);
      // One network-wide fault of each kind per phase, so their start and end pair up.
      if ((kind === "partition" || kind === "oneWay" || kind === "storm") && used.has(kind)) continue;
      if ((kind === "partition" && used.has("oneWay")) || (kind === "oneWay" && used.has("partition")))
        continue;
      used.add(kind);
      this.inject(kind, now, length);
    }
    // Nodes left down by an earlier phase come back now and then.
    if (rng.chance(0.5)) {
      for (const n of sim.nodes) {
        if (n.router === null && n.downReason !== "fenced") {
          sim.at(now + rng.range(0, length), { type: "start", node: n.index });
        }
      }
    }
    sim.scheduleChaos(now + length + this.calmMs());
  }

  private calmMs(): number {
    const sim = this.sim!;
    return sim.livenessMs + sim.config.adverIntervalMs * this.rng!.int(2, 20);
  }

  private inject(kind: FaultKind, now: number, length: number): void {
    const sim = this.sim!;
    const rng = this.rng!;
    const n = sim.nodes.length;
    const i = sim.config.adverIntervalMs;
    const start = now + rng.range(0, length / 2);
    const end = rng.range(Math.min(start + i, now + length), now + length);
    const anyNode = () => rng.int(0, n - 1);
    const at = (t: number, op: Op) => sim.at(t, op);
    switch (kind) {
      case "partition": {
        const groups = split(rng, n, n >= 4 && rng.chance(0.3) ? 3 : 2);
        at(start, { type: "partition", groups });
        at(end, { type: "heal" });
        return;
      }
      case "oneWay": {
        const [from, to] = split(rng, n, 2) as [number[], number[]];
        at(start, { type: "oneWay", from, to });
        at(end, { type: "heal" });
        return;
      }
      case "storm":
        at(start, {
          type: "storm",
          loss: rng.range(0.05, 0.6),
          dup: rng.range(0, 0.3),
          jitterMs: rng.range(0, 2 * i),
        });
        at(end, { type: "stormEnd" });
        return;
      case "crash": {
        const node = anyNode();
        at(start, { type: "crash", node });
        if (rng.chance(0.7)) at(end, { type: "start", node });
        return;
      }
      case "stop": {
        const masters = sim.masters();
        const node = masters.length > 0 && rng.chance(0.6) ? rng.pick(masters).index : anyNode();
        at(start, { type: "stop", node });
        if (rng.chance(0.7)) at(end, { type: "start", node });
        return;
      }
      case "stall": {
        const ms = rng.chance(0.1) ? rng.range(8 * i, 20 * i) : rng.range(i / 4, 8 * i);
        at(start, { type: "stall", node: anyNode(), ms });
        return;
      }
      case "tracker": {
        const node = anyNode();
        at(start, { type: "tracker", node, weight: rng.int(-80, 80) });
        if (rng.chance(0.5)) at(end, { type: "tracker", node, weight: 0 });
        return;
      }
      case "linkFlap": {
        const node = anyNode();
        if (rng.chance(0.3)) {
          // A bouncing link: several short down/up pairs.
          let t = start;
          const flaps = rng.int(2, 6);
          for (let k = 0; k < flaps && t < end; k++) {
            at(t, { type: "link", node, up: false });
            t += rng.range(0.05 * i, i);
            at(Math.min(t, end), { type: "link", node, up: true });
            t += rng.range(0.05 * i, i);
          }
        } else {
          at(start, { type: "link", node, up: false });
        }
        at(end, { type: "link", node, up: true });
        return;
      }
      case "maintenance": {
        // Usually a master is put in maintenance (a planned handover); it always ends in its phase.
        const masters = sim.masters();
        const node = masters.length > 0 && rng.chance(0.7) ? rng.pick(masters).index : anyNode();
        at(start, { type: "maintenance", node, on: true });
        at(end, { type: "maintenance", node, on: false });
        return;
      }
      default: {
        const never: never = kind;
        throw new Error(`unknown fault ${String(never)}`);
      }
    }
  }
}

/** Splits node indices 0..n-1 into `parts` non-empty groups at random. */
function split(rng: Prng, n: number, parts: number): number[][] {
  const order = Array.from({ length: n }, (_, k) => k);
  for (let k = n - 1; k > 0; k--) {
    const j = rng.int(0, k);
    [order[k], order[j]] = [order[j]!, order[k]!];
  }
  const groups: number[][] = Array.from({ length: parts }, () => []);
  order.forEach((node, k) => {
    const g = k < parts ? k : rng.int(0, parts - 1);
    groups[g]!.push(node);
  });
  return groups;
}
