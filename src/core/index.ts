// One VRRP virtual router, sans-I/O: `handle(now, input)` returns actions as data and the next
// deadline. The caller owns the clock and feeds `{ type: 'timeout' }` once now >= nextDeadline;
// the router works out which of its timers are due, and ignores an early or spurious timeout.
//
// The decisions are in rules.ts (one table); the state and its vocabulary in machine.ts.

import { parseCidr, parseIp } from "../codec/ip.js";
import { Machine, TIMER_ORDER, type TimerName } from "./machine.js";
import { type EventType, type RouterEvent, RULES, type Rule } from "./rules.js";
import type { Input, Router, RouterOptions, RouterState, Step } from "./types.js";

export { DEFAULT_EFFECT_RETRY_MS } from "./machine.js";
export { effectivePriority, OWNER_PRIORITY } from "./priority.js";
export { RULES, type Rule } from "./rules.js";
export { masterDownIntervalMs, skewTimeMs } from "./timers.js";
export type * from "./types.js";

/** Operator error: options that no virtual router can run with. */
export class RouterOptionsError extends Error {
  readonly code = "ROUTER_OPTIONS_INVALID";
  constructor(
    readonly instance: string,
    readonly problems: string[],
  ) {
    super(`virtual router ${JSON.stringify(instance)}: ${problems.join("; ")}`);
    this.name = "RouterOptionsError";
  }
}

/** Programmer error: the caller broke the core's contract. Never caught; it crashes. */
export class CoreAssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

/** `message` may be a function: the hot path then formats nothing unless the assertion fails. */
function assert(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new CoreAssertionError(typeof message === "string" ? message : message());
}

const isInt = (x: unknown, lo: number, hi: number): boolean =>
  typeof x === "number" && Number.isInteger(x) && x >= lo && x <= hi;

/** Everything wrong with these options (empty when they are fine). */
export function validateRouterOptions(o: RouterOptions): string[] {
  const p: string[] = [];
  if (typeof o.name !== "string" || o.name === "") p.push("name must be a non-empty string");
  if (!isInt(o.vrid, 1, 255)) p.push(`vrid must be an integer 1..255, got ${o.vrid}`);
  if (o.family !== "ipv4" && o.family !== "ipv6") p.push(`family must be ipv4 or ipv6, got ${o.family}`);
  if (o.version !== 2 && o.version !== 3) p.push(`version must be 2 or 3, got ${o.version}`);
  if (o.version === 2 && o.family === "ipv6") p.push("VRRPv2 carries IPv4 only (RFC 3768): use version 3");
  if (!isInt(o.priority, 1, 255)) p.push(`priority must be an integer 1..255, got ${o.priority}`);
  if (o.version === 2) {
    if (!isInt(o.adverIntervalMs, 1000, 255_000) || o.adverIntervalMs % 1000 !== 0) {
      p.push(`VRRPv2 adverIntervalMs must be whole seconds 1000..255000, got ${o.adverIntervalMs}`);
    }
  } else if (!isInt(o.adverIntervalMs, 10, 40_950) || o.adverIntervalMs % 10 !== 0) {
    p.push(`VRRPv3 adverIntervalMs must be a multiple of 10 in 10..40950, got ${o.adverIntervalMs}`);
  }
  if (typeof o.preempt !== "boolean") p.push("preempt must be a boolean");
  if (!isInt(o.preemptDelayMs, 0, Number.MAX_SAFE_INTEGER)) {
    p.push(`preemptDelayMs must be a non-negative integer, got ${o.preemptDelayMs}`);
  }
  if (typeof o.acceptMode !== "boolean") p.push("acceptMode must be a boolean");
  const primary = parseIp(o.primaryAddress);
  if (primary === null) p.push(`primaryAddress is not an address: ${JSON.stringify(o.primaryAddress)}`);
  else if ((primary.length === 4 ? "ipv4" : "ipv6") !== o.family) {
    p.push(`primaryAddress ${o.primaryAddress} is not ${o.family}`);
  }
  if (!Array.isArray(o.vips) || o.vips.length === 0) p.push("vips must list at least one address");
  else {
    const seen = new Set<string>();
    for (const v of o.vips) {
      const c = parseCidr(v);
      if (c === null) p.push(`vip ${JSON.stringify(v)} is not address/prefix`);
      else if (c.family !== o.family) p.push(`vip ${v} is not ${o.family}`);
      else if (seen.has(c.address)) p.push(`vip ${v} is listed twice`);
      else seen.add(c.address);
    }
  }
  if (typeof o.fencing !== "boolean") p.push("fencing must be a boolean");
  if (!isInt(o.fenceRetryMs, 1, Number.MAX_SAFE_INTEGER)) {
    p.push(`fenceRetryMs must be a positive integer, got ${o.fenceRetryMs}`);
  }
  if (!isInt(o.fenceRetryMaxMs, 1, Number.MAX_SAFE_INTEGER) || o.fenceRetryMaxMs < o.fenceRetryMs) {
    p.push(`fenceRetryMaxMs must be an integer >= fenceRetryMs, got ${o.fenceRetryMaxMs}`);
  }
  if (o.effectRetryMs !== undefined && !isInt(o.effectRetryMs, 1, Number.MAX_SAFE_INTEGER)) {
    p.push(`effectRetryMs must be a positive integer, got ${o.effectRetryMs}`);
  }
  return p;
}

function checkInput(input: Input, m: Machine): void {
  switch (input.type) {
    case "advert":
      // Checked before assert is called: a message closure per advert would be garbage per advert.
      if (m.srcBytes(input.src) === null) assert(false, `advert src is not an address: ${input.src}`);
      if (!isInt(input.priority, 0, 255))
        assert(false, `advert priority must be 0..255, got ${input.priority}`);
      if (!(Number.isFinite(input.adverIntervalMs) && input.adverIntervalMs > 0))
        assert(false, `advert interval must be > 0 ms, got ${input.adverIntervalMs}`);
      assert(input.version === 2 || input.version === 3, `advert version must be 2 or 3`);
      assert(Array.isArray(input.addresses), "advert addresses must be an array");
      return;
    case "trackerChanged":
      assert(typeof input.tracker === "string" && input.tracker !== "", "tracker name must be non-empty");
      if (input.result.type === "weight") {
        assert(
          isInt(input.result.weight, -253, 253),
          `tracker ${input.tracker} weight must be an integer -253..253, got ${input.result.weight}`,
        );
      }
      return;
    case "startup":
    case "shutdown":
    case "timeout":
    case "linkChanged":
    case "fenceResult":
    case "effectFailed":
    case "configChanged":
    case "maintenance":
      return;
  }
}

const TIMER_EVENTS: Record<TimerName, RouterEvent> = {
  adver: { type: "adverTimer" },
  masterDown: { type: "masterDownTimer" },
  fenceRetry: { type: "fenceRetryTimer" },
  claim: { type: "claimTimer" },
  effectRetry: { type: "effectRetryTimer" },
};

/**
 * The rows of RULES that apply to each state and event, in table order: the same first-match
 * reading as scanning the whole table, without the scan on every input.
 */
const RULE_INDEX = new Map<RouterState, Map<EventType, Rule[]>>();
for (const r of RULES) {
  for (const state of r.states) {
    let byEvent = RULE_INDEX.get(state);
    if (byEvent === undefined) {
      byEvent = new Map();
      RULE_INDEX.set(state, byEvent);
    }
    for (const ev of r.on) {
      const rows = byEvent.get(ev);
      if (rows === undefined) byEvent.set(ev, [r]);
      else rows.push(r);
    }
  }
}
const NO_RULES: readonly Rule[] = [];

class VirtualRouter implements Router {
  readonly m: Machine;
  /**
   * The rows that fired for the last input, in order: the first `firedCount` entries (the array is
   * reused from step to step; lastFiredRules() copies the ids out).
   */
  readonly fired: Rule[] = [];
  firedCount = 0;
  lastDeadline: number | null = null;

  constructor(options: RouterOptions) {
    const problems = validateRouterOptions(options);
    if (problems.length > 0) throw new RouterOptionsError(String(options.name), problems);
    this.m = new Machine({ ...options, vips: [...options.vips] });
  }

  get options(): RouterOptions {
    return this.m.opts;
  }
  get state(): RouterState {
    return this.m.state;
  }
  get effectivePriority(): number {
    return this.m.priority;
  }
  get masterAddress(): string | null {
    return this.m.masterAddress;
  }
  get holdsVips(): boolean {
    return this.m.state === "master";
  }
  get nextDeadline(): number | null {
    return this.lastDeadline;
  }
  get masterAdverIntervalMs(): number {
    return this.m.masterAdverIntervalMs;
  }
  get faultReason(): string | null {
    return this.m.state === "fault" ? this.m.faultCause : null;
  }
  get maintenance(): boolean {
    return this.m.maintenance;
  }
  get preemptHoldUntilMs(): number {
    return this.m.preemptHoldUntil;
  }

  handle(now: number, input: Input): Step {
    const m = this.m;
    // Checked before assert is called: no message closure per step.
    if (!Number.isFinite(now)) assert(false, `now must be a finite number of milliseconds, got ${now}`);
    if (!(now >= m.now)) assert(false, `time went backwards: ${now} < ${m.now}`);
    checkInput(input, m);
    m.beginStep(now);
    m.prevPriority = m.priority;
    m.prevOpts = m.opts;
    this.firedCount = 0;

    if (input.type === "timeout") {
      // Several timers may be due at once; each is handled if it is still armed and due after
      // the previous one's rules ran (entering a state clears timers).
      for (const name of TIMER_ORDER) {
        const at = m.timers[name];
        if (at === null || at > now) continue;
        m.timers[name] = null;
        if (name === "masterDown") m.masterDownStart = null;
        this.dispatch(TIMER_EVENTS[name]);
      }
    } else {
      assert(
        input.type !== "startup" || m.state === "initialize",
        () => `startup while ${m.state}: only a router in initialize can start`,
      );
      this.absorb(input);
      this.dispatch(input);
    }
    m.rebaseTimers();
    this.lastDeadline = m.nextDeadline();
    return { actions: m.endStep(), nextDeadline: this.lastDeadline };
  }

  /** Environment inputs update the router's view of the world before the rules look at it. */
  private absorb(input: RouterEvent): void {
    const m = this.m;
    switch (input.type) {
      case "advert":
        // Fencing mode: who may hold the VIPs (Machine.holders), for the claim rules.
        if (m.opts.fencing && m.state !== "initialize" && m.state !== "fault") m.noteHolder(input);
        return;
      case "trackerChanged":
        m.trackers.set(input.tracker, input.result);
        return;
      case "linkChanged":
        m.linkUp = input.up;
        return;
      case "maintenance":
        m.maintenance = input.on;
        return;
      case "configChanged": {
        const o = input.options;
        const problems = validateRouterOptions(o);
        if (problems.length > 0) throw new RouterOptionsError(String(o.name), problems);
        assert(
          o.vrid === m.opts.vrid && o.family === m.opts.family,
          "configChanged cannot change vrid or family: that is another virtual router (create a new one)",
        );
        const following = m.masterAddress !== null && (m.state === "backup" || m.state === "fencing");
        m.opts = { ...o, vips: [...o.vips] };
        if (o.version === 2 || o.version !== m.prevOpts.version || !following) {
          m.masterAdverIntervalMs = o.adverIntervalMs;
        }
        m.fenceBackoffMs = Math.min(Math.max(m.fenceBackoffMs, o.fenceRetryMs), o.fenceRetryMaxMs);
        if (!o.fencing) m.holders.clear(); // kept only while fencing is on
        m.effectFault = null; // a reload is the operator's retry
        m.timers.effectRetry = null; // (its timer goes with it, even if another cause keeps Fault)
        return;
      }
      default:
        return;
    }
  }

  private dispatch(ev: RouterEvent): void {
    const m = this.m;
    let matched = false;
    for (const r of RULE_INDEX.get(m.state)?.get(ev.type) ?? NO_RULES) {
      if (r.when !== undefined && !r.when(m, ev)) continue;
      this.fired[this.firedCount++] = r;
      r.act(m, ev);
      matched = true;
      if (r.continue !== true) return;
    }
    assert(matched, () => `no rule for ${ev.type} in state ${m.state}: the table in rules.ts is not total`);
  }
}

/** Creates a virtual router in Initialize. Throws RouterOptionsError for unusable options. */
export function createRouter(options: RouterOptions): Router {
  return new VirtualRouter(options);
}

/** The ids of the rules (rules.ts) that fired for the router's last input, in order. */
export function lastFiredRules(router: Router): readonly string[] {
  assert(router instanceof VirtualRouter, "lastFiredRules: not a router from createRouter");
  const ids: string[] = [];
  for (let i = 0; i < router.firedCount; i++) ids.push((router.fired[i] as Rule).id);
  return ids;
}

/** Checks the router's invariants; returns the violations (empty when all hold). */
export function checkRouterInvariants(router: Router): string[] {
  const v: string[] = [];
  const s = router.state;
  if (router.holdsVips !== (s === "master")) v.push(`holdsVips=${router.holdsVips} in state ${s}`);
  const p = router.effectivePriority;
  if (router.maintenance) {
    if (p !== 0) v.push(`maintenance but effective priority ${p}`);
  } else if (!Number.isInteger(p) || p < 1 || p > 255) {
    v.push(`effective priority ${p} outside 1..255`);
  } else if (p === 255 && router.options.priority !== 255) {
    v.push("effective priority 255 on a router that is not the address owner");
  }
  if ((s === "master" || s === "initialize" || s === "fault") && router.masterAddress !== null) {
    v.push(`masterAddress ${router.masterAddress} set in state ${s}`);
  }
  if ((s === "fault") !== (router.faultReason !== null))
    v.push(`faultReason ${router.faultReason} in state ${s}`);
  if (!(Number.isFinite(router.masterAdverIntervalMs) && router.masterAdverIntervalMs > 0)) {
    v.push(`masterAdverIntervalMs ${router.masterAdverIntervalMs}`);
  }
  if (!(router instanceof VirtualRouter)) return v;

  const m = router.m;
  const t = m.timers;
  const armed = (Object.keys(t) as TimerName[]).filter((k) => t[k] !== null);
  const allowed: Record<RouterState, TimerName[]> = {
    initialize: [],
    backup: ["masterDown", "fenceRetry", "claim", "adver"],
    fencing: ["claim", "adver"],
    master: ["adver"],
    fault: ["effectRetry"],
  };
  for (const k of armed) {
    if (!allowed[s].includes(k)) v.push(`timer ${k} armed in state ${s}`);
    if (!Number.isFinite(t[k])) v.push(`timer ${k} is ${t[k]}`);
  }
  if (s === "master" && t.adver === null) v.push("master without an Adver_Timer");
  if (s === "backup" && t.masterDown === null && t.fenceRetry === null && t.claim === null) {
    v.push("backup without a Master_Down_Timer, fence retry or claim");
  }
  if (m.claim !== null && s !== "backup" && s !== "fencing") v.push(`claim running in state ${s}`);
  if (s !== "master" && m.rivals.size > 0) v.push(`split-brain episodes kept in state ${s}`);
  if ((m.claim !== null) !== (t.claim !== null)) v.push("claim timer without a claim, or the reverse");
  if ((s === "backup" || s === "fencing") && (m.claim !== null) !== (t.adver !== null)) {
    v.push(`a router in ${s} sends adverts exactly while it claims`);
  }
  if (s === "fault" && (t.effectRetry !== null) !== (m.effectFault !== null)) {
    v.push("effect retry timer without an effect fault, or the reverse");
  }
  if ((s === "backup" || s === "master" || s === "fencing") && m.faultCause !== null) {
    v.push(`state ${s} although a fault cause holds: ${m.faultCause}`);
  }
  if (s === "fault" && m.faultCause === null) v.push("fault without a cause");
  if (router.lastDeadline !== m.nextDeadline()) v.push("nextDeadline is not the earliest timer");
  if (m.fenceBackoffMs < m.opts.fenceRetryMs || m.fenceBackoffMs > m.opts.fenceRetryMaxMs) {
    v.push(`fence back-off ${m.fenceBackoffMs} outside ${m.opts.fenceRetryMs}..${m.opts.fenceRetryMaxMs}`);
  }
  if (s === "fencing" && m.peer === null) v.push("fencing without a peer");
  return v;
}
