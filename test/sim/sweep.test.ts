// A time-boxed sweep over random seeds. SIM_SWEEP_MS sets the wall-clock budget (default 20 s;
// CI sets more); SIM_SWEEP_START fixes the first seed (default: random, printed for replay).

import { expect, it } from "vitest";
import { realCore } from "./core.js";
import { formatFailure } from "./run.js";
import { formatSummary, sweep } from "./sweep.js";

const budgetMs = Number(process.env.SIM_SWEEP_MS ?? 20_000);
const startSeed = Number(process.env.SIM_SWEEP_START ?? Math.floor(Math.random() * 0x1_0000_0000));

it(
  "sweep: every invariant holds over random seeds",
  () => {
    expect(Number.isFinite(budgetMs) && budgetMs > 0, `SIM_SWEEP_MS must be a positive number`).toBe(true);
    const s = sweep(realCore, { startSeed, wallMs: budgetMs });
    console.log(`simulator sweep: ${formatSummary(s)}`);
    expect(s.seeds).toBeGreaterThan(0);
    expect(s.simulatedNodeHours).toBeGreaterThan(0);
    // The first few failures in full (seed, invariant, replay command, last events), then a count.
    const shown = s.failures.slice(0, 3).map((f) => formatFailure(f));
    if (s.failures.length > 3) shown.push(`... and ${s.failures.length - 3} more failing seeds`);
    expect(shown.join("\n\n")).toBe("");
  },
  budgetMs + 120_000,
);
