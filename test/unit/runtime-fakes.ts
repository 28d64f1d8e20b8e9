// Fake ports for the runtime's unit tests: a manual monotonic clock with one timer, recording
// sockets, an in-memory address manager and a process port with scripted signals.

import { Writable } from "node:stream";
import pino from "pino";
import { loadConfigText, type VipdConfig } from "../../src/config/index.js";
import { configToSpecs } from "../../src/runtime/config-view.js";
import { Engine } from "../../src/runtime/engine.js";
import type {
  AddressManagerPort,
  ClockPort,
  LinkInfo,
  PacketSenderPort,
  ProcessPort,
  RuntimePorts,
  TimerPort,
  VrrpDatagram,
  VrrpSocketPort,
} from "../../src/runtime/ports.js";

/** Lets pending promise continuations (fake rtnl calls) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

export type Event =
  | { kind: "advert"; at: number; ifname: string; dst: string; src: string | undefined; payload: Uint8Array }
  | { kind: "add" | "remove"; at: number; ifname: string; cidr: string; label: string | null }
  | { kind: "frame"; at: number; ifname: string; bytes: Uint8Array };

export class FakeClock implements ClockPort {
  t = 1000;
  armed: number | null = null;
  timers = 0;
  #fire: (() => void) | null = null;

  now(): number {
    return this.t;
  }

  createTimer(onFire: () => void): TimerPort {
    this.timers++;
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

  /** Moves time forward to `target`, firing the timer at each armed deadline on the way. */
  async advanceTo(target: number): Promise<void> {
    for (let guard = 0; guard < 100_000; guard++) {
      await flush();
      if (this.armed === null || this.armed > target || this.#fire === null) break;
      this.t = Math.max(this.t, this.armed);
      this.armed = null;
      this.#fire();
    }
    this.t = Math.max(this.t, target);
    await flush();
  }

  advance(ms: number): Promise<void> {
    return this.advanceTo(this.t + ms);
  }
}

export class FakeSocket implements VrrpSocketPort {
  closed = false;
  failSend: Error | null = null;
  #cb: ((d: VrrpDatagram) => void) | null = null;
  constructor(
    readonly ifname: string,
    readonly family: "ipv4" | "ipv6",
    readonly multicast: boolean,
    private readonly world: FakeWorld,
  ) {}

  get kernelAbsorbError(): string | undefined {
    return this.world.kernelAbsorbError;
  }

  onDatagram(cb: (d: VrrpDatagram) => void): void {
    this.#cb = cb;
  }

  #errorCb: ((err: Error) => void) | null = null;
  onError(cb: (err: Error) => void): void {
    this.#errorCb = cb;
  }

  receiveError(err: Error): void {
    this.#errorCb?.(err);
  }

  send(payload: Uint8Array, dst: string, src?: string): void {
    if (this.failSend) throw this.failSend;
    this.world.events.push({
      kind: "advert",
      at: this.world.clock.t,
      ifname: this.ifname,
      dst,
      src,
      payload,
    });
  }

  close(): void {
    this.closed = true;
  }

  deliver(d: VrrpDatagram): void {
    if (!this.#cb) throw new Error("no datagram callback registered");
    if (this.#absorbs(d)) return;
    this.#cb(d);
  }

  readonly absorbed = new Float64Array(512);
  readonly #armed = new Map<number, VrrpDatagram>();

  /** As the addon: repeats of an armed datagram are counted, anything else for its VRID disarms. */
  absorb(vrid: number, d: VrrpDatagram): boolean {
    if (!this.world.absorbs || d.payload.length > 256) return false;
    if (d.payload[1] !== vrid) throw new Error(`absorb: VRID ${vrid} is not the payload's`);
    this.#armed.set(vrid, { ...d, payload: d.payload.slice() });
    return true;
  }

  release(vrid: number): void {
    this.#armed.delete(vrid);
  }

  /** VRIDs armed now (tests). */
  get armedVrids(): number[] {
    return [...this.#armed.keys()];
  }

  #absorbs(d: VrrpDatagram): boolean {
    const vrid = d.payload[1];
    if (d.payload.length < 2 || vrid === undefined) return false;
    const a = this.#armed.get(vrid);
    if (a === undefined) return false;
    const same =
      a.src === d.src &&
      a.dst === d.dst &&
      a.ttl === d.ttl &&
      a.ifindex === d.ifindex &&
      a.payload.length === d.payload.length &&
      a.payload.every((b, i) => b === d.payload[i]);
    if (!same) {
      this.#armed.delete(vrid);
      return false;
    }
    this.absorbed[vrid]! += 1;
    this.absorbed[256 + vrid] = Math.max(this.absorbed[256 + vrid]!, d.rxMs ?? this.world.clock.now());
    return true;
  }

  /** Datagrams received by the kernel but not yet read: only drain() hands them over. */
  readonly queued: VrrpDatagram[] = [];

  drain(): void {
    for (let d = this.queued.shift(); d !== undefined; d = this.queued.shift()) this.deliver(d);
  }
}

export class FakeWorld {
  readonly clock = new FakeClock();
  readonly events: Event[] = [];
  readonly sockets: FakeSocket[] = [];
  readonly notifications: string[] = [];
  readonly links = new Map<string, LinkInfo>();
  readonly addresses = new Set<string>();
  orphans: string[] = [];
  failAdd: Error | null = null;
  failRemove: Error | null = null;
  failFrame: Error | null = null;
  /** When set, address changes wait for this promise (to test ordering). */
  gate: Promise<void> | null = null;
  /**
   * As rtnetlink does when its socket is idle: an add lands in the caller's turn and says so
   * (onApplied); its outcome (failAdd) comes later, after ackGate when one is set.
   */
  addsInTurn = false;
  /** Whether the sockets offer absorb() (as the addon does); off, the engine steps every advert. */
  absorbs = true;
  /** What the sockets say of the kernel filter (VrrpSocketPort.kernelAbsorbError); undefined: nothing. */
  kernelAbsorbError: string | undefined = undefined;
  ackGate: Promise<void> | null = null;
  watchdog: number | null = null;
  #signals = new Map<string, Set<() => void>>();
  #linkCb: ((e: { ifname: string; up: boolean }) => void) | null = null;
  closedRtnl = false;

  constructor() {
    this.links.set("eth0", {
      index: 2,
      mac: "02:00:00:00:00:11",
      up: true,
      addresses: ["192.0.2.11/24", "fe80::11/64", "2001:db8::11/64"],
    });
  }

  get socket(): FakeSocket {
    const s = this.sockets.find((x) => !x.closed);
    if (!s) throw new Error("no open socket");
    return s;
  }

  adverts(): Extract<Event, { kind: "advert" }>[] {
    return this.events.filter((e): e is Extract<Event, { kind: "advert" }> => e.kind === "advert");
  }

  frames(): Extract<Event, { kind: "frame" }>[] {
    return this.events.filter((e): e is Extract<Event, { kind: "frame" }> => e.kind === "frame");
  }

  signal(sig: "SIGTERM" | "SIGINT" | "SIGHUP"): void {
    for (const cb of this.#signals.get(sig) ?? []) cb();
  }

  linkChange(ifname: string, up: boolean): void {
    this.#linkCb?.({ ifname, up });
  }

  ports(): RuntimePorts {
    const addresses: AddressManagerPort = {
      getLink: async (ifname) => {
        const l = this.links.get(ifname);
        if (!l) throw Object.assign(new Error(`no such interface ${ifname}`), { code: "NO_SUCH_INTERFACE" });
        return {
          ...l,
          addresses: [
            ...l.addresses,
            ...[...this.addresses].filter((a) => a.startsWith(`${ifname} `)).map((a) => a.split(" ")[1]!),
          ],
        };
      },
      addAddress: async (ifname, cidr, o, onApplied) => {
        if (this.addsInTurn && !this.gate) {
          this.addresses.add(`${ifname} ${cidr}`);
          this.events.push({ kind: "add", at: this.clock.t, ifname, cidr, label: o?.label ?? null });
          onApplied?.();
          if (this.ackGate) await this.ackGate;
          if (this.failAdd) {
            this.addresses.delete(`${ifname} ${cidr}`);
            throw this.failAdd;
          }
          return;
        }
        if (this.gate) await this.gate;
        if (this.failAdd) throw this.failAdd;
        this.addresses.add(`${ifname} ${cidr}`);
        this.events.push({ kind: "add", at: this.clock.t, ifname, cidr, label: o?.label ?? null });
      },
      removeAddress: async (ifname, cidr) => {
        if (this.gate) await this.gate;
        if (this.failRemove) throw this.failRemove;
        this.addresses.delete(`${ifname} ${cidr}`);
        this.events.push({ kind: "remove", at: this.clock.t, ifname, cidr, label: null });
      },
      removeOrphans: async () => {
        const removed = this.orphans;
        this.orphans = [];
        return removed;
      },
      close: () => {
        this.closedRtnl = true;
      },
    };
    const proc: ProcessPort = {
      sdNotify: (state) => {
        this.notifications.push(state);
        return true;
      },
      watchdogUsec: () => this.watchdog,
      monotonicUsec: () => BigInt(Math.round(this.clock.t * 1000)),
      onSignal: (sig, cb) => {
        let set = this.#signals.get(sig);
        if (!set) {
          set = new Set();
          this.#signals.set(sig, set);
        }
        set.add(cb);
        return () => set.delete(cb);
      },
    };
    return {
      clock: this.clock,
      openVrrpSocket: (o) => {
        const s = new FakeSocket(o.ifname, o.family, o.multicast, this);
        this.sockets.push(s);
        return s;
      },
      openPacketSender: (ifname): PacketSenderPort => ({
        send: (bytes) => {
          if (this.failFrame) throw this.failFrame;
          this.events.push({ kind: "frame", at: this.clock.t, ifname, bytes });
        },
        close: () => {},
      }),
      addresses,
      links: {
        onLinkChange: (cb) => {
          this.#linkCb = cb;
        },
      },
      process: proc,
    };
  }
}

export interface LogLine {
  level: number;
  msg: string;
  instance?: string;
  [k: string]: unknown;
}

export function captureLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l.trim() !== "") lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { logger: pino({ level: "debug" }, stream), lines };
}

export const BASE_YAML = `
global:
  router_id: lb1
instances:
  web:
    interface: eth0
    vrid: 51
    priority: 100
    advert_interval: 1s
    virtual_ips: [192.0.2.100/24]
`;

export function config(text: string): VipdConfig {
  return loadConfigText(text, "vipd.yaml");
}

/** A started engine on fake ports, with a config file the test can rewrite for reloads. */
export async function startEngine(
  yaml: string,
  o: { world?: FakeWorld } = {},
): Promise<{ world: FakeWorld; engine: Engine<VipdConfig>; lines: LogLine[]; setFile(text: string): void }> {
  const world = o.world ?? new FakeWorld();
  const { logger, lines } = captureLogger();
  let file = yaml;
  const engine = new Engine<VipdConfig>({
    configPath: "vipd.yaml",
    logger,
    ports: world.ports(),
    loadConfig: async (path) => loadConfigText(file, path),
    toSpecs: configToSpecs,
    timerKind: "fake",
  });
  await engine.start(config(yaml));
  await flush();
  return {
    world,
    engine,
    lines,
    setFile(text: string) {
      file = text;
    },
  };
}
