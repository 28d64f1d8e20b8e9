// src/runtime/scheduler.ts: keyed deadlines on one timer. A random sequence of set/clear/fire is
// checked against a plain model (a map scanned in full, as the first version did).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ClockPort, TimerPort } from "../../src/runtime/ports.js";
import { Scheduler } from "../../src/runtime/scheduler.js";

class ManualClock implements ClockPort {
  t = 0;
  armed: number | null = null;
  fire: (() => void) | null = null;
  now(): number {
    return this.t;
  }
  createTimer(onFire: () => void): TimerPort {
    this.fire = onFire;
    return {
      armAt: (at) => {
        this.armed = at;
      },
      disarm: () => {
        this.armed = null;
      },
      close: () => {
        this.armed = null;
      },
    };
  }
  /** Moves to the armed time (or `to`) and fires the timer. */
  advance(to: number): void {
    this.t = Math.max(this.t, to);
    if (this.armed !== null && this.armed <= this.t) {
      this.armed = null;
      this.fire?.();
    }
  }
}

describe("Scheduler", () => {
  it("arms the timer at the earliest deadline and runs due keys in deadline order", () => {
    const clock = new ManualClock();
    const s = new Scheduler(clock);
    const ran: string[] = [];
    s.set("b", 30, () => ran.push("b"));
    s.set("a", 20, () => ran.push("a"));
    s.set("c", 25, () => ran.push("c"));
    expect(clock.armed).toBe(20);
    s.set("a", 40, () => ran.push("a"));
    // Lazy: a deadline moving later leaves the timer armed early.
    expect([clock.armed, s.nextDeadline]).toEqual([20, 25]);
    s.clear("c");
    expect([clock.armed, s.nextDeadline]).toEqual([20, 30]);
    clock.advance(45);
    expect(ran).toEqual(["b", "a"]);
    expect(clock.armed).toBeNull();
    expect(s.worstLatenessMs).toBe(15);
  });

  it("a running callback's own key is not scheduled until it sets it again; clear and prefix clear work then", () => {
    const clock = new ManualClock();
    const s = new Scheduler(clock);
    const seen: unknown[] = [];
    let step = 0;
    const tick = (now: number) => {
      step++;
      seen.push([s.has("adv"), s.deadline("adv")]);
      if (step === 1) s.set("adv", now + 10, tick); // re-armed from its own run
      if (step === 2) {
        s.set("adv", now + 10, tick);
        s.clear("adv"); // and dropped again in the same run
      }
    };
    s.set("adv", 10, tick);
    clock.advance(10);
    expect([s.has("adv"), s.deadline("adv"), clock.armed]).toEqual([true, 20, 20]);
    clock.advance(20);
    expect([s.has("adv"), s.deadline("adv"), s.nextDeadline]).toEqual([false, null, null]);
    // Set again later, it runs as a fresh key.
    s.set("adv", 30, tick);
    clock.advance(30);
    expect(step).toBe(3);
    expect(seen).toEqual([
      [false, null],
      [false, null],
      [false, null],
    ]);
    // A prefix clear from inside a run drops the running key without touching the others.
    const ran: string[] = [];
    s.set("x:1", 40, () => {
      ran.push("x:1");
      s.set("x:1", 50, () => ran.push("x:1 again"));
      s.clearPrefix("x:");
    });
    s.set("y", 50, () => ran.push("y"));
    clock.advance(40);
    clock.advance(50);
    expect(ran).toEqual(["x:1", "y"]);
    expect(s.has("x:1")).toBe(false);
  });

  it("re-arms lazily: later deadlines keep the timer, an early fire runs nothing and re-arms", () => {
    const clock = new ManualClock();
    const ran: number[] = [];
    let arms = 0;
    const timer = clock.createTimer.bind(clock);
    clock.createTimer = (onFire) => {
      const t = timer(onFire);
      const armAt = (at: number): void => {
        arms++;
        t.armAt(at);
      };
      return { ...t, armAt };
    };
    const lazy = new Scheduler(clock);
    // A backup's deadline pushed later by each advert: one arm only.
    for (let i = 0; i < 50; i++) lazy.set("down", 100 + i * 10, (now) => ran.push(now));
    expect([arms, clock.armed, lazy.nextDeadline]).toEqual([1, 100, 590]);
    clock.advance(100);
    expect([ran, lazy.fires, lazy.earlyWakeups, clock.armed]).toEqual([[], 0, 1, 590]);
    // A deadline moving earlier re-arms at once.
    lazy.set("sooner", 300, (now) => ran.push(now));
    expect(clock.armed).toBe(300);
    clock.advance(300);
    expect([ran, lazy.fires, clock.armed]).toEqual([[300], 1, 590]);
    clock.advance(600);
    expect([ran, lazy.fires, lazy.earlyWakeups, clock.armed]).toEqual([[300, 600], 2, 1, null]);
    expect(lazy.worstLatenessMs).toBe(10);
  });

  it("equal deadlines run in the order their keys were first set; a moved key keeps its place", () => {
    const clock = new ManualClock();
    const s = new Scheduler(clock);
    const ran: string[] = [];
    for (const k of ["x", "y", "z"]) s.set(k, 50, () => ran.push(k));
    s.set("x", 60, () => ran.push("x"));
    s.set("x", 50, () => ran.push("x"));
    clock.advance(50);
    expect(ran).toEqual(["x", "y", "z"]);
  });

  it("a key that fired and is set again from its own callback counts as newly set (ties after older keys)", () => {
    const clock = new ManualClock();
    const s = new Scheduler(clock);
    const ran: string[] = [];
    const a = () => {
      ran.push("a");
      if (ran.length < 3) s.set("a", 20, a);
    };
    s.set("a", 10, a);
    s.set("b", 20, () => ran.push("b"));
    clock.advance(10);
    expect(s.deadline("a")).toBe(20);
    clock.advance(20);
    expect(ran).toEqual(["a", "b", "a"]);
    expect(s.has("a")).toBe(false);
    expect(s.nextDeadline).toBeNull();
  });

  it("a callback may set, move or clear keys; those due now run in the same fire", () => {
    const clock = new ManualClock();
    const s = new Scheduler(clock);
    const ran: string[] = [];
    s.set("a", 10, (now) => {
      ran.push("a");
      s.clear("b");
      s.set("c", now, () => ran.push("c"));
      s.set("d", now + 5, () => ran.push("d"));
    });
    s.set("b", 10, () => ran.push("b"));
    clock.advance(10);
    expect(ran).toEqual(["a", "c"]);
    expect(clock.armed).toBe(15);
  });

  it("a callback that keeps re-arming itself at `now` is bounded", () => {
    const clock = new ManualClock();
    const s = new Scheduler(clock);
    let runs = 0;
    const again = (now: number) => {
      runs++;
      s.set("loop", now, again);
    };
    s.set("loop", 1, again);
    clock.advance(1);
    expect(runs).toBeGreaterThan(1);
    expect(runs).toBeLessThanOrEqual(128);
    expect(clock.armed).toBe(1);
  });

  it("wakeEarlyMs: armed that much early, waits the rest out awake and runs on time, never before", () => {
    const clock = new ManualClock();
    const s = new Scheduler(clock);
    const ran: number[] = [];
    s.set("down", 100, (now) => ran.push(now), 0.3);
    expect(clock.armed).toBeCloseTo(99.7, 9);
    // Each clock read moves time on by 0.01 ms, as a real clock does while the loop waits.
    let reads = 0;
    clock.now = () => {
      reads++;
      clock.t += 0.01;
      return clock.t;
    };
    clock.advance(99.7);
    expect(ran).toHaveLength(1);
    expect(ran[0]!).toBeGreaterThanOrEqual(100);
    expect(ran[0]!).toBeLessThan(100.02);
    expect(reads).toBeGreaterThan(20); // it waited, reading the clock, instead of running early
    expect(s.fires).toBe(1);
    expect(() => s.set("x", 1, () => {}, 1.5)).toThrow(/wakeEarlyMs 1.5/);
    expect(() => s.set("x", 1, () => {}, -0.1)).toThrow(/wakeEarlyMs/);
  });

  it("wakeEarlyMs with a clock that does not move: nothing runs early, the timer is re-armed at the deadline", () => {
    const clock = new ManualClock();
    const s = new Scheduler(clock);
    const ran: number[] = [];
    s.set("down", 100, (now) => ran.push(now), 0.3);
    clock.advance(99.7);
    expect(ran).toEqual([]);
    expect(clock.armed).toBe(100);
    clock.advance(100);
    expect(ran).toEqual([100]);
  });

  it("clearPrefix and close", () => {
    const clock = new ManualClock();
    const s = new Scheduler(clock);
    s.set("router:a", 5, () => {});
    s.set("router:b", 6, () => {});
    s.set("announce:a", 7, () => {});
    s.clearPrefix("router:");
    expect([s.has("router:a"), s.has("router:b"), s.deadline("announce:a")]).toEqual([false, false, 7]);
    expect([clock.armed, s.nextDeadline]).toEqual([5, 7]);
    s.close();
    s.set("x", 1, () => {});
    expect(s.has("x")).toBe(false);
    expect(s.armedAt).toBeNull();
  });

  it("matches a full-scan model over random operations", () => {
    type Op =
      | { type: "set"; key: number; at: number }
      | { type: "clear"; key: number }
      | { type: "advance"; by: number };
    const op = fc.oneof(
      fc.record({
        type: fc.constant("set" as const),
        key: fc.integer({ min: 0, max: 9 }),
        at: fc.integer({ min: 0, max: 60 }),
      }),
      fc.record({ type: fc.constant("clear" as const), key: fc.integer({ min: 0, max: 9 }) }),
      fc.record({ type: fc.constant("advance" as const), by: fc.integer({ min: 0, max: 20 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops: Op[]) => {
        const clock = new ManualClock();
        const s = new Scheduler(clock);
        const model = new Map<number, { at: number; seq: number }>();
        let seq = 0;
        const ran: number[] = [];
        const expected: number[] = [];
        for (const o of ops) {
          if (o.type === "set") {
            const at = clock.t + o.at;
            const prev = model.get(o.key);
            model.set(o.key, { at, seq: prev?.seq ?? seq++ });
            s.set(String(o.key), at, () => ran.push(o.key));
          } else if (o.type === "clear") {
            model.delete(o.key);
            s.clear(String(o.key));
          } else {
            const to = clock.t + o.by;
            // Every armed time up to `to` fires in turn, as the real timer would.
            for (let guard = 0; guard < 20 && clock.armed !== null && clock.armed <= to; guard++) {
              const at = clock.armed;
              const due = [...model]
                .filter(([, v]) => v.at <= at)
                .sort((a, b) => a[1].at - b[1].at || a[1].seq - b[1].seq);
              for (const [k] of due) {
                expected.push(k);
                model.delete(k);
              }
              clock.advance(at);
            }
            clock.t = to;
          }
          const min = [...model.values()].reduce<number | null>(
            (m, v) => (m === null || v.at < m ? v.at : m),
            null,
          );
          // Armed at or before the earliest deadline; disarmed only when there is none.
          expect(s.nextDeadline).toBe(min);
          if (min === null) expect(s.armedAt).toBeNull();
          else expect(s.armedAt).not.toBeNull();
          if (min !== null) expect(s.armedAt!).toBeLessThanOrEqual(min);
        }
        expect(ran).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});
