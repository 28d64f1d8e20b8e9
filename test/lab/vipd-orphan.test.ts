// A vipd killed with SIGKILL leaves its VIP on the interface. The next vipd started on that host
// removes it at start (it carries vipd's address mark), and leaves every address it did not add.
import { describe, expect, it } from "vitest";
import { labAvailable, labVip, withLab } from "./netns.js";
import { hostAddresses, sleep, startVipd, type VipdInstance, vipHolders } from "./vipd-agent.js";

const ADVERT_MS = 100;
const VIP = `${labVip("ipv4")}/24`;
const web = (priority: number): VipdInstance => ({
  name: "web",
  vrid: 51,
  priority,
  advertIntervalMs: ADVERT_MS,
  virtualIps: [VIP],
});

describe.runIf(labAvailable())("vipd orphan VIPs (root)", () => {
  it("a restarted vipd removes the VIP its killed predecessor left, and nothing else", async () => {
    await withLab({ hosts: ["a", "b"] }, async (lab) => {
      const [a, b] = [lab.host("a"), lab.host("b")];
      const va = await startVipd(a, { instances: [web(200)] });
      await va.waitForState("web", "master", { timeoutMs: 5000 });
      await va.waitForLog("'VIPs added'", (l) => l.msg === "VIPs added", { timeoutMs: 3000 });
      // Addresses someone else added, one of them in the VIP's subnet and one IPv6.
      const foreign = [`${labVip("ipv4", 1)}/24`, `${labVip("ipv6", 1)}/64`];
      for (const f of foreign) {
        const r = await a.exec([
          "ip",
          "addr",
          "add",
          f,
          "dev",
          "eth0",
          ...(f.includes(":") ? ["nodad"] : []),
        ]);
        expect(r.code, r.stderr).toBe(0);
      }
      const before = await hostAddresses(a);

      await va.kill();
      expect(await hostAddresses(a)).toEqual(before); // the crash left the VIP behind
      expect(before).toContain(VIP);

      // b takes over meanwhile (priority 150), so the restarted a (100) stays backup: the VIP can
      // only leave a because of the orphan cleanup.
      const vb = await startVipd(b, { instances: [web(150)] });
      await vb.waitForState("web", "master", { timeoutMs: 5000 });
      const va2 = await startVipd(a, { instances: [web(100)] });
      const removed = va2.logs().find((l) => l.msg === "removed orphan VIPs left by a previous run");
      expect(removed, "orphan cleanup log line").toBeDefined();
      console.log(`orphan cleanup at start: ${JSON.stringify(removed?.fields.removed)}`);
      expect(JSON.stringify(removed?.fields.removed)).toContain(labVip("ipv4"));
      const after = await hostAddresses(a);
      expect(after).not.toContain(VIP);
      expect(after).toEqual(before.filter((x) => x !== VIP));
      for (const f of foreign) expect(after).toContain(f);

      await sleep(10 * ADVERT_MS);
      expect(va2.transitions().map((t) => t.to)).toEqual(["backup"]);
      expect(await vipHolders([a, b], VIP)).toEqual(["b"]);

      // A clean restart finds nothing to remove.
      expect(await va2.stop()).toBe(0);
      const va3 = await startVipd(a, { instances: [web(100)] });
      expect(va3.logs().some((l) => l.msg.startsWith("removed orphan VIPs"))).toBe(false);
      for (const f of foreign) expect(await hostAddresses(a)).toContain(f);
    });
  });
});
