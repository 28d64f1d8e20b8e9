// CPU time and resident memory of every process inside a lab namespace, from /proc.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

let clkTck: number | undefined;
function ticksPerSecond(): number {
  clkTck ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  return clkTck;
}

export function namespacePids(ns: string): number[] {
  const out = execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8" });
  return out
    .split("\n")
    .map((l) => Number.parseInt(l, 10))
    .filter((p) => Number.isInteger(p) && p > 0);
}

export interface ProcSample {
  atMs: number;
  /** utime + stime of every process, seconds. */
  cpuS: number;
  rssKiB: number;
  pids: number[];
}

function readStat(pid: number): { cpuTicks: number; rssKiB: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the ")" that closes comm: state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    return { cpuTicks: utime + stime, rssKiB: rss ? Number(rss[1]) : 0 };
  } catch {
    return null; // exited meanwhile
  }
}

export function sampleNamespace(ns: string): ProcSample {
  const pids = namespacePids(ns);
  let ticks = 0;
  let rss = 0;
  for (const pid of pids) {
    const s = readStat(pid);
    if (s) {
      ticks += s.cpuTicks;
      rss += s.rssKiB;
    }
  }
  return { atMs: performance.now(), cpuS: ticks / ticksPerSecond(), rssKiB: rss, pids };
}

/** CPU use between two samples as a percentage of one core. */
export function cpuPercent(a: ProcSample, b: ProcSample): number {
  const dt = (b.atMs - a.atMs) / 1000;
  if (dt <= 0) throw new RangeError("samples are not in time order");
  return ((b.cpuS - a.cpuS) / dt) * 100;
}

/**
 * The machine's steal time so far, ms summed over every CPU: time the hypervisor ran something
 * else while a virtual CPU of ours had work (/proc/stat, the `cpu` line's 8th value). A sample
 * with steal in it measured the host as much as the agent.
 */
export function machineStealMs(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  const fields = line.trim().split(/\s+/);
  if (fields[0] !== "cpu" || fields.length < 9)
    throw new Error(`/proc/stat: unexpected first line '${line}'`);
  return stealMsOf(fields, line);
}

/** The steal value (8th) of a split /proc/stat cpu line, in ms. */
function stealMsOf(fields: string[], line: string): number {
  const ticks = Number(fields[8]);
  if (!Number.isFinite(ticks)) throw new Error(`/proc/stat: steal is not a number in '${line}'`);
  // Whole ms (10 per tick at CLK_TCK 100): differences of two readings stay exact.
  return ticks * (1000 / ticksPerSecond());
}

/**
 * Each CPU's steal time so far (the `cpuN` lines of /proc/stat), ms in whole ticks as above. One
 * virtual CPU can be held off while the other runs: a process on the held one waits, the machine's
 * total shows only half of it, and a sleeper on the other CPU sees nothing.
 */
export function cpuStealMs(): number[] {
  const out: number[] = [];
  for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (/^cpu\d+$/.test(fields[0] ?? "")) out.push(stealMsOf(fields, line));
  }
  if (out.length === 0) throw new Error("/proc/stat: no cpuN line");
  return out;
}

/** One reading of cpuStealMs() and when it was taken (wall clock, as the capture's stamps). */
export interface StealReading {
  atMs: number;
  perCpuMs: number[];
}

/**
 * The most steal any one CPU had over a span: between the last reading at or before fromMs and the
 * first at or after toMs (so the span is covered, with up to one reading interval either side).
 * Null when the readings do not bracket the span.
 */
export function stealAround(readings: readonly StealReading[], fromMs: number, toMs: number): number | null {
  let before: StealReading | undefined;
  let after: StealReading | undefined;
  for (const r of readings) {
    if (r.atMs <= fromMs) before = r;
    if (r.atMs >= toMs) {
      after = r;
      break;
    }
  }
  if (before === undefined || after === undefined) return null;
  let most = 0;
  for (const [i, v] of after.perCpuMs.entries()) most = Math.max(most, v - (before.perCpuMs[i] ?? v));
  return most;
}
