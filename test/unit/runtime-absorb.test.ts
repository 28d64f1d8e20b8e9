// The engine with sockets that absorb the master's repeats (VrrpSocketPort.absorb): the backup's
// router must decide the same things at the same times as when it steps every advert.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeAdvert } from "../../src/codec/advert.js";
import { BASE_YAML, FakeWorld, startEngine } from "./runtime-fakes.js";

// priority 100, 1 s, v3: Master_Down_Interval = 3 * 1000 + Skew_Time, Skew_Time = (256 - 100) * 1000 / 256
const SKEW_MS = (156 * 1000) / 256;
const MDI_MS = 3000 + SKEW_MS;
const PEER = "192.0.2.12";
const OTHER = "192.0.2.13";

function advert(priority: number, intervalCs = 100, src = PEER): Uint8Array {
  return encodeAdvert(
    { version: 3, vrid: 51, priority, maxAdverIntCs: intervalCs, addresses: ["192.0.2.100"] },
    { family: "ipv4", src, dst: "224.0.0.18", checksumForm: "pseudo-header" },
  );
}

function send(world: FakeWorld, payload: Uint8Array, src = PEER): void {
  world.socket.deliver({ payload, src, dst: "224.0.0.18", ttl: 255, ifindex: 2, rxMs: world.clock.t });
}

type Op =
  | { type: "wait"; ms: number }
  | { type: "advert"; priority: number; intervalCs: number; src: string }
  | { type: "stream"; priority: number; intervalCs: number; src: string; count: number; gapMs: number }
  | { type: "link"; up: boolean }
  | { type: "status" };

const advertFields = {
  priority: fc.constantFrom(200, 200, 200, 100, 0, 50, 255),
  intervalCs: fc.constantFrom(100, 100, 50),
  src: fc.constantFrom(PEER, PEER, OTHER),
};

// preempt_delay: a lower master is followed until the hold ends, then discarded (a change in the
// router's answer that no timer marks).
const YAMLS = [BASE_YAML, `${BASE_YAML}    preempt_delay: 3s\n`];

/** Runs a script on a fresh engine; what it did, for comparing absorbing with stepping each advert. */
async function runScript(ops: Op[], yaml: string, absorbs: boolean) {
  const world = new FakeWorld();
  world.absorbs = absorbs;
  const { engine } = await startEngine(yaml, { world });
  for (const o of ops) {
    if (o.type === "wait") await world.clock.advance(o.ms);
    else if (o.type === "advert") send(world, advert(o.priority, o.intervalCs, o.src), o.src);
    else if (o.type === "stream") {
      const payload = advert(o.priority, o.intervalCs, o.src);
      for (let i = 0; i < o.count; i++) {
        if (i > 0) await world.clock.advance(o.gapMs);
        send(world, payload, o.src);
      }
    } else if (o.type === "link") world.linkChange("eth0", o.up);
    else engine.instanceStatus("web");
  }
  await world.clock.advance(10_000);
  const s = engine.instanceStatus("web")!;
  await engine.stop("test over");
  return {
    events: world.events.map((e) => ({ kind: e.kind, at: e.at })),
    state: s.state,
    counters: s.counters,
    peers: s.peers.map((p) => ({ ...p, lastSeenAt: "" })),
    timeline: s.lastTimeline === null ? null : { ...s.lastTimeline, startedAt: "" },
    absorbed: world.sockets.reduce((n, x) => n + x.absorbed[51]!, 0),
  };
}

describe("runtime engine: repeats absorbed by the socket", () => {
  it("a backup following its master lets the socket count the repeats; status and the takeover are as if each was stepped", async () => {
    const { world, engine } = await startEngine(BASE_YAML);
    const master = advert(200);
    send(world, master);
    await world.clock.advance(1000);
    send(world, master);
    expect(world.socket.armedVrids).toEqual([51]);
    const before = world.socket.absorbed[51]!;
    let last = world.clock.t;
    for (let i = 0; i < 20; i++) {
      await world.clock.advance(1000);
      send(world, master);
      last = world.clock.t;
      expect(engine.instanceStatus("web")!.state).toBe("backup");
    }
    // the socket absorbed at least the repeats after the arming advert
    expect(world.socket.absorbed[51]! - before).toBeGreaterThanOrEqual(19);
    expect(world.socket.absorbed[256 + 51]).toBe(last);
    const s = engine.instanceStatus("web")!;
    expect(s.counters.advertsReceived).toBe(22);
    expect(s.master).toBe(PEER);
    expect(s.peers).toHaveLength(1);
    expect(s.peers[0]!.advertsReceived).toBe(22);
    expect(s.peers[0]!.lastSeenMs).toBe(last);

    // The master goes silent: the takeover comes Master_Down_Interval after its last repeat.
    await world.clock.advanceTo(last + MDI_MS - 0.05);
    expect(engine.instanceStatus("web")!.state).toBe("backup");
    await world.clock.advanceTo(last + MDI_MS + 0.05);
    const after = engine.instanceStatus("web")!;
    expect(after.state).toBe("master");
    expect(after.lastTimeline?.lastAdvertMs).toBe(last);
    expect(after.lastTimeline?.downTimerMs).toBeCloseTo(last + MDI_MS, 6);
    expect(world.socket.armedVrids).toEqual([]);
  });

  it("another advert for the VRID reaches the router at once: a priority-0 resignation after absorbed repeats", async () => {
    const { world, engine } = await startEngine(BASE_YAML);
    const master = advert(200);
    for (let i = 0; i < 5; i++) {
      send(world, master);
      await world.clock.advance(1000);
    }
    expect(world.socket.armedVrids).toEqual([51]);
    send(world, advert(0));
    const t = world.clock.t;
    // the socket no longer absorbs; the router counts every advert, the absorbed ones first
    expect(world.socket.armedVrids).toEqual([]);
    expect(engine.instanceStatus("web")!.counters.advertsReceived).toBe(6);
    await world.clock.advanceTo(t + SKEW_MS - 0.05);
    expect(engine.instanceStatus("web")!.state).toBe("backup");
    await world.clock.advanceTo(t + SKEW_MS + 0.05);
    expect(engine.instanceStatus("web")!.state).toBe("master");
  });

  it("does not absorb while the step reports something: a new master, or adverts from a router we would preempt", async () => {
    const { world, engine } = await startEngine(BASE_YAML);
    // lower priority with preempt on: discarded, Master_Down_Timer keeps running: nothing to absorb
    send(world, advert(50));
    expect(world.socket.armedVrids).toEqual([]);
    await world.clock.advance(1000);
    send(world, advert(50));
    expect(world.socket.armedVrids).toEqual([]);
    expect(engine.instanceStatus("web")!.counters.advertsReceived).toBe(2);
  });

  it("a socket without absorb: every advert is stepped (the addon of an older build)", async () => {
    const world = new FakeWorld();
    world.absorbs = false;
    const { engine } = await startEngine(BASE_YAML, { world });
    for (let i = 0; i < 5; i++) {
      send(world, advert(200));
      await world.clock.advance(1000);
    }
    expect(world.socket.armedVrids).toEqual([]);
    expect(world.socket.absorbed[51]).toBe(0);
    expect(engine.instanceStatus("web")!.counters.advertsReceived).toBe(5);
  });

  it("says at start where the repeats are absorbed: in the kernel, or in the addon and why", async () => {
    const said = async (why: string | undefined) => {
      const world = new FakeWorld();
      world.kernelAbsorbError = why;
      const { engine, lines } = await startEngine(BASE_YAML, { world });
      await engine.stop("test");
      return lines.filter((l) => String(l.msg).startsWith("VRRP socket:"));
    };
    expect(await said("")).toMatchObject([
      { msg: expect.stringContaining("absorbed in the kernel"), interface: "eth0", family: "ipv4" },
    ]);
    expect(await said("bpf(BPF_MAP_CREATE): Operation not permitted")).toMatchObject([
      {
        msg: expect.stringContaining("absorbed in the addon, not the kernel"),
        reason: "bpf(BPF_MAP_CREATE): Operation not permitted",
      },
    ]);
    expect(await said(undefined)).toEqual([]);
  });

  // The claim behind absorbing: for any sequence of adverts, silences, link changes and status
  // reads, an engine whose socket absorbs does exactly what one that steps every advert does.
  it("property: absorbing or not, the same adverts, VIP changes and announcements at the same times", async () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({ type: fc.constant("wait" as const), ms: fc.integer({ min: 1, max: 2500 }) }),
      },
      { weight: 8, arbitrary: fc.record({ type: fc.constant("advert" as const), ...advertFields }) },
      {
        weight: 4,
        arbitrary: fc.record({
          type: fc.constant("stream" as const),
          ...advertFields,
          count: fc.integer({ min: 2, max: 8 }),
          gapMs: fc.integer({ min: 400, max: 1100 }),
        }),
      },
      { weight: 1, arbitrary: fc.record({ type: fc.constant("link" as const), up: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ type: fc.constant("status" as const) }) },
    );
    let absorbedSomewhere = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 5, maxLength: 40 }),
        fc.constantFrom(...YAMLS),
        async (ops, yaml) => {
          const stepped = await runScript(ops, yaml, false);
          const absorbed = await runScript(ops, yaml, true);
          absorbedSomewhere += absorbed.absorbed;
          expect(stepped.absorbed).toBe(0);
          expect({ ...absorbed, absorbed: 0 }).toEqual({ ...stepped, absorbed: 0 });
        },
      ),
      { numRuns: 60 },
    );
    // the property was not vacuous: repeats were absorbed in these runs
    expect(absorbedSomewhere).toBeGreaterThan(0);
  });

  it("preempt_delay: a lower master followed during the hold is dropped when it ends, at the same time as when each advert is stepped", async () => {
    const ops: Op[] = [{ type: "stream", priority: 50, intervalCs: 100, src: PEER, count: 9, gapMs: 1000 }];
    const stepped = await runScript(ops, YAMLS[1]!, false);
    const absorbed = await runScript(ops, YAMLS[1]!, true);
    expect(absorbed).toEqual({ ...stepped, absorbed: absorbed.absorbed });
    // the hold (3 s from startup at t = 1000) covers the adverts at 1000..3000; the last one it
    // followed starts the Master_Down_Interval that ends in the takeover
    const tl = stepped.timeline;
    expect(tl?.downTimerMs).toBeCloseTo(3000 + MDI_MS, 6);
  });
});
