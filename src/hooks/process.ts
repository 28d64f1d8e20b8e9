// Runs one hook program: argv (never a shell), its own process group, an optional stdin text, a
// timeout and a cancel signal that kill the whole group, bounded output capture, optional uid/gid.

import type * as ChildProcess from "node:child_process";
import { createRequire } from "node:module";

// node:child_process is loaded on the first run, not with the daemon: a config without hook
// programs never needs it, and its load is start-up time before READY (the daemon preloads it
// after READY when the config names programs, so that a first fence agent does not pay it).
const require = createRequire(import.meta.url);
let childProcess: typeof ChildProcess | null = null;

/** node:child_process, loaded on first use. */
export function loadChildProcess(): typeof ChildProcess {
  childProcess ??= require("node:child_process") as typeof ChildProcess;
  return childProcess;
}

/** A clean environment for hooks: a fixed PATH and nothing inherited from the daemon. */
export const HOOK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const OUTPUT_LIMIT = 4096;

export interface RunOptions {
  timeoutMs: number;
  env?: Record<string, string>;
  /** Written to stdin, then stdin is closed; without it stdin is /dev/null. */
  stdin?: string;
  /** Switch to this user before exec (only when it differs from the daemon's own). */
  uid?: number;
  gid?: number;
  signal?: AbortSignal;
}

export interface RunResult {
  /** done = the program exited by itself (see code/signal). */
  type: "done" | "timeout" | "cancelled" | "spawn-error";
  code: number | null;
  signal: string | null;
  /** Set for spawn-error. */
  error: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export function runOk(r: RunResult): boolean {
  return r.type === "done" && r.code === 0;
}

/** One line that says how a run ended. */
export function describeRun(r: RunResult): string {
  const ms = `${Math.round(r.durationMs)} ms`;
  switch (r.type) {
    case "done":
      return r.code !== null ? `exit ${r.code} after ${ms}` : `killed by ${r.signal} after ${ms}`;
    case "timeout":
      return `timed out after ${ms} (process group killed)`;
    case "cancelled":
      return `cancelled after ${ms} (process group killed)`;
    case "spawn-error":
      return `could not start: ${r.error}`;
    default: {
      const never: never = r.type;
      return never;
    }
  }
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch (err) {
    // ESRCH: the group is already gone.
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

/** Never rejects: every way of ending is a RunResult. */
export function runProgram(argv: readonly string[], o: RunOptions): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error("runProgram: empty argv");
  const started = performance.now();
  return new Promise<RunResult>((resolve) => {
    let stdout = "";
    let stderr = "";
    let ending: RunResult["type"] | null = null;
    let settled = false;
    const ids: { uid?: number; gid?: number } = {};
    if (o.uid !== undefined && o.uid !== process.getuid?.()) ids.uid = o.uid;
    if (o.gid !== undefined && o.gid !== process.getgid?.()) ids.gid = o.gid;
    const finish = (r: Omit<RunResult, "stdout" | "stderr" | "durationMs">): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      resolve({ ...r, stdout, stderr, durationMs: performance.now() - started });
    };
    const child = loadChildProcess().spawn(file, args, {
      shell: false,
      detached: true,
      stdio: [o.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: o.env ?? { PATH: HOOK_PATH },
      ...ids,
    });
    const timer = setTimeout(() => {
      ending = "timeout";
      killGroup(child.pid);
    }, o.timeoutMs);
    const onAbort = (): void => {
      ending = "cancelled";
      killGroup(child.pid);
    };
    if (o.signal?.aborted) queueMicrotask(onAbort);
    else o.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout?.on("data", (b: Buffer) => {
      if (stdout.length < OUTPUT_LIMIT) stdout += b.toString("utf8").slice(0, OUTPUT_LIMIT - stdout.length);
    });
    child.stderr?.on("data", (b: Buffer) => {
      if (stderr.length < OUTPUT_LIMIT) stderr += b.toString("utf8").slice(0, OUTPUT_LIMIT - stderr.length);
    });
    if (child.stdin) {
      // EPIPE when the program exits without reading: its exit status is what counts.
      child.stdin.on("error", () => {});
      child.stdin.end(o.stdin);
    }
    child.on("error", (err) => {
      finish({ type: "spawn-error", code: null, signal: null, error: err.message });
    });
    child.on("exit", (code, signal) => {
      // A grandchild may keep the pipes open: the exit is what we wait for.
      child.stdout?.destroy();
      child.stderr?.destroy();
      finish({ type: ending ?? "done", code, signal, error: null });
    });
  });
}
