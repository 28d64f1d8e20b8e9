// Notifications: one FIFO queue per instance and per sync group. Events are numbered when they
// happen and delivered one at a time, in order; each script run has a timeout that kills its process
// group and a bounded number of retries; every outcome is logged. Queuing never blocks the caller,
// so a slow script cannot delay a takeover.

import type { Logger } from "pino";

import type { NotifyConfig } from "../config/types.js";
import type { NotifyEvent, RouterState } from "../core/types.js";
import type { NotifyStats } from "../runtime/status.js";
import { describeRun, HOOK_PATH, type RunOptions, type RunResult, runOk, runProgram } from "./process.js";
import type { ScriptUser } from "./script-security.js";

/** Jobs waiting beyond this are dropped (and logged): a stuck script must not grow memory forever. */
export const NOTIFY_QUEUE_LIMIT = 256;

export interface NotifyRun {
  argv: string[];
  env: Record<string, string>;
}

export interface NotifyJob {
  seq: number;
  event: NotifyEvent;
  runs: NotifyRun[];
}

export interface NotifyQueueOptions {
  name: string;
  logger: Logger;
  timeoutMs: number;
  /** Extra attempts after a failure. */
  retries: number;
  retryDelayMs?: number;
  user?: ScriptUser;
  /** Injected for tests; default runProgram. */
  run?: (argv: string[], o: RunOptions) => Promise<RunResult>;
}

export class NotifyQueue {
  readonly #o: NotifyQueueOptions;
  readonly #jobs: NotifyJob[] = [];
  #busy = false;
  #stopped = false;
  #abort = new AbortController();
  readonly #idle: (() => void)[] = [];
  /** Script runs that exited 0. */
  delivered = 0;
  /** Script runs that still failed after the last retry. */
  failed = 0;
  /** Events dropped because the queue was full. */
  dropped = 0;
  /** Attempts killed at the timeout (each attempt counts). */
  timedOut = 0;
  /** Extra attempts after a failure. */
  retried = 0;
  /** The last event whose runs all finished (delivered or given up). */
  lastDoneSeq: number | null = null;

  constructor(o: NotifyQueueOptions) {
    this.#o = o;
  }

  get pending(): number {
    return this.#jobs.length + (this.#busy ? 1 : 0);
  }

  push(job: NotifyJob): void {
    if (this.#stopped || job.runs.length === 0) return;
    if (this.#jobs.length >= NOTIFY_QUEUE_LIMIT) {
      this.dropped++;
      this.#o.logger.error(
        { queue: this.#o.name, seq: job.seq, event: job.event },
        "notify queue full: event dropped",
      );
      return;
    }
    this.#jobs.push(job);
    if (!this.#busy) {
      this.#drain().catch((err: unknown) => {
        this.#o.logger.fatal({ err }, "notify queue crashed");
        throw err;
      });
    }
  }

  /** The counters for status and metrics; lastEventSeq is numbered by the caller (Hooks). */
  stats(lastEventSeq: number): NotifyStats {
    return {
      delivered: this.delivered,
      failed: this.failed,
      timedOut: this.timedOut,
      retried: this.retried,
      dropped: this.dropped,
      pending: this.pending,
      lastEventSeq,
      lastDoneSeq: this.lastDoneSeq,
    };
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (!this.#busy && this.#jobs.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Drops what is queued and kills what runs. */
  stop(): void {
    this.#stopped = true;
    this.#jobs.length = 0;
    this.#abort.abort();
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      for (let job = this.#jobs.shift(); job !== undefined; job = this.#jobs.shift()) {
        for (const run of job.runs) await this.#runOne(job, run);
        if (!this.#stopped) this.lastDoneSeq = job.seq;
      }
    } finally {
      this.#busy = false;
      for (const r of this.#idle.splice(0)) r();
    }
  }

  async #runOne(job: NotifyJob, run: NotifyRun): Promise<void> {
    const o = this.#o;
    const exec = o.run ?? runProgram;
    const attempts = 1 + o.retries;
    for (let attempt = 1; attempt <= attempts && !this.#stopped; attempt++) {
      const r = await exec(run.argv, {
        timeoutMs: o.timeoutMs,
        env: { ...run.env, VIPD_ATTEMPT: String(attempt) },
        signal: this.#abort.signal,
        ...(o.user ? { uid: o.user.uid, gid: o.user.gid } : {}),
      });
      const info = {
        queue: o.name,
        seq: job.seq,
        event: job.event,
        script: run.argv[0],
        attempt,
        outcome: describeRun(r),
        ...(r.stderr ? { stderr: r.stderr.trim() } : {}),
      };
      if (r.type === "timeout") this.timedOut++;
      if (runOk(r)) {
        this.delivered++;
        o.logger.info(info, `notify ${job.event} #${job.seq}: ${run.argv[0]} ok`);
        return;
      }
      if (r.type === "cancelled") return;
      if (attempt < attempts) {
        o.logger.warn(info, `notify ${job.event} #${job.seq}: ${run.argv[0]} failed, retrying`);
        await new Promise((res) => setTimeout(res, o.retryDelayMs ?? 500));
        if (!this.#stopped) this.retried++;
      } else {
        this.failed++;
        o.logger.error(info, `notify ${job.event} #${job.seq}: ${run.argv[0]} failed, giving up`);
      }
    }
  }
}

const STATE_EVENTS = new Set<NotifyEvent>(["master", "backup", "fault", "stop"]);

/** The per-event script key of a NotifyConfig. */
function specificScript(n: NotifyConfig, event: NotifyEvent): string | null {
  switch (event) {
    case "master":
      return n.master;
    case "backup":
      return n.backup;
    case "fault":
      return n.fault;
    case "stop":
      return n.stop;
    case "fence_started":
      return n.fenceStarted;
    case "fence_failed":
      return n.fenceFailed;
    case "split_brain":
      return n.splitBrain;
    case "master_rx_lower_pri":
      return n.masterRxLowerPri;
    default: {
      const never: never = event;
      return never;
    }
  }
}

export interface EventContext {
  kind: "INSTANCE" | "GROUP";
  name: string;
  event: NotifyEvent;
  seq: number;
  oldState: RouterState | string;
  newState: RouterState | string;
  reason: string;
  priority: number;
  peer: string | null;
  /** Extra VIPD_* variables (router id, vrid, interface, VIPs, member instance for groups). */
  extra: Record<string, string>;
  now: Date;
}

/**
 * The script runs for one event, in order: the per-event script (no arguments, as keepalived's
 * notify_master), the generic `notify` for the four state events with keepalived's argv
 * (INSTANCE|GROUP name STATE [priority]), then `notify_event` for every event (same argv shape,
 * the event's name in capitals). All get the same VIPD_* environment.
 */
export function notifyRuns(n: NotifyConfig, c: EventContext): NotifyRun[] {
  const env: Record<string, string> = {
    PATH: HOOK_PATH,
    VIPD_EVENT: c.event,
    [c.kind === "INSTANCE" ? "VIPD_INSTANCE" : "VIPD_GROUP"]: c.name,
    VIPD_OLD_STATE: String(c.oldState),
    VIPD_NEW_STATE: String(c.newState),
    VIPD_REASON: c.reason,
    VIPD_PEER: c.peer ?? "",
    VIPD_PRIORITY: String(c.priority),
    VIPD_EVENT_SEQ: String(c.seq),
    VIPD_TIMESTAMP: c.now.toISOString(),
    VIPD_TIMESTAMP_MS: String(c.now.getTime()),
    ...c.extra,
  };
  const tail = (word: string): string[] =>
    c.kind === "INSTANCE" ? [c.kind, c.name, word, String(c.priority)] : [c.kind, c.name, word];
  const runs: NotifyRun[] = [];
  const specific = specificScript(n, c.event);
  if (specific !== null) runs.push({ argv: [specific], env });
  if (n.any !== null && STATE_EVENTS.has(c.event))
    runs.push({ argv: [n.any, ...tail(c.event.toUpperCase())], env });
  if (n.event !== null) runs.push({ argv: [n.event, ...tail(c.event.toUpperCase())], env });
  return runs;
}
