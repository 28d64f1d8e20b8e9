// The runtime's view of the outside world. Each port is a small interface so the daemon runs on
// the real adapters from src/linux in production and on fakes in unit tests and the simulator.
// All times are milliseconds on one monotonic clock; the timer is armed on that same clock.

import type { Family } from "../core/types.js";

/** A one-shot timer armed at an absolute time of the port's clock. Re-arming replaces the deadline. */
export interface TimerPort {
  armAt(monotonicMs: number): void;
  disarm(): void;
  close(): void;
}

export interface ClockPort {
  /** Monotonic milliseconds (fractional allowed). */
  now(): number;
  /** The one protocol timer; the callback runs on the event loop when the armed time is reached. */
  createTimer(onFire: () => void): TimerPort;
}

export interface VrrpDatagram {
  payload: Uint8Array;
  src: string;
  dst: string;
  ttl: number;
  ifindex: number;
  /** When the kernel received it, on the ClockPort's clock; absent: when the engine handles it. */
  rxMs?: number;
}

export interface VrrpSocketPort {
  onDatagram(cb: (d: VrrpDatagram) => void): void;
  /** Receive errors (other than EAGAIN/EINTR); the socket stays open. */
  onError(cb: (err: Error) => void): void;
  /** Sends with TTL / hop limit 255; throws on an OS error. */
  send(payload: Uint8Array, dst: string, src?: string): void;
  /** Optional: hands the datagrams already queued to onDatagram now, before returning. */
  drain?(): void;
  /**
   * Optional, with release and absorbed: from now on the socket counts the repeats of this datagram
   * for its VRID (same payload bytes, src, dst, ttl and ifindex) instead of delivering them, until
   * any other datagram for that VRID arrives (it and every later one are delivered, in order) or
   * release(vrid). false: nothing armed.
   */
  absorb?(vrid: number, d: VrrpDatagram): boolean;
  release?(vrid: number): void;
  /** Per VRID: [vrid] repeats absorbed so far (never reset), [256 + vrid] the latest one's rxMs. */
  readonly absorbed?: Float64Array;
  /** Optional: "" when the kernel absorbs the repeats (they do not wake us); else why it does not. */
  readonly kernelAbsorbError?: string | undefined;
  close(): void;
}

export type VrrpSocketFactory = (o: { family: Family; ifname: string; multicast: boolean }) => VrrpSocketPort;

/** AF_PACKET sender for whole Ethernet frames (gratuitous ARP, unsolicited NA). */
export interface PacketSenderPort {
  send(frame: Uint8Array): void;
  close(): void;
}

export type PacketSenderFactory = (ifname: string) => PacketSenderPort;

export interface LinkInfo {
  index: number;
  mac: string;
  up: boolean;
  /** Addresses on the link, as text; a "/prefix" suffix is tolerated. */
  addresses: string[];
}

/** The rtnetlink side: interface facts and the VIPs vipd adds (marked as vipd's). */
export interface AddressManagerPort {
  getLink(ifname: string): Promise<LinkInfo>;
  /**
   * `onApplied`, when given, is called synchronously before addAddress returns if the address is
   * already in the kernel then (rtnetlink applies an add inside the send); the promise still
   * reports the outcome. Not called when the add had to wait: the promise is then the only signal.
   */
  addAddress(ifname: string, cidr: string, o?: { label?: string }, onApplied?: () => void): Promise<void>;
  /**
   * Optional: gets a later addAddress with the same arguments ready ahead (the rtnetlink adapter
   * encodes its request), so that a takeover only sends. Rejects on what addAddress would reject
   * before sending (a bad address or label, an unknown interface); addAddress is unchanged.
   */
  prepareAddress?(ifname: string, cidr: string, o?: { label?: string }): Promise<void>;
  /**
   * Optional: runs a prepared add's own code through the OS without changing anything (the
   * rtnetlink adapter sends an add the kernel refuses), so that a takeover is not its first run;
   * rejects when the answer is not that refusal. The takeover rehearsal calls it.
   */
  rehearseAdd?(): Promise<void>;
  removeAddress(ifname: string, cidr: string): Promise<void>;
  /** Removes only the addresses vipd marked; returns what it removed. */
  removeOrphans(): Promise<string[]>;
  /** The kernel's neighbour entry for address on ifname, null when none (the fence agents' peer MAC). */
  lookupNeighbour?(ifname: string, address: string): Promise<{ mac: string; state: string } | null>;
  close(): void;
}

export interface LinkWatcherPort {
  onLinkChange(cb: (e: { ifname: string; up: boolean }) => void): void;
}

/** Process-level facts: systemd notification and signals. */
export interface ProcessPort {
  /** Sends one sd_notify datagram; false when not running under systemd. */
  sdNotify(state: string): boolean;
  /** WATCHDOG_USEC from the environment, or null. */
  watchdogUsec(): number | null;
  /** CLOCK_MONOTONIC in microseconds, for RELOADING=1's MONOTONIC_USEC. */
  monotonicUsec(): bigint;
  /** Subscribes to a signal; returns the unsubscribe function. */
  onSignal(signal: "SIGTERM" | "SIGINT" | "SIGHUP", cb: () => void): () => void;
}

export interface RuntimePorts {
  clock: ClockPort;
  openVrrpSocket: VrrpSocketFactory;
  openPacketSender: PacketSenderFactory;
  addresses: AddressManagerPort;
  links: LinkWatcherPort;
  process: ProcessPort;
}
