// src/linux/rtnl.ts against a real kernel in a lab namespace: marked VIPs, orphan removal that
// never touches hand-made addresses, link and address events, typed errors.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VIPD_IFA_PROTO } from "../../src/linux/rtnl.js";
import { type AgentEvent, type IoAgent, startAgent } from "./linux-io-harness.js";
import { createLab, type Lab, type LabHost, labAvailable } from "./netns.js";

interface IpAddr {
  local: string;
  prefixlen: number;
  label?: string;
  nodad?: boolean;
}

async function addresses(host: LabHost): Promise<IpAddr[]> {
  const r = await host.exec(["ip", "-j", "addr", "show", "dev", "eth0"]);
  expect(r.code).toBe(0);
  const links = JSON.parse(r.stdout) as { addr_info: IpAddr[] }[];
  return links[0]?.addr_info ?? [];
}

async function has(host: LabHost, cidr: string): Promise<boolean> {
  return (await addresses(host)).some((a) => `${a.local}/${a.prefixlen}` === cidr);
}

describe.runIf(labAvailable())("rtnetlink: marked VIPs, orphans, events (netns lab)", () => {
  let lab: Lab;
  let a: LabHost;
  let agent: IoAgent;
  const rtnl = <T = unknown>(method: string, ...args: unknown[]) => agent.call<T>("rtnl", { method, args });

  beforeAll(async () => {
    lab = await createLab({ hosts: ["a"] });
    a = lab.host("a");
    agent = await startAgent(a);
  });

  afterAll(async () => {
    agent?.stop();
    await lab?.destroy();
  });

  it("getLink reports index, MAC, up and the addresses", async () => {
    const link = await rtnl<{ index: number; mac: string; up: boolean; addresses: string[] }>(
      "getLink",
      "eth0",
    );
    expect(link.index).toBeGreaterThan(0);
    expect(link.mac).toBe(a.mac);
    expect(link.up).toBe(true);
    expect(link.addresses).toContain(a.ipv4Cidr);
    expect(link.addresses).toContain(a.ipv6Cidr);
  });

  it("an add reaches the kernel in the caller's own turn once the interface index is known", async () => {
    // The first add looks the index up (an await); the next ones send at once: a takeover's VIP
    // is in the kernel before the transition's log line and hooks run.
    await rtnl("addAddress", "eth0", "192.0.2.201/24");
    for (const cidr of ["192.0.2.202/24", "2001:db8::202/64"]) {
      expect(await rtnl("addAddressInTurn", "eth0", cidr)).toEqual({ inKernelBeforeAwait: true });
    }
    for (const cidr of ["192.0.2.201/24", "192.0.2.202/24", "2001:db8::202/64"]) {
      await rtnl("removeAddress", "eth0", cidr);
    }
  });

  it("an add says it landed (onApplied) only when it reached the kernel in the caller's turn", async () => {
    await rtnl("addAddress", "eth0", "192.0.2.203/24"); // the index is known from now on
    // The first of two adds in one turn goes straight to the kernel; the library queues the second
    // behind the first one's unreported send, so it must not claim to have landed.
    const out = await rtnl("addAddressApplied", "eth0", ["192.0.2.204/24", "2001:db8::204/64"]);
    expect(out).toEqual([
      { applied: true, inKernelWhenApplied: true, inKernelAfterCall: true },
      { applied: false, inKernelWhenApplied: false, inKernelAfterCall: false },
    ]);
    // Both are there once their ACKs came.
    expect(await has(a, "192.0.2.204/24")).toBe(true);
    expect(await has(a, "2001:db8::204/64")).toBe(true);
    for (const cidr of ["192.0.2.203/24", "192.0.2.204/24", "2001:db8::204/64"]) {
      await rtnl("removeAddress", "eth0", cidr);
    }
  });

  it("rehearseAdd goes through the kernel and changes nothing (ENODEV for an index no link has)", async () => {
    const all = async () => (await a.exec(["ip", "-o", "addr", "show"])).stdout;
    const before = await all();
    for (let i = 0; i < 3; i++) await rtnl("rehearseAdd");
    expect(await all()).toBe(before);
  });

  it("adds IPv4 (with label) and IPv6 (nodad) VIPs marked as vipd’s; adding again is fine", async () => {
    await rtnl("addAddress", "eth0", "192.0.2.200/24", { label: "eth0:vip" });
    await rtnl("addAddress", "eth0", "2001:db8::200/64");
    const addrs = await addresses(a);
    expect(addrs.find((x) => x.local === "192.0.2.200")).toMatchObject({ prefixlen: 24, label: "eth0:vip" });
    expect(addrs.find((x) => x.local === "2001:db8::200")).toMatchObject({ prefixlen: 64, nodad: true });
    // The mark survives in the kernel for both families (IFA_PROTO comes back in the dump).
    const mine = await rtnl<{ ifname: string; cidr: string }[]>("listVipdAddresses");
    expect(mine).toEqual(
      expect.arrayContaining([
        { ifname: "eth0", cidr: "192.0.2.200/24" },
        { ifname: "eth0", cidr: "2001:db8::200/64" },
      ]),
    );
    expect(mine).toHaveLength(2);
    expect(await rtnl("listVipdAddresses", "eth0")).toEqual(mine);
    await rtnl("addAddress", "eth0", "192.0.2.200/24", { label: "eth0:vip" });
    await rtnl("addAddress", "eth0", "2001:db8::200/64");
    expect(await rtnl("listVipdAddresses")).toHaveLength(2);
    expect(VIPD_IFA_PROTO).toBe(118);
  });

  it("removeAddress removes a vipd address and is idempotent", async () => {
    await rtnl("removeAddress", "eth0", "192.0.2.200/24");
    await rtnl("removeAddress", "eth0", "2001:db8::200/64");
    expect(await has(a, "192.0.2.200/24")).toBe(false);
    expect(await has(a, "2001:db8::200/64")).toBe(false);
    await rtnl("removeAddress", "eth0", "192.0.2.200/24");
    await rtnl("removeAddress", "eth0", "2001:db8::200/64");
    expect(await rtnl("listVipdAddresses")).toEqual([]);
  });

  it("never touches a hand-added address: add/remove refuse with FOREIGN_ADDRESS, orphans skip it", async () => {
    for (const cidr of ["192.0.2.210/24", "2001:db8::210/64"]) {
      expect((await a.exec(["ip", "addr", "add", cidr, "dev", "eth0"])).code).toBe(0);
      await expect(rtnl("addAddress", "eth0", cidr)).rejects.toMatchObject({ code: "FOREIGN_ADDRESS" });
      await expect(rtnl("removeAddress", "eth0", cidr)).rejects.toMatchObject({ code: "FOREIGN_ADDRESS" });
      expect(await has(a, cidr)).toBe(true);
    }
    expect(await rtnl("listVipdAddresses")).toEqual([]);
    expect(await rtnl("removeOrphans")).toEqual([]);
    expect(await has(a, "192.0.2.210/24")).toBe(true);
    expect(await has(a, "2001:db8::210/64")).toBe(true);
  });

  it("a restarted vipd removes the orphans a killed one left, and only those", async () => {
    const first = await startAgent(a);
    await first.call("rtnl", { method: "addAddress", args: ["eth0", "192.0.2.220/24"] });
    await first.call("rtnl", {
      method: "addAddress",
      args: ["eth0", "192.0.2.221/32", { label: "eth0:v2" }],
    });
    await first.call("rtnl", { method: "addAddress", args: ["eth0", "2001:db8::220/128"] });
    await first.kill(); // a crash: the addresses stay behind
    const before = await addresses(a);
    expect(before.map((x) => x.local)).toEqual(
      expect.arrayContaining(["192.0.2.220", "192.0.2.221", "2001:db8::220"]),
    );
    const second = await startAgent(a);
    const removed = await second.call<string[]>("rtnl", { method: "removeOrphans" });
    expect(removed.sort()).toEqual([
      "192.0.2.220/24 dev eth0",
      "192.0.2.221/32 dev eth0",
      "2001:db8::220/128 dev eth0",
    ]);
    const after = (await addresses(a)).map((x) => `${x.local}/${x.prefixlen}`);
    expect(after).not.toContain("192.0.2.220/24");
    expect(after).not.toContain("2001:db8::220/128");
    expect(after).toEqual(
      expect.arrayContaining([a.ipv4Cidr, a.ipv6Cidr, "192.0.2.210/24", "2001:db8::210/64"]),
    );
    second.stop();
  });

  it("reports link down/up and address changes", async () => {
    const watcher = await startAgent(a);
    await watcher.call("rtnl", { method: "watch" });
    const link = (up: boolean) => (e: AgentEvent) => e.event === "link" && e.ifname === "eth0" && e.up === up;
    await a.linkDown();
    await watcher.waitFor(link(false));
    await a.linkUp();
    await watcher.waitFor(link(true));
    // Carrier loss (the switch side goes down) is a link down too: IFF_RUNNING clears.
    await a.carrierDown(true);
    await watcher.waitFor(link(false), { count: 2 });
    await a.carrierDown(false);
    await watcher.waitFor(link(true), { count: 2 });
    await rtnl("addAddress", "eth0", "192.0.2.230/24");
    expect((await a.exec(["ip", "addr", "add", "192.0.2.231/24", "dev", "eth0"])).code).toBe(0);
    await rtnl("removeAddress", "eth0", "192.0.2.230/24");
    const addr = (cidr: string, added: boolean) => (e: AgentEvent) =>
      e.event === "address" && e.cidr === cidr && e.added === added;
    const [added] = await watcher.waitFor(addr("192.0.2.230/24", true));
    expect(added).toMatchObject({ ifname: "eth0", vipd: true });
    const [hand] = await watcher.waitFor(addr("192.0.2.231/24", true));
    expect(hand).toMatchObject({ ifname: "eth0", vipd: false });
    await watcher.waitFor(addr("192.0.2.230/24", false));
    // No duplicate link reports for one change.
    expect(watcher.events.filter((e) => e.event === "link")).toHaveLength(4);
    watcher.stop();
  });

  it("an interface re-created under the same name is found again (no stale index)", async () => {
    const mk = async () => {
      expect((await a.exec(["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"])).code).toBe(0);
      expect((await a.exec(["ip", "link", "set", "v0", "up"])).code).toBe(0);
    };
    await mk();
    await rtnl("addAddress", "v0", "198.51.100.1/24");
    expect(await rtnl("listVipdAddresses", "v0")).toEqual([{ ifname: "v0", cidr: "198.51.100.1/24" }]);
    expect((await a.exec(["ip", "link", "del", "v0"])).code).toBe(0);
    await mk();
    await rtnl("addAddress", "v0", "198.51.100.2/24");
    expect(await rtnl("listVipdAddresses", "v0")).toEqual([{ ifname: "v0", cidr: "198.51.100.2/24" }]);
    await rtnl("removeAddress", "v0", "198.51.100.2/24");
    expect(await rtnl("listVipdAddresses", "v0")).toEqual([]);
    expect((await a.exec(["ip", "link", "del", "v0"])).code).toBe(0);
  });

  it("a prepared add sends the same request (label, nodad, mark); a re-created link misses it", async () => {
    await rtnl("prepareAddress", "eth0", "192.0.2.205/24", { label: "eth0:prep" });
    await rtnl("prepareAddress", "eth0", "2001:db8::205/64");
    await rtnl("addAddress", "eth0", "192.0.2.205/24", { label: "eth0:prep" });
    await rtnl("addAddress", "eth0", "2001:db8::205/64");
    const shown = await addresses(a);
    expect(shown.find((x) => x.local === "192.0.2.205")).toMatchObject({ prefixlen: 24, label: "eth0:prep" });
    expect(shown.find((x) => x.local === "2001:db8::205")).toMatchObject({ prefixlen: 64, nodad: true });
    expect(await rtnl("listVipdAddresses", "eth0")).toEqual(
      expect.arrayContaining([
        { ifname: "eth0", cidr: "192.0.2.205/24" },
        { ifname: "eth0", cidr: "2001:db8::205/64" },
      ]),
    );
    // A prepared add lands in the caller's turn as well (the takeover's case), and adding it again is fine.
    await rtnl("prepareAddress", "eth0", "192.0.2.207/24");
    expect(await rtnl("addAddressApplied", "eth0", ["192.0.2.207/24"])).toEqual([
      { applied: true, inKernelWhenApplied: true, inKernelAfterCall: true },
    ]);
    await rtnl("addAddress", "eth0", "192.0.2.207/24");
    await rtnl("removeAddress", "eth0", "192.0.2.207/24");
    // The kernel's error reply to a prepared request comes back as for any add: a foreign address.
    expect((await a.exec(["ip", "addr", "add", "192.0.2.208/24", "dev", "eth0"])).code).toBe(0);
    await rtnl("prepareAddress", "eth0", "192.0.2.208/24");
    await expect(rtnl("addAddress", "eth0", "192.0.2.208/24")).rejects.toMatchObject({
      code: "FOREIGN_ADDRESS",
    });
    expect((await a.exec(["ip", "addr", "del", "192.0.2.208/24", "dev", "eth0"])).code).toBe(0);
    // Prepared with a label, added without one: not the prepared request (the kernel sets the default).
    await rtnl("prepareAddress", "eth0", "192.0.2.206/24", { label: "eth0:other" });
    await rtnl("addAddress", "eth0", "192.0.2.206/24");
    expect((await addresses(a)).find((x) => x.local === "192.0.2.206")?.label).toBe("eth0");
    for (const cidr of ["192.0.2.205/24", "2001:db8::205/64", "192.0.2.206/24"])
      await rtnl("removeAddress", "eth0", cidr);
    // Prepared for a link that is then re-created: the add goes to the new link.
    const mk = async () => {
      expect((await a.exec(["ip", "link", "add", "v2", "type", "veth", "peer", "name", "v3"])).code).toBe(0);
      expect((await a.exec(["ip", "link", "set", "v2", "up"])).code).toBe(0);
    };
    await mk();
    await rtnl("prepareAddress", "v2", "198.51.100.5/24");
    expect((await a.exec(["ip", "link", "del", "v2"])).code).toBe(0);
    await mk();
    await rtnl("addAddress", "v2", "198.51.100.5/24");
    expect(await rtnl("listVipdAddresses", "v2")).toEqual([{ ifname: "v2", cidr: "198.51.100.5/24" }]);
    expect((await a.exec(["ip", "link", "del", "v2"])).code).toBe(0);
    // The same checks as addAddress, before anything is sent.
    await expect(rtnl("prepareAddress", "eth0", "192.0.2.300/24")).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(
      rtnl("prepareAddress", "eth0", "2001:db8::207/64", { label: "eth0:x" }),
    ).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(rtnl("prepareAddress", "nosuch0", "192.0.2.207/24")).rejects.toMatchObject({
      code: "NO_SUCH_INTERFACE",
    });
  });

  it("typed errors: unknown interface, malformed address, label on IPv6", async () => {
    await expect(rtnl("getLink", "nosuch0")).rejects.toMatchObject({ code: "NO_SUCH_INTERFACE" });
    await expect(rtnl("addAddress", "nosuch0", "192.0.2.240/24")).rejects.toMatchObject({
      code: "NO_SUCH_INTERFACE",
    });
    await expect(rtnl("removeAddress", "nosuch0", "192.0.2.240/24")).rejects.toMatchObject({
      code: "NO_SUCH_INTERFACE",
    });
    await expect(rtnl("listVipdAddresses", "nosuch0")).rejects.toMatchObject({ code: "NO_SUCH_INTERFACE" });
    for (const bad of ["192.0.2.240", "192.0.2.240/33", "eth0", "2001:db8::zz/64", ""]) {
      await expect(rtnl("addAddress", "eth0", bad)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    }
    await expect(rtnl("addAddress", "eth0", "2001:db8::240/64", { label: "eth0:x" })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(
      rtnl("addAddress", "eth0", "192.0.2.240/24", { label: "x".repeat(16) }),
    ).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    expect(await has(a, "192.0.2.240/24")).toBe(false);
  });

  it("254 adds and then 254 removes at once all succeed (ENOBUFS, one dump at a time)", async () => {
    // Two peers with 255 VRIDs starting together do this; the kernel's answers used to overflow the
    // socket (the process aborted) and concurrent dumps failed with EBUSY.
    const cidrs = Array.from({ length: 254 }, (_, i) => `198.51.100.${i + 1}/32`);
    const added = await Promise.allSettled(cidrs.map((c) => rtnl("addAddress", "eth0", c)));
    expect(added.filter((r) => r.status === "rejected")).toEqual([]);
    const present = new Set((await addresses(a)).map((x) => `${x.local}/${x.prefixlen}`));
    expect(cidrs.filter((c) => !present.has(c))).toEqual([]);
    const removed = await Promise.allSettled(cidrs.map((c) => rtnl("removeAddress", "eth0", c)));
    expect(removed.filter((r) => r.status === "rejected")).toEqual([]);
    const left = (await addresses(a)).filter((x) => x.local.startsWith("198.51.100."));
    expect(left).toEqual([]);
  });
});
