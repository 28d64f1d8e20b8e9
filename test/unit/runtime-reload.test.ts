import { describe, expect, it } from "vitest";
import { BASE_YAML, startEngine } from "./runtime-fakes.js";

const MDI_MS = 3000 + (156 * 1000) / 256;

const TWO = `${BASE_YAML}
  db:
    interface: eth0
    vrid: 52
    priority: 100
    advert_interval: 1s
    virtual_ips: [192.0.2.200/24]
`;

function vipOps(events: { kind: string }[]) {
  return events.filter((e) => e.kind === "add" || e.kind === "remove");
}

describe("runtime engine: SIGHUP reload", () => {
  it("keeps an unchanged instance (state and VIPs), starts a new one, removes a dropped one", async () => {
    const { world, engine, setFile, lines } = await startEngine(TWO);
    await world.clock.advanceTo(1000 + MDI_MS);
    expect(engine.status().instances.map((i) => i.state)).toEqual(["master", "master"]);
    const before = world.events.length;

    // db removed, app added, web untouched
    setFile(`${BASE_YAML}
  app:
    interface: eth0
    vrid: 53
    priority: 100
    advert_interval: 1s
    virtual_ips: [192.0.2.150/24]
`);
    world.signal("SIGHUP");
    await world.clock.advance(0);
    const after = world.events.slice(before);
    expect(vipOps(after)).toEqual([expect.objectContaining({ kind: "remove", cidr: "192.0.2.200/24" })]);
    const st = engine.status().instances;
    expect(st.map((i) => [i.name, i.state])).toEqual([
      ["web", "master"],
      ["app", "backup"],
    ]);
    expect(st[0]!.installedVips).toEqual(["192.0.2.100/24"]);
    expect(world.addresses.has("eth0 192.0.2.100/24")).toBe(true);
    expect(world.notifications.some((n) => n.startsWith("RELOADING=1\nMONOTONIC_USEC="))).toBe(true);
    expect(world.notifications.at(-1)).toBe("READY=1\nSTATUS=web: MASTER, app: BACKUP");
    expect(lines.find((l) => l.msg === "reload applied")).toMatchObject({
      removed: ["db"],
      added: ["app"],
      unchanged: ["web"],
    });
    // the removed instance said goodbye with priority 0
    const goodbye = after.find((e) => e.kind === "advert");
    expect(goodbye).toBeDefined();
    // one timer serves everyone still
    expect(world.clock.timers).toBe(1);
  });

  it("a changed instance gets configChanged and keeps its state; a bad file is refused and nothing moves", async () => {
    const { world, engine, setFile, lines } = await startEngine(BASE_YAML);
    await world.clock.advanceTo(1000 + MDI_MS);
    const before = world.events.length;

    setFile(BASE_YAML.replace("priority: 100", "priority: 120"));
    expect(await engine.reload()).toBe(true);
    await world.clock.advance(0);
    let web = engine.status().instances[0]!;
    expect(web.state).toBe("master");
    expect(web.priority).toBe(120);
    expect(vipOps(world.events.slice(before))).toHaveLength(0);
    expect(lines.find((l) => l.msg === "reload applied")).toMatchObject({ changed: ["web"] });

    setFile(BASE_YAML.replace("vrid: 51", "vrid: 999"));
    expect(await engine.reload()).toBe(false);
    const refusal = lines.find((l) => l.msg.startsWith("reload refused"));
    expect(refusal).toBeDefined();
    expect(refusal!.issues).toEqual([expect.stringMatching(/^vipd\.yaml:\d+:\d+: .*vrid/i)]);
    web = engine.status().instances[0]!;
    expect(web.state).toBe("master");
    expect(web.vrid).toBe(51);
    expect(web.installedVips).toEqual(["192.0.2.100/24"]);
    expect(vipOps(world.events.slice(before))).toHaveLength(0);
    // systemd is told the reload ended even when it was refused
    expect(world.notifications.at(-1)).toBe("READY=1\nSTATUS=web: MASTER");

    // YAML syntax errors too
    setFile("instances: [");
    expect(await engine.reload()).toBe(false);
    expect(engine.status().instances[0]!.state).toBe("master");
  });

  it("adding a VIP to a master instance adds and announces only that VIP", async () => {
    const { world, engine, setFile } = await startEngine(BASE_YAML);
    await world.clock.advanceTo(1000 + MDI_MS + 6000); // past both takeover bursts
    const before = world.events.length;
    setFile(BASE_YAML.replace("[192.0.2.100/24]", "[192.0.2.100/24, 192.0.2.101/24]"));
    expect(await engine.reload()).toBe(true);
    await world.clock.advance(0);
    const after = world.events.slice(before);
    expect(vipOps(after)).toEqual([expect.objectContaining({ kind: "add", cidr: "192.0.2.101/24" })]);
    expect(after.filter((e) => e.kind === "frame").length).toBeGreaterThan(0);
    expect(engine.status().instances[0]!.installedVips.sort()).toEqual(["192.0.2.100/24", "192.0.2.101/24"]);
  });

  it("moving an instance to another VRID replaces it (old one released first)", async () => {
    const { world, engine, setFile } = await startEngine(BASE_YAML);
    await world.clock.advanceTo(1000 + MDI_MS);
    const before = world.events.length;
    setFile(BASE_YAML.replace("vrid: 51", "vrid: 61"));
    expect(await engine.reload()).toBe(true);
    const ops = vipOps(world.events.slice(before)).map((e) => e.kind);
    expect(ops).toEqual(["remove"]);
    const web = engine.status().instances[0]!;
    expect(web.vrid).toBe(61);
    expect(web.state).toBe("backup");
  });

  it("SIGTERM during operation after a reload still releases everything", async () => {
    const { world, engine, setFile } = await startEngine(TWO);
    await world.clock.advanceTo(1000 + MDI_MS);
    setFile(BASE_YAML);
    world.signal("SIGHUP");
    world.signal("SIGTERM");
    expect(await engine.stopped).toBe(0);
    expect(world.addresses.size).toBe(0);
  });
});
