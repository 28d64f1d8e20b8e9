// Graceful stop and return between two vipds: SIGTERM makes the master send priority 0 and release
// its VIP, so the backup takes over after Skew_Time instead of Master_Down_Interval; a
// higher-priority vipd that comes back preempts, unless it is configured with nopreempt.
import { describe, expect, it } from "vitest";
import { startVrrpCapture, vrrpProblems } from "./capture.js";
import { labAvailable, labVip, withLab } from "./netns.js";
import {
  masterDownIntervalMs,
  pollUntil,
  skewTimeMs,
  sleep,
  startVipd,
  type VipdAgent,
  type VipdInstance,
  vipHolders,
} from "./vipd-agent.js";

const ADVERT_MS = 100;
const VIP = labVip("ipv4");
const web = (priority: number, more: Partial<VipdInstance> = {}): VipdInstance => ({
  name: "web",
  vrid: 51,
  priority,
  advertIntervalMs: ADVERT_MS,
  virtualIps: [`${VIP}/24`],
  ...more,
});
const SLACK_MS = 500;

const vipsAdded = (agent: VipdAgent, sinceMs: number, timeoutMs = 5000) =>
  agent.waitForLog("'VIPs added'", (l) => l.instance === "web" && l.msg === "VIPs added", {
    sinceMs,
    timeoutMs,
  });

describe.runIf(labAvailable())("vipd graceful stop and preemption (root, VRRPv3 IPv4 at 100 ms)", () => {
  it("SIGTERM: priority 0, takeover after about Skew_Time; the higher priority preempts back", async () => {
    await withLab({ hosts: ["a", "b"], client: true }, async (lab) => {
      const [a, b, client] = [lab.host("a"), lab.host("b"), lab.host("client")];
      const hosts = [a, b];
      const capture = await startVrrpCapture(client);
      try {
        const [va, vb] = await Promise.all([
          startVipd(a, { instances: [web(200)] }),
          startVipd(b, { instances: [web(100)] }),
        ]);
        await va.waitForState("web", "master", { timeoutMs: 5000 });
        await sleep(5 * ADVERT_MS);
        expect(vb.state("web")).toBe("backup");
        expect(await vipHolders(hosts, VIP)).toEqual(["a"]);

        const termAtMs = Date.now();
        const exitCode = await va.stop();
        const master = await vb.waitForState("web", "master", { sinceMs: termAtMs, timeoutMs: 3000 });
        const added = await vipsAdded(vb, termAtMs);
        expect(exitCode).toBe(0);
        expect(master.reason).toMatch(/priority 0|resign/i);
        expect(await vipHolders(hosts, VIP)).toEqual(["b"]);

        // a comes back with the higher priority and takes the VIP back (preempt is the default).
        const backAtMs = Date.now();
        const va2 = await startVipd(a, { instances: [web(200)] });
        await va2.waitForState("web", "master", { sinceMs: backAtMs, timeoutMs: 5000 });
        await vb.waitForState("web", "backup", { sinceMs: backAtMs, timeoutMs: 3000 });
        await pollUntil("VIP on a only", async () =>
          (await vipHolders(hosts, VIP)).join() === "a" ? true : undefined,
        );
        expect(va2.transitions().map((t) => t.to)).toEqual(["backup", "master"]);

        await Promise.all([va2.stop(), vb.stop()]);
        await capture.stop();
        const packets = await capture.analyze();
        expect(vrrpProblems(packets)).toEqual([]);
        const resign = packets.find((p) => p.src === a.ipv4 && p.priority === 0 && p.atMs >= termAtMs);
        expect(resign, "a's priority-0 advert").toBeDefined();
        const firstB = packets.find((p) => p.src === b.ipv4 && p.priority === 100 && p.atMs > resign!.atMs);
        expect(firstB, "b's first advert after a resigned").toBeDefined();
        const skew = skewTimeMs(ADVERT_MS, 100);
        const timeline = vb.logs().find((l) => l.msg === "failover timeline" && l.atMs >= termAtMs);
        console.log(`b's failover timeline: ${JSON.stringify(timeline?.fields.timeline)}`);
        const wireGap = firstB!.atMs - resign!.atMs;
        const termToVip = added.atMs - termAtMs;
        console.log(
          `vipd SIGTERM at ${ADVERT_MS} ms: priority-0 advert -> first advert b ${wireGap.toFixed(1)} ms, ` +
            `SIGTERM -> VIP added on b ${termToVip} ms (Skew_Time ${skew.toFixed(1)} ms, ` +
            `overhead ${(termToVip - skew).toFixed(1)} ms; Master_Down_Interval would be ` +
            `${masterDownIntervalMs(ADVERT_MS, 100).toFixed(1)} ms)`,
        );
        expect(wireGap).toBeGreaterThanOrEqual(skew - 15);
        // Well below Master_Down_Interval: b acted on the priority 0, not on silence.
        expect(wireGap).toBeLessThan(skew + 3 * ADVERT_MS - 50);
        expect(termToVip).toBeLessThan(skew + SLACK_MS);
      } finally {
        await capture.stop();
        capture.remove();
      }
    });
  });

  it("nopreempt: the higher priority comes back as backup and leaves the master alone", async () => {
    await withLab({ hosts: ["a", "b"] }, async (lab) => {
      const [a, b] = [lab.host("a"), lab.host("b")];
      const hosts = [a, b];
      // a first: with nopreempt on both, whoever is master first stays master.
      const va = await startVipd(a, { instances: [web(200, { nopreempt: true })] });
      await va.waitForState("web", "master", { timeoutMs: 5000 });
      const vb = await startVipd(b, { instances: [web(100, { nopreempt: true })] });
      await vb.waitForState("web", "backup", { timeoutMs: 5000 });
      const termAtMs = Date.now();
      expect(await va.stop()).toBe(0);
      await vb.waitForState("web", "master", { sinceMs: termAtMs, timeoutMs: 3000 });
      await vipsAdded(vb, termAtMs);

      const va2 = await startVipd(a, { instances: [web(200, { nopreempt: true })] });
      await va2.waitForState("web", "backup", { timeoutMs: 3000 });
      // Ten Master_Down_Intervals of a's: long enough for any preemption to have happened.
      await sleep(10 * masterDownIntervalMs(ADVERT_MS, 200));
      expect(va2.transitions().map((t) => t.to)).toEqual(["backup"]);
      expect(vb.state("web")).toBe("master");
      expect(await vipHolders(hosts, VIP)).toEqual(["b"]);

      // Without nopreempt the same return takes the VIP back (the control for this test).
      await va2.stop();
      const va3 = await startVipd(a, { instances: [web(200)] });
      await va3.waitForState("web", "master", { timeoutMs: 5000 });
      await pollUntil("VIP on a only", async () =>
        (await vipHolders(hosts, VIP)).join() === "a" ? true : undefined,
      );
    });
  });
});
