import { describe, expect, it } from "vitest";
import { configToSpecs } from "../../src/runtime/config-view.js";
import { runDaemon } from "../../src/runtime/daemon.js";
import {
  emptyRehearsalReport,
  REHEARSAL_CYCLES,
  REHEARSAL_REPEAT_CYCLES,
  type RehearsalReport,
  rehearsalSpecs,
  rehearseTakeover,
  TakeoverRehearsal,
} from "../../src/runtime/rehearsal.js";
import { BASE_YAML, captureLogger, config, FakeWorld, flush, startEngine } from "./runtime-fakes.js";

// Four kinds of instance: IPv4 v3 multicast (with a label and an excluded VIP), IPv6 v3 multicast,
// IPv4 v2, IPv4 v3 unicast. The rehearsal takes the first of each (family, version).
const MIXED_YAML = `
global:
  router_id: lb1
instances:
  web:
    interface: eth0
    vrid: 51
    priority: 255
    advert_interval: 10ms
    virtual_ips:
      - { address: 192.0.2.100/24, label: "eth0:web" }
      - 192.0.2.101/24
    virtual_ips_excluded: [192.0.2.102/24]
  web6:
    interface: eth0
    vrid: 52
    priority: 150
    advert_interval: 100ms
    virtual_ips: [2001:db8::100/64]
  old:
    interface: eth0
    vrid: 53
    version: 2
    advert_interval: 1s
    virtual_ips: [192.0.2.110/24]
  uni:
    interface: eth0
    vrid: 54
    unicast_peers: [192.0.2.12]
    virtual_ips: [192.0.2.120/24]
`;

const emptyReport = (): RehearsalReport => emptyRehearsalReport();

describe("takeover rehearsal", () => {
  it("one throwaway instance per (family, version), at a fixed priority without fencing", () => {
    const specs = rehearsalSpecs(configToSpecs(config(MIXED_YAML)));
    expect(specs.map((s) => s.name)).toEqual(["rehearsal-ipv4-v3", "rehearsal-ipv6-v3", "rehearsal-ipv4-v2"]);
    const v4 = specs[0]!;
    // The real instance's VIPs, labels and interval; the rehearsal's own priority and name.
    expect(v4.vips.map((v) => [v.cidr, v.label])).toEqual([
      ["192.0.2.100/24", "eth0:web"],
      ["192.0.2.101/24", null],
    ]);
    const o = v4.routerOptions({ primaryAddress: "192.0.2.1" });
    expect(o).toMatchObject({
      name: "rehearsal-ipv4-v3",
      priority: 100,
      fencing: false,
      adverIntervalMs: 10,
    });
    expect(rehearsalSpecs([])).toEqual([]);
  });

  it("runs the real Engine through its cycles: takeovers on the down timer and on priority 0, step-downs, VIP changes", async () => {
    const cycles = 2;
    const r = await rehearseTakeover(configToSpecs(config(MIXED_YAML)), { cycles });
    const n = r.instances.length;
    expect(n).toBe(3);
    // Two takeovers (down timer, priority 0) and two step-downs per cycle and instance.
    expect(r.takeovers).toBe(2 * cycles * n);
    expect(r.stepDowns).toBe(2 * cycles * n);
    // VIPs per takeover: ipv4-v3 has 2 + 1 excluded, ipv6 1, v2 1: added on each takeover, removed
    // on each step-down.
    expect(r.vipsAdded).toBe(2 * cycles * 5);
    expect(r.vipsRemoved).toBe(2 * cycles * 5);
    // At least the takeover advert of each takeover; a GARP or NA per VIP and takeover at least.
    expect(r.advertsSent).toBeGreaterThanOrEqual(2 * cycles * n);
    expect(r.framesDropped).toBeGreaterThanOrEqual(2 * cycles * 5);
    expect(r.longestChunkMs).toBeLessThanOrEqual(r.busyMs);
    expect(r.cpuMs).toBeGreaterThanOrEqual(0);
  });

  it("unicast instances (IPv4 with a source address, IPv6) are rehearsed with their peers' adverts", async () => {
    const yaml = `
global:
  router_id: lb1
instances:
  uni:
    interface: eth0
    vrid: 54
    unicast_src_ip: 192.0.2.11
    unicast_peers: [192.0.2.12, 192.0.2.13]
    virtual_ips: [192.0.2.120/24]
  uni6:
    interface: eth0
    vrid: 55
    unicast_peers: [2001:db8::12]
    virtual_ips: [2001:db8::120/64]
`;
    const r = await rehearseTakeover(configToSpecs(config(yaml)), { cycles: 1 });
    expect(r.instances).toEqual(["rehearsal-ipv4-v3", "rehearsal-ipv6-v3"]);
    expect(r.takeovers).toBe(4);
    expect(r.stepDowns).toBe(4);
    // The IPv4 instance sends each advert to both peers.
    expect(r.advertsSent).toBeGreaterThanOrEqual(2 * 2 + 2);
  });

  it("the default is REHEARSAL_CYCLES cycles; a config without instances rehearses nothing", async () => {
    const r = await rehearseTakeover(configToSpecs(config(BASE_YAML)));
    expect(r.instances).toEqual(["rehearsal-ipv4-v3"]);
    expect(r.takeovers).toBe(2 * REHEARSAL_CYCLES);
    expect(await rehearseTakeover([])).toMatchObject({ instances: [], takeovers: 0, advertsSent: 0 });
  });

  it("the daemon's engine sees nothing of it: no event, no send, no address, no timer change", async () => {
    const { world, engine } = await startEngine(BASE_YAML);
    const seen: string[] = [];
    for (const name of [
      "notify",
      "stateChanged",
      "timeline",
      "discarded",
      "requestFence",
      "cancelFence",
    ] as const)
      engine.events.on(name, () => seen.push(name));
    const before = JSON.stringify(engine.status());
    const armed = world.clock.armed;
    const r = await rehearseTakeover(configToSpecs(config(BASE_YAML)));
    expect(r.takeovers).toBe(2 * REHEARSAL_CYCLES);
    expect(seen).toEqual([]);
    expect(world.events).toEqual([]);
    expect(world.addresses.size).toBe(0);
    expect(world.notifications.filter((n) => n.startsWith("READY")).length).toBe(1);
    expect(world.clock.armed).toBe(armed);
    expect(JSON.stringify(engine.status())).toBe(before);
    await engine.stop();
  });

  it("a rehearsal the engine refuses rejects with the reason", async () => {
    const [spec] = configToSpecs(config(BASE_YAML));
    const broken = {
      ...spec!,
      routerOptions: () => {
        throw new Error("cannot build router options");
      },
    };
    await expect(rehearseTakeover([broken])).rejects.toThrow("cannot build router options");
  });

  it("a failing rehearsal is counted and logged once at warn; the caller never sees a rejection", async () => {
    const { logger, lines } = captureLogger();
    let calls = 0;
    const rehearsal = new TakeoverRehearsal({
      specs: () => [],
      logger,
      rehearse: async () => {
        calls++;
        if (calls <= 2) throw new Error(`boom ${calls}`);
        return emptyReport();
      },
    });
    await rehearsal.runOnce();
    await rehearsal.runOnce();
    expect(rehearsal.stats).toMatchObject({ runs: 2, failures: 2, lastError: "boom 2", last: null });
    const warns = lines.filter((l) => l.level === 40);
    expect(warns).toHaveLength(1);
    expect(warns[0]!.msg).toContain("takeover rehearsal failed");
    expect(warns[0]!.msg).toContain("boom 1");
    await rehearsal.runOnce();
    expect(rehearsal.stats).toMatchObject({ runs: 3, failures: 2, last: emptyReport() });
    // A throw while reading the specs is contained the same way.
    const bad = new TakeoverRehearsal({
      specs: () => {
        throw new Error("no config");
      },
      logger,
    });
    await bad.runOnce();
    expect(bad.stats).toMatchObject({ runs: 1, failures: 1, lastError: "no config" });
  });

  it("runs the address port's rehearsed add after each rehearsal; its rejection is a failed rehearsal", async () => {
    const { logger, lines } = captureLogger();
    const order: string[] = [];
    let refuse = false;
    const rehearsal = new TakeoverRehearsal({
      specs: () => [],
      logger,
      rehearse: async () => {
        order.push("rehearse");
        return emptyReport();
      },
      rehearseAdd: async () => {
        order.push("add");
        if (refuse) throw new Error("the rehearsed add was accepted");
      },
    });
    await rehearsal.runOnce();
    expect(order).toEqual(["rehearse", "add"]);
    expect(rehearsal.stats).toMatchObject({ runs: 1, failures: 0 });
    refuse = true;
    await rehearsal.runOnce();
    expect(rehearsal.stats).toMatchObject({
      runs: 2,
      failures: 1,
      lastError: "the rehearsed add was accepted",
    });
    expect(lines.filter((l) => l.level === 40)).toHaveLength(1);
  });

  it("the first rehearsal runs REHEARSAL_CYCLES cycles, the later ones REHEARSAL_REPEAT_CYCLES", async () => {
    const { logger, lines } = captureLogger();
    const rehearsal = new TakeoverRehearsal({ specs: () => configToSpecs(config(BASE_YAML)), logger });
    await rehearsal.runOnce();
    expect(rehearsal.stats.last?.takeovers).toBe(2 * REHEARSAL_CYCLES);
    await rehearsal.runOnce();
    expect(rehearsal.stats.last?.takeovers).toBe(2 * REHEARSAL_REPEAT_CYCLES);
    expect(rehearsal.stats).toMatchObject({ runs: 2, failures: 0 });
    const done = lines.filter((l) => l.msg === "takeover rehearsal done");
    // The first at info, the next at debug, with what they cost.
    expect(done.map((l) => l.level)).toEqual([30, 20]);
    expect(done[0]).toMatchObject({ takeovers: 2 * REHEARSAL_CYCLES, instances: ["rehearsal-ipv4-v3"] });
    expect(typeof done[0]!.cpuMs).toBe("number");
  });

  it("runs once at a time; after stop() nothing more runs", async () => {
    const { logger } = captureLogger();
    let calls = 0;
    const rehearsal = new TakeoverRehearsal({
      specs: () => [],
      logger,
      rehearse: async () => {
        calls++;
        await flush();
        return emptyReport();
      },
    });
    await Promise.all([rehearsal.runOnce(), rehearsal.runOnce()]);
    expect(calls).toBe(1);
    rehearsal.stop();
    await rehearsal.runOnce();
    rehearsal.start();
    await flush();
    expect(calls).toBe(1);
  });

  it("the daemon rehearses once after READY, on its config, and stops rehearsing when it stops", async () => {
    const world = new FakeWorld();
    const { logger } = captureLogger();
    const handle = await runDaemon(config(BASE_YAML), {
      configPath: "vipd.yaml",
      logger,
      ports: world.ports(),
      control: false,
    });
    expect(handle.rehearsal).not.toBeNull();
    const rehearsal = handle.rehearsal as TakeoverRehearsal;
    // Not run yet when runDaemon returns: READY went out first.
    expect(rehearsal.stats.runs).toBe(0);
    expect(world.notifications.some((n) => n.startsWith("READY=1"))).toBe(true);
    for (let i = 0; i < 200 && rehearsal.stats.runs === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(rehearsal.stats).toMatchObject({ runs: 1, failures: 0 });
    expect(rehearsal.stats.last?.takeovers).toBe(2 * REHEARSAL_CYCLES);
    // The daemon's own world saw none of it.
    expect(world.events).toEqual([]);
    expect(handle.status().instances[0]?.state).toBe("backup");
    expect(await handle.stop()).toBe(0);
    await rehearsal.runOnce();
    expect(rehearsal.stats.runs).toBe(1);
  });
});

describe("engine: VIP adds prepared ahead", () => {
  it("prepareAddress gets each VIP with the arguments its add gets later", async () => {
    const world = new FakeWorld();
    const ports = world.ports();
    const prepared: string[] = [];
    ports.addresses.prepareAddress = async (ifname, cidr, o) => {
      prepared.push(`${ifname} ${cidr} ${JSON.stringify(o ?? {})}`);
    };
    const yaml = `
global:
  router_id: lb1
instances:
  web:
    interface: eth0
    vrid: 51
    priority: 255
    virtual_ips:
      - { address: 192.0.2.100/24, label: "eth0:web" }
    virtual_ips_excluded: [192.0.2.102/24]
`;
    const { logger } = captureLogger();
    const handle = await runDaemon(config(yaml), { configPath: "vipd.yaml", logger, ports, control: false });
    await flush();
    expect(prepared).toEqual(['eth0 192.0.2.100/24 {"label":"eth0:web"}', "eth0 192.0.2.102/24 {}"]);
    // priority 255: master at once, and the adds match what was prepared.
    const adds = world.events.flatMap((e) => (e.kind === "add" ? [`${e.ifname} ${e.cidr} ${e.label}`] : []));
    expect(adds).toEqual(["eth0 192.0.2.100/24 eth0:web", "eth0 192.0.2.102/24 null"]);
    await handle.stop();
  });

  it("a failed prepare is a warning: the instance starts and its add still runs", async () => {
    const world = new FakeWorld();
    const ports = world.ports();
    ports.addresses.prepareAddress = async () => {
      throw new Error("no netlink today");
    };
    const { logger, lines } = captureLogger();
    const handle = await runDaemon(config(BASE_YAML.replace("priority: 100", "priority: 255")), {
      configPath: "vipd.yaml",
      logger,
      ports,
      control: false,
    });
    await flush();
    expect(lines.some((l) => l.level === 40 && l.msg === "VIP add not prepared ahead")).toBe(true);
    expect(world.events.some((e) => e.kind === "add" && e.cidr === "192.0.2.100/24")).toBe(true);
    await handle.stop();
  });
});
