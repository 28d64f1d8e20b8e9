// The checkers must catch deliberately broken routers; a canary that passes means a blind checker.

import { describe, expect, it } from "vitest";
import { CANARY_KINDS, type CanaryKind, canaryCore } from "./canary.js";
import { INVARIANTS } from "./checkers.js";
import { realCore } from "./core.js";
import { scripted, startAll } from "./scenario.js";
import { sweep } from "./sweep.js";
import type { CoreApi, Simulation } from "./world.js";

const I = 100;
const pair = [{ priority: 200 }, { priority: 100 }];

/** One scripted scenario per canary that exercises the rule it breaks. */
const scenarios: Record<CanaryKind, { invariants: string[]; build: (core: CoreApi) => Simulation }> = {
  "never-step-down": {
    invariants: [INVARIANTS.oneMaster],
    build: (core) =>
      startAll(scripted({ intervalMs: I, nodes: [{ priority: 100 }, { priority: 150 }], core }))
        .at(10.3 * I, { type: "partition", groups: [[0], [1]] })
        .at(20.5 * I, { type: "heal" }),
  },
  "inverted-priority": {
    // Both routers misread each other: two masters, or the lower one wins.
    invariants: [INVARIANTS.oneMaster, INVARIANTS.bestWins],
    build: (core) => startAll(scripted({ intervalMs: I, nodes: pair, core })),
  },
  "silent-stop": {
    invariants: [INVARIANTS.priorityZeroOnStop],
    build: (core) =>
      startAll(scripted({ intervalMs: I, nodes: pair, core })).at(10.3 * I, { type: "stop", node: 0 }),
  },
  "ignore-fence-failure": {
    invariants: [INVARIANTS.fenceOutcome],
    build: (core) =>
      startAll(scripted({ intervalMs: I, nodes: pair, core, fencing: { mode: "fail", delayMs: 0.5 * I } }))
        .at(10.3 * I, { type: "partition", groups: [[0], [1]] })
        .at(40 * I, { type: "heal" }),
  },
};

describe("canaries: deliberately broken rules the checkers must catch", () => {
  for (const kind of CANARY_KINDS) {
    const { invariants, build } = scenarios[kind];

    it(`${kind}: caught in its scenario by ${invariants.join(" or ")}`, () => {
      const r = build(canaryCore(realCore, kind)).run(100 * I);
      expect(invariants).toContain(r.violation?.invariant);
    });

    it(`${kind}: the same scenario passes with the real core`, () => {
      const r = build(realCore).run(100 * I);
      expect(r.violation).toBeNull();
    });

    it(`${kind}: a random sweep catches it within 60 seeds`, () => {
      const s = sweep(realCore, {
        startSeed: 1,
        wallMs: 20_000,
        maxSeeds: 60,
        canary: kind,
        stopOnFailure: true,
      });
      expect(s.failures.length, `${kind} not caught in ${s.seeds} seeds`).toBe(1);
    });
  }
});
