// vipd itself as a lab peer: writes a vipd.yaml into a fresh temp dir and runs `vipd run --config`
// inside one host namespace, then follows its pino JSON log on stdout.
//
// Two ways to run it:
//   - 'src'  (default when this file runs as TypeScript, i.e. under vitest): node --import tsx
//            src/cli/main.ts. Needs the native addon (npm run build:native), not dist/.
//   - 'dist' (default when this file was compiled, i.e. lab/demo.ts after `npm run build`):
//            node bin/vipd.js, which loads dist/src/cli/main.js.
//
// The control socket lives in the temp dir (every namespace shares the file system, so two vipds
// must not use the default path) and the metrics endpoint is off unless the caller sets one.
//
// Times: every log line carries pino's `time` (Date.now() in vipd when it logged; the arrival time
// as a fallback): CLOCK_REALTIME in ms, the clock that client-watch.ts and capture.ts use, so the
// three can be compared directly.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { Waiters } from "./child-wait.js";
import type { LabHost } from "./netns.js";

export type VipdState = "initialize" | "backup" | "fencing" | "master" | "fault";

export interface VipdInstance {
  name: string;
  vrid: number;
  priority: number;
  advertIntervalMs: number;
  /** Default 3. */
  version?: 2 | 3;
  /** With or without a prefix length; one family. */
  virtualIps: string[];
  nopreempt?: boolean;
  preemptDelayMs?: number;
  unicastPeers?: string[];
  unicastSrcIp?: string;
  checksum?: "pseudo-header" | "message-only";
  accept?: boolean;
  /** Default the host's eth0. */
  interface?: string;
  /** Other instance keys, copied as they are (snake_case, as in docs/config.md). */
  extra?: Record<string, unknown>;
}

export interface VipdOptions {
  instances: VipdInstance[];
  /** Keys of `global`, merged over this helper's defaults (snake_case, as in docs/config.md). */
  global?: Record<string, unknown>;
  /** Other top-level sections (track_scripts, track_http, sync_groups, ...), copied as they are. */
  top?: Record<string, unknown>;
  mode?: "src" | "dist";
  logLevel?: "info" | "debug" | "trace";
  /** Milliseconds to wait for "vipd running" (default 15000: tsx compiles on the first start). */
  startTimeoutMs?: number;
}

/** One pino line with its time. */
export interface VipdLogLine {
  /** pino's `time` (Date.now() in vipd when it logged), else Date.now() when the line arrived. */
  atMs: number;
  level: number;
  msg: string;
  instance: string | undefined;
  fields: Record<string, unknown>;
}

export interface VipdTransition {
  instance: string;
  from: VipdState;
  to: VipdState;
  reason: string;
  atMs: number;
}

export interface VipdAgent {
  host: LabHost;
  dir: string;
  configPath: string;
  configText: string;
  child: ChildProcess;
  state(instance: string): VipdState | undefined;
  transitions(): readonly VipdTransition[];
  logs(): readonly VipdLogLine[];
  /** Non-JSON output (stderr, and stdout lines that are not pino JSON). */
  otherOutput(): readonly string[];
  /** First transition of instance into state at or after sinceMs (default: any time). */
  waitForState(
    instance: string,
    state: VipdState,
    o?: { timeoutMs?: number; sinceMs?: number },
  ): Promise<VipdTransition>;
  /** First log line that matches, at or after sinceMs. */
  waitForLog(
    what: string,
    match: (l: VipdLogLine) => boolean,
    o?: { timeoutMs?: number; sinceMs?: number },
  ): Promise<VipdLogLine>;
  /** SIGTERM (graceful: priority 0, VIPs released), SIGKILL after graceMs; resolves with the exit code. */
  stop(o?: { graceMs?: number }): Promise<number | null>;
  /** SIGKILL: a crash. Its VIPs stay on the interface. */
  kill(): Promise<void>;
  exited(): boolean;
  /** "code N" or "signal S" once exited. */
  exitInfo(): string | undefined;
}

const IS_TS = import.meta.url.endsWith(".ts");
// test/lab/vipd-agent.ts -> repo root is ../../; dist/test/lab/vipd-agent.js -> ../../../.
const REPO = fileURLToPath(new URL(IS_TS ? "../../" : "../../../", import.meta.url));
const STATES = new Set<string>(["initialize", "backup", "fencing", "master", "fault"]);

// Temp dirs of agents still running, removed at process exit too (Ctrl-C of the demo: the lab's own
// exit hook kills the agents, so their 'close' events never run).
const liveDirs = new Set<string>();
let exitHookInstalled = false;
function trackDir(dir: string): void {
  liveDirs.add(dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
  });
}
function releaseDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

const durationText = (ms: number) => `${ms}ms`;

/** The vipd.yaml for these options (exported for tests). */
export function renderVipdConfig(host: LabHost, dir: string, o: VipdOptions): string {
  if (o.instances.length === 0) throw new Error("a vipd config needs at least one instance");
  const instances: Record<string, Record<string, unknown>> = {};
  for (const i of o.instances) {
    if (instances[i.name] !== undefined) throw new Error(`instance ${i.name} is given twice`);
    const inst: Record<string, unknown> = {
      interface: i.interface ?? host.ifname,
      vrid: i.vrid,
      priority: i.priority,
      advert_interval: durationText(i.advertIntervalMs),
      version: i.version ?? 3,
      virtual_ips: i.virtualIps,
    };
    if (i.nopreempt !== undefined) inst.nopreempt = i.nopreempt;
    if (i.preemptDelayMs !== undefined) inst.preempt_delay = durationText(i.preemptDelayMs);
    if (i.unicastPeers !== undefined) inst.unicast_peers = i.unicastPeers;
    if (i.unicastSrcIp !== undefined) inst.unicast_src_ip = i.unicastSrcIp;
    if (i.checksum !== undefined) inst.checksum = i.checksum;
    if (i.accept !== undefined) inst.accept = i.accept;
    instances[i.name] = { ...inst, ...i.extra };
  }
  const global = {
    router_id: host.name,
    control_socket: join(dir, "vipd.sock"),
    metrics_listen: false,
    ...o.global,
  };
  return stringify({ global, ...o.top, instances });
}

function argvFor(mode: "src" | "dist", configPath: string, logLevel: string): string[] {
  const args = ["run", "--config", configPath, "--log-level", logLevel];
  if (mode === "src") return [process.execPath, "--import", "tsx", join(REPO, "src/cli/main.ts"), ...args];
  // The same flags as the bin's shebang and the unit's NODE_OPTIONS, and the unit's malloc
  // settings (arena limit, fixed mmap threshold), so the lab and the bench run vipd as production does.
  return [
    "env",
    "MALLOC_ARENA_MAX=2",
    "MALLOC_MMAP_THRESHOLD_=65536",
    process.execPath,
    "--max-semi-space-size=1",
    "--v8-pool-size=1",
    "--expose-gc",
    join(REPO, "bin/vipd.js"),
    ...args,
  ];
}

/** Starts vipd in host's namespace; resolves once it logged "vipd running". */
export async function startVipd(host: LabHost, o: VipdOptions): Promise<VipdAgent> {
  const dir = mkdtempSync(join(tmpdir(), "vipd-agent-"));
  trackDir(dir);
  let configText: string;
  try {
    configText = renderVipdConfig(host, dir, o);
  } catch (e) {
    releaseDir(dir);
    throw e;
  }
  const configPath = join(dir, "vipd.yaml");
  writeFileSync(configPath, configText);
  const mode = o.mode ?? (IS_TS ? "src" : "dist");
  // tsx resolves its loader from the working directory's node_modules: run from the repo.
  const child = host.spawn([
    "sh",
    "-c",
    'cd "$1" && shift && exec "$@"',
    "sh",
    REPO,
    ...argvFor(mode, configPath, o.logLevel ?? "info"),
  ]);
  const lines: VipdLogLine[] = [];
  const other: string[] = [];
  const transitions: VipdTransition[] = [];
  const states = new Map<string, VipdState>();
  const waiters = new Waiters();
  let exitInfo: string | undefined;
  let exitCode: number | null = null;
  const onStdout = (text: string) => {
    const atMs = Date.now();
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(text) as Record<string, unknown>;
    } catch {
      other.push(text);
      waiters.notify();
      return;
    }
    const line: VipdLogLine = {
      // pino's own stamp (Date.now() inside vipd when it logged) beats the arrival time here.
      atMs: typeof obj.time === "number" ? obj.time : atMs,
      level: typeof obj.level === "number" ? obj.level : 0,
      msg: typeof obj.msg === "string" ? obj.msg : "",
      instance: typeof obj.instance === "string" ? obj.instance : undefined,
      fields: obj,
    };
    lines.push(line);
    const { from, to, reason } = obj;
    if (
      line.instance !== undefined &&
      typeof from === "string" &&
      typeof to === "string" &&
      STATES.has(from) &&
      STATES.has(to)
    ) {
      const t: VipdTransition = {
        instance: line.instance,
        from: from as VipdState,
        to: to as VipdState,
        reason: typeof reason === "string" ? reason : "",
        atMs,
      };
      transitions.push(t);
      states.set(t.instance, t.to);
    }
    waiters.notify();
  };
  if (child.stdout) createInterface({ input: child.stdout }).on("line", onStdout);
  if (child.stderr)
    createInterface({ input: child.stderr }).on("line", (l) => {
      other.push(l);
      waiters.notify();
    });
  const exitedPromise = new Promise<void>((resolve) => {
    child.once("close", (code, signal) => {
      exitCode = code;
      exitInfo = signal ? `signal ${signal}` : `code ${code}`;
      releaseDir(dir);
      waiters.notify();
      resolve();
    });
  });

  const tail = () =>
    [
      ...lines.slice(-15).map((l) => `${l.instance ?? "-"}: ${l.msg}`),
      ...other.slice(-10).map((l) => `(out) ${l}`),
    ].join("\n");
  const waitFor = <T>(what: string, timeoutMs: number, check: () => T | undefined): Promise<T> =>
    waiters.until(timeoutMs, check, {
      ended: () =>
        exitInfo === undefined
          ? undefined
          : `vipd on ${host.name} exited (${exitInfo}) before ${what}; log tail:\n${tail()}`,
      timedOut: () => `no ${what} from vipd on ${host.name} within ${timeoutMs} ms; log tail:\n${tail()}`,
    });

  const signalGroup = (sig: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
    }
  };
  const stopWith = async (first: NodeJS.Signals, graceMs: number) => {
    if (exitInfo === undefined) {
      // The process itself, not its group: vipd must do its own cleanup on SIGTERM.
      if (first === "SIGKILL") signalGroup("SIGKILL");
      else if (child.pid !== undefined) process.kill(child.pid, first);
      const timer = setTimeout(() => signalGroup("SIGKILL"), graceMs);
      await exitedPromise;
      clearTimeout(timer);
    }
  };

  const agent: VipdAgent = {
    host,
    dir,
    configPath,
    configText,
    child,
    state: (instance) => states.get(instance),
    transitions: () => transitions,
    logs: () => lines,
    otherOutput: () => other,
    waitForState: (instance, state, w) =>
      waitFor(`${instance} -> ${state}`, w?.timeoutMs ?? 10_000, () =>
        transitions.find((t) => t.instance === instance && t.to === state && t.atMs >= (w?.sinceMs ?? 0)),
      ),
    waitForLog: (what, match, w) =>
      waitFor(what, w?.timeoutMs ?? 10_000, () => lines.find((l) => l.atMs >= (w?.sinceMs ?? 0) && match(l))),
    stop: async (s) => {
      await stopWith("SIGTERM", s?.graceMs ?? 5000);
      return exitCode;
    },
    kill: () => stopWith("SIGKILL", 0),
    exited: () => exitInfo !== undefined,
    exitInfo: () => exitInfo,
  };
  try {
    await waitFor("'vipd running'", o.startTimeoutMs ?? 15_000, () =>
      lines.some((l) => l.msg === "vipd running") ? true : undefined,
    );
  } catch (e) {
    await agent.kill();
    throw e;
  }
  return agent;
}

// --- small lab helpers shared by the vipd lab tests and the demo ---------------------------------

/** RFC 9568 Skew_Time for a backup of this priority: ((256 - Priority) * Master_Adver_Interval) / 256. */
export function skewTimeMs(adverIntervalMs: number, backupPriority: number): number {
  return ((256 - backupPriority) * adverIntervalMs) / 256;
}

/** RFC 9568 Master_Down_Interval: 3 * Master_Adver_Interval + Skew_Time. */
export function masterDownIntervalMs(adverIntervalMs: number, backupPriority: number): number {
  return 3 * adverIntervalMs + skewTimeMs(adverIntervalMs, backupPriority);
}

/** Addresses on host's eth0 ("ip/prefix"). */
export async function hostAddresses(host: LabHost): Promise<string[]> {
  const r = await host.exec(["ip", "-j", "addr", "show", "dev", host.ifname]);
  if (r.code !== 0) throw new Error(`ip addr in ${host.ns} failed: ${r.stderr.trim()}`);
  const parsed = JSON.parse(r.stdout || "[]") as { addr_info?: { local?: string; prefixlen?: number }[] }[];
  return (parsed[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

/** Names of the hosts whose eth0 holds ip (with or without a prefix length). */
export async function vipHolders(hosts: readonly LabHost[], ip: string): Promise<string[]> {
  const bare = ip.split("/")[0];
  const out: string[] = [];
  for (const h of hosts) if ((await hostAddresses(h)).some((a) => a.split("/")[0] === bare)) out.push(h.name);
  return out;
}

/** Polls check every intervalMs until it returns a value other than undefined; rejects after timeoutMs. */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  o?: { timeoutMs?: number; intervalMs?: number },
): Promise<T> {
  const timeoutMs = o?.timeoutMs ?? 5000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) throw new Error(`${what}: not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, o?.intervalMs ?? 25));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
