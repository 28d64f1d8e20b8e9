import { describe, expect, it } from "vitest";
import {
  LagGuard,
  type LagGuardInstance,
  smallestBudgetMs,
  stallBudgetMs,
} from "../../src/runtime/lag-guard.js";

function guard(instances: LagGuardInstance[]) {
  let t = 0;
  const lags: number[] = [];
  const stalls: { level: string; lagMs: number; budgetMs: number }[] = [];
  const resigns: string[][] = [];
  let armed: (() => void) | null = null;
  const g = new LagGuard({
    now: () => t,
    instances: () => instances,
    onLag: (ms) => lags.push(ms),
    onStall: (e) => stalls.push(e),
    onResign: (e) => resigns.push(e.instances),
    probeMs: 10,
    setInterval: (cb) => {
      armed = cb;
      return 1;
    },
    clearInterval: () => {
      armed = null;
    },
  });
  g.start();
  /** The probe fires after `ms` (10 = on time). */
  const tick = (ms: number) => {
    t += ms;
    armed?.();
  };
  return { g, tick, lags, stalls, resigns, armed: () => armed };
}

describe("lag guard", () => {
  it("budget: Master_Down_Interval minus one interval, with the skew of priority 254", () => {
    // 3 * 1000 + (2 * 1000) / 256 - 1000
    expect(stallBudgetMs(1000)).toBeCloseTo(2007.8125, 4);
    expect(stallBudgetMs(100)).toBeCloseTo(200.78125, 4);
    expect(smallestBudgetMs([{ adverIntervalMs: 1000 }, { adverIntervalMs: 100 }])).toBeCloseTo(200.78, 2);
    expect(smallestBudgetMs([])).toBeNull();
  });

  it("measures lag, warns past half the budget, resigns masters past the budget", () => {
    const { g, tick, lags, stalls, resigns } = guard([
      { name: "web", state: "master", adverIntervalMs: 100 },
      { name: "db", state: "backup", adverIntervalMs: 1000 },
    ]);
    tick(10);
    tick(15);
    expect(lags).toEqual([0, 5]);
    expect(stalls).toEqual([]);
    tick(10 + 120); // 120 ms > 100.4 (half of ~200.8)
    expect(stalls).toHaveLength(1);
    expect(stalls[0]).toMatchObject({ level: "warning", lagMs: 120 });
    expect(resigns).toEqual([]);
    tick(10 + 250); // beyond the budget
    expect(stalls[1]).toMatchObject({ level: "critical", lagMs: 250 });
    expect(resigns).toEqual([["web"]]);
    expect(g.counts).toEqual({ warning: 1, critical: 1 });
    expect(g.worstLagMs).toBe(250);
  });

  it("does not resign when no instance is master, and stops probing after stop()", () => {
    const { g, tick, stalls, resigns, armed } = guard([
      { name: "web", state: "backup", adverIntervalMs: 100 },
    ]);
    tick(1000);
    expect(stalls[0]?.level).toBe("critical");
    expect(resigns).toEqual([]);
    g.stop();
    expect(armed()).toBeNull();
  });

  it("keeps a master whose down timer fired at the end of the stall, resigns one that was master during it", () => {
    // t = 0 at start; probes every 10 ms. Both instances at 100 ms (budget ~200.8 ms).
    const instances: LagGuardInstance[] = [
      { name: "web", state: "backup", adverIntervalMs: 100 },
      { name: "db", state: "master", adverIntervalMs: 100, masterSinceMs: 0 },
    ];
    const { tick, stalls, resigns } = guard(instances);
    tick(10);
    tick(10); // last probe before the stall: t = 20
    // The process is off the CPU for 400 ms; when it runs again, web's down timer (its master was
    // killed) is handled before the probe: web is master since t = 430, the probe runs at t = 430.
    instances[0] = { name: "web", state: "master", adverIntervalMs: 100, masterSinceMs: 430 };
    tick(410);
    expect(stalls.at(-1)).toMatchObject({ level: "critical", lagMs: 400 });
    expect(resigns).toEqual([["db"]]);
  });

  it("resigns a master that took over just before the stall, and one without a known start", () => {
    const instances: LagGuardInstance[] = [
      // Took over 5 ms after the last probe (t = 10), then the loop stalled: silent for ~395 ms.
      { name: "web", state: "master", adverIntervalMs: 100, masterSinceMs: 15 },
      { name: "db", state: "master", adverIntervalMs: 100 },
    ];
    const { tick, resigns } = guard(instances);
    tick(10);
    tick(400);
    expect(resigns).toEqual([["web", "db"]]);
  });

  it("resigns only the nopreempt masters: a preempting one would take the role back anyway", () => {
    const { tick, stalls, resigns } = guard([
      { name: "web", state: "master", adverIntervalMs: 100, preempt: true },
      { name: "db", state: "master", adverIntervalMs: 100, preempt: false },
      { name: "dns", state: "master", adverIntervalMs: 100, preempt: true },
    ]);
    tick(10);
    tick(10 + 300);
    expect(stalls.at(-1)).toMatchObject({ level: "critical", lagMs: 300 });
    expect(resigns).toEqual([["db"]]);
    // Only preempting masters: the stall is still reported, nothing resigns.
    const only = guard([{ name: "web", state: "master", adverIntervalMs: 100, preempt: true }]);
    only.tick(10);
    only.tick(10 + 300);
    expect(only.stalls.at(-1)).toMatchObject({ level: "critical", lagMs: 300 });
    expect(only.resigns).toEqual([]);
  });

  it("a real stall of the event loop is measured", async () => {
    const lags: number[] = [];
    const g = new LagGuard({
      now: () => performance.now(),
      instances: () => [{ name: "web", state: "master", adverIntervalMs: 50 }],
      onLag: (ms) => lags.push(ms),
      onStall: () => {},
      onResign: () => {},
      probeMs: 5,
    });
    g.start();
    await new Promise((r) => setTimeout(r, 20));
    const until = performance.now() + 150;
    while (performance.now() < until) {
      // Busy: the event loop is blocked for 150 ms.
    }
    await new Promise((r) => setTimeout(r, 30));
    g.stop();
    expect(g.worstLagMs).toBeGreaterThan(100);
    expect(g.counts.critical).toBeGreaterThanOrEqual(1);
  });
});

describe("lag guard instance reads", () => {
  it("reads the instances once a second, and at once on a suspect lag", () => {
    let t = 0;
    let reads = 0;
    let armed: (() => void) | null = null;
    const g = new LagGuard({
      now: () => t,
      instances: () => {
        reads++;
        return [{ name: "web", state: "master", adverIntervalMs: 100 }];
      },
      onStall: () => {},
      onResign: () => {},
      probeMs: 10,
      setInterval: (cb) => {
        armed = cb;
        return 1;
      },
      clearInterval: () => {},
    });
    g.start();
    const tick = (ms: number) => {
      t += ms;
      (armed as (() => void) | null)?.();
    };
    const atStart = reads;
    for (let i = 0; i < 50; i++) tick(10);
    expect(reads - atStart).toBe(1); // the first probe, then the cache (500 ms)
    for (let i = 0; i < 60; i++) tick(10);
    expect(reads - atStart).toBe(2); // after 1 s
    tick(10 + 150);
    expect(reads - atStart).toBe(3); // suspect lag: read again
    g.stop();
  });
});
