// Failover drills, independent of where they run: the netns lab (CI) and the Vagrant lab share this
// code through the DrillEnv interface. A drill: settle on a master, start a client loop against the
// VIP, inject a fault on the master, wait for the other node to take over, read its failover
// timeline, stop the client, repair, and report.
//
// The client loop prints one line per request: "<epoch ms> ok <server>" or "<epoch ms> fail <error>"
// (client-loop.ts in the lab, vagrant/client-loop.sh on the VMs); parseClientLines() turns them
// into the client's view of the drill.

export const SCENARIOS = ["kill-9", "stop", "link-down", "service-down", "reboot"] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface NodeStatus {
  state: string | null;
  /** The failover timeline of the last takeover, as in `vipd status --json`. */
  lastTimeline: {
    startedAt: string;
    reason: string;
    complete: boolean;
    durations: { lastAdvertToTransition: number | null; lastAdvertToFirstAnnounce: number | null };
  } | null;
}

export interface ClientRun {
  /** Stops the loop and resolves with its output lines. */
  stop(): Promise<string[]>;
}

export interface DrillEnv {
  readonly name: string;
  /** The two balancers, e.g. ["lb1", "lb2"]. */
  readonly nodes: readonly [string, string];
  readonly vip: string;
  /** The nodes whose interface holds the VIP. */
  vipHolders(): Promise<string[]>;
  status(node: string, instance: string): Promise<NodeStatus | null>;
  startClient(o: { maxMs: number }): Promise<ClientRun>;
  fault(node: string, s: Scenario): Promise<void>;
  repair(node: string, s: Scenario): Promise<void>;
  log(line: string): void;
  /**
   * What a node's agent did since sinceMs (epoch ms): its state transitions and its last log
   * lines, one per entry, for a drill report to explain itself. Optional (the Vagrant lab has no
   * agent log at hand).
   */
  trace?(node: string, sinceMs: number): string[];
}

export interface ClientSummary {
  requests: number;
  failures: number;
  /** Longest time without a successful answer, from the fault on (ms). */
  outageMs: number;
  /** Servers that answered, in order of first answer. */
  servers: string[];
  /** The first answer from the new master after the fault, relative to the fault (ms). */
  firstAnswerFromNewMs: number | null;
}

export interface DrillReport {
  env: string;
  scenario: Scenario;
  from: string;
  to: string | null;
  ok: boolean;
  /** The new master's timeline: old master's last advert -> takeover decision. */
  timeToDetectMs: number | null;
  /** Old master's last advert -> first GARP/NA. */
  timeToFailoverMs: number | null;
  /** Fault injected -> the new master holds the VIP (as seen by polling). */
  faultToVipMs: number | null;
  client: ClientSummary;
  /** True when at least one client request failed. */
  clientLostConnection: boolean;
  notes: string[];
  /** Each node's transitions and last log lines from shortly before the fault (when the env has them). */
  trace: Record<string, string[]>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    const v = await check();
    if (v !== null) return v;
    if (Date.now() >= deadline) break;
    await sleep(20);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

export function parseClientLines(
  lines: readonly string[],
  faultAtMs: number,
  newMaster: string | null,
): ClientSummary {
  const reqs = lines
    .map((l) => /^(\d+) (ok|fail) ?(.*)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ at: Number(m[1]), ok: m[2] === "ok", what: m[3] ?? "" }));
  const servers: string[] = [];
  let lastOk = faultAtMs;
  let outage = 0;
  let firstNew: number | null = null;
  for (const r of reqs) {
    if (!r.ok) continue;
    if (!servers.includes(r.what)) servers.push(r.what);
    if (r.at >= faultAtMs) {
      outage = Math.max(outage, r.at - lastOk);
      lastOk = r.at;
      if (firstNew === null && newMaster !== null && r.what === newMaster) firstNew = r.at - faultAtMs;
    }
  }
  return {
    requests: reqs.length,
    failures: reqs.filter((r) => !r.ok).length,
    outageMs: outage,
    servers,
    firstAnswerFromNewMs: firstNew,
  };
}

/** Runs one drill. The env must be healthy (both nodes running) before and is repaired after. */
export async function runDrill(
  env: DrillEnv,
  scenario: Scenario,
  o: {
    instance: string;
    /** Wait until this node is the only VIP holder before the fault (after a repair, preempt). */
    expectMaster?: string;
    settleMs?: number;
    failoverTimeoutMs?: number;
    clientMaxMs?: number;
  },
): Promise<DrillReport> {
  const notes: string[] = [];
  const from = await waitFor(
    `exactly one VIP holder${o.expectMaster ? ` (${o.expectMaster})` : ""}`,
    20_000,
    async () => {
      const h = await env.vipHolders();
      return h.length === 1 && (o.expectMaster === undefined || h[0] === o.expectMaster)
        ? (h[0] ?? null)
        : null;
    },
  );
  const other = env.nodes.find((n) => n !== from) ?? null;
  if (other === null) throw new Error(`vip holder ${from} is not one of ${env.nodes.join(", ")}`);
  await waitFor(`${other} is backup`, 20_000, async () =>
    (await env.status(other, o.instance))?.state === "backup" ? true : null,
  );
  const before = (await env.status(other, o.instance))?.lastTimeline?.startedAt ?? null;
  const client = await env.startClient({ maxMs: o.clientMaxMs ?? 30_000 });
  await sleep(o.settleMs ?? 500);

  env.log(`${env.name} ${scenario}: fault on ${from}`);
  const faultAt = Date.now();
  // The fault may take a while to inject (e.g. kill -9 then the ExecStopPost cleanup): watch for
  // the takeover meanwhile.
  const injected = env.fault(from, scenario);
  let to: string | null = null;
  let faultToVipMs: number | null = null;
  try {
    to = await waitFor(`VIP on ${other}`, o.failoverTimeoutMs ?? 15_000, async () =>
      (await env.vipHolders()).includes(other) ? other : null,
    );
    faultToVipMs = Date.now() - faultAt;
  } catch (e) {
    notes.push((e as Error).message);
  } finally {
    await injected;
  }
  // The new master's own account of the takeover.
  let timeline: NodeStatus["lastTimeline"] = null;
  if (to !== null) {
    try {
      timeline = await waitFor("a new timeline", 5000, async () => {
        const t = (await env.status(to as string, o.instance))?.lastTimeline ?? null;
        return t?.complete && t.startedAt !== before ? t : null;
      });
    } catch (e) {
      notes.push((e as Error).message);
    }
  }
  await sleep(1000);
  const lines = await client.stop();
  const summary = parseClientLines(lines, faultAt, to);
  // Before the repair: a restarted agent is a new process with a new log.
  const trace: Record<string, string[]> = {};
  if (env.trace) for (const n of env.nodes) trace[n] = env.trace(n, faultAt - 2000);
  env.log(`${env.name} ${scenario}: repairing ${from}`);
  await env.repair(from, scenario);
  const d = timeline?.durations;
  if (timeline?.reason) notes.push(`takeover reason: ${timeline.reason}`);
  return {
    env: env.name,
    scenario,
    from,
    to,
    ok: to !== null,
    timeToDetectMs: d?.lastAdvertToTransition ?? null,
    timeToFailoverMs: d?.lastAdvertToFirstAnnounce ?? null,
    faultToVipMs,
    client: summary,
    clientLostConnection: summary.failures > 0,
    notes,
    trace,
  };
}

/** A report's trace as text: "node:" then its entries, indented (empty without a trace). */
export function formatTrace(r: DrillReport): string {
  return Object.entries(r.trace)
    .map(([node, entries]) => [`${node}:`, ...entries.map((e) => `  ${e}`)].join("\n"))
    .join("\n");
}

const ms = (v: number | null) => (v === null ? "-" : `${Math.round(v)} ms`);

export function formatReports(reports: readonly DrillReport[]): string {
  const rows = [
    [
      "SCENARIO",
      "FROM",
      "TO",
      "DETECT",
      "FAILOVER",
      "FAULT->VIP",
      "CLIENT OUTAGE",
      "REQ FAILED",
      "LOST CONN",
    ],
    ...reports.map((r) => [
      r.scenario,
      r.from,
      r.to ?? "NONE",
      ms(r.timeToDetectMs),
      ms(r.timeToFailoverMs),
      ms(r.faultToVipMs),
      ms(r.client.outageMs),
      `${r.client.failures}/${r.client.requests}`,
      r.clientLostConnection ? "yes" : "no",
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
