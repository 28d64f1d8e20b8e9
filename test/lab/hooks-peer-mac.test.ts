// The peer's MAC for fence agents, end to end between two vipds in lab namespaces: the raw VRRP
// socket cannot see link-layer addresses, so vipd reads the kernel's neighbour table when it fences.
// After b has exchanged unicast traffic with a (labPing), the agent gets a's real MAC in
// VIPD_PEER_MAC and `vipd status` shows it in the fence history; with no neighbour entry the
// variable is empty and the fence still runs.
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { controlRequest } from "../../src/runtime/control-client.js";
import type { FenceAttempt } from "../../src/runtime/status.js";
import { type Lab, labAvailable, labPing, labVip, withLab } from "./netns.js";
import { sleep, startVipd, type VipdInstance } from "./vipd-agent.js";

const ADVERT_MS = 100;
const VIP = labVip("ipv4", 4);

let dir: string;
beforeEach(() => {
  // Root-owned 0700 under the sticky /tmp: passes enable_script_security.
  dir = mkdtempSync(join(tmpdir(), "vipd-lab-mac-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const web = (priority: number, extra: Record<string, unknown> = {}): VipdInstance => ({
  name: "web",
  vrid: 62,
  priority,
  advertIntervalMs: ADVERT_MS,
  virtualIps: [`${VIP}/24`],
  extra,
});

/**
 * a master, b backup with a two-agent level: a recorder that writes VIPD_PEER_MAC, then the example
 * agent that takes a's link down. `prepare` runs on the lab before a's cable is cut.
 */
async function fenceScenario(
  prepare: (lab: Lab) => Promise<void>,
): Promise<{ recorded: string; aMac: string; history: FenceAttempt[] }> {
  return withLab({ hosts: ["a", "b"] }, async (lab) => {
    const [a, b] = [lab.host("a"), lab.host("b")];
    const macFile = join(dir, "peer-mac");
    const recorder = join(dir, "record-mac");
    writeFileSync(recorder, `#!/bin/sh\ncat >/dev/null\nprintf '%s' "$VIPD_PEER_MAC" > ${macFile}\n`);
    chmodSync(recorder, 0o755);
    const netnsAgent = join(dir, "fence-netns-link");
    copyFileSync(new URL("../../examples/fence-netns-link", import.meta.url), netnsAgent);
    chmodSync(netnsAgent, 0o755);
    const fence = {
      levels: [[{ agent: recorder }, { agent: netnsAgent, args: { netns: a.ns } }]],
      timeout: "5s",
    };
    const va = await startVipd(a, { instances: [web(200)] });
    const vb = await startVipd(b, { instances: [web(100, { fence })] });
    try {
      await va.waitForState("web", "master", { timeoutMs: 5000 });
      await vb.waitForState("web", "backup", { timeoutMs: 5000 });
      await sleep(3 * ADVERT_MS);
      await prepare(lab);
      const t0 = Date.now();
      await a.cableCut(true); // a goes silent: b fences it before taking over
      await vb.waitForLog("fence success", (l) => /fence of .* succeeded/.test(l.msg), {
        sinceMs: t0,
        timeoutMs: 10_000,
      });
      await vb.waitForState("web", "master", { sinceMs: t0, timeoutMs: 5000 });
      const status = (await controlRequest(
        join(vb.dir, "vipd.sock"),
        { cmd: "status" },
        { timeoutMs: 2000 },
      )) as { instances: { name: string; fenceHistory: FenceAttempt[] }[] };
      const history = status.instances.find((i) => i.name === "web")?.fenceHistory ?? [];
      return { recorded: readFileSync(macFile, "utf8"), aMac: a.mac, history };
    } finally {
      await Promise.all([va.stop(), vb.stop()]);
    }
  });
}

describe.runIf(labAvailable())("the peer's MAC for fence agents (root)", () => {
  it("after a unicast exchange the agent gets the silent master's real MAC", async () => {
    const r = await fenceScenario(async (lab) => {
      const [a, b] = [lab.host("a"), lab.host("b")];
      // b talks to a once: its kernel resolves a's address (ARP) into the neighbour table.
      expect(await labPing(b, a.ipv4)).toBe(true);
      const neigh = await b.exec(["ip", "neigh", "show", a.ipv4, "dev", "eth0"]);
      expect(neigh.stdout).toContain(a.mac);
    });
    expect(r.recorded).toBe(r.aMac);
    const last = r.history.at(-1);
    expect(last).toMatchObject({ peerMac: r.aMac, outcome: "ok", level: 1 });
    expect(last?.agents.map((x) => x.outcome)).toEqual(["ok", "ok"]);
  });

  it("without a neighbour entry the agent gets an empty VIPD_PEER_MAC and the fence still runs", async () => {
    const r = await fenceScenario(async (lab) => {
      const b = lab.host("b");
      // Multicast adverts create no neighbour entry; make sure nothing else left one.
      await b.exec(["ip", "neigh", "flush", "dev", "eth0"]);
      const neigh = await b.exec(["ip", "neigh", "show", lab.host("a").ipv4, "dev", "eth0"]);
      expect(neigh.stdout.trim()).toBe("");
    });
    expect(r.recorded).toBe("");
    expect(r.history.at(-1)).toMatchObject({ peerMac: null, outcome: "ok" });
  });
});
