// vipd and Debian's keepalived as VRRPv3 IPv4 peers on one LAN, in both roles: they must elect the
// same master, and each must take over from the other (hard failure) and give the VIP back when the
// higher priority returns (preemption).
import { describe, expect, it } from "vitest";
import { startVrrpCapture, vrrpProblems } from "./capture.js";
import { neighbourMac, seedNeighbour, startClientWatch } from "./client-watch.js";
import { type KeepalivedInstance, startKeepalived } from "./keepalived.js";
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
const VRID = 51;
const VIP = labVip("ipv4");
const MDI = masterDownIntervalMs(ADVERT_MS, 100);
const SLACK_MS = 500;
const vipdWeb = (priority: number): VipdInstance => ({
  name: "VI_1",
  vrid: VRID,
  priority,
  advertIntervalMs: ADVERT_MS,
  version: 3,
  virtualIps: [`${VIP}/24`],
});
const kaWeb = (priority: number): KeepalivedInstance => ({
  name: "VI_1",
  vrid: VRID,
  priority,
  advertIntMs: ADVERT_MS,
  version: 3,
  virtualIps: [`${VIP}/24`],
});

interface Packet {
  src: string;
  priority: number | undefined;
  atMs: number;
}
/** Last advert of the old master before the new one's first, and the gap between them. */
function takeover(packets: readonly Packet[], oldSrc: string, newSrc: string, afterMs: number) {
  const firstNew = Math.min(
    ...packets.filter((p) => p.src === newSrc && p.priority === 100 && p.atMs > afterMs).map((p) => p.atMs),
  );
  const lastOld = Math.max(
    ...packets.filter((p) => p.src === oldSrc && p.atMs < firstNew).map((p) => p.atMs),
  );
  return firstNew - lastOld;
}

describe.runIf(labAvailable())("vipd and keepalived as peers (root, VRRPv3 IPv4 at 100 ms)", () => {
  it("vipd master, keepalived backup: keepalived takes over on SIGKILL, vipd takes back on return", async () => {
    await withLab({ hosts: ["a", "b"], client: true }, async (lab) => {
      const [a, b, client] = [lab.host("a"), lab.host("b"), lab.host("client")];
      const watch = await startClientWatch(client);
      const capture = await startVrrpCapture(client);
      try {
        const [va, kb] = await Promise.all([
          startVipd(a, { instances: [vipdWeb(200)] }),
          startKeepalived(b, { instances: [kaWeb(100)] }),
        ]);
        await va.waitForState("VI_1", "master", { timeoutMs: 5000 });
        await sleep(5 * ADVERT_MS);
        expect(va.state("VI_1")).toBe("master");
        expect(kb.state("VI_1")).toBe("BACKUP");
        expect(await vipHolders([a, b], VIP)).toEqual(["a"]);
        expect(await seedNeighbour(client, VIP)).toBe(a.mac);

        const killAtMs = Date.now();
        await va.kill();
        const kaMaster = await kb.waitForState("VI_1", "MASTER", { sinceMs: killAtMs, timeoutMs: 5000 });
        const garp = await watch.waitFor(VIP, b.mac, { sinceMs: killAtMs, timeoutMs: 5000 });
        expect(await neighbourMac(client, VIP)).toBe(b.mac);

        // vipd returns with the higher priority: removes its orphan VIP, then preempts keepalived.
        const backAtMs = Date.now();
        const va2 = await startVipd(a, { instances: [vipdWeb(200)] });
        await va2.waitForState("VI_1", "master", { sinceMs: backAtMs, timeoutMs: 5000 });
        await kb.waitForState("VI_1", "BACKUP", { sinceMs: backAtMs, timeoutMs: 3000 });
        await pollUntil("VIP on a only", async () =>
          (await vipHolders([a, b], VIP)).join() === "a" ? true : undefined,
        );
        await watch.waitFor(VIP, a.mac, { sinceMs: backAtMs, timeoutMs: 3000 });
        expect(await neighbourMac(client, VIP)).toBe(a.mac);

        await va2.stop();
        await kb.stop();
        await capture.stop();
        const packets = await capture.analyze();
        expect(vrrpProblems(packets)).toEqual([]);
        expect(packets.filter((p) => p.src === a.ipv4).length).toBeGreaterThan(5);
        const gap = takeover(packets, a.ipv4, b.ipv4, killAtMs);
        console.log(
          `keepalived takes over from vipd (SIGKILL) at ${ADVERT_MS} ms: last advert vipd -> first advert ` +
            `keepalived ${gap.toFixed(1)} ms (Master_Down_Interval ${MDI.toFixed(1)} ms, overhead ` +
            `${(gap - MDI).toFixed(1)} ms); kill -> MASTER log ${kaMaster.atMs - killAtMs} ms, ` +
            `kill -> GARP at client ${(garp.atMs - killAtMs).toFixed(1)} ms`,
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

  it("keepalived master, vipd backup: vipd takes over on SIGKILL, keepalived takes back on return", async () => {
    await withLab({ hosts: ["a", "b"], client: true }, async (lab) => {
      const [a, b, client] = [lab.host("a"), lab.host("b"), lab.host("client")];
      const watch = await startClientWatch(client);
      const capture = await startVrrpCapture(client);
      try {
        const [ka, vb] = await Promise.all([
          startKeepalived(a, { instances: [kaWeb(200)] }),
          startVipd(b, { instances: [vipdWeb(100)] }),
        ]);
        await ka.waitForState("VI_1", "MASTER", { timeoutMs: 5000 });
        await sleep(5 * ADVERT_MS);
        expect(ka.state("VI_1")).toBe("MASTER");
        expect(vb.state("VI_1")).toBe("backup");
        await pollUntil("VIP on a only", async () =>
          (await vipHolders([a, b], VIP)).join() === "a" ? true : undefined,
        );
        expect(await seedNeighbour(client, VIP)).toBe(a.mac);

        const killAtMs = Date.now();
        await ka.kill();
        const vMaster = await vb.waitForState("VI_1", "master", { sinceMs: killAtMs, timeoutMs: 5000 });
        const garp = await watch.waitFor(VIP, b.mac, { sinceMs: killAtMs, timeoutMs: 5000 });
        expect(await neighbourMac(client, VIP)).toBe(b.mac);

        const backAtMs = Date.now();
        const ka2 = await startKeepalived(a, { instances: [kaWeb(200)] });
        await ka2.waitForState("VI_1", "MASTER", { sinceMs: backAtMs, timeoutMs: 5000 });
        await vb.waitForState("VI_1", "backup", { sinceMs: backAtMs, timeoutMs: 3000 });
        await pollUntil("VIP off b", async () => ((await vipHolders([b], VIP)).length ? undefined : true));
        expect(await vipHolders([a], VIP)).toEqual(["a"]);

        await vb.stop();
        await ka2.stop();
        await capture.stop();
        const packets = await capture.analyze();
        expect(vrrpProblems(packets)).toEqual([]);
        expect(packets.filter((p) => p.src === b.ipv4 && p.priority === 100).length).toBeGreaterThan(3);
        const gap = takeover(packets, a.ipv4, b.ipv4, killAtMs);
        console.log(
          `vipd takes over from keepalived (SIGKILL) at ${ADVERT_MS} ms: last advert keepalived -> first ` +
            `advert vipd ${gap.toFixed(1)} ms (Master_Down_Interval ${MDI.toFixed(1)} ms, overhead ` +
            `${(gap - MDI).toFixed(1)} ms); kill -> master log ${vMaster.atMs - killAtMs} ms, ` +
            `kill -> GARP at client ${(garp.atMs - killAtMs).toFixed(1)} ms`,
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
