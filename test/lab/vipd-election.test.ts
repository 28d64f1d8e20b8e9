// vipd against vipd in the lab: who wins the election, and the VIP is on exactly one host.
import { describe, expect, it } from "vitest";
import { labAvailable, labVip, withLab } from "./netns.js";
import { pollUntil, sleep, startVipd, type VipdAgent, type VipdInstance, vipHolders } from "./vipd-agent.js";

const ADVERT_MS = 50;
const VIP = labVip("ipv4");
const web = (priority: number): VipdInstance => ({
  name: "web",
  vrid: 51,
  priority,
  advertIntervalMs: ADVERT_MS,
  virtualIps: [`${VIP}/24`],
});

/** Waits until exactly one of the agents is master and stays so for 10 adverts; returns its index. */
async function settledMaster(agents: VipdAgent[]): Promise<number> {
  await Promise.any(agents.map((a) => a.waitForState("web", "master", { timeoutMs: 5000 })));
  await sleep(10 * ADVERT_MS);
  const states = agents.map((a) => a.state("web"));
  expect(
    states.filter((s) => s === "master"),
    `states ${states.join(", ")}`,
  ).toHaveLength(1);
  expect(states.filter((s) => s === "backup")).toHaveLength(agents.length - 1);
  return states.indexOf("master");
}

describe.runIf(labAvailable())("vipd election (root, VRRPv3 IPv4 at 50 ms)", () => {
  it("elects the highest priority, whatever the addresses; the VIP is on that host only", async () => {
    await withLab({ hosts: ["a", "b", "c"] }, async (lab) => {
      const hosts = ["a", "b", "c"].map((n) => lab.host(n));
      // a has the lowest address and the highest priority: priority must win over address.
      const agents = await Promise.all([
        startVipd(hosts[0]!, { instances: [web(200)] }),
        startVipd(hosts[1]!, { instances: [web(100)] }),
        startVipd(hosts[2]!, { instances: [web(150)] }),
      ]);
      expect(await settledMaster(agents)).toBe(0);
      expect(await vipHolders(hosts, VIP)).toEqual(["a"]);
      // Stable: nobody changes state any more. (A loser may have been master for a moment before a's
      // vipd was up: the three start at their own pace.)
      const settledAtMs = Date.now();
      await sleep(10 * ADVERT_MS);
      for (const x of agents) expect(x.transitions().filter((t) => t.atMs >= settledAtMs)).toEqual([]);
      expect(await vipHolders(hosts, VIP)).toEqual(["a"]);
    });
  });

  it("breaks a priority tie by the higher primary address (two masters meet)", async () => {
    await withLab({ hosts: ["a", "b"] }, async (lab) => {
      const hosts = [lab.host("a"), lab.host("b")];
      expect(hosts[1]!.ipv4 > hosts[0]!.ipv4).toBe(true); // 192.0.2.12 > 192.0.2.11
      // Keep a off the LAN so that both become master, then join them: RFC 9568 6.4.3, a master
      // hearing an advert of equal priority from a higher primary address becomes backup.
      await hosts[0]!.cableCut(true);
      const [a, b] = await Promise.all(hosts.map((h) => startVipd(h, { instances: [web(100)] })));
      await Promise.all([a!, b!].map((x) => x.waitForState("web", "master", { timeoutMs: 5000 })));
      // Split brain while apart: both hold the VIP.
      await pollUntil("VIP on both hosts", async () =>
        (await vipHolders(hosts, VIP)).length === 2 ? true : undefined,
      );
      const joinedAt = Date.now();
      await hosts[0]!.cableCut(false);
      const yielded = await a!.waitForState("web", "backup", { sinceMs: joinedAt, timeoutMs: 2000 });
      console.log(
        `tie: a yielded ${yielded.atMs - joinedAt} ms after the LAN joined, reason '${yielded.reason}'`,
      );
      expect(await settledMaster([a!, b!])).toBe(1);
      expect(b!.transitions().filter((t) => t.atMs >= joinedAt)).toEqual([]);
      expect(await vipHolders(hosts, VIP)).toEqual(["b"]);
    });
  });

  it("a late starter of equal priority and higher address does not preempt (RFC 9568 6.4.2)", async () => {
    await withLab({ hosts: ["a", "b"] }, async (lab) => {
      const hosts = [lab.host("a"), lab.host("b")];
      const a = await startVipd(hosts[0]!, { instances: [web(100)] });
      await a.waitForState("web", "master", { timeoutMs: 5000 });
      const b = await startVipd(hosts[1]!, { instances: [web(100)] });
      await b.waitForState("web", "backup", { timeoutMs: 2000 });
      await sleep(20 * ADVERT_MS);
      expect(await settledMaster([a, b])).toBe(0);
      expect(b.transitions().map((t) => t.to)).toEqual(["backup"]);
      expect(await vipHolders(hosts, VIP)).toEqual(["a"]);
    });
  });
});
