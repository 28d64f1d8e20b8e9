// Runs the failover drills and prints a report: time to detect, time to failover, and whether the
// client lost its connection.
//
//   node --import tsx test/lab/drills/run.ts netns [SCENARIO...]     # root: a netns lab, 100 ms adverts
//   node --import tsx test/lab/drills/run.ts vagrant [SCENARIO...]   # after `cd vagrant && vagrant up`
//
// SCENARIO is any of kill-9 stop link-down service-down reboot (default: all). --json prints the
// reports as JSON too.
import { labVip, withLab } from "../netns.js";
import { type DrillReport, formatReports, runDrill, SCENARIOS, type Scenario } from "./drill.js";
import { NetnsDrillEnv } from "./netns-env.js";
import { VagrantDrillEnv } from "./vagrant-env.js";

const args = process.argv.slice(2);
const json = args.includes("--json");
const [where, ...rest] = args.filter((a) => a !== "--json");
const chosen = rest.length === 0 ? [...SCENARIOS] : rest;
const bad = chosen.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
if ((where !== "netns" && where !== "vagrant") || bad.length > 0) {
  process.stderr.write(
    `usage: run.ts netns|vagrant [${SCENARIOS.join("|")}...] [--json]${bad.length > 0 ? `\nunknown scenario: ${bad.join(", ")}` : ""}\n`,
  );
  process.exit(64);
}
const scenarios = chosen as Scenario[];
const reports: DrillReport[] = [];
if (where === "vagrant") {
  const env = new VagrantDrillEnv();
  // 1 s adverts on the VMs: allow for the reboot.
  for (const s of scenarios)
    reports.push(
      await runDrill(env, s, {
        instance: "web",
        expectMaster: "lb1",
        failoverTimeoutMs: 30_000,
        clientMaxMs: 120_000,
      }),
    );
} else {
  await withLab({ hosts: ["lb1", "lb2"], client: true }, async (lab) => {
    const env = new NetnsDrillEnv(lab, { advertIntervalMs: 100, vip: labVip("ipv4", 20) });
    try {
      await env.start();
      for (const s of scenarios)
        reports.push(await runDrill(env, s, { instance: "web", expectMaster: "lb1" }));
    } finally {
      await env.stop();
    }
  });
}
console.log(formatReports(reports));
if (json) console.log(JSON.stringify(reports, null, 2));
process.exitCode = reports.every((r) => r.ok) ? 0 : 1;
