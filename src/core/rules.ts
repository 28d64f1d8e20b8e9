// THE transition table of a vipd virtual router. Every decision the router takes is one row here.
//
// How it is read (the engine is in index.ts):
//  - Events are the inputs, except that `timeout` becomes one event per due timer:
//    adverTimer, masterDownTimer, fenceRetryTimer, claimTimer, effectRetryTimer. A timeout with nothing due
//    (early or spurious) produces no event at all.
//  - Before the rows are consulted, environment inputs are absorbed into the router's state:
//    trackerChanged (tracker result by name), linkChanged, maintenance, configChanged (new options;
//    a pending effect fault is cleared: a reload is the operator's retry), and with fencing on an
//    advert's sender as a possible holder of the VIPs (Machine.holders: recorded at a priority above
//    0, forgotten at 0; a claim waits for each to release, or fences it). The rows then see the updated effective priority and
//    fault cause. After the rows, running timers are rebased on the new priority and intervals.
//  - For the current state and event, the FIRST row whose `when` holds fires. A row marked
//    `continue` also lets the following rows be tried (used for report-only checks).
//  - The table is total: a state/event pair that matches no row is a programmer error (assertion).
//  - `ref` is the requirement a row implements: an RFC 9568 / RFC 3768 section, or the vipd issue.
//
// Decisions of our own (not in the RFCs) are marked "vipd" and explained on the row.

import type { Machine, Peer, RivalMaster } from "./machine.js";
import type { Input, RouterState } from "./types.js";

export type TimerEvent =
  | { type: "adverTimer" }
  | { type: "masterDownTimer" }
  | { type: "fenceRetryTimer" }
  | { type: "claimTimer" }
  | { type: "effectRetryTimer" };
export type RouterEvent = Exclude<Input, { type: "timeout" }> | TimerEvent;
export type EventType = RouterEvent["type"];
type EventOf<E extends EventType> = Extract<RouterEvent, { type: E }>;
type AdvertEvent = EventOf<"advert">;

export interface Rule {
  /** Stable name: tests and `lastFiredRules()` use it. */
  id: string;
  /** Where the requirement comes from. */
  ref: string;
  summary: string;
  states: readonly RouterState[];
  on: readonly EventType[];
  when?: (m: Machine, ev: RouterEvent) => boolean;
  act: (m: Machine, ev: RouterEvent) => void;
  continue?: true;
}

function rule<E extends EventType>(r: {
  id: string;
  ref: string;
  summary: string;
  states: readonly RouterState[];
  on: readonly E[];
  when?: (m: Machine, ev: EventOf<E>) => boolean;
  act: (m: Machine, ev: EventOf<E>) => void;
  continue?: true;
}): Rule {
  return r as unknown as Rule;
}

const RUNNING = ["backup", "fencing", "master"] as const;
/** States a claim runs in: Backup, or the fencing step once the fence succeeded. */
const CLAIMING = ["backup", "fencing"] as const;
const ENVIRONMENT = ["trackerChanged", "linkChanged", "configChanged"] as const;
const nothing = () => {};

/** Leaving Fault (vipd): the owner takes Master at once as at startup, anyone else waits as Backup. */
function recover(m: Machine, reason: string): void {
  if (m.isOwner && m.opts.fencing) ownerClaims(m, reason);
  else if (m.isOwner) m.enterMaster(reason);
  else m.enterBackup(reason, "full");
}

/** Fencing mode: the owner does not know who holds the VIPs either; it claims (announces first). */
function ownerClaims(m: Machine, reason: string): void {
  m.enterBackup(reason, "none");
  m.startClaim(null, reason);
}

/** A Backup may follow this advert (RFC 9568 §6.4.2): preempt off, or priority >= ours. */
function followable(m: Machine, ev: AdvertEvent): boolean {
  return !m.preemptNow || ev.priority >= m.priority;
}

/** Priority-0 advert heard by a Backup (RFC 9568 §6.4.2): Master_Down_Timer = Skew_Time. */
function onResign(m: Machine, ev: AdvertEvent): void {
  // Only the master we follow (or, when we follow none, anyone) resigning means nobody to fence.
  if (m.masterAddress === null || m.masterAddress === ev.src) {
    m.peerResigned = true;
    m.masterAddress = null;
  }
  m.timers.fenceRetry = null;
  m.armMasterDown("skew");
}

function describeAdvert(ev: AdvertEvent): string {
  return `${ev.src} priority ${ev.priority}`;
}

/** The sender of an advert as a fence target. */
function senderPeer(ev: AdvertEvent): Peer {
  return ev.srcMac === undefined ? { address: ev.src } : { address: ev.src, mac: ev.srcMac };
}

/**
 * While claiming (fencing mode), an advert that beats us: a better priority, an equal one from a
 * greater address (the tie-break of RFC 9568 §6.4.3, so two equal claimants do not both yield), or
 * any live master when we do not preempt.
 */
function beatsClaim(m: Machine, ev: AdvertEvent): boolean {
  if (ev.priority === 0) return false;
  if (!m.preemptNow) return true;
  return ev.priority > m.priority || (ev.priority === m.priority && m.senderWinsTie(ev.src));
}

/** A live router with a lower priority than ours that we would preempt (fencing mode claims from it). */
function preemptableLower(m: Machine, ev: AdvertEvent): boolean {
  return m.opts.fencing && m.preemptNow && ev.priority > 0 && ev.priority < m.priority;
}

/** Records another advert from a router in a running episode (rules master-rival-*). */
function rivalHeard(m: Machine, ev: AdvertEvent): RivalMaster {
  const r = m.liveRival(ev.src)!; // the row's `when` checked it
  r.heardAt = m.now;
  r.adverIntervalMs = ev.adverIntervalMs;
  return r;
}

function completeClaim(m: Machine): void {
  const reason = m.claim?.reason ?? "claim";
  m.enterMaster(`${reason}; claimed after announcing`);
}

export const RULES: readonly Rule[] = [
  // ---- Initialize ------------------------------------------------------------------------------
  rule({
    id: "init-startup-fault",
    ref: "vipd (issue 4)",
    summary: "startup with the link down or a tracker in fault goes straight to Fault",
    states: ["initialize"],
    on: ["startup"],
    when: (m) => m.faultCause !== null,
    act: (m) => m.enterFault(`startup: ${m.faultCause}`),
  }),
  rule({
    id: "init-startup-owner-fencing",
    ref: "RFC 9568 §6.4.1; vipd (issue 4 fencing)",
    summary:
      "fencing on, the address owner claims: Backup, advert at 255 at once (a lower master releases " +
      "with priority 0), Master a Master_Down_Interval later",
    states: ["initialize"],
    on: ["startup"],
    when: (m) => m.isOwner && m.opts.fencing,
    act: (m) => ownerClaims(m, "startup as address owner (priority 255)"),
  }),
  rule({
    id: "init-startup-owner",
    ref: "RFC 9568 §6.4.1",
    summary: "the address owner (priority 255) sends an advert, adds and announces the VIPs: Master",
    states: ["initialize"],
    on: ["startup"],
    when: (m) => m.isOwner,
    act: (m) => m.enterMaster("startup as address owner (priority 255)"),
  }),
  rule({
    id: "init-startup-backup",
    ref: "RFC 9568 §6.4.1",
    summary: "anyone else: Master_Adver_Interval = own interval, Master_Down_Timer = Master_Down_Interval",
    states: ["initialize"],
    on: ["startup"],
    act: (m) => m.enterBackup("startup", "full"),
  }),
  rule({
    id: "init-ignore",
    ref: "RFC 9568 §6.4.1",
    summary: "before startup (or after shutdown) only the environment is recorded; adverts are not ours yet",
    states: ["initialize"],
    on: ["advert", "shutdown", "fenceResult", "effectFailed", "maintenance", ...ENVIRONMENT],
    act: nothing,
  }),

  // ---- Shutdown ----------------------------------------------------------------------------------
  rule({
    id: "shutdown",
    ref: "RFC 9568 §6.4.2, §6.4.3",
    summary: "stop timers; a master sends a priority-0 advert and removes its VIPs; Initialize; notify stop",
    states: ["backup", "fencing", "master", "fault"],
    on: ["shutdown"],
    act: (m) => m.enterInitialize("shutdown"),
  }),

  // ---- Fault (trackers, link, effects) -----------------------------------------------------------
  rule({
    id: "fault-enter",
    ref: "vipd (issue 4)",
    summary: "link down or a tracker fault: Fault; a master resigns (priority 0, VIPs removed)",
    states: RUNNING,
    on: ENVIRONMENT,
    when: (m) => m.faultCause !== null,
    act: (m) => m.enterFault(m.faultCause ?? "fault"),
  }),
  rule({
    id: "fault-add-vips-failed",
    ref: "vipd",
    summary: "addVips failed: Fault with the error (VIPs removed, priority 0); retried after effectRetryMs",
    states: ["master"],
    on: ["effectFailed"],
    when: (_m, ev) => ev.effect === "addVips",
    act: (m, ev) => {
      m.effectFault = `addVips failed: ${ev.error}`;
      m.enterFault(m.effectFault);
    },
  }),
  rule({
    id: "effect-failed-ignored",
    ref: "vipd",
    summary:
      "other effect failures change nothing: a lost advert or announcement is like a lost packet (the " +
      "protocol repeats them); a failed removeVips cannot be cured by the core (the runtime logs it and " +
      "its orphan sweep retries); a late addVips failure after we left Master is stale",
    states: ["backup", "fencing", "master", "fault"],
    on: ["effectFailed"],
    act: nothing,
  }),
  rule({
    id: "fault-effect-retry",
    ref: "vipd",
    summary: "the effect retry timer clears the effect fault; with no other cause left, leave Fault",
    states: ["fault"],
    on: ["effectRetryTimer"],
    act: (m) => {
      m.effectFault = null;
      if (m.faultCause === null) recover(m, "retrying after effect failure");
    },
  }),
  rule({
    id: "fault-recover",
    ref: "vipd (issue 4)",
    summary: "every fault cause gone: the owner goes Master, others Backup with a full Master_Down_Timer",
    states: ["fault"],
    on: ENVIRONMENT,
    when: (m) => m.faultCause === null,
    act: (m) => recover(m, "fault cleared"),
  }),
  rule({
    id: "fault-ignore",
    ref: "vipd (issue 4)",
    summary: "in Fault adverts, stale fence results and maintenance toggles change nothing",
    states: ["fault"],
    on: ["advert", "fenceResult", "maintenance", ...ENVIRONMENT],
    act: nothing,
  }),

  // ---- Maintenance -------------------------------------------------------------------------------
  rule({
    id: "maintenance-master-resigns",
    ref: "vipd (issue 5)",
    summary: "maintenance on in Master: priority-0 advert, VIPs removed, Backup",
    states: ["master"],
    on: ["maintenance"],
    when: (_m, ev) => ev.on,
    act: (m) => {
      m.sendResign();
      m.enterBackup("maintenance on", "full");
    },
  }),
  rule({
    id: "maintenance-fencing-stops",
    ref: "vipd (issue 5)",
    summary: "maintenance on while fencing: cancel the fence, Backup",
    states: ["fencing"],
    on: ["maintenance"],
    when: (_m, ev) => ev.on,
    act: (m) => m.enterBackup("maintenance on", "full"),
  }),
  rule({
    id: "maintenance-claim-withdraws",
    ref: "vipd (issue 4 fencing, issue 5)",
    summary:
      "maintenance on while claiming: withdraw (priority-0 advert), wait with a full Master_Down_Timer",
    states: ["backup"],
    on: ["maintenance"],
    when: (m, ev) => ev.on && m.claim !== null,
    act: (m) => {
      m.withdrawClaim(true);
      m.armMasterDown("full");
    },
  }),
  rule({
    id: "maintenance-no-change",
    ref: "vipd (issue 5)",
    summary: "other maintenance toggles keep the state (priority and timers follow)",
    states: RUNNING,
    on: ["maintenance"],
    act: nothing,
  }),
  rule({
    id: "backup-maintenance-holds",
    ref: "vipd (issue 5)",
    summary: "in maintenance the Master_Down_Timer never takes over: it is re-armed",
    states: ["backup"],
    on: ["masterDownTimer", "fenceRetryTimer"],
    when: (m) => m.maintenance,
    act: (m) => {
      m.timers.fenceRetry = null;
      m.armMasterDown("full");
    },
  }),

  // ---- Advert screening (Backup, fencing, Master) ------------------------------------------------
  rule({
    id: "advert-own",
    ref: "vipd",
    summary: "an advert from our own primary address (looped back) is ignored",
    states: RUNNING,
    on: ["advert"],
    when: (m, ev) => m.senderIsSelf(ev.src),
    act: nothing,
  }),
  rule({
    id: "advert-version-mismatch",
    ref: "RFC 9568 §7.1, RFC 3768 §7.1",
    summary: "an advert of the other VRRP version is reported and discarded",
    states: RUNNING,
    on: ["advert"],
    when: (m, ev) => ev.version !== m.opts.version,
    act: (m, ev) =>
      m.mismatch("version", `${describeAdvert(ev)} is VRRPv${ev.version}, we run VRRPv${m.opts.version}`),
  }),
  rule({
    id: "advert-v2-interval-mismatch",
    ref: "RFC 3768 §7.1",
    summary: "v2: an advert whose interval differs from ours is reported and discarded",
    states: RUNNING,
    on: ["advert"],
    when: (m, ev) => ev.version === 2 && ev.adverIntervalMs !== m.opts.adverIntervalMs,
    act: (m, ev) =>
      m.mismatch(
        "interval",
        `${describeAdvert(ev)} advertises every ${ev.adverIntervalMs} ms, we use ${m.opts.adverIntervalMs} ms`,
      ),
  }),
  rule({
    id: "advert-addresses-mismatch",
    ref: "RFC 9568 §7.1 (MAY verify; vipd reports only)",
    summary:
      "an address list unlike ours is reported but still processed: dropping it would make both nodes " +
      "Master during every rolling reload that changes the VIPs",
    states: RUNNING,
    on: ["advert"],
    when: (m, ev) => m.addressMismatch(ev.addresses) !== null,
    act: (m, ev) => m.mismatch("addresses", `${ev.src}: ${m.addressMismatch(ev.addresses)}`),
    continue: true,
  }),

  // ---- Master ------------------------------------------------------------------------------------
  rule({
    id: "master-adver-timer",
    ref: "RFC 9568 §6.4.3",
    summary: "Adver_Timer fires: send an advert, restart the timer with Advertisement_Interval",
    states: ["master"],
    on: ["adverTimer"],
    act: (m) => m.sendAdvert(),
  }),
  rule({
    id: "master-rx-priority-0",
    ref: "RFC 9568 §6.4.3",
    summary:
      "priority-0 advert heard: send an advert at once, restart the Adver_Timer (a rival that " +
      "released ends its split-brain episode)",
    states: ["master"],
    on: ["advert"],
    when: (_m, ev) => ev.priority === 0,
    act: (m, ev) => {
      m.rivals.delete(ev.src);
      m.sendAdvert();
    },
  }),
  rule({
    id: "master-rx-higher-fencing",
    ref: "RFC 9568 §6.4.3; vipd (issue 4 fencing)",
    summary:
      "fencing on, higher priority heard: remove the VIPs, Backup, then a priority-0 advert that " +
      "tells the preempting router the VIPs are released (it claims only then), follow it",
    states: ["master"],
    on: ["advert"],
    when: (m, ev) => m.opts.fencing && ev.priority > m.priority,
    act: (m, ev) => {
      m.enterBackup(`higher priority heard: ${describeAdvert(ev)}, ours ${m.priority}`, "none");
      m.sendResign();
      m.follow(ev.src, ev.adverIntervalMs, ev.srcMac);
    },
  }),
  rule({
    id: "master-rx-higher",
    ref: "RFC 9568 §6.4.3",
    summary:
      "higher priority heard: learn its interval, Master_Down_Timer, remove VIPs, Backup; one farewell " +
      "advert at our priority so the winner re-announces (vipd: clients stuck on us after a split)",
    states: ["master"],
    on: ["advert"],
    when: (m, ev) => ev.priority > m.priority,
    act: (m, ev) => {
      m.enterBackup(`higher priority heard: ${describeAdvert(ev)}, ours ${m.priority}`, "none");
      m.sendFarewell();
      m.follow(ev.src, ev.adverIntervalMs, ev.srcMac);
    },
  }),
  rule({
    id: "master-split-brain-lose",
    ref: "RFC 9568 §6.4.3 tie-break; split brain (issue 4)",
    summary:
      "equal priority (two owners too) from a greater address: split_brain, they win, Backup (a farewell " +
      "advert without fencing, as for a higher priority)",
    states: ["master"],
    on: ["advert"],
    when: (m, ev) => ev.priority === m.priority && m.senderWinsTie(ev.src),
    act: (m, ev) => {
      m.notify(
        "split_brain",
        `another master ${describeAdvert(ev)} (equal) has the greater address: yielding`,
      );
      m.enterBackup(`split brain lost to ${ev.src} (equal priority ${ev.priority}, greater address)`, "none");
      if (!m.opts.fencing) m.sendFarewell();
      m.follow(ev.src, ev.adverIntervalMs, ev.srcMac);
    },
  }),
  // From here on the sender should yield to us: a lower priority, or an equal one from a smaller
  // address. Each sender is an episode (machine.ts, RivalMaster) so a peer that never hears us
  // (keepalived discarding our adverts) is a split brain notified once, not an announcement storm.
  rule({
    id: "master-rival-split-brain",
    ref: "split brain (issue 4); vipd",
    summary:
      "a router we answered still advertises more than one of its intervals after our answer (it " +
      "does not hear us): split_brain once per episode, advert at once, re-announce the VIPs unless " +
      "we did within the episode's window",
    states: ["master"],
    on: ["advert"],
    when: (m, ev) => {
      const r = m.liveRival(ev.src);
      return r !== null && !r.splitBrain && m.now - r.answeredAt > ev.adverIntervalMs;
    },
    act: (m, ev) => {
      const r = rivalHeard(m, ev);
      r.splitBrain = true;
      m.notify(
        "split_brain",
        `${describeAdvert(ev)} still advertises as master ${m.now - r.answeredAt} ms after our answer ` +
          `(ours ${m.priority}): it does not hear us`,
      );
      m.sendAdvert();
      m.announceToRival(r, "split-brain");
    },
  }),
  rule({
    id: "master-rival-again",
    ref: "RFC 9568 §6.4.3; vipd (issue 4 split brain)",
    summary:
      "another advert from a router in a running episode: answer with an advert at once; re-announce " +
      "the VIPs at most once per episode window (a Master_Down_Interval), no further notify",
    states: ["master"],
    on: ["advert"],
    when: (m, ev) => m.liveRival(ev.src) !== null,
    act: (m, ev) => {
      const r = rivalHeard(m, ev);
      m.sendAdvert();
      m.announceToRival(r, r.splitBrain ? "split-brain" : "lower-priority-heard");
    },
  }),
  rule({
    id: "master-split-brain-win",
    ref: "RFC 9568 §6.4.3 tie-break; split brain (issue 4)",
    summary:
      "equal priority from a smaller address: split_brain, advert at once, re-announce the VIPs; " +
      "starts an episode for it",
    states: ["master"],
    on: ["advert"],
    when: (m, ev) => ev.priority === m.priority,
    act: (m, ev) => {
      m.notify(
        "split_brain",
        `another master ${describeAdvert(ev)} (equal) has the smaller address: we stay`,
      );
      m.sendAdvert();
      m.emit({ type: "announce", vips: [...m.opts.vips], reason: "split-brain" });
      m.startRival(ev.src, ev.adverIntervalMs, true);
    },
  }),
  rule({
    id: "master-rx-lower",
    ref: "RFC 9568 §6.4.3",
    summary:
      "lower priority heard: send an advert at once and re-announce the VIPs (clients stuck on the " +
      "other master converge); notify master_rx_lower_pri; starts an episode for it",
    states: ["master"],
    on: ["advert"],
    act: (m, ev) => {
      m.sendAdvert();
      m.emit({ type: "announce", vips: [...m.opts.vips], reason: "lower-priority-heard" });
      m.notify("master_rx_lower_pri", `${describeAdvert(ev)} heard, ours ${m.priority}`);
      m.startRival(ev.src, ev.adverIntervalMs, false);
    },
  }),
  rule({
    id: "master-reload",
    ref: "vipd",
    summary:
      "reload while Master: add and announce new VIPs, remove dropped ones; a moved priority or " +
      "interval is advertised at once",
    states: ["master"],
    on: ["configChanged"],
    act: (m) => {
      const before = new Set(m.prevOpts.vips);
      const after = new Set(m.opts.vips);
      const removed = m.prevOpts.vips.filter((v) => !after.has(v));
      const added = m.opts.vips.filter((v) => !before.has(v));
      if (removed.length > 0) m.emit({ type: "removeVips", vips: removed });
      if (added.length > 0) {
        m.emit({ type: "addVips", vips: added });
        m.emit({ type: "announce", vips: added, reason: "vips-changed" });
      }
      if (m.priority !== m.prevPriority || m.opts.adverIntervalMs !== m.prevOpts.adverIntervalMs) {
        m.sendAdvert();
      }
    },
  }),
  rule({
    id: "master-priority-moved",
    ref: "vipd (issue 4)",
    summary: "a tracker moved our effective priority: advertise it at once so backups can preempt",
    states: ["master"],
    on: ["trackerChanged"],
    when: (m) => m.priority !== m.prevPriority,
    act: (m) => m.sendAdvert(),
  }),
  rule({
    id: "master-ignore",
    ref: "vipd",
    summary: "a link-up, an unchanged tracker or a stale fence result changes nothing in Master",
    states: ["master"],
    on: ["linkChanged", "trackerChanged", "fenceResult"],
    act: nothing,
  }),

  // ---- Backup ------------------------------------------------------------------------------------
  // Fencing mode: an unfenced takeover is a claim (machine.ts, Claim): announce, wait, then Master.
  rule({
    id: "backup-claim-adver-timer",
    ref: "vipd (issue 4 fencing)",
    summary: "claiming: the Adver_Timer sends our advert again (a lower master that hears it releases)",
    states: CLAIMING,
    on: ["adverTimer"],
    act: (m) => m.sendAdvert(),
  }),
  rule({
    id: "backup-claim-done",
    ref: "vipd (issue 4 fencing)",
    summary:
      "claim timer, every possible holder (heard advertising before the claim, or a lower router " +
      "heard during it) has released and no better one answered within a Master_Down_Interval: " +
      "advert, VIPs, announcement, Master",
    states: CLAIMING,
    on: ["claimTimer"],
    when: (m) => m.claim !== null && m.claim.pending.size === 0,
    act: (m) => completeClaim(m),
  }),
  rule({
    id: "backup-claim-fence",
    ref: "vipd (issue 4 fencing)",
    summary:
      "claim timer, a possible holder went silent for a Master_Down_Interval without releasing (it " +
      "may have stalled with the VIPs, or claimed them behind a partition): fence it first",
    states: CLAIMING,
    on: ["claimTimer"],
    act: (m) => {
      const pending = [...(m.claim?.pending.values() ?? [])];
      const last = pending.reduce((a, b) => (b.heardAt > a.heardAt ? b : a));
      m.peer = last.peer;
      m.peerResigned = false;
      const waited = m.claim!.notBefore;
      m.claim = null; // the claim ends here: a new fence starts
      m.enterFencing(`possible holder ${last.peer.address} silent without releasing`, last.peer);
      m.claimWaitedUntil = waited; // a successful fence resumes the claim without a new wait
    },
  }),
  rule({
    id: "backup-down-preempt-claim",
    ref: "RFC 9568 §6.4.2 (Preempt_Mode); vipd (issue 4 fencing)",
    summary:
      "fencing on, Master_Down_Timer fires while we discard a live lower-priority master: claim from " +
      "it (announce; Master once it and every other possible holder, the master we followed too, " +
      "released with priority 0 or were fenced after going silent)",
    states: ["backup"],
    on: ["masterDownTimer"],
    when: (m) => m.opts.fencing && m.preemptPeer() !== null,
    act: (m) => {
      const target = m.preemptPeer()!;
      m.startClaim(target, `preempting lower-priority master ${target.address}`);
    },
  }),
  rule({
    id: "backup-down-fence-lower",
    ref: "vipd (issue 4 fencing)",
    summary:
      "fencing on, Master_Down_Timer fires with no master to follow, but a lower-priority master was " +
      "heard and went silent (it may have stalled with the VIPs): fence it first",
    states: ["backup"],
    on: ["masterDownTimer"],
    when: (m) => m.opts.fencing && (m.peer === null || m.peerResigned) && m.silentLowerPeer() !== null,
    act: (m) => {
      const peer = m.silentLowerPeer()!;
      m.peer = peer;
      m.peerResigned = false;
      m.preemptTarget = null;
      m.enterFencing(`lower-priority master ${peer.address} silent`, peer);
    },
  }),
  rule({
    id: "backup-down-claim",
    ref: "vipd (issue 4 fencing)",
    summary:
      "fencing on, Master_Down_Timer fires after our master resigned or with no master heard: claim " +
      "(announce, Master after a Master_Down_Interval unless a better router answers; any other " +
      "router heard advertising that never released must release or is fenced first)",
    states: ["backup"],
    on: ["masterDownTimer"],
    when: (m) => m.opts.fencing && (m.peer === null || m.peerResigned),
    act: (m) => m.startClaim(null, m.peerResigned ? "master resigned (priority 0)" : "no master heard"),
  }),
  rule({
    id: "backup-down-preempt",
    ref: "RFC 9568 §6.4.2 (Preempt_Mode)",
    summary:
      "Master_Down_Timer fires while we discard a live lower-priority master: Master without a fence " +
      "(it is alive and steps down when it hears us)",
    states: ["backup"],
    on: ["masterDownTimer"],
    when: (m) => {
      const target = m.livePreemptTarget();
      return target !== null && (m.peer === null || m.peer.address === target);
    },
    act: (m) => m.enterMaster(`preempting lower-priority master ${m.livePreemptTarget()}`),
  }),
  rule({
    id: "backup-down-fence",
    ref: "vipd (issue 4 fencing)",
    summary:
      "Master_Down_Timer fires, fencing on, a master was known and did not resign: request a fence " +
      "of it first (fencing step), notify fence_started",
    states: ["backup"],
    on: ["masterDownTimer"],
    when: (m) => m.opts.fencing && m.peer !== null && !m.peerResigned,
    act: (m) => {
      const peer = m.peer!;
      m.enterFencing(`master ${peer.address} silent`, peer);
    },
  }),
  rule({
    id: "backup-down-takeover",
    ref: "RFC 9568 §6.4.2",
    summary:
      "Master_Down_Timer fires: advert, VIPs, announcement, Master (fencing off; with fencing on " +
      "the rows above fence or claim instead)",
    states: ["backup"],
    on: ["masterDownTimer"],
    act: (m) =>
      m.enterMaster(
        m.peerResigned
          ? "master resigned (priority 0)"
          : m.peer === null
            ? "no master heard"
            : `master ${m.peer.address} down`,
      ),
  }),
  rule({
    id: "backup-fence-retry",
    ref: "vipd (issue 4 fencing)",
    summary: "the fence back-off ran out with no master heard meanwhile: fence again",
    states: ["backup"],
    on: ["fenceRetryTimer"],
    when: (m) => m.opts.fencing && m.peer !== null,
    act: (m) => {
      const peer = m.peer!;
      m.enterFencing(`retrying fence of ${peer.address}`, peer);
    },
  }),
  rule({
    id: "backup-claim-rx-better",
    ref: "RFC 9568 §6.4.2; vipd (issue 4 fencing)",
    summary:
      "claiming, a better router heard (higher, equal with a greater address, or any master when we " +
      "do not preempt): withdraw with a priority-0 advert, Backup, follow it",
    states: CLAIMING,
    on: ["advert"],
    when: (m, ev) => m.claim !== null && beatsClaim(m, ev),
    act: (m, ev) => {
      if (m.state === "fencing")
        m.enterBackup(`better router heard while claiming: ${describeAdvert(ev)}`, "none");
      m.follow(ev.src, ev.adverIntervalMs, ev.srcMac);
    },
  }),
  rule({
    id: "backup-claim-rx-release",
    ref: "vipd (issue 4 fencing)",
    summary:
      "claiming, a priority-0 advert from a lower router we wait for: it released; when none is left " +
      "and the Master_Down_Interval has passed, Master",
    states: CLAIMING,
    on: ["advert"],
    when: (m, ev) => m.claim !== null && ev.priority === 0 && m.claim.pending.has(ev.src),
    act: (m, ev) => {
      const claim = m.claim!;
      claim.pending.delete(ev.src);
      if (claim.pending.size === 0 && m.now >= claim.notBefore) completeClaim(m);
      else m.timers.claim = m.claimDeadline();
    },
  }),
  rule({
    id: "backup-claim-rx-priority-0-other",
    ref: "vipd (issue 4 fencing)",
    summary: "claiming, a priority-0 advert from a router we do not wait for changes nothing",
    states: CLAIMING,
    on: ["advert"],
    when: (m, ev) => m.claim !== null && ev.priority === 0,
    act: nothing,
  }),
  rule({
    id: "backup-claim-rx-lower",
    ref: "vipd (issue 4 fencing)",
    summary:
      "claiming, a lower router advertises: it may hold the VIPs, wait for its release (or its " +
      "silence, then fence it); the first time, answer with our advert at once",
    states: CLAIMING,
    on: ["advert"],
    when: (m) => m.claim !== null,
    act: (m, ev) => {
      const claim = m.claim!;
      const first = !claim.pending.has(ev.src);
      claim.pending.set(ev.src, { peer: senderPeer(ev), heardAt: m.now });
      if (first) m.sendAdvert(); // once per router: never an advert ping-pong
      m.timers.claim = m.claimDeadline();
    },
  }),
  rule({
    id: "backup-rx-priority-0-other-fencing",
    ref: "vipd (issue 4 fencing)",
    summary:
      "fencing on, a priority-0 advert from a router other than the master we follow says nothing " +
      "about our master: the Master_Down_Timer keeps running (a shorter one would fence a live master)",
    states: ["backup"],
    on: ["advert"],
    when: (m, ev) =>
      m.opts.fencing && ev.priority === 0 && m.masterAddress !== null && m.masterAddress !== ev.src,
    act: nothing,
  }),
  rule({
    id: "backup-rx-priority-0",
    ref: "RFC 9568 §6.4.2",
    summary: "priority-0 advert: Master_Down_Timer = Skew_Time (no fence needed if it was our master)",
    states: ["backup"],
    on: ["advert"],
    when: (_m, ev) => ev.priority === 0,
    act: (m, ev) => onResign(m, ev),
  }),
  rule({
    id: "backup-rx-follow",
    ref: "RFC 9568 §6.4.2",
    summary:
      "Preempt_Mode off (or within preempt_delay) or priority >= ours: learn the interval (v3), " +
      "Master_Down_Timer = Master_Down_Interval",
    states: ["backup"],
    on: ["advert"],
    when: (m, ev) => followable(m, ev),
    act: (m, ev) => m.follow(ev.src, ev.adverIntervalMs, ev.srcMac),
  }),
  rule({
    id: "backup-rx-lower-claim",
    ref: "vipd (issue 4 fencing)",
    summary:
      "fencing on, waiting to retry a fence, a live lower-priority master heard: claim from it (the " +
      "old silent master never released: the claim still fences it, after the live one released)",
    states: ["backup"],
    on: ["advert"],
    when: (m, ev) => preemptableLower(m, ev) && m.timers.masterDown === null,
    act: (m, ev) => m.startClaim(senderPeer(ev), `preempting lower-priority master ${ev.src}`),
  }),
  rule({
    id: "backup-rx-lower-discard",
    ref: "RFC 9568 §6.4.2",
    summary: "lower priority with Preempt_Mode on: discard (the timer runs out and we preempt)",
    states: ["backup"],
    on: ["advert"],
    act: (m, ev) => {
      m.preemptTarget =
        ev.srcMac === undefined
          ? { address: ev.src, at: m.now }
          : { address: ev.src, at: m.now, mac: ev.srcMac };
    },
  }),
  rule({
    id: "backup-claim-fencing-switched-off",
    ref: "vipd",
    summary: "a reload switched fencing off while claiming: take over now, as plain VRRP would have",
    states: CLAIMING,
    on: ["configChanged"],
    when: (m) => !m.opts.fencing && m.claim !== null,
    act: (m) => m.enterMaster(`${m.claim?.reason ?? "claim"}; fencing switched off`),
  }),
  rule({
    id: "backup-fencing-switched-off",
    ref: "vipd",
    summary:
      "a reload switched fencing off while a fence retry waits: the silent master is down, take over now",
    states: ["backup"],
    on: ["configChanged"],
    when: (m) => !m.opts.fencing && m.timers.fenceRetry !== null,
    act: (m) => {
      m.timers.fenceRetry = null;
      m.armMasterDown("skew");
    },
  }),
  rule({
    id: "backup-ignore",
    ref: "vipd",
    summary:
      "environment changes without a fault only move the priority (timers are rebased); stale fence results",
    states: ["backup"],
    on: ["fenceResult", ...ENVIRONMENT],
    act: nothing,
  }),

  // ---- Fencing (between Backup and Master) -------------------------------------------------------
  rule({
    id: "fence-ok",
    ref: "vipd (issue 4 fencing)",
    summary:
      "the fence succeeded: the fenced router holds nothing; claim (advert at once; Master after a " +
      "Master_Down_Interval unless a better router answers: another backup may have fenced the same " +
      "master; other possible holders release or are fenced first)",
    states: ["fencing"],
    on: ["fenceResult"],
    when: (m, ev) => ev.ok && m.claim === null,
    act: (m, ev) => {
      const peer = m.peer!; // the fencing state always has one (checkRouterInvariants)
      m.holders.delete(peer.address); // powered off: it holds nothing
      m.startClaim(null, `fenced ${peer.address}: ${ev.detail}`);
    },
  }),
  rule({
    id: "fence-claim-ignore",
    ref: "vipd",
    summary: "claiming after the fence: a late or repeated fence result changes nothing",
    states: ["fencing"],
    on: ["fenceResult"],
    when: (m) => m.claim !== null,
    act: nothing,
  }),
  rule({
    id: "fence-failed",
    ref: "vipd (issue 4 fencing)",
    summary:
      "the fence failed or timed out: stay Backup, notify fence_failed, retry after fenceRetryMs, " +
      "doubling up to fenceRetryMaxMs",
    states: ["fencing"],
    on: ["fenceResult"],
    act: (m, ev) => {
      const peer = m.peer?.address ?? "peer";
      m.enterBackup(`fence of ${peer} failed: ${ev.detail}`, "none", { cancelFence: false });
      m.notify("fence_failed", `fence of ${peer} failed: ${ev.detail}; retry in ${m.fenceBackoffMs} ms`);
      m.timers.fenceRetry = m.now + m.fenceBackoffMs;
      m.fenceBackoffMs = Math.min(m.fenceBackoffMs * 2, m.opts.fenceRetryMaxMs);
    },
  }),
  rule({
    id: "fence-rx-priority-0",
    ref: "RFC 9568 §6.4.2; vipd (issue 4)",
    summary: "a priority-0 advert while fencing: cancel the fence, Backup with Master_Down_Timer = Skew_Time",
    states: ["fencing"],
    on: ["advert"],
    when: (_m, ev) => ev.priority === 0,
    act: (m, ev) => {
      m.enterBackup(`${ev.src} resigned while fencing`, "none");
      onResign(m, ev);
    },
  }),
  rule({
    id: "fence-rx-live-master",
    ref: "vipd (issue 4 fencing)",
    summary: "an advert a Backup would follow (a live master): cancel the fence, Backup, follow it",
    states: ["fencing"],
    on: ["advert"],
    when: (m, ev) => followable(m, ev),
    act: (m, ev) => {
      m.enterBackup(`live master heard while fencing: ${describeAdvert(ev)}`, "none");
      m.follow(ev.src, ev.adverIntervalMs, ev.srcMac);
    },
  }),
  rule({
    id: "fence-rx-lower",
    ref: "RFC 9568 §6.4.2; vipd (issue 4 fencing)",
    summary:
      "a live lower-priority master heard while fencing (preempt on): cancel the fence, Backup, claim " +
      "from it (the old silent master is fenced again by the claim unless it releases)",
    states: ["fencing"],
    on: ["advert"],
    act: (m, ev) => {
      m.enterBackup(`live lower-priority master heard while fencing: ${describeAdvert(ev)}`, "none");
      m.startClaim(senderPeer(ev), `preempting lower-priority master ${ev.src}`);
    },
  }),
  rule({
    id: "fence-switched-off",
    ref: "vipd",
    summary: "a reload switched fencing off while fencing: cancel it, Backup, take over after Skew_Time",
    states: ["fencing"],
    on: ["configChanged"],
    when: (m) => !m.opts.fencing,
    act: (m) => m.enterBackup("fencing switched off", "skew"),
  }),
  rule({
    id: "fence-ignore",
    ref: "vipd",
    summary: "environment changes without a fault leave the fence running",
    states: ["fencing"],
    on: ENVIRONMENT,
    act: nothing,
  }),
];
