// The driver: socket, timer, link and hook events go into the routers; their actions come out as
// adverts, VIP changes, announcements, logs and hook events. One protocol timer (the Scheduler)
// armed at the earliest deadline; VIP changes and announcements serialized per instance; a failed
// effect goes back into its router as `effectFailed`.
//
// The engine knows nothing about the config file format or about Linux: it gets instance specs
// and ports. daemon.ts wires it to src/config and src/linux.

import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { EX_CONFIG, EX_NOPERM, EX_OSERR, EX_SOFTWARE, EXIT_OK } from "../cli/exit-codes.js";
import {
  type Advert,
  adverIntervalMs,
  type DecodeResult,
  decodeAdvert,
  encodeAdvert,
} from "../codec/advert.js";
import { buildGratuitousArp, buildUnsolicitedNa } from "../codec/frames.js";
import { isIpv6LinkLocal, parseIp } from "../codec/ip.js";
import { parseMac } from "../codec/mac.js";
import { createRouter } from "../core/index.js";
import type {
  Action,
  Family,
  Input,
  NotifyEvent,
  Router,
  RouterOptions,
  RouterState,
} from "../core/types.js";
import { type AnnounceReason, announceOffsets } from "./announce.js";
import { type InstanceSpec, identityKey, runtimeSettingsKey } from "./instance-spec.js";
import type { LinkInfo, PacketSenderPort, RuntimePorts, VrrpDatagram, VrrpSocketPort } from "./ports.js";
import { Scheduler } from "./scheduler.js";
import {
  type DaemonStatus,
  emptyCounters,
  type FailoverTimeline,
  type InstanceCounters,
  type InstanceStatus,
  type PeerEntry,
  statusLine,
} from "./status.js";

export { EX_CONFIG, EX_NOPERM, EX_OSERR, EX_SOFTWARE, EXIT_OK };

/** How long before a backup's down timer the process wakes, to be awake when it fires. */
export const TAKEOVER_WAKE_EARLY_MS = 0.3;
const MULTICAST_V4 = "224.0.0.18";
const MULTICAST_V6 = "ff02::12";
/** Bound on waiting for VIP removals at shutdown or instance removal. */
const DRAIN_TIMEOUT_MS = 5000;
/** One log line per (socket, reason) per window for discarded datagrams. */
const DISCARD_LOG_WINDOW_MS = 10_000;

export type RuntimeErrorCode =
  | "NO_PRIMARY_ADDRESS"
  | "DUPLICATE_VRID"
  | "DUPLICATE_INSTANCE"
  | "BAD_INTERFACE_MAC"
  | "STARTUP_FAILED";

/** An operator-facing runtime error (bad host setup for the configured instances). */
export class RuntimeError extends Error {
  readonly code: RuntimeErrorCode;
  constructor(code: RuntimeErrorCode, message: string) {
    super(message);
    this.name = "RuntimeError";
    this.code = code;
  }
}

export interface DaemonEvents {
  notify: [{ instance: string; event: NotifyEvent; detail: string; state: RouterState; priority: number }];
  requestFence: [{ instance: string; peer: string; peerMac?: string }];
  cancelFence: [{ instance: string }];
  stateChanged: [{ instance: string; from: RouterState; to: RouterState; reason: string }];
  timeline: [FailoverTimeline];
  discarded: [{ instance: string | null; reason: string }];
  reloaded: [{ ok: boolean; error?: string }];
  /** A fence attempt finished (fed by the hooks through input()). */
  fenceResult: [{ instance: string; ok: boolean; detail: string }];
}

export interface EngineOptions<C> {
  configPath: string;
  logger: Logger;
  ports: RuntimePorts;
  /** Reads and validates the config file (SIGHUP reload); throws on a bad file. */
  loadConfig: (path: string) => Promise<C>;
  /** Turns a validated config into instance specs; may throw an operator error. */
  toSpecs: (config: C) => InstanceSpec[];
  /** A name for the timer implementation, reported in status. */
  timerKind?: string;
}

type Effect =
  | { type: "addVips"; vips: string[] }
  | { type: "removeVips"; vips: string[] }
  | { type: "announce"; vips: string[]; reason: AnnounceReason }
  /** A priority-0 advert that follows a removeVips in the same step: sent once that removal is done. */
  | { type: "release" }
  | { type: "announceStep" }
  | { type: "refresh" };

interface Frame {
  dev: string;
  bytes: Uint8Array;
}

interface AnnouncePlan {
  /** Absolute monotonic times still to come, ascending. */
  times: number[];
  frames: Frame[];
  reason: AnnounceReason;
}

interface SocketGroup {
  key: string;
  ifname: string;
  family: Family;
  ifindex: number;
  multicast: boolean;
  socket: VrrpSocketPort;
  byVrid: Map<number, Instance>;
  unattributed: Record<string, number>;
  discardLog: Map<string, { windowStart: number; suppressed: number }>;
}

interface Instance {
  spec: InstanceSpec;
  options: RouterOptions;
  router: Router;
  log: Logger;
  group: SocketGroup;
  primaryAddress: string;
  advertSource: string;
  linkUp: boolean;
  peers: Map<string, PeerEntry>;
  counters: InstanceCounters;
  /** Inputs waiting to be stepped; `at`: when it happened (a datagram's receive time), null: now. */
  inputs: { input: Input; at: number | null }[];
  /** The `now` of the last step: a step never gets an earlier one. */
  lastStepMs: number;
  handling: boolean;
  effects: Effect[];
  effectsRunning: boolean;
  /** Why the last removeVips effect failed (null when it succeeded): a release is then withheld. */
  lastRemoveFailure: string | null;
  /** The addVips effect running now had every add land in the kernel in its own turn (no ACK yet). */
  addsLanded: boolean;
  idleWaiters: (() => void)[];
  installed: Set<string>;
  plan: AnnouncePlan | null;
  /**
   * Encoded adverts by destination, then by priority (a master sends the same one every interval).
   * A Map, not an array indexed by priority: priority 200 in an array backs ~200 empty slots (2.5 KB
   * per instance, 0.6 MiB at 255 VRIDs).
   */
  advertCache: Map<string, Map<number, Uint8Array>>;
  frameCache: Map<string, Frame>;
  /** The last valid advert heard while not master (the master we followed). */
  lastAdvert: { src: string; at: number } | null;
  currentInput: Input | null;
  timeline: FailoverTimeline | null;
  lastTimeline: FailoverTimeline | null;
  closed: boolean;
  /**
   * The last datagram for this VRID that decoded as valid, with its result. A peer's adverts are
   * the same bytes every interval, and decoding is a pure function of the bytes and the IP facts:
   * an identical datagram reuses the result instead of parsing it again.
   */
  lastDecoded: { payload: Uint8Array; src: string; dst: string; ttl: number; result: DecodeResult } | null;
  /** The scheduler key of the router deadline and its callback, made once (set on every advert). */
  routerKey: string;
  onRouterTimeout: () => void;
  /** The socket absorbs repeats of the advert this input was made from (see #armAbsorb); null: not. */
  absorbing: Absorbing | null;
  /** Steps whose actions were not empty (how #onDatagram tells a quiet step). */
  busySteps: number;
}

/**
 * A backup whose socket counts the repeats of its master's advert instead of delivering them
 * (VrrpSocketPort.absorb). The router is brought up to date by replaying the latest repeat (its
 * receive time, the same input) before any other input, before the router's deadline, and before
 * status is read: a backup following a master ends in the same state whether it stepped each
 * repeat or only the last one (each restarts Master_Down_Timer from its arrival), so this skips
 * the JavaScript of every repeat without changing what the router decides or when.
 */
interface Absorbing {
  input: Extract<Input, { type: "advert" }>;
  src: string;
  /** The socket's absorbed count for this VRID when last looked at. */
  seen: number;
  /** How far beyond the sync look's time this backup is brought up to date too (half the master's interval). */
  windowMs: number;
}

/** The router's timeout input: one object for every fire (a master's Adver_Timer fires 10 times a second per VRID at 100 ms). */
const TIMEOUT_INPUT: Input = Object.freeze({ type: "timeout" });

/** The scheduler key of the look at absorbed repeats (#onAbsorbSync). */
const ABSORB_SYNC_KEY = "absorb-sync";
/** The sync look comes this long before the earliest deadline of an absorbing backup (ahead of its early wake-up). */
const ABSORB_SYNC_LEAD_MS = 1;
/** Index of a VRID's latest receive time in VrrpSocketPort.absorbed. */
const ABSORBED_AT = 256;

/**
 * On a takeover the wire comes first: the advert, the VIP add (and the announcement queued behind
 * it) go out before the transition's log line, its events and notify hooks, which may cost
 * milliseconds (a log write, a script spawn). Any other step keeps the core's order.
 */
function takeoverFirst(actions: readonly Action[]): readonly Action[] {
  // A plain loop: this runs on every step, and most steps have no action at all.
  let takeover = false;
  for (let i = 0; i < actions.length && !takeover; i++) {
    const a = actions[i] as Action;
    takeover = a.type === "stateChanged" && a.to === "master";
  }
  if (!takeover) return actions;
  const urgent = (a: Action) => a.type === "sendAdvert" || a.type === "addVips" || a.type === "announce";
  return [...actions.filter(urgent), ...actions.filter((a) => !urgent(a))];
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function stripPrefix(address: string): string {
  const slash = address.indexOf("/");
  return slash === -1 ? address : address.slice(0, slash);
}

/** `cidr` is `address` with or without a prefix length (no string is built). */
function sameAddress(cidr: string, address: string): boolean {
  return cidr.startsWith(address) && (cidr.length === address.length || cidr[address.length] === "/");
}

function specHasVip(spec: InstanceSpec, address: string): boolean {
  for (const v of spec.vips) if (sameAddress(v.cidr, address)) return true;
  for (const v of spec.excludedVips) if (sameAddress(v.cidr, address)) return true;
  return false;
}

function familyOf(address: string): Family | null {
  const bytes = parseIp(address);
  if (bytes === null) return null;
  return bytes.length === 4 ? "ipv4" : "ipv6";
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sameOptions(a: RouterOptions, b: RouterOptions): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class Engine<C> {
  readonly events = new EventEmitter<DaemonEvents>();
  readonly stopped: Promise<number>;

  readonly #o: EngineOptions<C>;
  readonly #log: Logger;
  readonly #ports: RuntimePorts;
  readonly #scheduler: Scheduler;
  readonly #instances = new Map<string, Instance>();
  /** Instances whose socket absorbs their master's repeats (Instance.absorbing). */
  readonly #absorbingSet = new Set<Instance>();
  readonly #groups = new Map<string, SocketGroup>();
  readonly #senders = new Map<string, PacketSenderPort>();
  readonly #links = new Map<string, LinkInfo>();
  readonly #unsubscribe: (() => void)[] = [];
  readonly #startedAt = new Date().toISOString();
  #resolveStopped!: (code: number) => void;
  #phase: "new" | "starting" | "running" | "stopping" | "stopped" = "new";
  #reloading: Promise<boolean> | null = null;
  #reloadAgain = false;
  #watchdog: NodeJS.Timeout | null = null;
  #lastStatusLine = "";
  #sdNotifyFailed = false;
  #statusQueued = false;

  constructor(options: EngineOptions<C>) {
    this.#o = options;
    this.#log = options.logger;
    this.#ports = options.ports;
    this.#scheduler = new Scheduler(options.ports.clock);
    this.stopped = new Promise<number>((resolve) => {
      this.#resolveStopped = resolve;
    });
  }

  get phase(): string {
    return this.#phase;
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Removes orphan VIPs, starts every instance, then signals READY. Throws (after cleaning up) when
   * the host cannot run the configured instances; `stopped` then resolves with the exit code.
   */
  async start(config: C): Promise<void> {
    if (this.#phase !== "new") throw new Error("Engine.start called twice");
    this.#phase = "starting";
    try {
      const specs = this.#o.toSpecs(config);
      this.#checkSpecs(specs);
      const orphans = await this.#ports.addresses.removeOrphans();
      if (orphans.length > 0)
        this.#log.warn({ removed: orphans }, "removed orphan VIPs left by a previous run");
      const created: Instance[] = [];
      for (const spec of specs) created.push(await this.#createInstance(spec));
      // Subscribed after the link reads: src/linux/rtnl.ts starts a link dump when subscribing, and
      // two dumps at once on its request socket fail with EBUSY.
      this.#ports.links.onLinkChange((e) => this.#onLinkChange(e.ifname, e.up));
      for (const inst of created) this.#startInstance(inst);
      this.#installSignals();
      this.#startWatchdog();
      this.#phase = "running";
      this.#notifyStatus(true);
      this.#sdNotify(`READY=1\nSTATUS=${this.#lastStatusLine}`);
      this.#log.info({ instances: specs.map((s) => s.name) }, "vipd running");
    } catch (err) {
      const code = err instanceof RuntimeError ? EX_CONFIG : exitCodeFor(err);
      this.#log.error(
        { err, code: (err as { code?: unknown }).code },
        `startup failed: ${errorMessage(err)}`,
      );
      await this.#teardown();
      this.#phase = "stopped";
      this.#resolveStopped(code);
      throw err;
    }
  }

  /** Graceful stop: priority-0 adverts, VIPs released, resources closed; resolves `stopped` with 0. */
  async stop(why = "stop requested"): Promise<number> {
    if (this.#phase === "stopping" || this.#phase === "stopped") return this.stopped;
    if (this.#phase !== "running") throw new Error(`cannot stop while ${this.#phase}`);
    this.#phase = "stopping";
    this.#log.info({ why }, "stopping");
    this.#sdNotify("STOPPING=1");
    if (this.#reloading) await this.#reloading;
    const results = await Promise.all(
      [...this.#instances.values()].map((inst) => this.#shutdownInstance(inst)),
    );
    const clean = results.every((ok) => ok);
    await this.#teardown();
    this.#phase = "stopped";
    const code = clean ? EXIT_OK : EX_SOFTWARE;
    this.#log.info({ code }, "stopped");
    this.#resolveStopped(code);
    return code;
  }

  /**
   * Re-reads the config file. A bad file is refused (logged, running config kept). Unchanged
   * instances keep state and VIPs; changed ones get `configChanged`; removed ones shut down; new
   * ones start. Resolves true when the new config was applied.
   */
  reload(): Promise<boolean> {
    if (this.#phase !== "running") return Promise.resolve(false);
    if (this.#reloading) {
      this.#reloadAgain = true;
      return this.#reloading;
    }
    const run = async (): Promise<boolean> => {
      let applied = false;
      do {
        this.#reloadAgain = false;
        applied = await this.#reloadOnce();
      } while (this.#reloadAgain && this.#phase === "running");
      return applied;
    };
    this.#reloading = run().finally(() => {
      this.#reloading = null;
    });
    return this.#reloading;
  }

  /** Feeds an input from outside (hooks: trackers, fence results, maintenance). */
  input(instance: string, input: Input): boolean {
    const inst = this.#instances.get(instance);
    if (!inst || inst.closed || this.#phase !== "running") return false;
    if (input.type === "fenceResult" && inst.timeline) {
      inst.timeline.fenceDoneMs = this.#ports.clock.now();
      inst.timeline.fenceOk = input.ok;
    }
    if (input.type === "fenceResult")
      this.events.emit("fenceResult", { instance, ok: input.ok, detail: input.detail });
    this.#feed(inst, input);
    return true;
  }

  status(): DaemonStatus {
    const unattributed: Record<string, Record<string, number>> = {};
    for (const g of this.#groups.values()) unattributed[g.key] = { ...g.unattributed };
    return {
      pid: process.pid,
      startedAt: this.#startedAt,
      configPath: this.#o.configPath,
      unattributed,
      timer: {
        kind: this.#o.timerKind ?? "custom",
        fires: this.#scheduler.fires,
        worstLatenessMs: this.#scheduler.worstLatenessMs,
      },
      instances: [...this.#instances.values()].map((i) => this.#instanceStatus(i)),
    };
  }

  /** One instance's status (as in status()), without building every other one; null when unknown. */
  instanceStatus(name: string): InstanceStatus | null {
    const inst = this.#instances.get(name);
    return inst === undefined ? null : this.#instanceStatus(inst);
  }

  /**
   * What the event-loop lag guard reads once a second, without the copies status() makes: each
   * instance's state and the interval of the master it hears (from that peer's last advert; null
   * when there is none or it was not heard).
   */
  lagView(): { name: string; state: RouterState; masterAdverIntervalMs: number | null }[] {
    const out: { name: string; state: RouterState; masterAdverIntervalMs: number | null }[] = [];
    for (const inst of this.#instances.values()) {
      const r = inst.router;
      const master = r.state === "master" ? inst.advertSource : r.masterAddress;
      const peer = master === null ? undefined : inst.peers.get(master);
      out.push({
        name: inst.spec.name,
        state: r.state,
        masterAdverIntervalMs: peer?.adverIntervalMs ?? null,
      });
    }
    return out;
  }

  /** The deadline the protocol timer is armed at (tests). */
  get timerArmedAt(): number | null {
    return this.#scheduler.armedAt;
  }

  // ---------------------------------------------------------------- instances

  #checkSpecs(specs: InstanceSpec[]): void {
    const names = new Set<string>();
    const vrids = new Map<string, string>();
    for (const s of specs) {
      if (names.has(s.name))
        throw new RuntimeError("DUPLICATE_INSTANCE", `instance ${s.name} is defined twice`);
      names.add(s.name);
      const key = `${s.ifname}/${s.family}/${s.vrid}`;
      const other = vrids.get(key);
      if (other !== undefined) {
        throw new RuntimeError(
          "DUPLICATE_VRID",
          `instances ${other} and ${s.name} both use VRID ${s.vrid} for ${s.family} on ${s.ifname}`,
        );
      }
      vrids.set(key, s.name);
    }
  }

  async #link(ifname: string, refresh: boolean): Promise<LinkInfo> {
    const known = this.#links.get(ifname);
    if (known && !refresh) return known;
    const link = await this.#ports.addresses.getLink(ifname);
    if (parseMac(link.mac) === null) {
      throw new RuntimeError(
        "BAD_INTERFACE_MAC",
        `interface ${ifname} has no usable MAC address (${link.mac})`,
      );
    }
    this.#links.set(ifname, link);
    return link;
  }

  async #extraLinks(spec: InstanceSpec): Promise<void> {
    const devs = new Set([...spec.vips, ...spec.excludedVips].map((v) => v.dev));
    for (const dev of devs) if (dev !== spec.ifname) await this.#link(dev, true);
  }

  #primaryAddress(spec: InstanceSpec, link: LinkInfo): string {
    if (spec.unicastSrcIp !== null) return spec.unicastSrcIp;
    // The family test first, then a scan of the VIPs without copies: this runs for each instance
    // created, and a set of every instance's VIPs each time made start-up quadratic in memory.
    for (const raw of link.addresses) {
      const a = stripPrefix(raw);
      const family = familyOf(a);
      if (family !== spec.family || (family === "ipv6" && !isIpv6LinkLocal(a))) continue;
      if (this.#isVipAddress(a, spec)) continue;
      return a;
    }
    const want = spec.family === "ipv4" ? "IPv4 address" : "IPv6 link-local address";
    throw new RuntimeError(
      "NO_PRIMARY_ADDRESS",
      `instance ${spec.name}: interface ${spec.ifname} has no ${want} to send adverts from (set unicast_src_ip or configure one)`,
    );
  }

  /** True when `address` is a VIP (or excluded VIP) of `spec` or of an instance already created. */
  #isVipAddress(address: string, spec: InstanceSpec): boolean {
    if (specHasVip(spec, address)) return true;
    for (const inst of this.#instances.values()) if (specHasVip(inst.spec, address)) return true;
    return false;
  }

  async #createInstance(spec: InstanceSpec): Promise<Instance> {
    const link = await this.#link(spec.ifname, true);
    await this.#extraLinks(spec);
    const primaryAddress = this.#primaryAddress(spec, link);
    const options = spec.routerOptions({ primaryAddress });
    const group = this.#groupFor(spec, link);
    const inst: Instance = {
      spec,
      options,
      router: createRouter(options),
      log: this.#log.child({ instance: spec.name }),
      group,
      primaryAddress,
      advertSource: spec.unicastSrcIp ?? primaryAddress,
      linkUp: link.up,
      peers: new Map(),
      counters: emptyCounters(),
      inputs: [],
      lastStepMs: Number.NEGATIVE_INFINITY,
      handling: false,
      effects: [],
      effectsRunning: false,
      lastRemoveFailure: null,
      addsLanded: false,
      idleWaiters: [],
      installed: new Set(),
      plan: null,
      advertCache: new Map(),
      frameCache: new Map(),
      lastAdvert: null,
      currentInput: null,
      timeline: null,
      lastTimeline: null,
      closed: false,
      lastDecoded: null,
      routerKey: `router:${spec.name}`,
      absorbing: null,
      busySteps: 0,
      onRouterTimeout: () => {
        if (inst.closed) return;
        // A master is declared dead only if its advert is not already waiting in our socket:
        // after a stall the timer and the datagram are ready together, and the datagram (with
        // the kernel's receive time) goes first. If it moved the deadline, this timeout is void.
        // Repeats the socket absorbed (also those the drain read) are replayed first.
        if (inst.router.state === "backup" && (inst.group.socket.drain || inst.absorbing)) {
          inst.group.socket.drain?.();
          if (inst.closed) return;
          if (this.#catchUp(inst)) this.#absorbSyncFor(inst);
          const due = inst.router.nextDeadline;
          if (due === null || due > this.#ports.clock.now()) {
            this.#setRouterDeadline(inst, due);
            return;
          }
        }
        this.#feed(inst, TIMEOUT_INPUT);
      },
    };
    try {
      this.#prepareAnnouncements(inst);
      // The adverts a takeover and a resignation send, encoded now rather than on the way out.
      for (const dst of spec.unicastPeers ?? [spec.family === "ipv4" ? MULTICAST_V4 : MULTICAST_V6]) {
        this.#advertPayload(inst, options.priority, dst);
        this.#advertPayload(inst, 0, dst);
      }
    } catch (err) {
      if (group.byVrid.size === 0) {
        group.socket.close();
        this.#groups.delete(group.key);
      }
      throw err;
    }
    // Before the instance is registered: no datagram reaches it while this waits.
    await this.#prepareAddresses(inst);
    group.byVrid.set(spec.vrid, inst);
    this.#instances.set(spec.name, inst);
    return inst;
  }

  #startInstance(inst: Instance): void {
    inst.log.info(
      {
        interface: inst.spec.ifname,
        vrid: inst.spec.vrid,
        family: inst.spec.family,
        version: inst.spec.version,
        priority: inst.options.priority,
        primaryAddress: inst.primaryAddress,
        mode: inst.spec.unicastPeers === null ? "multicast" : "unicast",
      },
      "instance starting",
    );
    this.#feed(inst, { type: "startup" });
    if (!inst.linkUp) this.#feed(inst, { type: "linkChanged", up: false });
  }

  /** Sends `shutdown`, waits for the VIP removals; true when everything drained in time. */
  async #shutdownInstance(inst: Instance): Promise<boolean> {
    if (inst.closed) return true;
    this.#feed(inst, { type: "shutdown" });
    const drained = await this.#waitIdle(inst, DRAIN_TIMEOUT_MS);
    if (!drained)
      inst.log.error({ pending: inst.effects.length }, "VIP changes did not finish in time at shutdown");
    this.#closeInstance(inst);
    return drained;
  }

  #closeInstance(inst: Instance): void {
    this.#absorbOff(inst);
    inst.closed = true;
    this.#scheduler.clear(inst.routerKey);
    this.#cancelAnnouncements(inst);
    this.#instances.delete(inst.spec.name);
    const g = inst.group;
    if (g.byVrid.get(inst.spec.vrid) === inst) g.byVrid.delete(inst.spec.vrid);
    if (g.byVrid.size === 0) {
      g.socket.close();
      this.#groups.delete(g.key);
    }
  }

  async #teardown(): Promise<void> {
    for (const u of this.#unsubscribe.splice(0)) u();
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = null;
    for (const inst of [...this.#instances.values()]) this.#closeInstance(inst);
    for (const g of this.#groups.values()) g.socket.close();
    this.#groups.clear();
    for (const s of this.#senders.values()) s.close();
    this.#senders.clear();
    this.#scheduler.close();
    this.#ports.addresses.close();
  }

  async #reloadOnce(): Promise<boolean> {
    const proc = this.#ports.process;
    this.#sdNotify(`RELOADING=1\nMONOTONIC_USEC=${proc.monotonicUsec()}`);
    this.#log.info({ configPath: this.#o.configPath }, "reloading configuration");
    let specs: InstanceSpec[];
    try {
      const config = await this.#o.loadConfig(this.#o.configPath);
      specs = this.#o.toSpecs(config);
      this.#checkSpecs(specs);
    } catch (err) {
      const issues = (err as { issues?: { file: string; line: number; col: number; message: string }[] })
        .issues;
      const lines = Array.isArray(issues)
        ? issues.map((i) => `${i.file}:${i.line}:${i.col}: ${i.message}`)
        : [];
      this.#log.error(
        { err, issues: lines },
        `reload refused, keeping the running configuration: ${errorMessage(err)}`,
      );
      this.#sdNotify(`READY=1\nSTATUS=${this.#lastStatusLine}`);
      this.events.emit("reloaded", { ok: false, error: errorMessage(err) });
      return false;
    }
    if (this.#phase !== "running") return false;

    const wanted = new Map(specs.map((s) => [s.name, s]));
    const removed: Instance[] = [];
    const replaced: InstanceSpec[] = [];
    const kept: [Instance, InstanceSpec][] = [];
    for (const inst of this.#instances.values()) {
      const spec = wanted.get(inst.spec.name);
      if (!spec) removed.push(inst);
      else if (identityKey(spec) !== identityKey(inst.spec)) {
        removed.push(inst);
        replaced.push(spec);
      } else kept.push([inst, spec]);
    }
    const added = specs.filter((s) => !this.#instances.has(s.name));
    const summary = {
      removed: [] as string[],
      added: [] as string[],
      changed: [] as string[],
      unchanged: [] as string[],
    };

    // Removals first so a VRID or VIP moving between instances is released before it is taken.
    await Promise.all(
      removed.map(async (inst) => {
        inst.log.info("instance removed or replaced by reload: shutting down");
        summary.removed.push(inst.spec.name);
        await this.#shutdownInstance(inst);
      }),
    );
    let ok = true;
    for (const [inst, spec] of kept) {
      try {
        const link = await this.#link(spec.ifname, true);
        await this.#extraLinks(spec);
        const primaryAddress = this.#primaryAddress(spec, link);
        const options = spec.routerOptions({ primaryAddress });
        const settingsChanged = runtimeSettingsKey(spec) !== runtimeSettingsKey(inst.spec);
        const optionsChanged = !sameOptions(options, inst.options);
        inst.spec = spec;
        inst.primaryAddress = primaryAddress;
        inst.advertSource = spec.unicastSrcIp ?? primaryAddress;
        inst.advertCache.clear();
        this.#prepareAnnouncements(inst);
        await this.#prepareAddresses(inst);
        if (optionsChanged) {
          inst.options = options;
          inst.log.info("configuration changed");
          summary.changed.push(spec.name);
          this.#feed(inst, { type: "configChanged", options });
        } else if (settingsChanged) {
          inst.log.info("runtime settings changed (router unchanged)");
          summary.changed.push(spec.name);
        } else summary.unchanged.push(spec.name);
      } catch (err) {
        ok = false;
        inst.log.error(
          { err },
          `reload could not reconfigure the instance, keeping it as it was: ${errorMessage(err)}`,
        );
      }
    }
    for (const spec of [...replaced, ...added]) {
      try {
        const inst = await this.#createInstance(spec);
        summary.added.push(spec.name);
        this.#startInstance(inst);
      } catch (err) {
        ok = false;
        this.#log.error(
          { err, instance: spec.name },
          `reload could not start instance ${spec.name}: ${errorMessage(err)}`,
        );
      }
    }
    this.#log.info(summary, ok ? "reload applied" : "reload applied with errors");
    this.#notifyStatus(true);
    this.#sdNotify(`READY=1\nSTATUS=${this.#lastStatusLine}`);
    this.events.emit("reloaded", ok ? { ok } : { ok, error: "some instances could not be (re)started" });
    return true;
  }

  #installSignals(): void {
    const proc = this.#ports.process;
    const onStop = (sig: string) => () => {
      this.stop(`received ${sig}`).catch((err: unknown) => {
        this.#log.error({ err }, "stop failed");
        this.#resolveStopped(EX_SOFTWARE);
      });
    };
    this.#unsubscribe.push(proc.onSignal("SIGTERM", onStop("SIGTERM")));
    this.#unsubscribe.push(proc.onSignal("SIGINT", onStop("SIGINT")));
    this.#unsubscribe.push(
      proc.onSignal("SIGHUP", () => {
        this.reload().catch((err: unknown) => this.#log.error({ err }, "reload failed"));
      }),
    );
  }

  #startWatchdog(): void {
    const usec = this.#ports.process.watchdogUsec();
    if (usec === null || usec <= 0) return;
    // Half the period, as sd_watchdog_enabled(3) recommends; runs from the event loop so a stall shows.
    const everyMs = Math.max(1, Math.floor(usec / 2000));
    this.#watchdog = setInterval(() => this.#sdNotify("WATCHDOG=1"), everyMs);
  }

  #sdNotify(state: string): void {
    try {
      this.#ports.process.sdNotify(state);
    } catch (err) {
      if (!this.#sdNotifyFailed) this.#log.error({ err }, `sd_notify failed: ${errorMessage(err)}`);
      this.#sdNotifyFailed = true;
    }
  }

  #notifyStatus(force: boolean): void {
    const line = statusLine(
      [...this.#instances.values()].map((i) => ({ name: i.spec.name, state: i.router.state })),
    );
    if (!force && line === this.#lastStatusLine) return;
    this.#lastStatusLine = line;
    if (this.#phase === "running" || force) this.#sdNotify(`STATUS=${line}`);
  }

  // ---------------------------------------------------------------- inputs

  /** `at`: when the input happened (a datagram's receive time); null: now. */
  #feed(inst: Instance, input: Input, at: number | null = null): void {
    if (inst.handling || inst.inputs.length > 0) {
      inst.inputs.push({ input, at });
      if (inst.handling) return;
    }
    inst.handling = true;
    try {
      // The usual case, nothing queued: this input is stepped without a queue entry.
      if (inst.inputs.length === 0) this.#step(inst, input, at);
      for (let entry = inst.inputs.shift(); entry !== undefined; entry = inst.inputs.shift()) {
        this.#step(inst, entry.input, entry.at);
      }
    } finally {
      inst.currentInput = null;
      inst.handling = false;
    }
  }

  /** One input through the router, its actions dispatched (only from #feed). */
  #step(inst: Instance, input: Input, at: number | null): void {
    const absorbing = inst.absorbing;
    if (absorbing !== null) {
      if (input === absorbing.input) {
        // The replay of an absorbed repeat: the socket goes on absorbing while it stays quiet.
        const busy = inst.busySteps;
        this.#stepOnce(inst, input, at);
        if (inst.busySteps !== busy || inst.router.state !== "backup") this.#absorbOff(inst);
        return;
      }
      // Any other input: the repeats absorbed before it come first, then the socket delivers
      // again (the next quiet advert arms it anew).
      const seenAt = this.#takeAbsorbed(inst, absorbing);
      if (seenAt !== null) this.#stepOnce(inst, absorbing.input, seenAt);
      this.#absorbOff(inst);
    }
    this.#stepOnce(inst, input, at);
  }

  #stepOnce(inst: Instance, input: Input, at: number | null): void {
    const now = Math.max(inst.lastStepMs, at ?? this.#ports.clock.now());
    inst.lastStepMs = now;
    inst.currentInput = input;
    const step = inst.router.handle(now, input);
    this.#setRouterDeadline(inst, step.nextDeadline);
    if (step.actions.length > 0) inst.busySteps++;
    const actions = takeoverFirst(step.actions);
    if (actions.length > 0) this.#openTimeline(inst, actions, now);
    // Fencing mode: a master that yields removes its VIPs and then tells the preempting router
    // with a priority-0 advert that they are released; it claims on that advert. The removal is
    // asynchronous, so the release waits behind it in the effect queue. Other adverts (and a
    // resign sent before the removal, as at shutdown) go out at once.
    let removing = false;
    for (let i = 0; i < actions.length; i++) {
      const action = actions[i] as Action;
      if (action.type === "removeVips") removing = true;
      if (removing && action.type === "sendAdvert" && action.priority === 0) {
        this.#enqueue(inst, { type: "release" });
      } else this.#dispatch(inst, action, now);
    }
  }

  // ------------------------------------------------------------ absorbed repeats

  /**
   * After a quiet step of a backup on an advert from the master it follows: the socket may absorb
   * that advert's repeats (see Absorbing). Not when the step did anything (a new master, a
   * mismatch report, a transition) or when this advert needs counting of its own.
   */
  #armAbsorb(inst: Instance, d: VrrpDatagram, input: Absorbing["input"], quiet: boolean): void {
    const socket = inst.group.socket;
    if (
      !quiet ||
      inst.absorbing !== null ||
      socket.absorb === undefined ||
      socket.absorbed === undefined ||
      inst.closed ||
      inst.handling ||
      inst.inputs.length > 0 ||
      inst.router.state !== "backup" ||
      inst.router.masterAddress !== d.src ||
      inst.router.nextDeadline === null ||
      // While preempt_delay holds, the same advert may be followed now and discarded later, at a
      // time no timer marks: each one is stepped until the hold is over.
      inst.router.preemptHoldUntilMs > inst.lastStepMs
    )
      return;
    if (!socket.absorb(inst.spec.vrid, d)) return;
    inst.absorbing = {
      input,
      src: d.src,
      seen: socket.absorbed[inst.spec.vrid]!,
      windowMs: input.adverIntervalMs / 2,
    };
    this.#absorbingSet.add(inst);
    this.#absorbSyncFor(inst);
  }

  #absorbOff(inst: Instance): void {
    if (inst.absorbing === null) return;
    inst.absorbing = null;
    this.#absorbingSet.delete(inst);
    inst.group.socket.release?.(inst.spec.vrid);
  }

  /**
   * The repeats absorbed since the last look: counted as received, and the latest one's receive
   * time (null when none came).
   */
  #takeAbsorbed(inst: Instance, a: Absorbing): number | null {
    const absorbed = inst.group.socket.absorbed;
    if (absorbed === undefined) return null;
    const count = absorbed[inst.spec.vrid]!;
    if (count === a.seen) return null;
    const n = count - a.seen;
    a.seen = count;
    const at = absorbed[ABSORBED_AT + inst.spec.vrid]!;
    inst.counters.advertsReceived += n;
    const peer = inst.peers.get(a.src);
    if (peer) {
      peer.advertsReceived += n;
      if (peer.lastSeenMs < at) peer.lastSeenMs = at;
    }
    // Not when a later advert from someone else already took its place (it is being stepped now).
    const last = inst.lastAdvert;
    if (last !== null && last.src === a.src && last.at < at) last.at = at;
    return at;
  }

  /** Replays the latest absorbed repeat through the router, if one came; true when it did. */
  #catchUp(inst: Instance): boolean {
    const a = inst.absorbing;
    if (a === null || inst.handling || inst.closed) return false;
    const at = this.#takeAbsorbed(inst, a);
    if (at === null) return false;
    this.#feed(inst, a.input, at);
    return true;
  }

  /** Makes sure the sync look comes before this backup's deadline. */
  #absorbSyncFor(inst: Instance): void {
    const due = inst.router.nextDeadline;
    if (inst.absorbing === null || due === null) return;
    const at = due - ABSORB_SYNC_LEAD_MS;
    const scheduled = this.#scheduler.deadline(ABSORB_SYNC_KEY);
    if (scheduled !== null && scheduled <= at) return;
    this.#scheduler.set(ABSORB_SYNC_KEY, at, this.#onAbsorbSync);
  }

  /**
   * One timer for all absorbing backups. It runs just before the earliest of their deadlines, and
   * every backup whose deadline falls within half its master's interval after that replays its
   * latest repeat, which moves the deadline on by about two intervals when adverts keep coming.
   * So the next look is at least half an interval later: 255 backups at 100 ms make about 10 such
   * looks a second (measured), where each backup's own timer would otherwise fire every few
   * intervals. (The repeats still wake the process, but only the addon runs for them.) A backup
   * that got no repeat keeps its deadline: its own timer runs then and looks once more before
   * declaring the master down.
   */
  readonly #onAbsorbSync = (now: number): void => {
    let next: number | null = null;
    for (const inst of this.#absorbingSet) {
      let a = inst.absorbing;
      let due = inst.router.nextDeadline;
      if (a === null || due === null) continue;
      const horizon = now + a.windowMs;
      if (due - ABSORB_SYNC_LEAD_MS <= horizon) {
        this.#catchUp(inst);
        a = inst.absorbing;
        due = inst.router.nextDeadline;
        if (a === null || due === null) continue;
      }
      // Still within the window: no repeat came, its own timer decides (a later repeat re-adds it).
      const at = due - ABSORB_SYNC_LEAD_MS;
      if (at > horizon && (next === null || at < next)) next = at;
    }
    // (The key is not scheduled while it runs: deadline() is null unless a catch-up set it again.)
    const scheduled = this.#scheduler.deadline(ABSORB_SYNC_KEY);
    if (next !== null && (scheduled === null || next < scheduled)) {
      this.#scheduler.set(ABSORB_SYNC_KEY, next, this.#onAbsorbSync);
    }
  };

  #setRouterDeadline(inst: Instance, at: number | null): void {
    if (inst.closed) return;
    // A backup's deadline is a takeover (or nothing): be awake for it (scheduler.ts).
    const early = inst.router.state === "backup" ? TAKEOVER_WAKE_EARLY_MS : 0;
    this.#scheduler.set(inst.routerKey, at, inst.onRouterTimeout, early);
  }

  #onLinkChange(ifname: string, up: boolean): void {
    const link = this.#links.get(ifname);
    if (link) link.up = up;
    for (const inst of this.#instances.values()) {
      if (inst.spec.ifname !== ifname || inst.linkUp === up || inst.closed) continue;
      inst.linkUp = up;
      inst.log.info({ interface: ifname, up }, `link ${up ? "up" : "down"}`);
      this.#feed(inst, { type: "linkChanged", up });
    }
  }

  #groupFor(spec: InstanceSpec, link: LinkInfo): SocketGroup {
    const key = `${spec.ifname}/${spec.family}`;
    const multicast = spec.unicastPeers === null;
    const existing = this.#groups.get(key);
    if (existing && (existing.multicast || !multicast)) return existing;
    if (existing) {
      // A unicast-only socket now also needs the multicast group: reopen it with membership.
      for (const inst of existing.byVrid.values()) this.#absorbOff(inst);
      existing.socket.close();
      existing.socket = this.#openSocket(existing, true);
      existing.multicast = true;
      return existing;
    }
    const group: SocketGroup = {
      key,
      ifname: spec.ifname,
      family: spec.family,
      ifindex: link.index,
      multicast,
      socket: undefined as unknown as VrrpSocketPort,
      byVrid: new Map(),
      unattributed: {},
      discardLog: new Map(),
    };
    group.socket = this.#openSocket(group, multicast);
    this.#groups.set(key, group);
    return group;
  }

  #openSocket(group: SocketGroup, multicast: boolean): VrrpSocketPort {
    const socket = this.#ports.openVrrpSocket({ family: group.family, ifname: group.ifname, multicast });
    const why = socket.kernelAbsorbError;
    if (why !== undefined) {
      const fields = { interface: group.ifname, family: group.family };
      if (why === "")
        this.#log.info(fields, "VRRP socket: a master's repeated adverts are absorbed in the kernel");
      else
        this.#log.info(
          { ...fields, reason: why },
          "VRRP socket: a master's repeated adverts are absorbed in the addon, not the kernel (a backup uses more CPU)",
        );
    }
    socket.onDatagram((d) => this.#onDatagram(group, d));
    socket.onError((err) => {
      group.unattributed["receive-error"] = (group.unattributed["receive-error"] ?? 0) + 1;
      this.#discardLog(group, undefined, "receive-error", errorMessage(err));
    });
    return socket;
  }

  #discard(group: SocketGroup, inst: Instance | undefined, reason: string, detail: string): void {
    if (inst) inst.counters.discarded[reason] = (inst.counters.discarded[reason] ?? 0) + 1;
    else group.unattributed[reason] = (group.unattributed[reason] ?? 0) + 1;
    this.events.emit("discarded", { instance: inst?.spec.name ?? null, reason });
    this.#discardLog(group, inst, reason, detail);
  }

  /** Rate-limited warning: one line per (instance, reason) per window, with the suppressed count. */
  #discardLog(group: SocketGroup, inst: Instance | undefined, reason: string, detail: string): void {
    const now = this.#ports.clock.now();
    const key = `${inst?.spec.name ?? ""}|${reason}`;
    const entry = group.discardLog.get(key);
    if (entry && now - entry.windowStart < DISCARD_LOG_WINDOW_MS) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    group.discardLog.set(key, { windowStart: now, suppressed: 0 });
    const log = inst?.log ?? this.#log;
    log.warn({ socket: group.key, reason, detail, suppressed }, `VRRP datagram: ${reason}`);
  }

  #onDatagram(group: SocketGroup, d: VrrpDatagram): void {
    if (this.#phase !== "running") return;
    const vridGuess = d.payload.length >= 2 ? d.payload[1] : undefined;
    const guess = vridGuess === undefined ? undefined : group.byVrid.get(vridGuess);
    if (d.ifindex !== group.ifindex) {
      this.#discard(group, guess, "wrong-interface", `arrived on ifindex ${d.ifindex}`);
      return;
    }
    const res = this.#decode(group, guess, d);
    if (res.type === "invalid") {
      this.#discard(group, guess, res.reason, res.detail);
      return;
    }
    const advert = res.advert;
    // The guess read the VRID byte the decoder read: no second lookup.
    const inst = advert.vrid === vridGuess ? guess : group.byVrid.get(advert.vrid);
    if (!inst || inst.closed) {
      this.#discard(group, undefined, "unknown-vrid", `VRID ${advert.vrid} from ${d.src}`);
      return;
    }
    if (d.src === inst.primaryAddress || d.src === inst.advertSource) {
      this.#discard(group, inst, "own-advert", `from our own address ${d.src}`);
      return;
    }
    if (inst.spec.unicastPeers !== null && !inst.spec.unicastPeers.includes(d.src)) {
      this.#discard(group, inst, "unknown-peer", `${d.src} is not a configured unicast peer`);
      return;
    }
    // Repeats the socket absorbed before this datagram (which ended the absorbing) come first.
    if (inst.absorbing !== null) this.#catchUp(inst);
    // The kernel's receive time: Master_Down_Timer runs from the advert's arrival.
    const now = d.rxMs ?? this.#ports.clock.now();
    const intervalMs = adverIntervalMs(advert);
    inst.counters.advertsReceived++;
    let peer = inst.peers.get(d.src);
    if (!peer) {
      peer = {
        address: d.src,
        priority: advert.priority,
        adverIntervalMs: intervalMs,
        version: advert.version,
        checksumForm: res.checksumForm,
        lastSeenMs: now,
        lastSeenAt: "",
        advertsReceived: 0,
      };
      inst.peers.set(d.src, peer);
    }
    // Either v3 IPv4 checksum form is accepted, but a peer that sends the other form most likely
    // drops ours (keepalived < 2.2.8 knows only the pseudo-header form): report it, keep the advert.
    const checksumMismatch =
      res.checksumForm !== "v2" && group.family === "ipv4" && res.checksumForm !== inst.spec.checksumForm;
    if (checksumMismatch) {
      inst.counters.mismatches.checksum = (inst.counters.mismatches.checksum ?? 0) + 1;
      this.#discardLog(
        group,
        inst,
        "mismatch-checksum",
        `${d.src} sends the ${res.checksumForm} VRRPv3 checksum, we send ${inst.spec.checksumForm}: ` +
          "it probably discards our adverts",
      );
    }
    peer.priority = advert.priority;
    peer.adverIntervalMs = intervalMs;
    peer.version = advert.version;
    peer.checksumForm = res.checksumForm;
    // The wall-clock lastSeenAt is derived when status is read: no Date.now() per advert.
    peer.lastSeenMs = now;
    peer.advertsReceived++;
    const wasBackup = inst.router.state === "backup";
    if (inst.router.state !== "master") {
      // Updated in place (it is copied into a timeline, never handed out): one object per master.
      const last = inst.lastAdvert;
      if (last === null) inst.lastAdvert = { src: d.src, at: now };
      else {
        last.src = d.src;
        last.at = now;
      }
    }
    const input: Absorbing["input"] = {
      type: "advert",
      src: d.src,
      priority: advert.priority,
      adverIntervalMs: intervalMs,
      version: advert.version,
      addresses: advert.addresses,
    };
    const busy = inst.busySteps;
    this.#feed(inst, input, now);
    // Its repeats may be absorbed when this step was quiet: a backup following, nothing reported.
    this.#armAbsorb(inst, d, input, wasBackup && inst.busySteps === busy && !checksumMismatch);
  }

  #decode(group: SocketGroup, guess: Instance | undefined, d: VrrpDatagram): DecodeResult {
    const last = guess?.lastDecoded;
    if (
      last &&
      last.src === d.src &&
      last.dst === d.dst &&
      last.ttl === d.ttl &&
      sameBytes(last.payload, d.payload)
    )
      return last.result;
    const res = decodeAdvert(d.payload, { family: group.family, src: d.src, dst: d.dst, ttl: d.ttl });
    // A copy: the sender of the datagram may reuse its buffer (only a miss pays it).
    if (guess && res.type === "ok")
      guess.lastDecoded = { payload: d.payload.slice(), src: d.src, dst: d.dst, ttl: d.ttl, result: res };
    return res;
  }

  // ---------------------------------------------------------------- actions

  #dispatch(inst: Instance, action: Action, now: number): void {
    switch (action.type) {
      case "sendAdvert":
        this.#sendAdvert(inst, action.priority);
        return;
      case "addVips":
        this.#enqueue(inst, { type: "addVips", vips: action.vips });
        return;
      case "removeVips":
        // No announcement may follow a removal: drop the pending burst and refresh now.
        this.#cancelAnnouncements(inst);
        this.#enqueue(inst, { type: "removeVips", vips: action.vips });
        return;
      case "announce":
        // Right behind adds that already landed (and nothing queued since): announce now, not on
        // their ACK. A failed add still reaches the core, which stops the announcements.
        if (inst.addsLanded && inst.effects.length === 0)
          this.#startAnnouncing(inst, action.vips, action.reason);
        else this.#enqueue(inst, { type: "announce", vips: action.vips, reason: action.reason });
        return;
      case "requestFence":
        if (inst.timeline) inst.timeline.fenceRequestedMs = now;
        inst.log.info({ peer: action.peer }, "fence requested");
        if (this.events.listenerCount("requestFence") === 0) {
          inst.log.error("fence requested but no fencing hook is attached");
        }
        this.events.emit(
          "requestFence",
          action.peerMac === undefined
            ? { instance: inst.spec.name, peer: action.peer }
            : { instance: inst.spec.name, peer: action.peer, peerMac: action.peerMac },
        );
        return;
      case "cancelFence":
        this.events.emit("cancelFence", { instance: inst.spec.name });
        return;
      case "notify":
        // Split brain (both outcomes: we won or lost the tie) is counted and logged at warn (issue 4).
        if (action.event === "split_brain") {
          inst.counters.splitBrains++;
          inst.log.warn({ detail: action.detail, count: inst.counters.splitBrains }, "split brain");
        } else inst.log.debug({ event: action.event, detail: action.detail }, "notify");
        this.events.emit("notify", {
          instance: inst.spec.name,
          event: action.event,
          detail: action.detail,
          state: inst.router.state,
          priority: inst.router.effectivePriority,
        });
        return;
      case "stateChanged":
        this.#onStateChanged(inst, action);
        return;
      case "mismatch":
        inst.counters.mismatches[action.field] = (inst.counters.mismatches[action.field] ?? 0) + 1;
        this.#discardLog(inst.group, inst, `mismatch-${action.field}`, action.detail);
        return;
      default: {
        const never: never = action;
        throw new Error(`unknown action ${JSON.stringify(never)}`);
      }
    }
  }

  #advertPayload(inst: Instance, priority: number, dst: string): Uint8Array {
    let byPriority = inst.advertCache.get(dst);
    const cached = byPriority?.get(priority);
    if (cached) return cached;
    const o = inst.options;
    const advert: Advert =
      inst.spec.version === 3
        ? {
            version: 3,
            vrid: o.vrid,
            priority,
            maxAdverIntCs: Math.round(o.adverIntervalMs / 10),
            addresses: inst.spec.advertAddresses,
          }
        : {
            version: 2,
            vrid: o.vrid,
            priority,
            adverIntS: Math.max(1, Math.round(o.adverIntervalMs / 1000)),
            authType: 0,
            authData: new Uint8Array(8),
            addresses: inst.spec.advertAddresses,
          };
    const payload = encodeAdvert(advert, {
      family: inst.spec.family,
      src: inst.advertSource,
      dst,
      checksumForm: inst.spec.family === "ipv6" ? "pseudo-header" : inst.spec.checksumForm,
    });
    // Bounded: 256 priorities for each destination of the configuration.
    if (byPriority === undefined) {
      byPriority = new Map();
      inst.advertCache.set(dst, byPriority);
    }
    byPriority.set(priority, payload);
    return payload;
  }

  #sendAdvert(inst: Instance, priority: number): void {
    const peers = inst.spec.unicastPeers;
    let failure: string | null = null;
    if (peers === null) {
      failure = this.#sendAdvertTo(inst, priority, inst.spec.family === "ipv4" ? MULTICAST_V4 : MULTICAST_V6);
    } else {
      for (const dst of peers) failure = this.#sendAdvertTo(inst, priority, dst) ?? failure;
    }
    if (failure !== null) {
      inst.log.warn({ error: failure }, "advert send failed");
      this.#feed(inst, { type: "effectFailed", effect: "sendAdvert", error: failure });
    }
  }

  /** Sends one advert; the failure text, or null when it went out. */
  #sendAdvertTo(inst: Instance, priority: number, dst: string): string | null {
    try {
      inst.group.socket.send(this.#advertPayload(inst, priority, dst), dst, inst.advertSource);
      inst.counters.advertsSent++;
      return null;
    } catch (err) {
      inst.counters.advertSendErrors++;
      return `advert to ${dst}: ${errorMessage(err)}`;
    }
  }

  #onStateChanged(inst: Instance, a: { from: RouterState; to: RouterState; reason: string }): void {
    inst.counters.transitions++;
    inst.log.info({ from: a.from, to: a.to, reason: a.reason }, `${a.from} -> ${a.to}: ${a.reason}`);
    if (a.to === "master" && inst.options.vips.length === 0) this.#finishTimeline(inst, true);
    if (a.to !== "master" && a.to !== "fencing" && inst.timeline) this.#finishTimeline(inst, false);
    if (a.from === "master" && a.to !== "master") this.#cancelAnnouncements(inst);
    if (a.to !== "master") inst.lastAdvert = null;
    this.events.emit("stateChanged", { instance: inst.spec.name, from: a.from, to: a.to, reason: a.reason });
    if (this.#phase === "running") this.#queueStatus();
  }

  /**
   * A takeover's timeline opens before any of its step's actions run: the VIP add and the first
   * announcement go out ahead of the transition's own bookkeeping (takeoverFirst) and are noted.
   */
  #openTimeline(inst: Instance, actions: readonly Action[], now: number): void {
    for (let i = 0; i < actions.length; i++) {
      const a = actions[i] as Action;
      if (a.type !== "stateChanged") continue;
      const takingOver =
        (a.to === "fencing" || a.to === "master") && a.from !== "fencing" && a.from !== "master";
      if (!takingOver) continue;
      const input = inst.currentInput;
      inst.timeline = {
        instance: inst.spec.name,
        startedAt: new Date().toISOString(),
        from: a.from,
        reason: a.reason,
        lastAdvertFrom: inst.lastAdvert?.src ?? null,
        lastAdvertMs: inst.lastAdvert?.at ?? null,
        downTimerMs: input?.type === "timeout" ? now : null,
        transitionMs: now,
        fenceRequestedMs: null,
        fenceDoneMs: null,
        fenceOk: null,
        vipAddedMs: null,
        firstAnnounceMs: null,
        durations: {
          lastAdvertToTransition: null,
          transitionToVipAdded: null,
          vipAddedToFirstAnnounce: null,
          lastAdvertToFirstAnnounce: null,
        },
        complete: false,
      };
    }
  }

  /**
   * The STATUS= line once for every transition of this turn: it names each instance, and many
   * transitions at once (255 instances becoming master together) made one line each.
   */
  #queueStatus(): void {
    if (this.#statusQueued) return;
    this.#statusQueued = true;
    queueMicrotask(() => {
      this.#statusQueued = false;
      if (this.#phase === "running") this.#notifyStatus(false);
    });
  }

  #finishTimeline(inst: Instance, complete: boolean): void {
    const t = inst.timeline;
    if (!t) return;
    inst.timeline = null;
    t.complete = complete;
    const diff = (a: number | null, b: number | null): number | null =>
      a === null || b === null ? null : Math.round((b - a) * 1000) / 1000;
    t.durations = {
      lastAdvertToTransition: diff(t.lastAdvertMs, t.transitionMs),
      transitionToVipAdded: diff(t.transitionMs, t.vipAddedMs),
      vipAddedToFirstAnnounce: diff(t.vipAddedMs, t.firstAnnounceMs),
      lastAdvertToFirstAnnounce: diff(t.lastAdvertMs, t.firstAnnounceMs),
    };
    inst.lastTimeline = t;
    // Each step in order, in ms after the old master's last advert (after the transition when none
    // was heard): "last advert -> down timer -> fence -> VIP added -> first announcement".
    const origin = t.lastAdvertMs ?? t.transitionMs;
    const step = (name: string, at: number | null) =>
      at === null ? null : `${name} +${Math.round((at - origin) * 10) / 10} ms`;
    const steps = [
      t.lastAdvertMs === null ? "no advert heard" : `last advert from ${t.lastAdvertFrom}`,
      step(t.downTimerMs === null ? `transition (${t.reason})` : "down timer fired", t.transitionMs),
      step("fence requested", t.fenceRequestedMs),
      step(t.fenceOk === false ? "fence failed" : "fence done", t.fenceDoneMs),
      step("VIP added", t.vipAddedMs),
      step("first announcement", t.firstAnnounceMs),
    ].filter((x): x is string => x !== null);
    inst.log.info(
      {
        timeline: t.durations,
        steps: steps.join(" -> "),
        from: t.lastAdvertFrom,
        reason: t.reason,
        complete,
        fenceOk: t.fenceOk,
      },
      complete ? "failover timeline" : "failover interrupted",
    );
    this.events.emit("timeline", t);
  }

  // ---------------------------------------------------------------- effects (serialized per instance)

  #enqueue(inst: Instance, effect: Effect): void {
    inst.effects.push(effect);
    if (!inst.effectsRunning) {
      // Runs synchronously up to its first await; never rejects (errors become effectFailed).
      this.#runEffects(inst).catch((err: unknown) => {
        inst.log.fatal({ err }, "effect runner crashed");
        throw err;
      });
    }
  }

  async #runEffects(inst: Instance): Promise<void> {
    inst.effectsRunning = true;
    try {
      for (let e = inst.effects.shift(); e !== undefined; e = inst.effects.shift()) {
        switch (e.type) {
          case "addVips": {
            const added = await this.#addVips(inst, e.vips);
            if (added.length > 0) inst.log.info({ vips: added }, "VIPs added");
            break;
          }
          case "removeVips":
            inst.lastRemoveFailure = await this.#removeVips(inst, e.vips);
            break;
          case "release":
            this.#sendRelease(inst);
            break;
          case "announce":
            this.#startAnnouncing(inst, e.vips, e.reason);
            break;
          case "announceStep":
            this.#announceStep(inst);
            break;
          case "refresh":
            this.#refresh(inst);
            break;
          default: {
            const never: never = e;
            throw new Error(`unknown effect ${JSON.stringify(never)}`);
          }
        }
      }
    } finally {
      inst.effectsRunning = false;
      for (const w of inst.idleWaiters.splice(0)) w();
    }
  }

  #waitIdle(inst: Instance, timeoutMs: number): Promise<boolean> {
    if (!inst.effectsRunning && inst.effects.length === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      inst.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  #vipSpec(inst: Instance, cidr: string): { dev: string; label: string | null } {
    const v =
      inst.spec.vips.find((x) => x.cidr === cidr) ?? inst.spec.excludedVips.find((x) => x.cidr === cidr);
    return v ? { dev: v.dev, label: v.label } : { dev: inst.spec.ifname, label: null };
  }

  /** What addAddress gets for one VIP (prepareAddress gets the same). */
  #addArgs(inst: Instance, cidr: string): { dev: string; o: { label?: string } } {
    const { dev, label } = this.#vipSpec(inst, cidr);
    // Labels are an IPv4 notion (IFA_LABEL); IPv6 addresses are added without one.
    const withLabel = label !== null && familyOf(stripPrefix(cidr)) === "ipv4";
    return { dev, o: withLabel ? { label } : {} };
  }

  /**
   * Lets the address port get each VIP's add ready (rtnl.ts encodes its request), so a takeover
   * only sends. A failure costs only that: the add encodes at takeover and reports any error then.
   */
  async #prepareAddresses(inst: Instance): Promise<void> {
    const addresses = this.#ports.addresses;
    if (addresses.prepareAddress === undefined) return;
    for (const v of [...inst.spec.vips, ...inst.spec.excludedVips]) {
      const { dev, o } = this.#addArgs(inst, v.cidr);
      try {
        await addresses.prepareAddress(dev, v.cidr, o);
      } catch (err) {
        inst.log.warn({ vip: v.cidr, dev, error: errorMessage(err) }, "VIP add not prepared ahead");
      }
    }
  }

  /** Adds the VIPs; returns the ones added (failures go back to the core). */
  async #addVips(inst: Instance, requested: string[]): Promise<string[]> {
    // virtual_ips_excluded go on with the first VIPs and come off with the last ones.
    const vips = [
      ...requested,
      ...inst.spec.excludedVips
        .map((v) => v.cidr)
        .filter((c) => !inst.installed.has(c) && !requested.includes(c)),
    ];
    let applied = 0;
    const onApplied = () => {
      applied++;
    };
    const adds = vips.map((cidr) => {
      const { dev, o } = this.#addArgs(inst, cidr);
      return this.#ports.addresses.addAddress(dev, cidr, o, onApplied);
    });
    // Every VIP already in the kernel (each add went out in this turn): the announcement queued
    // behind the adds goes out now, before their ACKs, as keepalived announces right after its
    // adds. A failed add still comes back through the ACK below, to the core as effectFailed.
    const announceNow = vips.length > 0 && applied === vips.length;
    if (announceNow) {
      inst.addsLanded = true;
      this.#vipsLanded(inst);
    }
    const results = await Promise.allSettled(adds);
    inst.addsLanded = false;
    const failures: string[] = [];
    results.forEach((r, i) => {
      const cidr = vips[i]!;
      if (r.status === "fulfilled") inst.installed.add(cidr);
      else failures.push(`${cidr}: ${errorMessage(r.reason)}`);
    });
    // Otherwise the announcement goes out on the ACKs, in the same continuation: no await, timer
    // or log line between the VIP landing and the first GARP / NA.
    if (!announceNow) {
      if (failures.length === 0) this.#vipsLanded(inst);
      else this.#noteVipsAdded(inst);
    }
    if (failures.length > 0) {
      inst.counters.vipAddErrors += failures.length;
      inst.log.error({ failures }, "adding VIPs failed");
      this.#feed(inst, { type: "effectFailed", effect: "addVips", error: failures.join("; ") });
    }
    return vips.filter((v) => inst.installed.has(v));
  }

  /** The VIPs are in the kernel: the timeline notes it, and the announcement queued behind starts. */
  #vipsLanded(inst: Instance): void {
    this.#noteVipsAdded(inst);
    if (inst.effects[0]?.type === "announce") {
      const next = inst.effects.shift() as Extract<Effect, { type: "announce" }>;
      this.#startAnnouncing(inst, next.vips, next.reason);
    }
  }

  /** The takeover's timeline notes when the VIPs were in the kernel (the first time only). */
  #noteVipsAdded(inst: Instance): void {
    if (inst.timeline && inst.timeline.vipAddedMs === null)
      inst.timeline.vipAddedMs = this.#ports.clock.now();
  }

  /** Sends the priority-0 release queued behind a removal, unless that removal failed. */
  #sendRelease(inst: Instance): void {
    if (inst.closed) return;
    if (inst.lastRemoveFailure !== null) {
      // The VIPs may still be here: no release, so the preempting router does not claim them
      // beside us (with fencing it fences us once we stay silent without releasing).
      inst.log.warn(
        { error: inst.lastRemoveFailure },
        "priority-0 release withheld: removing the VIPs failed",
      );
      return;
    }
    this.#sendAdvert(inst, 0);
  }

  /** Removes the VIPs; returns the failures (null when every removal succeeded). */
  async #removeVips(inst: Instance, requested: string[]): Promise<string | null> {
    const excluded = new Set(inst.spec.excludedVips.map((v) => v.cidr));
    const regularLeft = [...inst.installed].filter((c) => !excluded.has(c) && !requested.includes(c));
    const vips =
      regularLeft.length > 0
        ? requested
        : [...requested, ...[...inst.installed].filter((c) => excluded.has(c) && !requested.includes(c))];
    const results = await Promise.allSettled(
      vips.map((cidr) => this.#ports.addresses.removeAddress(this.#vipSpec(inst, cidr).dev, cidr)),
    );
    const failures: string[] = [];
    results.forEach((r, i) => {
      const cidr = vips[i]!;
      if (r.status === "fulfilled") inst.installed.delete(cidr);
      else failures.push(`${cidr}: ${errorMessage(r.reason)}`);
    });
    if (failures.length > 0) {
      inst.counters.vipRemoveErrors += failures.length;
      inst.log.error({ failures }, "removing VIPs failed");
      if (!inst.closed)
        this.#feed(inst, { type: "effectFailed", effect: "removeVips", error: failures.join("; ") });
      return failures.join("; ");
    }
    inst.log.info({ vips }, "VIPs removed");
    return null;
  }

  /** The announcement frames for these VIPs, built once per instance and link facts. */
  #frames(inst: Instance, vips: string[]): Frame[] {
    const frames: Frame[] = [];
    for (const cidr of vips) {
      const cached = inst.frameCache.get(cidr);
      if (cached) {
        frames.push(cached);
        continue;
      }
      const frame = this.#buildFrame(inst, cidr);
      inst.frameCache.set(cidr, frame);
      frames.push(frame);
    }
    return frames;
  }

  #buildFrame(inst: Instance, cidr: string): Frame {
    const { dev } = this.#vipSpec(inst, cidr);
    const link = this.#links.get(dev);
    if (!link) throw new Error(`no link facts for ${dev}`);
    const srcMac = parseMac(link.mac);
    if (srcMac === null) throw new Error(`bad MAC ${link.mac} on ${dev}`);
    const ip = stripPrefix(cidr);
    if (familyOf(ip) === "ipv6") {
      let srcIp =
        dev === inst.spec.ifname && isIpv6LinkLocal(inst.primaryAddress) ? inst.primaryAddress : null;
      srcIp ??=
        link.addresses.map(stripPrefix).find((a) => familyOf(a) === "ipv6" && isIpv6LinkLocal(a)) ?? null;
      if (srcIp === null) throw new Error(`no IPv6 link-local address on ${dev} to send the NA from`);
      return { dev, bytes: buildUnsolicitedNa({ srcMac, srcIp, target: ip, router: false }) };
    }
    return { dev, bytes: buildGratuitousArp({ srcMac, ip }) };
  }

  /** Opens the packet sockets and builds the frames ahead, so a takeover only sends. */
  #prepareAnnouncements(inst: Instance): void {
    inst.frameCache.clear();
    const all = [...inst.spec.vips, ...inst.spec.excludedVips];
    for (const v of all) this.#sender(v.dev);
    this.#frames(
      inst,
      all.map((v) => v.cidr),
    );
  }

  #sender(dev: string): PacketSenderPort {
    let s = this.#senders.get(dev);
    if (!s) {
      s = this.#ports.openPacketSender(dev);
      this.#senders.set(dev, s);
    }
    return s;
  }

  /** Sends one announcement (one frame per VIP). Returns false after reporting a failure. */
  #sendFrames(inst: Instance, frames: Frame[]): boolean {
    try {
      for (const f of frames) {
        this.#sender(f.dev).send(f.bytes);
        inst.counters.announcementsSent++;
        if (inst.timeline && inst.timeline.firstAnnounceMs === null) {
          inst.timeline.firstAnnounceMs = this.#ports.clock.now();
        }
      }
      if (inst.timeline && inst.timeline.firstAnnounceMs !== null) this.#finishTimeline(inst, true);
      return true;
    } catch (err) {
      inst.counters.announceErrors++;
      const error = errorMessage(err);
      inst.log.warn({ error }, "announcement failed");
      this.#feed(inst, { type: "effectFailed", effect: "announce", error });
      return false;
    }
  }

  #startAnnouncing(inst: Instance, vips: string[], reason: AnnounceReason): void {
    if (inst.closed || !inst.router.holdsVips) return;
    let frames: Frame[];
    try {
      frames = this.#frames(inst, vips);
    } catch (err) {
      inst.counters.announceErrors++;
      this.#feed(inst, { type: "effectFailed", effect: "announce", error: errorMessage(err) });
      return;
    }
    const base = this.#ports.clock.now();
    const times = announceOffsets(inst.spec.announce, reason).map((o) => base + o);
    const count = times.length;
    inst.plan = { times, frames, reason };
    this.#announceStep(inst);
    // A refresh already scheduled is replaced by the one the plan schedules when it ends.
    if (inst.plan !== null) this.#scheduler.clear(`refresh:${inst.spec.name}`);
    inst.log.info({ vips, reason, announcements: count }, "announcing VIPs");
  }

  #announceStep(inst: Instance): void {
    const plan = inst.plan;
    if (!plan || inst.closed) return;
    if (!inst.router.holdsVips) {
      this.#cancelAnnouncements(inst);
      return;
    }
    const now = this.#ports.clock.now();
    while (plan.times.length > 0 && plan.times[0]! <= now) {
      plan.times.shift();
      if (!this.#sendFrames(inst, plan.frames)) {
        this.#cancelAnnouncements(inst);
        return;
      }
    }
    const next = plan.times[0];
    if (next !== undefined) {
      this.#scheduler.set(`announce:${inst.spec.name}`, next, () =>
        this.#enqueue(inst, { type: "announceStep" }),
      );
      return;
    }
    inst.plan = null;
    this.#scheduleRefresh(inst, now);
  }

  #scheduleRefresh(inst: Instance, now: number): void {
    const every = inst.spec.announce.refreshMs;
    if (every <= 0 || inst.closed) return;
    this.#scheduler.set(`refresh:${inst.spec.name}`, now + every, () =>
      this.#enqueue(inst, { type: "refresh" }),
    );
  }

  #refresh(inst: Instance): void {
    if (inst.closed || !inst.router.holdsVips || inst.installed.size === 0) return;
    try {
      if (!this.#sendFrames(inst, this.#frames(inst, [...inst.installed]))) return;
    } catch (err) {
      inst.counters.announceErrors++;
      this.#feed(inst, { type: "effectFailed", effect: "announce", error: errorMessage(err) });
      return;
    }
    this.#scheduleRefresh(inst, this.#ports.clock.now());
  }

  #cancelAnnouncements(inst: Instance): void {
    inst.plan = null;
    this.#scheduler.clear(`announce:${inst.spec.name}`);
    this.#scheduler.clear(`refresh:${inst.spec.name}`);
  }

  // ---------------------------------------------------------------- status

  #instanceStatus(inst: Instance): InstanceStatus {
    this.#catchUp(inst);
    const r = inst.router;
    const monoNow = this.#ports.clock.now();
    const wallNow = Date.now();
    return {
      name: inst.spec.name,
      interface: inst.spec.ifname,
      family: inst.spec.family,
      vrid: inst.spec.vrid,
      version: inst.spec.version,
      state: r.state,
      priority: inst.options.priority,
      effectivePriority: r.effectivePriority,
      primaryAddress: inst.primaryAddress,
      master: r.state === "master" ? inst.advertSource : r.masterAddress,
      mode: inst.spec.unicastPeers === null ? "multicast" : "unicast",
      vips: [...inst.options.vips],
      holdsVips: r.holdsVips,
      installedVips: [...inst.installed],
      linkUp: inst.linkUp,
      peers: [...inst.peers.values()].map((p) => ({
        ...p,
        lastSeenAt: new Date(wallNow - (monoNow - p.lastSeenMs)).toISOString(),
      })),
      counters: {
        ...inst.counters,
        discarded: { ...inst.counters.discarded },
        mismatches: { ...inst.counters.mismatches },
      },
      lastTimeline: inst.lastTimeline ?? inst.timeline,
    };
  }
}

function exitCodeFor(err: unknown): number {
  const code = (err as { code?: unknown }).code;
  if (code === "NEEDS_CAP_NET_RAW" || code === "NEEDS_CAP_NET_ADMIN") return EX_NOPERM;
  if (code === "NO_SUCH_INTERFACE") return EX_CONFIG;
  if (code === "OS_ERROR") return EX_OSERR;
  return EX_SOFTWARE;
}
