// `npm run bench`: failover speed, false positives, scale, start-up and crash leftovers of vipd and
// keepalived in one network-namespace lab (root). Prints a markdown table and writes
// bench/results/bench-<time>.json (every sample), latest.json, report.md and takeover.svg.
//
//   npm run bench                    # full: 20 runs per fault and interval (the agents take turns
//                                    # every 5 runs), 10 min false-positive run
//   npm run bench -- --quick         # a few minutes: 3 runs, 15 s false-positive run, 5 s scale windows
//   npm run bench -- --scenarios failover --intervals 100,10 --runs 10 --agents vipd
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import yargs from "yargs";
import { createLab, labVip } from "../test/lab/netns.js";
import { AGENT_KINDS, type AgentKind } from "./agents.js";
import { FAULTS, type FailoverSample, type Fault, failoverBlock } from "./failover.js";
import { type FalsePositiveResult, falsePositives } from "./false-positives.js";
import { type OrphanSample, orphanRun, type StartupSample, startupRun } from "./lifecycle.js";
import { type BenchResults, markdownReport, takeoverSvg } from "./report.js";
import { type ScaleResult, scaleRun } from "./scale.js";
import { startAddrWatch, startWireWatch } from "./wire.js";

export type Scenario = "failover" | "false-positives" | "scale" | "startup" | "orphan";
export const SCENARIOS: readonly Scenario[] = ["failover", "false-positives", "scale", "startup", "orphan"];

export interface BenchOptions {
  agents: AgentKind[];
  scenarios: Scenario[];
  intervalsMs: number[];
  faults: Fault[];
  runs: number;
  /**
   * Failover runs per block: the agents take turns in blocks of this many runs (ABBA order), so
   * that a noisy spell of the machine falls on both rather than on one agent's whole series.
   */
  chunkRuns: number;
  fpIntervalMs: number;
  fpDurationS: number;
  stressCpus: number;
  scaleVrids: number[];
  scaleIntervalsMs: number[];
  scaleWindowS: number;
  /**
   * vipd's global.realtime_priority in the scale runs; null: the config's default, as the unit
   * runs it. keepalived (Debian's package, our bench config) runs without realtime scheduling.
   */
  scaleVipdRealtime: number | null;
  startupRuns: number;
  /** Directory for the JSON, markdown and SVG; null writes nothing. */
  outDir: string | null;
  command: string;
  log: (line: string) => void;
}

const REPO = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "../" : "../../", import.meta.url));

export function defaultOptions(quick: boolean): BenchOptions {
  return {
    agents: [...AGENT_KINDS],
    scenarios: [...SCENARIOS],
    intervalsMs: [1000, 100, 10],
    faults: [...FAULTS],
    runs: quick ? 3 : 20,
    chunkRuns: 5,
    fpIntervalMs: 10,
    fpDurationS: quick ? 15 : 600,
    stressCpus: cpus().length,
    scaleVrids: [1, 50, 255],
    scaleIntervalsMs: [1000, 100],
    scaleWindowS: quick ? 5 : 20,
    scaleVipdRealtime: null,
    startupRuns: quick ? 3 : 10,
    outDir: join(REPO, "bench/results"),
    command: "npm run bench",
    log: (l) => process.stderr.write(`${l}\n`),
  };
}

function keepalivedVersion(): string {
  // keepalived prints its version on stderr.
  const r = spawnSync("keepalived", ["--version"], { encoding: "utf8" });
  const first = `${r.stdout ?? ""}\n${r.stderr ?? ""}`.split("\n").find((l) => l.trim() !== "");
  return first?.trim() ?? "keepalived (version unknown)";
}

/**
 * The order of failover blocks at one interval: runs 0..runs-1 in blocks of `chunk` runs, each
 * block once per agent, the agents' order reversed on every other block (ABBA), so that neither
 * agent always runs first after a change of interval or always follows the other.
 */
export function failoverPlan(
  agents: readonly AgentKind[],
  runs: number,
  chunk: number,
): { kind: AgentKind; first: number; count: number }[] {
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`chunk ${chunk} is not a positive integer`);
  const out: { kind: AgentKind; first: number; count: number }[] = [];
  for (let first = 0, block = 0; first < runs; first += chunk, block++) {
    const count = Math.min(chunk, runs - first);
    const order = block % 2 === 0 ? agents : [...agents].reverse();
    for (const kind of order) out.push({ kind, first, count });
  }
  return out;
}

/** Runs the selected scenarios; an error in one scenario is recorded and the others still run. */
export async function runBench(o: BenchOptions): Promise<BenchResults> {
  const r: BenchResults = {
    startedAt: new Date().toISOString(),
    finishedAt: "",
    command: o.command,
    machine: {
      cpus: cpus().length,
      kernel: release(),
      node: process.version,
      keepalived: keepalivedVersion(),
    },
    options: { ...o, log: undefined },
    failover: [] as FailoverSample[],
    falsePositives: [] as FalsePositiveResult[],
    scale: [] as ScaleResult[],
    startup: [] as StartupSample[],
    orphan: [] as OrphanSample[],
    errors: [],
  };
  const attempt = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      const msg = `${what}: ${(e as Error).stack ?? String(e)}`;
      r.errors.push(msg);
      o.log(`ERROR ${msg}`);
    }
  };
  const has = (s: Scenario) => o.scenarios.includes(s);

  if (has("failover")) {
    o.log("failover ...");
    await attempt("failover lab", async () => {
      const lab = await createLab({ hosts: ["a", "b"], client: true });
      try {
        const wire = await startWireWatch(lab.host("client"));
        const addrB = await startAddrWatch(lab.host("b"));
        // Both agents per interval, taking turns in blocks, so they share the machine's state.
        for (const iv of o.intervalsMs)
          for (const block of failoverPlan(o.agents, o.runs, o.chunkRuns))
            await attempt(`failover ${block.kind} ${iv} ms runs ${block.first}..`, async () => {
              const s = await failoverBlock(
                { lab, wire, addrB, vip: labVip("ipv4"), log: o.log },
                block.kind,
                iv,
                o.faults,
                block,
              );
              r.failover.push(...s);
            });
        await wire.stop();
        await addrB.stop();
      } finally {
        await lab.destroy();
      }
    });
  }
  if (has("false-positives") && o.agents.length > 0) {
    o.log("false positives ...");
    await attempt("false positives", async () => {
      const lab = await createLab({ hosts: ["a", "b", "c", "d"], client: true });
      try {
        const wire = await startWireWatch(lab.host("client"));
        const res = await falsePositives(lab, wire, {
          intervalMs: o.fpIntervalMs,
          durationS: o.fpDurationS,
          stressCpus: o.stressCpus,
          log: o.log,
        });
        r.falsePositives.push(...res.filter((x) => o.agents.includes(x.agent)));
        await wire.stop();
      } finally {
        await lab.destroy();
      }
    });
  }
  if (has("scale")) {
    o.log("scale ...");
    await attempt("scale lab", async () => {
      const lab = await createLab({ hosts: ["a", "b"] });
      try {
        for (const iv of o.scaleIntervalsMs)
          for (const n of o.scaleVrids)
            for (const kind of o.agents)
              await attempt(`scale ${kind} ${n} VRIDs ${iv} ms`, async () => {
                const s = await scaleRun(lab, kind, n, iv, o.scaleWindowS, o.scaleVipdRealtime);
                o.log(
                  `  ${kind} ${n} VRIDs at ${iv} ms: CPU ${s.masterCpuPercent.toFixed(1)}% / ${s.backupCpuPercent.toFixed(1)}%, RSS ${s.masterRssMiB.toFixed(1)} / ${s.backupRssMiB.toFixed(1)} MiB, ` +
                    `state changes in the window ${s.transitionsInWindow.master} / ${s.transitionsInWindow.backup}, steal ${s.stealMs} ms`,
                );
                r.scale.push(s);
              });
      } finally {
        await lab.destroy();
      }
    });
  }
  if (has("startup") || has("orphan")) {
    o.log("start-up and orphans ...");
    await attempt("lifecycle lab", async () => {
      const lab = await createLab({ hosts: ["a"], client: true });
      try {
        const wire = await startWireWatch(lab.host("client"));
        const addrA = await startAddrWatch(lab.host("a"));
        if (has("startup"))
          for (let run = 0; run < o.startupRuns; run++)
            for (const kind of o.agents)
              await attempt(`startup ${kind} #${run}`, async () => {
                const s = await startupRun(lab, wire, kind, run, 10);
                o.log(
                  `  ${kind} start #${run}: READY ${s.readyMs?.toFixed(1) ?? "none"} ms, first advert ${s.firstAdvertMs.toFixed(1)} ms`,
                );
                r.startup.push(s);
              });
        if (has("orphan")) {
          const plan: [AgentKind, OrphanSample["method"]][] = [
            ["vipd", "cleanup"],
            ["vipd", "restart"],
            ["keepalived", "restart"],
            ["keepalived", "none"],
          ];
          for (const [kind, method] of plan)
            if (o.agents.includes(kind))
              await attempt(`orphan ${kind} ${method}`, async () => {
                const s = await orphanRun(lab, addrA, kind, method, method === "none" ? 5 : 10);
                o.log(
                  `  ${kind} SIGKILL + ${method}: VIP lingers ${s.vipLingersMs?.toFixed(1) ?? "(still there)"} ms (${s.note})`,
                );
                r.orphan.push(s);
              });
        }
        await wire.stop();
        await addrA.stop();
      } finally {
        await lab.destroy();
      }
    });
  }
  r.finishedAt = new Date().toISOString();
  if (o.outDir !== null) {
    mkdirSync(o.outDir, { recursive: true });
    const stamp = r.startedAt.replace(/[:.]/g, "-");
    const json = `${JSON.stringify(r, null, 1)}\n`;
    writeFileSync(join(o.outDir, `bench-${stamp}.json`), json);
    writeFileSync(join(o.outDir, "latest.json"), json);
    writeFileSync(join(o.outDir, "report.md"), markdownReport(r));
    writeFileSync(join(o.outDir, "takeover.svg"), takeoverSvg(r.failover));
  }
  return r;
}

const list = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");

function numbers(name: string, s: string, min: number, max: number): number[] {
  const out = list(s).map(Number);
  for (const n of out)
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${name}: ${n} is not an integer in ${min}..${max}`);
  if (out.length === 0) throw new Error(`--${name}: give at least one value`);
  return out;
}

function choices<T extends string>(name: string, s: string, allowed: readonly T[]): T[] {
  const out = list(s);
  for (const x of out)
    if (!allowed.includes(x as T)) throw new Error(`--${name}: '${x}' is not one of ${allowed.join(", ")}`);
  return out as T[];
}

/** Parses the command line into options (throws with a clear message on a bad value). */
export function parseArgs(argv: string[]): BenchOptions {
  const a = yargs(argv)
    .scriptName("npm run bench --")
    .option("quick", {
      type: "boolean",
      default: false,
      describe: "a few minutes: 3 runs, 15 s false positives, 5 s scale windows",
    })
    .option("runs", { type: "number", describe: "runs per fault and interval (default 20, quick 3)" })
    .option("chunk-runs", {
      type: "number",
      describe: "failover runs per block before the other agent's turn (default 5)",
    })
    .option("agents", { type: "string", default: AGENT_KINDS.join(","), describe: "vipd,keepalived" })
    .option("scenarios", { type: "string", default: SCENARIOS.join(","), describe: SCENARIOS.join(",") })
    .option("intervals", {
      type: "string",
      default: "1000,100,10",
      describe: "failover advert intervals in ms (v3: multiples of 10)",
    })
    .option("faults", { type: "string", default: FAULTS.join(","), describe: FAULTS.join(",") })
    .option("fp-duration", {
      type: "number",
      describe: "false-positive period in seconds (default 600, quick 15)",
    })
    .option("fp-interval", { type: "number", default: 10, describe: "false-positive advert interval in ms" })
    .option("stress-cpus", { type: "number", describe: "stress-ng --cpu workers (default: every core)" })
    .option("scale-vrids", { type: "string", default: "1,50,255" })
    .option("scale-intervals", { type: "string", default: "1000,100" })
    .option("scale-window", { type: "number", describe: "seconds of CPU measurement (default 20, quick 5)" })
    .option("scale-vipd-realtime", {
      type: "number",
      describe: "vipd's global.realtime_priority in the scale runs, 0 = off (default: the config default)",
    })
    .option("startup-runs", { type: "number", describe: "default 10, quick 3" })
    .option("out", { type: "string", describe: "output directory (default bench/results)" })
    .strict()
    .help()
    .parseSync();
  const o = defaultOptions(a.quick);
  o.command = `npm run bench${argv.length ? ` -- ${argv.join(" ")}` : ""}`;
  o.agents = choices("agents", a.agents, AGENT_KINDS);
  o.scenarios = choices("scenarios", a.scenarios, SCENARIOS);
  o.intervalsMs = numbers("intervals", a.intervals, 10, 40950);
  for (const iv of o.intervalsMs)
    if (iv % 10 !== 0) throw new Error(`--intervals: ${iv} is not a multiple of 10 ms`);
  o.faults = choices("faults", a.faults, FAULTS);
  if (a.runs !== undefined) o.runs = numbers("runs", String(a.runs), 1, 10_000)[0]!;
  if (a["chunk-runs"] !== undefined)
    o.chunkRuns = numbers("chunk-runs", String(a["chunk-runs"]), 1, 10_000)[0]!;
  if (a["fp-duration"] !== undefined)
    o.fpDurationS = numbers("fp-duration", String(a["fp-duration"]), 1, 86_400)[0]!;
  o.fpIntervalMs = numbers("fp-interval", String(a["fp-interval"]), 10, 40950)[0]!;
  if (a["stress-cpus"] !== undefined)
    o.stressCpus = numbers("stress-cpus", String(a["stress-cpus"]), 0, 1024)[0]!;
  o.scaleVrids = numbers("scale-vrids", a["scale-vrids"], 1, 255);
  o.scaleIntervalsMs = numbers("scale-intervals", a["scale-intervals"], 10, 40950);
  if (a["scale-window"] !== undefined)
    o.scaleWindowS = numbers("scale-window", String(a["scale-window"]), 1, 3600)[0]!;
  if (a["scale-vipd-realtime"] !== undefined)
    o.scaleVipdRealtime = numbers("scale-vipd-realtime", String(a["scale-vipd-realtime"]), 0, 99)[0]!;
  if (a["startup-runs"] !== undefined)
    o.startupRuns = numbers("startup-runs", String(a["startup-runs"]), 1, 1000)[0]!;
  if (a.out !== undefined) o.outDir = a.out;
  return o;
}

async function main(): Promise<number> {
  let o: BenchOptions;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n`);
    return 64;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write("bench: needs root (network namespaces)\n");
    return 77;
  }
  const r = await runBench(o);
  process.stdout.write(markdownReport(r));
  if (o.outDir) process.stderr.write(`results in ${o.outDir} (latest.json, report.md, takeover.svg)\n`);
  return r.errors.length > 0 ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
