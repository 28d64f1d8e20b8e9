// The contract of one virtual router (one interface, VRID and address family).
// Pure data: the runtime, the simulator and the tests all drive a router through these types.
// Times are milliseconds on a monotonic clock, always passed in by the caller.

export type Family = "ipv4" | "ipv6";

/** 'fencing' is the step between Backup and Master while a fence request is outstanding. */
export type RouterState = "initialize" | "backup" | "fencing" | "master" | "fault";

export interface RouterOptions {
  /** Instance name, as in keepalived's vrrp_instance. */
  name: string;
  vrid: number; // 1..255
  family: Family;
  version: 2 | 3;
  /** Configured priority, 1..255 (255 = address owner). */
  priority: number;
  adverIntervalMs: number;
  preempt: boolean;
  preemptDelayMs: number;
  acceptMode: boolean;
  /** Our primary address on the interface (the advert's source), canonical text. */
  primaryAddress: string;
  /** Virtual addresses with prefix length, e.g. "192.0.2.100/24" or "2001:db8::100/64". */
  vips: string[];
  /** When true, taking over from a silent master waits for a fenceResult. */
  fencing: boolean;
  /** Back-off before retrying a failed fence; doubles up to fenceRetryMaxMs. */
  fenceRetryMs: number;
  fenceRetryMaxMs: number;
  /**
   * Added by core: after an effect failure put the router in Fault (addVips failed), it retries
   * (leaves Fault) after this long. Optional; default 5000 ms (DEFAULT_EFFECT_RETRY_MS).
   */
  effectRetryMs?: number;
}

/** Tracker outcome: a weight added to the base priority, or a hard fault. */
export type TrackerResult = { type: "weight"; weight: number } | { type: "fault"; reason: string };

export type Input =
  | { type: "startup" }
  | { type: "shutdown" }
  /** A valid advert for our VRID (already through the codec's validation ladder). */
  | {
      type: "advert";
      src: string;
      priority: number;
      adverIntervalMs: number;
      version: 2 | 3;
      addresses: string[];
      /** Optional: the sender's MAC, passed to fencing. */
      srcMac?: string;
    }
  /** The caller saw now >= the last returned deadline. */
  | { type: "timeout" }
  | { type: "linkChanged"; up: boolean }
  | { type: "trackerChanged"; tracker: string; result: TrackerResult }
  | { type: "fenceResult"; ok: boolean; detail: string }
  | { type: "effectFailed"; effect: "addVips" | "removeVips" | "sendAdvert" | "announce"; error: string }
  | { type: "configChanged"; options: RouterOptions }
  /** Operator: hold this node out of elections (priority 0 resign while on). */
  | { type: "maintenance"; on: boolean };

export type NotifyEvent =
  | "master"
  | "backup"
  | "fault"
  | "stop"
  | "fence_started"
  | "fence_failed"
  | "split_brain"
  | "master_rx_lower_pri";

export type Action =
  | { type: "sendAdvert"; priority: number }
  | { type: "addVips"; vips: string[] }
  | { type: "removeVips"; vips: string[] }
  /** Gratuitous ARP / unsolicited NA for these VIPs; the runtime owns burst count and spacing. */
  | {
      type: "announce";
      vips: string[];
      /** 'vips-changed' (added by core): a reload added VIPs while Master. */
      reason: "takeover" | "split-brain" | "lower-priority-heard" | "vips-changed";
    }
  | { type: "requestFence"; peer: string; peerMac?: string }
  | { type: "cancelFence" }
  | { type: "notify"; event: NotifyEvent; detail: string }
  | { type: "stateChanged"; from: RouterState; to: RouterState; reason: string }
  /**
   * Added by core: an advert that disagrees with our configuration, for logging and counting.
   * 'interval' and 'version' adverts were discarded; 'addresses' adverts were still processed.
   */
  | { type: "mismatch"; field: MismatchField; detail: string };

/** Added by core: what a `mismatch` action is about. */
export type MismatchField = "interval" | "addresses" | "version";

export interface Step {
  actions: Action[];
  /** The earliest time the router wants a 'timeout' input; null when no timer runs. */
  nextDeadline: number | null;
}

/** One virtual router. Created by `createRouter(options)` from `src/core/index.ts`. */
export interface Router {
  readonly options: RouterOptions;
  readonly state: RouterState;
  /** Base priority adjusted by tracker weights (1..254 unless owner 255, 0 in maintenance). */
  readonly effectivePriority: number;
  /** The address of the master we currently follow (Backup), or null. */
  readonly masterAddress: string | null;
  /** True while the router wants its VIPs on the interface. */
  readonly holdsVips: boolean;
  /** Added by core: the deadline the last step returned (null when no timer runs). */
  readonly nextDeadline: number | null;
  /** Added by core: the master's interval we time out on (learned from adverts in v3). */
  readonly masterAdverIntervalMs: number;
  /** Added by core: why we are in Fault (null otherwise). */
  readonly faultReason: string | null;
  /** Added by core: true while maintenance mode holds the router out of elections. */
  readonly maintenance: boolean;
  /**
   * Added by core: until when preempt_delay holds Preempt_Mode off (-Infinity when it does not).
   * The router's answer to the same advert changes at that time without a timer of its own.
   */
  readonly preemptHoldUntilMs: number;
  handle(now: number, input: Input): Step;
}
