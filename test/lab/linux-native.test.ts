// The native addon against a real kernel: VRRP datagrams between two lab hosts (IPv4 and IPv6,
// multicast and unicast), AF_PACKET announcements seen by the peer, and typed errors.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeAdvert, encodeAdvert } from "../../src/codec/advert.js";
import { buildGratuitousArp, buildUnsolicitedNa } from "../../src/codec/frames.js";
import { parseMac } from "../../src/codec/mac.js";
import type { Family } from "../../src/core/types.js";
import { neighbourMac } from "./client-watch.js";
import { ADDON, type AgentEvent, ensureAddon, type IoAgent, startAgent } from "./linux-io-harness.js";
import { createLab, type Lab, type LabHost, labAvailable, labPing } from "./netns.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function advert(family: Family, src: string, dst: string, vrid: number, priority = 100): string {
  const bytes = encodeAdvert(
    {
      version: 3,
      vrid,
      priority,
      maxAdverIntCs: 100,
      addresses: [family === "ipv4" ? "192.0.2.200" : "2001:db8::200"],
    },
    { family, src, dst, checksumForm: "pseudo-header" },
  );
  return Buffer.from(bytes).toString("hex");
}

function datagramsOf(handle: number) {
  return (e: AgentEvent) => e.event === "datagram" && e.handle === handle;
}

describe.runIf(labAvailable())("native VRRP sockets, AF_PACKET and errors (netns lab)", () => {
  let lab: Lab;
  let a: LabHost;
  let b: LabHost;
  let agentA: IoAgent;
  let agentB: IoAgent;

  beforeAll(async () => {
    ensureAddon();
    lab = await createLab({ hosts: ["a", "b"] });
    a = lab.host("a");
    b = lab.host("b");
    [agentA, agentB] = await Promise.all([startAgent(a), startAgent(b)]);
  });

  afterAll(async () => {
    agentA?.stop();
    agentB?.stop();
    await lab?.destroy();
  });

  async function pair(
    family: Family,
    multicast: boolean,
    kernelAbsorb = true,
  ): Promise<{ ha: number; hb: number; ifindexB: number; kernelAbsorbError: string }> {
    const ra = await agentA.call<{ handle: number }>("openVrrp", { family, ifname: "eth0", multicast });
    const rb = await agentB.call<{ handle: number; ifindex: number; kernelAbsorbError: string }>("openVrrp", {
      family,
      ifname: "eth0",
      multicast,
      kernelAbsorb,
    });
    return { ha: ra.handle, hb: rb.handle, ifindexB: rb.ifindex, kernelAbsorbError: rb.kernelAbsorbError };
  }

  const cases: { name: string; family: Family; multicast: boolean; src: () => string; dst: () => string }[] =
    [
      { name: "IPv4 multicast", family: "ipv4", multicast: true, src: () => a.ipv4, dst: () => "224.0.0.18" },
      {
        name: "IPv6 multicast, link-local source",
        family: "ipv6",
        multicast: true,
        src: () => a.ipv6LinkLocal,
        dst: () => "ff02::12",
      },
      { name: "IPv4 unicast", family: "ipv4", multicast: false, src: () => a.ipv4, dst: () => b.ipv4 },
      {
        name: "IPv6 unicast, link-local to link-local",
        family: "ipv6",
        multicast: false,
        src: () => a.ipv6LinkLocal,
        dst: () => b.ipv6LinkLocal,
      },
      {
        name: "IPv6 unicast, global addresses",
        family: "ipv6",
        multicast: false,
        src: () => a.ipv6,
        dst: () => b.ipv6,
      },
    ];

  for (const c of cases) {
    it(`${c.name}: arrives with TTL 255, right src/dst/ifindex, decodes; no loopback to the sender`, async () => {
      const { ha, hb, ifindexB } = await pair(c.family, c.multicast);
      const payload = advert(c.family, c.src(), c.dst(), 7);
      await agentA.call("send", { handle: ha, payload, dst: c.dst(), src: c.src() });
      const [d] = await agentB.waitFor(datagramsOf(hb));
      expect(d).toMatchObject({ src: c.src(), dst: c.dst(), ttl: 255, ifindex: ifindexB, payload });
      const decoded = decodeAdvert(Buffer.from(String(d?.payload), "hex"), {
        family: c.family,
        src: c.src(),
        dst: c.dst(),
        ttl: Number(d?.ttl),
      });
      expect(decoded.type).toBe("ok");
      await sleep(100);
      expect(agentA.events.filter(datagramsOf(ha))).toEqual([]);
      await agentA.call("close", { handle: ha });
      await agentB.call("close", { handle: hb });
    });
  }

  it("IPv4: the given source (unicast_src_ip) is used, not the primary address", async () => {
    expect((await a.exec(["ip", "addr", "add", "192.0.2.201/24", "dev", "eth0"])).code).toBe(0);
    const { ha, hb } = await pair("ipv4", false);
    const payload = advert("ipv4", "192.0.2.201", b.ipv4, 8);
    await agentA.call("send", { handle: ha, payload, dst: b.ipv4, src: "192.0.2.201" });
    const [d] = await agentB.waitFor(datagramsOf(hb));
    expect(d).toMatchObject({ src: "192.0.2.201", dst: b.ipv4, ttl: 255 });
    await agentA.call("send", { handle: ha, payload, dst: b.ipv4 });
    const [, d2] = await agentB.waitFor(datagramsOf(hb), { count: 2 });
    expect(d2).toMatchObject({ src: a.ipv4 }); // without a source, the kernel picks the primary
    await agentA.call("close", { handle: ha });
    await agentB.call("close", { handle: hb });
  });

  it("sockets opened while the link is down work once it is up again (multicast joins survive a flap)", async () => {
    await b.linkDown();
    let h4 = 0;
    let h6 = 0;
    try {
      h4 = (
        await agentB.call<{ handle: number }>("openVrrp", { family: "ipv4", ifname: "eth0", multicast: true })
      ).handle;
      h6 = (
        await agentB.call<{ handle: number }>("openVrrp", { family: "ipv6", ifname: "eth0", multicast: true })
      ).handle;
    } finally {
      await b.linkUp();
    }
    const s4 = (
      await agentA.call<{ handle: number }>("openVrrp", { family: "ipv4", ifname: "eth0", multicast: true })
    ).handle;
    const s6 = (
      await agentA.call<{ handle: number }>("openVrrp", { family: "ipv6", ifname: "eth0", multicast: true })
    ).handle;
    // Bounded retries: right after link up the bridge port may still be settling.
    for (let i = 0; i < 20 && agentB.events.filter(datagramsOf(h4)).length === 0; i++) {
      await agentA.call("send", {
        handle: s4,
        payload: advert("ipv4", a.ipv4, "224.0.0.18", 9),
        dst: "224.0.0.18",
      });
      await sleep(100);
    }
    for (let i = 0; i < 20 && agentB.events.filter(datagramsOf(h6)).length === 0; i++) {
      const payload = advert("ipv6", a.ipv6LinkLocal, "ff02::12", 9);
      await agentA.call("send", { handle: s6, payload, dst: "ff02::12", src: a.ipv6LinkLocal });
      await sleep(100);
    }
    expect((await agentB.waitFor(datagramsOf(h4)))[0]).toMatchObject({ src: a.ipv4, ttl: 255 });
    expect((await agentB.waitFor(datagramsOf(h6)))[0]).toMatchObject({ src: a.ipv6LinkLocal, ttl: 255 });
    await agentA.call("close", { handle: s4 });
    await agentA.call("close", { handle: s6 });
    await agentB.call("close", { handle: h4 });
    await agentB.call("close", { handle: h6 });
  });

  it("each datagram is its own buffer: several received ones keep their own contents", async () => {
    const { ha, hb } = await pair("ipv4", true);
    const sent: string[] = [];
    for (let vrid = 1; vrid <= 8; vrid++) {
      const payload = advert("ipv4", a.ipv4, "224.0.0.18", vrid, 100 + vrid);
      sent.push(payload);
      await agentA.call("send", { handle: ha, payload, dst: "224.0.0.18" });
    }
    const got = await agentB.waitFor(datagramsOf(hb), { count: 8 });
    expect(got.map((d) => d.payload)).toEqual(sent);
    expect(new Set(got.map((d) => d.payload)).size).toBe(8);
    const kept = await agentB.call<{ count: number; unchanged: boolean; overlap: boolean }>("kept", {
      handle: hb,
    });
    expect(kept).toEqual({ count: 8, unchanged: true, overlap: false });
    await agentA.call("close", { handle: ha });
    await agentB.call("close", { handle: hb });
  });

  it.each(["ipv4", "ipv6"] as const)(
    "%s: a stalled reader's drain() hands over the queued datagrams at once, each stamped with its kernel arrival",
    async (family) => {
      const { ha, hb } = await pair(family, true);
      const src = family === "ipv4" ? a.ipv4 : a.ipv6LinkLocal;
      const dst = family === "ipv4" ? "224.0.0.18" : "ff02::12";
      const stall = agentB.call<{ stallStartMs: number; stallEndMs: number; drained: number }>(
        "stallThenDrain",
        {
          handle: hb,
          ms: 600,
        },
      );
      await sleep(150); // b is now inside its stall
      for (let vrid = 1; vrid <= 3; vrid++) {
        await agentA.call("send", {
          handle: ha,
          payload: advert(family, src, dst, vrid),
          dst,
          src,
        });
      }
      const r = await stall;
      expect(r.drained).toBe(3);
      const got = await agentB.waitFor(datagramsOf(hb), { count: 3 });
      for (const d of got) {
        const rx = d.rxMs as number;
        const read = d.readMs as number;
        // Arrived during the stall (the sends began 150 ms into a 600 ms stall) and read after it.
        expect(rx).toBeGreaterThan(r.stallStartMs);
        expect(rx).toBeLessThan(r.stallEndMs - 100);
        expect(read).toBeGreaterThanOrEqual(r.stallEndMs);
      }
      await agentA.call("close", { handle: ha });
      await agentB.call("close", { handle: hb });
    },
  );

  // The addon reads 16 datagrams per recvmmsg, at most 64 per readiness event, into 64 KiB of
  // payload space shared with JavaScript. A stalled reader makes the kernel queue pile up, so one
  // drain() meets each of those limits.
  async function stalledBatch(payloads: string[], stallMs: number) {
    const { ha, hb } = await pair("ipv4", true);
    const stall = agentB.call<{ drained: number }>("stallThenDrain", { handle: hb, ms: stallMs });
    await sleep(150); // b is now inside its stall
    for (const payload of payloads) await agentA.call("send", { handle: ha, payload, dst: "224.0.0.18" });
    const r = await stall;
    const got = await agentB.waitFor(datagramsOf(hb), { count: payloads.length, timeoutMs: 5000 });
    const kept = await agentB.call<{ count: number; unchanged: boolean; overlap: boolean }>("kept", {
      handle: hb,
    });
    await agentA.call("close", { handle: ha });
    await agentB.call("close", { handle: hb });
    return { drained: r.drained, got, kept };
  }

  it("a queue longer than one recvmmsg: drain() hands over all 40, in order, each its own buffer", async () => {
    const sent = Array.from({ length: 40 }, (_, i) => advert("ipv4", a.ipv4, "224.0.0.18", i + 1, 100 + i));
    const r = await stalledBatch(sent, 1500);
    expect(r.drained).toBe(40);
    expect(r.got.map((d) => d.payload)).toEqual(sent);
    expect(r.got.every((d) => d.src === a.ipv4 && d.dst === "224.0.0.18" && d.ttl === 255)).toBe(true);
    expect(r.kept).toEqual({ count: 40, unchanged: true, overlap: false });
  });

  it("more payload than the shared space (30 × 3000 bytes): handed over in parts, nothing lost or mixed", async () => {
    // Not VRRP messages: any bytes reach the socket; each starts with its index.
    const sent = Array.from({ length: 30 }, (_, i) =>
      Buffer.alloc(3000, i + 1)
        .fill(i, 0, 1)
        .toString("hex"),
    );
    const r = await stalledBatch(sent, 1500);
    expect(r.drained).toBe(30);
    expect(r.got.map((d) => d.payload)).toEqual(sent);
    expect(r.kept).toEqual({ count: 30, unchanged: true, overlap: false });
  });

  it("more sources in one queue than the address-text cache holds (24 > 16): each datagram keeps its own", async () => {
    const sources = Array.from({ length: 24 }, (_, i) => `198.51.100.${150 + i}`);
    try {
      for (const s of sources) {
        const r = await a.exec(["ip", "addr", "add", `${s}/32`, "dev", "eth0"]);
        expect(r.code).toBe(0);
      }
      const { ha, hb } = await pair("ipv4", true);
      const stall = agentB.call<{ drained: number }>("stallThenDrain", { handle: hb, ms: 1500 });
      await sleep(150);
      for (const [i, src] of sources.entries())
        await agentA.call("send", {
          handle: ha,
          payload: advert("ipv4", src, "224.0.0.18", i + 1),
          dst: "224.0.0.18",
          src,
        });
      expect((await stall).drained).toBe(24);
      const got = await agentB.waitFor(datagramsOf(hb), { count: 24 });
      expect(got.map((d) => d.src)).toEqual(sources);
      expect(got.every((d) => d.dst === "224.0.0.18")).toBe(true);
      await agentA.call("close", { handle: ha });
      await agentB.call("close", { handle: hb });
    } finally {
      for (const s of sources) await a.exec(["ip", "addr", "del", `${s}/32`, "dev", "eth0"]);
    }
  });

  it("more than 64 queued: drain() hands over 64, the next readiness events the rest", async () => {
    const sent = Array.from({ length: 80 }, (_, i) =>
      advert("ipv4", a.ipv4, "224.0.0.18", (i % 255) + 1, 1 + (i % 254)),
    );
    const r = await stalledBatch(sent, 2500);
    expect(r.drained).toBe(64);
    expect(r.got.map((d) => d.payload)).toEqual(sent);
  });

  // absorb(): a backup's socket counts its master's repeats without waking JavaScript.
  // With the kernel filter (as root it loads) and without it (the addon absorbs after reading).
  for (const c of cases.filter((x) => x.multicast || x.name === "IPv4 unicast"))
    for (const kernel of [true, false])
      it(`${c.name}: absorb() counts exact repeats (${kernel ? "in the kernel: they are never read" : "kernel filter off: in the addon"}); another datagram for the VRID is delivered and ends it; release() too`, async () => {
        const { ha, hb, kernelAbsorbError } = await pair(c.family, c.multicast, kernel);
        if (kernel) expect(kernelAbsorbError).toBe("");
        else expect(kernelAbsorbError).toMatch(/turned off/);
        const send = (payload: string) =>
          agentA.call("send", { handle: ha, payload, dst: c.dst(), src: c.src() });
        const absorbed = () =>
          agentB.call<{ count: number; lastMs: number; nowMs: number; read: number }>("absorbed", {
            handle: hb,
            vrid: 9,
          });
        const delivered = () => agentB.events.filter(datagramsOf(hb)).map((e) => String(e.payload));
        const x = advert(c.family, c.src(), c.dst(), 9, 200);
        const resign = advert(c.family, c.src(), c.dst(), 9, 0);
        const other = advert(c.family, c.src(), c.dst(), 10, 200);

        await agentB.call("absorbNext", { handle: hb, vrid: 9 });
        await send(x);
        const [armed] = await agentB.waitFor((e) => e.event === "absorbArmed" && e.handle === hb);
        expect(armed).toMatchObject({ vrid: 9, ok: true });
        const base = await absorbed();
        const sentAfter = base.nowMs;
        for (let i = 0; i < 5; i++) await send(x);
        await send(other); // another VRID: delivered, and the absorbing of 9 goes on
        await agentB.waitFor((e) => datagramsOf(hb)(e) && e.payload === other);
        await send(x);
        await sleep(100);
        const after = await absorbed();
        expect(after.count - base.count).toBe(6);
        // the kernel keeps the repeats: only `other` is read; the addon reads all 7
        expect(after.read - base.read).toBe(kernel ? 1 : 7);
        expect(after.lastMs).toBeGreaterThan(sentAfter);
        expect(after.lastMs).toBeLessThanOrEqual(after.nowMs);
        expect(delivered()).toEqual([x, other]);

        // A different datagram for VRID 9 is delivered, and so is every later one, repeats included.
        await send(resign);
        await send(x);
        await agentB.waitFor(datagramsOf(hb), { count: 4 });
        expect(delivered()).toEqual([x, other, resign, x]);
        expect((await absorbed()).count).toBe(after.count);

        // Armed again, then released: delivered.
        await agentB.call("absorbNext", { handle: hb, vrid: 9 });
        await send(x);
        await agentB.waitFor((e) => e.event === "absorbArmed" && e.handle === hb, { count: 2 });
        await send(x);
        await sleep(100);
        expect((await absorbed()).count).toBe(after.count + 1);
        await agentB.call("release", { handle: hb, vrid: 9 });
        await send(x);
        await agentB.waitFor(datagramsOf(hb), { count: 6 });
        expect(delivered()).toEqual([x, other, resign, x, x, x]);
        await agentA.call("close", { handle: ha });
        await agentB.call("close", { handle: hb });
      });

  // The kernel filter sees a datagram when it is queued, the addon when it reads it: what was
  // queued before the arming must still come first.
  for (const c of cases.filter((x) => x.multicast)) {
    it(`${c.name}: datagrams queued while absorb() was being armed keep their order; the kernel takes over once they are read`, async () => {
      const { ha, hb } = await pair(c.family, c.multicast);
      const send = (payload: string) =>
        agentA.call("send", { handle: ha, payload, dst: c.dst(), src: c.src() });
      const absorbed = () =>
        agentB.call<{ count: number; read: number }>("absorbed", { handle: hb, vrid: 9 });
      const delivered = () => agentB.events.filter(datagramsOf(hb)).map((e) => String(e.payload));
      const x = advert(c.family, c.src(), c.dst(), 9, 200);
      const y = advert(c.family, c.src(), c.dst(), 9, 150);

      // 1. A repeat queued behind the arming: the addon absorbs it when it reads it, and from
      //    then on the kernel absorbs the rest.
      await agentB.call("absorbNext", { handle: hb, vrid: 9, stallMs: 400 });
      await send(x);
      await agentB.waitFor((e) => datagramsOf(hb)(e) && e.payload === x);
      await sleep(50);
      await send(x); // while B is busy before arming: queued
      await agentB.waitFor((e) => e.event === "absorbArmed" && e.handle === hb);
      await sleep(50);
      const base = await absorbed();
      for (let i = 0; i < 3; i++) await send(x);
      await sleep(100);
      const later = await absorbed();
      expect(later.count - base.count).toBe(3);
      expect(later.read).toBe(base.read);
      expect(delivered()).toEqual([x]);

      // 2. Another datagram queued before the arming, then repeats that reach the armed kernel
      //    before the addon has read it: it is delivered, and so are they (the kernel must not
      //    count them ahead of it).
      await agentB.call("release", { handle: hb, vrid: 9 });
      await agentB.call("absorbNext", { handle: hb, vrid: 9, stallMs: 300, stallAfterMs: 400 });
      await send(x);
      await agentB.waitFor(datagramsOf(hb), { count: 2 });
      await sleep(50);
      await send(y); // queued while B is busy before arming
      await sleep(400);
      for (let i = 0; i < 3; i++) await send(x); // while B is busy after arming
      await agentB.waitFor(datagramsOf(hb), { count: 6 });
      expect(delivered()).toEqual([x, x, y, x, x, x]);
      expect((await absorbed()).count).toBe(later.count);
      await agentA.call("close", { handle: ha });
      await agentB.call("close", { handle: hb });
    });
  }

  it("absorb(): a datagram from another source with the same bytes is delivered; bad arguments are TypeErrors", async () => {
    const { ha, hb } = await pair("ipv4", true);
    const extra = "198.51.100.99";
    try {
      expect((await a.exec(["ip", "addr", "add", `${extra}/32`, "dev", "eth0"])).code).toBe(0);
      const x = advert("ipv4", a.ipv4, "224.0.0.18", 11, 200);
      await agentB.call("absorbNext", { handle: hb, vrid: 11 });
      await agentA.call("send", { handle: ha, payload: x, dst: "224.0.0.18", src: a.ipv4 });
      await agentB.waitFor((e) => e.event === "absorbArmed" && e.handle === hb);
      // the same payload bytes from another address: not a repeat
      await agentA.call("send", { handle: ha, payload: x, dst: "224.0.0.18", src: extra });
      const got = await agentB.waitFor(datagramsOf(hb), { count: 2 });
      expect(got.map((d) => d.src)).toEqual([a.ipv4, extra]);

      await expect(
        agentB.call("absorbRaw", { handle: hb, vrid: 12, payload: x, src: a.ipv4, dst: "224.0.0.18" }),
      ).rejects.toThrow(/TypeError: absorb: the VRID must be the payload's second byte/);
      await expect(
        agentB.call("absorbRaw", { handle: hb, vrid: 11, payload: x, src: "2001:db8::1", dst: "224.0.0.18" }),
      ).rejects.toThrow(/TypeError: absorb: source and destination must be addresses of the socket's family/);
      // longer than 256 bytes: not armed
      const long = `0b0b${"00".repeat(300)}`;
      expect(
        await agentB.call("absorbRaw", {
          handle: hb,
          vrid: 11,
          payload: long,
          src: a.ipv4,
          dst: "224.0.0.18",
        }),
      ).toBe(false);
    } finally {
      await a.exec(["ip", "addr", "del", `${extra}/32`, "dev", "eth0"]);
      await agentA.call("close", { handle: ha });
      await agentB.call("close", { handle: hb });
    }
  });

  it("close() inside the datagram callback stops delivery cleanly; close is idempotent", async () => {
    const ra = await agentA.call<{ handle: number }>("openVrrp", {
      family: "ipv4",
      ifname: "eth0",
      multicast: true,
    });
    const rb = await agentB.call<{ handle: number }>("openVrrp", {
      family: "ipv4",
      ifname: "eth0",
      multicast: true,
      closeOnFirst: true,
    });
    for (let vrid = 1; vrid <= 5; vrid++) {
      await agentA.call("send", {
        handle: ra.handle,
        payload: advert("ipv4", a.ipv4, "224.0.0.18", vrid),
        dst: "224.0.0.18",
      });
    }
    await agentB.waitFor(datagramsOf(rb.handle));
    await sleep(200);
    expect(agentB.events.filter(datagramsOf(rb.handle))).toHaveLength(1);
    await agentB.call("close", { handle: rb.handle }); // second close: no error
    const err = await agentB.call("send", { handle: rb.handle, payload: "00", dst: "224.0.0.18" }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "OS_ERROR", errno: 9 }); // EBADF: closed
    await agentA.call("close", { handle: ra.handle });
  });

  it("AF_PACKET: a gratuitous ARP from a updates b’s neighbour entry", async () => {
    const vip = "192.0.2.202";
    expect((await a.exec(["ip", "addr", "add", `${vip}/24`, "dev", "eth0"])).code).toBe(0);
    expect(await labPing(b, vip)).toBe(true);
    expect(await neighbourMac(b, vip)).toBe(a.mac);
    const vmac = "00:00:5e:00:01:07";
    const frame = Buffer.from(buildGratuitousArp({ srcMac: parseMac(vmac)!, ip: vip })).toString("hex");
    const { handle } = await agentA.call<{ handle: number }>("openPacket", { ifname: "eth0" });
    // The kernel ignores ARP updates younger than neigh locktime (1 s by default): retry for a while.
    let mac: string | null = null;
    for (let i = 0; i < 30 && mac !== vmac; i++) {
      await agentA.call("sendFrame", { handle, frame });
      await sleep(150);
      mac = await neighbourMac(b, vip);
    }
    expect(mac).toBe(vmac);
    await agentA.call("close", { handle });
  });

  it("AF_PACKET: an unsolicited NA from a updates b’s IPv6 neighbour entry", async () => {
    expect(await labPing(b, a.ipv6)).toBe(true);
    expect(await neighbourMac(b, a.ipv6)).toBe(a.mac);
    const vmac = "00:00:5e:00:02:07";
    const frame = Buffer.from(
      buildUnsolicitedNa({ srcMac: parseMac(vmac)!, srcIp: a.ipv6LinkLocal, target: a.ipv6, router: false }),
    ).toString("hex");
    const { handle } = await agentA.call<{ handle: number }>("openPacket", { ifname: "eth0" });
    let mac: string | null = null;
    for (let i = 0; i < 30 && mac !== vmac; i++) {
      await agentA.call("sendFrame", { handle, frame });
      await sleep(150);
      mac = await neighbourMac(b, a.ipv6);
    }
    expect(mac).toBe(vmac);
    await agentA.call("close", { handle });
  });

  it("unknown interface → NO_SUCH_INTERFACE (VRRP and packet sockets)", async () => {
    for (const family of ["ipv4", "ipv6"]) {
      await expect(
        agentA.call("openVrrp", { family, ifname: "nosuch0", multicast: true }),
      ).rejects.toMatchObject({
        code: "NO_SUCH_INTERFACE",
      });
    }
    await expect(agentA.call("openPacket", { ifname: "nosuch0" })).rejects.toMatchObject({
      code: "NO_SUCH_INTERFACE",
    });
    await expect(agentA.call("openPacket", { ifname: "x".repeat(40) })).rejects.toMatchObject({
      code: "NO_SUCH_INTERFACE",
    });
  });

  it("bad arguments are TypeErrors naming the problem", async () => {
    const { handle } = await agentA.call<{ handle: number }>("openVrrp", {
      family: "ipv4",
      ifname: "eth0",
      multicast: false,
    });
    await expect(agentA.call("send", { handle, payload: "00", dst: "not-an-ip" })).rejects.toThrow(
      /TypeError: send: not an IPv4 destination: not-an-ip/,
    );
    await expect(
      agentA.call("send", { handle, payload: "00", dst: b.ipv4, src: "2001:db8::1" }),
    ).rejects.toThrow(/not an IPv4 source/);
    await expect(agentA.call("sendFrame", { handle: 999, frame: "00" })).rejects.toThrow(/no such socket/);
    const p = await agentA.call<{ handle: number }>("openPacket", { ifname: "eth0" });
    await expect(agentA.call("sendFrame", { handle: p.handle, frame: "0011" })).rejects.toThrow(
      /at least 14 bytes/,
    );
    await agentA.call("close", { handle });
    await agentA.call("close", { handle: p.handle });
  });

  it("with CAP_NET_RAW but not CAP_BPF (nobody): the socket opens and says why the kernel does not absorb; bad options are TypeErrors", () => {
    const script = `
      const m = require(${JSON.stringify(ADDON)});
      const out = {};
      const s = new m.VrrpSocket(4, 'eth0', false, () => {}, () => {});
      out.why = s.kernelAbsorbError;
      s.close();
      try {
        new m.VrrpSocket(4, 'eth0', false, () => {}, () => {}, { kernelAbsorb: 1 });
        out.bad = 'opened';
      } catch (e) { out.bad = e.name + ': ' + e.message; }
      console.log(JSON.stringify(out));`;
    const out = execFileSync(
      "ip",
      ["netns", "exec", a.ns, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"].concat([
        "--inh-caps=+net_raw",
        "--ambient-caps=+net_raw",
        process.execPath,
        "-e",
        script,
      ]),
      { encoding: "utf8", timeout: 10_000 },
    );
    const r = JSON.parse(out) as { why: string; bad: string };
    // (a kernel that lets anyone load socket filters would load it: only the reason's form is checked then)
    const unprivileged = readFileSync("/proc/sys/kernel/unprivileged_bpf_disabled", "utf8");
    if (unprivileged.trim() !== "0") expect(r.why).toMatch(/^bpf\(BPF_MAP_CREATE\): Operation not permitted/);
    else expect(typeof r.why).toBe("string");
    expect(r.bad).toMatch(/^TypeError: VrrpSocket: options must be \{ kernelAbsorb\?: boolean \}/);
  });

  it("without CAP_NET_RAW → NEEDS_CAP_NET_RAW (run as nobody)", () => {
    const script = `
      const m = require(${JSON.stringify(ADDON)});
      const out = [];
      for (const make of [() => new m.VrrpSocket(4, 'lo', false, () => {}, () => {}), () => new m.PacketSocket('lo')]) {
        try { make(); out.push('opened'); } catch (e) { out.push(e.vipdCode + ' ' + e.message); }
      }
      console.log(JSON.stringify(out));`;
    const out = execFileSync(
      "setpriv",
      ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e", script],
      {
        encoding: "utf8",
        timeout: 10_000,
      },
    );
    const results = JSON.parse(out) as string[];
    expect(results).toHaveLength(2);
    for (const r of results) expect(r).toMatch(/^NEEDS_CAP_NET_RAW .*needs CAP_NET_RAW/);
  });
});
