// The collection after start-up (src/runtime/startup-gc.ts): planned only with a collector and a
// lag budget that leaves room for its pause; when it runs, it reports the collector, the call's duration and
// the heap. The addon's memory-pressure collection is preferred to gc().
import { describe, expect, it } from "vitest";
import { stallBudgetMs } from "../../src/runtime/lag-guard.js";
import {
  pickCollector,
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
    collector: withGc
      ? {
          kind: "memory pressure",
          collect: () => {
            gcCalls++;
            t += 12;
            heap = 20;
          },
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
  it("runs once, shortly after READY, and reports the call and the heap", () => {
    const h = harness(STARTUP_GC_MIN_BUDGET_MS);
    expect(h.plan).toEqual({ type: "scheduled", delayMs: STARTUP_GC_DELAY_MS, collector: "memory pressure" });
    expect(h.scheduled.map((s) => s.ms)).toEqual([250]);
    expect(h.gcCalls()).toBe(0);
    h.scheduled[0]?.fn();
    expect(h.gcCalls()).toBe(1);
    expect(h.collected).toEqual([
      { collector: "memory pressure", callMs: 12, heapBefore: 50, heapAfter: 20 },
    ]);
  });

  it("is skipped without a collector, without instances, and when intervals leave too little room", () => {
    expect(harness(1000, false).plan).toEqual({
      type: "skipped",
      reason: "no collector (addon built for another Node, no --expose-gc)",
    });
    expect(harness(null).plan).toEqual({ type: "skipped", reason: "no instances" });
    const short = harness(STARTUP_GC_MIN_BUDGET_MS - 1);
    expect(short.plan).toEqual({ type: "skipped", reason: "intervals too short" });
    expect(short.scheduled).toEqual([]);
  });

  it("runs at 100 ms advert intervals and not at 10 ms", () => {
    expect(harness(stallBudgetMs(100)).plan.type).toBe("scheduled");
    expect(harness(stallBudgetMs(10)).plan.type).toBe("skipped");
  });

  it("prefers the addon's memory-pressure collection to gc(), and takes gc() without it", () => {
    const reduce = () => undefined;
    const gc = () => undefined;
    expect(pickCollector(reduce, gc)).toEqual({ kind: "memory pressure", collect: reduce });
    expect(pickCollector(null, gc)).toEqual({ kind: "gc", collect: gc });
    expect(pickCollector(null, undefined)).toBeUndefined();
  });
});
