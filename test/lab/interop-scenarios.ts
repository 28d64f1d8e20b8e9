// The two-node interop scenario (vipd on host v, keepalived on host k), shared by the pair matrix
// and the message-only row. See interop-pair.test.ts for what it checks.
import { expect } from "vitest";
import {
  advertSource,
  type ChecksumForm,
  captureVipdHosts,
  dropLeftoverVip,
  INSTANCE,
  instanceOf,
  keepalivedChecksumForm,
  keepalivedInstance,
  type Row,
  rowVip,
  takeoverTimeoutMs,
  vipdInstance,
  vipdStatus,
  vipdStatusCli,
  waitForPeer,
} from "./interop-helpers.js";
import { type Keepalived, startKeepalived } from "./keepalived.js";
import { type LabHost, withLab } from "./netns.js";
import { pollUntil, sleep, startVipd, type VipdAgent, vipHolders } from "./vipd-agent.js";

export type Role = "vipd-higher" | "keepalived-higher";
const HIGH = 200;
const LOW = 100;

export const settleMs = (row: Row) => Math.min(10 * row.advertMs, 3000);

/** Waits until the expected side is master, the other backup, the VIP on the master only; then checks it holds. */
export async function expectAgreement(
  row: Row,
  agent: VipdAgent,
  ka: Keepalived,
  master: "vipd" | "keepalived",
  hosts: readonly LabHost[],
): Promise<void> {
  const vipHost = master === "vipd" ? agent.host.name : ka.host.name;
  const check = async () => {
    const vs = agent.state(INSTANCE);
    const ks = ka.state(INSTANCE);
    const holders = await vipHolders(hosts, rowVip(row));
    const want = master === "vipd" ? vs === "master" && ks === "BACKUP" : vs === "backup" && ks === "MASTER";
    return {
      ok: want && holders.length === 1 && holders[0] === vipHost,
      text: `vipd ${vs}, keepalived ${ks}, VIP on [${holders.join(",")}]`,
    };
  };
  let last = "";
  await pollUntil(
    `${master} master and agreed (${row.id})`,
    async () => {
      const c = await check();
      last = c.text;
      return c.ok ? true : undefined;
    },
    { timeoutMs: takeoverTimeoutMs(row, LOW) + 10_000, intervalMs: 50 },
  ).catch((e: Error) => {
    throw new Error(
      `${e.message}; last seen: ${last}\nkeepalived log tail:\n${ka.log().slice(-8).join("\n")}`,
    );
  });
  const before = agent.transitions().length + ka.transitions().length;
  await sleep(settleMs(row));
  const after = await check();
  expect(after.ok, `still agreed after ${settleMs(row)} ms: ${after.text}`).toBe(true);
  expect(agent.transitions().length + ka.transitions().length, "no flapping while settled").toBe(before);
}

export async function runPair(row: Row, role: Role, o: { kaChecksum?: ChecksumForm } = {}): Promise<void> {
  await withLab({ hosts: ["v", "k"] }, async (lab) => {
    const v = lab.host("v");
    const k = lab.host("k");
    const hosts = [v, k];
    const vipdPrio = role === "vipd-higher" ? HIGH : LOW;
    const kaPrio = role === "vipd-higher" ? LOW : HIGH;
    const kaOver = o.kaChecksum === undefined ? {} : { checksumForm: o.kaChecksum };
    const kaOptions = { instances: [keepalivedInstance(row, k, kaPrio, [v], kaOver)] };
    const vipdOptions = { instances: [vipdInstance(row, v, vipdPrio, [k])] };
    const kaForm = keepalivedChecksumForm(row, o.kaChecksum);
    const kaSource = advertSource(row, k);
    const caps = await captureVipdHosts([v]);
    try {
      let [agent, ka] = await Promise.all([startVipd(v, vipdOptions), startKeepalived(k, kaOptions)]);
      const peerCheck = async (a: VipdAgent) => {
        await waitForPeer(a, kaSource, { timeoutMs: takeoverTimeoutMs(row, LOW) });
        const inst = instanceOf(await vipdStatusCli(a));
        const peer = inst.peers.find((p) => p.address === kaSource);
        expect(peer, `peer table ${JSON.stringify(inst.peers)}`).toMatchObject({
          address: kaSource,
          priority: kaPrio,
          adverIntervalMs: row.advertMs,
          version: row.version,
          checksumForm: kaForm,
        });
        return inst;
      };
      const timings: string[] = [];
      if (role === "vipd-higher") {
        await expectAgreement(row, agent, ka, "vipd", hosts);
        // vipd crashes: keepalived takes over.
        const killedAt = Date.now();
        await agent.kill();
        const t = await ka.waitForState(INSTANCE, "MASTER", {
          sinceMs: killedAt,
          timeoutMs: takeoverTimeoutMs(row, kaPrio),
        });
        timings.push(`kill vipd -> keepalived MASTER ${t.atMs - killedAt} ms`);
        expect(await vipHolders([k], rowVip(row))).toEqual(["k"]);
        // vipd comes back (removing the VIP its crash left behind) and preempts back.
        const restartAt = Date.now();
        agent = await startVipd(v, vipdOptions);
        const back = await agent.waitForState(INSTANCE, "master", {
          timeoutMs: takeoverTimeoutMs(row, vipdPrio) + 5000,
        });
        await ka.waitForState(INSTANCE, "BACKUP", { sinceMs: restartAt, timeoutMs: 5000 });
        timings.push(`vipd restarted -> preempted back '${back.reason}'`);
        await expectAgreement(row, agent, ka, "vipd", hosts);
        const inst = await peerCheck(agent);
        expect(inst.state).toBe("master");
      } else {
        await expectAgreement(row, agent, ka, "keepalived", hosts);
        const inst = await peerCheck(agent);
        expect(inst.master).toBe(kaSource);
        // keepalived crashes: vipd takes over.
        const killedAt = Date.now();
        await ka.kill();
        const t = await agent.waitForState(INSTANCE, "master", {
          sinceMs: killedAt,
          timeoutMs: takeoverTimeoutMs(row, vipdPrio),
        });
        timings.push(`kill keepalived -> vipd master ${t.atMs - killedAt} ms ('${t.reason}')`);
        expect(await vipHolders([v], rowVip(row))).toEqual(["v"]);
        // The crashed host reboots (its VIP is gone) and keepalived preempts back.
        await dropLeftoverVip(k, rowVip(row));
        const restartAt = Date.now();
        ka = await startKeepalived(k, kaOptions);
        await ka.waitForState(INSTANCE, "MASTER", {
          sinceMs: restartAt,
          timeoutMs: takeoverTimeoutMs(row, kaPrio) + 5000,
        });
        const yielded = await agent.waitForState(INSTANCE, "backup", { sinceMs: restartAt, timeoutMs: 5000 });
        timings.push(`keepalived restarted -> vipd backup '${yielded.reason}'`);
        await expectAgreement(row, agent, ka, "keepalived", hosts);
        const after = instanceOf(await vipdStatus(agent));
        expect(after.master).toBe(kaSource);
      }
      const finalStatus = instanceOf(await vipdStatus(agent));
      const formMismatch =
        row.version === 3 && row.family === "ipv4" && row.vipdChecksum !== (o.kaChecksum ?? "pseudo-header");
      if (formMismatch) expect(finalStatus.counters.mismatches.checksum ?? 0).toBeGreaterThan(0);
      else expect(finalStatus.counters.mismatches).toEqual({});
      await Promise.all([agent.stop(), ka.stop()]);
      const { sent, problems } = await caps.stopAndCheck(row);
      console.log(
        `[interop ${row.id} ${role}] ${timings.join("; ")}; vipd sent ${sent} adverts, all checked by tshark; ` +
          `mismatches ${JSON.stringify(finalStatus.counters.mismatches)}`,
      );
      expect(problems).toEqual([]);
      expect(sent).toBeGreaterThan(0);
    } finally {
      caps.remove();
    }
  });
}
