// Operator actions over the control socket: maintenance, verified handover, reload plans, explain.
// Everything goes through the engine's public API (input, status, events, reload); daemon.ts
// registers the handlers.

import type { Logger } from "pino";

import type { VipdConfig } from "../config/types.js";
import type { Input } from "../core/types.js";
import { configToSpecs } from "./config-view.js";
import {
  type DaemonStatus,
  emptyNotifyStats,
  type HooksInstanceStatus,
  type HooksStatus,
  type InstanceStatus,
  type PeerEntry,
} from "./status.js";

/** What `vipd status` answers: the engine's status with maintenance and the hooks' view merged in. */
export type DecoratedStatus = DaemonStatus & {
  instances: (InstanceStatus & { maintenance: boolean } & HooksInstanceStatus)[];
  syncGroups: HooksStatus["syncGroups"];
};

/** The engine as operations see it. */
export interface OperationsEngine {
  status(): DaemonStatus;
  input(instance: string, input: Input): boolean;
  reload(): Promise<boolean>;
}

export type OperationErrorCode =
  | "NO_SUCH_INSTANCE"
  | "NOT_MASTER"
  | "IN_MAINTENANCE"
  | "HANDOVER_BUSY"
  | "BAD_ARGUMENT";

/** An operator error: sent back over the control socket with its code. */
export class OperationError extends Error {
  readonly code: OperationErrorCode;
  constructor(code: OperationErrorCode, message: string) {
    super(message);
    this.name = "OperationError";
    this.code = code;
  }
}

export interface HandoverResult {
  ok: boolean;
  instance: string;
  /** The node that took over, as heard in its adverts. */
  newMaster: string | null;
  newMasterPriority: number | null;
  /** --to as given, and whether the new master is that node. */
  to: string | null;
  toMatched: boolean | null;
  /** Resign to the new master's first advert. */
  tookMs: number | null;
  /** This node will take the VIPs back once it rejoins (higher priority and preempt on). */
  willPreemptBack: boolean;
  message: string;
}

export interface MaintenanceResult {
  on: boolean;
  changed: string[];
  unchanged: string[];
}

export interface ReloadPlan {
  configPath: string;
  instances: {
    added: string[];
    removed: string[];
    /** Identity changed (interface, family, VRID, mode or VIP devices): stopped and started again. */
    replaced: { name: string; why: string }[];
    changed: { name: string; changes: string[]; electionMayChange: boolean }[];
    unchanged: string[];
  };
  vips: {
    added: { vip: string; instance: string }[];
    removed: { vip: string; instance: string }[];
    moved: { vip: string; from: string; to: string }[];
    /** VIPs of replaced instances: released and taken again during the reload. */
    interrupted: { vip: string; instance: string }[];
  };
}

export interface ExplainResult {
  instance: string;
  state: string;
  lines: string[];
}

export interface OperationsOptions {
  engine: OperationsEngine;
  logger: Logger;
  /** Monotonic ms, the clock the engine's peer table uses. */
  now(): number;
  /** The configuration the engine runs now. */
  config(): VipdConfig;
  loadConfig(path: string): Promise<VipdConfig>;
  onResign?(instance: string, reason: "handover" | "maintenance" | "stall"): void;
  /** Poll period while waiting for another master; default 10 ms. */
  pollMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RFC 9568 Master_Down_Interval for a backup of `priority` following a master at `intervalMs`. */
export function masterDownMs(intervalMs: number, priority: number): number {
  return 3 * intervalMs + ((256 - priority) * intervalMs) / 256;
}

export class Operations {
  readonly #o: OperationsOptions;
  readonly #log: Logger;
  /** Instances the operator put in maintenance. */
  readonly #maintenance = new Set<string>();
  /** Instances vipd resigned on its own (handover, stall) and will rejoin. */
  readonly #resigned = new Set<string>();

  constructor(o: OperationsOptions) {
    this.#o = o;
    this.#log = o.logger.child({ component: "operations" });
  }

  inMaintenance(instance: string): boolean {
    return this.#maintenance.has(instance) || this.#resigned.has(instance);
  }

  /**
   * The status with the operator's view added: maintenance per instance, and from the hooks each
   * instance's trackers, fence history and notify delivery, plus the sync groups (empty without hooks).
   */
  decorate(s: DaemonStatus, hooks?: HooksStatus): DecoratedStatus {
    return {
      ...s,
      instances: s.instances.map((i) => {
        const h = hooks?.instances[i.name];
        return {
          ...i,
          maintenance: this.inMaintenance(i.name),
          trackers: h?.trackers ?? [],
          fenceHistory: h?.fenceHistory ?? [],
          notify: h?.notify ?? emptyNotifyStats(),
        };
      }),
      syncGroups: hooks?.syncGroups ?? {},
    };
  }

  #instance(name: string): InstanceStatus {
    const i = this.#o.engine.status().instances.find((x) => x.name === name);
    if (!i) {
      const known = this.#o.engine
        .status()
        .instances.map((x) => x.name)
        .join(", ");
      throw new OperationError("NO_SUCH_INSTANCE", `no instance "${name}" (running: ${known || "none"})`);
    }
    return i;
  }

  // ------------------------------------------------------------------ maintenance

  maintenance(on: boolean, instance: string | null): MaintenanceResult {
    const names = instance === null ? this.#o.engine.status().instances.map((i) => i.name) : [instance];
    if (instance !== null) this.#instance(instance);
    const result: MaintenanceResult = { on, changed: [], unchanged: [] };
    for (const name of names) {
      if (this.#maintenance.has(name) === on) {
        result.unchanged.push(name);
        continue;
      }
      if (on) this.#maintenance.add(name);
      else this.#maintenance.delete(name);
      // A handover or stall resign in progress keeps the router in maintenance until it ends.
      if (!this.#resigned.has(name)) this.#o.engine.input(name, { type: "maintenance", on });
      if (on) this.#o.onResign?.(name, "maintenance");
      result.changed.push(name);
    }
    this.#log.info(result, `maintenance ${on ? "on" : "off"}`);
    return result;
  }

  /**
   * After an applied reload: instances that were replaced or re-added start with fresh routers, so
   * maintenance is fed again; instances that no longer exist leave the maintenance set.
   */
  reapplyMaintenance(): void {
    const names = new Set(this.#o.engine.status().instances.map((i) => i.name));
    for (const name of [...this.#maintenance]) {
      if (!names.has(name)) {
        this.#maintenance.delete(name);
        this.#log.info({ instance: name }, "maintenance dropped: the instance is gone after the reload");
      } else this.#o.engine.input(name, { type: "maintenance", on: true });
    }
  }

  // ------------------------------------------------------------------ resign and rejoin

  /** Waits until another node is master: this node is not master and a peer's advert came after `since`. */
  async #waitForOtherMaster(
    name: string,
    since: number,
    timeoutMs: number,
  ): Promise<{ peer: PeerEntry; at: number } | null> {
    const pollMs = this.#o.pollMs ?? 10;
    const deadline = this.#o.now() + timeoutMs;
    while (this.#o.now() < deadline) {
      const i = this.#o.engine.status().instances.find((x) => x.name === name);
      if (!i) return null;
      if (i.state !== "master" && i.master !== null) {
        const peer = i.peers.find((p) => p.address === i.master);
        if (peer && peer.lastSeenMs > since && peer.priority > 0) return { peer, at: peer.lastSeenMs };
      }
      await sleep(pollMs);
    }
    return null;
  }

  /** Priority-0 resign; rejoins when another master is heard or after `rejoinAfterMs`. */
  async resignAndRejoin(
    name: string,
    reason: "handover" | "stall",
    rejoinAfterMs: number,
  ): Promise<{ peer: PeerEntry; at: number } | null> {
    if (this.#resigned.has(name)) throw new OperationError("HANDOVER_BUSY", `${name} is already resigning`);
    const since = this.#o.now();
    this.#resigned.add(name);
    this.#o.onResign?.(name, reason);
    this.#o.engine.input(name, { type: "maintenance", on: true });
    try {
      return await this.#waitForOtherMaster(name, since, rejoinAfterMs);
    } finally {
      this.#resigned.delete(name);
      if (!this.#maintenance.has(name)) this.#o.engine.input(name, { type: "maintenance", on: false });
    }
  }

  async handover(name: string, o: { to: string | null; timeoutMs: number | null }): Promise<HandoverResult> {
    const inst = this.#instance(name);
    if (this.inMaintenance(name))
      throw new OperationError("IN_MAINTENANCE", `${name} is in maintenance: nothing to hand over`);
    if (inst.state !== "master")
      throw new OperationError(
        "NOT_MASTER",
        `${name} is ${inst.state.toUpperCase()}, not MASTER: only the master can hand over`,
      );
    const cfg = this.#o.config().instances[name];
    const intervalMs = cfg?.adverIntervalMs ?? 1000;
    // The backups take over at once on a priority-0 advert (after Skew_Time); give them a
    // Master_Down_Interval of slack on top for the first advert to arrive.
    const timeoutMs = o.timeoutMs ?? Math.max(2000, 2 * masterDownMs(intervalMs, 1));
    const to = o.to;
    const nodes = this.#o.config().global.fence?.nodes ?? {};
    this.#log.info({ instance: name, to, timeoutMs }, "handover: resigning with priority 0");
    const since = this.#o.now();
    const heard = await this.resignAndRejoin(name, "handover", timeoutMs);
    const after = this.#instance(name);
    if (heard === null) {
      const result: HandoverResult = {
        ok: false,
        instance: name,
        newMaster: null,
        newMasterPriority: null,
        to,
        toMatched: to === null ? null : false,
        tookMs: null,
        willPreemptBack: false,
        message: `no other node became master within ${timeoutMs} ms; ${name} rejoined and will take over again if it is still the best candidate`,
      };
      this.#log.warn(result, "handover failed");
      return result;
    }
    const peer = heard.peer;
    const toMatched = to === null ? null : peer.address === to || nodes[peer.address] === to;
    const willPreemptBack =
      (cfg?.preempt ?? true) &&
      (after.effectivePriority > peer.priority ||
        (after.effectivePriority === peer.priority && after.primaryAddress > peer.address));
    const ok = toMatched !== false;
    const tookMs = Math.round((heard.at - since) * 10) / 10;
    let message = `${peer.address} (priority ${peer.priority}) is master of ${name}; its advert came ${tookMs} ms after the resign`;
    if (toMatched === false) message += `; it is not ${to}`;
    if (willPreemptBack)
      message += `; ${name} has the higher priority with preempt on and will take the VIPs back after Master_Down_Interval: use "vipd maintenance on ${name}" to keep it out`;
    const result: HandoverResult = {
      ok,
      instance: name,
      newMaster: peer.address,
      newMasterPriority: peer.priority,
      to,
      toMatched,
      tookMs,
      willPreemptBack,
      message,
    };
    this.#log.info(result, ok ? "handover done" : "handover went to another node");
    return result;
  }

  // ------------------------------------------------------------------ reload plan

  async reloadPlan(configPath: string): Promise<ReloadPlan> {
    const next = await this.#o.loadConfig(configPath);
    return planReload(this.#o.config(), next, configPath);
  }

  // ------------------------------------------------------------------ explain

  explain(name: string): ExplainResult {
    const i = this.#instance(name);
    return {
      instance: name,
      state: i.state,
      lines: explainInstance(i, this.#o.config(), this.inMaintenance(name)),
    };
  }
}

// ---------------------------------------------------------------------------------- pure helpers

function specsByName(c: VipdConfig) {
  return new Map(configToSpecs(c).map((s) => [s.name, s]));
}

/** The reload diff between the running config and the next one (what SIGHUP would do). */
export function planReload(current: VipdConfig, next: VipdConfig, configPath: string): ReloadPlan {
  const a = specsByName(current);
  const b = specsByName(next);
  const plan: ReloadPlan = {
    configPath,
    instances: { added: [], removed: [], replaced: [], changed: [], unchanged: [] },
    vips: { added: [], removed: [], moved: [], interrupted: [] },
  };
  const identity = (s: ReturnType<typeof configToSpecs>[number]) => ({
    interface: s.ifname,
    family: s.family,
    vrid: s.vrid,
    mode: s.unicastPeers === null ? "multicast" : "unicast",
    devs: [...new Set([...s.vips, ...s.excludedVips].map((v) => v.dev))].sort().join(","),
  });
  for (const [name, s] of a) {
    const t = b.get(name);
    if (!t) {
      plan.instances.removed.push(name);
      continue;
    }
    const ia = identity(s);
    const ib = identity(t);
    const why = (Object.keys(ia) as (keyof typeof ia)[])
      .filter((k) => ia[k] !== ib[k])
      .map((k) => `${k} ${ia[k] || "-"} -> ${ib[k] || "-"}`);
    if (why.length > 0) {
      plan.instances.replaced.push({ name, why: why.join(", ") });
      continue;
    }
    const ca = current.instances[name];
    const cb = next.instances[name];
    if (!ca || !cb) continue;
    const changes: string[] = [];
    let election = false;
    const cmp = (label: string, x: unknown, y: unknown, affectsElection: boolean) => {
      const fx = JSON.stringify(x);
      const fy = JSON.stringify(y);
      if (fx === fy) return;
      changes.push(`${label} ${fx} -> ${fy}`);
      if (affectsElection) election = true;
    };
    cmp("priority", ca.priority, cb.priority, true);
    cmp("advert_interval_ms", ca.adverIntervalMs, cb.adverIntervalMs, true);
    cmp("preempt", ca.preempt, cb.preempt, true);
    cmp("preempt_delay_ms", ca.preemptDelayMs, cb.preemptDelayMs, true);
    cmp("version", ca.version, cb.version, true);
    cmp("track_interfaces", ca.trackInterfaces, cb.trackInterfaces, true);
    cmp("track_scripts", ca.trackScripts, cb.trackScripts, true);
    cmp("track_files", ca.trackFiles, cb.trackFiles, true);
    cmp("track_http", ca.trackHttp, cb.trackHttp, true);
    cmp("track_tcp", ca.trackTcp, cb.trackTcp, true);
    cmp("fencing", ca.fence !== null || ca.witness !== null, cb.fence !== null || cb.witness !== null, true);
    cmp("unicast_peers", ca.unicastPeers, cb.unicastPeers, true);
    cmp("accept", ca.accept, cb.accept, false);
    cmp("checksum", ca.checksum, cb.checksum, false);
    cmp("unicast_src_ip", ca.unicastSrcIp, cb.unicastSrcIp, false);
    cmp(
      "virtual_ips",
      s.vips.map((v) => v.cidr),
      t.vips.map((v) => v.cidr),
      false,
    );
    cmp(
      "virtual_ips_excluded",
      s.excludedVips.map((v) => v.cidr),
      t.excludedVips.map((v) => v.cidr),
      false,
    );
    cmp("announce", s.announce, t.announce, false);
    if (changes.length === 0) plan.instances.unchanged.push(name);
    else plan.instances.changed.push({ name, changes, electionMayChange: election });
  }
  for (const name of b.keys()) if (!a.has(name)) plan.instances.added.push(name);

  // VIPs, by address (a VIP is owned by at most one instance in a valid config).
  const owners = (m: typeof a) => {
    const r = new Map<string, string>();
    for (const [name, s] of m)
      for (const v of [...s.vips, ...s.excludedVips]) r.set(`${v.cidr} dev ${v.dev}`, name);
    return r;
  };
  const oa = owners(a);
  const ob = owners(b);
  const replaced = new Set(plan.instances.replaced.map((r) => r.name));
  for (const [vip, from] of oa) {
    const to = ob.get(vip);
    if (to === undefined) plan.vips.removed.push({ vip, instance: from });
    else if (to !== from) plan.vips.moved.push({ vip, from, to });
    else if (replaced.has(from)) plan.vips.interrupted.push({ vip, instance: from });
  }
  for (const [vip, to] of ob) if (!oa.has(vip)) plan.vips.added.push({ vip, instance: to });
  return plan;
}

/** Text form of a plan, for `vipd reload --plan`. */
export function formatPlan(p: ReloadPlan): string {
  const out: string[] = [`reload plan for ${p.configPath} (nothing applied)`];
  const i = p.instances;
  const none =
    i.added.length + i.removed.length + i.replaced.length + i.changed.length === 0 &&
    p.vips.added.length + p.vips.removed.length + p.vips.moved.length === 0;
  if (none) {
    out.push("no change: every instance keeps its state and VIPs");
    return `${out.join("\n")}\n`;
  }
  for (const n of i.added) out.push(`+ instance ${n} (starts as backup)`);
  for (const n of i.removed) out.push(`- instance ${n} (resigns with priority 0, releases its VIPs)`);
  for (const r of i.replaced)
    out.push(`~ instance ${r.name} replaced: ${r.why} (restarts: its VIPs drop and return)`);
  for (const c of i.changed) {
    out.push(`~ instance ${c.name}${c.electionMayChange ? " (election may change)" : ""}`);
    for (const line of c.changes) out.push(`    ${line}`);
  }
  for (const v of p.vips.added) out.push(`+ vip ${v.vip} (${v.instance})`);
  for (const v of p.vips.removed) out.push(`- vip ${v.vip} (${v.instance})`);
  for (const v of p.vips.moved) out.push(`> vip ${v.vip} moves ${v.from} -> ${v.to}`);
  for (const v of p.vips.interrupted) out.push(`! vip ${v.vip} (${v.instance}) is released and re-taken`);
  if (i.unchanged.length > 0) out.push(`= unchanged: ${i.unchanged.join(", ")}`);
  return `${out.join("\n")}\n`;
}

function ago(lastSeenAt: string, nowWall: number): string {
  const t = Date.parse(lastSeenAt);
  if (Number.isNaN(t)) return "?";
  const s = Math.max(0, (nowWall - t) / 1000);
  return s < 10 ? `${s.toFixed(2)} s ago` : `${Math.round(s)} s ago`;
}

/** Why an instance is in its state, in words. */
export function explainInstance(
  i: InstanceStatus,
  config: VipdConfig,
  maintenance: boolean,
  nowWall = Date.now(),
): string[] {
  const c = config.instances[i.name];
  const lines: string[] = [];
  const fam = i.family === "ipv6" ? "IPv6" : "IPv4";
  lines.push(
    `${i.name} is ${i.state.toUpperCase()} on ${i.interface} (VRID ${i.vrid}, ${fam}, VRRPv${i.version}, ${i.mode}).`,
  );
  // Priority.
  if (maintenance) {
    lines.push(
      `Maintenance is on: the instance advertises priority 0 and stays out of elections ("vipd maintenance off ${i.name}" ends it).`,
    );
  } else if (i.priority === 255) {
    lines.push("Priority 255: this node owns the virtual addresses and always wins the election.");
  } else if (i.effectivePriority !== i.priority) {
    const delta = i.effectivePriority - i.priority;
    lines.push(
      `Configured priority ${i.priority}, effective ${i.effectivePriority}: tracker weights ${delta < 0 ? "lowered" : "raised"} it by ${Math.abs(delta)}.`,
    );
  } else lines.push(`Priority ${i.priority} (no tracker weight applies now).`);
  if (c) {
    const trackers = [
      ...c.trackInterfaces.map((t) => ({ kind: "interface", t })),
      ...c.trackScripts.map((t) => ({ kind: "script", t })),
      ...c.trackFiles.map((t) => ({ kind: "file", t })),
      ...c.trackHttp.map((t) => ({ kind: "http", t })),
      ...c.trackTcp.map((t) => ({ kind: "tcp", t })),
    ];
    if (trackers.length > 0) {
      const own = (kind: string, name: string): number | null => {
        if (kind === "script") return config.trackScripts[name]?.weight ?? null;
        if (kind === "file") return config.trackFiles[name]?.weight ?? null;
        if (kind === "http") return config.trackHttp[name]?.weight ?? null;
        if (kind === "tcp") return config.trackTcp[name]?.weight ?? null;
        return null;
      };
      const desc = trackers.map(({ kind, t }) => {
        const w = t.weight ?? own(kind, t.name);
        return `${kind} ${t.name} (${w === null || w === 0 ? "fault on failure" : `weight ${w > 0 ? "+" : ""}${w}`})`;
      });
      lines.push(`Trackers: ${desc.join(", ")}.`);
    }
  }
  // Master and peers.
  const others = [...i.peers].sort((x, y) => y.lastSeenMs - x.lastSeenMs);
  const master = i.master;
  switch (i.state) {
    case "master": {
      const lower = others.filter((p) => p.priority < i.effectivePriority);
      lines.push(
        `This node is master and holds ${i.installedVips.length} of ${i.vips.length} VIPs (${i.installedVips.join(", ") || "none"}).`,
      );
      if (others.length === 0) lines.push("No other node has been heard on this VRID.");
      else if (lower.length === others.length)
        lines.push(
          `Every peer heard advertises a lower priority (${others.map((p) => `${p.address}: ${p.priority}`).join(", ")}).`,
        );
      break;
    }
    case "backup": {
      const m = others.find((p) => p.address === master);
      if (m) {
        const why =
          m.priority > i.effectivePriority
            ? `its priority ${m.priority} is higher than ours (${i.effectivePriority})`
            : m.priority === i.effectivePriority
              ? `equal priority ${m.priority}; the higher address wins the tie`
              : c && !c.preempt
                ? `nopreempt is set: this node does not take over from a working master of lower priority (${m.priority})`
                : c && c.preemptDelayMs > 0
                  ? `preempt_delay ${c.preemptDelayMs} ms: this node will take over from the lower priority ${m.priority} once the delay has run`
                  : `its priority is ${m.priority}`;
        lines.push(`Following master ${m.address}: ${why}; last advert ${ago(m.lastSeenAt, nowWall)}.`);
      } else if (maintenance) lines.push("Waiting as backup while in maintenance.");
      else
        lines.push(
          "Backup without a known master: the Master_Down timer runs, this node takes over when it fires.",
        );
      break;
    }
    case "fencing":
      lines.push(
        "Taking over: the old master went silent and fencing must succeed before the VIPs are added.",
      );
      break;
    case "fault":
      lines.push(
        i.linkUp
          ? "In FAULT: a tracker with no weight failed (or adding the VIPs failed); the instance rejoins when it recovers."
          : `In FAULT: interface ${i.interface} is down.`,
      );
      break;
    default:
      lines.push("Starting up.");
  }
  if (c) {
    lines.push(
      c.preempt
        ? `Preempt is on${c.preemptDelayMs > 0 ? ` with a ${c.preemptDelayMs} ms delay` : ""}: a higher-priority node takes the VIPs back when it returns.`
        : "nopreempt: a working master keeps the VIPs even when a higher-priority node returns.",
    );
  }
  for (const p of others)
    lines.push(
      `Peer ${p.address}: priority ${p.priority}, interval ${p.adverIntervalMs} ms, VRRPv${p.version}, ${p.checksumForm} checksum, last seen ${ago(p.lastSeenAt, nowWall)}.`,
    );
  const t = i.lastTimeline;
  if (t?.complete && t.durations.lastAdvertToFirstAnnounce !== null)
    lines.push(
      `Last takeover ${t.startedAt}: ${t.reason}; ${t.durations.lastAdvertToFirstAnnounce} ms from the old master's last advert to the first announcement.`,
    );
  return lines;
}
