// Operator controls on real vipd agents in the lab: handover, maintenance, reload with a plan,
// the metrics endpoint, and the event-loop stall guard.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { controlRequest } from "../../src/runtime/control-client.js";
import type { ReloadPlan } from "../../src/runtime/operations.js";
import { type LabHost, labAvailable, labVip, withLab } from "./netns.js";
import {
  pollUntil,
  sleep,
  startVipd,
  type VipdAgent,
  type VipdInstance,
  type VipdLogLine,
  vipHolders,
} from "./vipd-agent.js";

const ADVERT_MS = 100;
const VIP = labVip("ipv4", 10);
const VIP2 = labVip("ipv4", 11);
const VIP3 = labVip("ipv4", 12);
const web = (priority: number, extra: Partial<VipdInstance> = {}): VipdInstance => ({
  name: "web",
  vrid: 61,
  priority,
  advertIntervalMs: ADVERT_MS,
  virtualIps: [`${VIP}/24`],
  ...extra,
});

const sock = (a: VipdAgent) => join(a.dir, "vipd.sock");
const ask = (a: VipdAgent, request: { cmd: string; [k: string]: unknown }, timeoutMs = 10_000) =>
  controlRequest(sock(a), request, { timeoutMs });

/** Runs the vipd CLI (from source) inside host's namespace. */
function cli(host: LabHost, args: string[], timeoutMs = 30_000) {
  return host.exec([process.execPath, "--import", "tsx", "src/cli/main.ts", ...args], { timeoutMs });
}

/**
 * Stops a (the master) with SIGSTOP for 1 s, far beyond the ~200 ms budget at 100 ms adverts, once
 * b has taken over; resumes it and returns the stall's critical log line. The agent runs vipd under
 * `sh -c exec`, so the child is vipd itself.
 */
async function stallMaster(a: VipdAgent, b: VipdAgent): Promise<{ t0: number; stall: VipdLogLine }> {
  await sleep(3 * ADVERT_MS);
  const pid = a.child.pid;
  if (pid === undefined) throw new Error("no pid");
  const t0 = Date.now();
  process.kill(pid, "SIGSTOP");
  await b.waitForState("web", "master", { sinceMs: t0, timeoutMs: 2000 });
  await sleep(1000 - (Date.now() - t0));
  process.kill(pid, "SIGCONT");
  const stall = await a.waitForLog("critical stall log", (l) => l.msg.startsWith("event loop stalled"), {
    sinceMs: t0,
    timeoutMs: 3000,
  });
  return { t0, stall };
}

describe.runIf(labAvailable())("operator controls (root, VRRPv3 IPv4 at 100 ms)", () => {
  it("handover --to moves the VIP to the named node and reports it; maintenance holds a node out", async () => {
    await withLab({ hosts: ["a", "b"] }, async (lab) => {
      const [ha, hb] = [lab.host("a"), lab.host("b")];
      const a = await startVipd(ha, { instances: [web(200, { nopreempt: true })] });
      await a.waitForState("web", "master", { timeoutMs: 5000 });
      const b = await startVipd(hb, { instances: [web(100, { nopreempt: true })] });
      await b.waitForState("web", "backup", { timeoutMs: 5000 });
      await sleep(3 * ADVERT_MS);

      const t0 = Date.now();
      const r = await cli(ha, ["handover", "web", "--to", hb.ipv4, "--socket", sock(a), "--json"]);
      expect(r.code, r.stderr).toBe(0);
      const result = JSON.parse(r.stdout) as {
        ok: boolean;
        newMaster: string;
        tookMs: number;
        toMatched: boolean;
      };
      console.log(`handover: ${JSON.stringify(result)} (CLI round trip ${Date.now() - t0} ms)`);
      expect(result).toMatchObject({ ok: true, newMaster: hb.ipv4, toMatched: true, willPreemptBack: false });
      expect(result.tookMs).toBeLessThan(1000);
      await b.waitForState("web", "master", { sinceMs: t0, timeoutMs: 2000 });
      await pollUntil("VIP on b only", async () =>
        (await vipHolders([ha, hb], VIP)).join() === "b" ? true : undefined,
      );
      // a rejoined as backup (nopreempt) and stays so.
      await sleep(10 * ADVERT_MS);
      expect(a.state("web")).toBe("backup");
      // The control action is logged with who asked.
      const logged = a.logs().find((l) => l.msg.startsWith("control: handover from"));
      expect(logged?.msg).toMatch(/^control: handover from pid \d+ uid 0$/);
      expect(logged?.fields.peer).toMatchObject({ uid: 0, gid: 0 });

      // Maintenance on b: a takes over; b advertises 0 and stays out until maintenance off.
      const t1 = Date.now();
      const m = (await ask(b, { cmd: "maintenance", on: true, instance: "web" })) as { changed: string[] };
      expect(m.changed).toEqual(["web"]);
      await a.waitForState("web", "master", { sinceMs: t1, timeoutMs: 2000 });
      const s = (await ask(b, { cmd: "status" })) as {
        instances: { maintenance: boolean; effectivePriority: number }[];
      };
      expect(s.instances[0]).toMatchObject({ maintenance: true, effectivePriority: 0 });
      // A handover from a node in maintenance is refused with a clear error.
      const refused = await cli(hb, ["handover", "web", "--socket", sock(b)]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/IN_MAINTENANCE|not MASTER/);
      const off = await cli(hb, ["maintenance", "off", "--socket", sock(b)]);
      expect(off.code, off.stderr).toBe(0);
      expect(off.stdout).toContain("web: back in elections");
      await sleep(10 * ADVERT_MS);
      expect([a.state("web"), b.state("web")]).toEqual(["master", "backup"]);
      // explain on the backup names the master and why.
      const ex = await cli(hb, ["explain", "web", "--socket", sock(b)]);
      expect(ex.code, ex.stderr).toBe(0);
      expect(ex.stdout).toContain(`Following master ${ha.ipv4}`);
      expect(ex.stdout).toContain("nopreempt");
    });
  });

  it("reload --plan prints the diff without applying; the reload keeps unchanged VIPs in place", async () => {
    await withLab({ hosts: ["a"] }, async (lab) => {
      const ha = lab.host("a");
      const db: VipdInstance = {
        name: "db",
        vrid: 62,
        priority: 150,
        advertIntervalMs: ADVERT_MS,
        virtualIps: [`${VIP2}/24`],
      };
      const a = await startVipd(ha, { instances: [web(150), db] });
      await Promise.all([
        a.waitForState("web", "master", { timeoutMs: 5000 }),
        a.waitForState("db", "master", { timeoutMs: 5000 }),
      ]);
      await pollUntil("both VIPs held", async () =>
        (await vipHolders([ha], VIP)).length + (await vipHolders([ha], VIP2)).length === 2 ? true : undefined,
      );
      // db's VIP changes; web is untouched.
      writeFileSync(a.configPath, a.configText.replace(`${VIP2}/24`, `${VIP3}/24`));
      const planRun = await cli(ha, ["reload", "--plan", "--socket", sock(a), "--json"]);
      expect(planRun.code, planRun.stderr).toBe(0);
      const plan = JSON.parse(planRun.stdout) as ReloadPlan;
      expect(plan.vips.added).toEqual([{ vip: `${VIP3}/24 dev eth0`, instance: "db" }]);
      expect(plan.vips.removed).toEqual([{ vip: `${VIP2}/24 dev eth0`, instance: "db" }]);
      expect(plan.instances.unchanged).toEqual(["web"]);
      // Nothing applied.
      await sleep(3 * ADVERT_MS);
      expect(await vipHolders([ha], VIP2)).toEqual(["a"]);
      expect(await vipHolders([ha], VIP3)).toEqual([]);

      // Apply while watching every address change in the namespace.
      const monitor = ha.spawn(["ip", "-o", "monitor", "address"]);
      let events = "";
      monitor.stdout?.setEncoding("utf8").on("data", (d: string) => {
        events += d;
      });
      await sleep(200);
      const applied = await cli(ha, ["reload", "--socket", sock(a)]);
      expect(applied.code, applied.stderr).toBe(0);
      expect(applied.stdout).toContain("reload applied");
      await pollUntil("new db VIP held", async () =>
        (await vipHolders([ha], VIP3)).length === 1 ? true : undefined,
      );
      await sleep(300);
      monitor.kill("SIGTERM");
      const lines = events.split("\n").filter(Boolean);
      console.log(`ip monitor during reload:\n${lines.join("\n")}`);
      expect(lines.some((l) => l.startsWith("Deleted") && l.includes(`${VIP2}/24`))).toBe(true);
      expect(lines.some((l) => !l.startsWith("Deleted") && l.includes(`${VIP3}/24`))).toBe(true);
      // web's VIP was never removed.
      expect(lines.filter((l) => l.includes(`${VIP}/24`))).toEqual([]);
      expect(await vipHolders([ha], VIP)).toEqual(["a"]);
      expect(a.state("web")).toBe("master");
      expect(
        a
          .transitions()
          .filter((t) => t.instance === "web")
          .map((t) => t.to),
      ).toEqual(["backup", "master"]);
    });
  });

  it("serves Prometheus metrics inside the namespace", async () => {
    await withLab({ hosts: ["a", "b"] }, async (lab) => {
      const [ha, hb] = [lab.host("a"), lab.host("b")];
      const metricsOn = { metrics_listen: "127.0.0.1:9650" };
      const a = await startVipd(ha, { instances: [web(200)], global: metricsOn });
      await a.waitForState("web", "master", { timeoutMs: 5000 });
      const b = await startVipd(hb, { instances: [web(100)], global: metricsOn });
      await b.waitForState("web", "backup", { timeoutMs: 5000 });
      await sleep(5 * ADVERT_MS);
      const scrape = async (h: LabHost) => {
        const r = await h.exec([
          process.execPath,
          "-e",
          "fetch('http://127.0.0.1:9650/metrics').then(async (r) => { process.stdout.write(r.headers.get('content-type') + '\\n' + await r.text()); })",
        ]);
        expect(r.code, r.stderr).toBe(0);
        return r.stdout;
      };
      const text = await scrape(ha);
      expect(text.split("\n")[0]).toContain("text/plain");
      expect(text).toContain('vipd_instance_state{instance="web",state="master"} 1');
      expect(text).toContain('vipd_instance_effective_priority{instance="web"} 200');
      expect(text).toContain('vipd_instance_vips_held{instance="web"} 1');
      expect(text).toMatch(/vipd_adverts_sent_total\{instance="web"\} [1-9]\d*/);
      expect(text).toMatch(
        /vipd_transitions_total\{instance="web",from="backup",to="master",reason="[^"]+"\} 1/,
      );
      expect(text).toMatch(/vipd_event_loop_lag_seconds \d/);
      const before = await scrape(hb);
      expect(before).toContain(`vipd_peer_priority{instance="web",peer="${ha.ipv4}"} 200`);
      expect(before).toMatch(/vipd_adverts_received_total\{instance="web"\} [1-9]\d*/);
      expect(before).toContain('vipd_instance_state{instance="web",state="backup"} 1');
      // A crash of the master: b's histograms get one takeover.
      await a.kill();
      await b.waitForState("web", "master", { timeoutMs: 3000 });
      await pollUntil("takeover counted", async () =>
        /vipd_failover_seconds_count\{instance="web"\} 1/.test(await scrape(hb)) ? true : undefined,
      );
      const after = await scrape(hb);
      expect(after).toMatch(/vipd_failover_detect_seconds_count\{instance="web"\} 1/);
      const sum = Number(/vipd_failover_seconds_sum\{instance="web"\} (\S+)/.exec(after)?.[1]);
      console.log(`metrics: failover took ${(sum * 1000).toFixed(1)} ms (last advert -> first GARP)`);
      expect(sum).toBeGreaterThan(0.3);
      expect(sum).toBeLessThan(1);
      expect(after).toMatch(/vipd_announcements_sent_total\{instance="web"\} [1-9]/);
    });
  });

  it("a stalled event loop is noticed: logged, counted, and the stalled master resigns", async () => {
    await withLab({ hosts: ["a", "b"] }, async (lab) => {
      const [ha, hb] = [lab.host("a"), lab.host("b")];
      const a = await startVipd(ha, {
        instances: [web(200, { nopreempt: true })],
        global: { metrics_listen: "127.0.0.1:9650" },
      });
      await a.waitForState("web", "master", { timeoutMs: 5000 });
      const b = await startVipd(hb, { instances: [web(100, { nopreempt: true })] });
      await b.waitForState("web", "backup", { timeoutMs: 5000 });
      const { t0, stall } = await stallMaster(a, b);
      expect(stall.level).toBe(50);
      expect(stall.fields.lagMs as number).toBeGreaterThan(800);
      await a.waitForLog("stall resign", (l) => l.msg === "resigning after a stall (priority 0)", {
        sinceMs: t0,
        timeoutMs: 3000,
      });
      await sleep(10 * ADVERT_MS);
      // The node that took over during the stall keeps the VIP; the stalled one is backup.
      expect([a.state("web"), b.state("web")]).toEqual(["backup", "master"]);
      expect(await vipHolders([ha, hb], VIP)).toEqual(["b"]);
      const scrape = await ha.exec([
        process.execPath,
        "-e",
        "fetch('http://127.0.0.1:9650/metrics').then(async (r) => process.stdout.write(await r.text()))",
      ]);
      expect(scrape.stdout).toMatch(/vipd_event_loop_stalls_total\{level="critical"\} [1-9]/);
      expect(scrape.stdout).toMatch(/vipd_resigns_total\{instance="web",reason="stall"\} 1/);
    });
  });

  it("a preempting master that stalled does not resign: the peer yields to its adverts and it re-announces", async () => {
    await withLab({ hosts: ["a", "b"] }, async (lab) => {
      const [ha, hb] = [lab.host("a"), lab.host("b")];
      const a = await startVipd(ha, { instances: [web(200)] });
      await a.waitForState("web", "master", { timeoutMs: 5000 });
      const b = await startVipd(hb, { instances: [web(100)] });
      await b.waitForState("web", "backup", { timeoutMs: 5000 });
      const { t0 } = await stallMaster(a, b);
      // b hears a's higher advert and goes back to backup; a never left master.
      await b.waitForState("web", "backup", { sinceMs: t0, timeoutMs: 3000 });
      await sleep(10 * ADVERT_MS);
      expect([a.state("web"), b.state("web")]).toEqual(["master", "backup"]);
      expect(a.transitions().filter((t) => t.atMs >= t0)).toEqual([]);
      expect(a.logs().some((l) => l.atMs >= t0 && l.msg === "resigning after a stall (priority 0)")).toBe(
        false,
      );
      expect(await vipHolders([ha, hb], VIP)).toEqual(["a"]);
      // a heard b's lower advert and announced the VIP again (the clients b's GARPs moved come back).
      expect(
        a
          .logs()
          .some((l) => l.atMs >= t0 && /announc/i.test(l.msg) && /lower/i.test(JSON.stringify(l.fields))),
      ).toBe(true);
    });
  });
});
