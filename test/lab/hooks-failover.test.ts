// Hooks end to end between two vipds in lab namespaces: a failing track script and a failing HTTP
// check move the VIP; fencing with examples/fence-netns-link takes the silent master's link down
// before the VIP is claimed; a failing fence blocks the takeover; notify scripts run in order with
// keepalived's argv and the VIPD_* environment.
import {
  chmodSync,
  copyFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { type LabHost, labAvailable, labVip, withLab } from "./netns.js";
import { pollUntil, sleep, startVipd, type VipdInstance, vipHolders } from "./vipd-agent.js";

const ADVERT_MS = 100;
const VIP = labVip("ipv4", 3);

let dir: string;
beforeEach(() => {
  // Root-owned 0700 under the sticky /tmp: passes enable_script_security.
  dir = mkdtempSync(join(tmpdir(), "vipd-lab-hooks-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

const web = (priority: number, extra: Record<string, unknown> = {}): VipdInstance => ({
  name: "web",
  vrid: 61,
  priority,
  advertIntervalMs: ADVERT_MS,
  virtualIps: [`${VIP}/24`],
  extra,
});

async function linkUp(host: LabHost): Promise<boolean> {
  const r = await host.exec(["ip", "-o", "link", "show", "dev", "eth0"]);
  return /[<,]UP[,>]/.test(r.stdout);
}

describe.runIf(labAvailable())("hooks in the lab (root)", () => {
  it("a failing track script moves the VIP", async () => {
    await withLab({ hosts: ["a", "b"] }, async (lab) => {
      const [a, b] = [lab.host("a"), lab.host("b")];
      const ok = join(dir, "ok");
      writeFileSync(ok, "");
      const top = {
        track_scripts: { chk: { script: ["/usr/bin/test", "-e", ok], interval: "100ms", fall: 2 } },
      };
      const va = await startVipd(a, { instances: [web(200, { track_scripts: ["chk"] })], top });
      await va.waitForState("web", "master", { timeoutMs: 5000 });
      const vb = await startVipd(b, { instances: [web(100)] });
      await vb.waitForState("web", "backup", { timeoutMs: 5000 });
      const t0 = Date.now();
      unlinkSync(ok);
      const fault = await va.waitForState("web", "fault", { sinceMs: t0, timeoutMs: 5000 });
      expect(fault.reason).toMatch(/tracker script:chk/);
      await vb.waitForState("web", "master", { sinceMs: t0, timeoutMs: 5000 });
      await pollUntil("VIP only on b", async () =>
        (await vipHolders([a, b], VIP)).join() === "b" ? true : undefined,
      );
      await Promise.all([va.stop(), vb.stop()]);
    });
  });

  it("an HTTP check against a server in another namespace fails -> the VIP moves", async () => {
    await withLab({ hosts: ["a", "b"], client: true }, async (lab) => {
      const [a, b, client] = [lab.host("a"), lab.host("b"), lab.host("client")];
      const server = client.spawn([
        process.execPath,
        "-e",
        `require("node:http").createServer((q, s) => s.end("ok")).listen(8080, "${client.ipv4}")`,
      ]);
      const url = `http://${client.ipv4}:8080/health`;
      await pollUntil("server up", async () =>
        (await a.exec(["curl", "-sf", "-m", "1", url])).code === 0 ? true : undefined,
      );
      const top = { track_http: { up: { url, interval: "100ms", timeout: "300ms", fall: 2 } } };
      const va = await startVipd(a, { instances: [web(200, { track_http: ["up"] })], top });
      await va.waitForState("web", "master", { timeoutMs: 5000 });
      const vb = await startVipd(b, { instances: [web(100)] });
      await vb.waitForState("web", "backup", { timeoutMs: 5000 });
      const t0 = Date.now();
      server.kill("SIGKILL");
      const fault = await va.waitForState("web", "fault", { sinceMs: t0, timeoutMs: 5000 });
      expect(fault.reason).toMatch(/tracker http:up: GET .*(ECONNREFUSED|no answer)/);
      await vb.waitForState("web", "master", { sinceMs: t0, timeoutMs: 5000 });
      await pollUntil("VIP only on b", async () =>
        (await vipHolders([a, b], VIP)).join() === "b" ? true : undefined,
      );
      await Promise.all([va.stop(), vb.stop()]);
    });
  });

  it("fencing with fence-netns-link takes the silent master's link down before the VIP is claimed; notify in order", async () => {
    await withLab({ hosts: ["a", "b"] }, async (lab) => {
      const [a, b] = [lab.host("a"), lab.host("b")];
      const agent = join(dir, "fence-netns-link");
      copyFileSync(new URL("../../examples/fence-netns-link", import.meta.url), agent);
      chmodSync(agent, 0o755);
      const log = join(dir, "notify.log");
      const notify = script(
        "notify",
        `echo "$VIPD_EVENT_SEQ|$*|$VIPD_EVENT|$VIPD_OLD_STATE|$VIPD_NEW_STATE|$VIPD_PEER|$VIPD_PRIORITY|$VIPD_INSTANCE" >> ${log}`,
      );
      const fence = {
        levels: [[{ agent, args: { netns: a.ns } }]],
        timeout: "5s",
        nodes: { [a.ipv4]: "node-a" },
      };
      const va = await startVipd(a, { instances: [web(200)] });
      await va.waitForState("web", "master", { timeoutMs: 5000 });
      const vb = await startVipd(b, { instances: [web(100, { fence, notify_event: notify })] });
      await vb.waitForState("web", "backup", { timeoutMs: 5000 });
      await sleep(3 * ADVERT_MS);

      const t0 = Date.now();
      await a.cableCut(true); // a goes silent but keeps its link and the VIP: it must be fenced
      await vb.waitForState("web", "fencing", { sinceMs: t0, timeoutMs: 5000 });
      const fenced = await vb.waitForLog("fence success", (l) => /fence of .* succeeded/.test(l.msg), {
        sinceMs: t0,
        timeoutMs: 10_000,
      });
      const master = await vb.waitForState("web", "master", { sinceMs: t0, timeoutMs: 5000 });
      const added = await vb.waitForLog("VIPs added", (l) => l.msg === "VIPs added", {
        sinceMs: t0,
        timeoutMs: 5000,
      });
      expect(await linkUp(a)).toBe(false);
      expect(fenced.atMs).toBeLessThanOrEqual(master.atMs);
      expect(fenced.atMs).toBeLessThanOrEqual(added.atMs);
      expect(master.reason).toMatch(/fenced 192\.0\.2\.\d+: level 1 \(node-a\)/);
      // The fence's cost in the takeover, for the report.
      const fencing = vb.transitions().find((t) => t.to === "fencing" && t.atMs >= t0)!;
      console.log(`fence added ${master.atMs - fencing.atMs} ms to the takeover`);

      await pollUntil("notify master delivered", async () =>
        readFileSync(log, "utf8").includes("|master|") ? true : undefined,
      );
      const lines = readFileSync(log, "utf8").trim().split("\n");
      const events = lines.map((l) => l.split("|")[2]);
      expect(events).toEqual(["backup", "fence_started", "master"]);
      expect(lines.map((l) => Number(l.split("|")[0]))).toEqual([1, 2, 3]);
      const [, argv, , oldState, newState, peer, prio, inst] = lines[2]!.split("|");
      expect(argv).toBe("INSTANCE web MASTER 100");
      expect([oldState, newState, prio, inst]).toEqual(["fencing", "master", "100", "web"]);
      expect(lines[1]!.split("|")[5]).toBe(a.ipv4);
      expect(peer).toBeDefined();
      await Promise.all([va.stop(), vb.stop()]);
    });
  });

  it("a failing fence blocks the takeover and notifies fence_failed", async () => {
    await withLab({ hosts: ["a", "b"] }, async (lab) => {
      const [a, b] = [lab.host("a"), lab.host("b")];
      const agent = script("fence_fail", "cat >/dev/null; exit 1");
      const log = join(dir, "notify.log");
      const notify = script("notify", `echo "$VIPD_EVENT" >> ${log}`);
      const fence = { levels: [[{ agent }]], retry: "300ms", retry_max: "1s" };
      const va = await startVipd(a, { instances: [web(200)] });
      await va.waitForState("web", "master", { timeoutMs: 5000 });
      const vb = await startVipd(b, { instances: [web(100, { fence, notify_fence_failed: notify })] });
      await vb.waitForState("web", "backup", { timeoutMs: 5000 });
      // b must have heard a (a master never heard is not fenced: nothing to fence).
      await sleep(5 * ADVERT_MS);
      const t0 = Date.now();
      await a.cableCut(true);
      await vb.waitForState("web", "fencing", { sinceMs: t0, timeoutMs: 5000 });
      await pollUntil(
        "two fence_failed notifications",
        async () => {
          try {
            return readFileSync(log, "utf8")
              .split("\n")
              .filter((l) => l === "fence_failed").length >= 2
              ? true
              : undefined;
          } catch {
            return undefined;
          }
        },
        { timeoutMs: 10_000 },
      );
      expect(vb.transitions().some((t) => t.to === "master" && t.atMs >= t0)).toBe(false);
      expect(await vipHolders([b], VIP)).toEqual([]);
      expect(await vipHolders([a], VIP)).toEqual(["a"]);
      await Promise.all([va.stop(), vb.stop()]);
    });
  });
});
