// Failover scenarios: host a (priority 200) is master, host b (priority 100) backup, the client
// watches the wire. Per run one fault hits a: its switch port leaves the bridge ('cut'), SIGKILL
// ('kill') or SIGTERM ('stop', graceful: priority-0 advert). Each run yields one sample.
//
// Measures (all wire times from the client's one tcpdump; VIP times from `ip monitor` on b, same
// CLOCK_REALTIME):
//   advert gap  = first advert from b - last advert from a (hard) / priority-0 advert from a (stop)
//   overhead    = advert gap - RFC bound (Master_Down_Interval, or Skew_Time after a stop)
//   vip overhead = VIP added on b - same start - the same bound
//   vip -> GARP = first GARP/NA of the VIP from b's MAC seen by the client - VIP added on b
import type { Lab } from "../test/lab/netns.js";
import { type AgentKind, type BenchAgent, startAgent, type VipdTimeline } from "./agents.js";
import { machineStealMs } from "./proc.js";
import { masterDownIntervalMs, skewTimeMs } from "./stats.js";
import type { AddrWatch, WireWatch } from "./wire.js";

export type Fault = "cut" | "kill" | "stop";
export const FAULTS: readonly Fault[] = ["cut", "kill", "stop"];

export interface FailoverSample {
  agent: AgentKind;
  intervalMs: number;
  fault: Fault;
  run: number;
  /** RFC bound for this fault: Master_Down_Interval (cut, kill) or Skew_Time (stop). */
  boundMs: number;
  faultAtMs: number;
  oldAdvertAtMs: number;
  newAdvertAtMs: number;
  vipAddedAtMs: number | null;
  announceAtMs: number | null;
  advertGapMs: number;
  overheadMs: number;
  vipOverheadMs: number | null;
  vipToAnnounceMs: number | null;
  faultToAnnounceMs: number | null;
  /** vipd only: its own timeline of this takeover. */
  timeline: VipdTimeline | null;
  /** vipd only: lastAdvertToTransition minus the bound (how late the down timer fired). */
  timerLatenessMs: number | null;
  /**
   * The machine's steal time (every CPU, ms, in 10 ms ticks) from the fault to the end of the
   * sample's measures: the hypervisor's share of an outlier.
   */
  stealMs: number;
}

export interface FailoverContext {
  lab: Lab;
  wire: WireWatch;
  addrB: AddrWatch;
  vip: string;
  log: (line: string) => void;
}

const PRIO_A = 200;
const PRIO_B = 100;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs rounds `runs.first` .. `runs.first + runs.count - 1` of `faults` for one agent kind at one interval. */
export async function failoverBlock(
  ctx: FailoverContext,
  kind: AgentKind,
  intervalMs: number,
  faults: readonly Fault[],
  runs: { first: number; count: number },
): Promise<FailoverSample[]> {
  const a = ctx.lab.host("a");
  const b = ctx.lab.host("b");
  const vip = ctx.vip;
  const inst = (priority: number) => ({
    name: "VI_1",
    vrid: 51,
    priority,
    advertIntMs: intervalMs,
    vip: `${vip}/24`,
  });
  const mdi = masterDownIntervalMs(intervalMs, PRIO_B);
  const settleTimeoutMs = 4 * masterDownIntervalMs(intervalMs, 1) + 15_000;
  let agentA: BenchAgent | null = null;
  let agentB: BenchAgent | null = null;
  const samples: FailoverSample[] = [];

  const dropVip = async (host: typeof a) => {
    await host.exec(["ip", "addr", "del", `${vip}/24`, "dev", host.ifname]);
  };
  const ensure = async () => {
    const since = Date.now();
    if (agentB === null || agentB.exited()) agentB = await startAgent(kind, b, { instances: [inst(PRIO_B)] });
    if (agentA === null || agentA.exited()) {
      await dropVip(a); // what a SIGKILL left behind (keepalived never removes it)
      agentA = await startAgent(kind, a, { instances: [inst(PRIO_A)] });
    }
    await ctx.wire.waitAdvert("advert from a", (x) => x.src === a.ipv4 && x.priority === PRIO_A, {
      sinceMs: since,
      timeoutMs: settleTimeoutMs,
    });
    const deadline = Date.now() + settleTimeoutMs;
    while (!(agentA.state("VI_1") === "master" && agentB.state("VI_1") === "backup")) {
      if (Date.now() > deadline)
        throw new Error(
          `${kind} at ${intervalMs} ms did not settle (a ${agentA.state("VI_1")}, b ${agentB.state("VI_1")})\n${agentA.tail()}\n${agentB.tail()}`,
        );
      await sleep(10);
    }
    // A few adverts more so that b's down timer runs on a's interval.
    await sleep(Math.max(5 * intervalMs, 100));
  };

  try {
    for (let run = runs.first; run < runs.first + runs.count; run++) {
      for (const fault of faults) {
        await ensure();
        const A = agentA as unknown as BenchAgent;
        const B = agentB as unknown as BenchAgent;
        const t0 = Date.now();
        const steal0 = machineStealMs();
        if (fault === "cut") await a.cableCut(true);
        else if (fault === "kill") await A.kill();
        else await A.stop();
        const timeoutMs = mdi + 10_000;
        await B.waitState("VI_1", "master", { sinceMs: t0, timeoutMs });
        const first = await ctx.wire.waitAdvert(
          "first advert from b",
          (x) => x.src === b.ipv4 && x.priority === PRIO_B,
          { sinceMs: t0 - 1, timeoutMs },
        );
        const vipAdded = await ctx.addrB
          .waitEvent(vip, true, { sinceMs: t0 - 1, timeoutMs: 3000 })
          .catch(() => null);
        const ann = await ctx.wire
          .waitAnnouncement(vip, b.mac, { sinceMs: t0 - 1, timeoutMs: 3000 })
          .catch(() => null);
        const fromA = ctx.wire.adverts().filter((x) => x.src === a.ipv4 && x.atMs < first.atMs);
        const old =
          fault === "stop"
            ? fromA.find((x) => x.priority === 0 && x.atMs >= t0 - 1)
            : fromA.filter((x) => x.priority === PRIO_A).at(-1);
        if (old === undefined)
          throw new Error(
            `${kind} ${fault} run ${run}: no ${fault === "stop" ? "priority-0 " : ""}advert from a seen`,
          );
        const boundMs = fault === "stop" ? skewTimeMs(intervalMs, PRIO_B) : mdi;
        // vipd logs its timeline after the first announcement: give the log line time to arrive.
        let tl: VipdTimeline | null = null;
        for (let i = 0; kind === "vipd" && i < 200 && tl === null; i++) {
          tl = B.timelines().find((t) => t.atMs >= t0) ?? null;
          if (tl === null) await sleep(10);
        }
        const stealMs = machineStealMs() - steal0;
        const gap = first.atMs - old.atMs;
        const sample: FailoverSample = {
          agent: kind,
          intervalMs,
          fault,
          run,
          boundMs,
          faultAtMs: t0,
          oldAdvertAtMs: old.atMs,
          newAdvertAtMs: first.atMs,
          vipAddedAtMs: vipAdded?.atMs ?? null,
          announceAtMs: ann?.atMs ?? null,
          advertGapMs: gap,
          overheadMs: gap - boundMs,
          vipOverheadMs: vipAdded ? vipAdded.atMs - old.atMs - boundMs : null,
          vipToAnnounceMs: vipAdded && ann ? ann.atMs - vipAdded.atMs : null,
          faultToAnnounceMs: ann ? ann.atMs - t0 : null,
          timeline: tl,
          timerLatenessMs:
            tl?.lastAdvertToTransition !== null && tl?.lastAdvertToTransition !== undefined
              ? tl.lastAdvertToTransition - boundMs
              : null,
          stealMs,
        };
        samples.push(sample);
        ctx.log(
          `  ${kind} ${intervalMs} ms ${fault} #${run}: gap ${gap.toFixed(2)} ms, overhead ${sample.overheadMs.toFixed(2)} ms` +
            (sample.vipToAnnounceMs === null ? "" : `, VIP->GARP ${sample.vipToAnnounceMs.toFixed(2)} ms`),
        );
        // Recover: a back as master, b back to backup.
        if (fault === "cut") {
          const since = Date.now();
          await a.cableCut(false);
          await B.waitState("VI_1", "backup", { sinceMs: since, timeoutMs: settleTimeoutMs });
        } else if (fault === "kill") {
          // b keeps the VIP until a is back; a's address is dropped by ensure().
        }
        ctx.wire.forget(Date.now() - 30_000);
      }
    }
  } finally {
    const left = [agentA as BenchAgent | null, agentB as BenchAgent | null].filter(
      (x): x is BenchAgent => x !== null,
    );
    await Promise.all(left.map((x) => x.stop()));
    await Promise.all([dropVip(a), dropVip(b)]);
    if (!samples.length) ctx.log(`  ${kind} ${intervalMs} ms: no samples`);
  }
  return samples;
}
