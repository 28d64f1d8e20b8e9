// Hard failures between two vipds: the master's cable is cut, or the master is SIGKILLed. The
// backup must take the VIP within Master_Down_Interval (plus a generous bound for a loaded CI
// machine), and its gratuitous ARP must really reach the client (its neighbour entry, seeded with the
// old master's MAC, changes to the new master's MAC). Every VRRP packet on the LAN is checked by
// tshark afterwards.
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
const VIP = labVip("ipv4");
const BACKUP_PRIORITY = 100;
const web = (priority: number): VipdInstance => ({
  name: "web",
  vrid: 51,
  priority,
  advertIntervalMs: ADVERT_MS,
  virtualIps: [`${VIP}/24`],
});
const MDI = masterDownIntervalMs(ADVERT_MS, BACKUP_PRIORITY);
/** Scheduling slack allowed on top of the RFC bound (2 shared cores, tsx, tcpdump). */
const SLACK_MS = 500;

describe.runIf(labAvailable())("vipd hard failover (root, VRRPv3 IPv4 at 100 ms)", () => {
  for (const fault of ["cable cut", "SIGKILL"] as const) {
    it(`${fault} of the master: the backup takes over within Master_Down_Interval and the client learns its MAC`, async () => {
      await withLab({ hosts: ["a", "b"], client: true }, async (lab) => {
        const [a, b, client] = [lab.host("a"), lab.host("b"), lab.host("client")];
        const hosts = [a, b];
        const watch = await startClientWatch(client);
        const capture = await startVrrpCapture(client);
        try {
          const [va, vb] = await Promise.all([
            startVipd(a, { instances: [web(200)] }),
            startVipd(b, { instances: [web(BACKUP_PRIORITY)] }),
          ]);
          await va.waitForState("web", "master", { timeoutMs: 5000 });
          await sleep(5 * ADVERT_MS);
          expect([va.state("web"), vb.state("web")]).toEqual(["master", "backup"]);
          expect(await vipHolders(hosts, VIP)).toEqual(["a"]);
          expect(await seedNeighbour(client, VIP)).toBe(a.mac);

          const faultAtMs = Date.now();
          if (fault === "cable cut") await a.cableCut(true);
          else await va.kill();
          const master = await vb.waitForState("web", "master", { sinceMs: faultAtMs, timeoutMs: 5000 });
          const garp = await watch.waitFor(VIP, b.mac, { sinceMs: faultAtMs, timeoutMs: 5000 });
          expect(master.reason).toMatch(/no master|down/i);
          await pollUntil("VIP on b", async () =>
            (await vipHolders([b], VIP)).length === 1 ? true : undefined,
          );
          expect(await neighbourMac(client, VIP)).toBe(b.mac);
          // Neither fault lets a release the VIP: a cut-off master keeps serving, a killed one
          // leaves it behind (the next vipd start removes it, see vipd-orphan.test.ts).
          expect(await vipHolders(hosts, VIP)).toEqual(["a", "b"]);
          if (fault === "cable cut") expect(va.state("web")).toBe("master");

          let healMs: number | undefined;
          if (fault === "cable cut") {
            // The partition heals: b hears the higher priority and yields; a announces again, so
            // the client goes back to a's MAC.
            const healAtMs = Date.now();
            await a.cableCut(false);
            await vb.waitForState("web", "backup", { sinceMs: healAtMs, timeoutMs: 3000 });
            await pollUntil("VIP on a only", async () =>
              (await vipHolders(hosts, VIP)).join() === "a" ? true : undefined,
            );
            const back = await watch.waitFor(VIP, a.mac, { sinceMs: healAtMs, timeoutMs: 3000 });
            healMs = back.atMs - healAtMs;
            expect(await neighbourMac(client, VIP)).toBe(a.mac);
          }

          await vb.stop();
          if (fault === "cable cut") await va.stop();
          await capture.stop();
          const packets = await capture.analyze();
          expect(vrrpProblems(packets)).toEqual([]);
          const fromA = packets.filter((p) => p.src === a.ipv4);
          const fromB = packets.filter((p) => p.src === b.ipv4 && p.priority === BACKUP_PRIORITY);
          expect(fromA.length).toBeGreaterThan(3);
          expect(fromB.length).toBeGreaterThan(0);
          // b may have been master for a moment at start (the two vipds start up at their own pace).
          const firstB = Math.min(...fromB.filter((p) => p.atMs > faultAtMs).map((p) => p.atMs));
          const lastA = Math.max(...fromA.filter((p) => p.atMs < firstB).map((p) => p.atMs));
          const gap = firstB - lastA;
          console.log(
            `vipd ${fault} at ${ADVERT_MS} ms: last advert a -> first advert b ${gap.toFixed(1)} ms ` +
              `(Master_Down_Interval ${MDI.toFixed(1)} ms, takeover overhead ${(gap - MDI).toFixed(1)} ms); ` +
              `fault -> MASTER log ${master.atMs - faultAtMs} ms, fault -> first GARP at client ` +
              `${(garp.atMs - faultAtMs).toFixed(1)} ms` +
              (healMs === undefined ? "" : `; heal -> a's GARP at client ${healMs.toFixed(1)} ms`),
          );
          expect(gap).toBeGreaterThanOrEqual(MDI - 15);
          expect(gap).toBeLessThan(MDI + SLACK_MS);
          expect(garp.atMs - faultAtMs).toBeLessThan(MDI + ADVERT_MS + SLACK_MS);
        } finally {
          await watch.stop();
          await capture.stop();
          capture.remove();
        }
      });
    });
  }
});
