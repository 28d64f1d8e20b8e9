// keepalived against keepalived in the lab: proves the harness pieces (netns, keepalived peer,
// client watch, capture) on a known-good VRRP implementation before vipd uses them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startVrrpCapture, type VrrpCapture, vrrpProblems } from "./capture.js";
import { type ClientWatch, neighbourMac, seedNeighbour, startClientWatch } from "./client-watch.js";
import { type KeepalivedInstance, startKeepalived } from "./keepalived.js";
import { createLab, type Lab, labAvailable, labVip } from "./netns.js";

const ADVERT_MS = 100;
const instance = (priority: number): KeepalivedInstance => ({
  name: "VI_1",
  vrid: 51,
  priority,
  advertIntMs: ADVERT_MS,
  version: 3,
  virtualIps: [`${labVip("ipv4")}/24`],
});
// RFC 9568: Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time,
// Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256, Priority of the backup.
const masterDownMs = (backupPriority: number) => 3 * ADVERT_MS + ((256 - backupPriority) * ADVERT_MS) / 256;

async function holdsVip(lab: Lab, host: string, vip: string): Promise<boolean> {
  const r = await lab.host(host).exec(["ip", "-br", "-4", "addr", "show", "dev", "eth0"]);
  return r.stdout.split(/\s+/).includes(`${vip}/24`);
}

describe.runIf(labAvailable())("keepalived vs keepalived, VRRPv3 IPv4 at 100 ms (root)", () => {
  let lab: Lab;
  let watch: ClientWatch;
  let capture: VrrpCapture;
  beforeAll(async () => {
    lab = await createLab({ hosts: ["a", "b"], client: true });
    watch = await startClientWatch(lab.host("client"));
    capture = await startVrrpCapture(lab.host("client"));
  });
  afterAll(async () => {
    capture?.remove();
    await lab?.destroy();
  });

  it("elects the higher priority, fails over on SIGKILL, and the client learns the new MAC", async () => {
    const vip = labVip("ipv4");
    const [a, b, client] = [lab.host("a"), lab.host("b"), lab.host("client")];
    const [ka, kb] = await Promise.all([
      startKeepalived(a, { instances: [instance(200)] }),
      startKeepalived(b, { instances: [instance(100)] }),
    ]);
    await ka.waitForState("VI_1", "MASTER", { timeoutMs: 5000 });
    // Let b hear a few adverts from a so that it is settled as backup (it may have been master
    // for a moment if a's keepalived started late: the higher priority preempts).
    await new Promise((r) => setTimeout(r, 5 * ADVERT_MS));
    expect(ka.state("VI_1")).toBe("MASTER");
    expect(kb.state("VI_1")).toBe("BACKUP");
    expect([await holdsVip(lab, "a", vip), await holdsVip(lab, "b", vip)]).toEqual([true, false]);

    expect(await seedNeighbour(client, vip)).toBe(a.mac);

    const killedAtMs = Date.now();
    await ka.kill();
    const master = await kb.waitForState("VI_1", "MASTER", { sinceMs: killedAtMs, timeoutMs: 5000 });
    const garp = await watch.waitFor(vip, b.mac, { sinceMs: killedAtMs, timeoutMs: 5000 });
    expect(await holdsVip(lab, "b", vip)).toBe(true);
    // keepalived killed by SIGKILL leaves its VIP behind on a (a duplicate address on the LAN).
    expect(await holdsVip(lab, "a", vip)).toBe(true);
    expect(await neighbourMac(client, vip)).toBe(b.mac);

    await kb.stop();
    await capture.stop();
    const packets = await capture.analyze();
    const fromA = packets.filter((p) => p.src === a.ipv4);
    const fromB = packets.filter((p) => p.src === b.ipv4);
    expect(fromA.length).toBeGreaterThan(3);
    expect(fromB.length).toBeGreaterThan(0);
    expect(vrrpProblems(packets)).toEqual([]);
    // The cleanest takeover measure: last advert of the old master -> first advert of the new one.
    const lastA = Math.max(...fromA.map((p) => p.atMs));
    const firstB = Math.min(...fromB.filter((p) => p.atMs > lastA && p.priority === 100).map((p) => p.atMs));
    const bound = masterDownMs(100);
    const gap = firstB - lastA;
    console.log(
      `keepalived takeover at ${ADVERT_MS} ms: kill -> MASTER log ${(master.atMs - killedAtMs).toFixed(1)} ms, ` +
        `kill -> first GARP at client ${(garp.atMs - killedAtMs).toFixed(1)} ms, ` +
        `last advert a -> first advert b ${gap.toFixed(1)} ms (Master_Down_Interval ${bound.toFixed(1)} ms, ` +
        `overhead ${(gap - bound).toFixed(1)} ms)`,
    );
    expect(gap).toBeGreaterThanOrEqual(bound - 15);
    expect(gap).toBeLessThan(bound + 500);
    expect(garp.atMs - killedAtMs).toBeLessThan(bound + 1000);
  });
});
