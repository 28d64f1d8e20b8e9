// The simulator's own parts: the PRNG, the event queue, the run generator and replay by seed.

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { classifyOverlap } from "./checkers.js";
import { realCore } from "./core.js";
import { EventQueue } from "./event-queue.js";
import { Prng } from "./prng.js";
import { generateRun, INTERVALS_MS, runSeed } from "./run.js";
import type { SimNode, Simulation } from "./world.js";

describe("Prng", () => {
  it("is a pure function of its seed", () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const xs = Array.from({ length: 100 }, () => a.nextU32());
    expect(Array.from({ length: 100 }, () => b.nextU32())).toEqual(xs);
    expect(new Prng(43).nextU32()).not.toBe(xs[0]);
  });

  it("keeps int() inside its bounds and reaches both ends", () => {
    const r = new Prng(7);
    const seen = new Set<number>();
    for (let k = 0; k < 2000; k++) {
      const x = r.int(3, 6);
      expect(x).toBeGreaterThanOrEqual(3);
      expect(x).toBeLessThanOrEqual(6);
      seen.add(x);
    }
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
  });

  it("rejects a seed that is not a 32-bit unsigned integer", () => {
    expect(() => new Prng(-1)).toThrow(/seed must be an integer/);
    expect(() => new Prng(1.5)).toThrow(/seed must be an integer/);
    expect(() => new Prng(2 ** 32)).toThrow(/seed must be an integer/);
  });

  it("rejects empty choices", () => {
    const r = new Prng(1);
    expect(() => r.pick([])).toThrow(/empty list/);
    expect(() => r.int(5, 4)).toThrow(/empty range/);
    expect(() => r.weighted({ a: 0 })).toThrow(/no positive weight/);
  });
});

describe("EventQueue", () => {
  it("orders by time, then by insertion", () => {
    const q = new EventQueue<string>();
    const r = new Prng(3);
    const pushed: { t: number; id: string }[] = [];
    for (let k = 0; k < 500; k++) {
      const t = r.int(0, 20);
      const id = `e${k}`;
      q.push(t, id);
      pushed.push({ t, id });
    }
    const expected = [...pushed].sort((a, b) => a.t - b.t).map((e) => e.id); // stable sort
    const got: string[] = [];
    for (let e = q.pop(); e !== null; e = q.pop()) got.push(e.event);
    expect(got).toEqual(expected);
  });

  it("refuses a time that is not finite", () => {
    expect(() => new EventQueue<number>().push(Number.NaN, 1)).toThrow(/finite/);
  });
});

describe("runs generated from seeds", () => {
  it("cover every advert interval and 2..5 nodes", () => {
    const intervals = new Set<number>();
    const sizes = new Set<number>();
    for (let s = 0; s < 200; s++) {
      const { config } = generateRun(s);
      intervals.add(config.adverIntervalMs);
      sizes.add(config.nodes.length);
    }
    expect([...intervals].sort((a, b) => a - b)).toEqual([...INTERVALS_MS].sort((a, b) => a - b));
    expect([...sizes].sort()).toEqual([2, 3, 4, 5]);
  });

  it("replay: the same seed gives the same trace, another seed another", () => {
    const a = runSeed(realCore, 11);
    const b = runSeed(realCore, 11);
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.stats).toEqual(a.stats);
    expect(a.stats.events).toBeGreaterThan(100);
    expect(runSeed(realCore, 12).traceHash).not.toBe(a.traceHash);
  });

  it("classifier: a holder heard only before it last gave the VIPs up is a rival fencer, not a claim race", () => {
    // Seed 1869101087 (before the fencing claim waited for every possible holder): n3 is master,
    // steps down, a partition splits n3 from n4, and both fence the same silent master and claim on
    // their own sides. n4 last heard n3 before n3's step-down. The core no longer produces this
    // run, so the classifier is given the two holders as they were.
    const sim = { now: 2000, settleMs: 800, config: { adverIntervalMs: 100 } } as unknown as Simulation;
    const holder = (o: Partial<SimNode>) => o as SimNode;
    const n3 = holder({ address: "192.0.2.14", masterSince: 1500, leftMasterAt: 1300 });
    const n4 = (heardN3At: number) =>
      holder({
        address: "192.0.2.15",
        masterSince: 1900,
        masterVia: "fence",
        claimedFrom: "192.0.2.12",
        heardBeforeClaim: new Map([["192.0.2.14", heardN3At]]),
        releasedBeforeClaim: new Set<string>(),
        lowerBeforeClaim: Number.NEGATIVE_INFINITY,
      });
    // Heard at 1250, before n3 gave the VIPs up at 1300: says nothing about n3's later claim.
    expect(classifyOverlap(sim, [n3, n4(1250)]).cause).toBe("rival-fencer");
    // Heard at 1600, in n3's current bid: a claim race.
    expect(classifyOverlap(sim, [n3, n4(1600)]).cause).toBe("claim-race");
  });

  it("classifier: a holder last heard withdrawing its claim (priority 0) is not a claim race", () => {
    // Seed 3341770721: n3 (never master before) claims, hears a better claimant and withdraws with
    // priority 0, which n0 hears; n3's next bid is lost to n0 (loss, then a partition) and n3 takes
    // the VIPs on its side while n0, having heard every router release, claims on the other.
    const sim = { now: 9361, settleMs: 200, config: { adverIntervalMs: 10 } } as unknown as Simulation;
    const holder = (o: Partial<SimNode>) => o as SimNode;
    const n3 = holder({ address: "192.0.2.14", masterSince: 9341, leftMasterAt: Number.NEGATIVE_INFINITY });
    const n0 = (withdrawalHeard: boolean, masterVia: "plain" | "fence") =>
      holder({
        address: "192.0.2.11",
        masterSince: 9361,
        masterVia,
        claimedFrom: masterVia === "fence" ? "192.0.2.13" : null,
        // n3's claim advert was heard at 9304; its priority-0 advert at 9305 only if withdrawalHeard.
        heardBeforeClaim: new Map([["192.0.2.14", 9304]]),
        releasedBeforeClaim: new Set(withdrawalHeard ? ["192.0.2.14"] : []),
        lowerBeforeClaim: Number.NEGATIVE_INFINITY,
      });
    // The withdrawal heard counts as giving the VIPs up: the claim is as blind as one never heard.
    expect(classifyOverlap(sim, [n3, n0(true, "plain")]).cause).toBe("no-master-heard");
    expect(classifyOverlap(sim, [n0(true, "fence"), n3]).cause).toBe("rival-fencer");
    // Without the withdrawal heard, n3's bid was live and audible to n0: a claim race.
    expect(classifyOverlap(sim, [n3, n0(false, "plain")]).cause).toBe("claim-race");
  });

  it("replay: `npm run sim -- --seed N` prints the trace hash of the in-process run", async () => {
    const out = await cli(["--seed", "11"]);
    expect(out.stderr).toBe("");
    expect(out.stdout).toContain(`trace ${runSeed(realCore, 11).traceHash}`);
    expect(out.code).toBe(0);
  });

  it("the CLI refuses bad arguments with a clear message", async () => {
    const [none, bad, canary, both] = await Promise.all([
      cli([]),
      cli(["--seed", "-3"]),
      cli(["--seed", "1", "--canary", "nope"]),
      cli(["--seed", "1", "--sweep"]),
    ]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain("give --seed N or --sweep");
    expect(bad.stderr).toContain("--seed must be an integer");
    expect(canary.stderr).toContain('unknown canary "nope"');
    expect(both.stderr).toContain("--seed and --sweep exclude each other");
  });
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const path = fileURLToPath(new URL("./cli.ts", import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
