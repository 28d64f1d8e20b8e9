// The collection after start-up (src/runtime/startup-gc.ts): planned only with a collector and a
// lag budget that leaves room for its pause; when it runs, it reports the pause and the heap.
import { describe, expect, it } from "vitest";
import { stallBudgetMs } from "../../src/runtime/lag-guard.js";
import {
  STARTUP_GC_DELAY_MS,
  STARTUP_GC_MIN_BUDGET_MS,
  type StartupGcOptions,
  scheduleStartupGc,
} from "../../src/runtime/startup-gc.js";

function harness(budgetMs: number | null, withGc = true) {
  const scheduled: { fn: () => void; ms: number }[] = [];
  const collected: Parameters<StartupGcOptions["onCollected"]>[0][] = [];
  let gcCalls = 0;
  let t = 0;
  let heap = 50;
  const plan = scheduleStartupGc({
    budgetMs,
    gc: withGc
      ? () => {
          gcCalls++;
          t += 12;
          heap = 20;
        }
      : undefined,
    onCollected: (e) => collected.push(e),
    schedule: (fn, ms) => scheduled.push({ fn, ms }),
    now: () => t,
    heapUsed: () => heap,
  });
  return { plan, scheduled, collected, gcCalls: () => gcCalls };
}

describe("start-up garbage collection", () => {
  it("runs once, shortly after READY, and reports its pause and the heap", () => {
    const h = harness(STARTUP_GC_MIN_BUDGET_MS);
    expect(h.plan).toEqual({ type: "scheduled", delayMs: STARTUP_GC_DELAY_MS });
    expect(h.scheduled.map((s) => s.ms)).toEqual([250]);
    expect(h.gcCalls()).toBe(0);
    h.scheduled[0]?.fn();
    expect(h.gcCalls()).toBe(1);
    expect(h.collected).toEqual([{ pauseMs: 12, heapBefore: 50, heapAfter: 20 }]);
  });

  it("is skipped without a collector, without instances, and when intervals leave too little room", () => {
    expect(harness(1000, false).plan).toEqual({ type: "skipped", reason: "no gc (--expose-gc not given)" });
    expect(harness(null).plan).toEqual({ type: "skipped", reason: "no instances" });
    const short = harness(STARTUP_GC_MIN_BUDGET_MS - 1);
    expect(short.plan).toEqual({ type: "skipped", reason: "intervals too short" });
    expect(short.scheduled).toEqual([]);
  });

  it("runs at 100 ms advert intervals and not at 10 ms", () => {
    expect(harness(stallBudgetMs(100)).plan.type).toBe("scheduled");
    expect(harness(stallBudgetMs(10)).plan.type).toBe("skipped");
  });
});
