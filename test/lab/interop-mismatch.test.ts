// keepalived interoperability matrix: configuration mismatches between vipd and a keepalived peer
// are logged by vipd with a reason and a readable detail (one line per reason per 10 s window) and
// counted in `vipd status`, as keepalived logs them on its side:
//   - a different VRID set: keepalived's extra VRID is counted under unattributed "unknown-vrid";
//   - a different interval in VRRPv2 (RFC 3768 7.1: discard): counters.mismatches.interval;
//   - a different VIP list: counters.mismatches.addresses (vipd reports it and still follows the
//     master, see the core rule advert-addresses-mismatch). keepalived 2.2.7 as the backup is
//     stricter: it drops adverts whose address count differs, so with vipd as master both end up
//     master (shown, not hidden);
//   - a different VRRP version on one VRID: counters.mismatches.version.
import { describe, expect, it } from "vitest";
import {
  INSTANCE,
  instanceOf,
  keepalivedInstance,
  ROWS,
  vipdInstance,
  vipdStatus,
  vipdStatusCli,
  withVipdCapture,
} from "./interop-helpers.js";
import { settleMs } from "./interop-scenarios.js";
import { startKeepalived } from "./keepalived.js";
import { labAvailable, labVip, withLab } from "./netns.js";
import { pollUntil, sleep, startVipd, type VipdLogLine, vipHolders } from "./vipd-agent.js";

const V3 = ROWS["v3-ipv4"];
const V2 = ROWS["v2-ipv4"];

const byReason = (reason: string) => (l: VipdLogLine) => l.fields.reason === reason;

describe.runIf(labAvailable())("keepalived interop matrix: mismatches (root)", () => {
  it("a VRID keepalived runs and vipd does not is logged and counted as unknown-vrid; the shared VRID still agrees", async () => {
    await withLab({ hosts: ["v", "k"] }, async (lab) => {
      const [v, k] = [lab.host("v"), lab.host("k")];
      await withVipdCapture([v], V3, { expectSent: true }, async () => {
        const ka = await startKeepalived(k, {
          instances: [
            keepalivedInstance(V3, k, 200, [v]),
            keepalivedInstance(V3, k, 200, [v], {
              name: "VI_3",
              vrid: 53,
              virtualIps: [`${labVip("ipv4", 2)}/24`],
            }),
          ],
        });
        const agent = await startVipd(v, {
          instances: [
            vipdInstance(V3, v, 100, [k]),
            vipdInstance(V3, v, 100, [k], {
              name: "VI_2",
              vrid: 52,
              virtualIps: [`${labVip("ipv4", 1)}/24`],
            }),
          ],
        });
        const line = await agent.waitForLog("unknown-vrid warning", byReason("unknown-vrid"), {
          timeoutMs: 10_000,
        });
        expect(line.msg).toBe("VRRP datagram: unknown-vrid");
        expect(line.level).toBe(40); // pino warn
        expect(String(line.fields.detail)).toBe(`VRID 53 from ${k.ipv4}`);
        // The shared VRID 51 agrees (keepalived master), vipd's own VRID 52 has no competitor.
        await ka.waitForState("VI_3", "MASTER", { timeoutMs: 5000 });
        await agent.waitForState("VI_2", "master", { timeoutMs: 5000 });
        await pollUntil("VI_1 agreed", async () =>
          agent.state(INSTANCE) === "backup" && ka.state(INSTANCE) === "MASTER" ? true : undefined,
        );
        expect(await vipHolders([v, k], labVip("ipv4"))).toEqual(["k"]);
        const status = await vipdStatusCli(agent);
        expect(status.unattributed["eth0/ipv4"]?.["unknown-vrid"] ?? 0).toBeGreaterThan(0);
        expect(instanceOf(status).counters.mismatches).toEqual({});
        const kaOn52 = ka.log().filter((l) => /\b52\b/.test(l));
        console.log(
          `[interop mismatch vrid] vipd: "${line.msg}" (${line.fields.detail}), unattributed ` +
            `${JSON.stringify(status.unattributed)}; keepalived lines about VRID 52: ${kaOn52.length === 0 ? "none (it ignores unknown VRIDs silently)" : kaOn52.join(" | ")}`,
        );
        await Promise.all([agent.stop(), ka.stop()]);
      });
    });
  }, 90_000);

  it("VRRPv2 with a different advert interval: both sides log it and discard; vipd counts mismatches.interval", async () => {
    await withLab({ hosts: ["v", "k"] }, async (lab) => {
      const [v, k] = [lab.host("v"), lab.host("k")];
      await withVipdCapture([v], V2, { expectSent: true }, async () => {
        const [agent, ka] = await Promise.all([
          startVipd(v, { instances: [vipdInstance(V2, v, 100, [k])] }),
          startKeepalived(k, { instances: [keepalivedInstance(V2, k, 200, [v], { advertIntMs: 2000 })] }),
        ]);
        // keepalived discards vipd's 1 s adverts, becomes master after its own 2 s Master_Down_Interval.
        await ka.waitForState(INSTANCE, "MASTER", { timeoutMs: 15_000 });
        const line = await agent.waitForLog("interval mismatch warning", byReason("mismatch-interval"), {
          timeoutMs: 10_000,
        });
        expect(line.msg).toBe("VRRP datagram: mismatch-interval");
        expect(String(line.fields.detail)).toContain("advertises every 2000 ms, we use 1000 ms");
        expect(String(line.fields.detail)).toContain(k.ipv4);
        const inst = instanceOf(await vipdStatusCli(agent));
        expect(inst.counters.mismatches.interval ?? 0).toBeGreaterThan(0);
        // Discarded on both sides: neither follows the other, both are master.
        await agent.waitForState(INSTANCE, "master", { timeoutMs: 5000 });
        expect(inst.peers.find((p) => p.address === k.ipv4)).toMatchObject({
          adverIntervalMs: 2000,
          version: 2,
        });
        const kaLines = await pollUntil("keepalived's interval complaint", async () => {
          const l = ka.log().filter((x) => /interval/i.test(x));
          return l.length > 0 ? l : undefined;
        });
        console.log(
          `[interop mismatch v2 interval] vipd: "${line.msg}" (${line.fields.detail}), counters ` +
            `${JSON.stringify(inst.counters.mismatches)}; keepalived: "${kaLines[0]?.trim()}"`,
        );
        await Promise.all([agent.stop(), ka.stop()]);
      });
    });
  }, 90_000);

  it("a different VIP list is logged and counted as mismatches.addresses; vipd still follows keepalived", async () => {
    await withLab({ hosts: ["v", "k"] }, async (lab) => {
      const [v, k] = [lab.host("v"), lab.host("k")];
      await withVipdCapture([v], V3, { expectSent: false }, async () => {
        const [agent, ka] = await Promise.all([
          startVipd(v, { instances: [vipdInstance(V3, v, 100, [k])] }),
          startKeepalived(k, {
            instances: [
              keepalivedInstance(V3, k, 200, [v], {
                virtualIps: [`${labVip("ipv4")}/24`, `${labVip("ipv4", 1)}/24`],
              }),
            ],
          }),
        ]);
        await ka.waitForState(INSTANCE, "MASTER", { timeoutMs: 5000 });
        const line = await agent.waitForLog("address mismatch warning", byReason("mismatch-addresses"), {
          timeoutMs: 10_000,
        });
        expect(line.msg).toBe("VRRP datagram: mismatch-addresses");
        expect(String(line.fields.detail)).toContain(k.ipv4);
        expect(String(line.fields.detail)).toContain(labVip("ipv4", 1));
        await pollUntil("vipd follows keepalived", async () =>
          agent.state(INSTANCE) === "backup" ? true : undefined,
        );
        const inst = instanceOf(await vipdStatus(agent));
        expect(inst.counters.mismatches.addresses ?? 0).toBeGreaterThan(0);
        expect(inst.master).toBe(k.ipv4);
        expect(await vipHolders([v, k], labVip("ipv4"))).toEqual(["k"]);
        console.log(
          `[interop mismatch addresses] vipd: "${line.msg}" (${line.fields.detail}), counters ` +
            `${JSON.stringify(inst.counters.mismatches)}`,
        );
        await Promise.all([agent.stop(), ka.stop()]);
      });
    });
  }, 90_000);
  it("vipd master with a shorter VIP list: keepalived 2.2.7 discards its adverts (split brain); vipd counts it", async () => {
    await withLab({ hosts: ["v", "k"] }, async (lab) => {
      const [v, k] = [lab.host("v"), lab.host("k")];
      await withVipdCapture([v], V3, { expectSent: true }, async () => {
        const ka = await startKeepalived(k, {
          instances: [
            keepalivedInstance(V3, k, 100, [v], {
              virtualIps: [`${labVip("ipv4")}/24`, `${labVip("ipv4", 1)}/24`],
            }),
          ],
        });
        const agent = await startVipd(v, { instances: [vipdInstance(V3, v, 200, [k])] });
        const master = await agent.waitForState(INSTANCE, "master", { timeoutMs: 5000 });
        // keepalived drops every advert whose address count differs from its own list...
        const kaLines = await pollUntil(
          "keepalived's address-count complaint",
          async () => {
            const l = ka
              .log()
              .filter((x) => x.includes("received an unexpected ip number count 1, expected 2"));
            return l.length > 0 ? l : undefined;
          },
          { timeoutMs: 5000 },
        );
        await sleep(settleMs(V3));
        // ...so it never hears a master and stays MASTER beside vipd: both hold the shared VIP.
        expect(ka.state(INSTANCE)).toBe("MASTER");
        expect(ka.transitions().filter((t) => t.atMs >= master.atMs && t.state !== "MASTER")).toEqual([]);
        expect(agent.state(INSTANCE)).toBe("master");
        expect(await vipHolders([v, k], labVip("ipv4"))).toEqual(["v", "k"]);
        // vipd hears keepalived's lower-priority adverts, reports the address list, and stays master.
        const inst = instanceOf(await vipdStatus(agent));
        expect(inst.counters.mismatches.addresses ?? 0).toBeGreaterThan(0);
        const line = await agent.waitForLog("address mismatch warning", byReason("mismatch-addresses"));
        expect(String(line.fields.detail)).toContain(labVip("ipv4", 1));
        console.log(
          `[interop mismatch addresses, vipd master] keepalived: "${kaLines[0]?.trim()}" (${kaLines.length} lines), ` +
            `stays MASTER; vipd: ${JSON.stringify(inst.counters.mismatches)}, announcements ${inst.counters.announcementsSent}`,
        );
        await Promise.all([agent.stop(), ka.stop()]);
      });
    });
  }, 90_000);

  it("a VRRPv2 keepalived beside a VRRPv3 vipd on the same VRID: vipd logs and counts mismatches.version", async () => {
    await withLab({ hosts: ["v", "k"] }, async (lab) => {
      const [v, k] = [lab.host("v"), lab.host("k")];
      await withVipdCapture([v], V3, { expectSent: true }, async () => {
        const [agent, ka] = await Promise.all([
          startVipd(v, { instances: [vipdInstance(V3, v, 100, [k], { advertIntervalMs: 1000 })] }),
          startKeepalived(k, { instances: [keepalivedInstance(V2, k, 200, [v])] }),
        ]);
        await ka.waitForState(INSTANCE, "MASTER", { timeoutMs: 15_000 });
        const line = await agent.waitForLog("version mismatch warning", byReason("mismatch-version"), {
          timeoutMs: 10_000,
        });
        expect(line.msg).toBe("VRRP datagram: mismatch-version");
        expect(String(line.fields.detail)).toContain("is VRRPv2, we run VRRPv3");
        const inst = instanceOf(await vipdStatus(agent));
        expect(inst.counters.mismatches.version ?? 0).toBeGreaterThan(0);
        // Discarded: vipd does not follow a VRRPv2 master.
        await agent.waitForState(INSTANCE, "master", { timeoutMs: 10_000 });
        const kaLines = ka.log().filter((x) => /version/i.test(x));
        console.log(
          `[interop mismatch version] vipd: "${line.msg}" (${line.fields.detail}); keepalived: ` +
            `${kaLines.length === 0 ? "no line about the version" : `"${kaLines[0]?.trim()}"`}`,
        );
        await Promise.all([agent.stop(), ka.stop()]);
      });
    });
  }, 90_000);
});
