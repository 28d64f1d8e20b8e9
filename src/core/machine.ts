// The mutable state of one virtual router and the vocabulary the rule table (rules.ts) is written
// in: enter a state, send an advert, arm a timer. No decisions are taken here; they live in rules.ts.

import { canonicalIp, parseIp } from "../codec/ip.js";
import { effectivePriority, OWNER_PRIORITY } from "./priority.js";
import { masterDownIntervalMs, skewTimeMs } from "./timers.js";
import type {
  Action,
  MismatchField,
  NotifyEvent,
  RouterOptions,
  RouterState,
  TrackerResult,
} from "./types.js";

export const DEFAULT_EFFECT_RETRY_MS = 5000;

/**
 * The action list of a step that emitted nothing: shared, and frozen so that a caller writing to
 * it fails loudly instead of leaking into other steps.
 */
export const NO_ACTIONS: Action[] = Object.freeze([]) as unknown as Action[];

const NO_TRACKERS: readonly TrackerResult[] = [];

/** sendAdvert actions by priority, made once each: a master sends the same one every interval. */
const SEND_ADVERT_ACTIONS: (Action | undefined)[] = [];
function sendAdvertAction(priority: number): Action {
  let a = SEND_ADVERT_ACTIONS[priority];
  if (a === undefined) {
    a = Object.freeze({ type: "sendAdvert", priority }) as Action;
    SEND_ADVERT_ACTIONS[priority] = a;
  }
  return a;
}

export type TimerName = "adver" | "masterDown" | "fenceRetry" | "claim" | "effectRetry";
/** Order in which timers due at the same time are handled. */
export const TIMER_ORDER: readonly TimerName[] = [
  "effectRetry",
  "masterDown",
  "fenceRetry",
  "claim",
  "adver",
];

/** The Master_Down_Timer runs either the full Master_Down_Interval or, after a resign, Skew_Time. */
export type MasterDownKind = "full" | "skew";

export interface Peer {
  address: string;
  mac?: string;
}

/**
 * Fencing mode: a Backup that decided to take over without a fence (preempting a live lower
 * master, after a resign, or with no master heard) first announces itself with adverts at its
 * priority and claims the VIPs only when (a) every router that may hold them (heard advertising
 * before the claim without releasing, or a lower-priority one heard during it) has released them
 * with a priority-0 advert and (b) a Master_Down_Interval has passed since the claim
 * began, so that a better rival's advert has had time to arrive (the delay VRRP itself assumes: a
 * shorter wait lost races to jitter in the simulator). A possible holder that stays silent for a
 * Master_Down_Interval without releasing is fenced instead.
 */
export interface Claim {
  /** Why we take over (for the stateChanged reason when the claim completes). */
  reason: string;
  /** The claim never completes before this time. */
  notBefore: number;
  /**
   * Routers that may hold the VIPs and have not released yet, by address: the possible holders
   * known when the claim began (see Machine.holders; any priority, silent ones included) and the
   * lower-priority routers heard advertising since.
   */
  pending: Map<string, { peer: Peer; heardAt: number }>;
}

/**
 * A Master's record of another router that advertises as master although it should yield to us (a
 * lower priority, or an equal one from a smaller address): one episode per sender address. The
 * first advert is answered with an advert and an announcement; if the sender still advertises more
 * than one of its intervals after that answer, it does not hear us (a keepalived peer that discards
 * our adverts for a different VIP list or checksum form): a split brain, notified once per episode.
 * Announcements toward it are then limited to one per rivalWindowMs; adverts always answer. The
 * episode ends when the sender has been silent for rivalWindowMs, or when we leave Master.
 */
export interface RivalMaster {
  /** When we first answered it (with an advert and an announcement). */
  answeredAt: number;
  /** When we last announced the VIPs because of it. */
  announcedAt: number;
  /** When its last advert arrived. */
  heardAt: number;
  /** Its advertised interval (the time it needs to hear our answer and step down). */
  adverIntervalMs: number;
  /** A split brain was notified in this episode. */
  splitBrain: boolean;
}

/** The configured VIPs as the address check needs them, derived once per options change. */
interface VipView {
  /** The `opts.vips` array this was derived from (a new array on every options change). */
  readonly source: readonly string[];
  /** The addresses without prefix length, as configured. */
  readonly addresses: readonly string[];
  /** The same in canonical text, the form the codec decodes adverts into. */
  readonly canonical: ReadonlySet<string>;
}

/** Compares network-order addresses as unsigned integers; IPv4 sorts before IPv6. */
function compareBytes(x: Uint8Array, y: Uint8Array): number {
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) {
    const d = (x[i] as number) - (y[i] as number);
    if (d !== 0) return d;
  }
  return 0;
}

function stripPrefix(cidr: string): string {
  const slash = cidr.indexOf("/");
  return slash === -1 ? cidr : cidr.slice(0, slash);
}

/** Canonical text of an address; text that is not an address stays as it is (it matches nothing). */
function canonical(text: string): string {
  return canonicalIp(text) ?? text;
}

/** True when `addresses` lists exactly the members of `set`, each once, in the set's own text. */
function sameAddresses(addresses: readonly string[], set: ReadonlySet<string>): boolean {
  if (addresses.length !== set.size) return false;
  for (let i = 0; i < addresses.length; i++) {
    const a = addresses[i] as string;
    if (!set.has(a)) return false;
    for (let j = 0; j < i; j++) if (addresses[j] === a) return false;
  }
  return true;
}

export class Machine {
  opts: RouterOptions;
  state: RouterState = "initialize";
  /** The time of the input being handled (and of the last one, between inputs). */
  now = Number.NEGATIVE_INFINITY;
  /** This input's actions; NO_ACTIONS until the first is emitted (most steps emit none). */
  actions: Action[] = NO_ACTIONS;

  // Environment, absorbed from inputs before the rules run.
  readonly trackers = new Map<string, TrackerResult>();
  linkUp = true;
  maintenance = false;
  /** Set when an effect failure (addVips) forced Fault; cleared by its retry timer or a reload. */
  effectFault: string | null = null;
  /** The effective priority before the current input, to see whether it moved. */
  prevPriority: number;
  /** The options before a configChanged, for the rules that diff them. */
  prevOpts: RouterOptions;

  // Election state.
  masterAdverIntervalMs: number;
  masterAddress: string | null = null;
  /** The last master we followed: the fencing target. Kept across Fault (safer: we still fence it). */
  peer: Peer | null = null;
  /** The followed master resigned with a priority-0 advert: nothing to fence. */
  peerResigned = false;
  /** A live lower-priority master whose adverts we discard to preempt it (no fence needed for it). */
  preemptTarget: { address: string; at: number; mac?: string } | null = null;
  /** Fencing mode: the announcement before an unfenced takeover (see Claim); null otherwise. */
  claim: Claim | null = null;
  /**
   * Fencing mode: every router heard advertising with a priority above 0 that has not released
   * since (a priority-0 advert) nor been fenced by us, by address, with when it was last heard. Any
   * of them may hold the VIPs: a master, or a claimant that became one. A claim waits for each to
   * release or fences it (startClaim seeds Claim.pending from here), so following a new master
   * never makes us forget an older one that went silent with the VIPs.
   */
  readonly holders = new Map<string, { peer: Peer; heardAt: number }>();
  /**
   * Fencing mode: while fencing a possible holder that went silent during a claim, when that claim
   * had waited long enough for a better rival (its notBefore). The claim that follows a successful
   * fence waits no longer than that: each silent holder costs one fence, not one more wait.
   */
  claimWaitedUntil: number | null = null;
  /**
   * keepalived's preempt_delay: until this time a Backup follows a lower-priority master instead of
   * preempting it. The window opens when the router enters Backup from Initialize or Fault (startup
   * or recovery); the owner is never held back.
   */
  preemptHoldUntil = Number.NEGATIVE_INFINITY;
  fenceBackoffMs: number;
  /** Master: routers still advertising that should yield to us, by address (see RivalMaster). */
  readonly rivals = new Map<string, RivalMaster>();

  // Timers. The Master_Down_Timer keeps its start so priority or interval changes can rebase it.
  readonly timers: Record<TimerName, number | null> = {
    adver: null,
    masterDown: null,
    fenceRetry: null,
    claim: null,
    effectRetry: null,
  };
  masterDownStart: { at: number; kind: MasterDownKind } | null = null;
  lastAdvertSentAt: number | null = null;

  // Caches for the advert path (adverts arrive every interval on every router): derived values,
  // each keyed by what it was derived from, so they never go stale.
  #vipView: VipView | null = null;
  #primary: { text: string; bytes: Uint8Array } | null = null;
  /** The last advert source parsed (a router mostly hears the same master over and over). */
  #src: { text: string; bytes: Uint8Array | null } | null = null;
  /** This input's address comparison (the mismatch row's `when` and `act` ask for the same advert). */
  #lastMismatch: { addresses: readonly string[]; view: VipView; detail: string | null } | null = null;

  constructor(opts: RouterOptions) {
    this.opts = opts;
    this.prevOpts = opts;
    this.masterAdverIntervalMs = opts.adverIntervalMs;
    this.fenceBackoffMs = opts.fenceRetryMs;
    this.prevPriority = this.priority;
  }

  /** Starts handling an input at `now`: a fresh action list; memos of the last input end. */
  beginStep(now: number): void {
    this.now = now;
    this.actions = NO_ACTIONS;
    this.#lastMismatch = null;
  }

  /**
   * Ends the input: hands its actions over and lets go of them and of this input's memos, so
   * nothing of a step outlives it here (objects kept until the next input would live a whole
   * advert interval and be promoted to the old generation).
   */
  endStep(): Action[] {
    const actions = this.actions;
    this.actions = NO_ACTIONS;
    this.#lastMismatch = null;
    return actions;
  }

  // ---- derived values -------------------------------------------------------------------------

  get priority(): number {
    // Asked several times per input: without trackers no iterator is needed.
    const trackers = this.trackers.size === 0 ? NO_TRACKERS : this.trackers.values();
    return effectivePriority(this.opts.priority, trackers, this.maintenance);
  }

  get isOwner(): boolean {
    return this.priority === OWNER_PRIORITY;
  }

  /** Preempt_Mode as applied now: the owner always preempts (RFC 9568 §6.1); preempt_delay holds. */
  get preemptNow(): boolean {
    if (this.isOwner) return true;
    return this.opts.preempt && this.now >= this.preemptHoldUntil;
  }

  /** Why the router must be in Fault, or null. Link first, then trackers by name, then effects. */
  get faultCause(): string | null {
    if (!this.linkUp) return "link down";
    if (this.trackers.size === 0) return this.effectFault;
    const names = [...this.trackers.keys()].sort();
    for (const name of names) {
      const t = this.trackers.get(name);
      if (t?.type === "fault") return `tracker ${name}: ${t.reason}`;
    }
    if (this.effectFault !== null) return this.effectFault;
    return null;
  }

  skewMs(): number {
    return skewTimeMs(this.opts.version, this.priority, this.masterAdverIntervalMs);
  }

  masterDownMs(): number {
    return masterDownIntervalMs(this.opts.version, this.priority, this.masterAdverIntervalMs);
  }

  /** The bytes of an address, or null when it is not one (memoized for the last advert source). */
  srcBytes(text: string): Uint8Array | null {
    const c = this.#src;
    if (c !== null && c.text === text) return c.bytes;
    const bytes = parseIp(text);
    this.#src = { text, bytes };
    return bytes;
  }

  /** Compares an advert's source with our primary address (both valid: checked on input and options). */
  #compareWithPrimary(src: string): number {
    let p = this.#primary;
    if (p === null || p.text !== this.opts.primaryAddress) {
      const bytes = parseIp(this.opts.primaryAddress);
      if (bytes === null) throw new Error(`primaryAddress is not an address: ${this.opts.primaryAddress}`);
      p = { text: this.opts.primaryAddress, bytes };
      this.#primary = p;
    }
    const bytes = this.srcBytes(src);
    if (bytes === null) throw new Error(`advert source is not an address: ${src}`);
    return compareBytes(bytes, p.bytes);
  }

  /** True when the sender of `src` wins an equal-priority tie (RFC 9568 §6.4.3: greater address). */
  senderWinsTie(src: string): boolean {
    return this.#compareWithPrimary(src) > 0;
  }

  senderIsSelf(src: string): boolean {
    return this.#compareWithPrimary(src) === 0;
  }

  /** The live lower-priority master we are preempting: heard within one Master_Down_Interval. */
  livePreemptTarget(): string | null {
    const t = this.preemptTarget;
    if (t === null || this.now - t.at >= this.masterDownMs()) return null;
    return t.address;
  }

  /** The live preempt target as a fence target (with its MAC when the advert carried one). */
  preemptPeer(): Peer | null {
    const t = this.preemptTarget;
    if (t === null || this.livePreemptTarget() === null) return null;
    return t.mac === undefined ? { address: t.address } : { address: t.address, mac: t.mac };
  }

  /**
   * Fencing mode, before the rules see an advert: records its sender as a possible holder of the
   * VIPs (priority above 0) or forgets it (priority 0: it released). Adverts the rules discard
   * unread (our own, another VRRP version, a v2 interval unlike ours) are not recorded either.
   */
  noteHolder(ev: {
    src: string;
    priority: number;
    version: 2 | 3;
    adverIntervalMs: number;
    srcMac?: string;
  }): void {
    if (ev.version !== this.opts.version) return;
    if (ev.version === 2 && ev.adverIntervalMs !== this.opts.adverIntervalMs) return;
    if (this.senderIsSelf(ev.src)) return;
    if (ev.priority === 0) this.holders.delete(ev.src);
    else {
      const peer: Peer = ev.srcMac === undefined ? { address: ev.src } : { address: ev.src, mac: ev.srcMac };
      this.holders.set(ev.src, { peer, heardAt: this.now });
    }
  }

  /** When the running claim may complete: not before `notBefore`, nor before a pending router went quiet. */
  claimDeadline(): number | null {
    const c = this.claim;
    if (c === null) return null;
    let at = c.notBefore;
    for (const p of c.pending.values()) at = Math.max(at, p.heardAt + this.masterDownMs());
    return at;
  }

  /** Fencing mode: a lower master we heard (not within a Master_Down_Interval) as a fence target. */
  silentLowerPeer(): Peer | null {
    const t = this.preemptTarget;
    if (t === null || this.livePreemptTarget() !== null) return null;
    return t.mac === undefined ? { address: t.address } : { address: t.address, mac: t.mac };
  }

  /**
   * The time scale of a rival episode: a Master_Down_Interval at our priority on the slower of our
   * interval and the rival's. An episode ends after this much silence from the rival, and we
   * announce because of it at most once per this long.
   */
  rivalWindowMs(rival: RivalMaster): number {
    const intervalMs = Math.max(this.opts.adverIntervalMs, rival.adverIntervalMs);
    return masterDownIntervalMs(this.opts.version, this.priority, intervalMs);
  }

  /** The running episode for this sender (null when none, or it went silent long enough to end it). */
  liveRival(src: string): RivalMaster | null {
    const r = this.rivals.get(src);
    return r === undefined || this.now - r.heardAt >= this.rivalWindowMs(r) ? null : r;
  }

  /** Starts an episode for this sender (answered now); ended episodes of others are dropped. */
  startRival(src: string, adverIntervalMs: number, splitBrain: boolean): void {
    for (const [address, r] of this.rivals) {
      if (this.now - r.heardAt >= this.rivalWindowMs(r)) this.rivals.delete(address);
    }
    this.rivals.set(src, {
      answeredAt: this.now,
      announcedAt: this.now,
      heardAt: this.now,
      adverIntervalMs,
      splitBrain,
    });
  }

  /** Re-announces the VIPs because of this rival if the last announcement is rivalWindowMs old. */
  announceToRival(rival: RivalMaster, reason: "split-brain" | "lower-priority-heard"): boolean {
    if (this.now - rival.announcedAt < this.rivalWindowMs(rival)) return false;
    rival.announcedAt = this.now;
    this.emit({ type: "announce", vips: [...this.opts.vips], reason });
    return true;
  }

  /** The configured VIPs, derived again only when the options changed. */
  vipView(): VipView {
    const v = this.#vipView;
    if (v !== null && v.source === this.opts.vips) return v;
    const addresses = this.opts.vips.map(stripPrefix);
    const view = { source: this.opts.vips, addresses, canonical: new Set(addresses.map(canonical)) };
    this.#vipView = view;
    return view;
  }

  vipAddresses(): readonly string[] {
    return this.vipView().addresses;
  }

  /**
   * Compares the advert's address list with our VIPs as sets of addresses; null when equal. The
   * usual case (the codec's canonical text, the same list) costs set lookups and no allocation;
   * other text is made canonical first.
   */
  addressMismatch(addresses: readonly string[]): string | null {
    const view = this.vipView();
    const last = this.#lastMismatch;
    if (last !== null && last.addresses === addresses && last.view === view) return last.detail;
    let detail: string | null = null;
    if (!sameAddresses(addresses, view.canonical)) {
      const theirs = new Set(addresses.map(canonical));
      const same = theirs.size === view.canonical.size && [...theirs].every((k) => view.canonical.has(k));
      if (!same) detail = `advert lists [${addresses.join(", ")}], configured [${view.addresses.join(", ")}]`;
    }
    this.#lastMismatch = { addresses, view, detail };
    return detail;
  }

  // ---- effects --------------------------------------------------------------------------------

  emit(action: Action): void {
    if (this.actions === NO_ACTIONS) this.actions = [action];
    else this.actions.push(action);
  }

  notify(event: NotifyEvent, detail: string): void {
    this.emit({ type: "notify", event, detail });
  }

  mismatch(field: MismatchField, detail: string): void {
    this.emit({ type: "mismatch", field, detail });
  }

  /** Sends an advert with our effective priority and restarts the Adver_Timer (RFC 9568 §6.4.3). */
  sendAdvert(): void {
    this.emit(sendAdvertAction(this.priority));
    this.lastAdvertSentAt = this.now;
    this.timers.adver = this.now + this.opts.adverIntervalMs;
  }

  /**
   * A master that yields to a better one sends one last advert at its own priority, timers
   * untouched: the winner hears a lower priority and re-announces its VIPs (RFC 9568 §6.4.3), so
   * clients that followed us during a split come back even when the winner had never heard us.
   */
  sendFarewell(): void {
    this.emit(sendAdvertAction(this.priority));
  }

  /** A master gives up (RFC 9568 §6.4.3 shutdown): a priority-0 advert; leaving Master removes the VIPs. */
  sendResign(): void {
    this.emit(sendAdvertAction(0));
  }

  armMasterDown(kind: MasterDownKind): void {
    // The start object is internal (never handed out): reused rather than replaced on every advert.
    const start = this.masterDownStart;
    if (start === null) this.masterDownStart = { at: this.now, kind };
    else {
      start.at = this.now;
      start.kind = kind;
    }
    this.timers.masterDown = this.now + (kind === "full" ? this.masterDownMs() : this.skewMs());
  }

  /** Re-derives running timers after the priority or the intervals changed. */
  rebaseTimers(): void {
    if (this.masterDownStart !== null && this.timers.masterDown !== null) {
      const { at, kind } = this.masterDownStart;
      this.timers.masterDown = at + (kind === "full" ? this.masterDownMs() : this.skewMs());
    }
    if (this.timers.adver !== null && this.lastAdvertSentAt !== null) {
      this.timers.adver = this.lastAdvertSentAt + this.opts.adverIntervalMs;
    }
    if (this.claim !== null && this.timers.claim !== null) this.timers.claim = this.claimDeadline();
  }

  clearTimers(): void {
    this.timers.adver = null;
    this.timers.masterDown = null;
    this.timers.fenceRetry = null;
    this.timers.claim = null;
    this.timers.effectRetry = null;
    this.masterDownStart = null;
    this.lastAdvertSentAt = null;
    this.claim = null;
    this.claimWaitedUntil = null;
  }

  /**
   * Fencing mode: start announcing before an unfenced takeover (see Claim). `target` is the live
   * lower master being preempted (it must release or be fenced), or null after a resign, when no
   * master was heard, or after a successful fence (the claim then runs in the fencing state, so
   * that fencing -> master stays one step for notifications). Sends the first advert at once.
   * After a fence that a claim started (claimWaitedUntil), the wait for a better rival is not
   * repeated.
   */
  startClaim(target: Peer | null, reason: string): void {
    this.timers.masterDown = null;
    this.masterDownStart = null;
    this.timers.fenceRetry = null;
    this.masterAddress = null;
    this.preemptTarget = null;
    const waited = this.claimWaitedUntil;
    this.claimWaitedUntil = null;
    const notBefore = waited === null ? this.now + this.masterDownMs() : Math.max(waited, this.now);
    this.claim = { reason, notBefore, pending: new Map() };
    // Every possible holder heard before must release too (or go silent and be fenced).
    for (const [address, h] of this.holders) this.claim.pending.set(address, { ...h });
    if (target !== null) {
      this.claim.pending.set(target.address, { peer: target, heardAt: this.now });
      this.peer = target;
      this.peerResigned = false;
    }
    this.sendAdvert();
    this.timers.claim = this.claimDeadline();
  }

  /** Ends a running claim; with `resign`, a priority-0 advert tells the others we withdraw. */
  withdrawClaim(resign: boolean): void {
    if (this.claim === null) return;
    this.claim = null;
    this.timers.claim = null;
    this.timers.adver = null;
    this.lastAdvertSentAt = null;
    if (resign) this.sendResign();
  }

  /** Follow the master that sent this advert (RFC 9568 §6.4.2): learn its interval in v3, reset the timer. */
  follow(src: string, adverIntervalMs: number, srcMac: string | undefined): void {
    this.withdrawClaim(true);
    if (this.opts.version === 3) this.masterAdverIntervalMs = adverIntervalMs;
    this.masterAddress = src;
    // Peers are never mutated: the same master heard again keeps its object.
    const p = this.peer;
    if (p === null || p.address !== src || p.mac !== srcMac) {
      this.peer = srcMac === undefined ? { address: src } : { address: src, mac: srcMac };
    }
    this.peerResigned = false;
    this.preemptTarget = null;
    this.timers.fenceRetry = null;
    this.fenceBackoffMs = this.opts.fenceRetryMs;
    this.armMasterDown("full");
  }

  private changeState(to: RouterState, reason: string): void {
    const from = this.state;
    this.state = to;
    this.emit({ type: "stateChanged", from, to, reason });
  }

  private leaveCurrent(cancelFence = true): void {
    if (this.state === "master") {
      this.emit({ type: "removeVips", vips: [...this.opts.vips] });
      this.rivals.clear();
    }
    // A fence that succeeded (we are claiming after it) has nothing left to cancel.
    if (this.state === "fencing" && cancelFence && this.claim === null) this.emit({ type: "cancelFence" });
    if (this.claim !== null && this.state !== "master") this.withdrawClaim(true);
  }

  /** Master: stateChanged, advert, VIPs, announcement, then the notify (effects first). */
  enterMaster(reason: string): void {
    this.clearTimers();
    this.masterAddress = null;
    this.peerResigned = false;
    this.preemptTarget = null;
    this.fenceBackoffMs = this.opts.fenceRetryMs;
    this.rivals.clear();
    this.changeState("master", reason);
    this.sendAdvert();
    this.emit({ type: "addVips", vips: [...this.opts.vips] });
    this.emit({ type: "announce", vips: [...this.opts.vips], reason: "takeover" });
    this.notify("master", reason);
  }

  /**
   * Backup. A master leaving removes its VIPs; a pending fence is cancelled. `timer` says how the
   * Master_Down_Timer starts; 'none' is for callers that arm another timer (fence retry).
   */
  enterBackup(reason: string, timer: MasterDownKind | "none", o: { cancelFence?: boolean } = {}): void {
    const from = this.state;
    this.leaveCurrent(o.cancelFence ?? true);
    this.clearTimers();
    if (from === "initialize" || from === "fault") {
      this.masterAdverIntervalMs = this.opts.adverIntervalMs;
      this.masterAddress = null;
      // With fencing a lower master heard before the fault stays a fence candidate (it may hold the VIPs).
      if (!this.opts.fencing) this.preemptTarget = null;
      this.preemptHoldUntil = this.now + this.opts.preemptDelayMs;
    }
    this.changeState("backup", reason);
    if (timer !== "none") this.armMasterDown(timer);
    this.notify("backup", reason);
  }

  enterFencing(reason: string, peer: Peer): void {
    this.clearTimers();
    this.changeState("fencing", reason);
    this.emit(
      peer.mac === undefined
        ? { type: "requestFence", peer: peer.address }
        : { type: "requestFence", peer: peer.address, peerMac: peer.mac },
    );
    this.notify("fence_started", `fencing ${peer.address}: ${reason}`);
  }

  /** Fault: a master (or a claimant, in leaveCurrent) resigns first (priority-0 advert, VIPs removed); a fence is cancelled. */
  enterFault(reason: string): void {
    if (this.state === "master") this.emit(sendAdvertAction(0));
    this.leaveCurrent();
    this.clearTimers();
    this.masterAddress = null;
    if (this.effectFault !== null) {
      this.timers.effectRetry = this.now + (this.opts.effectRetryMs ?? DEFAULT_EFFECT_RETRY_MS);
    }
    this.changeState("fault", reason);
    this.notify("fault", reason);
  }

  /** Initialize after a shutdown: a master resigns (RFC 9568 §6.4.3), a fence is cancelled. */
  enterInitialize(reason: string): void {
    if (this.state === "master") this.emit(sendAdvertAction(0));
    this.leaveCurrent();
    this.clearTimers();
    this.masterAddress = null;
    this.changeState("initialize", reason);
    this.notify("stop", reason);
  }

  nextDeadline(): number | null {
    let best: number | null = null;
    for (const name of TIMER_ORDER) {
      const t = this.timers[name];
      if (t !== null && (best === null || t < best)) best = t;
    }
    return best;
  }
}
