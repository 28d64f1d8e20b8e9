import { describe, expect, it } from "vitest";
import { decodeAdvert, encodeAdvert } from "../../src/codec/advert.js";
import { configToSpecs } from "../../src/runtime/config-view.js";
import { Engine, EX_CONFIG, TAKEOVER_WAKE_EARLY_MS } from "../../src/runtime/engine.js";
import { BASE_YAML, captureLogger, config, FakeWorld, flush, startEngine } from "./runtime-fakes.js";

// priority 100, 1 s, v3: Master_Down_Interval = 3 * 1000 + (256 - 100) * 1000 / 256
const MDI_MS = 3000 + (156 * 1000) / 256;
const PEER = "192.0.2.12";

function advertFrom(o: {
  priority: number;
  vrid?: number;
  intervalCs?: number;
  src?: string;
  dst?: string;
}): Uint8Array {
  return encodeAdvert(
    {
      version: 3,
      vrid: o.vrid ?? 51,
      priority: o.priority,
      maxAdverIntCs: o.intervalCs ?? 100,
      addresses: ["192.0.2.100"],
    },
    { family: "ipv4", src: o.src ?? PEER, dst: o.dst ?? "224.0.0.18", checksumForm: "pseudo-header" },
  );
}

function deliver(
  world: FakeWorld,
  payload: Uint8Array,
  over: Partial<{ src: string; dst: string; ttl: number; ifindex: number }> = {},
) {
  world.socket.deliver({
    payload,
    src: over.src ?? PEER,
    dst: over.dst ?? "224.0.0.18",
    ttl: over.ttl ?? 255,
    ifindex: over.ifindex ?? 2,
  });
}

function sentPriority(payload: Uint8Array): number {
  const r = decodeAdvert(payload, { family: "ipv4", src: "192.0.2.11", dst: "224.0.0.18", ttl: 255 });
  if (r.type !== "ok") throw new Error(`we sent an invalid advert: ${r.reason}`);
  return r.advert.priority;
}

function state(engine: { status: Engine<unknown>["status"] }, name = "web") {
  const s = engine.status().instances.find((i) => i.name === name);
  if (!s) throw new Error(`no instance ${name}`);
  return s;
}

describe("runtime engine: startup and takeover", () => {
  it("starts in backup with one timer armed at Master_Down_Interval, then takes over: VIP added, then the announce burst", async () => {
    const { world, engine } = await startEngine(BASE_YAML);
    const t0 = 1000;
    expect(state(engine).state).toBe("backup");
    expect(world.clock.timers).toBe(1);
    // armed a little before the deadline: the backup is awake when it comes (scheduler.ts)
    expect(world.clock.armed).toBeCloseTo(t0 + MDI_MS - TAKEOVER_WAKE_EARLY_MS, 6);
    expect(world.notifications).toContain("READY=1\nSTATUS=web: BACKUP");
    expect(world.events).toHaveLength(0);
    expect(world.sockets).toHaveLength(1);
    expect(world.sockets[0]!.multicast).toBe(true);

    await world.clock.advanceTo(t0 + MDI_MS - 1);
    expect(state(engine).state).toBe("backup");
    expect(world.events).toHaveLength(0);

    await world.clock.advanceTo(t0 + MDI_MS);
    const s = state(engine);
    expect(s.state).toBe("master");
    expect(s.installedVips).toEqual(["192.0.2.100/24"]);
    const kinds = world.events.map((e) => e.kind);
    // the advert goes out at once; the VIP add resolves, then the first burst (5 GARPs, 0 spacing)
    expect(kinds).toEqual(["advert", "add", "frame", "frame", "frame", "frame", "frame"]);
    const add = world.events[1]!;
    expect(add).toMatchObject({ kind: "add", ifname: "eth0", cidr: "192.0.2.100/24" });
    expect(sentPriority(world.adverts()[0]!.payload)).toBe(100);
    expect(world.adverts()[0]!.dst).toBe("224.0.0.18");
    expect(world.adverts()[0]!.src).toBe("192.0.2.11");
    for (const f of world.frames()) {
      expect(f.ifname).toBe("eth0");
      expect(f.bytes.length).toBe(42); // GARP
    }
    expect(world.notifications.at(-1)).toBe("STATUS=web: MASTER");

    // the timeline of this takeover is kept for status
    const tl = s.lastTimeline;
    expect(tl).not.toBeNull();
    expect(tl!.complete).toBe(true);
    expect(tl!.downTimerMs).toBeCloseTo(t0 + MDI_MS, 6);
    expect(tl!.vipAddedMs).not.toBeNull();
    expect(tl!.firstAnnounceMs).not.toBeNull();

    // then it keeps advertising every second, on the same single timer
    await world.clock.advance(3000);
    expect(world.adverts().length).toBe(4);
    expect(world.clock.timers).toBe(1);
  });

  it("Master_Down_Timer runs from the advert's receive time, never from a time before the last step", async () => {
    const { world, engine } = await startEngine(BASE_YAML);
    await world.clock.advance(1000);
    const t0 = world.clock.t;
    const at = (rxMs: number) => ({
      payload: advertFrom({ priority: 200 }),
      src: PEER,
      dst: "224.0.0.18",
      ttl: 255,
      ifindex: 2,
      rxMs,
    });
    // Received 0.4 ms before the engine handles it: the deadline counts from the arrival.
    world.socket.deliver(at(t0 - 0.4));
    // 5 ms later, a datagram stamped before the last step (t0 - 0.4) is stepped at that time: the
    // router's clock never runs backwards, and the deadline stays at t0 - 0.4 + MDI (not t0 + 5 + MDI).
    await world.clock.advance(5);
    world.socket.deliver(at(t0 - 10));
    expect(state(engine).counters.advertsReceived).toBe(2);
    await world.clock.advanceTo(t0 - 0.4 + MDI_MS - 0.05);
    expect(state(engine).state).toBe("backup");
    await world.clock.advanceTo(t0 - 0.4 + MDI_MS + 0.05);
    expect(state(engine).state).toBe("master");
  });

  it("the down timer first reads what waits in the socket: an advert received before the deadline keeps us backup", async () => {
    for (const queued of [true, false]) {
      const { world, engine } = await startEngine(BASE_YAML);
      await world.clock.advance(1000);
      const t = world.clock.t;
      deliver(world, advertFrom({ priority: 200 }));
      // The master's next advert reached the kernel 1 ms before the deadline, but the process
      // did not read it before the timer woke it (a stall): it must count, with its receive time.
      if (queued) {
        world.socket.queued.push({
          payload: advertFrom({ priority: 200 }),
          src: PEER,
          dst: "224.0.0.18",
          ttl: 255,
          ifindex: 2,
          rxMs: t + MDI_MS - 1,
        });
      }
      await world.clock.advanceTo(t + MDI_MS + 0.01);
      expect(state(engine).state).toBe(queued ? "backup" : "master");
      expect(world.socket.queued).toHaveLength(0);
      if (queued) {
        // The queued advert's receive time restarted the down timer.
        await world.clock.advanceTo(t + 2 * MDI_MS - 1.05);
        expect(state(engine).state).toBe("backup");
        await world.clock.advanceTo(t + 2 * MDI_MS - 0.95);
        expect(state(engine).state).toBe("master");
      }
    }
  });

  it("a valid advert from a higher priority keeps us backup and fills the peer table", async () => {
    const { world, engine } = await startEngine(BASE_YAML);
    for (let i = 0; i < 10; i++) {
      deliver(world, advertFrom({ priority: 200 }));
      await world.clock.advance(1000);
    }
    const s = state(engine);
    expect(s.state).toBe("backup");
    expect(s.master).toBe(PEER);
    expect(world.events.filter((e) => e.kind !== "advert")).toHaveLength(0);
    expect(world.adverts()).toHaveLength(0);
    expect(s.counters.advertsReceived).toBe(10);
    expect(s.peers).toHaveLength(1);
    expect(s.peers[0]).toMatchObject({
      address: PEER,
      priority: 200,
      adverIntervalMs: 1000,
      version: 3,
      checksumForm: "pseudo-header",
      advertsReceived: 10,
    });
    // Last heard one (virtual) second ago: lastSeenAt is that far behind the wall clock.
    const ageMs = Date.now() - Date.parse(s.peers[0]!.lastSeenAt);
    expect(ageMs).toBeGreaterThanOrEqual(1000 - 5);
    expect(ageMs).toBeLessThan(1000 + 2000);
  });

  it("lagView gives each instance's state and the interval its master advertises, as status() would", async () => {
    const { world, engine } = await startEngine(BASE_YAML);
    expect(engine.lagView()).toEqual([{ name: "web", state: "backup", masterAdverIntervalMs: null }]);
    deliver(world, advertFrom({ priority: 200, intervalCs: 50 }));
    expect(engine.lagView()).toEqual([{ name: "web", state: "backup", masterAdverIntervalMs: 500 }]);
    const s = state(engine);
    expect(s.peers.find((p) => p.address === s.master)?.adverIntervalMs).toBe(500);
    // The master goes quiet: we take over, and as master no peer's interval applies.
    await world.clock.advance(5000);
    expect(engine.lagView()).toEqual([{ name: "web", state: "master", masterAdverIntervalMs: null }]);
  });

  it("a corrupt datagram is counted, logged once per window, and touches neither state nor timer", async () => {
    const { world, engine, lines } = await startEngine(BASE_YAML);
    const armed = world.clock.armed;
    const bad = advertFrom({ priority: 200 });
    bad[7] = (bad[7]! ^ 0xff) & 0xff; // break the checksum
    for (let i = 0; i < 6; i++) deliver(world, bad);
    expect(world.clock.armed).toBe(armed);
    const s = state(engine);
    expect(s.state).toBe("backup");
    expect(s.master).toBeNull();
    expect(s.peers).toHaveLength(0);
    expect(s.counters.discarded).toEqual({ checksum: 6 });
    expect(lines.filter((l) => l.reason === "checksum")).toHaveLength(1);

    // a bad TTL, an unknown VRID and the wrong interface are counted under their own reasons
    deliver(world, advertFrom({ priority: 200 }), { ttl: 64 });
    deliver(world, advertFrom({ priority: 200, vrid: 52 }));
    deliver(world, advertFrom({ priority: 200 }), { ifindex: 9 });
    deliver(world, new Uint8Array([0x31]));
    const after = engine.status();
    expect(after.instances[0]!.counters.discarded).toEqual({ checksum: 6, ttl: 1, "wrong-interface": 1 });
    expect(after.unattributed["eth0/ipv4"]).toEqual({ "unknown-vrid": 1, length: 1 });
    expect(world.clock.armed).toBe(armed);

    // the timer still fires on time: no advert was believed
    await world.clock.advanceTo(1000 + MDI_MS);
    expect(state(engine).state).toBe("master");
  });

  it("a failed VIP add goes back into the core (Fault), and the VIP is not announced", async () => {
    const world = new FakeWorld();
    world.failAdd = new Error("RTNETLINK answers: Operation not permitted");
    const { engine, lines } = await startEngine(BASE_YAML, { world });
    await world.clock.advanceTo(1000 + MDI_MS);
    const s = state(engine);
    expect(s.state).toBe("fault");
    expect(s.counters.vipAddErrors).toBe(1);
    expect(world.frames()).toHaveLength(0);
    expect(lines.some((l) => l.msg === "adding VIPs failed")).toBe(true);
    expect(
      lines.some((l) => typeof l.reason === "string" && l.reason.includes("Operation not permitted")),
    ).toBe(true);
  });

  it("VIPs that land in the takeover's own turn are announced before their ACK", async () => {
    const world = new FakeWorld();
    world.addsInTurn = true;
    let ack!: () => void;
    world.ackGate = new Promise<void>((r) => {
      ack = r;
    });
    const { engine } = await startEngine(BASE_YAML, { world });
    await world.clock.advanceTo(1000 + MDI_MS);
    // the ACK is still pending: the GARPs went out right after the add
    expect(world.events.map((e) => e.kind)).toEqual([
      "advert",
      "add",
      "frame",
      "frame",
      "frame",
      "frame",
      "frame",
    ]);
    expect(state(engine).installedVips).toEqual([]);
    const tl = state(engine).lastTimeline;
    expect(tl?.complete).toBe(true);
    expect(tl?.vipAddedMs).toBe(1000 + MDI_MS);
    expect(tl?.firstAnnounceMs).toBe(1000 + MDI_MS);
    ack();
    await flush();
    // the ACK confirms the VIP; nothing is announced twice for it
    expect(state(engine).installedVips).toEqual(["192.0.2.100/24"]);
    expect(world.frames()).toHaveLength(5);
    expect(state(engine).state).toBe("master");
  });

  it("an add announced before its ACK that then fails goes back to the core, and announcing stops", async () => {
    const world = new FakeWorld();
    world.addsInTurn = true;
    world.failAdd = new Error("RTNETLINK answers: Operation not permitted");
    let ack!: () => void;
    world.ackGate = new Promise<void>((r) => {
      ack = r;
    });
    const { engine, lines } = await startEngine(BASE_YAML, { world });
    await world.clock.advanceTo(1000 + MDI_MS);
    expect(world.frames()).toHaveLength(5);
    ack();
    await flush();
    const s = state(engine);
    expect(s.state).toBe("fault");
    expect(s.counters.vipAddErrors).toBe(1);
    expect(s.installedVips).toEqual([]);
    expect(lines.some((l) => l.msg === "adding VIPs failed")).toBe(true);
    // no refresh or later burst for a VIP that is not ours
    await world.clock.advance(5000);
    expect(world.frames()).toHaveLength(5);
    expect(world.addresses.size).toBe(0);
  });

  it("a failing advert send is reported back to the core and counted", async () => {
    const { world, engine, lines } = await startEngine(BASE_YAML);
    world.socket.failSend = new Error("ENOBUFS");
    await world.clock.advanceTo(1000 + MDI_MS);
    const s = state(engine);
    expect(s.counters.advertSendErrors).toBe(1);
    expect(lines.some((l) => l.msg === "advert send failed")).toBe(true);
    // a lost advert is like a lost packet: we are still master and the VIP is still added
    expect(s.state).toBe("master");
  });

  it("SIGTERM sends a priority-0 advert, removes the VIPs and stops with exit code 0", async () => {
    const { world, engine } = await startEngine(BASE_YAML);
    await world.clock.advanceTo(1000 + MDI_MS);
    expect(state(engine).state).toBe("master");
    const before = world.events.length;
    world.signal("SIGTERM");
    const code = await engine.stopped;
    expect(code).toBe(0);
    const tail = world.events.slice(before);
    expect(tail.map((e) => e.kind)).toEqual(["advert", "remove"]);
    expect(sentPriority((tail[0] as { payload: Uint8Array }).payload)).toBe(0);
    expect(tail[1]).toMatchObject({ kind: "remove", cidr: "192.0.2.100/24" });
    expect(world.addresses.size).toBe(0);
    expect(world.notifications).toContain("STOPPING=1");
    expect(world.sockets.every((s) => s.closed)).toBe(true);
    expect(world.closedRtnl).toBe(true);
    expect(world.clock.armed).toBeNull();
  });

  it("removes orphan VIPs before starting, and logs them", async () => {
    const world = new FakeWorld();
    world.orphans = ["eth0 192.0.2.99/24"];
    const { lines } = await startEngine(BASE_YAML, { world });
    expect(lines.some((l) => l.msg.includes("orphan"))).toBe(true);
  });

  it("a removeVips never overtakes a pending addVips", async () => {
    const world = new FakeWorld();
    let open!: () => void;
    world.gate = new Promise<void>((r) => {
      open = r;
    });
    const { engine } = await startEngine(BASE_YAML, { world });
    await world.clock.advanceTo(1000 + MDI_MS); // takeover: addVips is now pending on the gate
    expect(world.events.filter((e) => e.kind === "add")).toHaveLength(0);
    deliver(world, advertFrom({ priority: 200 })); // higher priority: back to backup, removeVips
    expect(state(engine).state).toBe("backup");
    open();
    world.gate = null;
    await flush();
    const vipOps = world.events.filter((e) => e.kind === "add" || e.kind === "remove").map((e) => e.kind);
    expect(vipOps).toEqual(["add", "remove"]);
    expect(world.addresses.size).toBe(0);
    // the removal came before the announcement could go out: no GARP for a VIP we gave up
    expect(world.frames()).toHaveLength(0);
  });

  it("link down puts the instance in fault, link up brings it back", async () => {
    const { world, engine } = await startEngine(BASE_YAML);
    world.linkChange("eth0", false);
    expect(state(engine).state).toBe("fault");
    expect(state(engine).linkUp).toBe(false);
    world.linkChange("eth0", true);
    expect(state(engine).state).toBe("backup");
  });

  it("refuses to start without a primary address, with exit code 78", async () => {
    const world = new FakeWorld();
    world.links.set("eth0", { index: 2, mac: "02:00:00:00:00:11", up: true, addresses: ["fe80::11/64"] });
    const { logger, lines } = captureLogger();
    const engine = new Engine({
      configPath: "vipd.yaml",
      logger,
      ports: world.ports(),
      loadConfig: async () => config(BASE_YAML),
      toSpecs: configToSpecs,
    });
    await expect(engine.start(config(BASE_YAML))).rejects.toMatchObject({ code: "NO_PRIMARY_ADDRESS" });
    expect(await engine.stopped).toBe(EX_CONFIG);
    expect(lines.some((l) => l.msg.includes("interface eth0 has no IPv4 address"))).toBe(true);
    expect(world.sockets.every((s) => s.closed)).toBe(true);
  });

  it("refuses to start on a missing interface with EX_CONFIG", async () => {
    const yaml = BASE_YAML.replace("interface: eth0", "interface: eth9");
    const world = new FakeWorld();
    const { logger } = captureLogger();
    const engine = new Engine({
      configPath: "vipd.yaml",
      logger,
      ports: world.ports(),
      loadConfig: async () => config(yaml),
      toSpecs: configToSpecs,
    });
    await expect(engine.start(config(yaml))).rejects.toMatchObject({ code: "NO_SUCH_INTERFACE" });
    expect(await engine.stopped).toBe(EX_CONFIG);
  });
});

describe("runtime engine: unicast", () => {
  const yaml = `
instances:
  web:
    interface: eth0
    vrid: 51
    priority: 100
    advert_interval: 1s
    unicast_peers: [192.0.2.12, 192.0.2.13]
    virtual_ips: [192.0.2.100/24]
`;
  it("sends one advert to each peer and ignores adverts from strangers", async () => {
    const { world, engine } = await startEngine(yaml);
    expect(world.sockets[0]!.multicast).toBe(false);
    const stranger = { src: "192.0.2.99", dst: "192.0.2.11" };
    deliver(world, advertFrom({ priority: 200, ...stranger }), stranger);
    expect(state(engine).counters.discarded).toEqual({ "unknown-peer": 1 });
    expect(state(engine).master).toBeNull();
    await world.clock.advanceTo(1000 + MDI_MS);
    expect(world.adverts().map((a) => a.dst)).toEqual(["192.0.2.12", "192.0.2.13"]);
  });
});

describe("runtime engine: the fencing-mode release waits for the VIP removal", () => {
  const yaml = `${BASE_YAML}    fence:
      levels:
        - - agent: /usr/local/sbin/fence-test
`;

  /** Starts with fencing on and lets the claim (no master heard) complete: Master. */
  async function fencingMaster(world: FakeWorld) {
    const started = await startEngine(yaml, { world });
    await world.clock.advanceTo(1000 + 2 * MDI_MS + 10);
    expect(state(started.engine).state).toBe("master");
    expect(world.addresses.size).toBe(1);
    return started;
  }

  function gate(world: FakeWorld): () => void {
    let open!: () => void;
    world.gate = new Promise<void>((r) => {
      open = r;
    });
    return () => {
      world.gate = null;
      open();
    };
  }

  it("a master preempted by a higher priority sends its priority-0 release only after the VIPs are gone", async () => {
    const world = new FakeWorld();
    const { engine } = await fencingMaster(world);
    const before = world.events.length;
    const open = gate(world); // the removal now waits until the test opens the gate
    deliver(world, advertFrom({ priority: 200 }));
    expect(state(engine).state).toBe("backup");
    await flush();
    // The removal is pending: nothing has gone out yet (before, the release went out at once).
    expect(world.events.slice(before)).toEqual([]);
    expect(world.addresses.size).toBe(1);
    open();
    await flush();
    const tail = world.events.slice(before);
    expect(tail.map((e) => e.kind)).toEqual(["remove", "advert"]);
    expect(sentPriority((tail[1] as { payload: Uint8Array }).payload)).toBe(0);
    expect(world.addresses.size).toBe(0);
  });

  it("a failed removal withholds the release (the VIPs may still be here) and says so", async () => {
    const world = new FakeWorld();
    const { engine, lines } = await fencingMaster(world);
    const before = world.events.length;
    world.failRemove = new Error("RTNETLINK answers: Operation not permitted");
    deliver(world, advertFrom({ priority: 200 }));
    await flush();
    expect(state(engine).state).toBe("backup");
    expect(world.events.slice(before).filter((e) => e.kind === "advert")).toEqual([]);
    const warn = lines.find((l) => l.msg === "priority-0 release withheld: removing the VIPs failed");
    expect(warn?.error).toMatch(/Operation not permitted/);
  });

  it("a shutdown's resign (sent before the removal) still goes out at once", async () => {
    const world = new FakeWorld();
    const { engine } = await fencingMaster(world);
    const before = world.events.length;
    const open = gate(world);
    world.signal("SIGTERM");
    await flush();
    const tail = world.events.slice(before);
    expect(tail.map((e) => e.kind)).toEqual(["advert"]);
    expect(sentPriority((tail[0] as { payload: Uint8Array }).payload)).toBe(0);
    open();
    expect(await engine.stopped).toBe(0);
    expect(world.events.slice(before).map((e) => e.kind)).toEqual(["advert", "remove"]);
  });

  it("a master's own adverts do not wait for a pending removal", async () => {
    const world = new FakeWorld();
    const two = yaml.replace("[192.0.2.100/24]", "[192.0.2.100/24, 192.0.2.101/24]");
    const { engine, setFile } = await startEngine(two, { world });
    await world.clock.advanceTo(1000 + 2 * MDI_MS + 10);
    expect(state(engine).state).toBe("master");
    const open = gate(world);
    setFile(yaml); // the reload drops 192.0.2.101: its removal waits on the gate
    world.signal("SIGHUP");
    await flush();
    const before = world.events.length;
    await world.clock.advance(2000);
    const sent = world.events.slice(before);
    expect(sent.map((e) => e.kind)).toEqual(["advert", "advert"]);
    expect(sent.map((e) => sentPriority((e as { payload: Uint8Array }).payload))).toEqual([100, 100]);
    open();
    await flush();
    expect(world.events.slice(before).map((e) => e.kind)).toEqual(["advert", "advert", "remove"]);
    expect(state(engine).state).toBe("master");
  });
});
