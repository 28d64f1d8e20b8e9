// vipd's other wire modes: unicast adverts (IPv4) and VRRPv3 over IPv6 (link-local source,
// ff02::12, unsolicited NA). Each test elects, kills the master and checks the takeover on the wire.
import { describe, expect, it } from "vitest";
import { startVrrpCapture, vrrpProblems } from "./capture.js";
import { neighbourMac, seedNeighbour, startClientWatch } from "./client-watch.js";
import { labAvailable, labVip, withLab } from "./netns.js";
import {
  masterDownIntervalMs,
  pollUntil,
  sleep,
  startVipd,
  type VipdInstance,
  vipHolders,
} from "./vipd-agent.js";

const ADVERT_MS = 100;
const MDI = masterDownIntervalMs(ADVERT_MS, 100);
const SLACK_MS = 500;

describe.runIf(labAvailable())("vipd unicast and IPv6 (root, VRRPv3 at 100 ms)", () => {
  it("unicast: adverts go to the peer's address only, and the peer takes over on SIGKILL", async () => {
    await withLab({ hosts: ["a", "b"], client: true }, async (lab) => {
      const [a, b, client] = [lab.host("a"), lab.host("b"), lab.host("client")];
      const vip = labVip("ipv4");
      const web = (priority: number, peer: string): VipdInstance => ({
        name: "web",
        vrid: 60,
        priority,
        advertIntervalMs: ADVERT_MS,
        virtualIps: [`${vip}/24`],
        unicastPeers: [peer],
      });
      const onB = await startVrrpCapture(b);
      const onClient = await startVrrpCapture(client);
      try {
        const [va, vb] = await Promise.all([
          startVipd(a, { instances: [web(200, b.ipv4)] }),
          startVipd(b, { instances: [web(100, a.ipv4)] }),
        ]);
        await va.waitForState("web", "master", { timeoutMs: 5000 });
        await sleep(5 * ADVERT_MS);
        expect(vb.state("web")).toBe("backup");
        expect(await vipHolders([a, b], vip)).toEqual(["a"]);
        expect(await seedNeighbour(client, vip)).toBe(a.mac);

        const killAtMs = Date.now();
        await va.kill();
        await vb.waitForState("web", "master", { sinceMs: killAtMs, timeoutMs: 5000 });
        await pollUntil("VIP on b", async () => ((await vipHolders([b], vip)).length ? true : undefined));
        await pollUntil("client's entry moved to b", async () =>
          (await neighbourMac(client, vip)) === b.mac ? true : undefined,
        );
        await sleep(3 * ADVERT_MS);
        await vb.stop();
        await Promise.all([onB.stop(), onClient.stop()]);

        const packets = await onB.analyze(); // b's capture holds a's adverts and b's own
        expect(vrrpProblems(packets)).toEqual([]);
        const fromA = packets.filter((p) => p.src === a.ipv4);
        const fromB = packets.filter((p) => p.src === b.ipv4 && p.atMs > killAtMs);
        expect(fromA.length).toBeGreaterThan(3);
        expect(fromB.length).toBeGreaterThan(1);
        expect(new Set(fromA.map((p) => p.dst))).toEqual(new Set([b.ipv4]));
        expect(new Set(fromB.map((p) => p.dst))).toEqual(new Set([a.ipv4]));
        // Nothing went to the multicast group: the client (not a peer) saw no VRRP at all.
        expect((await onClient.analyze()).filter((p) => p.dst === "224.0.0.18")).toEqual([]);
        const firstB = Math.min(...fromB.filter((p) => p.priority === 100).map((p) => p.atMs));
        const lastA = Math.max(...fromA.filter((p) => p.atMs < firstB).map((p) => p.atMs));
        const gap = firstB - lastA;
        console.log(
          `vipd unicast SIGKILL at ${ADVERT_MS} ms: last advert a -> first advert b ${gap.toFixed(1)} ms ` +
            `(Master_Down_Interval ${MDI.toFixed(1)} ms, overhead ${(gap - MDI).toFixed(1)} ms)`,
        );
        expect(gap).toBeGreaterThanOrEqual(MDI - 15);
        expect(gap).toBeLessThan(MDI + SLACK_MS);
      } finally {
        for (const c of [onB, onClient]) {
          await c.stop();
          c.remove();
        }
      }
    });
  });

  it("IPv6: VRRPv3 from the link-local address to ff02::12, unsolicited NA reaches the client", async () => {
    await withLab({ hosts: ["a", "b"], client: true }, async (lab) => {
      const [a, b, client] = [lab.host("a"), lab.host("b"), lab.host("client")];
      const vip = labVip("ipv6");
      const web6 = (priority: number): VipdInstance => ({
        name: "web6",
        vrid: 61,
        priority,
        advertIntervalMs: ADVERT_MS,
        version: 3,
        virtualIps: [`${vip}/64`],
      });
      const watch = await startClientWatch(client);
      const capture = await startVrrpCapture(client);
      try {
        const [va, vb] = await Promise.all([
          startVipd(a, { instances: [web6(200)] }),
          startVipd(b, { instances: [web6(100)] }),
        ]);
        await va.waitForState("web6", "master", { timeoutMs: 5000 });
        await sleep(5 * ADVERT_MS);
        expect(vb.state("web6")).toBe("backup");
        expect(await vipHolders([a, b], vip)).toEqual(["a"]);
        expect(await seedNeighbour(client, vip)).toBe(a.mac);

        const killAtMs = Date.now();
        await va.kill();
        await vb.waitForState("web6", "master", { sinceMs: killAtMs, timeoutMs: 5000 });
        const na = await watch.waitFor(vip, b.mac, { sinceMs: killAtMs, timeoutMs: 5000 });
        expect(na.type).toBe("na");
        expect(await neighbourMac(client, vip)).toBe(b.mac);
        await vb.stop();
        await capture.stop();

        const packets = await capture.analyze();
        expect(vrrpProblems(packets)).toEqual([]);
        expect(packets.every((p) => p.version === 3 && p.vrid === 61)).toBe(true);
        expect(new Set(packets.map((p) => p.src))).toEqual(new Set([a.ipv6LinkLocal, b.ipv6LinkLocal]));
        expect(new Set(packets.map((p) => p.dst))).toEqual(new Set(["ff02::12"]));
        const fromA = packets.filter((p) => p.src === a.ipv6LinkLocal);
        const fromB = packets.filter(
          (p) => p.src === b.ipv6LinkLocal && p.priority === 100 && p.atMs > killAtMs,
        );
        const firstB = Math.min(...fromB.map((p) => p.atMs));
        const lastA = Math.max(...fromA.filter((p) => p.atMs < firstB).map((p) => p.atMs));
        const gap = firstB - lastA;
        console.log(
          `vipd IPv6 SIGKILL at ${ADVERT_MS} ms: last advert a -> first advert b ${gap.toFixed(1)} ms ` +
            `(Master_Down_Interval ${MDI.toFixed(1)} ms, overhead ${(gap - MDI).toFixed(1)} ms); ` +
            `kill -> first NA at client ${(na.atMs - killAtMs).toFixed(1)} ms`,
        );
        expect(gap).toBeGreaterThanOrEqual(MDI - 15);
        expect(gap).toBeLessThan(MDI + SLACK_MS);
      } finally {
        await watch.stop();
        await capture.stop();
        capture.remove();
      }
    });
  });
});
