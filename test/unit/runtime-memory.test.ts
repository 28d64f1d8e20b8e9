// What the engine does per instance, kept linear in the number of instances (issue 7: RSS at 255
// VRIDs): the STATUS= line once per turn of transitions, one instance's status without the others,
// the advert cache, the primary address found without a set of every VIP.
import { describe, expect, it } from "vitest";
import { decodeAdvert } from "../../src/codec/advert.js";
import { runsPrograms } from "../../src/runtime/daemon.js";
import { config, FakeWorld, startEngine } from "./runtime-fakes.js";

// priority 100, 1 s, v3: Master_Down_Interval = 3 * 1000 + (256 - 100) * 1000 / 256
const MDI_MS = 3000 + (156 * 1000) / 256;

function instances(n: number, over: (i: number) => string = () => ""): string {
  let y = "global:\n  router_id: lb1\ninstances:\n";
  for (let i = 1; i <= n; i++)
    y += `  vi${i}:\n    interface: eth0\n    vrid: ${i}\n    priority: 100\n    advert_interval: 1s\n    virtual_ips: [198.51.100.${i}/32]\n${over(i)}`;
  return y;
}

describe("runtime engine: per-instance work stays linear", () => {
  it("sends one STATUS= line for the transitions of one turn, naming every instance", async () => {
    const { world, engine } = await startEngine(instances(20));
    const before = world.notifications.length;
    await world.clock.advanceTo(1000 + MDI_MS);
    expect(engine.status().instances.every((i) => i.state === "master")).toBe(true);
    const lines = world.notifications.slice(before).filter((n) => n.startsWith("STATUS="));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(`STATUS=${Array.from({ length: 20 }, (_, i) => `vi${i + 1}: MASTER`).join(", ")}`);
    // The stop's own transitions (to initialize) send no STATUS= after STOPPING=1.
    world.signal("SIGTERM");
    await engine.stopped;
    expect(world.notifications.at(-1)).toBe("STOPPING=1");
  });

  it("does not repeat an unchanged STATUS= line", async () => {
    const { world, engine } = await startEngine(instances(2));
    await world.clock.advanceTo(1000 + MDI_MS);
    const count = world.notifications.filter((n) => n.startsWith("STATUS=")).length;
    await world.clock.advanceTo(1000 + MDI_MS + 5000);
    expect(world.notifications.filter((n) => n.startsWith("STATUS=")).length).toBe(count);
    await engine.stop();
  });

  it("instanceStatus(name) is status()'s entry for that instance, null for an unknown name", async () => {
    const { world, engine } = await startEngine(instances(3));
    await world.clock.advanceTo(1000 + MDI_MS);
    for (const s of engine.status().instances) expect(engine.instanceStatus(s.name)).toEqual(s);
    expect(engine.instanceStatus("vi9")).toBeNull();
    expect(engine.instanceStatus("")).toBeNull();
    await engine.stop();
  });

  it("caches one advert per priority and destination: the same bytes every interval, priority 0 on stop", async () => {
    const { world, engine } = await startEngine(instances(1));
    await world.clock.advanceTo(1000 + MDI_MS + 3000);
    const sent = world.adverts();
    expect(sent.length).toBeGreaterThanOrEqual(3);
    const priorities = (payload: Uint8Array) => {
      const r = decodeAdvert(payload, { family: "ipv4", src: "192.0.2.11", dst: "224.0.0.18", ttl: 255 });
      if (r.type !== "ok") throw new Error(`we sent an invalid advert: ${r.reason}`);
      return r.advert.priority;
    };
    for (const a of sent) expect(priorities(a.payload)).toBe(100);
    expect(new Set(sent.map((a) => a.payload)).size).toBe(1);
    await engine.stop();
    const last = world.adverts().at(-1);
    expect(last && priorities(last.payload)).toBe(0);
  });

  it("picks as primary address the first of the link's addresses that is no instance's VIP", async () => {
    const world = new FakeWorld();
    // eth1 lists vi2's own VIP and vi1's (created before it) ahead of its real address.
    world.links.set("eth1", {
      index: 3,
      mac: "02:00:00:00:00:12",
      up: true,
      addresses: ["198.51.100.2/32", "198.51.100.1/32", "192.0.2.77/32", "192.0.2.12/24"],
    });
    const yaml = instances(2, (i) => (i === 2 ? "    virtual_ips_excluded: [192.0.2.77/32]\n" : "")).replace(
      /(vi2:\n {4}interface: )eth0/,
      "$1eth1",
    );
    const { engine } = await startEngine(yaml, { world });
    expect(engine.instanceStatus("vi1")?.primaryAddress).toBe("192.0.2.11");
    expect(engine.instanceStatus("vi2")?.primaryAddress).toBe("192.0.2.12");
    await engine.stop();
  });

  it("an IPv6 instance takes the link-local address, not a global one nor a VIP", async () => {
    const world = new FakeWorld();
    world.links.set("eth0", {
      index: 2,
      mac: "02:00:00:00:00:11",
      up: true,
      addresses: ["192.0.2.11/24", "2001:db8::11/64", "fe80::99/64", "fe80::11/64"],
    });
    const yaml =
      "global:\n  router_id: lb1\ninstances:\n  v6:\n    interface: eth0\n    vrid: 7\n    priority: 100\n" +
      "    advert_interval: 1s\n    virtual_ips: [fe80::99/64, 2001:db8::100/64]\n";
    const { engine } = await startEngine(yaml, { world });
    expect(engine.instanceStatus("v6")?.primaryAddress).toBe("fe80::11");
    await engine.stop();
  });

  it("fails with NO_PRIMARY_ADDRESS when the link has only VIPs of the family", async () => {
    const world = new FakeWorld();
    world.links.set("eth0", {
      index: 2,
      mac: "02:00:00:00:00:11",
      up: true,
      addresses: ["198.51.100.1/32", "fe80::11/64"],
    });
    await expect(startEngine(instances(1), { world })).rejects.toMatchObject({ code: "NO_PRIMARY_ADDRESS" });
  });
});

describe("runsPrograms: whether the daemon preloads node:child_process after READY", () => {
  const base = "global:\n  router_id: lb1\n";
  const inst = (extra = "") =>
    `instances:\n  web:\n    interface: eth0\n    vrid: 51\n    priority: 100\n    virtual_ips: [192.0.2.100/24]\n${extra}`;

  it("is false for a config that names no program", () => {
    expect(runsPrograms(config(base + inst()))).toBe(false);
  });

  it("is true with a notify script, a track script or a sync group's notify script", () => {
    expect(runsPrograms(config(base + inst("    notify_master: /etc/vipd/master.sh\n")))).toBe(true);
    expect(
      runsPrograms(
        config(
          `${base}track_scripts:\n  chk:\n    script: /usr/bin/true\n    interval: 2s\n${inst("    track_scripts: [chk]\n")}`,
        ),
      ),
    ).toBe(true);
  });
});
