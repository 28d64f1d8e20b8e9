// The hooks around the engine (issue 4): trackers -> trackerChanged, fence requests -> fence agents ->
// fenceResult, notify actions -> ordered notification queues, sync groups, the witness, split-brain
// logging. Attached to the engine's events before it starts; `apply(config)` after start and after
// every reload.

import type { EventEmitter } from "node:events";

import type { Logger } from "pino";

import type { VipdConfig } from "../config/types.js";
import type { Input, NotifyEvent, RouterState } from "../core/types.js";
import type { DaemonEvents } from "../runtime/engine.js";
import {
  emptyNotifyStats,
  type FenceAttempt,
  type HooksInstanceStatus,
  type HooksStatus,
} from "../runtime/status.js";
import { Fencer } from "./fence.js";
import { NotifyQueue, notifyRuns } from "./notify.js";
import { resolveScriptUser, type ScriptUser } from "./script-security.js";
import { type GroupState, SyncGroup } from "./sync-group.js";
import { TrackerHub } from "./trackers/hub.js";
import { toTrackerResult } from "./trackers/status.js";
import { witnessTracker } from "./witness.js";

export { checkConfigScripts } from "./config-scripts.js";

/** What the hooks need from the engine. */
export interface HookedEngine {
  readonly events: EventEmitter<DaemonEvents>;
  input(instance: string, input: Input): boolean;
  status(): { instances: { name: string; master: string | null; priority: number }[] };
  /** One instance's status: a notify reads only its own (status() builds all of them). */
  instanceStatus?(name: string): { name: string; master: string | null; priority: number } | null;
}

export interface HooksOptions {
  engine: HookedEngine;
  logger: Logger;
  links: {
    getLink(ifname: string): Promise<{ up: boolean }>;
    onLinkChange(cb: (e: { ifname: string; up: boolean }) => void): void;
  };
  /**
   * The kernel's neighbour table (rtnetlink RTM_GETNEIGH): a fence requested without the peer's MAC
   * gets the one the table holds for the peer on the instance's interface. Absent: no lookup.
   */
  neighbours?: {
    lookupNeighbour(ifname: string, address: string): Promise<{ mac: string; state: string } | null>;
  };
  filePollMs?: number;
  notifyRetryDelayMs?: number;
}

const STOP_DRAIN_MS = 5000;
/** Fence attempts kept per instance for status. */
export const FENCE_HISTORY_LIMIT = 16;

export class Hooks {
  readonly #o: HooksOptions;
  readonly #log: Logger;
  readonly #hub: TrackerHub;
  #config: VipdConfig | null = null;
  #user: ScriptUser | undefined;
  readonly #fencers = new Map<string, Fencer>();
  readonly #queues = new Map<string, NotifyQueue>();
  readonly #seq = new Map<string, number>();
  readonly #states = new Map<string, RouterState>();
  readonly #prev = new Map<string, RouterState>();
  readonly #lastFencePeer = new Map<string, string>();
  readonly #groups = new Map<string, SyncGroup>();
  readonly #witnesses = new Map<string, ReturnType<typeof witnessTracker>>();
  readonly #unsubscribe: (() => void)[] = [];
  /** Per instance, the last fence attempts (kept across reloads). */
  readonly #fenceHistory = new Map<string, FenceAttempt[]>();
  readonly #fenceListeners: ((instance: string, a: FenceAttempt) => void)[] = [];
  /** Per instance, bumped by every fence request and cancel: a MAC lookup that lost the race is dropped. */
  readonly #fenceGeneration = new Map<string, number>();
  splitBrains = 0;

  constructor(o: HooksOptions) {
    this.#o = o;
    this.#log = o.logger.child({ part: "hooks" });
    this.#hub = new TrackerHub({
      sink: { input: (i, input) => o.engine.input(i, input) },
      logger: this.#log,
      getLink: o.links.getLink,
      onLinkChange: o.links.onLinkChange,
      ...(o.filePollMs === undefined ? {} : { filePollMs: o.filePollMs }),
    });
    const ev = o.engine.events;
    const on = <K extends keyof DaemonEvents>(name: K, fn: (...a: DaemonEvents[K]) => void): void => {
      // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's generic listener type
      ev.on(name, fn as any);
      // biome-ignore lint/suspicious/noExplicitAny: same
      this.#unsubscribe.push(() => ev.off(name, fn as any));
    };
    on("stateChanged", (e) => this.#onState(e.instance, e.from, e.to, e.reason));
    on("notify", (e) => this.#onNotify(e.instance, e.event, e.detail, e.priority));
    on("requestFence", (e) => this.#onRequestFence(e.instance, e.peer, e.peerMac));
    on("cancelFence", (e) => {
      this.#bumpFence(e.instance);
      this.#fencers.get(e.instance)?.cancel();
    });
  }

  get trackers(): TrackerHub {
    return this.#hub;
  }

  fencer(instance: string): Fencer | undefined {
    return this.#fencers.get(instance);
  }

  queue(name: string): NotifyQueue | undefined {
    return this.#queues.get(name);
  }

  /** (Re)configures everything for this config: `configure`, then the trackers. */
  async apply(config: VipdConfig): Promise<void> {
    this.configure(config);
    await this.#hub.apply(config);
  }

  /**
   * The synchronous part of apply: fencers, notify queues, sync groups, the witness. Call it before
   * the engine starts so that the first events (startup -> backup) are notified too.
   */
  configure(config: VipdConfig): void {
    this.#config = config;
    const g = config.global;
    const user = resolveScriptUser(g.scriptUser);
    if (!user)
      this.#log.error({ scriptUser: g.scriptUser }, "script_user is unknown: hooks run as vipd's own user");
    this.#user = user ?? undefined;

    // Fencers: replaced on every apply (a running fence is cancelled only when its config changed).
    for (const [name, f] of this.#fencers) {
      const inst = config.instances[name];
      if (!inst || (inst.fence === null && inst.witness === null)) {
        f.cancel();
        this.#fencers.delete(name);
      }
    }
    for (const inst of Object.values(config.instances)) {
      if (inst.fence === null && inst.witness === null) continue;
      const old = this.#fencers.get(inst.name);
      if (old?.running) continue;
      this.#fencers.set(
        inst.name,
        new Fencer(inst.name, inst.fence, inst.witness, {
          logger: this.#log,
          input: (i, input) => this.#o.engine.input(i, input),
          onAttempt: (a) => this.#onFenceAttempt(inst.name, a),
          ...(this.#user ? { user: this.#user } : {}),
        }),
      );
    }

    // Notify queues (kept across reloads so numbering and order carry on).
    const queueNames = [
      ...Object.keys(config.instances).map((n) => `instance:${n}`),
      ...Object.keys(config.syncGroups).map((n) => `group:${n}`),
    ];
    for (const [name, q] of this.#queues) {
      if (!queueNames.includes(name)) {
        q.stop();
        this.#queues.delete(name);
      }
    }
    for (const name of queueNames) {
      if (this.#queues.has(name)) continue;
      this.#queues.set(
        name,
        new NotifyQueue({
          name,
          logger: this.#log,
          timeoutMs: g.notifyTimeoutMs,
          retries: g.notifyRetries,
          ...(this.#o.notifyRetryDelayMs === undefined ? {} : { retryDelayMs: this.#o.notifyRetryDelayMs }),
          ...(this.#user ? { user: this.#user } : {}),
        }),
      );
    }

    // Sync groups: rebuilt; members' imposed results are cleared first.
    for (const group of this.#groups.values()) {
      for (const m of group.members) this.#hub.setExternal(m, group.trackerName, null);
    }
    this.#groups.clear();
    for (const sg of Object.values(config.syncGroups)) {
      const group = new SyncGroup(sg.name, sg.instances, (member, r) =>
        this.#hub.setExternal(member, `sync_group:${sg.name}`, r),
      );
      this.#groups.set(sg.name, group);
      for (const m of sg.instances) {
        const s = this.#states.get(m);
        if (s && s !== "initialize") group.onState(m, "initialize", s);
      }
    }

    // Witness in mode always: one shared tracker per distinct witness.
    const wanted = new Map<string, string[]>();
    for (const inst of Object.values(config.instances)) {
      if (inst.witness?.mode !== "always") continue;
      const key = JSON.stringify(inst.witness);
      wanted.set(key, [...(wanted.get(key) ?? []), inst.name]);
    }
    for (const [key, t] of this.#witnesses) {
      if (!wanted.has(key)) {
        t.stop();
        this.#witnesses.delete(key);
      }
    }
    for (const inst of Object.values(config.instances)) {
      if (inst.witness?.mode !== "always") this.#hub.setExternal(inst.name, "witness", null);
    }
    for (const [key, members] of wanted) {
      let t = this.#witnesses.get(key);
      if (!t) {
        const w = JSON.parse(key) as Parameters<typeof witnessTracker>[0];
        t = witnessTracker(w);
        const tracker = t;
        this.#witnesses.set(key, t);
        t.onChange((s) => {
          const who = Object.values(this.#config?.instances ?? {})
            .filter((i) => JSON.stringify(i.witness) === key)
            .map((i) => i.name);
          this.#log.warn(
            { witness: w, status: s.type },
            `witness ${s.type === "up" ? "answers again" : "lost"}`,
          );
          for (const m of who) this.#hub.setExternal(m, "witness", toTrackerResult(tracker.status, 0));
        });
        t.start();
      }
      for (const m of members) this.#hub.setExternal(m, "witness", toTrackerResult(t.status, 0));
    }
  }

  /** Stops trackers and fences; gives queued notifications (stop events) a bounded time to finish. */
  async stop(): Promise<void> {
    for (const u of this.#unsubscribe.splice(0)) u();
    this.#hub.stop();
    for (const t of this.#witnesses.values()) t.stop();
    for (const f of this.#fencers.values()) f.cancel();
    const queues = [...this.#queues.values()];
    const drained = await Promise.race([
      Promise.all(queues.map((q) => q.idle())).then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), STOP_DRAIN_MS).unref()),
    ]);
    if (!drained) this.#log.warn("notify scripts still running at exit: killed");
    for (const q of queues) q.stop();
  }

  #nextSeq(queue: string): number {
    const n = (this.#seq.get(queue) ?? 0) + 1;
    this.#seq.set(queue, n);
    return n;
  }

  #onState(instance: string, from: RouterState, to: RouterState, reason: string): void {
    this.#prev.set(instance, from);
    this.#states.set(instance, to);
    const groupName = this.#config?.instances[instance]?.syncGroup ?? null;
    const group = groupName === null ? undefined : this.#groups.get(groupName);
    if (!group) return;
    const before = group.state;
    const next = group.onState(instance, from, to);
    if (next === null) return;
    const event: NotifyEvent = next === "initialize" ? "stop" : next;
    this.#groupNotify(group.name, event, before, next, `${instance}: ${reason}`, instance);
  }

  #bumpFence(instance: string): number {
    const n = (this.#fenceGeneration.get(instance) ?? 0) + 1;
    this.#fenceGeneration.set(instance, n);
    return n;
  }

  #onRequestFence(instance: string, peer: string, peerMac?: string): void {
    this.#lastFencePeer.set(instance, peer);
    const generation = this.#bumpFence(instance);
    const f = this.#fencers.get(instance);
    if (!f) {
      // fencing on in the router but no fencer: answer at once so the router never waits forever.
      this.#log.error({ instance }, "fence requested but no fence or witness is configured for the instance");
      this.#o.engine.input(instance, { type: "fenceResult", ok: false, detail: "no fence configured" });
      return;
    }
    const start = (mac: string | undefined): void => {
      // A cancel or a newer request came while the MAC was looked up: this one is void.
      if (this.#fenceGeneration.get(instance) !== generation) return;
      f.request(mac === undefined ? { peer } : { peer, peerMac: mac }).catch((err: unknown) => {
        this.#log.fatal({ err, instance }, "fencer crashed");
        throw err;
      });
    };
    const ifname = this.#config?.instances[instance]?.interface;
    const neighbours = this.#o.neighbours;
    if (peerMac !== undefined || neighbours === undefined || ifname === undefined) {
      start(peerMac);
      return;
    }
    // The raw VRRP socket sees no link-layer source: ask the kernel's neighbour table, which has the
    // peer when this host exchanged unicast traffic with it. Nothing is sent to resolve it.
    neighbours.lookupNeighbour(ifname, peer).then(
      (entry) => {
        if (entry === null)
          this.#log.debug(
            { instance, peer, ifname },
            "no neighbour entry for the peer: fencing without its MAC",
          );
        else this.#log.debug({ instance, peer, ifname, ...entry }, "peer MAC from the neighbour table");
        start(entry?.mac);
      },
      (err: unknown) => {
        this.#log.debug(
          { instance, peer, ifname, err },
          "neighbour lookup failed: fencing without the peer's MAC",
        );
        start(undefined);
      },
    );
  }

  #onFenceAttempt(instance: string, a: FenceAttempt): void {
    let list = this.#fenceHistory.get(instance);
    if (!list) {
      list = [];
      this.#fenceHistory.set(instance, list);
    }
    list.push(a);
    if (list.length > FENCE_HISTORY_LIMIT) list.splice(0, list.length - FENCE_HISTORY_LIMIT);
    for (const l of this.#fenceListeners) l(instance, a);
  }

  /** Called with every finished fence attempt (metrics); returns the unsubscribe function. */
  onFenceAttempt(cb: (instance: string, a: FenceAttempt) => void): () => void {
    this.#fenceListeners.push(cb);
    return () => {
      const i = this.#fenceListeners.indexOf(cb);
      if (i >= 0) this.#fenceListeners.splice(i, 1);
    };
  }

  /** Trackers, fence history and notify delivery per instance, notify delivery per sync group. */
  status(): HooksStatus {
    const config = this.#config;
    const witnessFor = (instance: string) => {
      const w = config?.instances[instance]?.witness;
      return w?.mode === "always" ? this.#witnesses.get(JSON.stringify(w)) : undefined;
    };
    const trackers = this.#hub.snapshot((instance, id) =>
      id === "witness" ? witnessFor(instance) : undefined,
    );
    const notify = (queue: string) =>
      this.#queues.get(queue)?.stats(this.#seq.get(queue) ?? 0) ?? {
        ...emptyNotifyStats(),
        lastEventSeq: this.#seq.get(queue) ?? 0,
      };
    const instances: Record<string, HooksInstanceStatus> = {};
    for (const name of Object.keys(config?.instances ?? {})) {
      instances[name] = {
        trackers: trackers.get(name) ?? [],
        fenceHistory: [...(this.#fenceHistory.get(name) ?? [])],
        notify: notify(`instance:${name}`),
      };
    }
    const syncGroups: HooksStatus["syncGroups"] = {};
    for (const [name, g] of this.#groups)
      syncGroups[name] = { state: g.state, notify: notify(`group:${name}`) };
    return { instances, syncGroups };
  }

  #onNotify(instance: string, event: NotifyEvent, detail: string, priority: number): void {
    const config = this.#config;
    const inst = config?.instances[instance];
    if (!config || !inst) return;
    if (event === "split_brain") {
      this.splitBrains++;
      this.#log.warn({ instance, detail, total: this.splitBrains }, `split brain: ${detail}`);
    }
    const newState = this.#states.get(instance) ?? "initialize";
    const engine = this.#o.engine;
    const status = engine.instanceStatus
      ? engine.instanceStatus(instance)
      : engine.status().instances.find((i) => i.name === instance);
    const fenceEvent = event === "fence_started" || event === "fence_failed";
    const peer = fenceEvent ? (this.#lastFencePeer.get(instance) ?? null) : (status?.master ?? null);
    const queueName = `instance:${instance}`;
    const seq = this.#nextSeq(queueName);
    const runs = notifyRuns(inst.notify, {
      kind: "INSTANCE",
      name: instance,
      event,
      seq,
      oldState: this.#prevState(instance, event),
      newState,
      reason: detail,
      priority,
      peer,
      extra: {
        VIPD_ROUTER_ID: config.global.routerId,
        VIPD_VRID: String(inst.vrid),
        VIPD_INTERFACE: inst.interface,
        VIPD_VIPS: inst.virtualIps.map((v) => v.cidr).join(" "),
        VIPD_BASE_PRIORITY: String(inst.priority),
        ...(inst.syncGroup === null ? {} : { VIPD_GROUP: inst.syncGroup }),
      },
      now: new Date(),
    });
    this.#queues.get(queueName)?.push({ seq, event, runs });
    // Non-state events of a member also reach its group's scripts.
    if (inst.syncGroup !== null && !["master", "backup", "fault", "stop"].includes(event)) {
      const group = this.#groups.get(inst.syncGroup);
      if (group) this.#groupNotify(group.name, event, group.state, group.state, detail, instance, peer);
    }
  }

  /** The state before the last transition of this instance (tracked from stateChanged). */
  #prevState(instance: string, event: NotifyEvent): string {
    if (!["master", "backup", "fault", "stop"].includes(event))
      return this.#states.get(instance) ?? "initialize";
    return this.#prev.get(instance) ?? "initialize";
  }

  #groupNotify(
    group: string,
    event: NotifyEvent,
    from: GroupState,
    to: GroupState,
    reason: string,
    member: string,
    peer: string | null = null,
  ): void {
    const config = this.#config;
    const sg = config?.syncGroups[group];
    if (!config || !sg) return;
    const queueName = `group:${group}`;
    const seq = this.#nextSeq(queueName);
    const runs = notifyRuns(sg.notify, {
      kind: "GROUP",
      name: group,
      event,
      seq,
      oldState: from,
      newState: to,
      reason,
      priority: 0,
      peer,
      extra: { VIPD_ROUTER_ID: config.global.routerId, VIPD_MEMBER: member },
      now: new Date(),
    });
    this.#queues.get(queueName)?.push({ seq, event, runs });
  }
}
