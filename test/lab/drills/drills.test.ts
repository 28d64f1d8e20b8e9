// The failover drills in the netns lab: the same drill code as the Vagrant lab (drill.ts), with
// vipd agents in namespaces, a tiny HTTP service per balancer and a client looping on the VIP.
import { describe, expect, it } from "vitest";
import { labAvailable, labVip, withLab } from "../netns.js";
import { type DrillReport, formatReports, formatTrace, runDrill, SCENARIOS } from "./drill.js";
import { NetnsDrillEnv } from "./netns-env.js";

const ADVERT_MS = 100;

describe.runIf(labAvailable())("failover drills in the netns lab (root, VRRPv3 at 100 ms)", () => {
  it("kill -9, stop, link down, service down and reboot: the other node takes over", async () => {
    const reports: DrillReport[] = [];
    await withLab({ hosts: ["lb1", "lb2"], client: true }, async (lab) => {
      const env = new NetnsDrillEnv(lab, { advertIntervalMs: ADVERT_MS, vip: labVip("ipv4", 20) });
      try {
        await env.start();
        for (const s of SCENARIOS)
          reports.push(await runDrill(env, s, { instance: "web", expectMaster: "lb1" }));
      } finally {
        const traces = reports.map((r) => `${r.scenario}:\n${formatTrace(r)}`).join("\n");
        const json = JSON.stringify(
          reports.map(({ trace: _, ...r }) => r),
          null,
          1,
        );
        console.log(`drill reports:\n${formatReports(reports)}\n${json}\nagent traces:\n${traces}`);
        await env.stop();
      }
    });
    expect(reports.map((r) => r.scenario)).toEqual([...SCENARIOS]);
    // Master_Down_Interval at 100 ms for priority 100 is ~339 ms.
    for (const r of reports) {
      // A failure names the scenario and says what both agents did.
      const why = `${r.scenario}: ${r.notes.join("; ")}\n${formatTrace(r)}`;
      expect(r.ok, why).toBe(true);
      expect(r.from).toBe("lb1");
      expect(r.to).toBe("lb2");
      expect(r.timeToFailoverMs, why).not.toBeNull();
      expect(r.client.requests).toBeGreaterThan(10);
      expect(r.client.servers).toContain("lb2");
      expect(r.client.outageMs, why).toBeLessThan(3000);
    }
    const byName = Object.fromEntries(reports.map((r) => [r.scenario, r]));
    // A silent master is detected after Master_Down_Interval; a stopped one resigns at once.
    const kill = byName["kill-9"];
    const killWhy = kill ? formatTrace(kill) : "no kill-9 report";
    expect(kill?.timeToDetectMs, killWhy).toBeGreaterThan(250);
    expect(kill?.timeToDetectMs, killWhy).toBeLessThan(600);
    expect(byName.stop?.timeToFailoverMs).toBeLessThan(kill?.timeToFailoverMs ?? 0);
  }, 240_000);
});
