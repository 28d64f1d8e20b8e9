// Test driver for the core: feeds inputs at given times and checks the invariants after every step.
import { expect } from "vitest";
import { checkRouterInvariants, createRouter, lastFiredRules } from "../../src/core/index.js";
import type { Action, Input, Router, RouterOptions, Step } from "../../src/core/types.js";

export const BASE: RouterOptions = {
  name: "vi_web",
  vrid: 51,
  family: "ipv4",
  version: 3,
  priority: 100,
  adverIntervalMs: 1000,
  preempt: true,
  preemptDelayMs: 0,
  acceptMode: false,
  primaryAddress: "192.0.2.10",
  vips: ["192.0.2.100/24"],
  fencing: false,
  fenceRetryMs: 1000,
  fenceRetryMaxMs: 8000,
};

/** Every rule id that fired in this test file (for the ledger's completeness check). */
export const firedRules = new Set<string>();

type AdvertInput = Extract<Input, { type: "advert" }>;

/** A valid advert from a peer at 192.0.2.20, for our VIP list, with overrides. */
export function advert(o: Partial<Omit<AdvertInput, "type">> = {}): AdvertInput {
  return {
    type: "advert",
    src: "192.0.2.20",
    priority: 100,
    adverIntervalMs: 1000,
    version: 3,
    addresses: ["192.0.2.100"],
    ...o,
  };
}

export class Driver {
  readonly router: Router;
  now = 0;
  last: Step = { actions: [], nextDeadline: null };

  constructor(o: Partial<RouterOptions> = {}) {
    this.router = createRouter({ ...BASE, ...o });
  }

  /** Feeds an input at `at` (default: the current time) and checks the invariants. */
  feed(input: Input, at: number = this.now): Step {
    this.now = at;
    this.last = this.router.handle(at, input);
    for (const id of lastFiredRules(this.router)) firedRules.add(id);
    expect(checkRouterInvariants(this.router), `invariants after ${input.type} at ${at}`).toEqual([]);
    expect(this.last.nextDeadline).toBe(this.router.nextDeadline);
    expect(stateNotifyProblems(this.last.actions)).toEqual([]);
    return this.last;
  }

  /** Advances to the next deadline and feeds the timeout there. */
  fire(): Step {
    const d = this.last.nextDeadline;
    expect(d, "a deadline to fire").not.toBeNull();
    return this.feed({ type: "timeout" }, d as number);
  }

  start(at = 0): Step {
    return this.feed({ type: "startup" }, at);
  }

  /** Starts and lets the Master_Down_Timer run out: a plain router becomes Master. */
  startMaster(): Step {
    this.start();
    const step = this.fire();
    expect(this.router.state).toBe("master");
    return step;
  }

  rules(): readonly string[] {
    return lastFiredRules(this.router);
  }
}

export function types(actions: readonly Action[]): string[] {
  return actions.map((a) => a.type);
}

export function only<T extends Action["type"]>(
  actions: readonly Action[],
  type: T,
): Extract<Action, { type: T }>[] {
  return actions.filter((a): a is Extract<Action, { type: T }> => a.type === type);
}

export function notifies(actions: readonly Action[]): string[] {
  return only(actions, "notify").map((a) => a.event);
}

/** Every stateChanged is followed, in the same step, by the notify for the state entered. */
export function stateNotifyProblems(actions: readonly Action[]): string[] {
  const problems: string[] = [];
  const expected = {
    master: "master",
    backup: "backup",
    fault: "fault",
    initialize: "stop",
    fencing: "fence_started",
  } as const;
  actions.forEach((a, i) => {
    if (a.type !== "stateChanged") return;
    const want = expected[a.to];
    const later = actions.slice(i + 1);
    if (!later.some((b) => b.type === "notify" && b.event === want)) {
      problems.push(`stateChanged to ${a.to} without notify ${want}`);
    }
    if (a.reason === "") problems.push(`stateChanged to ${a.to} without a reason`);
  });
  return problems;
}
