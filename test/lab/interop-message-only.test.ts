// Matrix row "VRRPv3 IPv4 with the RFC 9568 message-only checksum".
//
// keepalived got a switch for the message-only form (v3_checksum_as_v2) in 2.2.8; Debian 12 ships
// 2.2.7, which sends and accepts only the pseudo-header form. So:
//   - with 2.2.7 this file shows what happens when vipd (set to message-only) is the higher
//     priority: keepalived discards every advert of vipd's as a checksum error and stays master
//     too (split brain); vipd accepts keepalived's pseudo-header adverts, and counts and logs the
//     checksum-form mismatch. The rest of the row is skipped, with the reason printed.
//     (The keepalived-higher role works and runs in interop-pair.test.ts.)
//   - with keepalived >= 2.2.8 the full row runs, both daemons set to message-only, both roles.
import { describe, expect, it } from "vitest";
import {
  advertSource,
  captureVipdHosts,
  INSTANCE,
  instanceOf,
  keepalivedInstance,
  ROWS,
  rowVip,
  vipdInstance,
  vipdStatusCli,
  waitForPeer,
} from "./interop-helpers.js";
import { runPair, settleMs } from "./interop-scenarios.js";
import { keepalivedKnowsKeyword, startKeepalived } from "./keepalived.js";
import { labAvailable, withLab } from "./netns.js";
import { sleep, startVipd, vipHolders } from "./vipd-agent.js";

const ROW = ROWS["v3-ipv4-message-only"];
const KEYWORD = "v3_checksum_as_v2";
const SKIP_REASON =
  `keepalived here has no ${KEYWORD} (added in 2.2.8): it can neither send nor accept the RFC 9568 ` +
  "message-only VRRPv3 checksum, so with vipd as the higher priority the pair never agrees on a master " +
  "and the failover/preempt/three-node checks of this row have nothing to measure";

async function keepalivedHasMessageOnly(): Promise<boolean> {
  return withLab({ hosts: ["t"] }, (lab) => keepalivedKnowsKeyword(lab.host("t"), KEYWORD));
}

describe.runIf(labAvailable())(`keepalived interop matrix: ${ROW.title} (root)`, () => {
  it("vipd higher, keepalived pseudo-header only: keepalived drops vipd's adverts; vipd counts and logs it", async (ctx) => {
    await withLab({ hosts: ["v", "k"] }, async (lab) => {
      const v = lab.host("v");
      const k = lab.host("k");
      if (await keepalivedKnowsKeyword(k, KEYWORD)) {
        ctx.skip(`keepalived knows ${KEYWORD}: the full message-only row runs instead`);
        return;
      }
      const caps = await captureVipdHosts([v]);
      try {
        const ka = await startKeepalived(k, { instances: [keepalivedInstance(ROW, k, 100, [v])] });
        await ka.waitForState(INSTANCE, "MASTER", { timeoutMs: 5000 });
        const vipdAt = Date.now();
        const agent = await startVipd(v, { instances: [vipdInstance(ROW, v, 200, [k])] });
        await agent.waitForState(INSTANCE, "master", { timeoutMs: 5000 });
        const peer = await waitForPeer(agent, advertSource(ROW, k));
        await sleep(settleMs(ROW));

        // What happens: keepalived never hears a valid advert from vipd and stays MASTER beside it.
        expect(ka.state(INSTANCE)).toBe("MASTER");
        expect(
          ka.transitions().filter((t) => t.atMs >= vipdAt && t.state !== "MASTER"),
          ka.log().join("\n"),
        ).toEqual([]);
        expect(agent.state(INSTANCE)).toBe("master");
        expect(await vipHolders([v, k], rowVip(ROW))).toEqual(["v", "k"]);
        const kaChecksumLines = ka.log().filter((l) => /checksum/i.test(l));
        expect(kaChecksumLines.length, ka.log().slice(-10).join("\n")).toBeGreaterThan(0);

        // vipd's side: keepalived is in the peer table with its pseudo-header form, and the
        // mismatch is counted in status and logged once per window with the reason.
        expect(peer).toMatchObject({ priority: 100, version: 3, checksumForm: "pseudo-header" });
        const inst = instanceOf(await vipdStatusCli(agent));
        expect(inst.counters.mismatches.checksum ?? 0).toBeGreaterThan(0);
        const logged = agent.logs().filter((l) => l.fields.reason === "mismatch-checksum");
        expect(logged.length).toBeGreaterThan(0);
        expect(logged[0]!.msg).toBe("VRRP datagram: mismatch-checksum");
        expect(String(logged[0]!.fields.detail)).toContain(
          `${k.ipv4} sends the pseudo-header VRRPv3 checksum, we send message-only`,
        );

        await Promise.all([agent.stop(), ka.stop()]);
        const { sent, problems } = await caps.stopAndCheck(ROW);
        expect(problems).toEqual([]);
        expect(sent).toBeGreaterThan(0);
        console.log(
          `[interop ${ROW.id} vipd-higher] split brain as expected: keepalived said "${kaChecksumLines[0]?.trim()}" ` +
            `(${kaChecksumLines.length} lines); vipd mismatches ${JSON.stringify(inst.counters.mismatches)}; ` +
            `vipd sent ${sent} message-only adverts, all good in tshark (message-only preference)`,
        );
        console.log(`[interop ${ROW.id}] SKIPPED the rest of this row: ${SKIP_REASON}`);
      } finally {
        caps.remove();
      }
    });
  }, 90_000);

  for (const role of ["vipd-higher", "keepalived-higher"] as const) {
    it(`both sides message-only (keepalived >= 2.2.8): ${role}`, async (ctx) => {
      if (!(await keepalivedHasMessageOnly())) {
        console.log(`[interop ${ROW.id} ${role}] SKIPPED: ${SKIP_REASON}`);
        ctx.skip(SKIP_REASON);
        return;
      }
      await runPair(ROW, role, { kaChecksum: "message-only" });
    }, 150_000);
  }
});
