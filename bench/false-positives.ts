// False positives: a vipd pair (VRID 51) and a keepalived pair (VRID 52) run side by side at the
// smallest interval on one LAN while stress-ng loads every core, for a fixed period. Counted: state
// transitions after the pairs settled (each one is spurious: nothing failed), and the worst gap
// between two consecutive adverts of each master as the client saw them (the budget before a
// backup takes over is Master_Down_Interval).
import type { ChildProcess } from "node:child_process";
import type { Lab } from "../test/lab/netns.js";
import { type AgentKind, type BenchAgent, startAgent } from "./agents.js";
import { cpuStealMs, type StealReading, stealAround } from "./proc.js";
import { masterDownIntervalMs } from "./stats.js";
import type { WireWatch } from "./wire.js";

export interface FalsePositiveResult {
  agent: AgentKind;
  intervalMs: number;
  durationS: number;
  stressCpus: number;
  spuriousTransitions: number;
  transitions: { host: string; to: string; atMs: number }[];
  advertsSeen: number;
  worstAdvertGapMs: number;
  /** The most steal one CPU had around the worst gap (stealAround, 100 ms readings); null if unread. */
  worstGapStealMs: number | null;
  /** Every gap longer than the budget, when it ended (wall clock) and one CPU's steal around it. */
  gapsOverBudget: { endMs: number; gapMs: number; stealMs: number | null }[];
  /** Gaps between consecutive master adverts, in ms (every one, for the JSON). */
  gapsMs: number[];
  budgetMs: number;
  /** vipd only: the daemon's own worst timer lateness (status), master and backup. */
  worstTimerLatenessMs: { master: number | null; backup: number | null };
  /**
   * The machine's own floor in the same period: a bare SCHED_RR sleeper at vipd's priority (10) that
   * sleeps 1 ms at a time, and how late it woke up. Null when it could not run (no python3).
   */
  platform: PlatformProbe | null;
}

export interface PlatformProbe {
  samples: number;
  p99Ms: number;
  p999Ms: number;
  worstMs: number;
  over5Ms: number;
  over10Ms: number;
}

// What a process that only sleeps sees on this machine: wake-up lateness of 1 ms sleeps at SCHED_RR
// priority 10 (vipd's default), printed as one JSON line at the end. No network traffic.
const PROBE = `
import json, os, sys, time
os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))
end = time.monotonic() + float(sys.argv[1])
late = []
while time.monotonic() < end:
    t = time.monotonic(); time.sleep(0.001); late.append((time.monotonic() - t - 0.001) * 1000)
late.sort(); n = len(late)
print(json.dumps({"samples": n, "p99Ms": late[int(n * 0.99)], "p999Ms": late[int(n * 0.999)],
  "worstMs": late[-1], "over5Ms": sum(1 for x in late if x > 5), "over10Ms": sum(1 for x in late if x > 10)}))
`;

function parseProbe(out: string): PlatformProbe | null {
  const line = out.trim().split("\n").at(-1);
  if (!line) return null;
  try {
    const p = JSON.parse(line) as PlatformProbe;
    return typeof p.worstMs === "number" && typeof p.samples === "number" ? p : null;
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** How often each CPU's steal is read during the period. */
const STEAL_READ_EVERY_MS = 100;

export async function falsePositives(
  lab: Lab,
  wire: WireWatch,
  o: { intervalMs: number; durationS: number; stressCpus: number; log: (l: string) => void },
): Promise<FalsePositiveResult[]> {
  const pairs: { kind: AgentKind; vrid: number; hosts: [string, string]; vip: string }[] = [
    { kind: "vipd", vrid: 51, hosts: ["a", "b"], vip: "192.0.2.201" },
    { kind: "keepalived", vrid: 52, hosts: ["c", "d"], vip: "192.0.2.202" },
  ];
  const agents: { kind: AgentKind; vrid: number; master: BenchAgent; backup: BenchAgent }[] = [];
  let stress: ChildProcess | undefined;
  let stealTimer: NodeJS.Timeout | undefined;
  try {
    for (const p of pairs) {
      const inst = (priority: number) => ({
        name: "VI_1",
        vrid: p.vrid,
        priority,
        advertIntMs: o.intervalMs,
        vip: `${p.vip}/24`,
      });
      const [m, b] = await Promise.all([
        startAgent(p.kind, lab.host(p.hosts[0]), { instances: [inst(200)] }),
        startAgent(p.kind, lab.host(p.hosts[1]), { instances: [inst(100)] }),
      ]);
      agents.push({ kind: p.kind, vrid: p.vrid, master: m, backup: b });
    }
    const deadline = Date.now() + 20_000;
    while (!agents.every((x) => x.master.state("VI_1") === "master" && x.backup.state("VI_1") === "backup")) {
      if (Date.now() > deadline) throw new Error("false-positive pairs did not settle within 20 s");
      await sleep(20);
    }
    await sleep(500);
    stress = lab
      .host("client")
      .spawn(["stress-ng", "--cpu", String(o.stressCpus), "--timeout", `${o.durationS + 30}s`, "--quiet"], {
        stdio: "ignore",
      });
    await sleep(1000); // let the load ramp up before counting
    const probe = lab.host("client").spawn(["python3", "-c", PROBE, String(o.durationS)], { stdio: "pipe" });
    let probeOut = "";
    probe.stdout?.on("data", (b: Buffer) => {
      probeOut += b.toString("utf8");
    });
    const probeDone = new Promise<void>((resolve) => {
      probe.once("exit", () => resolve());
      probe.once("error", () => resolve());
    });
    const startMs = Date.now();
    // Each CPU's steal every 100 ms: a long gap can then be set beside what the hypervisor took.
    const steal: StealReading[] = [{ atMs: Date.now(), perCpuMs: cpuStealMs() }];
    stealTimer = setInterval(
      () => steal.push({ atMs: Date.now(), perCpuMs: cpuStealMs() }),
      STEAL_READ_EVERY_MS,
    );
    const budgetMs = masterDownIntervalMs(o.intervalMs, 100);
    const before = agents.map((x) => x.master.transitions().length + x.backup.transitions().length);
    o.log(`  ${o.durationS} s at ${o.intervalMs} ms under stress-ng --cpu ${o.stressCpus} ...`);
    // Keep memory flat on long runs: fold the adverts into per-pair gap lists every second.
    const lastSeen = new Map<string, number>();
    const gaps = new Map<string, number[]>();
    const longGaps = new Map<string, { fromMs: number; toMs: number }[]>();
    const worst = new Map<string, { fromMs: number; toMs: number }>();
    const counts = new Map<string, number>();
    const fold = () => {
      for (const adv of wire.adverts()) {
        if (adv.atMs < startMs || adv.priority !== 200) continue;
        const key = String(adv.vrid);
        const prev = lastSeen.get(key);
        if (prev !== undefined && adv.atMs > prev) {
          const list = gaps.get(key) ?? [];
          const gap = adv.atMs - prev;
          list.push(gap);
          gaps.set(key, list);
          const w = worst.get(key);
          if (w === undefined || gap > w.toMs - w.fromMs) worst.set(key, { fromMs: prev, toMs: adv.atMs });
          if (gap > budgetMs) {
            const long = longGaps.get(key) ?? [];
            long.push({ fromMs: prev, toMs: adv.atMs });
            longGaps.set(key, long);
          }
        }
        if (prev === undefined || adv.atMs > prev) {
          lastSeen.set(key, adv.atMs);
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
      }
      wire.forget(Date.now());
    };
    const endMs = startMs + o.durationS * 1000;
    while (Date.now() < endMs) {
      await sleep(Math.min(1000, endMs - Date.now()));
      fold();
    }
    await sleep(200);
    fold();
    clearInterval(stealTimer);
    steal.push({ atMs: Date.now(), perCpuMs: cpuStealMs() });
    // The probe ends on its own at the same time; bounded wait in case it hangs.
    await Promise.race([probeDone, sleep(5000)]);
    const platform = parseProbe(probeOut);
    if (platform === null) o.log("  platform probe gave no result (python3 missing?)");
    const results: FalsePositiveResult[] = [];
    for (const [i, x] of agents.entries()) {
      const all = [
        ...x.master.transitions().map((t) => ({ host: x.master.host.name, to: t.to, atMs: t.atMs })),
        ...x.backup.transitions().map((t) => ({ host: x.backup.host.name, to: t.to, atMs: t.atMs })),
      ];
      const spurious = all.filter((t) => t.atMs >= startMs);
      const g = gaps.get(String(x.vrid)) ?? [];
      const w = worst.get(String(x.vrid));
      const st = await Promise.all([
        x.master.status().catch(() => null),
        x.backup.status().catch(() => null),
      ]);
      results.push({
        agent: x.kind,
        intervalMs: o.intervalMs,
        durationS: o.durationS,
        stressCpus: o.stressCpus,
        spuriousTransitions: Math.max(spurious.length, all.length - before[i]!),
        transitions: spurious,
        advertsSeen: counts.get(String(x.vrid)) ?? 0,
        worstAdvertGapMs: w ? w.toMs - w.fromMs : Number.NaN,
        worstGapStealMs: w ? stealAround(steal, w.fromMs, w.toMs) : null,
        gapsOverBudget: (longGaps.get(String(x.vrid)) ?? []).map((l) => ({
          endMs: l.toMs,
          gapMs: Math.round((l.toMs - l.fromMs) * 1000) / 1000,
          stealMs: stealAround(steal, l.fromMs, l.toMs),
        })),
        gapsMs: g.map((v) => Math.round(v * 1000) / 1000),
        budgetMs,
        worstTimerLatenessMs: {
          master: st[0]?.timer.worstLatenessMs ?? null,
          backup: st[1]?.timer.worstLatenessMs ?? null,
        },
        platform,
      });
    }
    return results;
  } finally {
    clearInterval(stealTimer);
    if (stress?.pid !== undefined) {
      try {
        process.kill(-stress.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await Promise.all(agents.flatMap((x) => [x.master.stop(), x.backup.stop()]));
  }
}
