// The example hook scripts in examples/: the webhook posts valid JSON (to a local server only), the
// fence agent parses the stdin protocol and refuses bad input.
import { execFileSync, spawnSync } from "node:child_process";
import { createServer } from "node:http";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { runProgram } from "../../src/hooks/process.js";
import { type TempDir, tempDir } from "./hooks-helpers.js";

const example = (name: string) => new URL(`../../examples/${name}`, import.meta.url).pathname;
const hasCurl = spawnSync("sh", ["-c", "command -v curl"]).status === 0;

let t: TempDir;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.remove());

describe("examples", () => {
  it.skipIf(!hasCurl)("notify-webhook.sh posts Alertmanager and Slack JSON", async () => {
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      let b = "";
      req.on("data", (c: Buffer) => {
        b += c.toString();
      });
      req.on("end", () => {
        bodies.push(b);
        res.end("ok");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const env = {
        PATH: "/usr/bin:/bin",
        VIPD_EVENT: "fence_failed",
        VIPD_INSTANCE: "web",
        VIPD_REASON: 'fence of 192.0.2.12 failed: "exit 1"',
        VIPD_PEER: "192.0.2.12",
        VIPD_NEW_STATE: "backup",
        VIPD_EVENT_SEQ: "4",
        VIPD_TIMESTAMP: "2024-01-01T00:00:00.000Z",
        VIPD_ROUTER_ID: "lb1",
      };
      const am = t.file("am.env", `WEBHOOK_URL=http://127.0.0.1:${port}/api/v2/alerts\n`);
      const r1 = await runProgram([example("notify-webhook.sh"), "INSTANCE", "web", "BACKUP", "100"], {
        timeoutMs: 5000,
        env: { ...env, VIPD_WEBHOOK_ENV: am },
      });
      expect(r1.code).toBe(0);
      const alerts = JSON.parse(bodies[0] ?? "") as {
        labels: Record<string, string>;
        annotations: Record<string, string>;
      }[];
      expect(alerts[0]?.labels).toEqual({
        alertname: "vipd_fence_failed",
        instance: "web",
        host: "lb1",
        severity: "critical",
      });
      expect(alerts[0]?.annotations.description).toBe('fence of 192.0.2.12 failed: "exit 1"');
      const slack = t.file("slack.env", `WEBHOOK_URL=http://127.0.0.1:${port}/hook\nFORMAT=slack\n`);
      await runProgram([example("notify-webhook.sh")], {
        timeoutMs: 5000,
        env: { ...env, VIPD_WEBHOOK_ENV: slack },
      });
      expect((JSON.parse(bodies[1] ?? "") as { text: string }).text).toMatch(
        /^vipd lb1: web fence_failed \(state backup, peer 192\.0\.2\.12, #4\)/,
      );
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("fence-netns-link refuses a missing or unsafe namespace name", () => {
    const run = (stdin: string) =>
      spawnSync(example("fence-netns-link"), [], { input: stdin, encoding: "utf8" });
    expect(run("action=off\n").stderr).toMatch(/netns= is required/);
    expect(run("action=off\nnetns=a;b\n").status).toBe(1);
    expect(run("action=off\nnetns=ok\nifname=$(x)\n").stderr).toMatch(/bad ifname/);
    expect(run("action=monitor\n").status).toBe(0);
    expect(execFileSync("sh", ["-n", example("notify-syslog.sh")]).length).toBe(0);
  });
});
