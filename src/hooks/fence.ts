// Fencing before takeover. On the core's requestFence: wait the configured delay (fixed + random, so
// that in a two-node split the preferred node wins the race), check the witness when there is one,
// then run level 1's agents in order (all must succeed), else level 2's, and so on. Agents speak the
// fence-agent protocol of Pacemaker's fence_* programs: key=value lines on stdin (action=off, the
// peer as nodename/plug/ip, then the configured options, which override those defaults), exit 0 =
// fenced. A timeout is a failure and kills the agent's process group. The outcome goes back to the
// router as `fenceResult`; cancelFence kills a running agent and drops the result. Retries with
// back-off are the core's (fenceRetryMs .. fenceRetryMaxMs).
//
// The peer's MAC (when the kernel's neighbour table has one, see Hooks) reaches agents only as
// VIPD_PEER_MAC: the fence-agent protocol has no standard key for the target's MAC (plug/port name
// the node or outlet, ip/ipaddr the fence device itself), so none is invented on stdin.

import type { Logger } from "pino";

import type { FenceAgentConfig, FenceConfig, WitnessConfig } from "../config/types.js";
import type { Input } from "../core/types.js";
import type { FenceAgentOutcome, FenceAttempt, FenceOutcome } from "../runtime/status.js";
import { describeRun, HOOK_PATH, type RunOptions, type RunResult, runOk, runProgram } from "./process.js";
import type { ScriptUser } from "./script-security.js";
import type { CheckOutcome } from "./trackers/periodic.js";
import { describeWitness, witnessCheck } from "./witness.js";

export interface FencerDeps {
  logger: Logger;
  input(instance: string, input: Input): boolean;
  user?: ScriptUser;
  /** Injected for tests. */
  run?: (argv: string[], o: RunOptions) => Promise<RunResult>;
  random?: () => number;
  witnessCheck?: (signal: AbortSignal) => Promise<CheckOutcome>;
  /** Every finished attempt, cancelled ones included (status history, metrics). */
  onAttempt?: (attempt: FenceAttempt) => void;
}

export interface FenceTarget {
  peer: string;
  peerMac?: string;
}

/** The stdin text for one agent: defaults first, configured options override them. */
export function fenceStdin(agent: FenceAgentConfig, target: FenceTarget, nodeName: string): string {
  const lines = new Map<string, string>([
    ["action", "off"],
    ["nodename", nodeName],
    ["plug", nodeName],
    ["ip", target.peer],
  ]);
  for (const [k, v] of Object.entries(agent.args)) lines.set(k, v);
  return [...lines].map(([k, v]) => `${k}=${v}\n`).join("");
}

export class Fencer {
  readonly instance: string;
  readonly #fence: FenceConfig | null;
  readonly #witness: WitnessConfig | null;
  readonly #d: FencerDeps;
  #job: AbortController | null = null;
  /** Finished jobs (tests). */
  readonly history: { ok: boolean; detail: string; durationMs: number }[] = [];

  constructor(instance: string, fence: FenceConfig | null, witness: WitnessConfig | null, deps: FencerDeps) {
    this.instance = instance;
    this.#fence = fence;
    this.#witness = witness;
    this.#d = deps;
  }

  get running(): boolean {
    return this.#job !== null;
  }

  /** Starts a fence of `target`, replacing (and killing) one in progress. */
  request(target: FenceTarget): Promise<void> {
    this.#job?.abort();
    const job = new AbortController();
    this.#job = job;
    const attempt: FenceAttempt = {
      startedAt: new Date().toISOString(),
      peer: target.peer,
      peerMac: target.peerMac ?? null,
      node: null,
      outcome: "cancelled",
      level: null,
      agents: [],
      durationMs: 0,
      detail: "",
    };
    const started = performance.now();
    return this.#run(target, job.signal, attempt).then((r) => {
      if (this.#job === job) this.#job = null;
      attempt.durationMs = Math.round(performance.now() - started);
      if (r === null) {
        attempt.outcome = "cancelled";
        attempt.detail = "cancelled";
        this.#d.onAttempt?.(attempt);
        return;
      }
      attempt.outcome = r.outcome;
      attempt.detail = r.detail;
      this.#d.onAttempt?.(attempt);
      this.history.push({ ok: r.ok, detail: r.detail, durationMs: r.durationMs });
      this.#d.input(this.instance, { type: "fenceResult", ok: r.ok, detail: r.detail });
    });
  }

  /** cancelFence: kills the running agent; its result is never delivered. */
  cancel(): void {
    if (!this.#job) return;
    this.#d.logger.info({ instance: this.instance }, "fence cancelled");
    this.#job.abort();
    this.#job = null;
  }

  /** One attempt; fills `attempt` (node, level, agent runs) on the way; null when cancelled. */
  async #run(
    target: FenceTarget,
    signal: AbortSignal,
    attempt: FenceAttempt,
  ): Promise<{ ok: boolean; outcome: FenceOutcome; detail: string; durationMs: number } | null> {
    const log = this.#d.logger.child({
      instance: this.instance,
      peer: target.peer,
      ...(target.peerMac === undefined ? {} : { peerMac: target.peerMac }),
    });
    const started = performance.now();
    const done = (outcome: FenceOutcome, detail: string) => {
      const ok = outcome === "ok";
      const durationMs = Math.round(performance.now() - started);
      if (ok) log.info({ durationMs }, `fence of ${target.peer} succeeded: ${detail}`);
      else log.warn({ durationMs, outcome }, `fence of ${target.peer} failed: ${detail}`);
      return { ok, outcome, detail, durationMs };
    };
    const f = this.#fence;
    if (f) {
      const delay = f.delayMs + Math.floor((this.#d.random ?? Math.random)() * f.randomDelayMs);
      if (delay > 0) {
        log.info({ delayMs: delay }, "fence delay");
        if (!(await sleep(delay, signal))) return null;
      }
    }
    if (this.#witness) {
      const check = this.#d.witnessCheck ?? witnessCheck(this.#witness);
      const r = await check(signal);
      if (signal.aborted) return null;
      const what = describeWitness(this.#witness);
      if (!r.ok)
        return done("witness-down", `witness ${what} does not answer (${r.detail}): not taking over`);
      log.info({ witness: what }, "witness answers");
      if (!f) return done("ok", `witness ${what} answers`);
    }
    if (!f) return done("failed", "no fence configured");
    const nodeName = f.nodes[target.peer] ?? target.peer;
    attempt.node = nodeName;
    const failures: string[] = [];
    for (const [i, level] of f.levels.entries()) {
      let levelOk = true;
      attempt.level = i + 1;
      for (const agent of level) {
        const r = await this.#agent(agent, target, nodeName, signal);
        if (r.type === "cancelled" || signal.aborted) return null;
        attempt.agents.push({
          level: i + 1,
          agent: agent.agent,
          outcome: agentOutcome(r),
          detail: describeRun(r),
          durationMs: Math.round(r.durationMs),
        });
        const outcome = `${agent.agent}: ${describeRun(r)}`;
        if (!runOk(r)) {
          log.warn(
            { level: i + 1, agent: agent.agent, outcome, stderr: r.stderr.trim() },
            "fence agent failed",
          );
          failures.push(`level ${i + 1} ${outcome}`);
          levelOk = false;
          break;
        }
        log.info({ level: i + 1, agent: agent.agent, outcome }, "fence agent succeeded");
      }
      if (levelOk) return done("ok", `level ${i + 1} (${nodeName})`);
    }
    const timedOut = attempt.agents.filter((a) => a.outcome !== "ok").every((a) => a.outcome === "timeout");
    return done(timedOut && attempt.agents.length > 0 ? "timeout" : "failed", failures.join("; "));
  }

  #agent(
    agent: FenceAgentConfig,
    target: FenceTarget,
    nodeName: string,
    signal: AbortSignal,
  ): Promise<RunResult> {
    const user = this.#d.user;
    return (this.#d.run ?? runProgram)([agent.agent], {
      timeoutMs: agent.timeoutMs,
      stdin: fenceStdin(agent, target, nodeName),
      env: {
        PATH: HOOK_PATH,
        VIPD_INSTANCE: this.instance,
        VIPD_PEER: target.peer,
        VIPD_PEER_MAC: target.peerMac ?? "",
        VIPD_PEER_NAME: nodeName,
      },
      signal,
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
  }
}

function agentOutcome(r: RunResult): FenceAgentOutcome {
  if (runOk(r)) return "ok";
  if (r.type === "timeout") return "timeout";
  if (r.type === "spawn-error") return "spawn-error";
  return "failed";
}

function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
