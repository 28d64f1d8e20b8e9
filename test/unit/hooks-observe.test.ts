// What the hooks show in `vipd status` and in the metrics: each tracker's state, the fence history,
// notify delivery counts; and the peer's MAC that fence agents get from the neighbour table. Real
// trackers, fencers and notify queues run real scripts; the engine is the runtime's, on fake ports.
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { formatStatus } from "../../src/cli/status.js";
import { loadConfigText } from "../../src/config/index.js";
import type { Input } from "../../src/core/types.js";
import { FENCE_HISTORY_LIMIT, Hooks, type HooksOptions } from "../../src/hooks/index.js";
import type { DaemonEvents } from "../../src/runtime/engine.js";
import { type HooksSource, VipdMetrics } from "../../src/runtime/metrics.js";
import { Operations } from "../../src/runtime/operations.js";
import type { FenceAttempt, TrackerState } from "../../src/runtime/status.js";
import { silent, type TempDir, tempDir, waitFor } from "./hooks-helpers.js";
import { startEngine } from "./runtime-fakes.js";

let t: TempDir;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
beforeEach(() => {
  t = tempDir();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  t.remove();
});

/** One sample of a metric in exposition text, or null. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-z_:]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[3] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return null;
}

/** A stand-in for the engine's side of the hooks seam: its events, and the inputs it was given. */
function fakeEngine() {
  const events = new EventEmitter<DaemonEvents>();
  const inputs: [string, Input][] = [];
  return {
    events,
    inputs,
    input(instance: string, input: Input) {
      inputs.push([instance, input]);
      return true;
    },
    status: () => ({ instances: [{ name: "web", master: null, priority: 100 }] }),
  };
}

const links: HooksOptions["links"] = {
  getLink: async () => ({ up: true }),
  onLinkChange: () => {},
};

function hooksOn(engine: HooksOptions["engine"], extra: Partial<HooksOptions> = {}): Hooks {
  const h = new Hooks({ engine, logger: silent, links, filePollMs: 20, notifyRetryDelayMs: 10, ...extra });
  cleanups.push(() => h.stop());
  return h;
}

const tracker = (list: TrackerState[], id: string): TrackerState => {
  const found = list.find((x) => x.id === id);
  if (!found) throw new Error(`no tracker ${id} in ${list.map((x) => x.id).join(", ")}`);
  return found;
};

describe("trackers in status and metrics", () => {
  it("script, file and interface trackers with weights, effects, checks and rise/fall counts", async () => {
    const flag = join(t.dir, "ok");
    const maint = t.file("maint", "3");
    const yaml = `
global: { router_id: lb1, metrics_listen: false }
track_scripts:
  chk: { script: [/usr/bin/test, -e, ${flag}], interval: 30ms, timeout: 1s, rise: 2, fall: 2, weight: -30 }
track_files:
  maint: { file: ${maint}, weight: -10 }
instances:
  web:
    interface: eth0
    vrid: 51
    priority: 100
    advert_interval: 1s
    virtual_ips: [192.0.2.100/24]
    track_scripts: [chk]
    track_files: [maint]
    track_interfaces: [eth0]
`;
    const { engine } = await startEngine(yaml);
    cleanups.push(() => engine.stop());
    const config = loadConfigText(yaml, "vipd.yaml");
    const hooks = hooksOn(engine);
    const metrics = new VipdMetrics(engine, { version: "t", hooks });
    cleanups.push(() => metrics.close());
    await hooks.apply(config);

    // The flag file is missing: two failures in a row take the script down.
    await waitFor(
      () =>
        hooks.status().instances.web?.trackers.some((x) => x.id === "script:chk" && x.status === "down") ??
        false,
      3000,
      "script down",
    );
    await waitFor(
      () => tracker(hooks.status().instances.web?.trackers ?? [], "file:maint").value === 3,
      3000,
      "file read",
    );
    let list = hooks.status().instances.web?.trackers ?? [];
    expect(list.map((x) => x.id)).toEqual(["file:maint", "interface:eth0", "script:chk"]);
    const chk = tracker(list, "script:chk");
    expect(chk).toMatchObject({
      kind: "script",
      name: "chk",
      status: "down",
      weight: -30,
      effect: { type: "weight", weight: -30 },
      rise: 2,
      fall: 2,
      successesInRow: 0,
    });
    expect(chk.failuresInRow).toBeGreaterThanOrEqual(2);
    expect(chk.checks).toBeGreaterThanOrEqual(2);
    expect(chk.lastCheck?.ok).toBe(false);
    expect(chk.reason).toMatch(/exit 1/);
    expect(Date.parse(chk.lastChangeAt ?? "")).toBeGreaterThan(Date.now() - 10_000);
    expect(tracker(list, "file:maint")).toMatchObject({
      kind: "file",
      status: "value",
      value: 3,
      weight: -10,
      effect: { type: "weight", weight: -30 },
      lastCheck: { ok: true, detail: "read 3" },
      rise: null,
      fall: null,
      successesInRow: null,
    });
    expect(tracker(list, "interface:eth0")).toMatchObject({
      kind: "interface",
      status: "up",
      weight: null,
      effect: { type: "weight", weight: 0 },
      lastCheck: null,
      checks: 0,
    });

    let text = await metrics.text();
    const labels = { instance: "web", tracker: "script:chk" };
    expect(metric(text, "vipd_tracker_up", labels)).toBe(0);
    expect(metric(text, "vipd_tracker_priority_delta", labels)).toBe(-30);
    expect(metric(text, "vipd_tracker_fault", labels)).toBe(0);
    expect(metric(text, "vipd_tracker_failures_in_row", labels)).toBeGreaterThanOrEqual(2);
    expect(metric(text, "vipd_tracker_successes_in_row", labels)).toBe(0);
    expect(metric(text, "vipd_tracker_checks_total", labels)).toBeGreaterThanOrEqual(2);
    expect(metric(text, "vipd_tracker_last_check_timestamp_seconds", labels)).toBeGreaterThan(
      Date.now() / 1000 - 10,
    );
    expect(metric(text, "vipd_tracker_value", { instance: "web", tracker: "file:maint" })).toBe(3);
    expect(metric(text, "vipd_tracker_priority_delta", { instance: "web", tracker: "file:maint" })).toBe(-30);
    // Only track_files have a value; interfaces have no check counter.
    expect(metric(text, "vipd_tracker_value", labels)).toBeNull();
    expect(
      metric(text, "vipd_tracker_checks_total", { instance: "web", tracker: "interface:eth0" }),
    ).toBeNull();

    // The check passes again: `rise` successes bring it up, the counters follow.
    t.file("ok", "");
    await waitFor(
      () => tracker(hooks.status().instances.web?.trackers ?? [], "script:chk").status === "up",
      3000,
      "script up",
    );
    list = hooks.status().instances.web?.trackers ?? [];
    expect(tracker(list, "script:chk")).toMatchObject({
      status: "up",
      reason: null,
      failuresInRow: 0,
      effect: { type: "weight", weight: 0 },
      lastCheck: { ok: true },
    });
    expect(tracker(list, "script:chk").successesInRow).toBeGreaterThanOrEqual(2);
    text = await metrics.text();
    expect(metric(text, "vipd_tracker_up", labels)).toBe(1);
    expect(metric(text, "vipd_tracker_failures_in_row", labels)).toBe(0);

    // The same through the control socket's status (Operations.decorate) and its text form.
    const ops = new Operations({
      engine,
      logger: silent,
      now: () => 0,
      config: () => config,
      loadConfig: async () => config,
    });
    const decorated = ops.decorate(engine.status(), hooks.status());
    expect(decorated.instances[0]?.trackers.map((x) => x.id)).toEqual([
      "file:maint",
      "interface:eth0",
      "script:chk",
    ]);
    expect(decorated.instances[0]?.notify.lastEventSeq).toBeGreaterThanOrEqual(0);
    const human = formatStatus(decorated);
    expect(human).toMatch(/script:chk\s+up\s+-30\s+\+0\s+ok .* s ago\s+\d+ ok \(rise 2\)/);
    expect(human).toMatch(/file:maint\s+value 3\s+-10\s+-30/);
    expect(human).toMatch(/interface:eth0\s+up\s+-\s+\+0\s+-/);
  });

  it("a weightless interface tracker that goes down shows as a fault; sync groups appear with their state", async () => {
    let linkCb: ((e: { ifname: string; up: boolean }) => void) | null = null;
    const yaml = `
global: { router_id: lb1, metrics_listen: false }
sync_groups:
  pair: { instances: [web, db] }
instances:
  web: { interface: eth0, vrid: 51, virtual_ips: [192.0.2.100/24], track_interfaces: [eth1] }
  db: { interface: eth0, vrid: 52, virtual_ips: [192.0.2.101/24] }
`;
    const engine = fakeEngine();
    const hooks = hooksOn(engine, {
      links: {
        getLink: async () => ({ up: true }),
        onLinkChange: (cb) => {
          linkCb = cb;
        },
      },
    });
    await hooks.apply(loadConfigText(yaml, "vipd.yaml"));
    linkCb!({ ifname: "eth1", up: false });
    // web faults: the group imposes Fault on db.
    engine.events.emit("stateChanged", { instance: "web", from: "initialize", to: "fault", reason: "eth1" });
    const s = hooks.status();
    expect(tracker(s.instances.web?.trackers ?? [], "interface:eth1")).toMatchObject({
      status: "down",
      reason: "eth1 is down",
      weight: null,
      effect: { type: "fault", reason: "eth1 is down" },
    });
    expect(tracker(s.instances.db?.trackers ?? [], "sync_group:pair")).toMatchObject({
      kind: "sync_group",
      name: "pair",
      status: "down",
      weight: null,
      effect: { type: "fault" },
    });
    expect(s.syncGroups.pair?.state).toBe("fault");

    const metrics = await hooksMetrics(hooks);
    const text = await metrics.text();
    expect(metric(text, "vipd_tracker_fault", { instance: "web", tracker: "interface:eth1" })).toBe(1);
    expect(metric(text, "vipd_tracker_up", { instance: "web", tracker: "interface:eth1" })).toBe(0);
    expect(metric(text, "vipd_tracker_fault", { instance: "db", tracker: "sync_group:pair" })).toBe(1);
  });
});

/** Prometheus metrics over an engine with one instance "web", reading `hooks` (closed after the test). */
async function hooksMetrics(hooks: HooksSource): Promise<VipdMetrics> {
  const { engine } = await startEngine(`
instances:
  web: { interface: eth0, vrid: 51, virtual_ips: [192.0.2.100/24] }
`);
  cleanups.push(() => engine.stop());
  const metrics = new VipdMetrics(engine, { version: "t", hooks });
  cleanups.push(() => metrics.close());
  return metrics;
}

const fenceYaml = (agents: string[][], extra = "") => `
global: { router_id: lb2, metrics_listen: false, notify_timeout: 300ms, notify_retries: 1 }
instances:
  web:
    interface: eth0
    vrid: 51
    virtual_ips: [192.0.2.100/24]
    fence:
      levels:
${agents.map((level) => `        - [${level.map((a) => `{ agent: ${a}, timeout: 300ms }`).join(", ")}]`).join("\n")}
      nodes: { 192.0.2.12: lb1 }
${extra}`;

async function fenceOnce(
  engine: ReturnType<typeof fakeEngine>,
  hooks: Hooks,
  peer: string,
  peerMac?: string,
) {
  const last = () => hooks.status().instances.web?.fenceHistory.at(-1);
  const before = last();
  engine.events.emit(
    "requestFence",
    peerMac === undefined ? { instance: "web", peer } : { instance: "web", peer, peerMac },
  );
  await waitFor(() => last() !== before, 5000, "fence attempt");
  return last() as FenceAttempt;
}

describe("fence history", () => {
  it("records target, MAC, node, level, each agent's outcome and duration; counts them in metrics", async () => {
    const fail = t.script("fail", "cat >/dev/null; exit 3");
    const slow = t.script("slow", "cat >/dev/null; sleep 5");
    const ok = t.script("ok", "cat >/dev/null; exit 0");
    const engine = fakeEngine();
    const hooks = hooksOn(engine);
    const metrics = await hooksMetrics(hooks);

    // Level 1 fails (exit 3), level 2 succeeds.
    hooks.configure(loadConfigText(fenceYaml([[fail], [ok]]), "vipd.yaml"));
    const first = await fenceOnce(engine, hooks, "192.0.2.12", "02:00:00:00:00:12");
    expect(first).toMatchObject({
      peer: "192.0.2.12",
      peerMac: "02:00:00:00:00:12",
      node: "lb1",
      outcome: "ok",
      level: 2,
      detail: "level 2 (lb1)",
    });
    expect(first.agents.map((a) => [a.level, a.agent, a.outcome])).toEqual([
      [1, fail, "failed"],
      [2, ok, "ok"],
    ]);
    expect(first.agents[0]?.detail).toMatch(/^exit 3 after/);
    expect(first.durationMs).toBeGreaterThanOrEqual(first.agents[0]?.durationMs ?? 0);
    expect(Date.parse(first.startedAt)).toBeGreaterThan(Date.now() - 10_000);
    expect(engine.inputs.at(-1)).toEqual(["web", { type: "fenceResult", ok: true, detail: "level 2 (lb1)" }]);

    // Only a timing-out agent: the attempt's outcome is timeout.
    hooks.configure(loadConfigText(fenceYaml([[slow]]), "vipd.yaml"));
    const second = await fenceOnce(engine, hooks, "192.0.2.13");
    expect(second).toMatchObject({
      peer: "192.0.2.13",
      peerMac: null,
      node: "192.0.2.13",
      outcome: "timeout",
      level: 1,
    });
    expect(second.agents.map((a) => a.outcome)).toEqual(["timeout"]);

    // A failure next to a timeout is "failed".
    hooks.configure(loadConfigText(fenceYaml([[slow], [fail]]), "vipd.yaml"));
    expect((await fenceOnce(engine, hooks, "192.0.2.12")).outcome).toBe("failed");

    // cancelFence while the agent runs: recorded as cancelled, no result reaches the engine.
    const inputsBefore = engine.inputs.length;
    engine.events.emit("requestFence", { instance: "web", peer: "192.0.2.12" });
    await new Promise((r) => setTimeout(r, 50));
    engine.events.emit("cancelFence", { instance: "web" });
    await waitFor(
      () => hooks.status().instances.web?.fenceHistory.at(-1)?.outcome === "cancelled",
      3000,
      "cancelled",
    );
    expect(engine.inputs.length).toBe(inputsBefore);

    const text = await metrics.text();
    for (const [outcome, n] of [
      ["ok", 1],
      ["timeout", 1],
      ["failed", 1],
      ["cancelled", 1],
    ] as const)
      expect(metric(text, "vipd_fence_attempts_total", { instance: "web", outcome })).toBe(n);
    expect(metric(text, "vipd_fence_attempt_seconds_count", { instance: "web", outcome: "timeout" })).toBe(1);
    expect(
      metric(text, "vipd_fence_attempt_seconds_sum", { instance: "web", outcome: "timeout" }),
    ).toBeGreaterThanOrEqual(0.3);
    expect(
      metric(text, "vipd_fence_agent_runs_total", { instance: "web", level: "1", outcome: "failed" }),
    ).toBe(1);
    expect(metric(text, "vipd_fence_agent_runs_total", { instance: "web", level: "2", outcome: "ok" })).toBe(
      1,
    );
    expect(
      metric(text, "vipd_fence_agent_runs_total", { instance: "web", level: "1", outcome: "timeout" }),
    ).toBe(2);

    // Human form: newest first, with the MAC and the failure's detail.
    const human = formatStatus({
      pid: 1,
      startedAt: "x",
      configPath: "c",
      unattributed: {},
      timer: { kind: "t", fires: 0, worstLatenessMs: 0 },
      instances: [{ name: "web", ...hooks.status().instances.web } as never],
    });
    const lines = human.split("\n").filter((l) => l.startsWith("  fence "));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/192\.0\.2\.12 node lb1: cancelled (level 1 )?in \d+ ms$/);
    expect(lines[1]).toMatch(
      /192\.0\.2\.12 node lb1: failed level 2 in \d+ ms \(level 1 .*timed out.*level 2 .*exit 3/,
    );
    expect(lines[2]).toMatch(/192\.0\.2\.13: timeout level 1 in \d+ ms/);
  });

  it(`keeps the last ${FENCE_HISTORY_LIMIT} attempts, across a reload`, async () => {
    const ok = t.script("ok", "cat >/dev/null; exit 0");
    const engine = fakeEngine();
    const hooks = hooksOn(engine);
    const config = loadConfigText(fenceYaml([[ok]]), "vipd.yaml");
    hooks.configure(config);
    for (let i = 0; i < FENCE_HISTORY_LIMIT + 2; i++) {
      if (i === 3) hooks.configure(config);
      await fenceOnce(engine, hooks, `192.0.2.${20 + i}`);
    }
    const history = hooks.status().instances.web?.fenceHistory ?? [];
    expect(history).toHaveLength(FENCE_HISTORY_LIMIT);
    expect(history[0]?.peer).toBe("192.0.2.22");
    expect(history.at(-1)?.peer).toBe(`192.0.2.${20 + FENCE_HISTORY_LIMIT + 1}`);
  });
});

describe("notify delivery counts", () => {
  it("delivered, failed, timed out, retried, last event number; in status and metrics", async () => {
    const log = join(t.dir, "log");
    const good = t.script("good", `echo "$VIPD_EVENT_SEQ $VIPD_EVENT" >> ${log}`);
    const bad = t.script("bad", "exit 2");
    const slow = t.script("slow", "sleep 5");
    const engine = fakeEngine();
    const hooks = hooksOn(engine);
    const yaml = `
global: { router_id: lb1, metrics_listen: false, notify_timeout: 200ms, notify_retries: 1 }
sync_groups:
  pair: { instances: [web], notify: ${good} }
instances:
  web:
    interface: eth0
    vrid: 51
    virtual_ips: [192.0.2.100/24]
    notify_master: ${good}
    notify_backup: ${bad}
    notify_fault: ${slow}
`;
    hooks.configure(loadConfigText(yaml, "vipd.yaml"));
    const notify = (event: "master" | "backup" | "fault") =>
      engine.events.emit("notify", { instance: "web", event, detail: "t", state: event, priority: 100 });
    const state = (from: "initialize" | "backup" | "master", to: "backup" | "master" | "fault") =>
      engine.events.emit("stateChanged", { instance: "web", from, to, reason: "t" });
    state("initialize", "backup");
    notify("backup"); // #1: fails twice (one retry)
    state("backup", "master");
    notify("master"); // #2: delivered
    state("master", "fault");
    notify("fault"); // #3: times out twice
    const hs = () => hooks.status().instances.web?.notify;
    await waitFor(() => hs()?.lastDoneSeq === 3, 5000, "three events done");
    expect(hs()).toEqual({
      delivered: 1,
      failed: 2,
      timedOut: 2,
      retried: 2,
      dropped: 0,
      pending: 0,
      lastEventSeq: 3,
      lastDoneSeq: 3,
    });
    expect(readFileSync(log, "utf8")).toContain("2 master");
    expect(hooks.status().syncGroups.pair?.notify.lastEventSeq).toBeGreaterThanOrEqual(1);

    const metrics = await hooksMetrics(hooks);
    const text = await metrics.text();
    const n = (outcome: string) => metric(text, "vipd_notify_total", { instance: "web", outcome });
    expect([n("delivered"), n("failed"), n("timeout"), n("retried"), n("dropped")]).toEqual([1, 2, 2, 2, 0]);
    expect(metric(text, "vipd_notify_last_event_seq", { instance: "web" })).toBe(3);
    expect(metric(text, "vipd_notify_pending", { instance: "web" })).toBe(0);
    expect(
      metric(text, "vipd_sync_group_notify_total", { group: "pair", outcome: "delivered" }),
    ).toBeGreaterThanOrEqual(0);

    const human = formatStatus({
      pid: 1,
      startedAt: "x",
      configPath: "c",
      unattributed: {},
      timer: { kind: "t", fires: 0, worstLatenessMs: 0 },
      instances: [{ name: "web", ...hooks.status().instances.web } as never],
    });
    expect(human).toContain(
      "  notify: event #3, 1 delivered, 2 failed, 2 timed out, 2 retried, 0 dropped, 0 pending",
    );
  });

  it("status without hooks has empty hook fields", async () => {
    const { engine } = await startEngine(`
instances:
  web: { interface: eth0, vrid: 51, virtual_ips: [192.0.2.100/24] }
`);
    cleanups.push(() => engine.stop());
    const config = loadConfigText(
      "instances:\n  web: { interface: eth0, vrid: 51, virtual_ips: [192.0.2.100/24] }\n",
      "vipd.yaml",
    );
    const ops = new Operations({
      engine,
      logger: silent,
      now: () => 0,
      config: () => config,
      loadConfig: async () => config,
    });
    const s = ops.decorate(engine.status());
    expect(s.instances[0]).toMatchObject({
      trackers: [],
      fenceHistory: [],
      notify: { lastEventSeq: 0, delivered: 0 },
    });
    expect(s.syncGroups).toEqual({});
    expect(formatStatus(s)).not.toMatch(/notify:|fence |TRACKER/);
  });
});

describe("the peer's MAC for fence agents", () => {
  /** A fence agent that writes VIPD_PEER_MAC and its stdin to files. */
  function recorder() {
    const macFile = join(t.dir, "mac");
    const stdinFile = join(t.dir, "stdin");
    const agent = t.script("rec", `cat > ${stdinFile}; printf '%s' "$VIPD_PEER_MAC" > ${macFile}`);
    return { agent, mac: () => readFileSync(macFile, "utf8"), stdin: () => readFileSync(stdinFile, "utf8") };
  }

  it("looks the peer up in the neighbour table of the instance's interface and passes its lladdr", async () => {
    const rec = recorder();
    const lookups: [string, string][] = [];
    const engine = fakeEngine();
    const hooks = hooksOn(engine, {
      neighbours: {
        lookupNeighbour: async (ifname, address) => {
          lookups.push([ifname, address]);
          return { mac: "02:00:00:00:00:12", state: "stale" };
        },
      },
    });
    hooks.configure(loadConfigText(fenceYaml([[rec.agent]]), "vipd.yaml"));
    const a = await fenceOnce(engine, hooks, "192.0.2.12");
    expect(lookups).toEqual([["eth0", "192.0.2.12"]]);
    expect(rec.mac()).toBe("02:00:00:00:00:12");
    expect(a.peerMac).toBe("02:00:00:00:00:12");
    // No standard fence-agent key carries the target's MAC: stdin is unchanged.
    expect(rec.stdin()).toBe("action=off\nnodename=lb1\nplug=lb1\nip=192.0.2.12\n");
  });

  it("no entry, or a failed lookup: the agent runs with an empty VIPD_PEER_MAC", async () => {
    for (const lookup of [async () => null, async () => Promise.reject(new Error("RTM_GETNEIGH failed"))]) {
      const rec = recorder();
      const engine = fakeEngine();
      const hooks = hooksOn(engine, { neighbours: { lookupNeighbour: lookup } });
      hooks.configure(loadConfigText(fenceYaml([[rec.agent]]), "vipd.yaml"));
      const a = await fenceOnce(engine, hooks, "192.0.2.12");
      expect(a.outcome).toBe("ok");
      expect(a.peerMac).toBeNull();
      expect(rec.mac()).toBe("");
    }
  });

  it("a MAC the core already knows is used as is; a cancel during the lookup runs no agent", async () => {
    const rec = recorder();
    let lookups = 0;
    let release: (v: { mac: string; state: string } | null) => void = () => {};
    const engine = fakeEngine();
    const hooks = hooksOn(engine, {
      neighbours: {
        lookupNeighbour: () => {
          lookups++;
          return new Promise((r) => {
            release = r;
          });
        },
      },
    });
    hooks.configure(loadConfigText(fenceYaml([[rec.agent]]), "vipd.yaml"));
    await fenceOnce(engine, hooks, "192.0.2.12", "02:00:00:00:00:99");
    expect(lookups).toBe(0);
    expect(rec.mac()).toBe("02:00:00:00:00:99");

    engine.events.emit("requestFence", { instance: "web", peer: "192.0.2.12" });
    expect(lookups).toBe(1);
    engine.events.emit("cancelFence", { instance: "web" });
    release({ mac: "02:00:00:00:00:12", state: "reachable" });
    await new Promise((r) => setTimeout(r, 200));
    expect(hooks.status().instances.web?.fenceHistory).toHaveLength(1);
    expect(rec.mac()).toBe("02:00:00:00:00:99");
  });
});
