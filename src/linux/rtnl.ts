// rtnetlink through netlink@0.3.0: interface facts, the VIPs vipd adds and removes, link and
// address change events.
//
// Marking. Every address vipd adds carries IFA_PROTO = VIPD_IFA_PROTO (118, ASCII 'v'). The kernel
// stores the address protocol since Linux 6.1 for IPv4 and IPv6 alike and reports it back in
// dumps and events (checked by test/lab/linux-rtnl.test.ts). The values the kernel itself uses are
// 0-3 (unspec, kernel_lo, kernel_ra, kernel_ll); 118 is outside them and is what
// `ip address show proto 118` filters on. An address without our mark is never changed:
//   - addAddress of an address that already exists with our mark succeeds (idempotent); one that
//     exists without it fails with FOREIGN_ADDRESS (the operator configured it by hand).
//   - removeAddress of an absent address succeeds (idempotent); of an unmarked one fails with
//     FOREIGN_ADDRESS.
//   - removeOrphans removes only marked addresses, on every interface of the namespace: at start no
//     VIP can be legitimately held yet, so any marked address is left over by a vipd that died.
// One vipd per network namespace is assumed (two would remove each other's addresses at start).
//
// Address identity follows the kernel: an IPv4 address is (address, prefix length), an IPv6
// address is the address alone.
//
// netlink@0.3.0 quirks worked around here: its parser drops attributes it does not know
// (IFA_PROTO among them), so address dumps and events are parsed from the raw messages; its
// encoder does not pad the last attribute, so IFA_PROTO is appended after explicit padding.

import { createRequire } from "node:module";
import { constants as osConstants } from "node:os";
import type * as Netlink from "netlink";
import { formatIp, parseCidr, parseIp } from "../codec/ip.js";
import type { Family } from "../core/types.js";
import { VipdOsError, type VipdOsErrorCode } from "./errors.js";

/** The IFA_PROTO value marking vipd's addresses. */
export const VIPD_IFA_PROTO = 118;

export interface LinkState {
  index: number;
  /** Lower-case colon-separated MAC ("" for links without one). */
  mac: string;
  /** Administratively up and operationally running (IFF_UP and IFF_RUNNING). */
  up: boolean;
  /** Every address on the link as "address/prefix". */
  addresses: string[];
}

export interface AddressChange {
  ifname: string;
  cidr: string;
  added: boolean;
  /** Carries vipd's mark. */
  vipd: boolean;
}

export interface Rtnl {
  getLink(ifname: string): Promise<LinkState>;
  /**
   * Adds cidr marked as vipd's; IPv6 without DAD; `label` (IPv4 only) like "eth0:vip".
   * `onApplied` runs synchronously, before addAddress returns, when the request went to the kernel
   * in the caller's own turn: rtnetlink applies an add inside the sender's `sendmsg`, so the address
   * is then in the kernel (the ACK, which says whether the add succeeded, is the promise). When the
   * request had to wait (an await, a queue, the library's own send queue), it is never called.
   */
  addAddress(ifname: string, cidr: string, o?: { label?: string }, onApplied?: () => void): Promise<void>;
  /**
   * Encodes now the RTM_NEWADDR request a later addAddress(ifname, cidr, o) sends, so that the
   * add itself only sends (a takeover). Validates like addAddress; looks the link up when its
   * index is not known yet. The request is kept for that link index: a re-created link misses it.
   */
  prepareAddress(ifname: string, cidr: string, o?: { label?: string }): Promise<void>;
  /**
   * Runs a prepared add's own code through the kernel without changing anything: an RTM_NEWADDR for
   * an interface index no interface has, which the kernel refuses (ENODEV). The takeover rehearsal
   * calls it so that a takeover's add is not the first run of that code; rejects on any other answer.
   */
  rehearseAdd(): Promise<void>;
  removeAddress(ifname: string, cidr: string): Promise<void>;
  listVipdAddresses(ifname?: string): Promise<{ ifname: string; cidr: string }[]>;
  /** Removes every marked address; returns them as "cidr dev ifname". */
  removeOrphans(): Promise<string[]>;
  /** Called when a link's `up` changes (or a link appears or disappears). */
  onLinkChange(cb: (e: { ifname: string; up: boolean }) => void): void;
  /** Called for every address added to or removed from any link. */
  onAddressChange(cb: (e: AddressChange) => void): void;
  /**
   * The kernel's neighbour entry (ARP / NDP cache) for `address` on `ifname`, when it has a
   * link-layer address (any NUD state); null when there is none. Reads only: nothing is sent.
   */
  lookupNeighbour(ifname: string, address: string): Promise<NeighbourEntry | null>;
  close(): void;
}

export interface NeighbourEntry {
  /** Lower-case colon-separated link-layer address. */
  mac: string;
  /** The NUD state in words: "reachable", "stale", "permanent", ... ("none" for 0). */
  state: string;
}

export interface RtnlOptions {
  /** Per request; default 5000. */
  timeoutMs?: number;
}

// rtnetlink message types and attributes (linux/rtnetlink.h, linux/if_addr.h).
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_DELADDR = 21;
const RTM_GETADDR = 22;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFF_UP = 0x1;
const IFF_RUNNING = 0x40;
const IFINFOMSG_BYTES = 16;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_LABEL = 3;
const IFA_PROTO = 11;
const AF_INET = 2;
const AF_INET6 = 10;
const IFADDRMSG_BYTES = 8;
const RTM_NEWNEIGH = 28;
const RTM_GETNEIGH = 30;
const NDMSG_BYTES = 12;
const NDA_DST = 1;
/** IFNAMSIZ - 1: the longest interface name or IPv4 label. */
const MAX_LABEL = 15;

// netlink's index also loads its nl80211, WireGuard and genl parts and the link attribute tables
// (~50-100 ms of vipd's start-up): only the modules used here are loaded.
const require = createRequire(import.meta.url);
const { NetlinkSocket, checkError } = require("netlink/dist/netlink.js") as typeof Netlink;
const { RawNetlinkSocket } = require("netlink/dist/raw.js") as typeof Netlink;
const { Protocol, Flags, FlagsNew, FlagsGet } = require("netlink/dist/constants.js") as typeof Netlink;
const { parseAttributes, AttrStream, formatMessage, writeU32 } =
  require("netlink/dist/structs.js") as typeof Netlink;
const rt = require("netlink/dist/rt/gen_structs.js") as Pick<
  typeof Netlink.rt,
  "formatAddress" | "formatAddressAttrs" | "formatNeighbor" | "parseNeighbor" | "parseNeighborAttrs"
>;
/** An address add: create it, and fail (EEXIST) when it is already there. */
const ADD_FLAGS = FlagsNew.CREATE | FlagsNew.EXCL;
/** Offsets of nlmsg_seq and nlmsg_pid in a netlink message header. */
const NLMSG_SEQ_OFFSET = 8;
const NLMSG_PORT_OFFSET = 12;

/**
 * The library's socket, plus requests encoded ahead in full, header included. A takeover's VIP add
 * is then one copy, two header fields and the send: the library's request() spends about 0.1 ms
 * formatting before its sendmsg and as much after it on the takeover path's first run (measured with
 * marks), while the VIP waits. Replies come back through the library's own request table, and are
 * checked as request() checks them.
 */
export class RtnlSocket extends NetlinkSocket {
  #port: number | null = null;

  /** A message for requestEncoded: header (seq and port filled in at each send) and payload. */
  static encode(type: number, flags: number, data: Uint8Array[]): Buffer {
    return Buffer.concat(
      formatMessage({ type, flags: flags | Flags.REQUEST | Flags.ACK, seq: 0, port: 0, data }),
    );
  }

  /** As request(type, data, { flags, timeout }) with `message` from encode(type, flags, data). */
  requestEncoded(message: Buffer, timeoutMs: number): Promise<RawMessage[]> {
    // A copy: the library keeps the buffer until it is sent, and the next send of this request
    // writes another seq.
    const msg = Buffer.from(message);
    const seq = this.generateSeq();
    this.#port ??= this.address().port;
    writeU32.call(msg, seq, NLMSG_SEQ_OFFSET);
    writeU32.call(msg, this.#port, NLMSG_PORT_OFFSET);
    return new Promise<RawMessage[]>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const settle = (err: unknown, replies?: RawMessage[]) => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        if (this.requests.has(seq)) this.dropRef(seq);
        if (err !== null && err !== undefined) reject(err);
        else resolve(replies ?? []);
      };
      // Sent first: its reply cannot be read before this turn ends, so the callback registered
      // next is in place by then.
      this.socket.send(msg, {}, (error) => {
        if (error !== undefined) settle(error);
      });
      this.makeRef(seq, (err, replies) => {
        if (err !== null) return settle(err);
        const list = (replies ?? []) as RawMessage[];
        try {
          // An ACK (error 0) is no reply; an error reply throws "Request rejected: E...".
          const first = list[0] as Netlink.NetlinkMessage | undefined;
          settle(null, first !== undefined && !checkError(first) ? list : []);
        } catch (e) {
          settle(e);
        }
      });
      timer = setTimeout(() => settle(new Error("Timeout has been reached")), timeoutMs);
    });
  }
}

/** Plain netlink sockets: replies and events are parsed here (see the quirks above). */
type NlSocket = RtnlSocket;
// rtnetlink multicast groups (RTNLGRP_*).
const RTNLGRP_LINK = 1;
const RTNLGRP_IPV4_IFADDR = 5;
const RTNLGRP_IPV6_IFADDR = 9;
type RawMessage = { type: number; data: Buffer };
type RequestOptions = NonNullable<Parameters<NlSocket["request"]>[2]>;

/**
 * Requests in flight on the request socket at once. The kernel answers each request (an ACK, or a
 * dump's first part) without waiting for the reader; when the answers overflow the socket's receive
 * buffer they are dropped and the next read fails with ENOBUFS. 255 instances that all add or
 * remove their VIP at the same moment (two peers starting together) did exactly that, and the
 * library's uncaught 'error' event aborted the process from inside its native callback. Requests
 * past this limit wait in order.
 */
const MAX_REQUESTS_IN_FLIGHT = 8;
/** SO_RCVBUF of both sockets (the kernel caps it at net.core.rmem_max). */
const RECEIVE_BUFFER_BYTES = 1 << 20;
/** Every request here is idempotent, so one whose reply was dropped (ENOBUFS) is sent again. */
const ENOBUFS_RETRIES = 3;
/** Pre-encoded address adds kept at most (the oldest go first): a few per configured VIP. */
const MAX_PREPARED_ADDS = 4096;

/** Raised from a netlink callback: a throw there would abort the process inside native code. */
function raiseOutsideNative(e: unknown): void {
  setImmediate(() => {
    throw e;
  });
}

function setReceiveBuffer(sock: NlSocket): void {
  // Best effort: a smaller buffer only makes ENOBUFS (handled) more likely.
  try {
    sock.setRecvBufferSize(RECEIVE_BUFFER_BYTES);
  } catch {
    // The default buffer stays; nothing else depends on the size.
  }
}

interface RawAddress {
  family: number;
  prefixLength: number;
  index: number;
  address: string;
  label: string | undefined;
  proto: number;
  /** Bytes of IFA_LOCAL (or IFA_ADDRESS) as dumped, for an exact delete. */
  local: Buffer;
}

function parseAddressMessage(data: Buffer): RawAddress | null {
  if (data.length < IFADDRMSG_BYTES) return null;
  const family = data.readUInt8(0);
  const prefixLength = data.readUInt8(1);
  const index = data.readUInt32LE(4);
  let local: Buffer | undefined;
  let address: Buffer | undefined;
  let label: string | undefined;
  let proto = 0;
  parseAttributes(data.subarray(IFADDRMSG_BYTES), (a: { type: number; data: Buffer }) => {
    if (a.type === IFA_LOCAL) local = a.data;
    else if (a.type === IFA_ADDRESS) address = a.data;
    else if (a.type === IFA_LABEL) label = a.data.toString("latin1").replace(/\0.*$/s, "");
    else if (a.type === IFA_PROTO && a.data.length >= 1) proto = a.data.readUInt8(0);
  });
  const bytes = local ?? address;
  if (bytes === undefined || (bytes.length !== 4 && bytes.length !== 16)) return null;
  return { family, prefixLength, index, address: formatIp(bytes), label, proto, local: bytes };
}

interface RawLink {
  index: number;
  ifname: string | undefined;
  mac: string;
  up: boolean;
}

/** ifinfomsg (16 bytes) then attributes; only what vipd needs. */
function parseLinkMessage(data: Buffer): RawLink | null {
  if (data.length < IFINFOMSG_BYTES) return null;
  const index = data.readInt32LE(4);
  const flags = data.readUInt32LE(8);
  let ifname: string | undefined;
  let mac = "";
  parseAttributes(data.subarray(IFINFOMSG_BYTES), (a: { type: number; data: Buffer }) => {
    if (a.type === IFLA_IFNAME) ifname = a.data.toString("latin1").replace(/\0.*$/s, "");
    else if (a.type === IFLA_ADDRESS) mac = macText(a.data);
  });
  return { index, ifname, mac, up: (flags & IFF_UP) !== 0 && (flags & IFF_RUNNING) !== 0 };
}

function errnoName(e: unknown): string | null {
  if (!(e instanceof Error)) return null;
  const withCode = e as Error & { code?: unknown };
  if (typeof withCode.code === "string" && /^E[A-Z0-9]+$/.test(withCode.code)) return withCode.code;
  const m = /Request rejected: (E[A-Z0-9]+)/.exec(e.message);
  return m?.[1] ?? null;
}

/** Turns a netlink library error into a VipdOsError naming the operation. */
function wrapError(e: unknown, syscall: string, subject: string): VipdOsError {
  if (e instanceof VipdOsError) return e;
  const name = errnoName(e);
  const errno = name === null ? 0 : ((osConstants.errno as Record<string, number>)[name] ?? 0);
  let code: VipdOsErrorCode = "OS_ERROR";
  let message: string;
  if (name === "ENODEV") {
    code = "NO_SUCH_INTERFACE";
    message = `${syscall} (${subject}): no such network interface`;
  } else if (name === "EPERM" || name === "EACCES") {
    code = "NEEDS_CAP_NET_ADMIN";
    message = `${syscall} (${subject}) failed: needs CAP_NET_ADMIN (${name})`;
  } else {
    message = `${syscall} (${subject}) failed: ${name ?? (e instanceof Error ? e.message : String(e))}`;
  }
  return new VipdOsError(code, message, { errno, syscall, cause: e });
}

function invalid(message: string): VipdOsError {
  return new VipdOsError("INVALID_ARGUMENT", message, { errno: 0, syscall: "" });
}

function parseVip(cidr: string): { address: string; prefixLength: number; family: Family; bytes: Buffer } {
  const parsed = parseCidr(cidr);
  if (parsed === null) throw invalid(`not an address with a prefix length: ${JSON.stringify(cidr)}`);
  const bytes = parseIp(parsed.address);
  if (bytes === null) throw invalid(`not an address: ${JSON.stringify(cidr)}`);
  return { ...parsed, bytes: Buffer.from(bytes) };
}

type Vip = ReturnType<typeof parseVip>;

/** The checks addAddress makes before any request; returns the parsed address. */
function checkedVip(cidr: string, label: string | undefined): Vip {
  const vip = parseVip(cidr);
  if (label !== undefined) {
    if (vip.family !== "ipv4") throw invalid(`address labels exist only for IPv4 (${cidr} label ${label})`);
    if (label.length === 0 || label.length > MAX_LABEL) {
      throw invalid(`an address label has 1 to ${MAX_LABEL} characters: ${JSON.stringify(label)}`);
    }
  }
  return vip;
}

/** The key of a pre-encoded add: the label last, so no value can run into another. */
function preparedKey(index: number, cidr: string, label: string | undefined): string {
  return label === undefined ? `${index} ${cidr}` : `${index} ${cidr} ${label}`;
}

function sameAddress(a: RawAddress, v: { address: string; prefixLength: number; family: Family }): boolean {
  if (a.address !== v.address) return false;
  return v.family === "ipv6" || a.prefixLength === v.prefixLength;
}

function macText(bytes: Buffer | undefined): string {
  if (bytes === undefined) return "";
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** One netlink attribute (type, payload) padded to 4 bytes. */
function attribute(type: number, payload: Buffer): Buffer {
  const length = 4 + payload.length;
  const out = Buffer.alloc((length + 3) & ~3);
  out.writeUInt16LE(length, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

function encodeAddress(
  index: number,
  v: { family: Family; prefixLength: number; bytes: Buffer },
  o: { label?: string; marked: boolean },
): Buffer[] {
  const stream = new AttrStream();
  const attrs: Record<string, unknown> = { local: v.bytes, address: v.bytes };
  if (v.family === "ipv6") attrs.flags = { nodad: true };
  if (o.label !== undefined) attrs.label = o.label;
  // What the library's rt.formatAddressMessage does: the ifaddrmsg, then the attributes.
  stream.emit(
    rt.formatAddress({ family: v.family === "ipv4" ? AF_INET : AF_INET6, prefixlen: v.prefixLength, index }),
  );
  stream.emit(rt.formatAddressAttrs(attrs));
  const bufs = stream.bufs.map((b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  const length = bufs.reduce((n: number, b: Buffer) => n + b.length, 0);
  if (length % 4 !== 0) bufs.push(Buffer.alloc(4 - (length % 4)));
  if (o.marked) bufs.push(attribute(IFA_PROTO, Buffer.from([VIPD_IFA_PROTO])));
  return bufs;
}

/**
 * rehearseAdd's request: a prepared add like a takeover's (marked, a documentation address) for an
 * interface index no interface has (the largest: the kernel hands out small ones first). The kernel
 * answers ENODEV and changes nothing. Not 0.0.0.0: kernel 6.18 acknowledged an add of 0.0.0.0 (error
 * 0) even for that index, and added nothing.
 */
const REHEARSAL_INDEX = 0x7fffffff;
const REHEARSAL_ADD = RtnlSocket.encode(
  RTM_NEWADDR,
  ADD_FLAGS,
  encodeAddress(REHEARSAL_INDEX, parseVip("192.0.2.1/32"), { marked: true }),
);

class NetlinkRtnl implements Rtnl {
  readonly #sock: NlSocket;
  readonly #timeoutMs: number;
  #events: NlSocket | null = null;
  readonly #linkListeners: ((e: { ifname: string; up: boolean }) => void)[] = [];
  readonly #addressListeners: ((e: AddressChange) => void)[] = [];
  /** Last known link state per ifindex, to report changes only. */
  readonly #links = new Map<number, { ifname: string; up: boolean }>();
  readonly #indexCache = new Map<string, number>();
  #closed = false;
  #inFlight = 0;
  #dumpRunning = false;
  /** Requests waiting to be sent, in order (see #pump). */
  readonly #queue: { dump: boolean; start: () => void }[] = [];
  /** Rejects of the requests in flight, for a receive error that loses their replies. */
  readonly #pending = new Set<(e: unknown) => void>();
  /** The address dump queued but not yet sent: callers that come meanwhile share it. */
  #nextAddressDump: Promise<RawAddress[]> | null = null;
  /** RTM_NEWADDR requests encoded ahead by prepareAddress, by preparedKey (bounded). */
  readonly #preparedAdds = new Map<string, { vip: Vip; message: Buffer }>();
  /** Messages handed to the library whose send completion it has not reported yet. */
  #sendsUnreported = 0;
  /** The library is reporting send completions in this turn of the event loop (see #wrapSend). */
  #completing = false;

  constructor(sock: NlSocket, timeoutMs: number) {
    this.#sock = sock;
    this.#timeoutMs = timeoutMs;
    setReceiveBuffer(sock);
    this.#wrapSend(sock);
    sock.on("error", (e: unknown) => {
      // A failed read on the request socket loses the replies of every request in flight (ENOBUFS
      // above all): fail them now (ENOBUFS ones are retried) instead of leaving them to time out.
      const rejects = [...this.#pending];
      this.#pending.clear();
      for (const reject of rejects) reject(e);
    });
  }

  /**
   * Sends what the queue allows: a dump runs alone (the kernel runs one dump per socket, EBUSY
   * otherwise, and the library mistakes another reply in the middle of a dump for its end); other
   * requests run up to MAX_REQUESTS_IN_FLIGHT at once. First come, first sent.
   */
  #pump(): void {
    for (let head = this.#queue[0]; head !== undefined; head = this.#queue[0]) {
      if (!this.#slotFree(head.dump)) return;
      this.#queue.shift();
      this.#inFlight++;
      if (head.dump) this.#dumpRunning = true;
      head.start();
    }
  }

  #slotFree(dump: boolean): boolean {
    if (this.#dumpRunning) return false;
    return dump ? this.#inFlight === 0 : this.#inFlight < MAX_REQUESTS_IN_FLIGHT;
  }

  /**
   * Counts the library's unreported sends, to know when a request is sent in the caller's turn.
   * netlink@0.3.0 (pinned) calls sendmsg inside send() only when its own send queue and its
   * queue of completions to report are both empty and it is not reporting completions; otherwise
   * the message waits for the next writable poll. Every message queued or unreported has its
   * completion callback still to come, so `#sendsUnreported === 0` means both queues are empty.
   * Completions are reported from the library's own timer or poll callback; code they lead to
   * (a rejected request's handlers run as microtasks of that callback) runs while it still reports,
   * so the rest of that turn counts as busy: #completing is cleared by a setImmediate, which runs
   * after the timer and poll phases of the same loop iteration.
   */
  #wrapSend(sock: NlSocket): void {
    const raw = sock.socket;
    const send = raw.send.bind(raw);
    raw.send = (msg, options, callback) => {
      this.#sendsUnreported++;
      send(msg, options, (error) => {
        this.#sendsUnreported--;
        if (!this.#completing) {
          this.#completing = true;
          setImmediate(() => {
            this.#completing = false;
          });
        }
        if (callback !== undefined) callback(error);
        else if (error !== undefined) raw.emit("error", error);
      });
    };
  }

  /** A send now goes to the kernel before send() returns (see #wrapSend). */
  #sendsAtOnce(): boolean {
    return this.#sendsUnreported === 0 && !this.#completing;
  }

  /** A new request (not a dump) may skip the queue: nothing waits in it and a slot is free. */
  #mayStart(): boolean {
    return this.#queue.length === 0 && this.#slotFree(false);
  }

  /**
   * sock.request through the queue, retried after ENOBUFS; onSent runs when its turn came.
   * onInKernel runs right after the first send when that send reached the kernel in the caller's
   * own turn (see #wrapSend), never otherwise.
   */
  async #request(
    type: number,
    data: Uint8Array[] | { encoded: Buffer },
    options: RequestOptions,
    onSent?: () => void,
    onInKernel?: () => void,
  ): Promise<RawMessage[]> {
    const dump = ((options.flags ?? 0) & FlagsGet.DUMP) === FlagsGet.DUMP;
    // Read before anything is sent: only the very first attempt of an unqueued request can count.
    let atOnce = false;
    if (!dump && this.#mayStart()) {
      atOnce = this.#sendsAtOnce();
      // A free slot: sent in this same turn (no await before sock.request), so that a takeover's
      // VIP add reaches the kernel before the transition's log line and notify hooks run. Dumps
      // always queue: callers that come while one waits share it (#addresses).
      this.#inFlight++;
    } else {
      await new Promise<void>((start) => {
        this.#queue.push({ dump, start });
        this.#pump();
      });
    }
    onSent?.();
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          return await new Promise<RawMessage[]>((resolve, reject) => {
            this.#pending.add(reject);
            const sent = Array.isArray(data)
              ? this.#sock.request(type, data, options).then(([replies]) => replies as RawMessage[])
              : this.#sock.requestEncoded(data.encoded, options.timeout ?? this.#timeoutMs);
            sent.then(
              (replies) => {
                this.#pending.delete(reject);
                resolve(replies);
              },
              (e: unknown) => {
                this.#pending.delete(reject);
                reject(e);
              },
            );
            if (atOnce) {
              atOnce = false;
              onInKernel?.();
            }
          });
        } catch (e) {
          if (errnoName(e) !== "ENOBUFS" || attempt >= ENOBUFS_RETRIES || this.#closed) throw e;
        }
      }
    } finally {
      this.#inFlight--;
      if (dump) this.#dumpRunning = false;
      this.#pump();
    }
  }

  async #links_(): Promise<{ index: number; ifname: string; mac: string; up: boolean }[]> {
    let replies: RawMessage[];
    try {
      replies = await this.#request(RTM_GETLINK, [Buffer.alloc(IFINFOMSG_BYTES)], {
        flags: FlagsGet.DUMP,
        timeout: this.#timeoutMs,
      });
    } catch (e) {
      throw wrapError(e, "RTM_GETLINK", "dump");
    }
    const out: { index: number; ifname: string; mac: string; up: boolean }[] = [];
    for (const m of replies) {
      const l = m.type === RTM_NEWLINK ? parseLinkMessage(m.data) : null;
      if (l?.ifname !== undefined) out.push({ ...l, ifname: l.ifname });
    }
    return out;
  }

  /** One link by name (RTM_GETLINK with IFLA_IFNAME: no dump). */
  async #index(ifname: string): Promise<{ index: number; ifname: string; mac: string; up: boolean }> {
    const missing = () =>
      new VipdOsError("NO_SUCH_INTERFACE", `no such network interface: ${ifname}`, {
        errno: osConstants.errno.ENODEV,
        syscall: "RTM_GETLINK",
      });
    if (ifname.length === 0 || ifname.length > MAX_LABEL) throw missing();
    let replies: RawMessage[];
    try {
      replies = await this.#request(
        RTM_GETLINK,
        [Buffer.alloc(IFINFOMSG_BYTES), attribute(IFLA_IFNAME, Buffer.from(`${ifname}\0`, "latin1"))],
        { timeout: this.#timeoutMs },
      );
    } catch (e) {
      if (errnoName(e) === "ENODEV") throw missing();
      throw wrapError(e, "RTM_GETLINK", ifname);
    }
    const l = replies
      .map((m) => (m.type === RTM_NEWLINK ? parseLinkMessage(m.data) : null))
      .find((x) => x?.ifname === ifname);
    if (l === undefined || l === null) throw missing();
    this.#indexCache.set(ifname, l.index);
    return { ...l, ifname };
  }

  /**
   * The index of ifname, cached: adding a VIP at takeover then costs one netlink round trip. A
   * stale entry (the interface was re-created) shows as ENODEV and is looked up again.
   */
  async #cachedIndex(ifname: string): Promise<number> {
    return this.#indexCache.get(ifname) ?? (await this.#index(ifname)).index;
  }

  /**
   * The addresses of one link (or all). Callers that come while a dump waits for its turn share
   * it: it is sent after their calls, so it shows everything they did before.
   */
  async #addresses(index?: number): Promise<RawAddress[]> {
    let dump = this.#nextAddressDump;
    if (dump === null) {
      // Cleared once the dump is sent: later callers need a later dump.
      const mine: Promise<RawAddress[]> = this.#dumpAddresses(() => {
        if (this.#nextAddressDump === mine) this.#nextAddressDump = null;
      });
      this.#nextAddressDump = mine;
      dump = mine;
    }
    const all = await dump;
    return index === undefined ? all : all.filter((a) => a.index === index);
  }

  async #dumpAddresses(onSent: () => void): Promise<RawAddress[]> {
    let replies: RawMessage[];
    try {
      replies = await this.#request(
        RTM_GETADDR,
        [Buffer.alloc(IFADDRMSG_BYTES)],
        { flags: FlagsGet.DUMP, timeout: this.#timeoutMs },
        onSent,
      );
    } catch (e) {
      throw wrapError(e, "RTM_GETADDR", "dump");
    }
    const out: RawAddress[] = [];
    for (const m of replies) {
      if (m.type !== RTM_NEWADDR) continue;
      const a = parseAddressMessage(m.data);
      if (a !== null) out.push(a);
    }
    return out;
  }

  async getLink(ifname: string): Promise<LinkState> {
    const link = await this.#index(ifname);
    const addresses = (await this.#addresses(link.index)).map((a) => `${a.address}/${a.prefixLength}`);
    return { index: link.index, mac: link.mac, up: link.up, addresses };
  }

  async prepareAddress(ifname: string, cidr: string, o: { label?: string } = {}): Promise<void> {
    const vip = checkedVip(cidr, o.label);
    const index = await this.#cachedIndex(ifname);
    const key = preparedKey(index, cidr, o.label);
    // Re-inserted at the end: the entries a reload prepares again are the last to go.
    this.#preparedAdds.delete(key);
    const message = RtnlSocket.encode(
      RTM_NEWADDR,
      ADD_FLAGS,
      encodeAddress(index, vip, { ...o, marked: true }),
    );
    this.#preparedAdds.set(key, { vip, message });
    for (const oldest of this.#preparedAdds.keys()) {
      if (this.#preparedAdds.size <= MAX_PREPARED_ADDS) break;
      this.#preparedAdds.delete(oldest);
    }
  }

  async rehearseAdd(): Promise<void> {
    try {
      await this.#request(
        RTM_NEWADDR,
        { encoded: REHEARSAL_ADD },
        { flags: ADD_FLAGS, timeout: this.#timeoutMs },
      );
    } catch (e) {
      if (errnoName(e) === "ENODEV") return;
      throw wrapError(e, "RTM_NEWADDR", `the rehearsed add (interface index ${REHEARSAL_INDEX})`);
    }
    throw new VipdOsError("OS_ERROR", `the rehearsed add (interface index ${REHEARSAL_INDEX}) was accepted`, {
      errno: 0,
      syscall: "RTM_NEWADDR",
    });
  }

  async addAddress(
    ifname: string,
    cidr: string,
    o: { label?: string } = {},
    onApplied?: () => void,
  ): Promise<void> {
    const cachedIndex = this.#indexCache.get(ifname);
    // A prepared request was checked and encoded for this very index, address and label.
    const prepared =
      cachedIndex === undefined ? undefined : this.#preparedAdds.get(preparedKey(cachedIndex, cidr, o.label));
    const vip = prepared?.vip ?? checkedVip(cidr, o.label);
    // No await before the request when the index is cached: see #request.
    let index = cachedIndex ?? (await this.#index(ifname)).index;
    // Only the first add, and only when no await came before it: the caller's own turn.
    let inTurn = cachedIndex !== undefined ? onApplied : undefined;
    const add = () => {
      const onInKernel = inTurn;
      inTurn = undefined;
      return this.#request(
        RTM_NEWADDR,
        prepared !== undefined && index === cachedIndex
          ? { encoded: prepared.message }
          : encodeAddress(index, vip, { ...o, marked: true }),
        { flags: ADD_FLAGS, timeout: this.#timeoutMs },
        undefined,
        onInKernel,
      );
    };
    try {
      try {
        await add();
      } catch (e) {
        if (errnoName(e) !== "ENODEV" || !this.#indexCache.has(ifname)) throw e;
        this.#indexCache.delete(ifname);
        index = (await this.#index(ifname)).index;
        await add();
      }
    } catch (e) {
      if (e instanceof VipdOsError) throw e;
      if (errnoName(e) !== "EEXIST") throw wrapError(e, "RTM_NEWADDR", `${cidr} dev ${ifname}`);
      const existing = (await this.#addresses(index)).find((a) => sameAddress(a, vip));
      if (existing !== undefined && existing.proto !== VIPD_IFA_PROTO) throw foreign(cidr, ifname);
      // Already there and ours (a repeated add): nothing to do.
    }
  }

  async removeAddress(ifname: string, cidr: string): Promise<void> {
    const vip = parseVip(cidr);
    // Looked up afresh: a stale cached index could name no link, and the dump below would then
    // find nothing and report success while the address stays.
    const link = await this.#index(ifname);
    const existing = (await this.#addresses(link.index)).find((a) => sameAddress(a, vip));
    if (existing === undefined) return;
    if (existing.proto !== VIPD_IFA_PROTO) throw foreign(cidr, ifname);
    await this.#delete(existing, `${cidr} dev ${ifname}`);
  }

  async #delete(a: RawAddress, subject: string): Promise<void> {
    const family: Family = a.family === AF_INET ? "ipv4" : "ipv6";
    const request = encodeAddress(
      a.index,
      { family, prefixLength: a.prefixLength, bytes: a.local },
      {
        marked: false,
      },
    );
    try {
      await this.#request(RTM_DELADDR, request, { timeout: this.#timeoutMs });
    } catch (e) {
      const name = errnoName(e);
      // Gone meanwhile (removed by hand, or the link went away): the goal is reached.
      if (name === "EADDRNOTAVAIL" || name === "ENOENT" || name === "ENODEV") return;
      throw wrapError(e, "RTM_DELADDR", subject);
    }
  }

  async listVipdAddresses(ifname?: string): Promise<{ ifname: string; cidr: string }[]> {
    const links = await this.#links_();
    let index: number | undefined;
    if (ifname !== undefined) index = (await this.#index(ifname)).index;
    const names = new Map(links.map((l) => [l.index, l.ifname]));
    return (await this.#addresses(index))
      .filter((a) => a.proto === VIPD_IFA_PROTO)
      .map((a) => ({ ifname: names.get(a.index) ?? `#${a.index}`, cidr: `${a.address}/${a.prefixLength}` }));
  }

  async removeOrphans(): Promise<string[]> {
    const links = await this.#links_();
    const names = new Map(links.map((l) => [l.index, l.ifname]));
    const removed: string[] = [];
    for (const a of await this.#addresses()) {
      if (a.proto !== VIPD_IFA_PROTO) continue;
      const text = `${a.address}/${a.prefixLength} dev ${names.get(a.index) ?? `#${a.index}`}`;
      await this.#delete(a, text);
      removed.push(text);
    }
    return removed;
  }

  async lookupNeighbour(ifname: string, address: string): Promise<NeighbourEntry | null> {
    const bytes = parseIp(address);
    if (bytes === null) throw invalid(`not an address: ${JSON.stringify(address)}`);
    const family = bytes.length === 4 ? AF_INET : AF_INET6;
    const index = await this.#cachedIndex(ifname);
    // A get (not a dump) of one entry: ndmsg with family and ifindex, NDA_DST (Linux 5.0 and later).
    const request = [rt.formatNeighbor({ family, ifindex: index }), attribute(NDA_DST, Buffer.from(bytes))];
    let replies: RawMessage[];
    try {
      replies = await this.#request(RTM_GETNEIGH, request, { timeout: this.#timeoutMs });
    } catch (e) {
      const name = errnoName(e);
      if (name === "ENOENT") return null;
      if (name === "ENODEV") this.#indexCache.delete(ifname);
      throw wrapError(e, "RTM_GETNEIGH", `${address} dev ${ifname}`);
    }
    for (const m of replies) {
      if (m.type !== RTM_NEWNEIGH || m.data.length < NDMSG_BYTES) continue;
      const head = rt.parseNeighbor(m.data.subarray(0, NDMSG_BYTES));
      const attrs = rt.parseNeighborAttrs(m.data.subarray(NDMSG_BYTES));
      if (head.ifindex !== index || attrs.dst === undefined || !Buffer.from(bytes).equals(attrs.dst))
        continue;
      const lladdr = attrs.lladdr;
      // INCOMPLETE and FAILED entries carry no address; an all-zero one is no better.
      if (lladdr === undefined || lladdr.length === 0 || lladdr.every((b) => b === 0)) return null;
      const state = Object.entries(head.state ?? {})
        .filter(([k, v]) => v === true && !k.startsWith("__"))
        .map(([k]) => k)
        .join(",");
      return { mac: macText(lladdr), state: state || "none" };
    }
    return null;
  }

  onLinkChange(cb: (e: { ifname: string; up: boolean }) => void): void {
    this.#linkListeners.push(cb);
    this.#subscribe();
  }

  onAddressChange(cb: (e: AddressChange) => void): void {
    this.#addressListeners.push(cb);
    this.#subscribe();
  }

  #subscribe(): void {
    if (this.#events !== null || this.#closed) return;
    const events = new RtnlSocket(new RawNetlinkSocket(Protocol.ROUTE));
    this.#events = events;
    setReceiveBuffer(events);
    events.addMembership(RTNLGRP_LINK);
    events.addMembership(RTNLGRP_IPV4_IFADDR);
    events.addMembership(RTNLGRP_IPV6_IFADDR);
    // Both handlers run inside the library's native callback, where a throw aborts the process
    // without a trace: an error escapes through raiseOutsideNative instead.
    events.on("message", (msgs: RawMessage[]) => {
      try {
        for (const m of msgs) this.#onEvent(m);
      } catch (e) {
        raiseOutsideNative(e);
      }
    });
    events.on("error", (e: unknown) => {
      // The kernel drops events when the socket's buffer overflows (ENOBUFS): re-read the links
      // and report what changed meanwhile. Any other error is not expected and is not hidden.
      if (errnoName(e) !== "ENOBUFS") raiseOutsideNative(wrapError(e, "recv(NETLINK_ROUTE)", "events"));
      else this.#resync(true);
    });
    this.#resync(false);
  }

  /**
   * Reads every link's state. At subscription (report = false) it only seeds the known states, so
   * the first event for a link reports a real change (events that arrive before it win over it).
   */
  #resync(report: boolean): void {
    this.#links_().then(
      (links) => {
        if (this.#closed) return;
        for (const l of links) {
          const known = this.#links.get(l.index);
          if (known === undefined || report) this.#links.set(l.index, { ifname: l.ifname, up: l.up });
          if (report && (known === undefined || known.up !== l.up)) {
            for (const cb of this.#linkListeners) cb({ ifname: l.ifname, up: l.up });
          }
        }
      },
      (e: unknown) => {
        // Without the seed, each link's first event is reported as a change: nothing is lost.
        if (report) throw wrapError(e, "RTM_GETLINK", "resync after ENOBUFS");
      },
    );
  }

  #onEvent(m: RawMessage): void {
    if (m.type === RTM_NEWLINK || m.type === RTM_DELLINK) {
      const l = parseLinkMessage(m.data);
      if (l === null) return;
      const index = l.index;
      const known = this.#links.get(index);
      const ifname = l.ifname ?? known?.ifname;
      if (ifname === undefined) return;
      if (known !== undefined && known.ifname !== ifname) this.#indexCache.delete(known.ifname);
      if (m.type === RTM_DELLINK) this.#indexCache.delete(ifname);
      const up = m.type === RTM_NEWLINK && l.up;
      if (m.type === RTM_DELLINK) this.#links.delete(index);
      else this.#links.set(index, { ifname, up });
      if (known !== undefined && known.up === up && known.ifname === ifname) return;
      for (const cb of this.#linkListeners) cb({ ifname, up });
    } else if (m.type === RTM_NEWADDR || m.type === RTM_DELADDR) {
      const a = parseAddressMessage(m.data);
      if (a === null) return;
      const ifname = this.#links.get(a.index)?.ifname ?? `#${a.index}`;
      const change: AddressChange = {
        ifname,
        cidr: `${a.address}/${a.prefixLength}`,
        added: m.type === RTM_NEWADDR,
        vipd: a.proto === VIPD_IFA_PROTO,
      };
      for (const cb of this.#addressListeners) cb(change);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#events?.close();
    this.#events = null;
    this.#sock.close();
  }
}

function foreign(cidr: string, ifname: string): VipdOsError {
  return new VipdOsError(
    "FOREIGN_ADDRESS",
    `${cidr} on ${ifname} was not added by vipd (no IFA_PROTO ${VIPD_IFA_PROTO} mark); vipd leaves it alone`,
    { errno: osConstants.errno.EEXIST, syscall: "RTM_NEWADDR" },
  );
}

/** Opens an rtnetlink socket in the caller's network namespace. */
export async function openRtnl(o: RtnlOptions = {}): Promise<Rtnl> {
  let sock: NlSocket;
  try {
    sock = new RtnlSocket(new RawNetlinkSocket(Protocol.ROUTE));
  } catch (e) {
    throw wrapError(e, "socket(AF_NETLINK)", "NETLINK_ROUTE");
  }
  return new NetlinkRtnl(sock, o.timeoutMs ?? 5000);
}
