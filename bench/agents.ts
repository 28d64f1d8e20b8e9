// One interface over the two agents under test, vipd (test/lab/vipd-agent.ts) and Debian's
// keepalived (test/lab/keepalived.ts), so every scenario runs the same steps on both.
import { join } from "node:path";
import { controlRequest } from "../src/runtime/control-client.js";
import type { DaemonStatus } from "../src/runtime/status.js";
import { startKeepalived } from "../test/lab/keepalived.js";
import type { LabHost } from "../test/lab/netns.js";
import { startVipd, type VipdLogLine } from "../test/lab/vipd-agent.js";

export type AgentKind = "vipd" | "keepalived";
export const AGENT_KINDS: readonly AgentKind[] = ["vipd", "keepalived"];

export interface BenchInstance {
  name: string;
  vrid: number;
  priority: number;
  advertIntMs: number;
  /** With a prefix length. */
  vip: string;
}

export type AgentState = "master" | "backup" | "other";

export interface AgentTransition {
  instance: string;
  to: AgentState;
  atMs: number;
}

/** vipd's own failover timeline (log line "failover timeline"), durations in ms. */
export interface VipdTimeline {
  instance: string;
  atMs: number;
  lastAdvertToTransition: number | null;
  transitionToVipAdded: number | null;
  vipAddedToFirstAnnounce: number | null;
  lastAdvertToFirstAnnounce: number | null;
}

export interface BenchAgent {
  kind: AgentKind;
  host: LabHost;
  state(instance: string): AgentState | undefined;
  transitions(): readonly AgentTransition[];
  waitState(instance: string, state: AgentState, o: { sinceMs: number; timeoutMs: number }): Promise<number>;
  timelines(): VipdTimeline[];
  /** Graceful: SIGTERM (priority 0, VIPs removed). */
  stop(): Promise<void>;
  /** Crash: SIGKILL. */
  kill(): Promise<void>;
  exited(): boolean;
  /** Extra log text for error messages. */
  tail(): string;
  /** vipd's control-socket status (timer kind, worst lateness); null for keepalived. */
  status(): Promise<DaemonStatus | null>;
}

export interface StartOptions {
  instances: BenchInstance[];
  env?: Record<string, string>;
  /** Passed to vipd's `global` (snake_case keys). */
  vipdGlobal?: Record<string, unknown>;
  startTimeoutMs?: number;
}

const lower = (s: string): AgentState => {
  const l = s.toLowerCase();
  return l === "master" || l === "backup" ? l : "other";
};

function waitPoll<T>(
  what: string,
  timeoutMs: number,
  check: () => T | undefined,
  tail: () => string,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const tick = () => {
      const v = check();
      if (v !== undefined) resolve(v);
      else if (Date.now() > deadline) reject(new Error(`no ${what} within ${timeoutMs} ms\n${tail()}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

/**
 * Starts an agent. `env` reaches the agent because both lab helpers spawn synchronously before their
 * first await and the lab's spawn copies process.env at that moment: the variables are set around
 * that synchronous part only.
 */
export function startAgent(kind: AgentKind, host: LabHost, o: StartOptions): Promise<BenchAgent> {
  const saved = new Map<string, string | undefined>();
  for (const [k, v] of Object.entries(o.env ?? {})) {
    saved.set(k, process.env[k]);
    process.env[k] = v;
  }
  try {
    return startAgentInner(kind, host, o);
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

async function startAgentInner(kind: AgentKind, host: LabHost, o: StartOptions): Promise<BenchAgent> {
  if (kind === "keepalived") {
    const ka = await startKeepalived(host, {
      instances: o.instances.map((i) => ({
        name: i.name,
        vrid: i.vrid,
        priority: i.priority,
        advertIntMs: i.advertIntMs,
        version: 3 as const,
        virtualIps: [i.vip],
      })),
    });
    const transitions = (): AgentTransition[] =>
      ka.transitions().map((t) => ({ instance: t.instance, to: lower(t.state), atMs: t.atMs }));
    const tail = () => ka.log().slice(-10).join("\n");
    return {
      kind,
      host,
      state: (i) => {
        const s = ka.state(i);
        return s === undefined ? undefined : lower(s);
      },
      transitions,
      waitState: (i, s, w) =>
        waitPoll(
          `keepalived ${i} ${s} on ${host.name}`,
          w.timeoutMs,
          () => transitions().find((t) => t.instance === i && t.to === s && t.atMs >= w.sinceMs)?.atMs,
          tail,
        ),
      timelines: () => [],
      stop: () => ka.stop(),
      kill: () => ka.kill(),
      exited: () => ka.exited(),
      tail,
      status: () => Promise.resolve(null),
    };
  }
  const agent = await startVipd(host, {
    instances: o.instances.map((i) => ({
      name: i.name,
      vrid: i.vrid,
      priority: i.priority,
      advertIntervalMs: i.advertIntMs,
      version: 3,
      virtualIps: [i.vip],
    })),
    ...(o.vipdGlobal ? { global: o.vipdGlobal } : {}),
    ...(o.startTimeoutMs ? { startTimeoutMs: o.startTimeoutMs } : {}),
  });
  const transitions = (): AgentTransition[] =>
    agent.transitions().map((t) => ({ instance: t.instance, to: lower(t.to), atMs: t.atMs }));
  const num = (v: unknown): number | null => (typeof v === "number" ? v : null);
  const tail = () =>
    agent
      .logs()
      .slice(-10)
      .map((l: VipdLogLine) => `${l.instance ?? "-"}: ${l.msg}`)
      .concat(agent.otherOutput().slice(-5))
      .join("\n");
  return {
    kind,
    host,
    state: (i) => {
      const s = agent.state(i);
      return s === undefined ? undefined : lower(s);
    },
    transitions,
    waitState: (i, s, w) =>
      waitPoll(
        `vipd ${i} ${s} on ${host.name}`,
        w.timeoutMs,
        () => transitions().find((t) => t.instance === i && t.to === s && t.atMs >= w.sinceMs)?.atMs,
        tail,
      ),
    timelines: () =>
      agent
        .logs()
        .filter((l) => l.msg === "failover timeline" && l.instance !== undefined)
        .map((l) => {
          const t = (l.fields.timeline ?? {}) as Record<string, unknown>;
          return {
            instance: l.instance!,
            atMs: l.atMs,
            lastAdvertToTransition: num(t.lastAdvertToTransition),
            transitionToVipAdded: num(t.transitionToVipAdded),
            vipAddedToFirstAnnounce: num(t.vipAddedToFirstAnnounce),
            lastAdvertToFirstAnnounce: num(t.lastAdvertToFirstAnnounce),
          };
        }),
    stop: async () => {
      await agent.stop();
    },
    kill: () => agent.kill(),
    exited: () => agent.exited(),
    tail,
    status: async () =>
      (await controlRequest(
        join(agent.dir, "vipd.sock"),
        { cmd: "status" },
        { timeoutMs: 5000 },
      )) as DaemonStatus,
  };
}
