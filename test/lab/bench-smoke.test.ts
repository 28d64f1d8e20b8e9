// CI smoke of `npm run bench`: a few runs of every scenario, for both agents. It asserts only that
// the benchmark produced well-formed samples (every figure present and finite, times in order, the
// report and chart rendered), never a timing target: those are read from the full run's output.
import { cpus } from "node:os";
import { describe, expect, it } from "vitest";
import type { FalsePositiveResult } from "../../bench/false-positives.js";
import { cpuStealMs, machineStealMs, stealAround } from "../../bench/proc.js";
import { type BenchResults, markdownReport, takeoverSvg } from "../../bench/report.js";
import { defaultOptions, failoverPlan, parseArgs, runBench } from "../../bench/run.js";
import { masterDownIntervalMs, percentileSorted, summarize } from "../../bench/stats.js";
import { parseAddrLine, parseAdvertLine } from "../../bench/wire.js";
import { labAvailable } from "./netns.js";

describe("bench statistics and parsers", () => {
  it("summarizes with nearest-rank percentiles", () => {
    const s = summarize([5, 1, 4, 2, 3, 6, 7, 8, 9, 10]);
    expect(s).toEqual({ n: 10, min: 1, median: 5, p95: 10, max: 10 });
    expect(summarize([])).toEqual({ n: 0, min: null, median: null, p95: null, max: null });
    expect(percentileSorted([1, 2, 3], 0)).toBe(1);
    expect(() => percentileSorted([1], 101)).toThrow(/not in 0..100/);
    expect(() => summarize([1, Number.NaN])).toThrow(/not a finite number/);
    expect(masterDownIntervalMs(100, 100)).toBeCloseTo(360.9375, 6);
  });

  it("parses tcpdump VRRP lines and ip monitor lines", () => {
    const adv = parseAdvertLine(
      "1700000000.123456 02:00:00:00:00:0b > 01:00:5e:00:00:12, ethertype IPv4 (0x0800), length 54: 192.0.2.11 > 224.0.0.18: VRRPv3, Advertisement, vrid 51, prio 200, intvl 10cs, length 12",
    );
    expect(adv).toEqual({ atMs: 1700000000123.456, src: "192.0.2.11", version: 3, vrid: 51, priority: 200 });
    expect(
      parseAdvertLine(
        "1700000000.1 02:00:00:00:00:0b > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 192.0.2.200 tell 192.0.2.200, length 28",
      ),
    ).toBeUndefined();
    const add = parseAddrLine(
      "[2026-01-02T03:04:05.000250] 2: eth0    inet 192.0.2.200/24 scope global eth0",
    );
    expect(add?.added).toBe(true);
    expect(add?.cidr).toBe("192.0.2.200/24");
    expect(add?.atMs).toBeCloseTo(new Date(2026, 0, 2, 3, 4, 5).getTime() + 0.25, 6);
    expect(
      parseAddrLine("[2026-01-02T03:04:05.000250] Deleted 2: eth0    inet 192.0.2.200/24 scope global eth0")
        ?.added,
    ).toBe(false);
    expect(parseAddrLine("garbage")).toBeUndefined();
  });

  it("refuses bad options with a clear message", () => {
    expect(() => parseArgs(["--intervals", "15"])).toThrow(/not a multiple of 10/);
    expect(() => parseArgs(["--agents", "vrrpd"])).toThrow(/'vrrpd' is not one of vipd, keepalived/);
    expect(() => parseArgs(["--scale-vrids", "0"])).toThrow(/not an integer in 1..255/);
    expect(() => parseArgs(["--faults", "cut,fire"])).toThrow(/'fire' is not one of/);
    expect(() => parseArgs(["--scale-vipd-realtime", "100"])).toThrow(/not an integer in 0..99/);
    expect(() => parseArgs(["--scale-vipd-realtime", "1.5"])).toThrow(/not an integer in 0..99/);
    expect(parseArgs(["--scale-vipd-realtime", "0"]).scaleVipdRealtime).toBe(0);
    expect(defaultOptions(false).scaleVipdRealtime).toBeNull();
    const q = parseArgs(["--quick"]);
    expect(q.scaleVipdRealtime).toBeNull();
    expect([q.runs, q.fpDurationS, q.scaleWindowS]).toEqual([3, 15, 5]);
    expect(defaultOptions(false).fpDurationS).toBe(600);
    expect(() => parseArgs(["--chunk-runs", "0"])).toThrow(/--chunk-runs: 0 is not an integer in 1..10000/);
    expect(parseArgs(["--chunk-runs", "4"]).chunkRuns).toBe(4);
    expect(defaultOptions(false).chunkRuns).toBe(5);
  });

  it("lets the agents take turns in failover blocks, ABBA, covering every run once", () => {
    const plan = failoverPlan(["vipd", "keepalived"], 12, 5);
    expect(plan.map((b) => `${b.kind}:${b.first}+${b.count}`)).toEqual([
      "vipd:0+5",
      "keepalived:0+5",
      "keepalived:5+5",
      "vipd:5+5",
      "vipd:10+2",
      "keepalived:10+2",
    ]);
    expect(failoverPlan(["vipd"], 3, 5)).toEqual([{ kind: "vipd", first: 0, count: 3 }]);
    expect(failoverPlan(["keepalived", "vipd"], 0, 5)).toEqual([]);
    expect(() => failoverPlan(["vipd"], 3, 0)).toThrow(/chunk 0 is not a positive integer/);
  });

  it("reads the machine's steal time as a growing count of ms", () => {
    const a = machineStealMs();
    const b = machineStealMs();
    expect(Number.isFinite(a)).toBe(true);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(b).toBeGreaterThanOrEqual(a);
    expect(a % 10).toBe(0); // whole ticks of 10 ms at CLK_TCK 100
  });

  it("reads each CPU's steal time, in whole ticks that add up to the machine's", () => {
    const before = machineStealMs();
    const perCpu = cpuStealMs();
    const after = machineStealMs();
    expect(perCpu).toHaveLength(cpus().length);
    for (const v of perCpu) expect(v % 10).toBe(0);
    const sum = perCpu.reduce((x, y) => x + y, 0);
    // The kernel turns each CPU's nanoseconds into ticks on its own and the total once, so the
    // lines' sum may differ from the total by up to a tick per CPU.
    const slackMs = 10 * perCpu.length;
    expect(sum).toBeGreaterThanOrEqual(before - slackMs);
    expect(sum).toBeLessThanOrEqual(after + slackMs);
  });

  it("gives the most steal one CPU had over a span from the readings that bracket it", () => {
    const readings = [
      { atMs: 1000, perCpuMs: [0, 0] },
      { atMs: 1100, perCpuMs: [10, 0] },
      { atMs: 1200, perCpuMs: [10, 80] },
      { atMs: 1300, perCpuMs: [20, 90] },
    ];
    expect(stealAround(readings, 1150, 1190)).toBe(80); // 1100 .. 1200: CPU 1 took 80 ms
    expect(stealAround(readings, 1100, 1100)).toBe(0);
    expect(stealAround(readings, 1000, 1300)).toBe(90);
    expect(stealAround(readings, 1210, 1300)).toBe(10); // 1200 .. 1300: 10 on each
    expect(stealAround(readings, 999, 1100)).toBeNull(); // nothing read before it began
    expect(stealAround(readings, 1250, 1301)).toBeNull(); // nor after it ended
  });
});

describe("bench report", () => {
  const results = (
    realtimePriority: number | null,
    window: { transitions: { master: number; backup: number }; stealMs: number } = {
      transitions: { master: 0, backup: 0 },
      stealMs: 0,
    },
  ): BenchResults => ({
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:01:00.000Z",
    command: "npm run bench",
    machine: { cpus: 2, kernel: "k", node: "v20", keepalived: "Keepalived v2" },
    options: {},
    failover: [],
    falsePositives: [],
    scale: [
      {
        agent: "vipd",
        vrids: 255,
        intervalMs: 100,
        windowS: 20,
        masterCpuPercent: 5,
        backupCpuPercent: 4,
        masterCpuLatePercent: 3,
        backupCpuLatePercent: 1,
        masterRssMiB: 65,
        backupRssMiB: 65,
        settleMs: 900,
        transitionsInWindow: window.transitions,
        stealMs: window.stealMs,
        realtimePriority,
      },
    ],
    startup: [],
    orphan: [],
    errors: [],
  });

  it("says above the scale table when vipd ran with another realtime priority than the unit's", () => {
    expect(markdownReport(results(0))).toContain(
      "vipd ran with global.realtime_priority: 0 (no realtime scheduling, as keepalived here), not the default",
    );
    expect(markdownReport(results(null))).not.toContain("realtime_priority");
    expect(markdownReport(results(null))).toContain(
      "| 255 | 100 ms | 5.0 / 4.0 | n/a | 3.0 / 1.0 | n/a | 65.0 / 65.0 | n/a |",
    );
  });

  it("sets each false-positive gap over the budget beside one CPU's steal around it", () => {
    const fp = (
      agent: "vipd" | "keepalived",
      gaps: FalsePositiveResult["gapsOverBudget"],
    ): FalsePositiveResult => ({
      agent,
      intervalMs: 10,
      durationS: 600,
      stressCpus: 2,
      spuriousTransitions: 0,
      transitions: [],
      advertsSeen: 60_000,
      worstAdvertGapMs: Math.max(20, ...gaps.map((g) => g.gapMs)),
      worstGapStealMs: gaps.length ? 100 : null,
      gapsOverBudget: gaps,
      gapsMs: [],
      budgetMs: 36.09375,
      worstTimerLatenessMs: { master: null, backup: null },
      platform: null,
    });
    const quiet = { ...results(null), falsePositives: [fp("keepalived", [])] };
    expect(markdownReport(quiet)).toContain(
      "| keepalived | 10 ms | 600 s | 2 | 0 | 60000 | 20.00 / 36.1 ms | — |",
    );
    expect(markdownReport(quiet)).not.toContain("Gaps over the budget");
    const gaps = [37, 110.07, 40, 50, 60, 70].map((gapMs, i) => ({
      endMs: i,
      gapMs,
      stealMs: i === 3 ? null : 90,
    }));
    const md = markdownReport({ ...results(null), falsePositives: [fp("vipd", gaps), fp("keepalived", [])] });
    expect(md).toContain("| 110.07 / 36.1 ms (one CPU's steal around it: 100 ms) |");
    expect(md).toContain(
      "- vipd: 110.1 ms (one CPU's steal around it: 90 ms); 70.0 ms (one CPU's steal around it: 90 ms); 60.0 ms (one CPU's steal around it: 90 ms); 50.0 ms; 40.0 ms (one CPU's steal around it: 90 ms), and 1 more",
    );
    expect(md).not.toContain("- keepalived:");
  });

  it("lists under the scale table the windows with state changes or steal time in them", () => {
    expect(markdownReport(results(null))).not.toContain("nothing should change state");
    const md = markdownReport(results(null, { transitions: { master: 0, backup: 3 }, stealMs: 20 }));
    expect(md).toContain(
      "In the windows above (nothing should change state in them):\n\n- vipd 255 VRIDs at 100 ms: 0 / 3 state changes (master / backup host), 20 ms of steal",
    );
  });
});

describe.runIf(labAvailable())("bench smoke (root, netns lab)", () => {
  it("produces well-formed samples for every scenario and both agents", { timeout: 600_000 }, async () => {
    const o = defaultOptions(true);
    Object.assign(o, {
      intervalsMs: [100, 10],
      runs: 2,
      chunkRuns: 1, // the agents take turns after every run
      fpDurationS: 3,
      scaleVrids: [1, 20],
      scaleIntervalsMs: [100],
      scaleWindowS: 2,
      startupRuns: 2,
      outDir: null,
      command: "bench smoke",
      log: () => undefined,
    });
    const r = await runBench(o);
    expect(r.errors).toEqual([]);

    // Failover: 2 runs x 3 faults x 2 intervals x 2 agents, each with both adverts and a VIP.
    expect(r.failover).toHaveLength(24);
    // In turns of one run, ABBA: the run numbers carry on across an agent's blocks.
    expect(
      r.failover.filter((s) => s.intervalMs === 100 && s.fault === "cut").map((s) => `${s.agent}#${s.run}`),
    ).toEqual(["vipd#0", "keepalived#0", "keepalived#1", "vipd#1"]);
    for (const s of r.failover) {
      expect(Number.isFinite(s.advertGapMs)).toBe(true);
      expect(s.newAdvertAtMs).toBeGreaterThan(s.oldAdvertAtMs);
      expect(s.overheadMs).toBeCloseTo(s.advertGapMs - s.boundMs, 9);
      expect(s.vipAddedAtMs).not.toBeNull();
      expect(s.announceAtMs).not.toBeNull();
      expect(s.stealMs).toBeGreaterThanOrEqual(0);
      if (s.agent === "vipd") {
        expect(s.timeline?.vipAddedToFirstAnnounce).toEqual(expect.any(Number));
        expect(s.timerLatenessMs).toEqual(expect.any(Number));
      } else expect(s.timeline).toBeNull();
    }

    // False positives: one result per agent, with adverts seen and a gap measured.
    expect(r.falsePositives.map((f) => f.agent).sort()).toEqual(["keepalived", "vipd"]);
    for (const f of r.falsePositives) {
      expect(f.advertsSeen).toBeGreaterThan(10);
      expect(Number.isFinite(f.worstAdvertGapMs)).toBe(true);
      expect(f.spuriousTransitions).toBe(f.transitions.length);
      // Each CPU's steal was read through the period, so the worst gap has a figure beside it.
      expect(f.worstGapStealMs).toBeGreaterThanOrEqual(0);
      for (const g of f.gapsOverBudget) expect(g.gapMs).toBeGreaterThan(f.budgetMs);
      // The machine's own floor, measured in the same period by a bare realtime sleeper.
      expect(f.platform?.samples).toBeGreaterThan(100);
      expect(f.platform?.worstMs).toBeGreaterThanOrEqual(f.platform?.p999Ms ?? Number.NaN);
    }
    expect(r.falsePositives.find((f) => f.agent === "vipd")?.worstTimerLatenessMs.master).toEqual(
      expect.any(Number),
    );

    // Scale: both agents at both sizes, with CPU and RSS read.
    expect(r.scale).toHaveLength(4);
    for (const s of r.scale) {
      expect(s.masterCpuPercent).toBeGreaterThanOrEqual(0);
      // the smoke's window is long enough to split (see defaultOptions)
      expect(s.backupCpuLatePercent).toBeGreaterThanOrEqual(0);
      expect(s.masterRssMiB).toBeGreaterThan(1);
      expect(s.backupRssMiB).toBeGreaterThan(1);
      expect(s.stealMs).toBeGreaterThanOrEqual(0);
      expect(s.transitionsInWindow.master).toBeGreaterThanOrEqual(0);
    }

    // Start-up: vipd sends READY=1; every run saw a first advert after the process started.
    expect(r.startup).toHaveLength(4);
    for (const s of r.startup) expect(s.firstAdvertMs).toBeGreaterThan(0);
    for (const s of r.startup.filter((x) => x.agent === "vipd")) expect(s.readyMs).toBeGreaterThan(0);

    // Orphans: all four cases measured; keepalived left dead keeps its VIP.
    expect(r.orphan.map((x) => `${x.agent}/${x.method}`)).toEqual([
      "vipd/cleanup",
      "vipd/restart",
      "keepalived/restart",
      "keepalived/none",
    ]);
    expect(r.orphan.find((x) => x.agent === "keepalived" && x.method === "none")?.vipLingersMs).toBeNull();

    const md = markdownReport(r);
    expect(md).toContain("| figure | interval | vipd | keepalived | RFC bound |");
    expect(md).toContain("False positives");
    expect(md).toMatch(
      /\| machine steal time, fault → end of the sample .* \| 100 ms \| \d+ \/ \d+ \/ \d+ \(n=6\) \| \d+ \/ \d+ \/ \d+ \(n=6\) \|/,
    );
    const svg = takeoverSvg(r.failover);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<circle /g)).toHaveLength(24);
  });
});
