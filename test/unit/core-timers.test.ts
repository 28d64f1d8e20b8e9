// Timer arithmetic (RFC 9568 §6.1, RFC 3768 §6.1) at 1 s, 100 ms and 10 ms, priorities 1, 100, 254,
// checked on the pure functions and on the deadlines the router returns.
import { describe, expect, it } from "vitest";
import { masterDownIntervalMs, skewTimeMs } from "../../src/core/index.js";
import { advert, Driver } from "./core-harness.js";

// [version, interval ms, priority, Skew_Time ms, Master_Down_Interval ms], worked out by hand:
// v3 Skew = (256 - P) * I / 256; v2 Skew = (256 - P) / 256 s; MDI = 3 * I + Skew.
const TABLE: [2 | 3, number, number, number, number][] = [
  [3, 1000, 1, 996.09375, 3996.09375],
  [3, 1000, 100, 609.375, 3609.375],
  [3, 1000, 254, 7.8125, 3007.8125],
  [3, 100, 1, 99.609375, 399.609375],
  [3, 100, 100, 60.9375, 360.9375],
  [3, 100, 254, 0.78125, 300.78125],
  [3, 10, 1, 9.9609375, 39.9609375],
  [3, 10, 100, 6.09375, 36.09375],
  [3, 10, 254, 0.078125, 30.078125],
  [2, 1000, 1, 996.09375, 3996.09375],
  [2, 1000, 100, 609.375, 3609.375],
  [2, 1000, 254, 7.8125, 3007.8125],
  // v2's skew does not scale with the interval.
  [2, 3000, 100, 609.375, 9609.375],
];

describe("timer arithmetic", () => {
  it.each(TABLE)(
    "§6.1 v%i interval %i ms priority %i: Skew_Time %d ms, Master_Down_Interval %d ms",
    (v, i, p, skew, mdi) => {
      expect(skewTimeMs(v, p, i)).toBe(skew);
      expect(masterDownIntervalMs(v, p, i)).toBe(mdi);
    },
  );

  it.each(TABLE)(
    "§6.4.1 v%i interval %i ms priority %i: startup arms Master_Down_Timer at MDI",
    (v, i, p, _skew, mdi) => {
      const d = new Driver({ version: v, adverIntervalMs: i, priority: p });
      expect(d.start(5000).nextDeadline).toBe(5000 + mdi);
      expect(d.router.state).toBe("backup");
    },
  );

  it.each(TABLE)(
    "§6.4.2 v%i interval %i ms priority %i: priority-0 advert arms Skew_Time",
    (v, i, p, skew) => {
      const d = new Driver({ version: v, adverIntervalMs: i, priority: p });
      d.start(0);
      d.feed(advert({ priority: 200, adverIntervalMs: i, version: v }), 50);
      expect(d.feed(advert({ priority: 0, adverIntervalMs: i, version: v }), 70).nextDeadline).toBe(
        70 + skew,
      );
    },
  );

  it.each(TABLE)("§6.4.3 v%i interval %i ms priority %i: a master advertises every interval", (v, i, p) => {
    const d = new Driver({ version: v, adverIntervalMs: i, priority: p });
    d.startMaster();
    const t0 = d.now;
    for (let k = 1; k <= 3; k++) {
      const step = d.fire();
      expect(d.now).toBe(t0 + k * i);
      expect(step.actions).toEqual([{ type: "sendAdvert", priority: p }]);
    }
  });

  it.each([
    [1000, 100, 100, 360.9375],
    [1000, 10, 254, 30.078125],
    [100, 1000, 1, 3996.09375],
  ])(
    "§6.4.2 v3 learns the master's interval (own %i ms, heard %i ms, priority %i): MDI %d ms",
    (own, heard, p, mdi) => {
      const d = new Driver({ adverIntervalMs: own, priority: p });
      d.start(0);
      const step = d.feed(advert({ priority: 255, adverIntervalMs: heard }), 10);
      expect(step.nextDeadline).toBe(10 + mdi);
      expect(d.router.masterAdverIntervalMs).toBe(heard);
    },
  );

  it("§6.4.2 v3 Skew_Time after a resign uses the learned interval, not our own", () => {
    const d = new Driver({ adverIntervalMs: 1000, priority: 100 });
    d.start(0);
    d.feed(advert({ priority: 200, adverIntervalMs: 100 }), 10);
    expect(d.feed(advert({ priority: 0, adverIntervalMs: 100 }), 20).nextDeadline).toBe(20 + 60.9375);
  });

  it("§6.4.2 a tracker moving our priority rebases a running Master_Down_Timer from its start", () => {
    const d = new Driver({ adverIntervalMs: 1000, priority: 100 });
    d.start(0);
    d.feed(advert({ priority: 200 }), 100); // timer started at 100 with MDI(100) = 3609.375
    const step = d.feed(
      { type: "trackerChanged", tracker: "chk", result: { type: "weight", weight: 154 } },
      200,
    );
    expect(d.router.effectivePriority).toBe(254);
    expect(step.nextDeadline).toBe(100 + 3007.8125);
  });

  it("timeouts: an early or spurious timeout does nothing; a late one fires once", () => {
    const d = new Driver();
    const mdi = d.start(0).nextDeadline as number;
    expect(d.feed({ type: "timeout" }, mdi - 0.001)).toEqual({ actions: [], nextDeadline: mdi });
    expect(d.router.state).toBe("backup");
    const late = d.feed({ type: "timeout" }, mdi + 5000);
    expect(d.router.state).toBe("master");
    expect(late.nextDeadline).toBe(mdi + 5000 + 1000);
    expect(d.feed({ type: "timeout" }, mdi + 5000).actions).toEqual([]);
  });
});
