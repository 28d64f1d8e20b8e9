// Property: random option sets and random input sequences never break the router's invariants,
// and the effects it asks for stay consistent with its state.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkRouterInvariants,
  createRouter,
  lastFiredRules,
  masterDownIntervalMs,
  RULES,
} from "../../src/core/index.js";
import type { Action, Input, Router, RouterOptions } from "../../src/core/types.js";
import { BASE, stateNotifyProblems } from "./core-harness.js";

const optionsArb: fc.Arbitrary<RouterOptions> = fc
  .record({
    version: fc.constantFrom(2 as const, 3 as const),
    priority: fc.constantFrom(1, 50, 100, 200, 254, 255),
    interval: fc.constantFrom(10, 100, 1000, 3000),
    preempt: fc.boolean(),
    preemptDelayMs: fc.constantFrom(0, 0, 1500),
    fencing: fc.boolean(),
    vips: fc.constantFrom(["192.0.2.100/24"], ["192.0.2.100/24", "192.0.2.101/24"], ["192.0.2.102/32"]),
  })
  .map((r) => ({
    ...BASE,
    version: r.version,
    priority: r.priority,
    adverIntervalMs: r.version === 2 ? Math.max(1000, r.interval) : r.interval,
    preempt: r.preempt,
    preemptDelayMs: r.preemptDelayMs,
    fencing: r.fencing,
    vips: [...r.vips],
    fenceRetryMs: 500,
    fenceRetryMaxMs: 4000,
  }));

type Command =
  | { kind: "fire"; delay: number }
  | { kind: "spurious"; delay: number }
  | { kind: "startup"; delay: number }
  /** The sender of the last advert advertises again (a peer that keeps advertising). */
  | { kind: "again"; delay: number }
  | { kind: "input"; delay: number; input: Input };

const advertArb = fc.record({
  type: fc.constant("advert" as const),
  src: fc.constantFrom("192.0.2.10", "192.0.2.5", "192.0.2.20", "192.0.2.30"),
  priority: fc.constantFrom(0, 1, 50, 99, 100, 101, 200, 254, 255),
  adverIntervalMs: fc.constantFrom(10, 100, 1000, 2000),
  version: fc.constantFrom(2 as const, 3 as const),
  addresses: fc
    .constantFrom(["192.0.2.100"], ["192.0.2.100", "192.0.2.101"], ["192.0.2.7"])
    .map((a) => [...a]),
  srcMac: fc.constantFrom("02:00:00:00:00:20", undefined),
});

function inputArb(opts: RouterOptions): fc.Arbitrary<Input> {
  return fc.oneof(
    {
      weight: 6,
      arbitrary: advertArb.map(
        ({ srcMac, ...rest }): Input => (srcMac === undefined ? rest : { ...rest, srcMac }),
      ),
    },
    { weight: 1, arbitrary: fc.constant<Input>({ type: "shutdown" }) },
    { weight: 2, arbitrary: fc.boolean().map((up): Input => ({ type: "linkChanged", up })) },
    {
      weight: 3,
      arbitrary: fc
        .record({
          tracker: fc.constantFrom("a", "b"),
          result: fc.oneof(
            fc.integer({ min: -253, max: 253 }).map((weight) => ({ type: "weight" as const, weight })),
            fc.constant({ type: "weight" as const, weight: 0 }),
            fc.constant({ type: "fault" as const, reason: "down" }),
          ),
        })
        .map((r): Input => ({ type: "trackerChanged", ...r })),
    },
    { weight: 2, arbitrary: fc.boolean().map((ok): Input => ({ type: "fenceResult", ok, detail: "x" })) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom("addVips", "removeVips", "sendAdvert", "announce")
        .map((effect): Input => ({ type: "effectFailed", effect, error: "E" })),
    },
    { weight: 1, arbitrary: fc.boolean().map((on): Input => ({ type: "maintenance", on })) },
    {
      weight: 1,
      arbitrary: optionsArb.map(
        (o): Input => ({ type: "configChanged", options: { ...o, vrid: opts.vrid } }),
      ),
    },
  );
}

const scenarioArb = optionsArb.chain((opts) =>
  fc.tuple(
    fc.constant(opts),
    fc.array(
      fc.oneof(
        {
          weight: 4,
          arbitrary: fc.integer({ min: 0, max: 200 }).map((delay): Command => ({ kind: "fire", delay })),
        },
        {
          weight: 1,
          arbitrary: fc.integer({ min: 0, max: 3000 }).map((delay): Command => ({ kind: "spurious", delay })),
        },
        {
          weight: 1,
          arbitrary: fc.integer({ min: 0, max: 100 }).map((delay): Command => ({ kind: "startup", delay })),
        },
        {
          weight: 2,
          arbitrary: fc.integer({ min: 0, max: 1500 }).map((delay): Command => ({ kind: "again", delay })),
        },
        {
          weight: 6,
          arbitrary: fc
            .tuple(fc.integer({ min: 0, max: 1500 }), inputArb(opts))
            .map(([delay, input]): Command => ({ kind: "input", delay, input })),
        },
      ),
      { minLength: 5, maxLength: 80, size: "max" },
    ),
    fc.boolean(),
  ),
);

/** Checks one step; returns the problems found (invariants and effect consistency). */
function checkStep(router: Router, actions: readonly Action[], onLink: Set<string>): string[] {
  const problems = [...checkRouterInvariants(router), ...stateNotifyProblems(actions)];
  for (const a of actions) {
    if (a.type === "addVips") for (const v of a.vips) onLink.add(v);
    if (a.type === "removeVips") for (const v of a.vips) onLink.delete(v);
    // A Backup advertises only while it claims, with fencing on (rules.ts, backup-down-claim).
    const claiming = (router.state === "backup" || router.state === "fencing") && router.options.fencing;
    // ...and a master yielding to a better one sends one farewell advert (rules.ts, master-rx-higher).
    const farewell = actions.some(
      (x) => x.type === "stateChanged" && x.from === "master" && x.to === "backup",
    );
    if (a.type === "sendAdvert" && a.priority !== 0 && router.state !== "master" && !claiming && !farewell) {
      problems.push(`advert with priority ${a.priority} while ${router.state}`);
    }
    if (a.type === "sendAdvert" && a.priority !== 0 && a.priority !== router.effectivePriority) {
      problems.push(`advert priority ${a.priority} but effective ${router.effectivePriority}`);
    }
    if (a.type === "requestFence" && !router.options.fencing)
      problems.push("fence requested with fencing off");
  }
  // What the router asked to be on the interface is exactly what its state says it holds.
  const want = router.holdsVips ? [...router.options.vips].sort() : [];
  if (JSON.stringify([...onLink].sort()) !== JSON.stringify(want)) {
    problems.push(
      `VIPs on the link ${JSON.stringify([...onLink])}, state ${router.state} wants ${JSON.stringify(want)}`,
    );
  }
  return problems;
}

describe("core properties", () => {
  it("random input sequences never break the invariants (fast-check)", () => {
    const fired = new Set<string>();
    const visited = new Set<string>();
    fc.assert(
      fc.property(scenarioArb, ([opts, generated, startFirst]) => {
        const router = createRouter(opts);
        const onLink = new Set<string>();
        let now = 0;
        let deadline: number | null = null;
        let lastAdvert: Input | null = null;
        // Most runs start at once; the others see inputs before startup first.
        const commands: Command[] = startFirst ? [{ kind: "startup", delay: 0 }, ...generated] : generated;
        for (const c of commands) {
          now += c.delay;
          let input: Input;
          if (c.kind === "fire") {
            if (deadline === null) continue;
            now = Math.max(now - c.delay, deadline) + c.delay; // at or after the deadline
            input = { type: "timeout" };
          } else if (c.kind === "spurious") {
            input = { type: "timeout" };
          } else if (c.kind === "startup") {
            if (router.state !== "initialize") continue;
            input = { type: "startup" };
          } else if (c.kind === "again") {
            if (lastAdvert === null) continue;
            input = lastAdvert;
          } else {
            input = c.input;
            if (input.type === "advert") lastAdvert = input;
          }
          const before = router.state;
          const step = router.handle(now, input);
          deadline = step.nextDeadline;
          const problems = checkStep(router, step.actions, onLink);
          if (input.type === "shutdown" && before === "master") {
            if (!step.actions.some((a) => a.type === "sendAdvert" && a.priority === 0)) {
              problems.push("a master stopped without a priority-0 advert");
            }
          }
          for (const id of lastFiredRules(router)) fired.add(id);
          visited.add(router.state);
          if (problems.length > 0) {
            throw new Error(
              `after ${input.type} at ${now} (${before} -> ${router.state}): ${problems.join("; ")}`,
            );
          }
        }
      }),
      { numRuns: 5000 },
    );
    // The random walks reach every state and nearly every rule (so the property means something).
    expect([...visited].sort()).toEqual(["backup", "fault", "fencing", "initialize", "master"]);
    const missed = RULES.map((r) => r.id).filter((id) => !fired.has(id));
    console.log(
      `core property: ${fired.size} of ${RULES.length} rules fired; never: ${missed.join(", ") || "none"}`,
    );
    expect(missed.length, `rules never fired: ${missed.join(", ")}`).toBeLessThanOrEqual(5);
  });

  it("split brain (issue 4): a rival that keeps advertising gets one split_brain and announcements a window apart", () => {
    // A master hears one sender that should yield (lower, or equal from a smaller address) at random
    // gaps shorter than the window, with our own Adver_Timer running in between.
    fc.assert(
      fc.property(
        fc.constantFrom(10, 100, 1000),
        fc.constantFrom(10, 100, 1000),
        fc.constantFrom(1, 50, 100),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 2, maxLength: 60 }),
        (oursMs, theirsMs, theirPriority, gaps) => {
          const router = createRouter({ ...BASE, adverIntervalMs: oursMs, primaryAddress: "192.0.2.30" });
          router.handle(0, { type: "startup" });
          let now = router.nextDeadline as number;
          router.handle(now, { type: "timeout" });
          expect(router.state).toBe("master");
          const windowMs = masterDownIntervalMs(3, 100, Math.max(oursMs, theirsMs));
          const announcedAt: number[] = [];
          let splitBrains = 0;
          for (const g of gaps) {
            now += g * 0.99 * windowMs;
            while (router.nextDeadline !== null && router.nextDeadline <= now) {
              router.handle(router.nextDeadline, { type: "timeout" });
            }
            const step = router.handle(now, {
              type: "advert",
              src: "192.0.2.20",
              priority: theirPriority,
              adverIntervalMs: theirsMs,
              version: 3,
              addresses: ["192.0.2.100"],
            });
            expect(step.actions.filter((a) => a.type === "sendAdvert")).toHaveLength(1);
            if (step.actions.some((a) => a.type === "announce")) announcedAt.push(now);
            splitBrains += step.actions.filter(
              (a) => a.type === "notify" && a.event === "split_brain",
            ).length;
          }
          expect(router.state).toBe("master");
          expect(splitBrains).toBeLessThanOrEqual(1);
          expect(announcedAt[0]).toBeDefined();
          for (let i = 1; i < announcedAt.length; i++) {
            expect(announcedAt[i]! - announcedAt[i - 1]!).toBeGreaterThanOrEqual(windowMs);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a timeout before the deadline is always silent", () => {
    fc.assert(
      fc.property(optionsArb, fc.integer({ min: 1, max: 9 }), (opts, tenth) => {
        const router = createRouter(opts);
        const step = router.handle(0, { type: "startup" });
        if (step.nextDeadline === null) return;
        const early = (step.nextDeadline * tenth) / 10;
        expect(router.handle(early, { type: "timeout" })).toEqual({
          actions: [],
          nextDeadline: step.nextDeadline,
        });
      }),
      { numRuns: 100 },
    );
  });

  it("the invariant checker catches a broken router (canary)", () => {
    const router = createRouter(BASE);
    router.handle(0, { type: "startup" });
    const broken = Object.create(router, { holdsVips: { value: true } }) as Router;
    expect(checkRouterInvariants(broken)).toContain("holdsVips=true in state backup");
  });
});
