// The simulator's invariants. Step checks run after every router step, event checks after every
// simulator event; each returns the first violation it finds (or null). Names are stable: the
// canary test and failure reports refer to them.

import type { Input, RouterState, Step } from "../../src/core/types.js";
import type { SimNode, Simulation } from "./world.js";

export interface StepRecord {
  input: Input;
  before: { state: RouterState; masterAddress: string | null; holdsVips: boolean; effectivePriority: number };
  step: Step;
}

export interface Finding {
  invariant: string;
  message: string;
}

export const INVARIANTS = {
  coreInvariants: "core-invariants",
  vipsOnlyOnMaster: "vips-only-on-master",
  hostMatchesCore: "host-matches-core",
  oneMaster: "at-most-one-master",
  bestWins: "best-priority-wins",
  oneMasterExists: "a-master-exists",
  stuckInFault: "stuck-in-fault",
  priorityZeroOnStop: "priority-zero-on-stop",
  vipsReleasedOnStop: "vips-released-on-stop",
  exclusiveVips: "vip-on-one-host-with-fencing",
  fenceSelf: "fence-target-is-self",
  takeoverWithoutFence: "takeover-without-fence",
  fenceOutcome: "master-only-after-fence-success",
} as const;

/** After each step of one router. */
export function stepChecks(sim: Simulation, node: SimNode, rec: StepRecord): Finding | null {
  const router = node.router;
  if (router === null) return null;
  const after = router.state;
  const vipCount = node.options.vips.length;

  if (node.held.size > 0 && after !== "master") {
    return f(INVARIANTS.vipsOnlyOnMaster, `${node.name} holds ${[...node.held]} in state ${after}`);
  }
  if (node.held.size !== (router.holdsVips ? vipCount : 0)) {
    return f(
      INVARIANTS.hostMatchesCore,
      `${node.name}: core says holdsVips=${router.holdsVips} but the host has ${node.held.size} of ${vipCount}`,
    );
  }
  for (const a of rec.step.actions) {
    if (a.type === "requestFence" && a.peer === node.address) {
      return f(INVARIANTS.fenceSelf, `${node.name} asked to fence its own address`);
    }
  }
  if (sim.config.fencing !== null && after === "master" && rec.before.state !== "master") {
    if (rec.before.state === "fencing" && !(rec.input.type === "fenceResult" && rec.input.ok)) {
      return f(
        INVARIANTS.fenceOutcome,
        `${node.name} went fencing -> master on ${rec.input.type} without a successful fence`,
      );
    }
    if (rec.before.state === "backup" && rec.input.type === "timeout" && rec.before.masterAddress !== null) {
      // Taking over from a master we followed. Only a preempting backup (higher priority than the
      // master it heard) may skip the fence: that master is alive, not silent.
      const followed = sim.nodes.find((n) => n.address === rec.before.masterAddress);
      const followedPriority = followed?.router?.effectivePriority ?? 0;
      const preempting = rec.before.effectivePriority > followedPriority && followed?.router != null;
      if (!preempting) {
        return f(
          INVARIANTS.takeoverWithoutFence,
          `${node.name} took over from silent master ${rec.before.masterAddress} without fencing it`,
        );
      }
    }
  }
  return null;
}

/** At a clean stop: the shutdown step of a master carries a priority-0 advert and drops the VIPs. */
export function stopChecks(
  _sim: Simulation,
  node: SimNode,
  wasState: RouterState,
  step: Step | null,
): Finding | null {
  if (wasState === "master") {
    const zero = step?.actions.some((a) => a.type === "sendAdvert" && a.priority === 0) ?? false;
    if (!zero)
      return f(INVARIANTS.priorityZeroOnStop, `${node.name} stopped as master without a priority-0 advert`);
  }
  if (node.held.size > 0) {
    return f(INVARIANTS.vipsReleasedOnStop, `${node.name} stopped but still holds ${[...node.held]}`);
  }
  return null;
}

/** After every simulator event. */
export function afterEventChecks(sim: Simulation): Finding | null {
  const fencing = sim.config.fencing;
  if (fencing !== null && fencing.mode === "ok") {
    const v = exclusiveVips(sim);
    if (v !== null) return v;
  }
  const healthy = sim.healthyForMs();
  if (healthy < 0) return null;
  if (healthy >= sim.settleMs) {
    const masters = sim.masters();
    if (masters.length > 1) {
      return f(
        INVARIANTS.oneMaster,
        `${masters.map((m) => m.name).join(" and ")} are all master after ${healthy.toFixed(1)}ms of healthy network (settle ${sim.settleMs.toFixed(1)}ms)`,
      );
    }
  }
  // Liveness needs a fence that can succeed: with a failing one, staying without master is right.
  if (healthy >= sim.livenessMs && (fencing === null || fencing.mode === "ok")) {
    return liveness(sim, healthy);
  }
  return null;
}

function liveness(sim: Simulation, healthy: number): Finding | null {
  const up = sim.running().filter((n) => n.linkUp);
  for (const n of up) {
    if (n.router!.state === "fault") {
      return f(INVARIANTS.stuckInFault, `${n.name} is in fault with its link up and only weight trackers`);
    }
  }
  const eligible = up.filter((n) => n.router!.effectivePriority > 0);
  if (eligible.length === 0) return null;
  const masters = eligible.filter((n) => n.router!.state === "master");
  if (masters.length !== 1) {
    return f(
      INVARIANTS.oneMasterExists,
      `${masters.length} masters among ${eligible.length} eligible nodes after ${healthy.toFixed(1)}ms healthy (bound ${sim.livenessMs.toFixed(1)}ms): ${describe(eligible)}`,
    );
  }
  const master = masters[0]!;
  const mp = master.router!.effectivePriority;
  for (const n of eligible) {
    if (n === master) continue;
    const p = n.router!.effectivePriority;
    if ((n.options.preempt || p === 255) && p > mp) {
      return f(
        INVARIANTS.bestWins,
        `${n.name} (p${p}, preempt) is not master; ${master.name} (p${mp}) is, after ${healthy.toFixed(1)}ms healthy: ${describe(eligible)}`,
      );
    }
  }
  return null;
}

function exclusiveVips(sim: Simulation): Finding | null {
  const holders = new Map<string, SimNode[]>();
  for (const n of sim.nodes) {
    for (const v of n.held) {
      const list = holders.get(v) ?? [];
      list.push(n);
      holders.set(v, list);
    }
  }
  for (const [vip, list] of holders) {
    if (list.length > 1) {
      return f(INVARIANTS.exclusiveVips, `${vip} held by ${list.map((n) => n.name).join(" and ")} at once`);
    }
  }
  return null;
}

function describe(nodes: SimNode[]): string {
  return nodes.map((n) => `${n.name}=${n.router?.state}/p${n.router?.effectivePriority}`).join(" ");
}

function f(invariant: string, message: string): Finding {
  return { invariant, message };
}
