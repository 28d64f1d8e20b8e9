// Typed wrappers over the vipd_native addon (native/, built with `npm run build:native`).
// The addon is loaded on first use, so code that only imports the types (the simulator, the
// config checker) runs without it.

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { constants as osConstants } from "node:os";
import { fileURLToPath } from "node:url";
import type { Family } from "../core/types.js";
import { VipdOsError, type VipdOsErrorCode } from "./errors.js";

export { VipdOsError, type VipdOsErrorCode } from "./errors.js";

export interface VrrpDatagram {
  /**
   * The VRRP message (for IPv4 the IP header is already stripped). The caller may keep it: it is a
   * view of memory taken for the datagrams of one receive (from Node's Buffer pool when small),
   * never reused or written again.
   */
  payload: Buffer;
  src: string;
  dst: string;
  /** IPv4 TTL or IPv6 hop limit as received (-1 if the kernel did not report it). */
  ttl: number;
  /** Index of the interface the datagram arrived on. */
  ifindex: number;
  /** CLOCK_MONOTONIC ms when the kernel received it (monotonicNowMs's clock). */
  rxMs: number;
}

export interface VrrpSocket {
  /** Index of the interface the socket is bound to. */
  readonly ifindex: number;
  onDatagram(cb: (d: VrrpDatagram) => void): void;
  /**
   * Receive errors other than EAGAIN/EINTR. Without a listener such an error is thrown from the
   * event loop (an uncaught exception), never dropped.
   */
  onError(cb: (e: VipdOsError) => void): void;
  /** Sends with TTL / hop limit 255; `src` picks the source address (IP_PKTINFO / IPV6_PKTINFO). */
  send(payload: Uint8Array, dst: string, src?: string): void;
  /** Reads the datagrams queued now; each reaches onDatagram before this returns. */
  drain(): void;
  /**
   * From now on the addon counts the repeats of this datagram for its VRID (the same payload bytes,
   * source, destination, TTL and interface) instead of delivering them, until another datagram for
   * that VRID arrives (it and every later one are delivered, in order) or release(vrid). false:
   * nothing armed (a payload over 256 bytes, or an addon built before absorb).
   */
  absorb(
    vrid: number,
    d: Pick<VrrpDatagram, "src" | "dst" | "ttl" | "ifindex"> & { payload: Uint8Array },
  ): boolean;
  /** Ends absorb(vrid); a no-op when it is not armed. */
  release(vrid: number): void;
  /**
   * Per VRID: [vrid] how many repeats were absorbed so far (never reset), [256 + vrid] the latest
   * one's receive time (rxMs's clock). Memory the addon writes while reading; each read of the
   * property first adds the repeats the kernel absorbed.
   */
  readonly absorbed: Float64Array;
  /**
   * "" when repeats are absorbed in the kernel (an eBPF socket filter: they do not wake the
   * process); otherwise why not (no CAP_BPF, an older addon...), and the addon absorbs them.
   */
  readonly kernelAbsorbError: string;
  /** Datagrams read from the socket so far (not the ones the kernel absorbed); NaN: not known. */
  readonly datagramsRead: number;
  /** Idempotent; safe inside onDatagram (no further datagrams are delivered). */
  close(): void;
}

export interface PacketSocket {
  readonly ifindex: number;
  /** Sends one whole Ethernet frame (destination MAC and EtherType taken from the frame). */
  send(frame: Uint8Array): void;
  close(): void;
}

export interface HighResTimer {
  /** Fires once at this CLOCK_MONOTONIC time (see monotonicNowMs); re-arming replaces the deadline. */
  armAt(monotonicMs: number): void;
  disarm(): void;
  close(): void;
}

/** Everything this module offers, as one object, so a simulator can substitute its own. */
export interface NativeIo {
  openVrrpSocket(o: VrrpSocketOptions): VrrpSocket;
  openPacketSocket(ifname: string): PacketSocket;
  sdNotify(state: string): boolean;
  createHighResTimer(cb: () => void): HighResTimer;
  monotonicNowMs(): number;
}

// ---- the addon ----

interface AddonVrrpSocket {
  readonly ifindex: number;
  /** batchVersion 2: the memory each batch is left in (see native/src/vrrp_socket.cc). */
  readonly meta?: Int32Array;
  readonly receivedMs?: Float64Array;
  readonly payloads?: Uint8Array;
  readonly addressTexts?: (string | undefined)[];
  send(payload: Uint8Array, dst: string, src?: string): void;
  /** Absent in addons built before it was added. */
  drain?(): void;
  /** absorb, release and absorbed: absent in addons built before they were added. */
  absorb?(vrid: number, payload: Uint8Array, src: string, dst: string, ttl: number, ifindex: number): boolean;
  release?(vrid: number): void;
  readonly absorbed?: Float64Array;
  /** Absent in addons built before the kernel filter. */
  readonly kernelAbsorbError?: string;
  readonly datagramsRead?: number;
  close(): void;
}
interface AddonPacketSocket {
  readonly ifindex: number;
  send(frame: Uint8Array): void;
  close(): void;
}
interface AddonTimer {
  armAt(ms: number): void;
  disarm(): void;
  close(): void;
}
/** One call per readiness event, the datagrams left in the socket's shared memory (batchVersion 2). */
type AddonOnBatch = (count: number) => void;
/** One call per readiness event, fresh objects each time (addon batchVersion 1). */
type AddonOnDatagrams = (
  payloads: Buffer,
  meta: Int32Array,
  addresses: string[],
  /** Absent in addons built before it was added. */
  receivedMs?: Float64Array,
) => void;
/** One call per datagram (addons built before batchVersion). */
type AddonOnDatagram = (payload: Buffer, src: string, dst: string, ttl: number, ifindex: number) => void;
interface Addon {
  VrrpSocket: {
    new (
      family: 4 | 6,
      ifname: string,
      multicast: boolean,
      onDatagram: AddonOnBatch | AddonOnDatagrams | AddonOnDatagram,
      onError: (e: Error) => void,
      options?: { kernelAbsorb?: boolean },
    ): AddonVrrpSocket;
    readonly batchVersion?: number;
  };
  PacketSocket: new (ifname: string) => AddonPacketSocket;
  HighResTimer: new (onFire: () => void) => AddonTimer;
  monotonicNowMs(): number;
  sdNotify(address: string, state: string): boolean;
  /** Absent in addons built before it was added. */
  peerCredentials?(fd: number): { pid: number; uid: number; gid: number };
  /** Absent in addons built before it was added. Each field: 0 done, -1 not asked, else errno. */
  setScheduling?(
    realtimePriority: number,
    nice: number | null,
    rttimeUs: number,
  ): { realtime: number; nice: number; threads: number };
  /** Absent in addons built before it was added. Calls V8's C++ API (native/src/memory.cc). */
  reduceMemory?(): void;
  /** The NODE_MODULE_VERSION the addon was compiled against; absent before reduceMemory. */
  builtForModules?: number;
}

const ADDON_RELATIVE = "native/build/Release/vipd_native.node";

/**
 * Where the built addon is: the repository root is two levels above src/linux/ (tsx, vitest)
 * and three above dist/src/linux/ (compiled output).
 */
export function nativeAddonPath(): string {
  const candidates = [
    new URL(`../../${ADDON_RELATIVE}`, import.meta.url),
    new URL(`../../../${ADDON_RELATIVE}`, import.meta.url),
  ];
  for (const url of candidates) {
    const path = fileURLToPath(url);
    if (existsSync(path)) return path;
  }
  throw new Error(
    `vipd native addon not found (looked for ${candidates.map((u) => fileURLToPath(u)).join(" and ")}); run "npm run build:native"`,
  );
}

let addon: Addon | undefined;

function loadAddon(): Addon {
  if (addon === undefined) {
    const require = createRequire(import.meta.url);
    addon = require(nativeAddonPath()) as Addon;
  }
  return addon;
}

const VIPD_CODES = new Set<string>(["NEEDS_CAP_NET_RAW", "NO_SUCH_INTERFACE", "OS_ERROR"]);

/** Converts an Error thrown by the addon into a VipdOsError; argument errors pass unchanged. */
function toVipdError(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const raw = e as Error & { vipdCode?: unknown; errno?: unknown; syscall?: unknown };
  if (typeof raw.vipdCode !== "string" || !VIPD_CODES.has(raw.vipdCode)) return e;
  return new VipdOsError(raw.vipdCode as VipdOsErrorCode, e.message, {
    errno: typeof raw.errno === "number" ? raw.errno : 0,
    syscall: typeof raw.syscall === "string" ? raw.syscall : "",
  });
}

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw toVipdError(e);
  }
}

/**
 * A VRRP send (per advert): a top-level function, so no closure is made per call. (The same try
 * written inside the wrapper's method instead left the master's V8 heap 18 pages of 256 KiB larger
 * at 255 VRIDs, measured; as a function of its own it does not.)
 */
function sendOn(sock: AddonVrrpSocket, payload: Uint8Array, dst: string, src: string | undefined): void {
  try {
    if (src === undefined) sock.send(payload, dst);
    else sock.send(payload, dst, src);
  } catch (e) {
    throw toVipdError(e);
  }
}

/** Arms the protocol timer (per advert on a master): a top-level function, so no closure per call. */
function armOn(timer: AddonTimer, monotonicMs: number): void {
  try {
    timer.armAt(monotonicMs);
  } catch (e) {
    throw toVipdError(e);
  }
}

// ---- the wrappers ----

export interface VrrpSocketOptions {
  family: Family;
  ifname: string;
  multicast: boolean;
  /** false: no kernel filter, the addon absorbs every repeat itself (default true). */
  kernelAbsorb?: boolean;
}

export function openVrrpSocket(o: VrrpSocketOptions): VrrpSocket {
  const native = loadAddon();
  const datagramListeners: ((d: VrrpDatagram) => void)[] = [];
  const errorListeners: ((e: VipdOsError) => void)[] = [];
  let closed = false;
  const deliver = (d: VrrpDatagram): void => {
    for (const cb of datagramListeners) cb(d);
  };
  // The addon hands over every datagram of a readiness event in one call (one crossing into
  // JavaScript instead of one per datagram); each still reaches the listeners as its own object,
  // its payload a view of that call's fresh buffer, so listeners may keep it.
  const onDatagrams: AddonOnDatagrams = (payloads, meta, addresses, receivedMs) => {
    const count = meta.length >> 2;
    const readAt = receivedMs === undefined ? native.monotonicNowMs() : 0;
    for (let i = 0; i < count && !closed; i++) {
      const offset = meta[4 * i]!;
      deliver({
        payload: payloads.subarray(offset, offset + meta[4 * i + 1]!),
        src: addresses[2 * i]!,
        dst: addresses[2 * i + 1]!,
        ttl: meta[4 * i + 2]!,
        ifindex: meta[4 * i + 3]!,
        rxMs: receivedMs?.[i] ?? readAt,
      });
    }
  };
  const onDatagram: AddonOnDatagram = (payload, src, dst, ttl, ifindex) => {
    if (!closed) deliver({ payload, src, dst, ttl, ifindex, rxMs: native.monotonicNowMs() });
  };
  const onError = (e: Error): void => {
    const err = toVipdError(e);
    if (!(err instanceof VipdOsError) || errorListeners.length === 0) throw err;
    for (const cb of errorListeners) cb(err);
  };
  // batchVersion 2: the addon leaves each batch in memory made once per socket and passes only the
  // count (no objects made per readiness event on its side). The payloads are copied out at once
  // into one buffer of their own (from Node's pool when small), so each datagram's payload stays
  // the listeners' to keep. The rest is read while delivering: the addon writes that memory again
  // only after this call returns (a drain() from a listener does not read meanwhile).
  let shared: {
    meta: Int32Array;
    receivedMs: Float64Array;
    payloads: Buffer;
    texts: (string | undefined)[];
  } | null = null;
  const onBatch: AddonOnBatch = (count) => {
    if (shared === null) throw new Error("vipd addon: a batch arrived before the socket was set up");
    const { meta, receivedMs, payloads, texts } = shared;
    const last = 6 * (count - 1);
    const bytes = meta[last]! + meta[last + 1]!;
    const copy = Buffer.allocUnsafe(bytes);
    payloads.copy(copy, 0, 0, bytes);
    for (let i = 0; i < count && !closed; i++) {
      const m = 6 * i;
      const offset = meta[m]!;
      const srcSlot = meta[m + 4]!;
      const dstSlot = meta[m + 5]!;
      deliver({
        payload: copy.subarray(offset, offset + meta[m + 1]!),
        src: srcSlot < 0 ? "" : texts[srcSlot]!,
        dst: dstSlot < 0 ? "" : texts[dstSlot]!,
        ttl: meta[m + 2]!,
        ifindex: meta[m + 3]!,
        rxMs: receivedMs[i]!,
      });
    }
  };
  const version = native.VrrpSocket.batchVersion;
  const sock = call(
    () =>
      new native.VrrpSocket(
        o.family === "ipv4" ? 4 : 6,
        o.ifname,
        o.multicast,
        version === 2 ? onBatch : version === 1 ? onDatagrams : onDatagram,
        onError,
        { kernelAbsorb: o.kernelAbsorb !== false },
      ),
  );
  // The absorbed counts of an addon without absorb(): none, ever.
  const noAbsorbed = new Float64Array(512);
  if (version === 2) {
    const { meta, receivedMs, payloads, addressTexts } = sock;
    if (
      meta === undefined ||
      receivedMs === undefined ||
      payloads === undefined ||
      addressTexts === undefined
    )
      throw new Error("vipd addon: a batchVersion 2 socket without its shared memory");
    shared = {
      meta,
      receivedMs,
      payloads: Buffer.from(payloads.buffer, payloads.byteOffset, payloads.byteLength),
      texts: addressTexts,
    };
  }
  return {
    ifindex: sock.ifindex,
    onDatagram(cb) {
      datagramListeners.push(cb);
    },
    onError(cb) {
      errorListeners.push(cb);
    },
    send(payload, dst, src) {
      sendOn(sock, payload, dst, src);
    },
    drain() {
      if (!closed) sock.drain?.();
    },
    absorb(vrid, d) {
      if (closed || sock.absorb === undefined) return false;
      return call(() => sock.absorb!(vrid, d.payload, d.src, d.dst, d.ttl, d.ifindex));
    },
    release(vrid) {
      if (!closed) sock.release?.(vrid);
    },
    get absorbed() {
      return sock.absorbed ?? noAbsorbed;
    },
    kernelAbsorbError: sock.kernelAbsorbError ?? "this addon has no kernel filter",
    get datagramsRead() {
      return sock.datagramsRead ?? Number.NaN;
    },
    close() {
      closed = true;
      sock.close();
    },
  };
}

export function openPacketSocket(ifname: string): PacketSocket {
  const native = loadAddon();
  const sock = call(() => new native.PacketSocket(ifname));
  return {
    ifindex: sock.ifindex,
    send(frame) {
      call(() => sock.send(frame));
    },
    close() {
      sock.close();
    },
  };
}

/**
 * Sends one sd_notify datagram ("READY=1", "STATUS=...", "WATCHDOG=1", ...) to $NOTIFY_SOCKET.
 * Returns false when NOTIFY_SOCKET is unset (not running under systemd); throws VipdOsError when
 * the send fails or the address is neither a path nor an abstract '@name'.
 */
export function sdNotify(state: string): boolean {
  const address = process.env.NOTIFY_SOCKET;
  if (address === undefined || address === "") return false;
  if (!address.startsWith("/") && !address.startsWith("@")) {
    throw new VipdOsError(
      "OS_ERROR",
      `NOTIFY_SOCKET is neither an absolute path nor an abstract '@name': ${address}`,
      {
        errno: 0,
        syscall: "sd_notify",
      },
    );
  }
  const native = loadAddon();
  return call(() => native.sdNotify(address, state));
}

export function createHighResTimer(cb: () => void): HighResTimer {
  const native = loadAddon();
  const timer = call(() => new native.HighResTimer(cb));
  return {
    armAt(monotonicMs) {
      armOn(timer, monotonicMs);
    },
    disarm() {
      timer.disarm();
    },
    close() {
      timer.close();
    },
  };
}

/**
 * SO_PEERCRED of a connected Unix stream socket (the control socket's callers). Returns null when
 * the addon predates this function; throws VipdOsError when getsockopt fails.
 */
export function peerCredentials(fd: number): { pid: number; uid: number; gid: number } | null {
  const native = loadAddon();
  if (typeof native.peerCredentials !== "function") return null;
  const fn = native.peerCredentials.bind(native);
  return call(() => fn(fd));
}

export interface SchedulingRequest {
  /** 1..99: SCHED_RR at this priority for every thread; 0: unchanged. */
  realtimePriority: number;
  /** -20..19 for every thread; null: unchanged. */
  nice: number | null;
  /** RLIMIT_RTTIME (µs of CPU without blocking before SIGXCPU) set with realtime. */
  rttimeUs: number;
}

/** What each part of setScheduling did: "ok", "skipped" (not asked), or the OS error text. */
export interface SchedulingResult {
  realtime: string;
  nice: string;
  threads: number;
}

function errnoText(errno: number): string {
  if (errno === 0) return "ok";
  if (errno === -1) return "skipped";
  const name = Object.entries(osConstants.errno).find(([, v]) => v === errno)?.[0] ?? `errno ${errno}`;
  return name === "EPERM" ? "EPERM (needs CAP_SYS_NICE, and RestrictRealtime=no under systemd)" : name;
}

/**
 * Raises the process's scheduling (realtime round-robin, nice), so a loaded machine delays the
 * protocol timers as little as it delays keepalived's. Partial failure is
 * reported per part, never thrown: vipd runs on without the boost. Null when the addon predates it.
 */
export function setScheduling(o: SchedulingRequest): SchedulingResult | null {
  const native = loadAddon();
  if (typeof native.setScheduling !== "function") return null;
  const fn = native.setScheduling.bind(native);
  const r = fn(o.realtimePriority, o.nice, o.rttimeUs);
  return {
    realtime: errnoText(r.realtime),
    nice: errnoText(r.nice),
    threads: r.threads,
  };
}

/**
 * A collection that also returns V8's emptied heap pages to the OS at once (native/src/memory.cc),
 * or null: an addon without it, or one compiled for another Node (V8's C++ API, unlike Node-API,
 * changes between Node majors, so it is called only by the Node it was built for).
 */
export function memoryReducer(): (() => void) | null {
  const native = loadAddon();
  if (typeof native.reduceMemory !== "function") return null;
  if (!addonFitsNode(native.builtForModules, process.versions.modules)) return null;
  return native.reduceMemory.bind(native);
}

/** The addon's NODE_MODULE_VERSION is the running Node's (process.versions.modules). */
export function addonFitsNode(builtForModules: unknown, modules: string): boolean {
  return typeof builtForModules === "number" && String(builtForModules) === modules;
}

/** CLOCK_MONOTONIC in milliseconds (fractional): the clock createHighResTimer is armed on. */
export function monotonicNowMs(): number {
  return loadAddon().monotonicNowMs();
}

export const nativeIo: NativeIo = {
  openVrrpSocket,
  openPacketSocket,
  sdNotify,
  createHighResTimer,
  monotonicNowMs,
};
