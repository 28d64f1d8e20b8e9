// The simulated world: N nodes, each one real core Router plus the "host" that carries out its
// actions, on a virtual clock over a simulated LAN. Nothing here reads the wall clock or Math.random:
// every choice comes from the seeded Prng, so a seed replays the exact same trace.

import { compareIp } from "../../src/codec/ip.js";
import type {
  Action,
  Family,
  Input,
  Router,
  RouterOptions,
  RouterState,
  Step,
} from "../../src/core/types.js";
import { afterEventChecks, classifyOverlap, type StepRecord, stepChecks, stopChecks } from "./checkers.js";
import { EventQueue } from "./event-queue.js";
import type { ChaosDriver } from "./faults.js";
import { Prng } from "./prng.js";
import { Trace } from "./trace.js";

/** The part of src/core the simulator drives (a canary may wrap it). */
export interface CoreApi {
  createRouter(options: RouterOptions): Router;
  checkRouterInvariants(router: Router): string[];
}

export interface NodeSpec {
  priority: number;
  preempt: boolean;
  preemptDelayMs: number;
}

/** ok: the agent always powers the target off; fail: it never does; flaky: ok with okRate. */
export type FenceMode = "ok" | "fail" | "flaky";

export interface FenceSpec {
  mode: FenceMode;
  okRate: number;
  /** How long the agent takes, uniform in [min, max]. */
  delayMs: readonly [number, number];
  /** A fenced node boots again after this long. */
  rebootMs: readonly [number, number];
  retryMs: number;
  retryMaxMs: number;
}

export interface SimConfig {
  seed: number;
  family: Family;
  version: 2 | 3;
  adverIntervalMs: number;
  nodes: NodeSpec[];
  fencing: FenceSpec | null;
  /** One-way LAN latency outside storms, uniform in [min, max]. */
  lanDelayMs: readonly [number, number];
  durationMs: number;
}

export type Op =
  | { type: "start"; node: number }
  | { type: "crash"; node: number }
  | { type: "stop"; node: number }
  /** Two-way partition: frames cross no group boundary. */
  | { type: "partition"; groups: number[][] }
  /** One-way partition: frames from `from` to `to` are lost; the other direction works. */
  | { type: "oneWay"; from: number[]; to: number[] }
  | { type: "heal" }
  | { type: "storm"; loss: number; dup: number; jitterMs: number }
  | { type: "stormEnd" }
  | { type: "stall"; node: number; ms: number }
  | { type: "tracker"; node: number; weight: number }
  | { type: "link"; node: number; up: boolean }
  /** Operator maintenance mode: the node resigns (priority 0) and stays out of elections. */
  | { type: "maintenance"; node: number; on: boolean };

interface Frame {
  from: number;
  src: string;
  srcMac: string;
  priority: number;
  adverIntervalMs: number;
  version: 2 | 3;
  addresses: string[];
}

type SimEvent =
  | { type: "deliver"; to: number; frame: Frame; copy: number }
  | { type: "timer"; node: number; gen: number }
  | { type: "stallEnd"; node: number; token: number }
  | { type: "fenceAct"; node: number; id: number }
  | { type: "op"; op: Op }
  | { type: "chaos" };

export type DownReason = "not-started" | "crashed" | "stopped" | "fenced";

export interface SimNode {
  readonly index: number;
  readonly name: string;
  readonly address: string;
  readonly mac: string;
  options: RouterOptions;
  router: Router | null;
  downReason: DownReason;
  linkUp: boolean;
  stalledUntil: number | null;
  stallToken: number;
  backlog: Input[];
  /** VIPs the host has on its interface (cleared when the host dies). */
  held: Set<string>;
  deadline: number | null;
  timerGen: number;
  trackerWeight: number;
  /** Operator maintenance mode (kept across restarts, like a config flag). */
  maintenance: boolean;
  fence: { id: number; target: string } | null;
  /** Time at which this node last became master, for the checkers. */
  masterSince: number | null;
  /** How the node became master the last time: through a fence or not. */
  masterVia: "fence" | "plain" | null;
  /** When this node last stopped being master (gave its VIPs up, crashed or stopped). */
  leftMasterAt: number;
  stepsAtSameTime: number;
  lastStepTime: number;
  /** Whom the node took the VIPs from at its last takeover: the fenced peer, or the master it followed. */
  claimedFrom: string | null;
  lastFenceTarget: string | null;
  /** When this node last received an advert with a lower non-zero priority than its own (a live lower master). */
  lastLowerAdvertAt: number;
  /** The outcome of the node's last fence as the simulator delivered it (null while none is done). */
  lastFenceOk: boolean | null;
  /** When this node's router last heard a non-zero advert from each address (since its start). */
  heardAt: Map<string, number>;
  /**
   * Addresses whose last advert this node's router heard (since its start) had priority 0: they
   * released (a master stepping down, or a claim withdrawn), as the core's possible-holder list has it.
   */
  released: Set<string>;
  /** `heardAt`, `released` and `lastLowerAdvertAt` as they were when the node last became master (for classifyOverlap). */
  heardBeforeClaim: Map<string, number>;
  releasedBeforeClaim: Set<string>;
  lowerBeforeClaim: number;
}

export interface Violation {
  invariant: string;
  message: string;
  timeMs: number;
}

export interface RunStats {
  events: number;
  steps: number;
  advertsSent: number;
  framesDelivered: number;
  framesLost: number;
  framesDuplicated: number;
  takeovers: number;
  fencesRequested: number;
  fencesOk: number;
  fencesFailed: number;
  crashes: number;
  stops: number;
  stalls: number;
  partitions: number;
  announces: number;
  /** Sum over nodes of the time their process was running (ms). */
  nodeRunningMs: number;
  /** Times a VIP was on two hosts at once, and the longest such overlap (ms). */
  vipOverlaps: number;
  maxVipOverlapMs: number;
  /** Overlaps by cause (see classifyOverlap in checkers.ts). */
  overlapCauses: Record<string, number>;
}

export interface RunResult {
  seed: number;
  violation: Violation | null;
  traceHash: string;
  traceTail: string[];
  fullTrace: string[] | null;
  simulatedMs: number;
  nodeCount: number;
  stats: RunStats;
}

export interface SimOptions {
  /**
   * With fencing, also fail on the VIP overlaps the core tolerates (checkers.ts, TOLERATED_OVERLAPS:
   * a holder the claimant never heard, which needs a witness or quorum). Off by default.
   */
  strictFencing?: boolean;
  /** Keep every trace line (for --trace); otherwise only the last ones. */
  keepTrace?: boolean;
  chaos?: ChaosDriver;
  /** Upper bound on processed events, a guard against a runaway run. */
  maxEvents?: number;
}

export const SIM_VRID = 51;

export function nodeAddress(family: Family, index: number): string {
  return family === "ipv4" ? `192.0.2.${11 + index}` : `fe80::${(0x11 + index).toString(16)}`;
}

export function simVips(family: Family): string[] {
  return family === "ipv4" ? ["192.0.2.100/24", "192.0.2.101/24"] : ["2001:db8::100/64"];
}

export class Simulation {
  readonly config: SimConfig;
  readonly nodes: SimNode[];
  readonly trace: Trace;
  readonly stats: RunStats;
  /** Healthy for this long (no fault active, no membership change) → at most one master. */
  readonly settleMs: number;
  /** Healthy for this long → the best eligible node is master. */
  readonly livenessMs: number;
  readonly strictFencing: boolean;
  now = 0;
  violation: Violation | null = null;
  /** Every state change of every router, in order (for scenario tests and reports). */
  readonly transitions: { timeMs: number; node: number; from: RouterState; to: RouterState }[] = [];

  private readonly core: CoreApi;
  private readonly queue = new EventQueue<SimEvent>();
  private readonly netRng: Prng;
  private readonly fenceRng: Prng;
  private readonly hostRng: Prng;
  private readonly chaos: ChaosDriver | null;
  private readonly maxEvents: number;
  private blocked = new Set<number>();
  private storm: { loss: number; dup: number; jitterMs: number } | null = null;
  private healthySince = 0;
  private nextFenceId = 1;
  private lastAccountedMs = 0;

  constructor(config: SimConfig, core: CoreApi, options: SimOptions = {}) {
    validateConfig(config);
    this.config = config;
    this.core = core;
    const root = new Prng(config.seed);
    this.netRng = root.fork();
    this.fenceRng = root.fork();
    this.hostRng = root.fork();
    const chaosRng = root.fork();
    this.chaos = options.chaos ?? null;
    this.chaos?.attach(this, chaosRng);
    this.maxEvents = options.maxEvents ?? 5_000_000;
    this.strictFencing = options.strictFencing ?? false;
    this.trace = new Trace(60, options.keepTrace ?? false);
    this.stats = {
      events: 0,
      steps: 0,
      advertsSent: 0,
      framesDelivered: 0,
      framesLost: 0,
      framesDuplicated: 0,
      takeovers: 0,
      fencesRequested: 0,
      fencesOk: 0,
      fencesFailed: 0,
      crashes: 0,
      stops: 0,
      stalls: 0,
      partitions: 0,
      announces: 0,
      nodeRunningMs: 0,
      vipOverlaps: 0,
      maxVipOverlapMs: 0,
      overlapCauses: {},
    };
    const vips = simVips(config.family);
    this.nodes = config.nodes.map((spec, index) => {
      const address = nodeAddress(config.family, index);
      const options: RouterOptions = {
        name: "sim",
        vrid: SIM_VRID,
        family: config.family,
        version: config.version,
        priority: spec.priority,
        adverIntervalMs: config.adverIntervalMs,
        preempt: spec.preempt,
        preemptDelayMs: spec.preemptDelayMs,
        acceptMode: false,
        primaryAddress: address,
        vips,
        fencing: config.fencing !== null,
        fenceRetryMs: config.fencing?.retryMs ?? 1000,
        fenceRetryMaxMs: config.fencing?.retryMaxMs ?? 8000,
      };
      return {
        index,
        name: `n${index}`,
        address,
        mac: `02:00:5e:00:00:${(0x11 + index).toString(16)}`,
        options,
        router: null,
        downReason: "not-started" as DownReason,
        linkUp: true,
        stalledUntil: null,
        stallToken: 0,
        backlog: [],
        held: new Set<string>(),
        deadline: null,
        timerGen: 0,
        trackerWeight: 0,
        maintenance: false,
        fence: null,
        masterSince: null,
        leftMasterAt: Number.NEGATIVE_INFINITY,
        masterVia: null,
        stepsAtSameTime: 0,
        lastStepTime: -1,
        lastLowerAdvertAt: Number.NEGATIVE_INFINITY,
        claimedFrom: null,
        lastFenceTarget: null,
        lastFenceOk: null,
        heardAt: new Map<string, number>(),
        released: new Set<string>(),
        heardBeforeClaim: new Map<string, number>(),
        releasedBeforeClaim: new Set<string>(),
        lowerBeforeClaim: Number.NEGATIVE_INFINITY,
      };
    });
    const i = config.adverIntervalMs;
    const mdiMax = 3 * i + (255 * i) / 256;
    const maxDelay = config.lanDelayMs[1];
    const preemptMax = Math.max(0, ...config.nodes.map((n) => n.preemptDelayMs));
    const fenceMax = config.fencing === null ? 0 : config.fencing.delayMs[1];
    this.settleMs = mdiMax + preemptMax + fenceMax + 4 * maxDelay + 1;
    this.livenessMs = 2 * this.settleMs;
    if (this.chaos !== null) this.queue.push(0, { type: "chaos" });
  }

  // ---- scripting -------------------------------------------------------------------------------

  /** Schedules an operation (a fault, a start, a stop) at an absolute virtual time. */
  at(timeMs: number, op: Op): this {
    this.queue.push(timeMs, { type: "op", op });
    return this;
  }

  /** Schedules the chaos driver's next planning step. */
  scheduleChaos(timeMs: number): void {
    this.queue.push(timeMs, { type: "chaos" });
  }

  /** Runs until the virtual clock passes `untilMs` (default: the configured duration) or a violation. */
  run(untilMs = this.config.durationMs): RunResult {
    while (this.violation === null) {
      const t = this.queue.peekTime();
      if (t === null || t > untilMs) break;
      const next = this.queue.pop()!;
      this.advanceClock(next.time);
      this.stats.events++;
      if (this.stats.events > this.maxEvents) {
        this.fail("event-budget", `more than ${this.maxEvents} events; a timer or frame loop?`);
        break;
      }
      this.dispatch(next.event);
      this.trackOverlap();
      if (this.violation === null) {
        const v = afterEventChecks(this);
        if (v !== null) this.fail(v.invariant, v.message);
      }
    }
    if (this.violation === null && untilMs > this.now) this.advanceClock(untilMs);
    return this.result();
  }

  result(): RunResult {
    return {
      seed: this.config.seed,
      violation: this.violation,
      traceHash: this.trace.digest(),
      traceTail: this.trace.tail(),
      fullTrace: this.trace.full(),
      simulatedMs: this.now,
      nodeCount: this.nodes.length,
      stats: { ...this.stats, overlapCauses: { ...this.stats.overlapCauses } },
    };
  }

  // ---- views for the checkers and tests ------------------------------------------------------

  isNetworkHealthy(): boolean {
    return (
      this.blocked.size === 0 &&
      this.storm === null &&
      this.nodes.every((n) => n.linkUp && n.stalledUntil === null)
    );
  }

  /** How long the world has been healthy and unchanged; -1 while a fault is active. */
  healthyForMs(): number {
    return this.isNetworkHealthy() ? this.now - this.healthySince : -1;
  }

  running(): SimNode[] {
    return this.nodes.filter((n) => n.router !== null);
  }

  masters(): SimNode[] {
    return this.nodes.filter((n) => n.router?.state === "master");
  }

  stateOf(index: number): RouterState | "down" {
    return this.node(index).router?.state ?? "down";
  }

  node(index: number): SimNode {
    const n = this.nodes[index];
    if (n === undefined) throw new Error(`no node ${index} (the run has ${this.nodes.length})`);
    return n;
  }

  /** Compares two nodes as the election does: effective priority, then primary address. */
  compareNodes(a: SimNode, b: SimNode): number {
    const pa = a.router?.effectivePriority ?? -1;
    const pb = b.router?.effectivePriority ?? -1;
    return pa !== pb ? pa - pb : compareIp(a.address, b.address);
  }

  note(line: string): void {
    this.trace.add(this.now, line);
  }

  fail(invariant: string, message: string): void {
    if (this.violation !== null) return;
    this.violation = { invariant, message, timeMs: this.now };
    this.note(`VIOLATION ${invariant}: ${message}`);
  }

  private overlapSince: number | null = null;

  /** Measures how long a VIP sits on more than one host (preemption overlaps, split brain). */
  private trackOverlap(): void {
    const seen = new Set<string>();
    let overlap = false;
    for (const n of this.nodes) {
      for (const v of n.held) {
        if (seen.has(v)) overlap = true;
        seen.add(v);
      }
    }
    if (overlap && this.overlapSince === null) {
      this.overlapSince = this.now;
      this.stats.vipOverlaps++;
      const holders = this.nodes.filter((n) => n.held.size > 0);
      const cause = this.config.fencing === null ? "no-fencing" : classifyOverlap(this, holders).cause;
      this.stats.overlapCauses[cause] = (this.stats.overlapCauses[cause] ?? 0) + 1;
    } else if (!overlap && this.overlapSince !== null) {
      this.stats.maxVipOverlapMs = Math.max(this.stats.maxVipOverlapMs, this.now - this.overlapSince);
      this.overlapSince = null;
    }
  }

  // ---- the event loop --------------------------------------------------------------------------

  private advanceClock(t: number): void {
    if (t < this.now) throw new Error(`clock went back from ${this.now} to ${t}`);
    const running = this.nodes.reduce((c, n) => c + (n.router !== null ? 1 : 0), 0);
    this.stats.nodeRunningMs += running * (t - this.lastAccountedMs);
    this.lastAccountedMs = t;
    this.now = t;
  }

  private dispatch(event: SimEvent): void {
    switch (event.type) {
      case "deliver":
        this.deliver(event.to, event.frame, event.copy);
        return;
      case "timer": {
        const node = this.node(event.node);
        if (node.router === null || event.gen !== node.timerGen || node.stalledUntil !== null) return;
        this.feed(node, { type: "timeout" });
        return;
      }
      case "stallEnd":
        this.endStall(this.node(event.node), event.token);
        return;
      case "fenceAct":
        this.fenceAct(this.node(event.node), event.id);
        return;
      case "op":
        this.applyOp(event.op);
        return;
      case "chaos":
        this.chaos?.plan();
        return;
      default: {
        const never: never = event;
        throw new Error(`unknown event ${JSON.stringify(never)}`);
      }
    }
  }

  private disturb(): void {
    this.healthySince = this.now;
  }

  private applyOp(op: Op): void {
    this.disturb();
    switch (op.type) {
      case "start": {
        const node = this.node(op.node);
        if (node.router !== null) return;
        node.router = this.core.createRouter(node.options);
        node.downReason = "not-started";
        node.heardAt = new Map();
        node.released = new Set();
        node.lastFenceOk = null;
        node.masterSince = null;
        node.masterVia = null;
        this.note(
          `${node.name} start (prio ${node.options.priority}${node.options.preempt ? "" : ", nopreempt"})`,
        );
        this.feed(node, { type: "startup" });
        if (!node.linkUp) this.feed(node, { type: "linkChanged", up: false });
        if (node.trackerWeight !== 0) this.feedTracker(node);
        if (node.maintenance) this.feed(node, { type: "maintenance", on: true });
        return;
      }
      case "crash": {
        const node = this.node(op.node);
        if (node.router === null) return;
        this.note(`${node.name} CRASH (was ${node.router.state})`);
        this.stats.crashes++;
        this.kill(node, "crashed");
        return;
      }
      case "stop": {
        const node = this.node(op.node);
        if (node.router === null || node.stalledUntil !== null) return;
        this.stats.stops++;
        const wasState = node.router.state;
        this.note(`${node.name} clean stop (was ${wasState})`);
        const step = this.feed(node, { type: "shutdown" });
        const v = stopChecks(this, node, wasState, step);
        if (v !== null) this.fail(v.invariant, v.message);
        this.kill(node, "stopped");
        return;
      }
      case "partition": {
        this.blocked.clear();
        for (const [gi, g] of op.groups.entries()) {
          for (const [hi, h] of op.groups.entries()) {
            if (gi === hi) continue;
            for (const a of g) for (const b of h) this.blocked.add(a * 64 + b);
          }
        }
        this.stats.partitions++;
        this.note(`partition ${op.groups.map((g) => g.map((i) => `n${i}`).join(",")).join(" | ")}`);
        return;
      }
      case "oneWay": {
        this.blocked.clear();
        for (const a of op.from) for (const b of op.to) this.blocked.add(a * 64 + b);
        this.stats.partitions++;
        this.note(`one-way partition ${op.from.map((i) => `n${i}`)} -/-> ${op.to.map((i) => `n${i}`)}`);
        return;
      }
      case "heal":
        this.blocked.clear();
        this.note("partition healed");
        return;
      case "storm":
        this.storm = { loss: op.loss, dup: op.dup, jitterMs: op.jitterMs };
        this.note(
          `storm loss=${op.loss.toFixed(2)} dup=${op.dup.toFixed(2)} jitter=${op.jitterMs.toFixed(1)}ms`,
        );
        return;
      case "stormEnd":
        this.storm = null;
        this.note("storm over");
        return;
      case "stall": {
        const node = this.node(op.node);
        if (node.router === null || node.stalledUntil !== null) return;
        node.stalledUntil = this.now + op.ms;
        node.stallToken++;
        this.stats.stalls++;
        this.note(`${node.name} stalls for ${op.ms.toFixed(1)}ms`);
        this.queue.push(node.stalledUntil, { type: "stallEnd", node: node.index, token: node.stallToken });
        return;
      }
      case "tracker": {
        const node = this.node(op.node);
        node.trackerWeight = op.weight;
        this.note(`${node.name} tracker weight ${op.weight}`);
        if (node.router !== null) this.feedTracker(node);
        return;
      }
      case "link": {
        const node = this.node(op.node);
        if (node.linkUp === op.up) return;
        node.linkUp = op.up;
        this.note(`${node.name} link ${op.up ? "up" : "down"}`);
        if (node.router !== null) this.feed(node, { type: "linkChanged", up: op.up });
        return;
      }
      case "maintenance": {
        const node = this.node(op.node);
        if (node.maintenance === op.on) return;
        node.maintenance = op.on;
        this.note(`${node.name} maintenance ${op.on ? "on" : "off"}`);
        if (node.router !== null) this.feed(node, { type: "maintenance", on: op.on });
        return;
      }
      default: {
        const never: never = op;
        throw new Error(`unknown op ${JSON.stringify(never)}`);
      }
    }
  }

  private feedTracker(node: SimNode): void {
    this.feed(node, {
      type: "trackerChanged",
      tracker: "sim",
      result: { type: "weight", weight: node.trackerWeight },
    });
  }

  /** The host dies: the process is gone and so are its VIPs (the kernel's addresses go with it). */
  private kill(node: SimNode, reason: DownReason): void {
    node.router = null;
    node.downReason = reason;
    node.held.clear();
    node.fence = null;
    node.backlog = [];
    node.stalledUntil = null;
    node.stallToken++;
    node.deadline = null;
    node.timerGen++;
    if (node.masterSince !== null) node.leftMasterAt = this.now;
    node.masterSince = null;
    node.masterVia = null;
  }

  private endStall(node: SimNode, token: number): void {
    if (node.router === null || token !== node.stallToken || node.stalledUntil === null) return;
    this.disturb();
    node.stalledUntil = null;
    const backlog = node.backlog;
    node.backlog = [];
    // After a long pause an event loop may run its due timers before or after the queued I/O.
    const timersFirst = this.hostRng.chance(0.5);
    this.note(
      `${node.name} resumes, ${backlog.length} queued inputs, timers ${timersFirst ? "first" : "last"}`,
    );
    if (timersFirst && node.deadline !== null && node.deadline <= this.now) {
      this.feed(node, { type: "timeout" });
    }
    for (const input of backlog) {
      if (node.router === null || this.violation !== null) return;
      this.feed(node, input);
    }
    if (node.router !== null) this.armTimer(node, node.deadline);
  }

  private deliver(to: number, frame: Frame, copy: number): void {
    const node = this.node(to);
    if (!node.linkUp || node.router === null) {
      this.stats.framesLost++;
      return;
    }
    this.stats.framesDelivered++;
    this.feed(
      node,
      {
        type: "advert",
        src: frame.src,
        priority: frame.priority,
        adverIntervalMs: frame.adverIntervalMs,
        version: frame.version,
        addresses: frame.addresses,
        srcMac: frame.srcMac,
      },
      copy > 0 ? " (dup)" : "",
    );
  }

  /** Hands one input to a node's router, or queues it while the node is stalled. */
  private feed(node: SimNode, input: Input, tag = ""): Step | null {
    const router = node.router;
    if (router === null) return null;
    if (node.stalledUntil !== null) {
      node.backlog.push(input);
      return null;
    }
    if (node.lastStepTime === this.now) {
      node.stepsAtSameTime++;
      if (node.stepsAtSameTime > 10_000) {
        this.fail("busy-loop", `${node.name} took over 10000 steps at one instant`);
        return null;
      }
    } else {
      node.lastStepTime = this.now;
      node.stepsAtSameTime = 0;
    }
    const before: StepRecord["before"] = {
      state: router.state,
      masterAddress: router.masterAddress,
      holdsVips: router.holdsVips,
      effectivePriority: router.effectivePriority,
    };
    if (input.type === "advert" && input.priority > 0 && input.priority < before.effectivePriority) {
      node.lastLowerAdvertAt = this.now;
    }
    if (input.type === "advert" && input.priority > 0) {
      node.heardAt.set(input.src, this.now);
      node.released.delete(input.src);
    }
    if (input.type === "advert" && input.priority === 0) node.released.add(input.src);
    if (input.type === "fenceResult") node.lastFenceOk = input.ok;
    const step = router.handle(this.now, input);
    this.stats.steps++;
    this.note(`${node.name} ${describeInput(input)}${tag} -> ${describeActions(step.actions)}`);
    const problems = this.core.checkRouterInvariants(router);
    if (problems.length > 0) {
      this.fail("core-invariants", `${node.name}: ${problems.join("; ")}`);
    }
    if (step.actions.some((a) => a.type === "requestFence")) node.lastFenceOk = null;
    for (const action of step.actions) {
      if (node.router !== router) break; // a fence inside this step cannot kill ourselves, but be safe
      this.execute(node, action);
    }
    if (node.router === router) this.armTimer(node, step.nextDeadline);
    const after = router.state;
    if (after !== before.state) {
      this.transitions.push({ timeMs: this.now, node: node.index, from: before.state, to: after });
    }
    if (after === "master" && before.state !== "master") {
      this.stats.takeovers++;
      node.masterSince = this.now;
      node.masterVia = before.state === "fencing" ? "fence" : "plain";
      node.claimedFrom = before.state === "fencing" ? node.lastFenceTarget : before.masterAddress;
      node.heardBeforeClaim = new Map(node.heardAt);
      node.releasedBeforeClaim = new Set(node.released);
      node.lowerBeforeClaim = node.lastLowerAdvertAt;
    } else if (after !== "master") {
      if (before.state === "master") node.leftMasterAt = this.now;
      node.masterSince = null;
      node.masterVia = null;
    }
    const v = stepChecks(this, node, { input, before, step });
    if (v !== null) this.fail(v.invariant, v.message);
    return step;
  }

  private armTimer(node: SimNode, deadline: number | null): void {
    node.deadline = deadline;
    node.timerGen++;
    if (deadline !== null) {
      this.queue.push(Math.max(deadline, this.now), { type: "timer", node: node.index, gen: node.timerGen });
    }
  }

  private execute(node: SimNode, action: Action): void {
    switch (action.type) {
      case "sendAdvert":
        this.multicast(node, action.priority);
        return;
      case "addVips":
        for (const v of action.vips) node.held.add(v);
        return;
      case "removeVips":
        for (const v of action.vips) node.held.delete(v);
        return;
      case "announce":
        this.stats.announces++;
        return;
      case "requestFence": {
        this.stats.fencesRequested++;
        const spec = this.config.fencing;
        if (spec === null) {
          this.fail("fence-without-fencing", `${node.name} asked to fence ${action.peer} with fencing off`);
          return;
        }
        const id = this.nextFenceId++;
        node.fence = { id, target: action.peer };
        node.lastFenceTarget = action.peer;
        const delay = this.fenceRng.range(spec.delayMs[0], spec.delayMs[1]);
        this.queue.push(this.now + delay, { type: "fenceAct", node: node.index, id });
        return;
      }
      case "cancelFence":
        node.fence = null;
        return;
      case "notify":
      case "stateChanged":
      case "mismatch":
        return; // already in the trace through describeActions
      default: {
        const never: never = action;
        throw new Error(`unknown action ${JSON.stringify(never)}`);
      }
    }
  }

  private fenceAct(node: SimNode, id: number): void {
    const spec = this.config.fencing;
    if (spec === null || node.fence === null || node.fence.id !== id) return; // cancelled or host died
    const target = node.fence.target;
    node.fence = null;
    let ok: boolean;
    let detail: string;
    const victim = this.nodes.find((n) => n.address === target) ?? null;
    if (victim === null) {
      ok = false;
      detail = `no such host ${target}`;
    } else if (victim === node) {
      ok = false;
      detail = "refusing to fence ourselves";
    } else {
      ok = spec.mode === "ok" || (spec.mode === "flaky" && this.fenceRng.chance(spec.okRate));
      detail = ok ? `${victim.name} powered off` : "agent failed";
    }
    if (ok && victim !== null && victim.router !== null) {
      this.disturb();
      this.note(`fence: ${node.name} powers off ${victim.name}`);
      this.kill(victim, "fenced");
      const reboot = this.fenceRng.range(spec.rebootMs[0], spec.rebootMs[1]);
      this.at(this.now + reboot, { type: "start", node: victim.index });
    }
    if (ok) this.stats.fencesOk++;
    else this.stats.fencesFailed++;
    this.feed(node, { type: "fenceResult", ok, detail });
  }

  private multicast(node: SimNode, priority: number): void {
    this.stats.advertsSent++;
    if (!node.linkUp) return;
    const frame: Frame = {
      from: node.index,
      src: node.address,
      srcMac: node.mac,
      priority,
      adverIntervalMs: node.options.adverIntervalMs,
      version: node.options.version,
      addresses: node.options.vips.map((v) => v.split("/")[0]!),
    };
    const [lo, hi] = this.config.lanDelayMs;
    for (const peer of this.nodes) {
      if (peer === node) continue;
      if (this.blocked.has(node.index * 64 + peer.index)) {
        this.stats.framesLost++;
        continue;
      }
      const copies = this.storm !== null && this.netRng.chance(this.storm.dup) ? 2 : 1;
      if (copies === 2) this.stats.framesDuplicated++;
      for (let c = 0; c < copies; c++) {
        if (this.storm !== null && this.netRng.chance(this.storm.loss)) {
          this.stats.framesLost++;
          continue;
        }
        let delay = this.netRng.range(lo, hi);
        if (this.storm !== null) delay += this.netRng.range(0, this.storm.jitterMs);
        this.queue.push(this.now + delay, { type: "deliver", to: peer.index, frame, copy: c });
      }
    }
  }
}

function validateConfig(c: SimConfig): void {
  if (c.nodes.length < 1 || c.nodes.length > 32) throw new Error(`1..32 nodes, got ${c.nodes.length}`);
  if (!(c.adverIntervalMs >= 10)) throw new Error(`adverIntervalMs must be >= 10, got ${c.adverIntervalMs}`);
  if (c.lanDelayMs[0] < 0 || c.lanDelayMs[1] < c.lanDelayMs[0]) throw new Error("bad lanDelayMs range");
  for (const n of c.nodes) {
    if (!Number.isInteger(n.priority) || n.priority < 1 || n.priority > 255) {
      throw new Error(`node priority must be 1..255, got ${n.priority}`);
    }
  }
}

function describeInput(input: Input): string {
  switch (input.type) {
    case "advert":
      return `advert(${input.src} p${input.priority})`;
    case "trackerChanged":
      return `tracker(${input.result.type === "weight" ? input.result.weight : input.result.reason})`;
    case "linkChanged":
      return `link(${input.up ? "up" : "down"})`;
    case "fenceResult":
      return `fenceResult(${input.ok ? "ok" : "failed"})`;
    case "effectFailed":
      return `effectFailed(${input.effect})`;
    case "maintenance":
      return `maintenance(${input.on})`;
    case "startup":
    case "shutdown":
    case "timeout":
    case "configChanged":
      return input.type;
    default: {
      const never: never = input;
      return JSON.stringify(never);
    }
  }
}

function describeActions(actions: Action[]): string {
  if (actions.length === 0) return "-";
  return actions
    .map((a) => {
      switch (a.type) {
        case "sendAdvert":
          return `advert p${a.priority}`;
        case "addVips":
          return `+vips`;
        case "removeVips":
          return `-vips`;
        case "announce":
          return `announce(${a.reason})`;
        case "requestFence":
          return `fence ${a.peer}`;
        case "cancelFence":
          return "cancelFence";
        case "notify":
          return `notify ${a.event}`;
        case "stateChanged":
          return `${a.from}->${a.to} (${a.reason})`;
        case "mismatch":
          return `mismatch ${a.field}`;
        default: {
          const never: never = a;
          return JSON.stringify(never);
        }
      }
    })
    .join(", ");
}
