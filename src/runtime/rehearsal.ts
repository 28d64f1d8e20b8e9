// A takeover rehearsal: the real Engine class, on in-memory ports, taken through a scripted
// backup -> master -> backup -> master cycle a few times.
//
// Why. A backup's takeover is the first time its process runs most of the takeover path (the
// router's takeover rules, the engine's dispatch, effects, announcements, timeline, the log line),
// and cold code costs: V8 has no inline caches or type feedback for it yet, and after a long idle
// it may even have flushed the bytecode of functions that did not run. Measured in the netns lab
// at 10 ms, a fresh backup's first takeover reached its VIP add ~1.5 ms after the step began
// against ~0.5 ms for the same process's later takeovers. Running the same functions on fake
// ports right after READY, and again every minute, keeps them warm.
//
// Isolation. The rehearsal has its own Engine (its own events, scheduler and instances), fed only
// by ports made here: a virtual clock and timer, a socket that records what is sent and delivers
// scripted adverts, a packet sender that drops frames, an address port that resolves at once and a
// process port with no systemd and no signals. Nothing reaches the OS, the daemon's engine, its
// hooks, metrics or status. Its logger writes into nothing (at the daemon's level, so that the log
// calls on the takeover path run the same logger code). A rehearsal that fails is logged once at
// warn and counted; it never throws into the daemon.
//
// Cost. It runs in short synchronous chunks with a turn of the event loop between them, so it
// never holds the daemon's timers up by more than one chunk (see RehearsalStats.longestChunkMs).

import { Writable } from "node:stream";
import pino, { type Logger } from "pino";
import { type Advert, encodeAdvert } from "../codec/advert.js";
import { parseIp } from "../codec/ip.js";
import type { Family, RouterState } from "../core/types.js";
import { Engine } from "./engine.js";
import type { InstanceSpec } from "./instance-spec.js";
import type {
  AddressManagerPort,
  ClockPort,
  LinkInfo,
  PacketSenderPort,
  RuntimePorts,
  TimerPort,
  VrrpDatagram,
  VrrpSocketPort,
} from "./ports.js";

/** A report with every count at zero (the start of a rehearsal, or nothing rehearsed yet). */
export function emptyRehearsalReport(instances: string[] = []): RehearsalReport {
  return {
    instances,
    takeovers: 0,
    stepDowns: 0,
    advertsSent: 0,
    vipsAdded: 0,
    vipsRemoved: 0,
    framesDropped: 0,
    busyMs: 0,
    longestChunkMs: 0,
    cpuMs: 0,
  };
}

/** Default time between rehearsals: often enough that V8 does not flush the takeover's bytecode. */
export const REHEARSAL_EVERY_MS = 60_000;
/** Takeover cycles of the first rehearsal (each: a down-timer takeover and a priority-0 one). */
export const REHEARSAL_CYCLES = 3;
/** Cycles of each later one: enough to keep the bytecode and the feedback of the path. */
export const REHEARSAL_REPEAT_CYCLES = 1;
/** The priority the throwaway instances run at, and the rival's. */
const OWN_PRIORITY = 100;
const RIVAL_PRIORITY = 200;
/** How far the virtual clock moves on each read: a busy wait for a deadline ends. */
const CLOCK_TICK_MS = 0.002;
/** Timer fires per advance at most (a timer re-armed in the past must not loop forever). */
const MAX_FIRES_PER_ADVANCE = 10_000;
/** Microtask turns after each step, so that its effects (VIP add, announcement) run in its chunk. */
const SETTLE_TURNS = 16;
const MULTICAST_V4 = "224.0.0.18";
const MULTICAST_V6 = "ff02::12";
const REHEARSAL_MAC = "02:00:5e:00:00:01";
/** Candidate addresses for the fake link and the rival; the first ones no VIP uses are taken. */
const CANDIDATES: Record<Family, string[]> = {
  ipv4: ["192.0.2.1", "192.0.2.2", "198.51.100.1", "198.51.100.2", "192.0.2.253", "192.0.2.254"],
  ipv6: ["fe80::5e:1", "fe80::5e:2", "fe80::5e:3", "fe80::5e:4"],
};

/** What one rehearsal did, from the fake ports' side. */
export interface RehearsalReport {
  /** The throwaway instances, one per (family, version) of the config. */
  instances: string[];
  /** Takeovers (to master) seen in the rehearsal engine, over all instances. */
  takeovers: number;
  /** Transitions back to backup. */
  stepDowns: number;
  advertsSent: number;
  vipsAdded: number;
  vipsRemoved: number;
  framesDropped: number;
  /**
   * Wall time of the script's steps, each until its effects settled, together and the longest one
   * (ms): how long the rehearsal holds the event loop at once (start and stop also include the
   * turns their fake link reads and drain wait give back).
   */
  busyMs: number;
  longestChunkMs: number;
  /** Process CPU (user + system) from start to end, which includes whatever ran between chunks. */
  cpuMs: number;
}

export interface RehearsalStats {
  runs: number;
  failures: number;
  last: RehearsalReport | null;
  lastError: string | null;
}

export interface RehearsalOptions {
  /** The running config's instance specs (read at each rehearsal: reloads are followed). */
  specs: () => InstanceSpec[];
  /** Gets the one warning of a failure; its level is the rehearsal logger's level. */
  logger: Logger;
  /** Cycles of the first rehearsal (REHEARSAL_CYCLES) and of the later ones (REHEARSAL_REPEAT_CYCLES). */
  cycles?: number;
  repeatCycles?: number;
  everyMs?: number;
  /** Tests: replaces the rehearsal itself (to check that a throw is contained). */
  rehearse?: (specs: InstanceSpec[]) => Promise<RehearsalReport>;
  /**
   * After each rehearsal: the real address port's rehearseAdd (ports.ts), the VIP add's own code
   * through the kernel, changing nothing. A rejection is a failed rehearsal.
   */
  rehearseAdd?: () => Promise<void>;
}

/** A process-wide CPU clock in ms (user + system). */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function settle(): Promise<void> {
  for (let i = 0; i < SETTLE_TURNS; i++) await null;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A monotonic clock that only moves when told to (and by a tick per read), with its one timer. */
class VirtualClock implements ClockPort {
  t = 1_000_000;
  armed: number | null = null;
  #fire: (() => void) | null = null;

  now(): number {
    this.t += CLOCK_TICK_MS;
    return this.t;
  }

  createTimer(onFire: () => void): TimerPort {
    this.#fire = onFire;
    return {
      armAt: (at) => {
        this.armed = at;
      },
      disarm: () => {
        this.armed = null;
      },
      close: () => {
        this.armed = null;
        this.#fire = null;
      },
    };
  }

  /** Fires the timer at each armed time up to `target` (or until `done`), then sets the clock there. */
  fireUntil(target: number, done: () => boolean): void {
    for (let n = 0; n < MAX_FIRES_PER_ADVANCE && !done(); n++) {
      const at = this.armed;
      if (at === null || at > target || this.#fire === null) break;
      this.t = Math.max(this.t, at);
      this.armed = null;
      this.#fire();
    }
    if (!done()) this.t = Math.max(this.t, target);
  }
}

/** The socket of one (interface, family): records sends, delivers what the script gives it. */
class RehearsalSocket implements VrrpSocketPort {
  sent = 0;
  #onDatagram: ((d: VrrpDatagram) => void) | null = null;
  readonly queued: VrrpDatagram[] = [];

  onDatagram(cb: (d: VrrpDatagram) => void): void {
    this.#onDatagram = cb;
  }

  onError(): void {
    // No receive errors in memory.
  }

  send(): void {
    this.sent++;
  }

  drain(): void {
    for (let d = this.queued.shift(); d !== undefined; d = this.queued.shift()) this.deliver(d);
  }

  deliver(d: VrrpDatagram): void {
    if (this.#onDatagram === null) throw new Error("rehearsal: the engine did not listen on its socket");
    this.#onDatagram(d);
  }

  close(): void {
    this.#onDatagram = null;
  }
}

/** One throwaway instance and the rival whose adverts the script delivers to it. */
interface Role {
  spec: InstanceSpec;
  socketKey: string;
  rival: string;
  /** Where the rival's adverts are addressed (the group, or our address in unicast mode). */
  dst: string;
  ifindex: number;
  intervalMs: number;
  adverts: Map<number, Uint8Array>;
}

function familyOf(address: string): Family | null {
  const bytes = parseIp(address);
  return bytes === null ? null : bytes.length === 4 ? "ipv4" : "ipv6";
}

function plain(cidr: string): string {
  const slash = cidr.indexOf("/");
  return slash === -1 ? cidr : cidr.slice(0, slash);
}

/**
 * The first spec of each (family, version), renamed, at OWN_PRIORITY without fencing or preempt
 * delay (so that the script decides every transition). Everything else is the real spec's: the
 * interface names, VIPs, labels, unicast peers, version, checksum form, interval and announcements.
 */
export function rehearsalSpecs(specs: InstanceSpec[]): InstanceSpec[] {
  const byKind = new Map<string, InstanceSpec>();
  for (const s of specs) {
    const key = `${s.family}-v${s.version}`;
    if (!byKind.has(key)) byKind.set(key, s);
  }
  return [...byKind].map(([key, s]) => {
    const name = `rehearsal-${key}`;
    return {
      ...s,
      name,
      routerOptions: (host) => ({
        ...s.routerOptions(host),
        name,
        priority: OWN_PRIORITY,
        preempt: true,
        preemptDelayMs: 0,
        fencing: false,
      }),
    };
  });
}

function pick(family: Family, taken: Set<string>): string {
  const a = CANDIDATES[family].find((c) => !taken.has(c));
  if (a === undefined) throw new Error(`rehearsal: no free ${family} address for the fake link`);
  taken.add(a);
  return a;
}

/** In-memory ports for the rehearsal engine, and the script's handles on them. */
function rehearsalPorts(specs: InstanceSpec[]) {
  const clock = new VirtualClock();
  const taken = new Set<string>();
  for (const s of specs) {
    for (const v of [...s.vips, ...s.excludedVips]) taken.add(plain(v.cidr));
    for (const p of s.unicastPeers ?? []) taken.add(p);
    if (s.unicastSrcIp !== null) taken.add(s.unicastSrcIp);
  }
  const own = { ipv4: pick("ipv4", taken), ipv6: pick("ipv6", taken) };
  const rival = { ipv4: pick("ipv4", taken), ipv6: pick("ipv6", taken) };
  const links = new Map<string, LinkInfo>();
  const link = (ifname: string): LinkInfo => {
    let l = links.get(ifname);
    if (l === undefined) {
      l = {
        index: 1000 + links.size,
        mac: REHEARSAL_MAC,
        up: true,
        addresses: [`${own.ipv4}/24`, `${own.ipv6}/64`],
      };
      links.set(ifname, l);
    }
    return l;
  };
  const sockets = new Map<string, RehearsalSocket>();
  const counts = { added: 0, removed: 0, frames: 0 };
  const addresses: AddressManagerPort = {
    // A turn of the event loop, as a netlink round trip takes: start() runs in short chunks.
    getLink: async (ifname) => {
      await yieldTurn();
      return { ...link(ifname) };
    },
    // Lands in the caller's turn, as an idle rtnetlink socket does: the takeover's early
    // announcement (before the ACK) is the path rehearsed.
    addAddress: async (_ifname, _cidr, _o, onApplied) => {
      counts.added++;
      onApplied?.();
    },
    removeAddress: async () => {
      counts.removed++;
    },
    removeOrphans: async () => [],
    close: () => {},
  };
  const sender: PacketSenderPort = {
    send: () => {
      counts.frames++;
    },
    close: () => {},
  };
  const ports: RuntimePorts = {
    clock,
    openVrrpSocket: (o) => {
      const s = new RehearsalSocket();
      sockets.set(`${o.ifname}/${o.family}`, s);
      return s;
    },
    openPacketSender: () => sender,
    addresses,
    links: { onLinkChange: () => {} },
    process: {
      sdNotify: () => false,
      watchdogUsec: () => null,
      monotonicUsec: () => BigInt(Math.round(clock.t * 1000)),
      onSignal: () => () => {},
    },
  };
  const roles: Role[] = specs.map((spec) => {
    const options = spec.routerOptions({ primaryAddress: spec.unicastSrcIp ?? own[spec.family] });
    const ourAddress = spec.unicastSrcIp ?? own[spec.family];
    const from = spec.unicastPeers?.find((p) => p !== ourAddress && familyOf(p) === spec.family);
    const src = from ?? rival[spec.family];
    const dst =
      spec.unicastPeers === null ? (spec.family === "ipv4" ? MULTICAST_V4 : MULTICAST_V6) : ourAddress;
    const adverts = new Map<number, Uint8Array>();
    for (const priority of [RIVAL_PRIORITY, 0]) {
      const advert: Advert =
        spec.version === 3
          ? {
              version: 3,
              vrid: spec.vrid,
              priority,
              maxAdverIntCs: Math.round(options.adverIntervalMs / 10),
              addresses: spec.advertAddresses,
            }
          : {
              version: 2,
              vrid: spec.vrid,
              priority,
              adverIntS: Math.max(1, Math.round(options.adverIntervalMs / 1000)),
              authType: 0,
              authData: new Uint8Array(8),
              addresses: spec.advertAddresses,
            };
      const checksumForm = spec.family === "ipv6" ? "pseudo-header" : spec.checksumForm;
      adverts.set(priority, encodeAdvert(advert, { family: spec.family, src, dst, checksumForm }));
    }
    return {
      spec,
      socketKey: `${spec.ifname}/${spec.family}`,
      rival: src,
      dst,
      ifindex: link(spec.ifname).index,
      intervalMs: options.adverIntervalMs,
      adverts,
    };
  });
  return { clock, ports, sockets, counts, roles };
}

/** A pino logger at `level` that writes into nothing. */
function sinkLogger(level: string): Logger {
  const sink = new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });
  return pino({ level }, sink);
}

/**
 * One rehearsal: a throwaway Engine on in-memory ports, through REHEARSAL_CYCLES cycles of
 * "backup hearing adverts -> down timer -> master -> higher-priority advert -> backup ->
 * priority-0 advert -> master -> higher-priority advert -> backup", then stopped. Rejects when the
 * engine did not behave as scripted (or threw).
 */
export async function rehearseTakeover(
  realSpecs: InstanceSpec[],
  o: { level?: string; cycles?: number } = {},
): Promise<RehearsalReport> {
  const cpuStart = cpuMs();
  const specs = rehearsalSpecs(realSpecs);
  const report = emptyRehearsalReport(specs.map((s) => s.name));
  if (specs.length === 0) return report;
  const { clock, ports, sockets, counts, roles } = rehearsalPorts(specs);
  const engine = new Engine<InstanceSpec[]>({
    configPath: "(takeover rehearsal)",
    logger: sinkLogger(o.level ?? "info"),
    ports,
    loadConfig: () => Promise.reject(new Error("the takeover rehearsal does not reload")),
    toSpecs: (s) => s,
    timerKind: "rehearsal",
  });
  engine.events.on("stateChanged", (c) => {
    if (c.to === "master") report.takeovers++;
    else if (c.from === "master") report.stepDowns++;
  });
  /** Runs one synchronous chunk and what its promises continue with, then gives the turn back. */
  const chunk = async (fn: () => void | Promise<void>): Promise<void> => {
    const t0 = performance.now();
    await fn();
    await settle();
    const ms = performance.now() - t0;
    report.busyMs += ms;
    report.longestChunkMs = Math.max(report.longestChunkMs, ms);
    await yieldTurn();
  };
  const states = (): Map<string, RouterState> => new Map(engine.lagView().map((i) => [i.name, i.state]));
  const expectAll = (want: RouterState, when: string): void => {
    for (const [name, state] of states()) {
      if (state !== want) throw new Error(`rehearsal: ${name} is ${state} ${when}, expected ${want}`);
    }
  };
  const hear = (priority: number): void => {
    for (const r of roles) {
      const socket = sockets.get(r.socketKey);
      const payload = r.adverts.get(priority);
      if (socket === undefined || payload === undefined)
        throw new Error(`rehearsal: no socket for ${r.socketKey}`);
      socket.deliver({ payload, src: r.rival, dst: r.dst, ttl: 255, ifindex: r.ifindex, rxMs: clock.now() });
    }
  };
  // Adverts come at the shortest interval, so that no backup times out before the script says.
  const intervalMs = Math.min(...roles.map((r) => r.intervalMs));
  // Long enough for any Master_Down_Interval (3 intervals and a skew below one).
  const downLimitMs = 5 * Math.max(...roles.map((r) => r.intervalMs));
  const untilAll = (want: RouterState) => () => [...states().values()].every((s) => s === want);
  const advance = (ms: number, done: () => boolean = () => false) => clock.fireUntil(clock.t + ms, done);

  try {
    await chunk(() => engine.start(specs));
    expectAll("backup", "after start");
    for (let cycle = 0; cycle < (o.cycles ?? REHEARSAL_CYCLES); cycle++) {
      // A backup hearing its master, then silence: the down timer fires.
      for (let i = 0; i < 3; i++) {
        await chunk(() => {
          advance(intervalMs);
          hear(RIVAL_PRIORITY);
        });
      }
      await chunk(() => advance(downLimitMs, untilAll("master")));
      expectAll("master", "after the down timer");
      // Master for a few intervals (adverts, announcements), then a better router appears.
      await chunk(() => advance(3 * intervalMs));
      await chunk(() => hear(RIVAL_PRIORITY));
      expectAll("backup", "after a higher-priority advert");
      await chunk(() => {
        advance(intervalMs);
        hear(RIVAL_PRIORITY);
      });
      // It resigns (priority 0): the takeover after Skew_Time.
      await chunk(() => hear(0));
      await chunk(() => advance(downLimitMs, untilAll("master")));
      expectAll("master", "after a priority-0 advert");
      await chunk(() => advance(3 * intervalMs));
      await chunk(() => hear(RIVAL_PRIORITY));
      expectAll("backup", "after a higher-priority advert");
    }
    let code = -1;
    await chunk(async () => {
      code = await engine.stop("takeover rehearsal done");
    });
    if (code !== 0) throw new Error(`rehearsal: the engine stopped with code ${code}`);
  } finally {
    if (engine.phase === "running") await engine.stop("takeover rehearsal failed");
  }
  for (const s of sockets.values()) report.advertsSent += s.sent;
  report.vipsAdded = counts.added;
  report.vipsRemoved = counts.removed;
  report.framesDropped = counts.frames;
  report.cpuMs = cpuMs() - cpuStart;
  return report;
}

/**
 * Rehearses once soon after start, then every `everyMs`. Never throws into the caller: a failed
 * rehearsal is counted, and the first one is logged at warn.
 */
export class TakeoverRehearsal {
  readonly #o: RehearsalOptions;
  readonly #stats: RehearsalStats = { runs: 0, failures: 0, last: null, lastError: null };
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;

  constructor(o: RehearsalOptions) {
    this.#o = o;
  }

  get stats(): RehearsalStats {
    return { ...this.#stats };
  }

  /** Schedules the first rehearsal (next turn of the event loop) and the periodic ones. */
  start(): void {
    if (this.#stopped || this.#timer !== null) return;
    // runOnce never rejects (a failure is counted and logged inside).
    this.#timer = setInterval(() => void this.runOnce(), this.#o.everyMs ?? REHEARSAL_EVERY_MS);
    this.#timer.unref();
    setImmediate(() => void this.runOnce());
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One rehearsal (or the one already running); resolves when it is over, never rejects. */
  runOnce(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#running ??= this.#rehearse().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #rehearse(): Promise<void> {
    const o = this.#o;
    try {
      const specs = o.specs();
      const cycles =
        this.#stats.runs === 0 ? (o.cycles ?? REHEARSAL_CYCLES) : (o.repeatCycles ?? REHEARSAL_REPEAT_CYCLES);
      const report = await (o.rehearse
        ? o.rehearse(specs)
        : rehearseTakeover(specs, { level: o.logger.level, cycles }));
      if (o.rehearseAdd) await o.rehearseAdd();
      this.#stats.runs++;
      this.#stats.last = report;
      const round = (ms: number) => Math.round(ms * 100) / 100;
      const fields = {
        instances: report.instances,
        takeovers: report.takeovers,
        cpuMs: round(report.cpuMs),
        longestChunkMs: round(report.longestChunkMs),
      };
      // The first one at info (what it costs at start), the minute's ones at debug.
      if (this.#stats.runs === 1) o.logger.info(fields, "takeover rehearsal done");
      else o.logger.debug(fields, "takeover rehearsal done");
    } catch (err) {
      this.#stats.runs++;
      this.#stats.failures++;
      this.#stats.lastError = errorText(err);
      if (this.#stats.failures === 1) {
        o.logger.warn(
          { err },
          `takeover rehearsal failed (the daemon runs on; later failures are only counted): ${errorText(err)}`,
        );
      }
    }
  }
}
