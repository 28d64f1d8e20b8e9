import { describe, expect, it } from "vitest";
import { announceOffsets, DEFAULT_ANNOUNCE } from "../../src/runtime/announce.js";
import { startEngine } from "./runtime-fakes.js";

const MDI_MS = 3000 + (156 * 1000) / 256;

function yaml(extra: string, vips = "[192.0.2.100/24]"): string {
  return `
instances:
  web:
    interface: eth0
    vrid: 51
    priority: 100
    advert_interval: 1s
    virtual_ips: ${vips}
${extra}`;
}

describe("announce schedule", () => {
  it("keepalived defaults: 5 back-to-back, then 5 more after 5 s", () => {
    expect(announceOffsets(DEFAULT_ANNOUNCE, "takeover")).toEqual([
      0, 0, 0, 0, 0, 5000, 5000, 5000, 5000, 5000,
    ]);
  });

  it("spacing, no second burst, and a single burst for split brain and VIP changes", () => {
    const s = { repeat: 3, intervalMs: 100, secondBurstDelayMs: 0, refreshMs: 0 };
    expect(announceOffsets(s, "takeover")).toEqual([0, 100, 200]);
    const d = { ...s, secondBurstDelayMs: 2000 };
    expect(announceOffsets(d, "takeover")).toEqual([0, 100, 200, 2000, 2100, 2200]);
    expect(announceOffsets(d, "split-brain")).toEqual([0, 100, 200]);
    expect(announceOffsets(d, "vips-changed")).toEqual([0, 100, 200]);
    expect(announceOffsets(d, "lower-priority-heard")).toEqual([0, 100, 200]);
  });

  it("at least one announcement even when repeat is 0", () => {
    expect(announceOffsets({ ...DEFAULT_ANNOUNCE, repeat: 0, secondBurstDelayMs: 0 }, "takeover")).toEqual([
      0,
    ]);
  });
});

describe("runtime engine: announcements", () => {
  it("sends the configured bursts on the protocol timer, one frame per VIP each time", async () => {
    const { world } = await startEngine(
      yaml(
        "    garp_master_repeat: 3\n    garp_master_delay: 2s\n",
        "[192.0.2.100/24, 192.0.2.101/24]",
      ).replace("instances:", "global:\n  garp_interval: 100ms\ninstances:"),
    );
    const t = 1000 + MDI_MS;
    await world.clock.advanceTo(t + 10_000);
    const at = world.frames().map((f) => Math.round((f.at - t) * 1000) / 1000);
    expect(at).toEqual([0, 0, 100, 100, 200, 200, 2000, 2000, 2100, 2100, 2200, 2200]);
    expect(world.clock.timers).toBe(1);
  });

  it("the first announcement follows the VIP add with no timer in between", async () => {
    const { world, engine } = await startEngine(yaml(""));
    await world.clock.advanceTo(1000 + MDI_MS);
    const add = world.events.findIndex((e) => e.kind === "add");
    expect(world.events[add + 1]?.kind).toBe("frame");
    const tl = engine.status().instances[0]!.lastTimeline!;
    expect(tl.durations.vipAddedToFirstAnnounce).toBe(0);
  });

  it("refreshes periodically while master and stops when the VIPs go", async () => {
    const { world, engine } = await startEngine(
      yaml("    garp_master_repeat: 1\n    garp_master_delay: 0s\n    garp_master_refresh: 10s\n"),
    );
    const t = 1000 + MDI_MS;
    await world.clock.advanceTo(t + 35_000);
    const at = world.frames().map((f) => Math.round(f.at - t));
    expect(at).toEqual([0, 10_000, 20_000, 30_000]);
    world.signal("SIGTERM");
    expect(await engine.stopped).toBe(0);
    expect(world.clock.armed).toBeNull();
  });

  it("a failed frame send is reported to the core and stops the burst", async () => {
    const { world, engine, lines } = await startEngine(yaml(""));
    world.failFrame = new Error("ENETDOWN");
    await world.clock.advanceTo(1000 + MDI_MS + 10_000);
    const s = engine.status().instances[0]!;
    expect(s.counters.announceErrors).toBe(1);
    expect(s.counters.announcementsSent).toBe(0);
    expect(lines.some((l) => l.msg === "announcement failed" && l.error === "ENETDOWN")).toBe(true);
    expect(s.state).toBe("master");
  });

  it("IPv6 instances announce with unsolicited NAs from the link-local address", async () => {
    const { world, engine } = await startEngine(`
instances:
  web6:
    interface: eth0
    vrid: 51
    priority: 100
    advert_interval: 1s
    virtual_ips: [2001:db8::100/64]
`);
    const s0 = engine.status().instances[0]!;
    expect(s0.primaryAddress).toBe("fe80::11");
    await world.clock.advanceTo(1000 + MDI_MS);
    const f = world.frames()[0]!;
    expect(f.bytes.length).toBe(14 + 40 + 32);
    expect(world.adverts()[0]!.dst).toBe("ff02::12");
    expect(world.adverts()[0]!.src).toBe("fe80::11");
  });
});
