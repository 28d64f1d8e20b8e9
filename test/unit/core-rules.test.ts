// The requirement ledger: one test per row of src/core/rules.ts, named with the row's source.
// The harness checks the router's invariants, and that each state change is notified, after
// every step; the last test checks that every row of the table was exercised here.
import { afterAll, describe, expect, it } from "vitest";
import { type Action, RULES } from "../../src/core/index.js";
import { advert, BASE, Driver, firedRules, notifies, only, types } from "./core-harness.js";

const VIPS = BASE.vips;
const weight = (tracker: string, w: number) =>
  ({ type: "trackerChanged", tracker, result: { type: "weight", weight: w } }) as const;
const trackerFault = (tracker: string, reason: string) =>
  ({ type: "trackerChanged", tracker, result: { type: "fault", reason } }) as const;

/**
 * Lets a fencing-mode claim run out: fires the timers (its adverts) until the claim completes.
 * Returns the completing step.
 */
function claimDone(d: Driver) {
  for (let k = 0; k < 20; k++) {
    const step = d.fire();
    if (d.rules().includes("backup-claim-done")) return step;
    expect(d.rules()).toEqual(["backup-claim-adver-timer"]);
  }
  throw new Error("the claim did not complete within 20 timer firings");
}

/** A Backup with fencing on that follows a master at .20 (MAC known), then hears nothing. */
function fencingDriver(o: Partial<typeof BASE> = {}): Driver {
  const d = new Driver({ fencing: true, ...o });
  d.start(0);
  d.feed(advert({ priority: 200, srcMac: "02:00:00:00:00:20" }), 100);
  return d;
}

describe("Initialize (RFC 9568 §6.4.1)", () => {
  it("§6.4.1 startup: the owner (priority 255) sends an advert, adds and announces the VIPs, Master", () => {
    const d = new Driver({ priority: 255 });
    const step = d.start(1000);
    expect(d.rules()).toEqual(["init-startup-owner"]);
    expect(step.actions).toEqual([
      {
        type: "stateChanged",
        from: "initialize",
        to: "master",
        reason: "startup as address owner (priority 255)",
      },
      { type: "sendAdvert", priority: 255 },
      { type: "addVips", vips: VIPS },
      { type: "announce", vips: VIPS, reason: "takeover" },
      { type: "notify", event: "master", detail: "startup as address owner (priority 255)" },
    ]);
    expect(step.nextDeadline).toBe(2000);
    expect(d.router.holdsVips).toBe(true);
  });

  it("§6.4.1 startup: a non-owner goes Backup with Master_Down_Timer = Master_Down_Interval", () => {
    const d = new Driver();
    const step = d.start(0);
    expect(d.rules()).toEqual(["init-startup-backup"]);
    expect(types(step.actions)).toEqual(["stateChanged", "notify"]);
    expect(notifies(step.actions)).toEqual(["backup"]);
    expect(step.nextDeadline).toBe(3609.375);
  });

  it("issue 4: startup with the link down goes to Fault", () => {
    const d = new Driver({ priority: 255 });
    d.feed({ type: "linkChanged", up: false }, 0);
    const step = d.start(0);
    expect(d.rules()).toEqual(["init-startup-fault"]);
    expect(d.router.state).toBe("fault");
    expect(d.router.faultReason).toBe("link down");
    expect(notifies(step.actions)).toEqual(["fault"]);
    expect(step.nextDeadline).toBeNull();
  });

  it("§6.4.1 before startup adverts and environment inputs are only recorded", () => {
    const d = new Driver();
    expect(d.feed(advert(), 0)).toEqual({ actions: [], nextDeadline: null });
    expect(d.feed(weight("chk", -10), 0).actions).toEqual([]);
    expect(d.rules()).toEqual(["init-ignore"]);
    expect(d.router.effectivePriority).toBe(90);
    expect(d.router.state).toBe("initialize");
  });
});

describe("Shutdown (RFC 9568 §6.4.2, §6.4.3)", () => {
  it("§6.4.3 a master shutting down sends priority 0, removes its VIPs, goes Initialize, notifies stop", () => {
    const d = new Driver();
    d.startMaster();
    const step = d.feed({ type: "shutdown" }, 5000);
    expect(d.rules()).toEqual(["shutdown"]);
    expect(step.actions).toEqual([
      { type: "sendAdvert", priority: 0 },
      { type: "removeVips", vips: VIPS },
      { type: "stateChanged", from: "master", to: "initialize", reason: "shutdown" },
      { type: "notify", event: "stop", detail: "shutdown" },
    ]);
    expect(step.nextDeadline).toBeNull();
  });

  it("§6.4.2 a backup shutting down sends nothing, goes Initialize", () => {
    const d = new Driver();
    d.start();
    const step = d.feed({ type: "shutdown" }, 10);
    expect(types(step.actions)).toEqual(["stateChanged", "notify"]);
    expect(d.router.state).toBe("initialize");
  });

  it("issue 4: shutting down while fencing cancels the fence", () => {
    const d = fencingDriver();
    d.fire();
    expect(d.router.state).toBe("fencing");
    expect(types(d.feed({ type: "shutdown" }, 9000).actions)).toEqual([
      "cancelFence",
      "stateChanged",
      "notify",
    ]);
  });
});

describe("Fault (issue 4: trackers, link; effects)", () => {
  it("issue 4: a tracker fault makes a master resign (priority 0, VIPs removed) and go Fault", () => {
    const d = new Driver();
    d.startMaster();
    const step = d.feed(trackerFault("chk_haproxy", "exit 1"), 5000);
    expect(d.rules()).toEqual(["fault-enter"]);
    expect(types(step.actions)).toEqual(["sendAdvert", "removeVips", "stateChanged", "notify"]);
    expect(only(step.actions, "sendAdvert")).toEqual([{ type: "sendAdvert", priority: 0 }]);
    expect(d.router.faultReason).toBe("tracker chk_haproxy: exit 1");
    expect(step.nextDeadline).toBeNull();
  });

  it("issue 4: link down makes a backup go Fault", () => {
    const d = new Driver();
    d.start();
    d.feed({ type: "linkChanged", up: false }, 10);
    expect(d.router.state).toBe("fault");
  });

  it("issue 4: every cause gone → Backup with a full Master_Down_Timer (owner: Master)", () => {
    const d = new Driver();
    d.start();
    d.feed({ type: "linkChanged", up: false }, 10);
    d.feed(trackerFault("a", "down"), 20);
    d.feed({ type: "linkChanged", up: true }, 30);
    expect(d.router.state).toBe("fault");
    expect(d.router.faultReason).toBe("tracker a: down");
    const step = d.feed(weight("a", 0), 40);
    expect(d.rules()).toEqual(["fault-recover"]);
    expect(d.router.state).toBe("backup");
    expect(step.nextDeadline).toBe(40 + 3609.375);

    const owner = new Driver({ priority: 255 });
    owner.start();
    owner.feed({ type: "linkChanged", up: false }, 10);
    owner.feed({ type: "linkChanged", up: true }, 20);
    expect(owner.router.state).toBe("master");
  });

  it("vipd: addVips failing puts a master in Fault with the error, retried after effectRetryMs", () => {
    const d = new Driver({ effectRetryMs: 2000 });
    d.startMaster();
    const step = d.feed({ type: "effectFailed", effect: "addVips", error: "EEXIST" }, 4000);
    expect(d.rules()).toEqual(["fault-add-vips-failed"]);
    expect(d.router.state).toBe("fault");
    expect(d.router.faultReason).toBe("addVips failed: EEXIST");
    expect(types(step.actions)).toEqual(["sendAdvert", "removeVips", "stateChanged", "notify"]);
    expect(step.nextDeadline).toBe(6000);
    const retry = d.fire();
    expect(d.rules()).toEqual(["fault-effect-retry"]);
    expect(d.router.state).toBe("backup");
    expect(retry.nextDeadline).toBe(6000 + 3609.375);
  });

  it("vipd: the effect retry clears only the effect fault; another cause keeps Fault", () => {
    const d = new Driver();
    d.startMaster();
    d.feed({ type: "effectFailed", effect: "addVips", error: "ENOMEM" }, 4000);
    d.feed(trackerFault("b", "timeout"), 4100);
    expect(d.fire().actions).toEqual([]);
    expect(d.router.state).toBe("fault");
    expect(d.router.faultReason).toBe("tracker b: timeout");
  });

  it("vipd: other effect failures (sendAdvert, announce, removeVips) change nothing", () => {
    const d = new Driver();
    d.startMaster();
    for (const effect of ["sendAdvert", "announce", "removeVips"] as const) {
      const step = d.feed({ type: "effectFailed", effect, error: "ENETDOWN" }, 4000);
      expect(d.rules()).toEqual(["effect-failed-ignored"]);
      expect(step.actions).toEqual([]);
      expect(d.router.state).toBe("master");
    }
  });

  it("issue 4: in Fault adverts and maintenance change nothing", () => {
    const d = new Driver();
    d.start();
    d.feed({ type: "linkChanged", up: false }, 10);
    expect(d.feed(advert({ priority: 1 }), 20).actions).toEqual([]);
    expect(d.rules()).toEqual(["fault-ignore"]);
  });
});

describe("Maintenance (issue 5)", () => {
  it("issue 5: maintenance on makes a master resign (priority 0, VIPs removed) and stay Backup", () => {
    const d = new Driver();
    d.startMaster();
    const step = d.feed({ type: "maintenance", on: true }, 5000);
    expect(d.rules()).toEqual(["maintenance-master-resigns"]);
    expect(types(step.actions)).toEqual(["sendAdvert", "removeVips", "stateChanged", "notify"]);
    expect(only(step.actions, "sendAdvert")[0]?.priority).toBe(0);
    expect(d.router.effectivePriority).toBe(0);
    // The Master_Down_Timer keeps running out and is re-armed: never Master.
    for (let i = 0; i < 5; i++) {
      expect(d.fire().actions).toEqual([]);
      expect(d.rules()).toEqual(["backup-maintenance-holds"]);
      expect(d.router.state).toBe("backup");
    }
    d.feed({ type: "maintenance", on: false }, d.now + 1);
    expect(d.rules()).toEqual(["maintenance-no-change"]);
    expect(d.router.effectivePriority).toBe(100);
    d.fire();
    expect(d.router.state).toBe("master");
  });

  it("issue 5: in maintenance a backup follows any master, even a lower one", () => {
    const d = new Driver();
    d.start();
    d.feed({ type: "maintenance", on: true }, 1);
    d.feed(advert({ priority: 1 }), 2);
    expect(d.rules()).toEqual(["backup-rx-follow"]);
    expect(d.router.masterAddress).toBe("192.0.2.20");
  });

  it("issue 5: maintenance on while fencing cancels the fence", () => {
    const d = fencingDriver();
    d.fire();
    const step = d.feed({ type: "maintenance", on: true }, 9000);
    expect(d.rules()).toEqual(["maintenance-fencing-stops"]);
    expect(types(step.actions)).toEqual(["cancelFence", "stateChanged", "notify"]);
    expect(d.router.state).toBe("backup");
  });
});

describe("Advert screening (RFC 9568 §7.1, RFC 3768 §7.1)", () => {
  it("vipd: an advert from our own primary address is ignored", () => {
    const d = new Driver();
    const armed = d.start().nextDeadline;
    const step = d.feed(advert({ src: "192.0.2.10", priority: 255 }), 50);
    expect(d.rules()).toEqual(["advert-own"]);
    expect(step).toEqual({ actions: [], nextDeadline: armed });
  });

  it("§7.1 an advert of the other version is reported (mismatch version) and discarded", () => {
    const d = new Driver();
    const armed = d.start().nextDeadline;
    const step = d.feed(advert({ version: 2, priority: 200 }), 50);
    expect(d.rules()).toEqual(["advert-version-mismatch"]);
    expect(only(step.actions, "mismatch")[0]?.field).toBe("version");
    expect(step.nextDeadline).toBe(armed);
  });

  it("RFC 3768 §7.1 v2: a different advert interval is reported (mismatch interval) and discarded", () => {
    const d = new Driver({ version: 2 });
    const armed = d.start().nextDeadline;
    const step = d.feed(advert({ version: 2, priority: 200, adverIntervalMs: 2000 }), 50);
    expect(d.rules()).toEqual(["advert-v2-interval-mismatch"]);
    expect(step.actions).toEqual([
      {
        type: "mismatch",
        field: "interval",
        detail: "192.0.2.20 priority 200 advertises every 2000 ms, we use 1000 ms",
      },
    ]);
    expect(step.nextDeadline).toBe(armed);
  });

  it("§7.1 a different VIP list is reported (mismatch addresses) but still processed", () => {
    const d = new Driver();
    d.start();
    const step = d.feed(advert({ priority: 200, addresses: ["192.0.2.100", "192.0.2.101"] }), 50);
    expect(d.rules()).toEqual(["advert-addresses-mismatch", "backup-rx-follow"]);
    expect(only(step.actions, "mismatch")[0]?.field).toBe("addresses");
    expect(step.nextDeadline).toBe(50 + 3609.375);
    // Same set, other order and spelling: no mismatch.
    const same = new Driver({
      vips: ["2001:db8::100/64", "2001:db8::101/64"],
      family: "ipv6",
      primaryAddress: "fe80::10",
    });
    same.start();
    const ok = same.feed(
      advert({ src: "fe80::20", priority: 200, addresses: ["2001:DB8:0::101", "2001:db8::100"] }),
      5,
    );
    expect(only(ok.actions, "mismatch")).toEqual([]);
  });

  it("§7.1 the address check compares sets: duplicates, a subset or a superset, and a reload's new list", () => {
    const d = new Driver({ vips: ["192.0.2.100/24", "192.0.2.101/24"] });
    d.start();
    const mismatch = (addresses: string[], at: number) =>
      only(d.feed(advert({ priority: 200, addresses }), at).actions, "mismatch").map((a) => a.detail);
    expect(mismatch(["192.0.2.101", "192.0.2.100"], 10)).toEqual([]);
    expect(mismatch(["192.0.2.100", "192.0.2.100", "192.0.2.101"], 20)).toEqual([]);
    expect(mismatch(["192.0.2.100", "192.0.2.100"], 30)).toEqual([
      "192.0.2.20: advert lists [192.0.2.100, 192.0.2.100], configured [192.0.2.100, 192.0.2.101]",
    ]);
    expect(mismatch(["192.0.2.100", "192.0.2.101", "192.0.2.102"], 40)).toHaveLength(1);
    expect(mismatch(["not an address"], 50)).toHaveLength(1);
    // A reload changes the list the adverts are compared with (the cached form follows it).
    d.feed({ type: "configChanged", options: { ...BASE, vips: ["192.0.2.102/32"] } }, 60);
    expect(mismatch(["192.0.2.100", "192.0.2.101"], 70)).toEqual([
      "192.0.2.20: advert lists [192.0.2.100, 192.0.2.101], configured [192.0.2.102]",
    ]);
    expect(mismatch(["192.0.2.102"], 80)).toEqual([]);
  });
});

describe("Master (RFC 9568 §6.4.3) and split brain (issue 4)", () => {
  it("§6.4.3 Adver_Timer fires: send an advert, restart the timer", () => {
    const d = new Driver({ adverIntervalMs: 100 });
    d.startMaster();
    const t = d.now;
    const step = d.fire();
    expect(d.rules()).toEqual(["master-adver-timer"]);
    expect(step).toEqual({ actions: [{ type: "sendAdvert", priority: 100 }], nextDeadline: t + 200 });
  });

  it("§6.4.3 priority-0 advert heard: send an advert at once and restart the Adver_Timer", () => {
    const d = new Driver();
    d.startMaster();
    const step = d.feed(advert({ priority: 0 }), d.now + 300);
    expect(d.rules()).toEqual(["master-rx-priority-0"]);
    expect(step).toEqual({ actions: [{ type: "sendAdvert", priority: 100 }], nextDeadline: d.now + 1000 });
  });

  it("§6.4.3 higher priority heard: remove VIPs, Backup, learn its interval, Master_Down_Timer, farewell advert", () => {
    const d = new Driver();
    d.startMaster();
    const at = d.now + 10;
    const step = d.feed(advert({ priority: 150, adverIntervalMs: 100 }), at);
    expect(d.rules()).toEqual(["master-rx-higher"]);
    expect(types(step.actions)).toEqual(["removeVips", "stateChanged", "notify", "sendAdvert"]);
    // One advert at our own priority, so the winner hears a lower priority and re-announces.
    expect(step.actions.filter((a) => a.type === "sendAdvert")).toEqual([
      { type: "sendAdvert", priority: 100 },
    ]);
    expect(d.router.state).toBe("backup");
    expect(d.router.masterAddress).toBe("192.0.2.20");
    expect(step.nextDeadline).toBe(at + 360.9375);
    expect(notifies(step.actions)).not.toContain("split_brain");
  });

  it("§6.4.3 + issue 4: equal priority from a greater address: split_brain, yield, Backup", () => {
    const d = new Driver();
    d.startMaster();
    const step = d.feed(advert({ priority: 100, src: "192.0.2.20" }), d.now + 10);
    expect(d.rules()).toEqual(["master-split-brain-lose"]);
    expect(notifies(step.actions)).toEqual(["split_brain", "backup"]);
    expect(types(step.actions)).toContain("removeVips");
    expect(step.actions.filter((a) => a.type === "sendAdvert")).toEqual([
      { type: "sendAdvert", priority: 100 },
    ]);
    expect(d.router.state).toBe("backup");
  });

  it("§6.4.3 + issue 4: equal priority from a smaller address: split_brain, advert at once, re-announce", () => {
    const d = new Driver({ primaryAddress: "192.0.2.30" });
    d.startMaster();
    const step = d.feed(advert({ priority: 100, src: "192.0.2.20" }), d.now + 10);
    expect(d.rules()).toEqual(["master-split-brain-win"]);
    expect(types(step.actions)).toEqual(["notify", "sendAdvert", "announce"]);
    expect(only(step.actions, "announce")).toEqual([{ type: "announce", vips: VIPS, reason: "split-brain" }]);
    expect(d.router.state).toBe("master");
  });

  it("§6.4.3 + issue 4: two owners (both 255): the tie goes to the greater address", () => {
    const low = new Driver({ priority: 255, primaryAddress: "192.0.2.10" });
    const high = new Driver({ priority: 255, primaryAddress: "192.0.2.30" });
    low.start();
    high.start();
    low.feed(advert({ priority: 255, src: "192.0.2.30" }), 5);
    high.feed(advert({ priority: 255, src: "192.0.2.10" }), 5);
    expect(low.router.state).toBe("backup");
    expect(high.router.state).toBe("master");
    expect(notifies(low.last.actions)).toContain("split_brain");
    expect(notifies(high.last.actions)).toEqual(["split_brain"]);
  });

  it("§6.4.3 IPv6: the tie-break compares addresses as unsigned network-order integers", () => {
    const d = new Driver({ family: "ipv6", primaryAddress: "fe80::9", vips: ["2001:db8::100/64"] });
    d.startMaster();
    // fe80::10 (0x10) > fe80::9 (0x09) numerically although "10" < "9" as text.
    d.feed(advert({ src: "fe80::10", priority: 100, addresses: ["2001:db8::100"] }), d.now + 1);
    expect(d.rules()).toEqual(["master-split-brain-lose"]);
  });

  it("§6.4.3 (RFC 9568) lower priority heard: advert at once, re-announce, notify master_rx_lower_pri", () => {
    const d = new Driver();
    d.startMaster();
    const step = d.feed(advert({ priority: 50 }), d.now + 10);
    expect(d.rules()).toEqual(["master-rx-lower"]);
    expect(step.actions).toEqual([
      { type: "sendAdvert", priority: 100 },
      { type: "announce", vips: VIPS, reason: "lower-priority-heard" },
      { type: "notify", event: "master_rx_lower_pri", detail: "192.0.2.20 priority 50 heard, ours 100" },
    ]);
    expect(d.router.state).toBe("master");
  });

  it("issue 4 (split brain): a lower master still advertising an interval after our answer is a split brain, notified once", () => {
    // The lab case: a keepalived peer that discards our adverts stays master. Before, every one of
    // its adverts got an announcement burst and a notify (an announcement storm, no split brain).
    const d = new Driver();
    d.startMaster();
    const t0 = d.now;
    const first = d.feed(advert({ priority: 50 }), t0 + 10);
    expect(d.rules()).toEqual(["master-rx-lower"]);
    expect(types(first.actions)).toEqual(["sendAdvert", "announce", "notify"]);
    // Its next advert, one interval later: it may not have heard us yet. An advert, nothing else.
    const early = d.feed(advert({ priority: 50 }), t0 + 1010);
    expect(d.rules()).toEqual(["master-rival-again"]);
    expect(early.actions).toEqual([{ type: "sendAdvert", priority: 100 }]);
    // More than one of its intervals after our answer it still advertises: split brain.
    const sb = d.feed(advert({ priority: 50 }), t0 + 2010);
    expect(d.rules()).toEqual(["master-rival-split-brain"]);
    expect(sb.actions).toEqual([
      {
        type: "notify",
        event: "split_brain",
        detail:
          "192.0.2.20 priority 50 still advertises as master 2000 ms after our answer (ours 100): it does not hear us",
      },
      { type: "sendAdvert", priority: 100 },
    ]);
    expect(d.router.state).toBe("master");
  });

  it("issue 4 (split brain): a persisting lower master gets every advert answered, one announcement per Master_Down_Interval, one split_brain", () => {
    const d = new Driver({ adverIntervalMs: 100 });
    d.startMaster();
    const t0 = d.now;
    // It advertises every 100 ms for 2.5 s and never hears us.
    const all: Action[] = [];
    for (let k = 0; k < 25; k++)
      all.push(...d.feed(advert({ priority: 50, adverIntervalMs: 100 }), t0 + 5 + 100 * k).actions);
    expect(only(all, "sendAdvert")).toHaveLength(25);
    expect(notifies(all)).toEqual(["master_rx_lower_pri", "split_brain"]);
    // Master_Down_Interval at priority 100 on 100 ms: 360.9375 ms, so announcements at 0, 400,
    // 800, ... 2400 ms: 7 bursts where there were 25.
    expect(only(all, "announce").map((a) => a.reason)).toEqual([
      "lower-priority-heard",
      ...Array(6).fill("split-brain"),
    ]);
  });

  it("issue 4 (split brain): an episode ends when the rival is silent for the window or releases; a new one is answered again", () => {
    const d = new Driver();
    d.startMaster();
    const t0 = d.now;
    d.feed(advert({ priority: 50 }), t0);
    d.feed(advert({ priority: 50 }), t0 + 2000);
    expect(d.rules()).toEqual(["master-rival-split-brain"]);
    // Silent for a Master_Down_Interval (3609.375 ms here): it stepped down. Back later: first answer.
    const back = d.feed(advert({ priority: 50 }), t0 + 2000 + 3610);
    expect(d.rules()).toEqual(["master-rx-lower"]);
    expect(notifies(back.actions)).toEqual(["master_rx_lower_pri"]);
    // A priority-0 advert from it ends the episode too.
    d.feed(advert({ priority: 0 }), d.now + 100);
    expect(d.rules()).toEqual(["master-rx-priority-0"]);
    d.feed(advert({ priority: 50 }), d.now + 100);
    expect(d.rules()).toEqual(["master-rx-lower"]);
    // Episodes are per sender: another lower master is answered in full.
    const other = d.feed(advert({ priority: 60, src: "192.0.2.30" }), d.now + 10);
    expect(d.rules()).toEqual(["master-rx-lower"]);
    expect(types(other.actions)).toEqual(["sendAdvert", "announce", "notify"]);
  });

  it("issue 4 (split brain): an equal master with the smaller address that keeps advertising is one split brain, announced once per window", () => {
    const d = new Driver({ primaryAddress: "192.0.2.30" });
    d.startMaster();
    const t0 = d.now;
    const all: Action[] = [];
    for (let k = 0; k < 10; k++) all.push(...d.feed(advert({ priority: 100 }), t0 + 1 + 1000 * k).actions);
    expect(notifies(all)).toEqual(["split_brain"]);
    expect(only(all, "sendAdvert")).toHaveLength(10);
    // Window 3609.375 ms: announcements at 0, 4000 and 8000 ms.
    expect(only(all, "announce").map((a) => a.reason)).toEqual(["split-brain", "split-brain", "split-brain"]);
  });

  it("issue 4 (split brain): leaving Master ends every episode; a new term answers in full", () => {
    const d = new Driver();
    d.startMaster();
    d.feed(advert({ priority: 50 }), d.now + 10);
    d.feed(advert({ priority: 150 }), d.now + 10); // higher: we step down
    expect(d.router.state).toBe("backup");
    d.fire(); // the higher one went silent: Master again
    expect(d.router.state).toBe("master");
    const step = d.feed(advert({ priority: 50 }), d.now + 10);
    expect(d.rules()).toEqual(["master-rx-lower"]);
    expect(notifies(step.actions)).toEqual(["master_rx_lower_pri"]);
  });

  it("issue 4: a tracker moving a master's priority is advertised at once", () => {
    const d = new Driver();
    d.startMaster();
    const step = d.feed(weight("chk", -20), d.now + 10);
    expect(d.rules()).toEqual(["master-priority-moved"]);
    expect(step.actions).toEqual([{ type: "sendAdvert", priority: 80 }]);
    expect(d.feed(weight("chk", -20), d.now + 10).actions).toEqual([]);
    expect(d.rules()).toEqual(["master-ignore"]);
  });

  it("vipd: a reload while Master adds, announces and removes the changed VIPs and advertises a new priority", () => {
    const d = new Driver({ vips: ["192.0.2.100/24", "192.0.2.101/24"] });
    d.startMaster();
    const step = d.feed(
      {
        type: "configChanged",
        options: { ...BASE, priority: 120, vips: ["192.0.2.101/24", "192.0.2.102/24"] },
      },
      d.now + 10,
    );
    expect(d.rules()).toEqual(["master-reload"]);
    expect(step.actions).toEqual([
      { type: "removeVips", vips: ["192.0.2.100/24"] },
      { type: "addVips", vips: ["192.0.2.102/24"] },
      { type: "announce", vips: ["192.0.2.102/24"], reason: "vips-changed" },
      { type: "sendAdvert", priority: 120 },
    ]);
    expect(d.router.state).toBe("master");
  });

  it("vipd: a reload changing the interval re-arms the Adver_Timer from the last advert", () => {
    const d = new Driver();
    d.startMaster();
    const t = d.now;
    const step = d.feed({ type: "configChanged", options: { ...BASE, adverIntervalMs: 200 } }, t + 50);
    expect(step.actions).toEqual([{ type: "sendAdvert", priority: 100 }]);
    expect(step.nextDeadline).toBe(t + 50 + 200);
  });
});

describe("Backup (RFC 9568 §6.4.2)", () => {
  it("§6.4.2 Master_Down_Timer fires: advert, VIPs added then announced, Master", () => {
    const d = new Driver();
    d.start();
    d.feed(advert({ priority: 200 }), 100);
    const step = d.fire();
    expect(d.rules()).toEqual(["backup-down-takeover"]);
    expect(d.now).toBe(100 + 3609.375);
    expect(types(step.actions)).toEqual(["stateChanged", "sendAdvert", "addVips", "announce", "notify"]);
    expect(only(step.actions, "stateChanged")[0]?.reason).toBe("master 192.0.2.20 down");
  });

  it("§6.4.2 priority-0 advert: Master_Down_Timer = Skew_Time, then Master", () => {
    const d = new Driver();
    d.start();
    d.feed(advert({ priority: 200 }), 100);
    expect(d.feed(advert({ priority: 0 }), 500).nextDeadline).toBe(500 + 609.375);
    expect(d.rules()).toEqual(["backup-rx-priority-0"]);
    d.fire();
    expect(d.router.state).toBe("master");
  });

  it("§6.4.2 priority >= ours: follow, learn the interval, reset the Master_Down_Timer", () => {
    const d = new Driver();
    d.start();
    for (const [at, p] of [
      [100, 200],
      [1100, 100],
    ] as const) {
      expect(d.feed(advert({ priority: p, adverIntervalMs: 1000 }), at).nextDeadline).toBe(at + 3609.375);
      expect(d.rules()).toEqual(["backup-rx-follow"]);
    }
  });

  it("§6.4.2 Preempt_Mode off: a lower priority master is followed too", () => {
    const d = new Driver({ preempt: false });
    d.start();
    expect(d.feed(advert({ priority: 50 }), 100).nextDeadline).toBe(100 + 3609.375);
    expect(d.rules()).toEqual(["backup-rx-follow"]);
  });

  it("§6.4.2 lower priority with Preempt_Mode on: discarded, so we take over when the timer fires", () => {
    const d = new Driver();
    const armed = d.start().nextDeadline;
    const step = d.feed(advert({ priority: 50 }), 100);
    expect(d.rules()).toEqual(["backup-rx-lower-discard"]);
    expect(step).toEqual({ actions: [], nextDeadline: armed });
    expect(d.router.masterAddress).toBeNull();
  });

  it("§6.1 the owner always preempts, even with preempt off", () => {
    const d = new Driver({ priority: 255, preempt: false, primaryAddress: "192.0.2.10" });
    d.start();
    d.feed(advert({ priority: 255, src: "192.0.2.20" }), 1); // tie lost: Backup
    expect(d.router.state).toBe("backup");
    const armed = d.last.nextDeadline;
    d.feed(advert({ priority: 100, src: "192.0.2.30" }), 2);
    expect(d.rules()).toEqual(["backup-rx-lower-discard"]);
    expect(d.last.nextDeadline).toBe(armed);
  });

  it("keepalived preempt_delay: for that long after startup a lower master is followed, then preempted", () => {
    const d = new Driver({ preemptDelayMs: 3000 });
    d.start(0);
    for (let t = 500; t <= 2500; t += 1000) {
      d.feed(advert({ priority: 50 }), t);
      expect(d.rules()).toEqual(["backup-rx-follow"]);
    }
    d.feed(advert({ priority: 50 }), 3500);
    expect(d.rules()).toEqual(["backup-rx-lower-discard"]);
    d.fire();
    expect(d.now).toBe(2500 + 3609.375);
    expect(d.router.state).toBe("master");
  });

  it("vipd: tracker changes in Backup only move the priority (timers rebased)", () => {
    const d = new Driver();
    d.start();
    const step = d.feed(weight("chk", 50), 10);
    expect(d.rules()).toEqual(["backup-ignore"]);
    expect(step).toEqual({ actions: [], nextDeadline: 3000 + 1000 * (106 / 256) });
  });
});

describe("Fencing before takeover (issue 4)", () => {
  it("issue 4: Master_Down_Timer with a known master: fencing, requestFence with its MAC, fence_started", () => {
    const d = fencingDriver();
    const step = d.fire();
    expect(d.rules()).toEqual(["backup-down-fence"]);
    expect(step.actions).toEqual([
      { type: "stateChanged", from: "backup", to: "fencing", reason: "master 192.0.2.20 silent" },
      { type: "requestFence", peer: "192.0.2.20", peerMac: "02:00:00:00:00:20" },
      { type: "notify", event: "fence_started", detail: "fencing 192.0.2.20: master 192.0.2.20 silent" },
    ]);
    expect(step.nextDeadline).toBeNull();
    expect(d.router.holdsVips).toBe(false);
  });

  it("issue 4: fence succeeded: advert at once, Master a Master_Down_Interval later (VIPs claimed only now)", () => {
    const d = fencingDriver();
    d.fire();
    const step = d.feed({ type: "fenceResult", ok: true, detail: "fence_virsh off" }, d.now + 800);
    expect(d.rules()).toEqual(["fence-ok"]);
    expect(step.actions).toEqual([{ type: "sendAdvert", priority: 100 }]);
    expect(d.router.state).toBe("fencing");
    expect(d.router.holdsVips).toBe(false);
    // A repeated result while claiming changes nothing.
    expect(d.feed({ type: "fenceResult", ok: true, detail: "again" }, d.now + 1).actions).toEqual([]);
    expect(d.rules()).toEqual(["fence-claim-ignore"]);
    const done = claimDone(d);
    expect(types(done.actions)).toEqual(["stateChanged", "sendAdvert", "addVips", "announce", "notify"]);
    expect(only(done.actions, "stateChanged")[0]).toMatchObject({ from: "fencing", to: "master" });
    expect(d.router.state).toBe("master");
  });

  it("issue 4: two backups fenced the same master: the lower one hears the other's claim and withdraws", () => {
    const d = fencingDriver();
    d.fire();
    d.feed({ type: "fenceResult", ok: true, detail: "off" }, d.now + 800);
    const step = d.feed(advert({ priority: 150, src: "192.0.2.40" }), d.now + 100);
    expect(d.rules()).toEqual(["backup-claim-rx-better"]);
    expect(types(step.actions)).toEqual(["sendAdvert", "stateChanged", "notify"]);
    expect(only(step.actions, "sendAdvert")).toEqual([{ type: "sendAdvert", priority: 0 }]);
    expect(d.router.state).toBe("backup");
    expect(d.router.masterAddress).toBe("192.0.2.40");
  });

  it("issue 4: fence failed: Backup, fence_failed, retries doubling up to fenceRetryMaxMs", () => {
    const d = fencingDriver({ fenceRetryMs: 1000, fenceRetryMaxMs: 4000 });
    d.fire();
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      const step = d.feed({ type: "fenceResult", ok: false, detail: "timeout" }, d.now + 10);
      expect(d.rules()).toEqual(["fence-failed"]);
      expect(types(step.actions)).not.toContain("cancelFence");
      expect(notifies(step.actions)).toEqual(["backup", "fence_failed"]);
      expect(d.router.state).toBe("backup");
      waits.push((step.nextDeadline as number) - d.now);
      d.fire();
      expect(d.rules()).toEqual(["backup-fence-retry"]);
      expect(d.router.state).toBe("fencing");
    }
    expect(waits).toEqual([1000, 2000, 4000, 4000]);
  });

  it("issue 4: a live master heard during the retry wait resets the back-off", () => {
    const d = fencingDriver();
    d.fire();
    d.feed({ type: "fenceResult", ok: false, detail: "exit 1" }, d.now + 10);
    d.feed(advert({ priority: 200 }), d.now + 10);
    expect(d.rules()).toEqual(["backup-rx-follow"]);
    expect(d.last.nextDeadline).toBe(d.now + 3609.375);
    d.fire();
    d.feed({ type: "fenceResult", ok: false, detail: "exit 1" }, d.now + 10);
    expect(d.last.nextDeadline).toBe(d.now + 1000);
  });

  it("issue 4: an advert from a live master while fencing: cancelFence, Backup, follow it", () => {
    const d = fencingDriver();
    d.fire();
    const step = d.feed(advert({ priority: 200 }), d.now + 10);
    expect(d.rules()).toEqual(["fence-rx-live-master"]);
    expect(types(step.actions)).toEqual(["cancelFence", "stateChanged", "notify"]);
    expect(d.router.masterAddress).toBe("192.0.2.20");
    expect(step.nextDeadline).toBe(d.now + 3609.375);
    // A late result of the cancelled fence is stale.
    expect(d.feed({ type: "fenceResult", ok: true, detail: "late" }, d.now + 1).actions).toEqual([]);
    expect(d.rules()).toEqual(["backup-ignore"]);
  });

  it("§6.4.2 + issue 4: a priority-0 advert while fencing: cancel, Skew_Time, then a claim, Master unfenced", () => {
    const d = fencingDriver();
    d.fire();
    const step = d.feed(advert({ priority: 0 }), d.now + 10);
    expect(d.rules()).toEqual(["fence-rx-priority-0"]);
    expect(step.nextDeadline).toBe(d.now + 609.375);
    d.fire();
    expect(d.rules()).toEqual(["backup-down-claim"]);
    claimDone(d);
    expect(d.router.state).toBe("master");
  });

  it("§6.4.2 + issue 4: a live lower-priority master heard while fencing: cancel the fence, claim from it", () => {
    const d = fencingDriver();
    d.fire();
    const at = d.now + 10;
    const step = d.feed(advert({ priority: 50, src: "192.0.2.30", srcMac: "02:00:00:00:00:30" }), at);
    expect(d.rules()).toEqual(["fence-rx-lower"]);
    expect(types(step.actions)).toEqual(["cancelFence", "stateChanged", "notify", "sendAdvert"]);
    expect(only(step.actions, "sendAdvert")).toEqual([{ type: "sendAdvert", priority: 100 }]);
    expect(d.router.state).toBe("backup");
    // It goes quiet without releasing: after its Master_Down_Interval it is fenced, not the old master.
    d.fire(); // Adver_Timer: our next advert
    expect(d.rules()).toEqual(["backup-claim-adver-timer"]);
    d.fire();
    d.fire();
    d.fire();
    expect(d.now).toBe(at + 3609.375);
    expect(d.rules()).toEqual(["backup-claim-fence"]);
    expect(only(d.last.actions, "requestFence")).toEqual([
      { type: "requestFence", peer: "192.0.2.30", peerMac: "02:00:00:00:00:30" },
    ]);
    expect(d.feed(weight("chk", -5), d.now + 1).actions).toEqual([]);
    expect(d.rules()).toEqual(["fence-ignore"]);
  });

  it("issue 4: after a priority-0 resign of our master there is nothing to fence: a claim", () => {
    const d = fencingDriver();
    d.feed(advert({ priority: 0 }), 200);
    d.fire();
    expect(d.rules()).toEqual(["backup-down-claim"]);
    expect(types(d.last.actions)).not.toContain("requestFence");
    claimDone(d);
    expect(only(d.last.actions, "stateChanged")[0]?.reason).toBe(
      "master resigned (priority 0); claimed after announcing",
    );
  });

  it("issue 4 (decision): with no master ever heard, a claim: advert, Master_Down_Interval, Master without a fence", () => {
    const d = new Driver({ fencing: true });
    d.start();
    const step = d.fire();
    expect(d.rules()).toEqual(["backup-down-claim"]);
    expect(step.actions).toEqual([{ type: "sendAdvert", priority: 100 }]);
    expect(step.nextDeadline).toBe(3609.375 + 1000);
    expect(d.router.state).toBe("backup");
    expect(d.router.holdsVips).toBe(false);
    claimDone(d);
    expect(only(d.last.actions, "stateChanged")[0]?.reason).toBe("no master heard; claimed after announcing");
    expect(types(d.last.actions)).not.toContain("requestFence");
  });

  it("§6.4.2 + issue 4: preempting a live lower-priority master needs no fence: a claim it answers", () => {
    const d = new Driver({ fencing: true, preemptDelayMs: 2000 });
    d.start(0);
    d.feed(advert({ priority: 50 }), 500); // followed within preempt_delay: it is our known master
    d.feed(advert({ priority: 50 }), 2500); // now discarded: preempting it
    d.fire();
    expect(d.rules()).toEqual(["backup-down-preempt-claim"]);
    expect(d.router.state).toBe("backup");
    d.feed(advert({ priority: 0 }), d.now + 5); // it released
    expect(d.rules()).toEqual(["backup-claim-rx-release"]);
    expect(d.router.state).toBe("backup"); // a better router may still answer within the interval
    claimDone(d);
    expect(d.router.state).toBe("master");
  });

  it("vipd: a reload switching fencing off while fencing cancels it and takes over after Skew_Time", () => {
    const d = fencingDriver();
    d.fire();
    const step = d.feed({ type: "configChanged", options: { ...BASE, fencing: false } }, d.now + 10);
    expect(d.rules()).toEqual(["fence-switched-off"]);
    expect(types(step.actions)).toEqual(["cancelFence", "stateChanged", "notify"]);
    d.fire();
    expect(d.router.state).toBe("master");
  });

  it("vipd: a reload switching fencing off during the retry wait takes over after Skew_Time", () => {
    const d = fencingDriver();
    d.fire();
    d.feed({ type: "fenceResult", ok: false, detail: "exit 1" }, d.now + 10);
    const step = d.feed({ type: "configChanged", options: { ...BASE, fencing: false } }, d.now + 10);
    expect(d.rules()).toEqual(["backup-fencing-switched-off"]);
    expect(step.nextDeadline).toBe(d.now + 609.375);
    d.fire();
    expect(d.router.state).toBe("master");
  });
});

describe("Fencing: claims instead of unfenced takeovers (issue 4)", () => {
  /** Fencing on; follows a master at .30 (priority 50) within preempt_delay, then discards it. */
  function preemptingDriver(): Driver {
    const d = new Driver({ fencing: true, preemptDelayMs: 2000 });
    d.start(0);
    d.feed(advert({ priority: 50, src: "192.0.2.30" }), 500);
    d.feed(advert({ priority: 50, src: "192.0.2.30", srcMac: "02:00:00:00:00:30" }), 2500);
    return d;
  }

  it("issue 4: preempting with fencing: advert at our priority, VIPs only after the release and a Master_Down_Interval", () => {
    const d = preemptingDriver();
    const step = d.fire(); // Master_Down_Timer, 3609.375 ms after the last followed advert
    expect(d.now).toBe(4109.375);
    expect(d.rules()).toEqual(["backup-down-preempt-claim"]);
    expect(step.actions).toEqual([{ type: "sendAdvert", priority: 100 }]);
    expect(d.router.holdsVips).toBe(false);
    expect(d.router.masterAddress).toBeNull();
    // It has not heard us yet: its advert keeps the claim waiting (already waited for: no answer).
    const again = d.feed(advert({ priority: 50, src: "192.0.2.30" }), d.now + 300);
    expect(d.rules()).toEqual(["backup-claim-rx-lower"]);
    expect(again.actions).toEqual([]);
    expect(again.nextDeadline).toBe(d.now + 700); // our Adver_Timer; the claim waits for its silence
    // Another lower router is answered at once, the first time only.
    expect(d.feed(advert({ priority: 60, src: "192.0.2.31" }), d.now + 10).actions).toEqual([
      { type: "sendAdvert", priority: 100 },
    ]);
    expect(d.feed(advert({ priority: 60, src: "192.0.2.31" }), d.now + 10).actions).toEqual([]);
    d.feed(advert({ priority: 0, src: "192.0.2.31" }), d.now + 10);
    expect(d.rules()).toEqual(["backup-claim-rx-release"]);
    // Its release arrives before the claim's wait ran out: Master when the claim timer fires.
    d.feed(advert({ priority: 0, src: "192.0.2.30" }), d.now + 100);
    expect(d.rules()).toEqual(["backup-claim-rx-release"]);
    expect(d.router.state).toBe("backup");
    const done = claimDone(d);
    expect(d.now).toBe(4109.375 + 3609.375); // a Master_Down_Interval after the claim began
    expect(types(done.actions)).toEqual(["stateChanged", "sendAdvert", "addVips", "announce", "notify"]);
    expect(only(done.actions, "stateChanged")[0]?.reason).toBe(
      "preempting lower-priority master 192.0.2.30; claimed after announcing",
    );
  });

  it("issue 4: a lower master silent for a Master_Down_Interval without releasing is fenced (it may have stalled)", () => {
    const d = preemptingDriver();
    d.fire();
    const started = d.now;
    d.fire();
    expect(d.rules()).toEqual(["backup-claim-adver-timer"]);
    while (d.router.state === "backup") d.fire();
    expect(d.rules()).toEqual(["backup-claim-fence"]);
    expect(d.now).toBe(started + 3609.375);
    expect(d.router.state).toBe("fencing");
    expect(only(d.last.actions, "requestFence")).toEqual([
      { type: "requestFence", peer: "192.0.2.30", peerMac: "02:00:00:00:00:30" },
    ]);
    d.feed({ type: "fenceResult", ok: true, detail: "off" }, d.now + 50);
    claimDone(d);
    expect(d.router.state).toBe("master");
  });

  it("issue 4: the address owner with fencing claims at startup instead of taking Master at once", () => {
    const d = new Driver({ fencing: true, priority: 255 });
    const step = d.start(0);
    expect(d.rules()).toEqual(["init-startup-owner-fencing"]);
    expect(types(step.actions)).toEqual(["stateChanged", "notify", "sendAdvert"]);
    expect(only(step.actions, "sendAdvert")).toEqual([{ type: "sendAdvert", priority: 255 }]);
    d.feed(advert({ priority: 200 }), 10); // a master that has not heard us yet
    d.feed(advert({ priority: 0 }), 20); // it released
    claimDone(d);
    expect(d.router.state).toBe("master");
    expect(d.now).toBe(3003.90625); // Master_Down_Interval at priority 255
  });

  it("issue 4: claiming, a better router answers: withdraw with a priority-0 advert and follow it", () => {
    const d = preemptingDriver();
    d.fire();
    const step = d.feed(advert({ priority: 150, src: "192.0.2.40" }), d.now + 20);
    expect(d.rules()).toEqual(["backup-claim-rx-better"]);
    expect(step.actions).toEqual([{ type: "sendAdvert", priority: 0 }]);
    expect(d.router.masterAddress).toBe("192.0.2.40");
    expect(step.nextDeadline).toBe(d.now + 3609.375);
  });

  it("RFC 9568 §6.4.3 tie-break: claiming, an equal priority wins only from a greater address", () => {
    const d = preemptingDriver();
    d.fire();
    d.feed(advert({ priority: 100, src: "192.0.2.5" }), d.now + 20);
    expect(d.rules()).toEqual(["backup-claim-rx-lower"]); // smaller address: it yields to us
    d.feed(advert({ priority: 100, src: "192.0.2.50" }), d.now + 20);
    expect(d.rules()).toEqual(["backup-claim-rx-better"]);
  });

  it("issue 4: with fencing a lower master heard, then silent, is fenced even if we never followed it", () => {
    const d = new Driver({ fencing: true });
    d.start(0);
    d.feed(advert({ priority: 50, src: "192.0.2.30", srcMac: "02:00:00:00:00:30" }), 100); // discarded
    d.feed({ type: "linkChanged", up: false }, 200);
    d.feed({ type: "linkChanged", up: true }, 300); // back to Backup: the lower master is remembered
    d.fire();
    expect(d.rules()).toEqual(["backup-down-fence-lower"]);
    expect(only(d.last.actions, "requestFence")).toEqual([
      { type: "requestFence", peer: "192.0.2.30", peerMac: "02:00:00:00:00:30" },
    ]);
  });

  it("issue 4: claiming, a priority-0 advert from a router we do not wait for changes nothing", () => {
    const d = preemptingDriver();
    d.fire();
    const deadline = d.last.nextDeadline;
    const step = d.feed(advert({ priority: 0, src: "192.0.2.40" }), d.now + 20);
    expect(d.rules()).toEqual(["backup-claim-rx-priority-0-other"]);
    expect(step).toEqual({ actions: [], nextDeadline: deadline });
  });

  it("issue 4: maintenance on while claiming withdraws (priority 0) and waits", () => {
    const d = preemptingDriver();
    d.fire();
    const step = d.feed({ type: "maintenance", on: true }, d.now + 20);
    expect(d.rules()).toEqual(["maintenance-claim-withdraws"]);
    expect(step.actions).toEqual([{ type: "sendAdvert", priority: 0 }]);
    expect(step.nextDeadline).toBe(d.now + 3000 + 1000); // Master_Down_Interval at priority 0
  });

  it("issue 4: a claimant shutting down or going Fault withdraws with a priority-0 advert", () => {
    const a = preemptingDriver();
    a.fire();
    expect(only(a.feed({ type: "shutdown" }, a.now + 20).actions, "sendAdvert")).toEqual([
      { type: "sendAdvert", priority: 0 },
    ]);
    const b = preemptingDriver();
    b.fire();
    expect(only(b.feed({ type: "linkChanged", up: false }, b.now + 20).actions, "sendAdvert")).toEqual([
      { type: "sendAdvert", priority: 0 },
    ]);
    expect(b.router.state).toBe("fault");
  });

  it("vipd: a reload switching fencing off while claiming takes over at once, as plain VRRP would", () => {
    const d = preemptingDriver();
    d.fire();
    d.feed({ type: "configChanged", options: { ...BASE, preemptDelayMs: 2000 } }, d.now + 20);
    expect(d.rules()).toEqual(["backup-claim-fencing-switched-off"]);
    expect(d.router.state).toBe("master");
  });

  it("issue 4: a master with fencing that hears a higher priority removes its VIPs, then releases with priority 0", () => {
    const d = new Driver({ fencing: true });
    d.start();
    d.fire(); // claim (no master heard)
    claimDone(d);
    expect(d.router.state).toBe("master");
    const step = d.feed(advert({ priority: 150 }), d.now + 100);
    expect(d.rules()).toEqual(["master-rx-higher-fencing"]);
    expect(types(step.actions)).toEqual(["removeVips", "stateChanged", "notify", "sendAdvert"]);
    expect(only(step.actions, "sendAdvert")).toEqual([{ type: "sendAdvert", priority: 0 }]);
    expect(d.router.masterAddress).toBe("192.0.2.20");
  });

  it("issue 4: a priority-0 advert from another router than our master does not shorten the timer", () => {
    const d = fencingDriver();
    const step = d.feed(advert({ priority: 0, src: "192.0.2.30" }), 300);
    expect(d.rules()).toEqual(["backup-rx-priority-0-other-fencing"]);
    expect(step.nextDeadline).toBe(100 + 3609.375);
    d.fire();
    expect(d.rules()).toEqual(["backup-down-fence"]); // our master is still the one to fence
  });

  it("issue 4: waiting to retry a fence, a live lower master heard: claim from it; the unfenced master still must be fenced", () => {
    const d = fencingDriver();
    d.fire();
    d.feed({ type: "fenceResult", ok: false, detail: "exit 1" }, d.now + 10);
    const step = d.feed(advert({ priority: 50, src: "192.0.2.30" }), d.now + 10);
    expect(d.rules()).toEqual(["backup-rx-lower-claim"]);
    expect(step.actions).toEqual([{ type: "sendAdvert", priority: 100 }]);
    d.feed(advert({ priority: 0, src: "192.0.2.30" }), d.now + 100);
    expect(d.rules()).toEqual(["backup-claim-rx-release"]);
    expect(d.router.state).toBe("backup"); // not before a Master_Down_Interval of claim
    // The master at .20 never released and was never fenced: it may still hold the VIPs.
    d.fire();
    while (d.rules().includes("backup-claim-adver-timer")) d.fire();
    expect(d.rules()).toEqual(["backup-claim-fence"]);
    expect(only(d.last.actions, "requestFence")).toEqual([
      { type: "requestFence", peer: "192.0.2.20", peerMac: "02:00:00:00:00:20" },
    ]);
    d.feed({ type: "fenceResult", ok: true, detail: "off" }, d.now + 10);
    claimDone(d);
    expect(d.router.state).toBe("master");
  });

  it("issue 4: the fence retry of a silent master waits no longer once a live lower master was heard (liveness)", () => {
    // Before the fix the retry timer kept fencing the old master while a lower one was live.
    const d = fencingDriver();
    d.fire();
    d.feed({ type: "fenceResult", ok: false, detail: "exit 1" }, d.now + 10);
    d.feed(advert({ priority: 50, src: "192.0.2.30" }), d.now + 10);
    expect(d.router.nextDeadline).not.toBeNull();
    d.fire();
    expect(d.rules()).not.toContain("backup-fence-retry");
  });
});

describe("Fencing: every possible holder releases or is fenced before a claim completes (issue 4)", () => {
  /** Fires timers through the claim's adverts; returns the rows of the first other timer step. */
  function fireThroughAdverts(d: Driver): readonly string[] {
    for (let k = 0; k < 20; k++) {
      d.fire();
      if (!d.rules().includes("backup-claim-adver-timer")) return d.rules();
    }
    throw new Error("only claim adverts within 20 timer firings");
  }

  it("issue 4 (sim seed 3837): after fencing a newer master, a claim still fences the older one that never released", () => {
    // We follow .20 (it holds the VIPs), then a better router .40 announces itself and goes
    // silent; we fence .40. Before the fix the claim forgot .20, which had stalled with the VIPs.
    const d = fencingDriver({ priority: 64 });
    d.feed(advert({ priority: 149, src: "192.0.2.40" }), 200);
    expect(d.rules()).toEqual(["backup-rx-follow"]);
    d.fire();
    expect(d.rules()).toEqual(["backup-down-fence"]);
    expect(only(d.last.actions, "requestFence")).toEqual([{ type: "requestFence", peer: "192.0.2.40" }]);
    d.feed({ type: "fenceResult", ok: true, detail: "off" }, d.now + 10);
    expect(d.rules()).toEqual(["fence-ok"]);
    expect(fireThroughAdverts(d)).toEqual(["backup-claim-fence"]);
    expect(only(d.last.actions, "requestFence")).toEqual([
      { type: "requestFence", peer: "192.0.2.20", peerMac: "02:00:00:00:00:20" },
    ]);
    expect(d.router.holdsVips).toBe(false);
    // Both fenced: neither is waited for again, nor is the claim's wait for a better rival (it ran
    // before this fence): Master at once.
    const fencedAt = d.now + 10;
    d.feed({ type: "fenceResult", ok: true, detail: "off" }, fencedAt);
    expect(d.rules()).toEqual(["fence-ok"]);
    expect(d.last.nextDeadline).toBe(fencedAt);
    claimDone(d);
    expect(d.router.state).toBe("master");
    expect(d.now).toBe(fencedAt);
  });

  it("issue 4 (sim seed 4853): preempting a live lower claimant, the silent master we followed must release or be fenced", () => {
    // In maintenance we follow .20 (priority 50); maintenance ends and .20 falls silent behind a
    // partition. A lower router .30 claims; we preempt it. Before the fix its release completed
    // our claim while .20 still held the VIPs.
    const d = new Driver({ fencing: true });
    d.feed({ type: "maintenance", on: true }, 0);
    d.start(0);
    d.feed(advert({ priority: 50 }), 100);
    expect(d.router.masterAddress).toBe("192.0.2.20");
    d.feed({ type: "maintenance", on: false }, 200);
    d.feed(advert({ priority: 60, src: "192.0.2.30" }), 300);
    expect(d.rules()).toEqual(["backup-rx-lower-discard"]);
    d.fire();
    expect(d.rules()).toEqual(["backup-down-preempt-claim"]);
    d.feed(advert({ priority: 0, src: "192.0.2.30" }), d.now + 10);
    expect(d.rules()).toEqual(["backup-claim-rx-release"]);
    expect(fireThroughAdverts(d)).toEqual(["backup-claim-fence"]);
    expect(only(d.last.actions, "requestFence")).toEqual([{ type: "requestFence", peer: "192.0.2.20" }]);
    expect(d.router.state).toBe("fencing");
  });

  it("issue 4 (sim seed 1514274632): a claimant we yielded to and then left for another master must release or be fenced", () => {
    // We yield to .40 (150), then follow .30 (120), which resigns. Before the fix the claim
    // that followed waited for nobody; .40 had gone silent behind a partition and claimed there.
    const d = new Driver({ fencing: true });
    d.start(0);
    d.feed(advert({ priority: 150, src: "192.0.2.40" }), 100);
    d.feed(advert({ priority: 120, src: "192.0.2.30" }), 150);
    expect(d.router.masterAddress).toBe("192.0.2.30");
    d.feed(advert({ priority: 0, src: "192.0.2.30" }), 200);
    expect(d.rules()).toEqual(["backup-rx-priority-0"]);
    d.fire();
    expect(d.rules()).toEqual(["backup-down-claim"]);
    expect(fireThroughAdverts(d)).toEqual(["backup-claim-fence"]);
    expect(only(d.last.actions, "requestFence")).toEqual([{ type: "requestFence", peer: "192.0.2.40" }]);
  });

  it("issue 4: a possible holder that released (priority 0, even from a router we do not follow) is not waited for", () => {
    const d = new Driver({ fencing: true });
    d.start(0);
    d.feed(advert({ priority: 150, src: "192.0.2.40" }), 100);
    d.feed(advert({ priority: 120, src: "192.0.2.30" }), 150);
    d.feed(advert({ priority: 0, src: "192.0.2.40" }), 160);
    expect(d.rules()).toEqual(["backup-rx-priority-0-other-fencing"]);
    d.feed(advert({ priority: 0, src: "192.0.2.30" }), 200);
    d.fire();
    expect(d.rules()).toEqual(["backup-down-claim"]);
    claimDone(d);
    expect(d.router.state).toBe("master");
    expect(only(d.last.actions, "requestFence")).toEqual([]);
  });

  it("issue 4: possible holders are forgotten when a reload switches fencing off (and stay forgotten if it comes back)", () => {
    const d = new Driver({ fencing: true });
    d.start(0);
    d.feed(advert({ priority: 150, src: "192.0.2.40" }), 100);
    d.feed(advert({ priority: 120, src: "192.0.2.30" }), 150);
    d.feed({ type: "configChanged", options: { ...BASE, fencing: false } }, 160);
    d.feed({ type: "configChanged", options: { ...BASE, fencing: true } }, 170);
    d.feed(advert({ priority: 0, src: "192.0.2.30" }), 200);
    d.fire();
    expect(d.rules()).toEqual(["backup-down-claim"]);
    claimDone(d);
    expect(d.router.state).toBe("master");
  });

  it("RFC 9568 §6.4.2: without fencing nothing is waited for: the same resign is a Skew_Time takeover", () => {
    const d = new Driver();
    d.start(0);
    d.feed(advert({ priority: 150, src: "192.0.2.40" }), 100);
    d.feed(advert({ priority: 120, src: "192.0.2.30" }), 150);
    d.feed(advert({ priority: 0, src: "192.0.2.30" }), 200);
    d.fire();
    expect(d.rules()).toEqual(["backup-down-takeover"]);
    expect(d.router.state).toBe("master");
  });
});

describe("effective priority (issue 4)", () => {
  it.each([
    [100, [-20], 80],
    [100, [-20, 30], 110],
    [100, [-200], 1],
    [100, [200], 254],
    [255, [10], 255],
    [255, [-5], 250],
    [255, [-5, 5], 255],
    [1, [-1], 1],
  ])("base %i with weights %j → %i", (base, weights, expected) => {
    const d = new Driver({ priority: base });
    weights.forEach((w, i) => {
      d.feed(weight(`t${i}`, w), 0);
    });
    expect(d.router.effectivePriority).toBe(expected);
  });

  it("a tracker's new result replaces its old one (keyed by name)", () => {
    const d = new Driver();
    d.feed(weight("a", -30), 0);
    d.feed(weight("a", -10), 0);
    expect(d.router.effectivePriority).toBe(90);
  });
});

afterAll(() => {
  // The ledger covers the table: every row fired in at least one test above.
  const missing = RULES.map((r) => r.id).filter((id) => !firedRules.has(id));
  expect(missing).toEqual([]);
});
