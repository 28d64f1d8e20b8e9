// Operations on a real engine over fake ports: maintenance, verified handover, reload plans, explain.
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { decodeAdvert, encodeAdvert } from "../../src/codec/advert.js";
import type { VipdConfig } from "../../src/config/index.js";
import type { Engine } from "../../src/runtime/engine.js";
import {
  explainInstance,
  formatPlan,
  OperationError,
  Operations,
  planReload,
} from "../../src/runtime/operations.js";
import { BASE_YAML, config, type FakeWorld, flush, startEngine } from "./runtime-fakes.js";

const PEER = "192.0.2.12";
const quiet = pino({ level: "silent" });
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

function advert(priority: number, src = PEER): Uint8Array {
  return encodeAdvert(
    { version: 3, vrid: 51, priority, maxAdverIntCs: 100, addresses: ["192.0.2.100"] },
    { family: "ipv4", src, dst: "224.0.0.18", checksumForm: "pseudo-header" },
  );
}

function hear(world: FakeWorld, priority: number, src = PEER): void {
  world.socket.deliver({ payload: advert(priority, src), src, dst: "224.0.0.18", ttl: 255, ifindex: 2 });
}

function sentPriorities(world: FakeWorld): number[] {
  return world.adverts().map((a) => {
    const r = decodeAdvert(a.payload, { family: "ipv4", src: "192.0.2.11", dst: "224.0.0.18", ttl: 255 });
    if (r.type !== "ok") throw new Error(`invalid advert sent: ${r.reason}`);
    return r.advert.priority;
  });
}

async function setup(yaml = BASE_YAML) {
  const s = await startEngine(yaml);
  stops.push(() => s.engine.stop());
  const cfg = config(yaml);
  const resigns: string[] = [];
  const ops = new Operations({
    engine: s.engine,
    logger: quiet,
    now: () => s.world.clock.now(),
    config: () => cfg,
    loadConfig: async () => cfg,
    onResign: (i, r) => resigns.push(`${i}:${r}`),
    pollMs: 1,
  });
  return { ...s, ops, resigns };
}

const stateOf = (engine: Engine<VipdConfig>, name = "web") =>
  engine.status().instances.find((i) => i.name === name)?.state;

async function becomeMaster(world: FakeWorld, engine: Engine<VipdConfig>): Promise<void> {
  await world.clock.advance(4000);
  expect(stateOf(engine)).toBe("master");
}

describe("maintenance", () => {
  it("on: priority-0 advert, VIPs released, out of elections; off: back in", async () => {
    const { world, engine, ops, resigns } = await setup();
    await becomeMaster(world, engine);
    const before = world.adverts().length;
    const r = ops.maintenance(true, null);
    await flush();
    expect(r).toEqual({ on: true, changed: ["web"], unchanged: [] });
    expect(sentPriorities(world).slice(before)).toContain(0);
    expect(stateOf(engine)).toBe("backup");
    expect(world.addresses.size).toBe(0);
    expect(ops.decorate(engine.status()).instances[0]?.maintenance).toBe(true);
    expect(resigns).toEqual(["web:maintenance"]);
    // Held out: the down timer does not make it master again.
    await world.clock.advance(10_000);
    expect(stateOf(engine)).toBe("backup");
    expect(ops.maintenance(true, "web").unchanged).toEqual(["web"]);
    expect(ops.maintenance(false, "web").changed).toEqual(["web"]);
    await world.clock.advance(4000);
    expect(stateOf(engine)).toBe("master");
    expect(ops.decorate(engine.status()).instances[0]?.maintenance).toBe(false);
  });

  it("survives a reload that replaces the instance; is dropped when the instance goes", async () => {
    const { world, engine, ops, setFile } = await setup();
    await becomeMaster(world, engine);
    ops.maintenance(true, "web");
    await flush();
    // A new VRID replaces the instance: its fresh router must stay out of elections.
    setFile(BASE_YAML.replace("vrid: 51", "vrid: 52"));
    expect(await engine.reload()).toBe(true);
    ops.reapplyMaintenance();
    await world.clock.advance(10_000);
    expect(stateOf(engine)).toBe("backup");
    expect(engine.status().instances[0]?.effectivePriority).toBe(0);
    setFile(BASE_YAML.replace("web:", "api:"));
    expect(await engine.reload()).toBe(true);
    ops.reapplyMaintenance();
    expect(ops.inMaintenance("web")).toBe(false);
  });

  it("names an unknown instance with a typed error", async () => {
    const { ops } = await setup();
    expect(() => ops.maintenance(true, "nope")).toThrow(OperationError);
    expect(() => ops.maintenance(true, "nope")).toThrow(/no instance "nope" \(running: web\)/);
  });
});

describe("handover", () => {
  it("resigns, sees the new master's advert, rejoins and reports it", async () => {
    const { world, engine, ops, resigns } = await setup();
    await becomeMaster(world, engine);
    const done = ops.handover("web", { to: PEER, timeoutMs: 5000 });
    await flush();
    expect(stateOf(engine)).toBe("backup");
    expect(sentPriorities(world)).toContain(0);
    await world.clock.advance(150);
    hear(world, 90);
    const r = await done;
    expect(r).toMatchObject({ ok: true, newMaster: PEER, newMasterPriority: 90, toMatched: true });
    expect(r.tookMs).toBeCloseTo(150, 0);
    // 100 > 90 with preempt: the report warns that this node will take over again.
    expect(r.willPreemptBack).toBe(true);
    expect(r.message).toMatch(/maintenance on web/);
    expect(resigns).toEqual(["web:handover"]);
    expect(ops.inMaintenance("web")).toBe(false);
  });

  it("reports a different node than --to as a failure", async () => {
    const { world, engine, ops } = await setup();
    await becomeMaster(world, engine);
    const done = ops.handover("web", { to: "192.0.2.13", timeoutMs: 5000 });
    await world.clock.advance(100);
    hear(world, 120);
    const r = await done;
    expect(r).toMatchObject({ ok: false, newMaster: PEER, toMatched: false, willPreemptBack: false });
    expect(r.message).toContain("it is not 192.0.2.13");
  });

  it("fails after the timeout when nobody takes over, and rejoins", async () => {
    const { world, engine, ops } = await setup();
    await becomeMaster(world, engine);
    const done = ops.handover("web", { to: null, timeoutMs: 500 });
    await flush();
    await world.clock.advance(600);
    const r = await done;
    expect(r).toMatchObject({ ok: false, newMaster: null });
    expect(r.message).toMatch(/no other node became master within 500 ms/);
    expect(ops.inMaintenance("web")).toBe(false);
    await world.clock.advance(4000);
    expect(stateOf(engine)).toBe("master");
  });

  it("refuses on a backup, in maintenance, and for unknown instances", async () => {
    const { world, engine, ops } = await setup();
    await expect(ops.handover("web", { to: null, timeoutMs: 100 })).rejects.toMatchObject({
      code: "NOT_MASTER",
    });
    await expect(ops.handover("db", { to: null, timeoutMs: 100 })).rejects.toMatchObject({
      code: "NO_SUCH_INSTANCE",
    });
    await becomeMaster(world, engine);
    ops.maintenance(true, "web");
    await expect(ops.handover("web", { to: null, timeoutMs: 100 })).rejects.toMatchObject({
      code: "IN_MAINTENANCE",
    });
  });
});

const TWO = `
global:
  router_id: lb1
track_scripts:
  chk: { script: [/bin/true], weight: -20 }
instances:
  web:
    interface: eth0
    vrid: 51
    priority: 150
    advert_interval: 1s
    virtual_ips: [192.0.2.100/24, 192.0.2.101/24]
    track_scripts: [chk]
  db:
    interface: eth0
    vrid: 52
    priority: 100
    virtual_ips: [192.0.2.110/24]
`;

describe("reload plan", () => {
  it("is empty for the same file", () => {
    const p = planReload(config(TWO), config(TWO), "vipd.yaml");
    expect(p.instances.unchanged.sort()).toEqual(["db", "web"]);
    expect(p.vips).toEqual({ added: [], removed: [], moved: [], interrupted: [] });
    expect(formatPlan(p)).toContain("no change");
  });

  it("lists VIPs added, removed and moved, and elections that may change", () => {
    const next = TWO.replace("priority: 150", "priority: 90")
      .replace("[192.0.2.100/24, 192.0.2.101/24]", "[192.0.2.100/24, 192.0.2.102/24]")
      .replace("[192.0.2.110/24]", "[192.0.2.110/24, 192.0.2.101/24]");
    const p = planReload(config(TWO), config(next), "vipd.yaml");
    expect(p.vips.added).toEqual([{ vip: "192.0.2.102/24 dev eth0", instance: "web" }]);
    expect(p.vips.moved).toEqual([{ vip: "192.0.2.101/24 dev eth0", from: "web", to: "db" }]);
    expect(p.vips.removed).toEqual([]);
    const web = p.instances.changed.find((c) => c.name === "web");
    expect(web?.electionMayChange).toBe(true);
    expect(web?.changes).toContain("priority 150 -> 90");
    const db = p.instances.changed.find((c) => c.name === "db");
    expect(db?.electionMayChange).toBe(false);
    const text = formatPlan(p);
    expect(text).toContain("> vip 192.0.2.101/24 dev eth0 moves web -> db");
    expect(text).toContain("~ instance web (election may change)");
  });

  it("marks replaced, added and removed instances", () => {
    const next = TWO.replace("vrid: 52", "vrid: 53").replace(
      "  web:\n",
      "  api:\n    interface: eth0\n    vrid: 60\n    virtual_ips: [192.0.2.120/24]\n  web:\n",
    );
    const p = planReload(config(TWO), config(next), "vipd.yaml");
    expect(p.instances.added).toEqual(["api"]);
    expect(p.instances.replaced).toEqual([{ name: "db", why: "vrid 52 -> 53" }]);
    expect(p.vips.interrupted).toEqual([{ vip: "192.0.2.110/24 dev eth0", instance: "db" }]);
    const gone = planReload(config(next), config(TWO), "vipd.yaml");
    expect(gone.instances.removed).toEqual(["api"]);
    expect(gone.vips.removed).toEqual([{ vip: "192.0.2.120/24 dev eth0", instance: "api" }]);
  });

  it("a bad next file is an error from the loader, not a plan", async () => {
    const { ops } = await setup();
    const bad = new Operations({
      engine: { status: () => ({}) as never, input: () => true, reload: async () => true },
      logger: quiet,
      now: () => 0,
      config: () => config(TWO),
      loadConfig: async () => config("instances: {web: {vrid: 300}}"),
    });
    await expect(bad.reloadPlan("vipd.yaml")).rejects.toMatchObject({ code: "CONFIG_INVALID" });
    expect((await ops.reloadPlan("vipd.yaml")).instances.unchanged).toEqual(["web"]);
  });
});

describe("explain", () => {
  it("says who is master, why, and which trackers apply", async () => {
    const { world, engine } = await setup(TWO);
    hear(world, 200);
    await flush();
    const web = engine.status().instances.find((i) => i.name === "web");
    if (!web) throw new Error("no web");
    const lines = explainInstance(web, config(TWO), false);
    expect(lines[0]).toBe("web is BACKUP on eth0 (VRID 51, IPv4, VRRPv3, multicast).");
    expect(lines.join("\n")).toContain("Trackers: script chk (weight -20).");
    expect(lines.join("\n")).toMatch(
      /Following master 192\.0\.2\.12: its priority 200 is higher than ours \(150\)/,
    );
    expect(lines.join("\n")).toMatch(
      /Peer 192\.0\.2\.12: priority 200, interval 1000 ms, VRRPv3, pseudo-header/,
    );
    const maint = explainInstance(web, config(TWO), true);
    expect(maint.join("\n")).toContain("Maintenance is on");
    const nopre = config(
      TWO.replace("    track_scripts: [chk]\n", "    track_scripts: [chk]\n    nopreempt: true\n"),
    );
    expect(explainInstance({ ...web, effectivePriority: 150 }, nopre, false).join("\n")).toContain(
      "nopreempt: a working master keeps the VIPs",
    );
  });

  it("for a master with a lowered priority", async () => {
    const { world, engine } = await setup(TWO);
    await world.clock.advance(4000);
    const web = engine.status().instances.find((i) => i.name === "web");
    if (!web) throw new Error("no web");
    const lines = explainInstance({ ...web, effectivePriority: 130 }, config(TWO), false).join("\n");
    expect(lines).toContain("web is MASTER");
    expect(lines).toContain("tracker weights lowered it by 20");
    expect(lines).toContain("holds 2 of 2 VIPs");
    expect(lines).toContain("No other node has been heard");
  });
});
