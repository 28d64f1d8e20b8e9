// sd_notify as systemd would see it: a datagram socket bound by the test stands in for systemd's
// NOTIFY_SOCKET. vipd must report READY=1 and STATUS=, RELOADING=1/READY=1 around SIGHUP, ping
// WATCHDOG=1 at half of WATCHDOG_USEC from its event loop (so the pings stop while the process is
// stopped) and report STOPPING=1.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { labAvailable, labVip, withLab } from "./netns.js";
import { pollUntil, sleep } from "./vipd-agent.js";

const RECEIVER = `
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    d = s.recv(65536)
    print(int(time.time() * 1000), d.decode().replace("\\n", "|"), flush=True)
`;

describe.runIf(labAvailable())("systemd notifications and the watchdog (root)", () => {
  it("READY, STATUS, RELOADING, WATCHDOG pings that stop while the loop is stopped, STOPPING", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vipd-notify-"));
    try {
      await withLab({ hosts: ["a"] }, async (lab) => {
        const h = lab.host("a");
        const notifySocket = join(dir, "notify.sock");
        const receiver = h.spawn(["python3", "-c", RECEIVER, notifySocket]);
        const got: { at: number; msg: string }[] = [];
        let buf = "";
        receiver.stdout?.setEncoding("utf8").on("data", (d: string) => {
          buf += d;
          for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            const m = /^(\d+) (.*)$/.exec(line);
            if (m) got.push({ at: Number(m[1]), msg: m[2] ?? "" });
            else if (line === "bound") got.push({ at: Date.now(), msg: "(bound)" });
          }
        });
        await pollUntil("receiver bound", async () => (got.length > 0 ? true : undefined), {
          timeoutMs: 10_000,
        });
        const config = join(dir, "vipd.yaml");
        writeFileSync(
          config,
          [
            "global:",
            "  router_id: a",
            `  control_socket: ${join(dir, "vipd.sock")}`,
            "  metrics_listen: false",
            "instances:",
            "  web:",
            "    interface: eth0",
            "    vrid: 81",
            "    priority: 100",
            "    advert_interval: 100ms",
            `    virtual_ips: [${labVip("ipv4", 30)}/24]`,
            "",
          ].join("\n"),
        );
        const vipd = h.spawn(
          [process.execPath, "--import", "tsx", "src/cli/main.ts", "run", "--config", config],
          { env: { NOTIFY_SOCKET: notifySocket, WATCHDOG_USEC: "400000" } },
        );
        const has = (re: RegExp, since = 0) => got.some((g) => g.at >= since && re.test(g.msg));
        await pollUntil("READY=1", async () => (has(/READY=1/) ? true : undefined), { timeoutMs: 20_000 });
        await pollUntil("STATUS master", async () => (has(/STATUS=web: MASTER/) ? true : undefined), {
          timeoutMs: 5000,
        });
        await sleep(1000);
        const pings = (from: number, to: number) =>
          got.filter((g) => g.msg === "WATCHDOG=1" && g.at >= from && g.at < to).map((g) => g.at);
        const beforeStop = Date.now();
        const steady = pings(beforeStop - 1000, beforeStop);
        // Every 200 ms (half of 400 ms): about 5 in a second.
        expect(steady.length).toBeGreaterThanOrEqual(3);
        expect(steady.length).toBeLessThanOrEqual(7);

        const pid = vipd.pid;
        if (pid === undefined) throw new Error("vipd has no pid");
        process.kill(pid, "SIGSTOP");
        const stoppedAt = Date.now();
        await sleep(1200);
        const resumedAt = Date.now();
        process.kill(pid, "SIGCONT");
        await sleep(600);
        const during = pings(stoppedAt + 100, resumedAt);
        const after = pings(resumedAt, Date.now());
        console.log(
          `watchdog: ${steady.length} pings/s before, ${during.length} while stopped 1.2 s, ${after.length} in 0.6 s after`,
        );
        // systemd with WatchdogSec=0.4s would have killed this vipd: no ping for 1.1 s.
        expect(during).toEqual([]);
        expect(after.length).toBeGreaterThanOrEqual(1);

        const hupAt = Date.now();
        process.kill(pid, "SIGHUP");
        await pollUntil("RELOADING then READY", async () =>
          has(/RELOADING=1\|MONOTONIC_USEC=\d+/, hupAt) &&
          got.some((g) => g.at >= hupAt && /READY=1/.test(g.msg) && !/RELOADING/.test(g.msg))
            ? true
            : undefined,
        );
        const exited = new Promise<number | null>((r) => vipd.once("exit", (code) => r(code)));
        process.kill(pid, "SIGTERM");
        expect(await exited).toBe(0);
        expect(has(/STOPPING=1/)).toBe(true);
        receiver.kill("SIGTERM");
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
