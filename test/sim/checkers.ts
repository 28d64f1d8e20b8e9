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
  // With fencing, a successful fence is followed by a claim (adverts, then Master an interval
  // later, still in the fencing state). Neither may follow a failed fence.
  if (
    sim.config.fencing !== null &&
    rec.before.state === "fencing" &&
    rec.input.type === "fenceResult" &&
    !rec.input.ok &&
    (after === "master" || rec.step.actions.some((a) => a.type === "sendAdvert" && a.priority > 0))
  ) {
    return f(INVARIANTS.fenceOutcome, `${node.name} claimed the VIPs after a failed fence`);
  }
  if (sim.config.fencing !== null && after === "master" && rec.before.state !== "master") {
    if (rec.before.state === "fencing" && node.lastFenceOk !== true) {
      return f(
        INVARIANTS.fenceOutcome,
        `${node.name} went fencing -> master on ${rec.input.type} without a successful fence`,
      );
    }
    if (rec.before.state === "backup" && rec.input.type === "timeout" && rec.before.masterAddress !== null) {
      // Taking over from a master we followed. Only a preempting backup (higher priority than the
      // master it heard) may skip the fence: that master is alive, not silent.
      // A backup may also have heard a live lower master and be preempting it: no fence needed.
      const preempting = sim.now - node.lastLowerAdvertAt <= preemptWindowMs(sim);
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
  if (fencing !== null) {
    const v = exclusiveVips(sim);
    if (v !== null) return v;
  }
  const healthy = sim.healthyForMs();
  if (healthy < 0) return null;
  if (healthy >= sim.settleMs) {
    // A new master (a preemption, possibly delayed by fence retries) may overlap the old one until
    // its advert arrives, or the old one's next advert makes it yield: one interval plus frame delays.
    const masters = sim.masters();
    const newest = Math.max(...masters.map((m) => m.masterSince ?? 0));
    const grace = sim.config.adverIntervalMs + 2 * sim.config.lanDelayMs[1];
    if (masters.length > 1 && sim.now - newest > grace) {
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

/**
 * Why a VIP is on two hosts. The newest claimant decides:
 * - 'preempt': it heard the other holder and a live lower-priority master recently: it claimed
 *   before that master let go (plain VRRP does, by about one frame delay; with fencing the
 *   core waits for the master's priority-0 release). Never allowed with fencing.
 * - 'no-master-heard': it claimed without having heard the other holder (booted, or took over,
 *   while that holder was stalled or behind a partition); with nothing known there is nothing to
 *   fence: needs a witness or quorum.
 * - 'claim-race': it had heard the other holder advertise shortly before its claim (settleMs), and
 *   since that holder last gave the VIPs up, and the last advert it heard from that holder was not a
 *   release (priority 0): a live, audible holder, which the claim protocol (announce, wait for the
 *   release) must handle. Never allowed with fencing.
 * - 'rival-fencer': it fenced a peer other than the other holder and never heard that holder
 *   (backups on both sides of a partition that fenced the same silent master): needs a witness or
 *   quorum.
 * - 'unfenced-takeover' / 'fenced-holder-alive': it took the VIPs from the very host that still
 *   has them: a broken fence path. Never allowed when fencing is on.
 */
export function classifyOverlap(
  sim: Simulation,
  holders: SimNode[],
): { cause: string; newest: SimNode; older: SimNode[] } {
  const newest = holders.reduce((a, b) => ((b.masterSince ?? 0) > (a.masterSince ?? 0) ? b : a));
  const older = holders.filter((n) => n !== newest);
  const claimedAt = newest.masterSince ?? sim.now;
  const fromHolder = older.some((o) => o.address === newest.claimedFrom);
  // Only hearing the holder in its current bid counts: an advert from before it last gave the VIPs
  // up says nothing about the claim it made later (it may have been fenced off from us since). A
  // withdrawn claim that the claimant heard (a priority-0 advert after the holder's last one above
  // 0) gives the VIPs up as a step-down does: the holder's next bid went unheard.
  const heardHolder = older.some((o) => {
    const heard = newest.heardBeforeClaim.get(o.address) ?? Number.NEGATIVE_INFINITY;
    if (newest.releasedBeforeClaim.has(o.address)) return false;
    return heard > o.leftMasterAt && claimedAt - heard <= sim.settleMs;
  });
  let cause: string;
  if (fromHolder) cause = newest.masterVia === "fence" ? "fenced-holder-alive" : "unfenced-takeover";
  else if (heardHolder && claimedAt - newest.lowerBeforeClaim <= preemptWindowMs(sim)) cause = "preempt";
  else if (heardHolder) cause = "claim-race";
  else if (newest.masterVia === "fence") cause = "rival-fencer";
  else cause = "no-master-heard";
  return { cause, newest, older };
}

/**
 * Overlaps the core cannot prevent without a witness or quorum (docs/config.md): a holder that the
 * claimant never heard (stalled, or behind a partition) when it booted or fenced.
 */
export const TOLERATED_OVERLAPS: ReadonlySet<string> = new Set(["no-master-heard", "rival-fencer"]);

/**
 * With fencing, a host never claims a VIP that the host it took over from still holds: a takeover
 * from a silent master waits until the fence has powered that master off, and an unfenced claim
 * waits until the live holders it hears have released. With strictFencing every overlap fails,
 * the tolerated causes too (they need a witness or quorum).
 */
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
    if (list.length < 2) continue;
    const { cause, newest } = classifyOverlap(sim, list);
    if (sim.strictFencing || !TOLERATED_OVERLAPS.has(cause)) {
      return f(
        INVARIANTS.exclusiveVips,
        `${vip} held by ${list.map((n) => n.name).join(" and ")} at once (${cause}); ${newest.name} claimed it ` +
          `${newest.masterVia === "fence" ? "after a fence" : "without a fence"} from ${newest.claimedFrom ?? "nobody"}`,
      );
    }
  }
  return null;
}

/** A lower-priority advert heard this recently means that master was alive (Master_Down_Interval at most). */
function preemptWindowMs(sim: Simulation): number {
  return 4 * sim.config.adverIntervalMs;
}

function describe(nodes: SimNode[]): string {
  return nodes.map((n) => `${n.name}=${n.router?.state}/p${n.router?.effectivePriority}`).join(" ");
}

function f(invariant: string, message: string): Finding {
  return { invariant, message };
}
